//! When to sync next: triggers, timers and backoff, as pure arithmetic.
//!
//! Nothing here reads a clock or a random source: the caller passes `now_ms` and a [`Random`],
//! so tests can replay any schedule exactly. The engine owns one [`Scheduler`] and arms a single
//! browser timer for [`Scheduler::next_at`].

/// First backoff ceiling: the first retry comes within a second.
pub const BACKOFF_BASE_MS: u64 = 1_000;
/// Backoff never waits longer than this (unless the server asks for more with `Retry-After`).
pub const BACKOFF_CAP_MS: u64 = 5 * 60 * 1_000;
/// While the browser reports no network, failed attempts recheck this often. The `online` event is
/// what really wakes the engine; this only covers a browser that never sends it.
pub const OFFLINE_RECHECK_MS: u64 = 30_000;
/// A `Retry-After` longer than this is treated as this: a wrong header must not park a tablet for a day.
pub const RETRY_AFTER_MAX_MS: u64 = 60 * 60 * 1_000;

/// A source of uniform numbers in `[0, 1)`. The browser uses `Math.random`; tests inject a sequence.
pub trait Random {
    fn unit(&mut self) -> f64;
}

impl<F: FnMut() -> f64> Random for F {
    fn unit(&mut self) -> f64 {
        self()
    }
}

/// The timings of the sync triggers (a JS caller sets them in its `options`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    /// Wait after a mark before pushing, so a burst of taps goes in one request.
    pub debounce_ms: u64,
    /// How soon to check again while another tab holds the sync lock.
    pub lock_wait_ms: u64,
    /// Poll interval when there is nothing to push, to pull other devices' changes.
    pub idle_interval_ms: u64,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            debounce_ms: 800,
            lock_wait_ms: 5_000,
            idle_interval_ms: 120_000,
        }
    }
}

/// Exponential backoff with full jitter: after the n-th consecutive failure the wait is uniform
/// in `[0, min(cap, base · 2^(n-1))]`, so a classroom of tablets does not retry in lockstep.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// Consecutive failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The upper bound of the wait after the current number of failures (0 when none).
    pub fn ceiling_ms(&self) -> u64 {
        match self.failures {
            0 => 0,
            // The shift is bounded so that it cannot overflow; the cap is reached long before.
            n => BACKOFF_BASE_MS.saturating_mul(1 << (n - 1).min(20)).min(BACKOFF_CAP_MS),
        }
    }

    /// Counts a failure and returns how long to wait before the next attempt. A `Retry-After`
    /// from the server is a floor: we never come back sooner than asked.
    pub fn fail(&mut self, retry_after_ms: Option<u64>, random: &mut impl Random) -> u64 {
        self.failures = self.failures.saturating_add(1);
        let unit = random.unit().clamp(0.0, 1.0);
        let jittered = (unit * self.ceiling_ms() as f64).round() as u64;
        jittered.max(retry_after_ms.unwrap_or(0).min(RETRY_AFTER_MAX_MS))
    }

    /// A success: the next failure starts from the first ceiling again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

/// Decides the time of the next sync attempt from the triggers it hears about.
#[derive(Debug, Clone, PartialEq)]
pub struct Scheduler {
    timings: Timings,
    backoff: Backoff,
    next_at: Option<u64>,
    /// The server's `Retry-After` deadline: no trigger may bring an attempt before it.
    not_before: u64,
    /// Set after the session was refused: nothing is attempted until the user signs in again.
    paused: bool,
}

impl Scheduler {
    /// A scheduler that syncs as soon as it is started.
    pub fn new(timings: Timings, now_ms: u64) -> Self {
        Scheduler {
            timings,
            backoff: Backoff::default(),
            next_at: Some(now_ms),
            not_before: 0,
            paused: false,
        }
    }

    /// When the next attempt is due, if any.
    pub fn next_at(&self) -> Option<u64> {
        if self.paused { None } else { self.next_at }
    }

    /// When the next attempt is due while backing off after failures (for the status bar).
    pub fn retry_at(&self) -> Option<u64> {
        (self.backoff.failures() > 0).then_some(self.next_at()).flatten()
    }

