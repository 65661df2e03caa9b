//! Failed-login throttling, per account and per address, that cannot lock anyone out for good:
//!
//! - After a few free failures, an account or an address must wait before its next try; each
//!   further failure doubles the wait, up to a cap. Every wait ends.
//! - Tries made while waiting are refused without being counted, so hammering an account does
//!   not stretch its wait beyond the cap.
//! - An address that has signed in to an account before (a teacher's own tablet) is not held
//!   back by that account's wait: a stranger failing against `teacher1` from elsewhere cannot
//!   keep teacher1 off their tablet. It is still subject to its own per-address limit.
//!
//! The counts live in the database (`db::login_throttle`), so every server on it counts the
//! same failures (an attacker spreading guesses over several servers gets no more tries) and a
//! restart forgives nothing. Times are the servers' wall clocks in milliseconds since the epoch,
//! as stored; servers sharing a database should keep their clocks in step (NTP), or a wait one of
//! them imposes ends early or late on another by as much as they differ.

use crate::db::login_throttle::{self, Subject};
use crate::db::users::normalize_username;
use crate::db::{Db, DbConnection, now_ms};
use crate::error::AppError;
use crate::settings::Settings;
use diesel::QueryResult;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

const HOUR_MS: i64 = 3600 * 1000;
/// Entries older than this with no wait running are forgotten.
const FORGET_AFTER_MS: i64 = 24 * HOUR_MS;
/// How long a successful sign-in keeps an address trusted for that account.
const TRUST_FOR_MS: i64 = 90 * 24 * HOUR_MS;
/// How often each server sweeps stale entries out of the database (a scan of both tables).
const SWEEP_EVERY_MS: i64 = HOUR_MS;

/// The failed logins counted against an account or an address. Stored as a row of
/// `login_failures`: changing the fields changes the database.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Failures {
    /// Failures counted (not those refused while waiting).
    pub count: u32,
    /// Start of the window the count belongs to (ms since the epoch).
    pub since: Option<i64>,
    /// No try is accepted before this (ms since the epoch).
    pub wait_until: Option<i64>,
}

impl Failures {
    /// How long (ms) a try must still wait at `now`.
    fn waiting(&self, now: i64) -> Option<i64> {
        self.wait_until.filter(|until| *until > now).map(|until| until - now)
    }

    /// Counts one failure; past `free` failures, starts a wait that doubles each time.
    fn record(&mut self, now: i64, free: u32, window_ms: i64, max_delay_ms: i64) {
        if self.since.is_none_or(|since| now.saturating_sub(since) > window_ms) {
            self.count = 0;
            self.since = Some(now);
        }
        self.count = self.count.saturating_add(1);
        if self.count > free {
            let doublings = (self.count - free - 1).min(20);
            let delay_ms = (1000_i64 << doublings).min(max_delay_ms);
            self.wait_until = Some(now.saturating_add(delay_ms));
        }
    }
}

/// The time the throttle goes by: the system's wall clock, or a [`ManualClock`].
#[derive(Debug, Clone, Default)]
pub enum ThrottleClock {
    #[default]
    System,
    Manual(ManualClock),
}

impl ThrottleClock {
    /// Milliseconds since the epoch.
    fn now_ms(&self) -> i64 {
        match self {
            ThrottleClock::System => now_ms(),
            ThrottleClock::Manual(clock) => clock.now_ms(),
        }
    }
}

/// A clock that moves only when told, so that a test sees a wait end without waiting it out.
/// Clones move together (servers of one test agree on the time, as NTP makes them).
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock standing at the present moment.
    pub fn new() -> Self {
        ManualClock(Arc::new(AtomicI64::new(now_ms())))
    }

    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(duration_ms(by), Ordering::SeqCst);
    }

    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// The login throttle: these rules over the counts kept in the database. Usernames are compared
