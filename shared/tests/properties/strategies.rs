//! Generators for the property tests.
//!
//! The id and clock spaces are kept small on purpose: random edits must collide on the same
//! register, student and field, and merge tests must meet exact HLC ties, or the properties
//! would pass without ever exercising a conflict.

use chrono::{DateTime, NaiveDate, Utc};
use proptest::prelude::*;
use proptest::sample::select;
use rollcall_shared::VariantArray;
use rollcall_shared::hlc::MAX_WALL_MS;
use rollcall_shared::op::{MAX_MINUTES_LATE, MAX_NOTE_CHARS, SCHOOL_YEARS};
use rollcall_shared::register::PERIODS;
use rollcall_shared::{
    AttendanceState, Change, ClassId, FieldChange, Hlc, Lww, MarkState, MarkValue, NodeId, Op, OpId, RegisterKey,
    RegisterState, Status, StudentId,
};
use std::collections::BTreeMap;
use std::fmt::Debug;
use uuid::Uuid;

/// 2025-11-21T10:00:00Z, the example HLC time of docs/merge-rules.md ("Hybrid logical clock"):
/// simulated wall clocks start near it.
pub const SCHOOL_MORNING_MS: u64 = 1_763_719_200_000;

const CLASSES: [ClassId; 2] = [
    ClassId(Uuid::from_u128(0x5b00_0000_0000_4000_8000_0000_0000_0001)),
    ClassId(Uuid::from_u128(0x5b00_0000_0000_4000_8000_0000_0000_0002)),
];

const STUDENTS: [StudentId; 3] = [
    StudentId(Uuid::from_u128(0x57d0_0000_0000_4000_8000_0000_0000_0001)),
    StudentId(Uuid::from_u128(0x57d0_0000_0000_4000_8000_0000_0000_0002)),
    StudentId(Uuid::from_u128(0x57d0_0000_0000_4000_8000_0000_0000_0003)),
];

fn school_day(day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 5 + day).expect("5 to 9 January 2026 are real days")
}

/// One of a few registers, so that edits meet: 2 classes x 2 days x 2 periods.
pub fn register_key() -> impl Strategy<Value = RegisterKey> {
    (select(CLASSES.to_vec()), 0..2u32, select(vec![1u8, *PERIODS.end()])).prop_map(|(class_id, day, period)| {
        RegisterKey {
            class_id,
            date: school_day(day),
            period,
        }
    })
}

/// Any valid register: any class id, any date a school can have, any timetable period.
pub fn any_register_key() -> impl Strategy<Value = RegisterKey> {
    let first = NaiveDate::from_ymd_opt(*SCHOOL_YEARS.start(), 1, 1).expect("a real year");
    let last = NaiveDate::from_ymd_opt(*SCHOOL_YEARS.end(), 12, 31).expect("a real year");
    let days = (last - first).num_days();
    (any::<u128>(), 0..=days, PERIODS).prop_map(move |(class, day, period)| RegisterKey {
        class_id: ClassId(Uuid::from_u128(class)),
        date: first + chrono::Days::new(day as u64),
        period,
    })
}

pub fn student() -> impl Strategy<Value = StudentId> {
    select(STUDENTS.to_vec())
}

pub fn status() -> impl Strategy<Value = Status> {
    select(Status::VARIANTS.to_vec())
}

pub fn minutes_late() -> impl Strategy<Value = Option<u16>> {
    prop_oneof![Just(None), (0..=MAX_MINUTES_LATE).prop_map(Some)]
}

/// Short notes most of the time (cheap), sometimes long multibyte ones right at the limit.
pub fn note() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[a-zA-Z0-9 éøł✓]{0,12}",
        1 => proptest::collection::vec(select(vec!['é', '✓', 'a', '字']), MAX_NOTE_CHARS - 3..=MAX_NOTE_CHARS)
            .prop_map(|chars| chars.into_iter().collect::<String>()),
    ]
}

pub fn mark_value() -> impl Strategy<Value = MarkValue> {
    prop_oneof![
        status().prop_map(MarkValue::Status),
        minutes_late().prop_map(MarkValue::MinutesLate),
        note().prop_map(MarkValue::Note),
    ]
}

