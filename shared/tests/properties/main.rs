//! Property tests of the merge core: the LWW merge is a semilattice (commutative, associative,
//! idempotent), simulated tablets converge whatever the network does, the HLC never runs
//! backwards, and the text and wire forms round-trip.
//!
//! This one file runs twice: natively (`cargo test -p rollcall-shared`) and compiled to
//! wasm32 in headless Chromium (`cargo test -p rollcall-shared --target wasm32-unknown-unknown`),
//! so the tablet is proven to merge exactly like the server, by the very same checks.

mod simulation;
mod strategies;

// On wasm32, `#[test]` (also inside `proptest!`) means a wasm-bindgen test run in the browser.
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use rollcall_shared::merge::merge_field;
use rollcall_shared::{
    AttendanceState, Change, Hlc, HlcClock, Lww, MarkState, MergeOutcome, NodeId, Op, RegisterState,
};
use simulation::{Plan, arrival_order, decode, in_hlc_order, play};
use std::fmt::Debug;
use strategies::*;

/// Cases per property: the same natively and in the browser, where the whole file still runs
/// in a few seconds. Natively, `PROPTEST_CASES=10000` searches harder.
fn cases(cases: u32) -> ProptestConfig {
    let defaults = ProptestConfig::default();
    if cfg!(target_arch = "wasm32") {
        // No file system in the browser to keep failing seeds in.
        ProptestConfig {
            cases,
            failure_persistence: None,
            ..defaults
        }
    } else if std::env::var_os("PROPTEST_CASES").is_some() {
        defaults
    } else {
        ProptestConfig { cases, ..defaults }
    }
}

/// A state that merges with another of its kind.
trait Join: Clone + PartialEq + Debug {
    fn join(&self, other: &Self) -> Self;
}

impl<T: Ord + Clone + Debug> Join for Option<Lww<T>> {
    fn join(&self, other: &Self) -> Self {
        let mut slot = self.clone();
        if let Some(incoming) = other {
            merge_field(&mut slot, incoming.clone());
        }
        slot
    }
}

macro_rules! join_by_merge {
    ($($state:ty),*) => {$(
        impl Join for $state {
            fn join(&self, other: &Self) -> Self {
                let mut merged = self.clone();
                merged.merge(other);
                merged
            }
        }
    )*};
}
join_by_merge!(MarkState, RegisterState, AttendanceState);

fn assert_semilattice<S: Join>(a: &S, b: &S, c: &S) -> Result<(), TestCaseError> {
    prop_assert_eq!(a.join(b), b.join(a), "merge is not commutative");
    prop_assert_eq!(a.join(b).join(c), a.join(&b.join(c)), "merge is not associative");
    prop_assert_eq!(a.join(a), a.clone(), "merge is not idempotent");
    prop_assert_eq!(a.join(b).join(b), a.join(b), "merging a state twice changed it");
    Ok(())
}

