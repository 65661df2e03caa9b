//! The sync schedule with an injected clock and random source: exponential backoff with full
//! jitter from 1 s to 5 min, `Retry-After` as a floor, reset on success, and the triggers.

#![cfg(target_arch = "wasm32")]

use rollcall_client::schedule::{BACKOFF_CAP_MS, Backoff, OFFLINE_RECHECK_MS, Scheduler, Timings};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const TIMINGS: Timings = Timings {
    debounce_ms: 800,
    lock_wait_ms: 5_000,
    idle_interval_ms: 120_000,
};

/// Always the top of the jitter range (a unit just under 1 rounds to the ceiling).
fn top() -> f64 {
    0.999_999_999
}

#[wasm_bindgen_test]
fn the_ceiling_doubles_from_one_second_and_stops_at_five_minutes() {
    let mut backoff = Backoff::default();
    let mut waits = Vec::new();
    for _ in 0..12 {
        waits.push(backoff.fail(None, &mut top));
    }
    assert_eq!(
        waits,
        [
            1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000, 300_000, 300_000
        ]
    );
    // Far past the cap, the arithmetic neither overflows nor grows.
    for _ in 0..100 {
        assert!(backoff.fail(None, &mut top) <= BACKOFF_CAP_MS);
    }
    backoff.reset();
    assert_eq!(backoff.fail(None, &mut top), 1_000, "success starts over");
}

#[wasm_bindgen_test]
fn jitter_spreads_the_wait_over_the_whole_range() {
    // A scripted random source: the wait is exactly unit × ceiling.
    let units = [0.0, 0.5, 0.25, 0.75];
    let mut next = units.iter().copied().cycle();
    let mut random = move || next.next().unwrap_or(0.0);
    let mut backoff = Backoff::default();
    let waits: Vec<u64> = (0..4).map(|_| backoff.fail(None, &mut random)).collect();
    assert_eq!(waits, [0, 1_000, 1_000, 6_000]);
    // With the browser's own randomness every wait stays within its ceiling.
    let mut backoff = Backoff::default();
    for _ in 0..20 {
        let wait = backoff.fail(None, &mut js_sys::Math::random);
        assert!(wait <= backoff.ceiling_ms(), "{wait} > {}", backoff.ceiling_ms());
    }
}

#[wasm_bindgen_test]
fn retry_after_is_a_floor_that_no_trigger_can_beat() {
    let mut scheduler = Scheduler::new(TIMINGS, 0);
    scheduler.started();
    let mut zero = || 0.0;
    let at = scheduler.failed(10_000, Some(30_000), &mut zero);
    assert_eq!(at, 40_000, "jitter 0 but the server asked for 30 s");
    assert_eq!(scheduler.retry_at(), Some(40_000));
    scheduler.woke(12_000);
    assert_eq!(
        scheduler.next_at(),
        Some(40_000),
        "coming online does not override Retry-After"
    );
    scheduler.marked(13_000);
    assert_eq!(scheduler.next_at(), Some(40_000));
    scheduler.started();
    scheduler.succeeded(41_000, false);
    assert_eq!(scheduler.failures(), 0);
    assert_eq!(scheduler.retry_at(), None);
    assert_eq!(scheduler.next_at(), Some(41_000 + TIMINGS.idle_interval_ms));
}