    /// Consecutive failures since the last success.
    pub fn failures(&self) -> u32 {
        self.backoff.failures()
    }

    /// The current backoff ceiling (0 when not backing off).
    pub fn backoff_ceiling_ms(&self) -> u64 {
        self.backoff.ceiling_ms()
    }

    /// Whether an attempt is due at `now_ms`.
    pub fn is_due(&self, now_ms: u64) -> bool {
        self.next_at().is_some_and(|at| at <= now_ms)
    }

    fn bring_forward(&mut self, at: u64) {
        let at = at.max(self.not_before);
        self.next_at = Some(self.next_at.map_or(at, |next| next.min(at)));
    }

    /// A mark was recorded: push soon, unless we are backing off (taps must not hammer a
    /// server that is down; the backoff timer, `online` and "visible" still bring it forward).
    pub fn marked(&mut self, now_ms: u64) {
        if self.backoff.failures() == 0 {
            self.bring_forward(now_ms + self.timings.debounce_ms);
        }
    }

    /// The browser says the network is back, or the page became visible: try now, skipping the
    /// jittered wait but not a server's explicit `Retry-After`.
    pub fn woke(&mut self, now_ms: u64) {
        self.bring_forward(now_ms);
    }

    /// The browser says the network is back (`online`). Failures counted before or during the
    /// outage say nothing about the server as it is now: the backoff starts over, so one failure
    /// after a long offline spell waits a second, not minutes. A server's `Retry-After` still holds.
    pub fn network_back(&mut self, now_ms: u64) {
        self.backoff.reset();
        self.woke(now_ms);
    }

    /// An attempt starts: nothing is due until it ends.
    pub fn started(&mut self) {
        self.next_at = None;
    }

    /// An attempt succeeded. `pending` is whether ops are still queued (taps during the sync).
    pub fn succeeded(&mut self, now_ms: u64, pending: bool) {
        self.backoff.reset();
        self.not_before = 0;
        self.next_at = None;
        let wait = if pending {
            self.timings.debounce_ms
        } else {
            self.timings.idle_interval_ms
        };
        self.bring_forward(now_ms + wait);
    }

    /// An attempt failed in a way that may pass. Returns the time of the next attempt.
    pub fn failed(&mut self, now_ms: u64, retry_after_ms: Option<u64>, random: &mut impl Random) -> u64 {
        let wait = self.backoff.fail(retry_after_ms, random);
        if let Some(retry_after) = retry_after_ms {
            self.not_before = now_ms + retry_after.min(RETRY_AFTER_MAX_MS);
        }
        self.next_at = Some(now_ms + wait);
        now_ms + wait
    }

    /// An attempt failed while the browser reports no network at all (`navigator.onLine` false).
    /// That failure says nothing about the server, so the backoff does not grow: the `online`
    /// event brings the next attempt forward ([`Scheduler::network_back`]), and until then a slow
    /// recheck ([`OFFLINE_RECHECK_MS`], or sooner if the backoff already was) stands in for it.
    pub fn failed_offline(&mut self, now_ms: u64) -> u64 {
        let wait = match self.backoff.ceiling_ms() {
            0 => OFFLINE_RECHECK_MS,
            ceiling => ceiling.min(OFFLINE_RECHECK_MS),
        };
        let at = (now_ms + wait).max(self.not_before);
        self.next_at = Some(at);
        at
    }

    /// Another tab holds the sync lock: check back on the pending poll interval.
    pub fn deferred(&mut self, now_ms: u64) {
        self.next_at = None;
        self.bring_forward(now_ms + self.timings.lock_wait_ms);
    }

    /// The session was refused: stop until [`Scheduler::resumed`].
    pub fn pause(&mut self) {
        self.paused = true;
        self.next_at = None;
    }

    /// Signed in again: sync now, with a fresh backoff.
    pub fn resumed(&mut self, now_ms: u64) {
        self.paused = false;
        self.backoff.reset();
        self.not_before = 0;
        self.next_at = Some(now_ms);
    }

    /// Whether syncing is paused until the user signs in again.
    pub fn is_paused(&self) -> bool {
        self.paused
    }
}