fn state_of<'a>(changes: impl IntoIterator<Item = &'a Change>) -> AttendanceState {
    let mut state = AttendanceState::default();
    for change in changes {
        state.apply(change);
    }
    state
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn lww_merge_is_commutative_associative_idempotent(
        status in [proptest::option::of(lww(status())), proptest::option::of(lww(status())), proptest::option::of(lww(status()))],
        minutes in [proptest::option::of(lww(minutes_late())), proptest::option::of(lww(minutes_late())), proptest::option::of(lww(minutes_late()))],
        note in [proptest::option::of(lww(note())), proptest::option::of(lww(note())), proptest::option::of(lww(note()))],
        submitted in [proptest::option::of(lww(any::<bool>())), proptest::option::of(lww(any::<bool>())), proptest::option::of(lww(any::<bool>()))],
    ) {
        let [a, b, c] = &status;
        assert_semilattice(a, b, c)?;
        let [a, b, c] = &minutes;
        assert_semilattice(a, b, c)?;
        let [a, b, c] = &note;
        assert_semilattice(a, b, c)?;
        let [a, b, c] = &submitted;
        assert_semilattice(a, b, c)?;
    }

    /// docs/merge-rules.md ("Per-field last-write-wins"): an incoming value replaces the stored one
    /// iff its HLC is greater; an exact HLC tie (only a misbehaving device makes one) goes to the
    /// greater value everywhere.
    #[test]
    fn merge_field_keeps_the_later_write_and_reports_what_it_did(
        stored in proptest::option::of(lww(status())),
        incoming in lww(status()),
    ) {
        let mut slot = stored.clone();
        let outcome = merge_field(&mut slot, incoming.clone());
        match &stored {
            None => {
                prop_assert_eq!(outcome, MergeOutcome::Applied);
                prop_assert_eq!(slot, Some(incoming));
            }
            Some(old) if *old == incoming => {
                prop_assert_eq!(outcome, MergeOutcome::Unchanged);
                prop_assert_eq!(slot, stored);
            }
            Some(old) if (incoming.hlc, incoming.value) > (old.hlc, old.value) => {
                prop_assert_eq!(outcome, MergeOutcome::Applied);
                prop_assert_eq!(slot, Some(incoming));
            }
            Some(_) => {
                prop_assert_eq!(outcome, MergeOutcome::Superseded);
                prop_assert_eq!(slot, stored);
            }
        }
    }

    #[test]
    fn mark_merge_is_commutative_associative_idempotent(a in mark_state(), b in mark_state(), c in mark_state()) {
        assert_semilattice(&a, &b, &c)?;
    }

    #[test]
    fn register_merge_is_commutative_associative_idempotent(
        a in register_state(), b in register_state(), c in register_state()
    ) {
        assert_semilattice(&a, &b, &c)?;
    }

    #[test]
    fn attendance_merge_is_commutative_associative_idempotent(
        a in attendance_state(), b in attendance_state(), c in attendance_state()
    ) {
        assert_semilattice(&a, &b, &c)?;
    }

    /// Applying changes one by one gives the same state in any order, with any repeats, and
    /// equals merging the states of any split of them: apply and merge agree.
    #[test]
    fn apply_is_order_and_duplicate_insensitive_and_agrees_with_merge(
        (changes, shuffled) in proptest::collection::vec(change(colliding_hlc()), 0..24)
            .prop_flat_map(|changes| (Just(changes.clone()), Just(changes).prop_shuffle())),
        repeats in proptest::collection::vec(any::<proptest::sample::Index>(), 0..8),
        split in any::<proptest::sample::Index>(),
    ) {
        let in_order = state_of(&changes);
        let repeated = repeats.iter().filter(|_| !changes.is_empty()).map(|i| i.get(&changes));
        prop_assert_eq!(&state_of(shuffled.iter().chain(repeated)), &in_order);

        let (left, right) = changes.split_at(split.index(changes.len() + 1));
        prop_assert_eq!(&state_of(left).join(&state_of(right)), &in_order);
        for change in &changes {
            let mut once = in_order.clone();
            prop_assert_ne!(once.apply(change), MergeOutcome::Applied, "re-applying {:?} changed the state", change);
            prop_assert_eq!(&once, &in_order);
        }
    }
}

