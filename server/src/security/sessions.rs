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

/// How long a "this sign-in is still on" answer from the database is believed. A sign-in ended
/// by this server is known here at once; one ended by another server on the same database is
/// noticed within this long. Short enough for an ended sign-in, long enough that a tablet
/// pushing several times a second costs the database one small query every few seconds.
pub const SESSION_RECHECK: Duration = Duration::from_secs(2);
/// How often the memory of sign-ins is swept of answers that no longer matter.
const SESSION_SWEEP_EVERY: Duration = Duration::from_secs(60);
/// What a request with an access token of an ended sign-in is told.
const SIGN_IN_ENDED: &str = "this sign-in was ended: sign in again";

/// Which sign-ins (refresh token families) this server knows to be ended or, recently, still
/// on: the check every authenticated request makes, mostly without the database.
///
/// A sign-in this server ends is recorded here as soon as the database has it, so on one server
/// the next request with one of its access tokens is refused. A "still on" answer read from the
/// database is believed for [`SESSION_RECHECK`], so servers sharing a database agree within
/// seconds. "Ended" is never overwritten by a "still on" read that raced it.
#[derive(Debug, Default)]
pub struct SessionRevocations {
    known: Mutex<KnownSessions>,
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
    fn with<T>(&self, f: impl FnOnce(&mut KnownSessions) -> T) -> T {
        let mut known = self.known.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut known)
    }

    /// `Ok` when the sign-in is still on; 401 when it was ended (or never existed).
    pub async fn ensure_live(&self, db: &Db, session: Uuid) -> Result<(), AppError> {
        let cached = self.with(|known| match known.sessions.get(&session) {
            Some(Known::Ended { .. }) => Some(false),
            Some(Known::Live { checked }) if checked.elapsed() < SESSION_RECHECK => Some(true),
            _ => None,
        });
        let live = match cached {
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
                    Known::Live { checked } => now.duration_since(checked) < SESSION_RECHECK,
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
