//! Effective status: what a report counts for one student in one register.
//!
//! Teacher and office never overwrite each other. The teacher's merged mark stays as taken; an
//! office excuse covering the date turns an `absent` into `excused` *in effect*, and a lock
//! freezes the register so that writes stamped after it do not count.

use crate::hlc::Hlc;
use crate::merge::{Lww, MarkState};
use crate::register::Status;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// A student's status as reports see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EffectiveStatus {
    Present,
    Late,
    Absent,
    Excused,
    /// No status was taken for this student.
    Unmarked,
}

impl From<Status> for EffectiveStatus {
    fn from(status: Status) -> Self {
        match status {
            Status::Present => EffectiveStatus::Present,
            Status::Late => EffectiveStatus::Late,
            Status::Absent => EffectiveStatus::Absent,
            Status::Excused => EffectiveStatus::Excused,
        }
    }
}

/// The dates from `from` to `until`, both inclusive; without `until` it goes on. Enrolments,
/// locks and excuses cover dates by this one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateRange {
    pub from: NaiveDate,
    pub until: Option<NaiveDate>,
}

impl DateRange {
    /// Whether the range covers a date.
    pub fn covers(&self, date: NaiveDate) -> bool {
        self.from <= date && self.until.is_none_or(|until| date <= until)
    }
}

/// An office-recorded excused absence: from and until are inclusive dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ExcuseRange {
    #[serde(with = "crate::wire_time::date")]
    pub from: NaiveDate,
    #[serde(with = "crate::wire_time::date")]
    pub until: NaiveDate,
}

impl ExcuseRange {
    /// Whether the excuse covers a date.
    pub fn covers(&self, date: NaiveDate) -> bool {
        DateRange {
            from: self.from,
            until: Some(self.until),
        }
        .covers(date)
    }
}

/// The effective status of one mark on `date`.
///
/// - `excuses` are the student's excused absences; one covering `date` turns absent into excused.
/// - `locked_at` is the HLC at which the office locked this register, if it did: a status
///   stamped after it would have been rejected by the server and does not count (on a tablet it
///   can only be a pending op that the server will refuse).
pub fn effective_status(
    mark: &MarkState,
    date: NaiveDate,
    excuses: &[ExcuseRange],
    locked_at: Option<Hlc>,
) -> EffectiveStatus {
    let counted = mark
        .status
        .as_ref()
        .filter(|Lww { hlc, .. }| locked_at.is_none_or(|lock| *hlc <= lock));
    match counted.map(|s| s.value) {
        None => EffectiveStatus::Unmarked,
        Some(Status::Absent) if excuses.iter().any(|e| e.covers(date)) => EffectiveStatus::Excused,
        Some(status) => status.into(),
    }
}
