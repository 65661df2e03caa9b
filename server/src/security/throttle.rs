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
//! The counters live in memory, per server process; a restart forgives everything.

use crate::settings::Settings;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Entries older than this with no wait running are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(24 * 3600);
/// How long a successful sign-in keeps an address trusted for that account.
const TRUST_FOR: Duration = Duration::from_secs(90 * 24 * 3600);
/// Maps are swept for stale entries when they grow past this.
const SWEEP_AT: usize = 10_000;

#[derive(Debug, Default)]
struct Failures {
    /// Failures counted (not those refused while waiting).
    count: u32,
    /// Start of the window the count belongs to.
    since: Option<Instant>,
    /// No try is accepted before this.
    wait_until: Option<Instant>,
}

impl Failures {
    fn waiting(&self, now: Instant) -> Option<Duration> {
        self.wait_until.filter(|until| *until > now).map(|until| until - now)
    }

    /// Counts one failure; past `free` failures, starts a wait that doubles each time.
    fn record(&mut self, now: Instant, free: u32, window: Duration, max_delay: Duration) {
        if self.since.is_none_or(|since| now.duration_since(since) > window) {
            self.count = 0;
            self.since = Some(now);
        }
        self.count += 1;
        if self.count > free {
            let doublings = (self.count - free - 1).min(20);
            let delay = Duration::from_secs(1u64 << doublings).min(max_delay);
            self.wait_until = Some(now + delay);
        }
    }

    fn stale(&self, now: Instant) -> bool {
        self.waiting(now).is_none() && self.since.is_none_or(|since| now.duration_since(since) > FORGET_AFTER)
    }
}

#[derive(Debug, Default)]
struct State {
    accounts: HashMap<String, Failures>,
    addresses: HashMap<IpAddr, Failures>,
    trusted: HashMap<(String, IpAddr), Instant>,
}

/// The time the throttle goes by: the system's monotonic clock, or a [`ManualClock`].
#[derive(Debug, Clone, Default)]
pub enum ThrottleClock {
    #[default]
    System,
    Manual(ManualClock),
}

impl ThrottleClock {
    fn now(&self) -> Instant {
        match self {
            ThrottleClock::System => Instant::now(),
            ThrottleClock::Manual(clock) => clock.now(),
        }
    }
}

/// A clock that moves only when told, so that a test sees a wait end without waiting it out.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<Instant>>);

impl ManualClock {
    /// A clock standing at the present moment.
    pub fn new() -> Self {
        ManualClock(Arc::new(Mutex::new(Instant::now())))
    }

    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) += by;
    }

    fn now(&self) -> Instant {
        *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

/// The login throttle. Usernames are compared case-insensitively.
#[derive(Debug)]
pub struct LoginThrottle {
    state: Mutex<State>,
    clock: ThrottleClock,
    account_free: u32,
    address_free: u32,
    address_window: Duration,
    max_delay: Duration,
}

/// Seconds to wait before trying again (for `Retry-After`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

impl LoginThrottle {
    pub fn new(settings: &Settings, clock: ThrottleClock) -> Self {
        LoginThrottle {
            state: Mutex::new(State::default()),
            clock,
            account_free: settings.login_account_free_failures,
            address_free: settings.login_address_free_failures,
            address_window: settings.login_address_window,
            max_delay: settings.login_max_delay,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves only counters behind: still usable.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether a login for `username` from `address` may be tried now.
    pub fn check(&self, username: &str, address: IpAddr) -> Result<(), RetryAfter> {
        self.check_at(username, address, self.clock.now())
    }

    fn check_at(&self, username: &str, address: IpAddr, now: Instant) -> Result<(), RetryAfter> {
        let state = self.lock();
        let address_wait = state.addresses.get(&address).and_then(|f| f.waiting(now));
        let trusted = state
            .trusted
            .get(&(username.to_owned(), address))
            .is_some_and(|at| now.duration_since(*at) < TRUST_FOR);
        let account_wait = if trusted {
            None
        } else {
            state.accounts.get(username).and_then(|f| f.waiting(now))
        };
        match address_wait.max(account_wait) {
            // Round up: a client that waits exactly Retry-After seconds must get through.
            Some(wait) => Err(RetryAfter(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))),
            None => Ok(()),
        }
    }

    /// Counts a failed login.
    pub fn record_failure(&self, username: &str, address: IpAddr) {
        self.record_failure_at(username, address, self.clock.now())
    }

    fn record_failure_at(&self, username: &str, address: IpAddr, now: Instant) {
        let mut state = self.lock();
        let (account_free, max_delay) = (self.account_free, self.max_delay);
        state.accounts.entry(username.to_owned()).or_default().record(
            now,
            account_free,
            // An account's failures count until the account signs in successfully or the run
            // goes stale: waits are capped, so this cannot lock it out.
            FORGET_AFTER,
            max_delay,
        );
        state
            .addresses
            .entry(address)
            .or_default()
            .record(now, self.address_free, self.address_window, max_delay);
        if state.accounts.len() > SWEEP_AT || state.addresses.len() > SWEEP_AT || state.trusted.len() > SWEEP_AT {
            state.accounts.retain(|_, f| !f.stale(now));
            state.addresses.retain(|_, f| !f.stale(now));
            state.trusted.retain(|_, at| now.duration_since(*at) < TRUST_FOR);
        }
    }

    /// A login succeeded: the account's failures are forgiven and the address is trusted for it.
    pub fn record_success(&self, username: &str, address: IpAddr) {
        let now = self.clock.now();
        let mut state = self.lock();
        state.accounts.remove(username);
        state.trusted.insert((username.to_owned(), address), now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(
            &Settings {
                login_account_free_failures: 3,
                login_address_free_failures: 10,
                login_max_delay: Duration::from_secs(60),
                ..Settings::default()
            },
            ThrottleClock::System,
        )
    }

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 5));
    const ATTACKER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 9));

    #[test]
    fn waits_start_after_the_free_failures_double_and_stop_at_the_cap() {
        let throttle = throttle();
        let start = Instant::now();
        for _ in 0..3 {
            throttle.record_failure_at("ana", ATTACKER, start);
        }
        assert!(throttle.check_at("ana", ATTACKER, start).is_ok());
        let mut waits = Vec::new();
        let mut now = start;
        for _ in 0..9 {
            throttle.record_failure_at("ana", ATTACKER, now);
            let RetryAfter(wait) = throttle.check_at("ana", ATTACKER, now).unwrap_err();
            waits.push(wait);
            now += Duration::from_secs(wait);
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        // Every wait ends.
        assert!(throttle.check_at("ana", ATTACKER, now).is_ok());
    }

    #[test]
    fn an_attacker_cannot_keep_a_user_off_their_own_tablet() {
        let throttle = throttle();
        throttle.record_success("ana", HOME);
        let now = Instant::now();
        for _ in 0..8 {
            throttle.record_failure_at("ana", ATTACKER, now);
        }
        assert!(throttle.check_at("ana", ATTACKER, now).is_err());
        assert!(throttle.check_at("ana", HOME, now).is_ok());
    }

    #[test]
    fn one_address_guessing_many_accounts_is_held_back() {
        let throttle = throttle();
        let now = Instant::now();
        for i in 0..11 {
            throttle.record_failure_at(&format!("user{i}"), ATTACKER, now);
        }
        assert!(throttle.check_at("someone-else", ATTACKER, now).is_err());
        assert!(throttle.check_at("someone-else", HOME, now).is_ok());
    }
}
