//! Per-field last-write-wins merge.
//!
//! Every field (a mark's status, minutes late and note; a register's submission) is its own
//! LWW register: an incoming value replaces the stored one iff its HLC is greater. Merging is
//! commutative, associative and idempotent, so any delivery order with any duplication ends in
//! the same state on the server and on every tablet. The property tests prove it.

use crate::hlc::Hlc;
use crate::ids::StudentId;
use crate::op::{Change, FieldChange, MarkValue};
use crate::register::{RegisterKey, Status};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What merging one value did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MergeOutcome {
    /// The value is now the stored one.
    Applied,
    /// A later write (greater HLC) was already stored; the incoming value lost.
    Superseded,
    /// The very same write (same HLC and value) was already stored.
    Unchanged,
}

/// One last-write-wins field: a value and the HLC of the write that set it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Lww<T> {
    pub value: T,
    pub hlc: Hlc,
}

impl<T: Ord> Lww<T> {
    /// Whether `self` wins over `other`. The greater HLC wins; HLCs are unique per device, so
    /// an exact tie with different values means a misbehaving device, and the greater value
    /// wins then so that every replica still picks the same one.
    fn beats(&self, other: &Lww<T>) -> bool {
        (self.hlc, &self.value) > (other.hlc, &other.value)
    }
}

/// Merges an incoming write into an optional stored field.
pub fn merge_field<T: Ord>(slot: &mut Option<Lww<T>>, incoming: Lww<T>) -> MergeOutcome {
    match slot {
        Some(stored) if *stored == incoming => MergeOutcome::Unchanged,
        Some(stored) if !incoming.beats(stored) => MergeOutcome::Superseded,
        _ => {
            *slot = Some(incoming);
            MergeOutcome::Applied
        }
    }
}

fn merge_optional<T: Ord + Clone>(slot: &mut Option<Lww<T>>, other: &Option<Lww<T>>) {
    if let Some(incoming) = other {
        merge_field(slot, incoming.clone());
    }
}

/// One student's mark in one register. A field nobody has written is `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MarkState {
    pub status: Option<Lww<Status>>,
    pub minutes_late: Option<Lww<Option<u16>>>,
    pub note: Option<Lww<String>>,
}

impl MarkState {
    /// Applies one field write.
    pub fn apply(&mut self, value: MarkValue, hlc: Hlc) -> MergeOutcome {
        match value {
            MarkValue::Status(value) => merge_field(&mut self.status, Lww { value, hlc }),
            MarkValue::MinutesLate(value) => merge_field(&mut self.minutes_late, Lww { value, hlc }),
            MarkValue::Note(value) => merge_field(&mut self.note, Lww { value, hlc }),
        }
    }

    /// Merges another replica's view of the same mark, field by field.
    pub fn merge(&mut self, other: &MarkState) {
        merge_optional(&mut self.status, &other.status);
        merge_optional(&mut self.minutes_late, &other.minutes_late);
        merge_optional(&mut self.note, &other.note);
    }

    /// The current status, if a teacher has set one.
    pub fn status(&self) -> Option<Status> {
        self.status.as_ref().map(|s| s.value)
    }
}

/// One register: whether it was submitted, and each student's mark.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RegisterState {
    pub submitted: Option<Lww<bool>>,
    pub marks: BTreeMap<StudentId, MarkState>,
}

impl RegisterState {
    /// Applies one field write to this register.
    pub fn apply(&mut self, change: FieldChange, hlc: Hlc) -> MergeOutcome {
        match change {
            FieldChange::Submitted(value) => merge_field(&mut self.submitted, Lww { value, hlc }),
            FieldChange::Mark { student_id, value } => self.marks.entry(student_id).or_default().apply(value, hlc),
        }
    }

    /// Merges another replica's view of the same register.
    pub fn merge(&mut self, other: &RegisterState) {
        merge_optional(&mut self.submitted, &other.submitted);
        for (student_id, mark) in &other.marks {
            self.marks.entry(*student_id).or_default().merge(mark);
        }
    }

    /// Whether the register has been submitted ("attendance taken").
    pub fn is_submitted(&self) -> bool {
        self.submitted.as_ref().is_some_and(|s| s.value)
    }
}

/// Many registers: a device's local view or the server's, in tests and in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AttendanceState {
    pub registers: BTreeMap<RegisterKey, RegisterState>,
}

impl AttendanceState {
    /// Applies one change.
    pub fn apply(&mut self, change: &Change) -> MergeOutcome {
        self.registers
            .entry(change.register)
            .or_default()
            .apply(change.change.clone(), change.hlc)
    }

    /// Merges another replica's whole state.
    pub fn merge(&mut self, other: &AttendanceState) {
        for (key, register) in &other.registers {
            self.registers.entry(*key).or_default().merge(register);
        }
    }

    /// One register, if anything was ever written to it.
    pub fn register(&self, key: &RegisterKey) -> Option<&RegisterState> {
        self.registers.get(key)
    }
}