/// case-insensitively. Cheap to clone; clones share the sweep schedule.
#[derive(Debug, Clone)]
pub struct LoginThrottle {
    db: Db,
    clock: ThrottleClock,
    account_free: u32,
    address_free: u32,
    address_window_ms: i64,
    max_delay_ms: i64,
    /// When this server last swept stale entries (ms since the epoch).
    last_sweep: Arc<AtomicI64>,
}

/// Seconds to wait before trying again (for `Retry-After`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

impl LoginThrottle {
    pub fn new(settings: &Settings, db: Db, clock: ThrottleClock) -> Self {
        LoginThrottle {
            db,
            clock,
            account_free: settings.login_account_free_failures,
            address_free: settings.login_address_free_failures,
            address_window_ms: duration_ms(settings.login_address_window),
            max_delay_ms: duration_ms(settings.login_max_delay),
            last_sweep: Arc::new(AtomicI64::new(i64::MIN)),
        }
    }

    /// Whether a login for `username` from `address` may be tried now: `RateLimited` with the
    /// seconds to wait when not, `Unavailable` when the database cannot say.
    pub async fn check(&self, username: &str, address: IpAddr) -> Result<(), AppError> {
        let (throttle, username, now) = (self.clone(), username.to_owned(), self.clock.now_ms());
        self.db
            .run(move |conn| Ok(throttle.check_at(conn, &username, address, now)?))
            .await?
            .map_err(|RetryAfter(secs)| AppError::RateLimited { retry_after_secs: secs })
    }

    /// Counts a failed login.
    pub async fn record_failure(&self, username: &str, address: IpAddr) -> Result<(), AppError> {
        let (throttle, username, now) = (self.clone(), username.to_owned(), self.clock.now_ms());
        self.db
            .run(move |conn| {
                throttle.record_failure_at(conn, &username, address, now)?;
                throttle.sweep_if_due(conn, now);
                Ok(())
            })
            .await
    }

    /// A login succeeded: the account's failures are forgiven and the address is trusted for it.
    pub async fn record_success(&self, username: &str, address: IpAddr) -> Result<(), AppError> {
        let (username, now) = (normalize_username(username), self.clock.now_ms());
        self.db
            .run(move |conn| Ok(login_throttle::record_sign_in(conn, &username, address, now)?))
            .await
    }

    fn check_at(
        &self,
        conn: &mut DbConnection,
        username: &str,
        address: IpAddr,
        now: i64,
    ) -> QueryResult<Result<(), RetryAfter>> {
        let username = normalize_username(username);
        let address_wait = login_throttle::failures(conn, Subject::Address(address))?.waiting(now);
        let trusted = login_throttle::trusted_at(conn, &username, address)?
            .is_some_and(|at| now.saturating_sub(at) < TRUST_FOR_MS);
        let account_wait = if trusted {
            None
        } else {
            login_throttle::failures(conn, Subject::Account(&username))?.waiting(now)
        };
        Ok(match address_wait.max(account_wait) {
            // Round up: a client that waits exactly Retry-After seconds must get through.
            Some(wait_ms) => Err(RetryAfter(wait_ms.unsigned_abs().div_ceil(1000))),
            None => Ok(()),
        })
    }

    fn record_failure_at(&self, conn: &mut DbConnection, username: &str, address: IpAddr, now: i64) -> QueryResult<()> {
        let username = normalize_username(username);
        login_throttle::update_failures(
            conn,
            &[Subject::Account(&username), Subject::Address(address)],
            |subject, failures| match subject {
                // An account's failures count until the account signs in successfully or the
                // run goes stale: waits are capped, so this cannot lock it out.
                Subject::Account(_) => failures.record(now, self.account_free, FORGET_AFTER_MS, self.max_delay_ms),
                Subject::Address(_) => {
                    failures.record(now, self.address_free, self.address_window_ms, self.max_delay_ms)
                }
            },
        )
    }

