//! What the teacher sees: a register built from the roster, the merged local state and this
//! device's ops, with a sync status per student. Pure functions of stored records, so they are
//! tested without a browser and the PWA never re-derives a rule.
//!
//! The JS shapes below are serialized camelCase; the `.d.ts` in `lib.rs` mirrors them, so a
//! change here is a change to the PWA's contract.

use crate::sorted::{sorted_unique, sorted_unique_by};
use crate::store::{OpRecord, OpState, RegisterRecord};
use chrono::{NaiveDate, NaiveTime};
use rollcall_shared::VariantArray;
use rollcall_shared::protocol::{Role, Roster, UserInfo};
use rollcall_shared::{
    ClassId, ErrorCode, Field, FieldChange, Hlc, MarkState, OpId, RegisterKey, RegisterState, Status, StudentId, Tally,
    ValidationCode, effective_status,
};
use serde::Serialize;

/// Where a student's mark (or a register's submission) stands between this tablet and the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub enum SyncState {
    /// Nothing written yet.
    None,
    /// The server holds this tablet's latest write (or a value from elsewhere that we have pulled).
    Synced,
    /// This tablet's write reached the server, but a later write from elsewhere won.
    Superseded,
    /// The server refused this tablet's latest write; `rejection` says why.
    Rejected,
    /// Waiting in the queue.
    Pending,
}

/// Why the server refused an op.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct Rejection {
    pub op_id: OpId,
    pub field: Field,
    pub value: rollcall_shared::WireValue,
    pub code: Option<ErrorCode>,
    pub detail: Option<ValidationCode>,
    pub message: String,
}

impl Rejection {
    fn of(record: &OpRecord) -> Rejection {
        Rejection {
            op_id: record.op_id,
            field: record.op.change.change.field(),
            value: record.op.change.change.wire_value(),
            code: record.code,
            detail: record.detail,
            message: record.message.clone().unwrap_or_else(|| reason_for(record.code)),
        }
    }
}

/// A teacher-readable reason when the server sent only a code.
fn reason_for(code: Option<ErrorCode>) -> String {
    match code {
        Some(ErrorCode::RegisterLocked) => "register locked by the office".into(),
        Some(ErrorCode::NotEnrolled) => "the student is not in this class on that day".into(),
        Some(ErrorCode::Forbidden) => "this is not one of your classes".into(),
        Some(code) => format!("refused by the server ({code})"),
        None => "refused by the server".into(),
    }
}

/// One row of the register.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct StudentRow {
    pub student_id: StudentId,
    pub external_id: String,
    pub given_name: String,
    pub family_name: String,
    /// False for a student who has a mark but is no longer enrolled on that date.
    pub enrolled: bool,
    pub status: Option<Status>,
    pub minutes_late: Option<u16>,
    pub note: Option<String>,
    pub sync: SyncState,
    pub rejection: Option<Rejection>,
}

/// Which register, in words: what both the register view and the day's overview open with.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct RegisterHeader {
    /// The register's name in change events: `classId|YYYY-MM-DD|period`, the period as two digits
    /// (`…|2026-11-20|03`). Compare keys whole; they are not meant to be taken apart.
    pub key: String,
    pub class_id: ClassId,
    pub class_name: String,
    #[serde(with = "rollcall_shared::wire_time::date")]
    #[cfg_attr(feature = "typescript", ts(type = "string"))]
    pub date: NaiveDate,
    pub period: u8,
    pub period_label: String,
}

/// A register as the teacher sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct RegisterView {
    #[serde(flatten)]
    pub register: RegisterHeader,
    pub submitted: bool,
    pub submission_sync: SyncState,
    pub students: Vec<StudentRow>,
    pub counts: Tally,
    /// Ops of this register still in the queue.
    pub pending: u32,
    /// Ops of this register on the rejected list.
    pub rejected: u32,
    /// The office locked it: this tablet's latest write was refused with `REGISTER_LOCKED`.
    pub locked: bool,
    /// Where it stands, as the day's overview shows it too.
    pub state: RegisterPhase,
}

/// A register's state in words a teacher understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub enum RegisterPhase {
    NotTaken,
    InProgress,
    /// Marks wait in the queue.
    Waiting,
    /// Submitted, and the server holds everything.
    Synced,
    /// The office locked it and refused this tablet's marks.
    Locked,
}

/// One register of a day's overview.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct RegisterSummary {
    #[serde(flatten)]
    pub register: RegisterHeader,
    #[serde(with = "rollcall_shared::wire_time::time_of_day")]
    #[cfg_attr(feature = "typescript", ts(type = "string"))]
    pub starts: NaiveTime,
    #[serde(with = "rollcall_shared::wire_time::time_of_day")]
    #[cfg_attr(feature = "typescript", ts(type = "string"))]
    pub ends: NaiveTime,
    pub enrolled: u32,
    pub counts: Tally,
    pub submitted: bool,
    pub pending: u32,
    pub rejected: u32,
    pub state: RegisterPhase,
}

