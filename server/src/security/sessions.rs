//! Which sign-ins are ended: every access token names its sign-in (`sid`, the refresh token
//! family), and a token whose sign-in was ended is refused, so logging out or a detected copy
//! ends access at once rather than when the last access token expires.

use crate::db::Db;
use crate::db::users::family_is_live;
use crate::error::AppError;
use crate::settings::MAX_ACCESS_TOKEN_TTL;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How often the memory of sign-ins is swept of answers that no longer matter.
const SESSION_SWEEP_EVERY: Duration = Duration::from_secs(60);
/// What a request with an access token of an ended sign-in is told.
const SIGN_IN_ENDED: &str = "this sign-in was ended: sign in again";

/// Which sign-ins (refresh token families) this server knows to be ended or, recently, still
/// on: the check every authenticated request makes, mostly without the database.
///
/// A sign-in this server ends is recorded here as soon as the database has it, so on one server
/// the next request with one of its access tokens is refused. A "still on" answer read from the
/// database is believed for `recheck` (the setting `session_recheck`, 2 s by default: short
/// enough for an ended sign-in, long enough that a tablet pushing several times a second costs
/// the database one small query every few seconds), so servers sharing a database agree within
/// that long. "Ended" is never overwritten by a "still on" read that raced it.
#[derive(Debug)]
pub struct SessionRevocations {
    known: Mutex<KnownSessions>,
    recheck: Duration,
}

#[derive(Debug, Default)]
struct KnownSessions {
    sessions: HashMap<Uuid, Known>,
    swept: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
enum Known {
    /// The database said it was on; `checked` is when the question was asked.
    Live {
        checked: Instant,
    },
    Ended {
        at: Instant,
    },
}

impl SessionRevocations {
    /// Believes a "still on" answer for `recheck`.
    pub fn new(recheck: Duration) -> Self {
        SessionRevocations {
            known: Mutex::default(),
            recheck,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut KnownSessions) -> T) -> T {
        let mut known = self.known.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut known)
    }

    /// `Ok` when the sign-in is still on; 401 when it was ended (or never existed).
    pub async fn ensure_live(&self, db: &Db, session: Uuid) -> Result<(), AppError> {
        let live = match self.cached(session, Instant::now()) {
            Some(live) => live,
            None => {
                // Taken before asking: an answer is no fresher than the question.
                let checked = Instant::now();
                let family = session.to_string();
                let live = db.run(move |conn| family_is_live(conn, &family)).await?;
                self.record(
                    session,
                    if live {
                        Known::Live { checked }
                    } else {
                        Known::Ended { at: checked }
                    },
                );
                live
            }
        };
        if live {
            Ok(())
        } else {
            Err(AppError::Unauthorized(SIGN_IN_ENDED.to_owned()))
        }
    }

    /// What is known of `session` at `now` without asking the database: `Some(false)` ended,
    /// `Some(true)` still on (asked within `recheck`), `None` ask.
    fn cached(&self, session: Uuid, now: Instant) -> Option<bool> {
        self.with(|known| match known.sessions.get(&session) {
            Some(Known::Ended { .. }) => Some(false),
            Some(Known::Live { checked }) if now.duration_since(*checked) < self.recheck => Some(true),
            _ => None,
        })
    }

    /// Records that this server ended a sign-in. Call it after the revocation is committed: a
    /// sign-in refused here but still on in the database would refresh into tokens that are
    /// refused again.
    pub fn record_ended(&self, session: Uuid) {
        self.record(session, Known::Ended { at: Instant::now() });
    }

    fn record(&self, session: Uuid, status: Known) {
        self.with(|known| {
            let now = Instant::now();
            if known
                .swept
                .is_none_or(|swept| now.duration_since(swept) >= SESSION_SWEEP_EVERY)
            {
                // An entry only saves a query; dropping one is always safe. An ended sign-in's
                // tokens are all expired once the longest token lifetime has passed.
                known.sessions.retain(|_, entry| match *entry {
                    Known::Live { checked } => now.duration_since(checked) < self.recheck,
                    Known::Ended { at } => now.duration_since(at) < MAX_ACCESS_TOKEN_TTL + SESSION_SWEEP_EVERY,
                });
                known.swept = Some(now);
            }
            match (known.sessions.get(&session), status) {
                (Some(Known::Ended { .. }), Known::Live { .. }) => {}
                _ => {
                    known.sessions.insert(session, status);
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    #[test]
    fn by_default_a_still_on_answer_is_believed_for_two_seconds_and_an_ended_one_for_good() {
        let sessions = SessionRevocations::new(Settings::default().session_recheck);
        let (live, ended) = (Uuid::new_v4(), Uuid::new_v4());
        let asked = Instant::now();
        assert_eq!(sessions.cached(live, asked), None, "never asked: ask");
        sessions.record(live, Known::Live { checked: asked });
        sessions.record(ended, Known::Ended { at: asked });
        let later = |ms| asked + Duration::from_millis(ms);
        assert_eq!(sessions.cached(live, later(1_999)), Some(true));
        assert_eq!(sessions.cached(live, later(2_000)), None, "ask again");
        assert_eq!(sessions.cached(ended, later(3_600_000)), Some(false));
        // A "still on" read that raced the end does not bring the sign-in back.
        sessions.record(ended, Known::Live { checked: later(1) });
        assert_eq!(sessions.cached(ended, later(2)), Some(false));
    }

    #[test]
    fn with_no_recheck_time_every_request_asks() {
        let sessions = SessionRevocations::new(Duration::ZERO);
        let session = Uuid::new_v4();
        let asked = Instant::now();
        sessions.record(session, Known::Live { checked: asked });
        assert_eq!(sessions.cached(session, asked), None);
    }
}
