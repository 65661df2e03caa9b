//! A school in miniature: N tablets, each with its own HLC and a wall clock that jumps backwards
//! and forwards, make random edits and sometimes sync with each other. Their ops then travel as
//! wire JSON to several replicas, each of which gets them in its own random order, with
//! duplicates, and with losses that are re-sent at the end (as a tablet's queue does after a
//! failed push).

use crate::strategies::{SCHOOL_MORNING_MS, field_change, register_key};
use chrono::DateTime;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use rollcall_shared::{AttendanceState, Change, FieldChange, Hlc, HlcClock, NodeId, Op, OpId, RegisterKey};
use uuid::Uuid;

pub const MAX_DEVICES: usize = 5;
pub const MAX_STEPS: usize = 40;
pub const REPLICAS: usize = 3;

/// How far a tablet's wall clock moves between two of its actions.
fn wall_clock_jump() -> impl Strategy<Value = i64> {
    const HOUR: i64 = 3_600_000;
    prop_oneof![
        // Ordinary taps a few ms to a minute apart, or in the same millisecond.
        4 => 0..60_000i64,
        // NTP corrections and users fixing a wrong clock: back by up to a day.
        2 => -24 * HOUR..0,
        // A tablet that slept, or whose clock was set days ahead.
        1 => 0..72 * HOUR,
    ]
}

#[derive(Debug, Clone)]
pub enum Step {
    /// A teacher on `device` writes one field.
    Edit {
        device: usize,
        jump_ms: i64,
        register: RegisterKey,
        change: FieldChange,
    },
    /// `device` pulls every op `from` has made so far and merges their HLCs into its clock.
    Sync { device: usize, from: usize, jump_ms: i64 },
}

fn step(devices: usize) -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..devices, wall_clock_jump(), register_key(), field_change()).prop_map(
            |(device, jump_ms, register, change)| Step::Edit { device, jump_ms, register, change }
        ),
        1 => (0..devices, 0..devices, wall_clock_jump())
            .prop_map(|(device, from, jump_ms)| Step::Sync { device, from, jump_ms }),
    ]
}

/// What happens to one op on its way to one replica.
#[derive(Debug, Clone, Copy)]
pub enum Fate {
    Once,
    /// Arrives twice (a push whose answer was lost and was retried).
    Twice,
    /// Lost in the first round, re-sent at the end.
    LostThenResent,
}

/// One replica's view of the network: per op (by index), a position in the first round, a fate,
/// and a position among the repeats.
pub type Delivery = Vec<(u32, Fate, u32)>;

fn delivery() -> impl Strategy<Value = Delivery> {
    let fate = prop_oneof![3 => Just(Fate::Once), 1 => Just(Fate::Twice), 1 => Just(Fate::LostThenResent)];
    proptest::collection::vec((any::<u32>(), fate, any::<u32>()), MAX_STEPS)
}

#[derive(Debug, Clone)]
pub struct Plan {
    /// Each device's starting wall clock, as an offset from [`SCHOOL_MORNING_MS`]: tablets
    /// disagree by up to a day before anything happens.
    pub start_offsets_ms: Vec<i64>,
    pub steps: Vec<Step>,
    pub deliveries: Vec<Delivery>,
}

pub fn plan() -> impl Strategy<Value = Plan> {
    (2..=MAX_DEVICES).prop_flat_map(|devices| {
        (
            proptest::collection::vec(-86_400_000i64..86_400_000, devices),
            proptest::collection::vec(step(devices), 1..=MAX_STEPS),
            proptest::collection::vec(delivery(), REPLICAS),
        )
            .prop_map(|(start_offsets_ms, steps, deliveries)| Plan {
                start_offsets_ms,
                steps,
                deliveries,
            })
    })
}

struct Device {
    clock: HlcClock,
    wall_ms: u64,
    /// What this tablet shows: its own edits and everything it pulled.
    state: AttendanceState,
    /// Its ops, as their wire JSON, in the order it made them.
    outbox: Vec<String>,
    /// Per other device: how many of its ops this one has pulled.
    pulled: Vec<usize>,
}

impl Device {
    fn tick_wall(&mut self, jump_ms: i64) -> u64 {
        self.wall_ms = self.wall_ms.saturating_add_signed(jump_ms);
        self.wall_ms
    }
}

/// The outcome of a run: every op on the wire, and each device's own state.
pub struct Run {
    pub wire: Vec<String>,
    pub device_states: Vec<AttendanceState>,
}