    /// Sweeps stale entries out of the database, at most once per [`SWEEP_EVERY_MS`] per server.
    /// A sweep that fails is only logged: it is tidying, and the next one catches up.
    fn sweep_if_due(&self, conn: &mut DbConnection, now: i64) {
        let last = self.last_sweep.load(Ordering::SeqCst);
        let due = now.saturating_sub(last) >= SWEEP_EVERY_MS;
        if !due
            || self
                .last_sweep
                .compare_exchange(last, now, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
        {
            return;
        }
        match login_throttle::sweep(conn, now, now - FORGET_AFTER_MS, now - TRUST_FOR_MS) {
            Ok(swept) => tracing::debug!(swept, "swept stale login throttle entries"),
            Err(e) => tracing::warn!(
                error = %e,
                "could not sweep stale login throttle entries; the next failed login tries again"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::DbUrl;
    use crate::db::schema::{login_failures, login_trust};
    use diesel::prelude::*;

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 5));
    const ATTACKER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 9));

    /// A throttle on a fresh SQLite database of its own, and a connection to that database.
    struct Fixture {
        throttle: LoginThrottle,
        conn: crate::db::PooledConnection,
        _dir: tempfile::TempDir,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(DbUrl::Sqlite(dir.path().join("rollcall.db")), 1).unwrap();
        let conn = db.get().unwrap();
        let settings = Settings {
            login_account_free_failures: 3,
            login_address_free_failures: 10,
            login_max_delay: Duration::from_secs(60),
            ..Settings::default()
        };
        Fixture {
            throttle: LoginThrottle::new(&settings, db, ThrottleClock::System),
            conn,
            _dir: dir,
        }
    }

    impl Fixture {
        fn check(&mut self, username: &str, address: IpAddr, now: i64) -> Result<(), RetryAfter> {
            self.throttle.check_at(&mut self.conn, username, address, now).unwrap()
        }

        fn fail(&mut self, username: &str, address: IpAddr, now: i64) {
            self.throttle
                .record_failure_at(&mut self.conn, username, address, now)
                .unwrap();
        }

        fn succeed(&mut self, username: &str, address: IpAddr, now: i64) {
            login_throttle::record_sign_in(&mut self.conn, username, address, now).unwrap();
        }

        fn rows(&mut self) -> (i64, i64) {
            let failures = login_failures::table.count().get_result(&mut *self.conn).unwrap();
            let trust = login_trust::table.count().get_result(&mut *self.conn).unwrap();
            (failures, trust)
        }
    }