#[wasm_bindgen_test]
fn triggers_bring_the_next_attempt_forward_as_the_design_says() {
    let mut scheduler = Scheduler::new(TIMINGS, 1_000);
    assert!(scheduler.is_due(1_000), "a fresh engine syncs at once");
    scheduler.started();
    assert_eq!(scheduler.next_at(), None);
    scheduler.succeeded(2_000, false);
    assert_eq!(scheduler.next_at(), Some(122_000), "idle: the long timer");
    scheduler.marked(3_000);
    assert_eq!(scheduler.next_at(), Some(3_800), "a mark: debounced");
    scheduler.marked(3_500);
    assert_eq!(
        scheduler.next_at(),
        Some(3_800),
        "a burst of taps does not push it back"
    );
    scheduler.started();
    scheduler.succeeded(4_000, true);
    assert_eq!(scheduler.next_at(), Some(4_800), "taps during the sync: short timer");

    // Failures back off; taps do not shorten the wait, the network coming back does.
    scheduler.started();
    let mut top = top;
    let first = scheduler.failed(5_000, None, &mut top);
    assert_eq!(first, 6_000);
    scheduler.started();
    let second = scheduler.failed(6_000, None, &mut top);
    assert_eq!(second, 8_000);
    assert_eq!(scheduler.backoff_ceiling_ms(), 2_000);
    scheduler.marked(6_100);
    assert_eq!(scheduler.next_at(), Some(8_000));
    scheduler.woke(6_200);
    assert_eq!(scheduler.next_at(), Some(6_200));

    // Another tab holds the lock: look again after the lock wait.
    scheduler.started();
    scheduler.deferred(7_000);
    assert_eq!(scheduler.next_at(), Some(12_000));

    // The session was refused: nothing until the user signs in again.
    scheduler.pause();
    scheduler.woke(8_000);
    assert_eq!(scheduler.next_at(), None);
    assert!(scheduler.is_paused());
    scheduler.resumed(9_000);
    assert_eq!((scheduler.next_at(), scheduler.failures()), (Some(9_000), 0));
}

#[wasm_bindgen_test]
fn an_offline_spell_does_not_grow_the_backoff() {
    let mut top = top;
    let mut scheduler = Scheduler::new(TIMINGS, 0);
    // Two real failures (server down) before the Wi-Fi goes: ceiling 2 s.
    scheduler.started();
    scheduler.failed(1_000, None, &mut top);
    scheduler.started();
    scheduler.failed(2_000, None, &mut top);
    assert_eq!(scheduler.backoff_ceiling_ms(), 2_000);
    // An hour with no network: every attempt fails, none counts, none waits longer.
    let mut now = 10_000;
    for _ in 0..120 {
        scheduler.started();
        let at = scheduler.failed_offline(now);
        assert!(at - now <= 2_000, "an offline failure waits {} ms", at - now);
        now += 30_000;
    }
    assert_eq!((scheduler.failures(), scheduler.backoff_ceiling_ms()), (2, 2_000));
    // From a clean start, offline failures recheck slowly but never back off.
    let mut fresh = Scheduler::new(TIMINGS, 0);
    fresh.started();
    assert_eq!(fresh.failed_offline(5_000), 5_000 + OFFLINE_RECHECK_MS);
    assert_eq!((fresh.failures(), fresh.retry_at()), (0, None));
    // The network comes back: sync at once, and the old streak is forgotten, so one server
    // failure right after the outage waits a second, not minutes.
    scheduler.network_back(now);
    assert!(scheduler.is_due(now));
    scheduler.started();
    let at = scheduler.failed(now, None, &mut top);
    assert_eq!(at - now, 1_000);
    assert_eq!(scheduler.failures(), 1);
}

#[wasm_bindgen_test]
fn network_back_keeps_a_retry_after() {
    let mut scheduler = Scheduler::new(TIMINGS, 0);
    scheduler.started();
    scheduler.failed(1_000, Some(60_000), &mut || 0.0);
    scheduler.network_back(2_000);
    assert_eq!(scheduler.next_at(), Some(61_000), "the server asked for a minute");
    scheduler.started();
    assert_eq!(
        scheduler.failed_offline(3_000),
        61_000,
        "offline rechecks respect it too"
    );
}

#[wasm_bindgen_test]
fn retry_after_is_read_in_seconds_or_as_an_http_date() {
    use rollcall_client::api::parse_retry_after;
    let now = js_sys::Date::parse("Wed, 21 Oct 2026 07:28:00 GMT");
    assert_eq!(parse_retry_after("120", now), Some(120_000));
    assert_eq!(parse_retry_after(" 5 ", now), Some(5_000));
    assert_eq!(parse_retry_after("Wed, 21 Oct 2026 07:28:30 GMT", now), Some(30_000));
    assert_eq!(
        parse_retry_after("Wed, 21 Oct 2026 07:00:00 GMT", now),
        Some(0),
        "a past date: now"
    );
    assert_eq!(parse_retry_after("soon", now), None);
    assert_eq!(parse_retry_after("-3", now), None);
}