/// A write to any of the four fields: a mark's status, minutes late or note, or the submission.
pub fn field_change() -> impl Strategy<Value = FieldChange> {
    prop_oneof![
        3 => (student(), mark_value()).prop_map(|(student_id, value)| FieldChange::Mark { student_id, value }),
        1 => any::<bool>().prop_map(FieldChange::Submitted),
    ]
}

/// HLCs from a tiny space (4 walls x 3 counters x 3 nodes): ties and near-ties are common.
pub fn colliding_hlc() -> impl Strategy<Value = Hlc> {
    (0..4u64, 0..3u16, 1..4u64).prop_map(|(wall, counter, node)| Hlc {
        wall_ms: SCHOOL_MORNING_MS + wall,
        counter,
        node: NodeId(node),
    })
}

/// Any HLC the 13-digit text form can hold. Small numbers of every width are as likely as
/// large ones, so that a missing zero-pad shows up in text order, and counters are often near
/// overflow.
pub fn any_hlc() -> impl Strategy<Value = Hlc> {
    let wall = prop_oneof![
        0..=MAX_WALL_MS,
        0..=999_999u64,
        SCHOOL_MORNING_MS..SCHOOL_MORNING_MS + 1000
    ];
    let counter = prop_oneof![
        any::<u16>(),
        0..0x10u16,
        0..0x100u16,
        0..0x1000u16,
        (u16::MAX - 3)..=u16::MAX
    ];
    let node = prop_oneof![any::<u64>(), 0..0x100u64, 0..u64::from(u32::MAX)];
    (wall, counter, node).prop_map(|(wall_ms, counter, node)| Hlc {
        wall_ms,
        counter,
        node: NodeId(node),
    })
}

pub fn change(hlc: impl Strategy<Value = Hlc>) -> impl Strategy<Value = Change> {
    (register_key(), field_change(), hlc).prop_map(|(register, change, hlc)| Change { register, change, hlc })
}

/// Any valid change at all, for wire round trips.
pub fn any_change() -> impl Strategy<Value = Change> {
    let change = prop_oneof![
        3 => (any::<u128>(), mark_value()).prop_map(|(student, value)| FieldChange::Mark {
            student_id: StudentId(Uuid::from_u128(student)),
            value,
        }),
        1 => any::<bool>().prop_map(FieldChange::Submitted),
    ];
    (any_register_key(), change, any_hlc()).prop_map(|(register, change, hlc)| Change { register, change, hlc })
}

/// A device time anywhere from 1970 to 2286, to the millisecond, as devices send it.
pub fn device_time() -> impl Strategy<Value = DateTime<Utc>> {
    (0..=MAX_WALL_MS as i64).prop_map(|ms| DateTime::from_timestamp_millis(ms).expect("within chrono's range"))
}

pub fn any_op() -> impl Strategy<Value = Op> {
    (any::<u128>(), device_time(), any_change()).prop_map(|(op_id, device_time, change)| Op {
        op_id: OpId(Uuid::from_u128(op_id)),
        device_time,
        change,
    })
}

pub fn lww<T: Debug + Clone>(value: impl Strategy<Value = T>) -> impl Strategy<Value = Lww<T>> {
    (value, colliding_hlc()).prop_map(|(value, hlc)| Lww { value, hlc })
}

pub fn mark_state() -> impl Strategy<Value = MarkState> {
    (
        proptest::option::of(lww(status())),
        proptest::option::of(lww(minutes_late())),
        proptest::option::of(lww(note())),
    )
        .prop_map(|(status, minutes_late, note)| MarkState {
            status,
            minutes_late,
            note,
        })
}

pub fn register_state() -> impl Strategy<Value = RegisterState> {
    (
        proptest::option::of(lww(any::<bool>())),
        proptest::collection::btree_map(student(), mark_state(), 0..=STUDENTS.len()),
    )
        .prop_map(|(submitted, marks)| RegisterState { submitted, marks })
}

/// A replica's state built directly, not through `apply`: it may hold empty marks and registers,
/// which the merge must treat like any other state.
pub fn attendance_state() -> impl Strategy<Value = AttendanceState> {
    proptest::collection::btree_map(register_key(), register_state(), 0..4)
        .prop_map(|registers: BTreeMap<_, _>| AttendanceState { registers })
}