/// The HLC of a field in a register state, if it was ever written.
fn field_hlc(state: &RegisterState, student: Option<StudentId>, field: Field) -> Option<Hlc> {
    match student {
        None => state.submitted.as_ref().map(|lww| lww.hlc),
        Some(student) => {
            let mark = state.marks.get(&student)?;
            match field {
                Field::Status => mark.status.as_ref().map(|lww| lww.hlc),
                Field::MinutesLate => mark.minutes_late.as_ref().map(|lww| lww.hlc),
                Field::Note => mark.note.as_ref().map(|lww| lww.hlc),
                Field::Submitted => None,
            }
        }
    }
}

/// The sync state of one field, from this device's latest op on it.
fn field_sync(latest: &OpRecord, server: &RegisterState) -> SyncState {
    match latest.state {
        OpState::Pending => SyncState::Pending,
        OpState::Rejected => SyncState::Rejected,
        OpState::Superseded => SyncState::Superseded,
        OpState::Synced => {
            let change = &latest.op.change.change;
            match field_hlc(server, change.student_id(), change.field()) {
                Some(hlc) if hlc > latest.effective_hlc() => SyncState::Superseded,
                _ => SyncState::Synced,
            }
        }
    }
}

/// This device's latest op per (student, field), rejected ops the teacher dismissed left out.
/// A vector searched linearly, not a map: a register has a few hundred ops at most, and each
/// map type costs the wasm module kilobytes of code.
fn latest_ops(ops: &[OpRecord]) -> Vec<&OpRecord> {
    let mut latest: Vec<&OpRecord> = Vec::new();
    for record in ops {
        if record.state == OpState::Rejected && record.rejected.is_none() {
            continue;
        }
        let change = &record.op.change;
        match latest_of(&latest, change.change.student_id(), change.change.field()) {
            None => latest.push(record),
            Some(index) if change.hlc > latest[index].op.change.hlc => latest[index] = record,
            Some(_) => {}
        }
    }
    latest
}

/// Where in `latest` the op on `field` of `subject` is.
fn latest_of(latest: &[&OpRecord], subject: Option<StudentId>, field: Field) -> Option<usize> {
    latest.iter().position(|record| {
        let change = &record.op.change.change;
        change.student_id() == subject && change.field() == field
    })
}

/// Sync state and rejection of one student (or, with `None`, the submission).
fn subject_sync(
    latest: &[&OpRecord],
    subject: Option<StudentId>,
    server: &RegisterState,
    written: bool,
) -> (SyncState, Option<Rejection>) {
    let mut state = if written { SyncState::Synced } else { SyncState::None };
    let mut rejection = None;
    // In field order, so the rejection shown is that of the first refused field.
    for &field in Field::VARIANTS {
        let Some(index) = latest_of(latest, subject, field) else {
            continue;
        };
        let record = latest[index];
        let field_state = field_sync(record, server);
        if field_state == SyncState::Rejected && rejection.is_none() {
            rejection = Some(Rejection::of(record));
        }
        // Pending outranks rejected outranks superseded outranks synced (the enum order).
        state = state.max(field_state);
    }
    (state, rejection.filter(|_| state == SyncState::Rejected))
}

fn is_written(mark: &MarkState) -> bool {
    mark.status.is_some() || mark.minutes_late.is_some() || mark.note.is_some()
}