    #[test]
    fn waits_start_after_the_free_failures_double_and_stop_at_the_cap() {
        let mut f = fixture();
        let start = now_ms();
        for _ in 0..3 {
            f.fail("ana", ATTACKER, start);
        }
        assert!(f.check("ana", ATTACKER, start).is_ok());
        let mut waits = Vec::new();
        let mut now = start;
        for _ in 0..9 {
            f.fail("ana", ATTACKER, now);
            let RetryAfter(wait) = f.check("ana", ATTACKER, now).unwrap_err();
            waits.push(wait);
            now += i64::try_from(wait).unwrap() * 1000;
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        // Every wait ends, and not a moment before Retry-After says.
        assert_eq!(f.check("ana", ATTACKER, now - 1), Err(RetryAfter(1)));
        assert!(f.check("ana", ATTACKER, now).is_ok());
    }

    #[test]
    fn usernames_are_counted_without_regard_to_case() {
        let mut f = fixture();
        let now = now_ms();
        for name in ["Ana", "ANA", " ana ", "aNa"] {
            f.fail(name, ATTACKER, now);
        }
        assert_eq!(f.check("ana", HOME, now), Err(RetryAfter(1)));
        assert_eq!(f.check("ANA", HOME, now), Err(RetryAfter(1)));
    }

    #[test]
    fn an_attacker_cannot_keep_a_user_off_their_own_tablet() {
        let mut f = fixture();
        let now = now_ms();
        f.succeed("ana", HOME, now);
        for _ in 0..8 {
            f.fail("ana", ATTACKER, now);
        }
        assert!(f.check("ana", ATTACKER, now).is_err());
        assert!(f.check("ana", HOME, now).is_ok());
        // The trust lasts 90 days from the last sign-in.
        let later = now + TRUST_FOR_MS;
        for _ in 0..8 {
            f.fail("ana", ATTACKER, later);
        }
        assert!(f.check("ana", HOME, later).is_err());
    }

    #[test]
    fn a_sign_in_forgives_the_account_but_not_the_address() {
        let mut f = fixture();
        let now = now_ms();
        for i in 0..11 {
            f.fail(&format!("user{i}"), ATTACKER, now);
        }
        for _ in 0..4 {
            f.fail("ana", HOME, now);
        }
        assert!(f.check("ana", HOME, now).is_err());
        f.succeed("ana", HOME, now);
        assert!(f.check("ana", HOME, now).is_ok());
        assert_eq!(
            login_throttle::failures(&mut f.conn, Subject::Account("ana")).unwrap(),
            Failures::default()
        );
        f.succeed("user0", ATTACKER, now);
        assert!(f.check("user0", ATTACKER, now).is_err(), "the address still waits");
    }

    #[test]
    fn one_address_guessing_many_accounts_is_held_back() {
        let mut f = fixture();
        let now = now_ms();
        for i in 0..11 {
            f.fail(&format!("user{i}"), ATTACKER, now);
        }
        assert!(f.check("someone-else", ATTACKER, now).is_err());
        assert!(f.check("someone-else", HOME, now).is_ok());
        // An IPv4 client reached over an IPv6 socket is the same client.
        let mapped = IpAddr::V6(std::net::Ipv4Addr::new(203, 0, 113, 9).to_ipv6_mapped());
        assert!(f.check("someone-else", mapped, now).is_err());
    }

    #[test]
    fn a_username_of_any_length_or_character_is_counted() {
        let mut f = fixture();
        let now = now_ms();
        let long = "x".repeat(60_000);
        for _ in 0..4 {
            f.fail(&long, ATTACKER, now);
        }
        assert!(f.check(&long, HOME, now).is_err());
        assert!(f.check(&"x".repeat(59_999), HOME, now).is_ok());
        // PostgreSQL text cannot hold a NUL (server/tests/hostile_input.rs sends one there).
        for _ in 0..4 {
            f.fail("ana\0", ATTACKER, now);
        }
        assert!(f.check("ana\0", HOME, now).is_err());
        assert!(f.check("ana", HOME, now).is_ok());
    }

    #[test]
    fn stale_entries_are_swept() {
        let mut f = fixture();
        let now = now_ms();
        f.succeed("ana", HOME, now);
        for _ in 0..5 {
            f.fail("bob", ATTACKER, now);
        }
        f.throttle.sweep_if_due(&mut f.conn, now);
        assert_eq!(f.rows(), (2, 1), "nothing is stale yet");
        // A day on, bob's run is forgotten; a failure of that moment is kept.
        let day_later = now + FORGET_AFTER_MS + 1;
        f.fail("carl", HOME, day_later);
        f.throttle.sweep_if_due(&mut f.conn, day_later);
        assert_eq!(f.rows(), (2, 1), "carl and HOME's failures, ana's trust");
        assert_eq!(
            login_throttle::failures(&mut f.conn, Subject::Account("bob")).unwrap(),
            Failures::default()
        );
        // 90 days on, the trust is gone too.
        let trust_ends = now + TRUST_FOR_MS + 1;
        f.throttle.sweep_if_due(&mut f.conn, trust_ends);
        assert_eq!(f.rows(), (0, 0));
    }

    #[test]
    fn a_wait_still_running_is_not_swept() {
        let mut f = fixture();
        let settings = Settings {
            login_account_free_failures: 0,
            login_max_delay: Duration::from_secs(100 * 3600),
            ..Settings::default()
        };
        f.throttle = LoginThrottle::new(&settings, f.throttle.db.clone(), ThrottleClock::System);
        let now = now_ms();
        for _ in 0..20 {
            f.fail("ana", ATTACKER, now);
        }
        let day_later = now + FORGET_AFTER_MS + 1;
        f.throttle.sweep_if_due(&mut f.conn, day_later);
        assert!(f.check("ana", HOME, day_later).is_err());
    }
}