proptest! {
    #![proptest_config(cases(128))]

    /// N tablets with jumping clocks edit all four fields of several registers and students;
    /// every replica that gets their ops (as wire JSON, shuffled, duplicated, lost then
    /// re-sent) ends in the same state, which is that of applying every op in HLC order. The
    /// tablets' own partial states, merged in any order, end there too.
    #[test]
    fn simulated_devices_converge_whatever_the_delivery(plan in simulation::plan()) {
        let Plan { deliveries, .. } = &plan;
        let run = play(&plan)?;
        let ops = run.wire.iter().map(|json| decode(json)).collect::<Result<Vec<Op>, _>>()?;
        let reference = in_hlc_order(&ops)?;

        for delivery in deliveries {
            let mut replica = AttendanceState::default();
            let mut delivered = vec![false; ops.len()];
            for op in arrival_order(ops.len(), delivery) {
                // Parse every arrival anew, as a server or tablet does with a push or pull body.
                let change = decode(&run.wire[op])?.change;
                let before = replica.clone();
                let outcome = replica.apply(&change);
                if delivered[op] {
                    prop_assert_ne!(outcome, MergeOutcome::Applied, "a duplicate of op {} was applied", op);
                    prop_assert_eq!(&replica, &before);
                }
                delivered[op] = true;
            }
            prop_assert!(delivered.iter().all(|d| *d), "an op never arrived");
            prop_assert_eq!(&replica, &reference);
        }

        let mut gossip = AttendanceState::default();
        let order = arrival_order(run.device_states.len(), &deliveries[0]);
        for device in order.iter().chain(&order) {
            gossip.merge(&run.device_states[*device]);
        }
        prop_assert_eq!(&gossip, &reference);
    }
}

/// A device clock's event: a local stamp or the receipt of a remote HLC, each after the wall
/// clock moved (forwards, not at all, or backwards).
#[derive(Debug, Clone)]
enum ClockEvent {
    Send {
        jump_ms: i64,
    },
    Receive {
        jump_ms: i64,
        remote_offset_ms: i64,
        remote_counter: u16,
        remote_node: u64,
    },
}

fn clock_event() -> impl Strategy<Value = ClockEvent> {
    const DAY: i64 = 86_400_000;
    let jump = prop_oneof![Just(0i64), -5i64..5, -DAY..DAY, -365 * DAY..365 * DAY];
    let counter = prop_oneof![any::<u16>(), (u16::MAX - 2)..=u16::MAX, 0..3u16];
    prop_oneof![
        jump.clone().prop_map(|jump_ms| ClockEvent::Send { jump_ms }),
        (
            jump,
            prop_oneof![Just(0i64), -5i64..5, -DAY..DAY],
            counter,
            any::<u64>()
        )
            .prop_map(
                |(jump_ms, remote_offset_ms, remote_counter, remote_node)| ClockEvent::Receive {
                    jump_ms,
                    remote_offset_ms,
                    remote_counter,
                    remote_node
                }
            ),
    ]
}