/// Builds one register's view. `roster` supplies names and enrolments.
pub fn register_view(roster: &Roster, key: RegisterKey, record: &RegisterRecord, ops: &[OpRecord]) -> RegisterView {
    let latest = latest_ops(ops);
    let local = &record.local;
    let mut rows: Vec<StudentRow> = Vec::new();
    let enrolled: Vec<StudentId> = roster
        .enrolments
        .iter()
        .filter(|enrolment| enrolment.class_id == key.class_id && enrolment.covers(key.date))
        .map(|enrolment| enrolment.student_id)
        .collect();
    let marked_elsewhere = local.marks.keys().filter(|id| !enrolled.contains(id)).copied();
    let no_mark = MarkState::default();
    let mut counts = Tally::default();
    for (student_id, is_enrolled) in enrolled
        .iter()
        .map(|id| (*id, true))
        .chain(marked_elsewhere.map(|id| (id, false)))
    {
        let mark = local.marks.get(&student_id).unwrap_or(&no_mark);
        let student = roster.students.iter().find(|student| student.id == student_id);
        let (sync, rejection) = subject_sync(&latest, Some(student_id), &record.server, is_written(mark));
        if is_enrolled {
            counts.add(effective_status(mark, key.date, &[], None));
        }
        rows.push(StudentRow {
            student_id,
            external_id: student.map(|s| s.external_id.clone()).unwrap_or_default(),
            given_name: student.map(|s| s.given_name.clone()).unwrap_or_default(),
            family_name: student.map(|s| s.family_name.clone()).unwrap_or_default(),
            enrolled: is_enrolled,
            status: mark.status(),
            minutes_late: mark.minutes_late.as_ref().and_then(|lww| lww.value),
            note: mark.note.as_ref().map(|lww| lww.value.clone()),
            sync,
            rejection,
        });
    }
    // Each student appears once, so nothing is dropped as a repeat.
    let rows = sorted_unique_by(rows, |a, b| {
        (!a.enrolled, &a.family_name, &a.given_name, a.student_id).cmp(&(
            !b.enrolled,
            &b.family_name,
            &b.given_name,
            b.student_id,
        ))
    });
    let (submission_sync, _) = subject_sync(&latest, None, &record.server, local.submitted.is_some());
    let locked = latest
        .iter()
        .any(|record| record.state == OpState::Rejected && record.code == Some(ErrorCode::RegisterLocked));
    let pending = ops.iter().filter(|op| op.state == OpState::Pending).count() as u32;
    let submitted = local.is_submitted();
    let state = if locked {
        RegisterPhase::Locked
    } else if pending > 0 {
        RegisterPhase::Waiting
    } else if counts.marked() == 0 && !submitted {
        RegisterPhase::NotTaken
    } else if submitted {
        RegisterPhase::Synced
    } else {
        RegisterPhase::InProgress
    };
    RegisterView {
        register: RegisterHeader {
            key: record.reg.clone(),
            class_id: key.class_id,
            class_name: roster
                .classes
                .iter()
                .find(|class| class.id == key.class_id)
                .map(|class| class.name.clone())
                .unwrap_or_default(),
            date: key.date,
            period: key.period,
            period_label: roster
                .periods
                .iter()
                .find(|period| period.period == key.period)
                .map_or_else(|| format!("Period {}", key.period), |period| period.label.clone()),
        },
        submitted,
        submission_sync,
        students: rows,
        counts,
        pending,
        rejected: ops.iter().filter(|op| op.rejected.is_some()).count() as u32,
        locked,
        state,
    }
}

/// The registers a user has on a date: every class they teach (all classes for an admin) in
/// every period of the timetable, ordered by period, then class name.
pub fn registers_on(roster: &Roster, user: &UserInfo, date: NaiveDate) -> Vec<RegisterKey> {
    let classes = sorted_unique_by(
        roster
            .classes
            .iter()
            .filter(|class| user.role == Role::Admin || class.teacher_ids.contains(&user.id)),
        |a, b| (&a.name, a.id).cmp(&(&b.name, b.id)),
    );
    sorted_unique(roster.periods.iter().map(|period| period.period))
        .into_iter()
        .flat_map(|period| {
            classes.iter().map(move |class| RegisterKey {
                class_id: class.id,
                date,
                period,
            })
        })
        .collect()
}

/// Summarizes a register view for the day's overview.
pub fn summarize(roster: &Roster, view: &RegisterView) -> RegisterSummary {
    let period = roster
        .periods
        .iter()
        .find(|period| period.period == view.register.period);
    let enrolled = view.students.iter().filter(|row| row.enrolled).count() as u32;
    RegisterSummary {
        register: view.register.clone(),
        starts: period.map(|p| p.starts).unwrap_or_default(),
        ends: period.map(|p| p.ends).unwrap_or_default(),
        enrolled,
        counts: view.counts,
        submitted: view.submitted,
        pending: view.pending,
        rejected: view.rejected,
        state: view.state,
    }
}

/// What "mark all" changes: the status of every enrolled student whose status differs (or,
/// with `only_unmarked`, who has none yet), clearing minutes late for anyone not late.
pub fn mark_all_changes(
    roster: &Roster,
    key: RegisterKey,
    local: &RegisterState,
    status: Status,
    only_unmarked: bool,
) -> Vec<FieldChange> {
    sorted_unique(
        roster
            .enrolments
            .iter()
            .filter(|enrolment| enrolment.class_id == key.class_id && enrolment.covers(key.date))
            .map(|enrolment| enrolment.student_id),
    )
    .into_iter()
    .flat_map(|student_id| {
        let current = local.marks.get(&student_id);
        let current_status = current.and_then(MarkState::status);
        let skip = current_status == Some(status) || (only_unmarked && current_status.is_some());
        if skip {
            Vec::new()
        } else {
            status_changes(current, student_id, status)
        }
    })
    .collect()
}

/// The changes for setting one student's status. A student who is no longer late loses their
/// minutes late, so reports never count minutes for a present student.
pub fn status_changes(current: Option<&MarkState>, student_id: StudentId, status: Status) -> Vec<FieldChange> {
    use rollcall_shared::MarkValue;
    let mut changes = vec![FieldChange::Mark {
        student_id,
        value: MarkValue::Status(status),
    }];
    let has_minutes = current
        .and_then(|mark| mark.minutes_late.as_ref())
        .is_some_and(|lww| lww.value.is_some());
    if status != Status::Late && has_minutes {
        changes.push(FieldChange::Mark {
            student_id,
            value: MarkValue::MinutesLate(None),
        });
    }
    changes
}