pub fn decode(wire: &str) -> Result<Op, TestCaseError> {
    serde_json::from_str(wire).map_err(|e| TestCaseError::fail(format!("op does not parse back: {e}: {wire}")))
}

/// Plays the devices' steps. Checks on the way that every stamp is strictly later than the
/// device's previous one and, on a pull, later than the pulled op.
pub fn play(plan: &Plan) -> Result<Run, TestCaseError> {
    let count = plan.start_offsets_ms.len();
    let mut devices: Vec<Device> = plan
        .start_offsets_ms
        .iter()
        .enumerate()
        .map(|(index, offset)| Device {
            // Distinct, unrelated node ids, like 64 random bits per tablet.
            clock: HlcClock::new(NodeId(0x9e37_79b9_7f4a_7c15_u64.wrapping_mul(index as u64 + 1))),
            wall_ms: SCHOOL_MORNING_MS.saturating_add_signed(*offset),
            state: AttendanceState::default(),
            outbox: Vec::new(),
            pulled: vec![0; count],
        })
        .collect();
    let mut wire = Vec::new();
    for step in &plan.steps {
        match step {
            Step::Edit {
                device,
                jump_ms,
                register,
                change,
            } => {
                let tablet = &mut devices[*device];
                let before = tablet.clock.last();
                let now = tablet.tick_wall(*jump_ms);
                let hlc = tablet.clock.send(now);
                prop_assert!(hlc > before, "send went backwards: {before} then {hlc} at wall {now}");
                let op = Op {
                    op_id: OpId(Uuid::from_u128(((*device as u128) << 64) | tablet.outbox.len() as u128)),
                    device_time: DateTime::from_timestamp_millis(now as i64).expect("simulated walls stay in range"),
                    change: Change {
                        register: *register,
                        change: change.clone(),
                        hlc,
                    },
                };
                tablet.state.apply(&op.change);
                let json = serde_json::to_string(&op).map_err(|e| TestCaseError::fail(e.to_string()))?;
                tablet.outbox.push(json.clone());
                wire.push(json);
            }
            Step::Sync { device, from, jump_ms } if device != from => {
                let pulled: Vec<String> = devices[*from].outbox[devices[*device].pulled[*from]..].to_vec();
                let tablet = &mut devices[*device];
                tablet.pulled[*from] += pulled.len();
                let now = tablet.tick_wall(*jump_ms);
                for json in &pulled {
                    let op = decode(json)?;
                    let before = tablet.clock.last();
                    let stamped = tablet.clock.receive(op.change.hlc, now);
                    prop_assert!(stamped > before, "receive went backwards: {before} then {stamped}");
                    prop_assert!(
                        stamped > op.change.hlc,
                        "receive {stamped} not after remote {}",
                        op.change.hlc
                    );
                    tablet.state.apply(&op.change);
                }
            }
            Step::Sync { .. } => {}
        }
    }
    Ok(Run {
        wire,
        device_states: devices.into_iter().map(|d| d.state).collect(),
    })
}

/// The order in which one replica receives the ops: a shuffled first round with some ops
/// repeated and some missing, then the missing ones and the repeats, again shuffled.
pub fn arrival_order(ops: usize, delivery: &Delivery) -> Vec<usize> {
    let mut first_round = Vec::new();
    let mut later = Vec::new();
    for (op, (position, fate, repeat_position)) in delivery.iter().take(ops).enumerate() {
        match fate {
            Fate::Once => first_round.push((*position, op)),
            Fate::Twice => {
                first_round.push((*position, op));
                later.push((*repeat_position, op));
            }
            Fate::LostThenResent => later.push((*repeat_position, op)),
        }
    }
    first_round.sort();
    later.sort();
    first_round.into_iter().chain(later).map(|(_, op)| op).collect()
}

/// The reference: every op applied once, in HLC order.
pub fn in_hlc_order(ops: &[Op]) -> Result<AttendanceState, TestCaseError> {
    let mut sorted: Vec<&Op> = ops.iter().collect();
    sorted.sort_by_key(|op| op.change.hlc);
    let mut state = AttendanceState::default();
    let mut previous: Option<Hlc> = None;
    for op in sorted {
        let hlc = op.change.hlc;
        prop_assert!(previous != Some(hlc), "two ops share the HLC {hlc}");
        previous = Some(hlc);
        let outcome = state.apply(&op.change);
        // Every op is later than everything before it, so each one must win its field.
        prop_assert_eq!(outcome, rollcall_shared::MergeOutcome::Applied, "op {:?}", op);
    }
    Ok(state)
}