proptest! {
    #![proptest_config(cases(256))]

    /// Whatever the wall clock does, every stamp is strictly later than the one before, a
    /// receipt is later than the remote HLC, the counter never wraps, and the clock stays
    /// within a millisecond of the latest wall time it has seen.
    #[test]
    fn hlc_is_strictly_monotonic_under_wall_clock_jumps(
        node in any::<u64>(),
        start_counter in prop_oneof![0..3u16, (u16::MAX - 2)..=u16::MAX],
        events in proptest::collection::vec(clock_event(), 1..64),
    ) {
        let node = NodeId(node);
        let mut clock = HlcClock::resume(Hlc { wall_ms: SCHOOL_MORNING_MS, counter: start_counter, node });
        let mut wall = SCHOOL_MORNING_MS;
        for event in events {
            let before = clock.last();
            let (jump_ms, remote) = match event {
                ClockEvent::Send { jump_ms } => (jump_ms, None),
                ClockEvent::Receive { jump_ms, remote_offset_ms, remote_counter, remote_node } => {
                    let remote = Hlc {
                        wall_ms: wall.saturating_add_signed(jump_ms).saturating_add_signed(remote_offset_ms),
                        counter: remote_counter,
                        node: NodeId(remote_node),
                    };
                    (jump_ms, Some(remote))
                }
            };
            wall = wall.saturating_add_signed(jump_ms);
            let stamped = match remote {
                None => clock.send(wall),
                Some(remote) => clock.receive(remote, wall),
            };
            prop_assert!(stamped > before, "{stamped} does not follow {before} (wall {wall}, remote {remote:?})");
            prop_assert_eq!(stamped.node, node);
            prop_assert_eq!(clock.last(), stamped);
            let newest_seen = before.wall_ms.max(wall).max(remote.map_or(0, |r| r.wall_ms));
            prop_assert!(stamped.wall_ms >= wall, "{stamped} is behind the wall clock {wall}");
            prop_assert!(stamped.wall_ms <= newest_seen + 1, "{stamped} ran ahead of {newest_seen}");
            if let Some(remote) = remote {
                prop_assert!(stamped > remote, "receipt {stamped} is not after remote {remote}");
            }
        }
    }

    #[test]
    fn hlc_text_form_round_trips(hlc in any_hlc()) {
        let text = hlc.to_string();
        prop_assert_eq!(text.len(), 13 + 1 + 4 + 1 + 16, "{}", text);
        prop_assert_eq!(text.parse::<Hlc>(), Ok(hlc));
        let json = serde_json::to_string(&hlc).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&json, &format!("\"{text}\""));
        prop_assert_eq!(serde_json::from_str::<Hlc>(&json).ok(), Some(hlc));
        prop_assert_eq!(hlc.node.to_string().parse::<NodeId>(), Ok(hlc.node));
    }

    /// A database compares HLCs as text, so text order must be clock order. The second HLC
    /// often shares the first's wall or wall and counter, so later components decide.
    #[test]
    fn hlc_text_order_is_clock_order(
        (a, b) in any_hlc().prop_flat_map(|a| {
            let near = prop_oneof![
                any_hlc(),
                any_hlc().prop_map(move |b| Hlc { wall_ms: a.wall_ms, ..b }),
                any_hlc().prop_map(move |b| Hlc { wall_ms: a.wall_ms, counter: a.counter, ..b }),
                Just(a),
            ];
            (Just(a), near)
        })
    ) {
        prop_assert_eq!(a.to_string().cmp(&b.to_string()), a.cmp(&b), "{} vs {}", a, b);
    }

    /// Only the one canonical spelling parses, so an HLC is stored and compared exactly as sent.
    #[test]
    fn only_canonical_hlc_text_parses(
        text in prop_oneof!["[0-9+]{12,14}-[0-9a-fA-F+]{3,5}-[0-9a-fA-F]{15,17}", "[0-9]{13}-[0-9a-f]{4}-[0-9a-f]{16}"]
    ) {
        match text.parse::<Hlc>() {
            Ok(hlc) => prop_assert_eq!(hlc.to_string(), text),
            Err(_) => prop_assert!(!is_canonical_hlc_text(&text), "canonical {} was refused", text),
        }
    }

    #[test]
    fn change_round_trips_through_the_wire_form(change in any_change()) {
        let json = serde_json::to_value(&change).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut keys: Vec<&str> = json.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
        keys.sort_unstable();
        let mut expected = vec!["class_id", "date", "field", "hlc", "period", "value"];
        if change.change.student_id().is_some() {
            expected.push("student_id");
            expected.sort_unstable();
        }
        prop_assert_eq!(keys, expected, "{}", json);
        prop_assert_eq!(serde_json::from_value::<Change>(json.clone()).ok(), Some(change), "{}", json);
    }

    #[test]
    fn op_round_trips_through_the_wire_form(op in any_op()) {
        let text = serde_json::to_string(&op).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let raw: rollcall_shared::RawOp = serde_json::from_str(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(raw.validate(), Ok(op.clone()), "{}", text);
        prop_assert_eq!(serde_json::from_str::<Op>(&text).ok(), Some(op), "{}", text);
    }
}

/// Whether `text` is `<13 digits>-<4 lowercase hex>-<16 lowercase hex>`, checked by hand so the
/// test does not trust the parser it tests.
fn is_canonical_hlc_text(text: &str) -> bool {
    let lower_hex = |s: &str| s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let parts: Vec<&str> = text.split('-').collect();
    matches!(parts.as_slice(), [wall, counter, node]
        if wall.len() == 13 && wall.bytes().all(|b| b.is_ascii_digit())
            && counter.len() == 4 && lower_hex(counter)
            && node.len() == 16 && lower_hex(node))
}
