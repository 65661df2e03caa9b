//! Rows of the merged attendance state and of the op log, and their conversion to and from the
//! `shared` merge types. The merge itself is `shared`'s; this module only loads and saves.

use crate::db::DbConnection;
use crate::db::schema::{marks, op_log, register_submissions};
use diesel::prelude::*;
use rollcall_shared::merge::Lww;
use rollcall_shared::{Hlc, MarkState, RegisterKey, RegisterState, SchoolId, Status, StudentId};
use std::collections::BTreeMap;
use std::str::FromStr;

/// Ops per dedupe query: well under SQLite's and PostgreSQL's bind-parameter limits.
const LOOKUP_CHUNK: usize = 500;

/// Inserts rows in multi-row statements of fixed sizes (32, 16, 8, 4, 2, 1 rows). Diesel
/// caches a prepared statement per fixed size but re-parses a statement of any other size, and
/// parsing a many-row INSERT costs more than running it: with fixed sizes, a push's rows go in
/// with a few cached statements.
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr) => {{
        let mut rest: &[_] = $rows;
        while !rest.is_empty() {
            let taken = insert_rows!(@sizes $conn, $table, rest, 32, 16, 8, 4, 2, 1);
            rest = &rest[taken..];
        }
        diesel::QueryResult::Ok(())
    }};
    (@sizes $conn:expr, $table:expr, $rest:expr, $($size:literal),*) => {{
        let mut taken = 0;
        $(
            if taken == 0 && $rest.len() >= $size {
                let rows: &[_; $size] = $rest[..$size].try_into().expect("a slice of the checked length");
                $crate::on_backend!($conn, |inner| diesel::insert_into($table).values(rows).execute(inner))?;
                taken = $size;
            }
        )*
        taken
    }};
}

/// One student's mark as stored: each field with the HLC that set it.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = marks, primary_key(class_id, date, period, student_id))]
#[diesel(treat_none_as_default_value = false, treat_none_as_null = true)]
pub struct MarkRow {
    pub school_id: String,
    pub class_id: String,
    pub date: String,
    pub period: i32,
    pub student_id: String,
    pub status: Option<String>,
    pub status_hlc: Option<String>,
    pub minutes_late: Option<i32>,
    pub minutes_late_hlc: Option<String>,
    pub note: Option<String>,
    pub note_hlc: Option<String>,
}

/// A register's "attendance taken" as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = register_submissions, primary_key(class_id, date, period))]
pub struct SubmissionRow {
    pub school_id: String,
    pub class_id: String,
    pub date: String,
    pub period: i32,
    pub submitted: i32,
    pub submitted_hlc: String,
}

/// One received op as logged. Never updated.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = op_log, treat_none_as_default_value = false)]
pub struct OpLogRow {
    pub op_id: String,
    pub school_id: String,
    pub user_id: String,
    pub device_id: String,
    pub device_time: i64,
    pub device_hlc: String,
    pub hlc: Option<String>,
    pub received_at: i64,
    pub class_id: String,
    pub date: String,
    pub period: i64,
    pub student_id: Option<String>,
    pub field: String,
    pub value: String,
    pub outcome: String,
    pub code: Option<String>,
    pub detail: Option<String>,
    pub message: Option<String>,
    pub clock_skewed: i32,
}

fn corrupt(what: &str, text: &str) -> diesel::result::Error {
    diesel::result::Error::DeserializationError(format!("bad {what} {text:?} in the database").into())
}

fn lww<T>(value: Option<T>, hlc: Option<&str>) -> QueryResult<Option<Lww<T>>> {
    match (value, hlc) {
        (Some(value), Some(hlc)) => Ok(Some(Lww {
            value,
            hlc: Hlc::from_str(hlc).map_err(|_| corrupt("HLC", hlc))?,
        })),
        _ => Ok(None),
    }
}

fn date_text(key: &RegisterKey) -> String {
    rollcall_shared::op::format_date(key.date)
}

/// A register's stored state, and which rows already exist (so saving knows insert from update).
#[derive(Debug, Default)]
pub struct StoredRegister {
    pub state: RegisterState,
    pub existing_marks: std::collections::BTreeSet<StudentId>,
    /// The submission is read only when an op sets it (most pushes carry marks only).
    pub submission_loaded: bool,
    pub submission_exists: bool,
}

/// Loads one register's marks; the submission follows with [`load_submission`] when needed.
pub fn load_register(conn: &mut DbConnection, key: &RegisterKey) -> QueryResult<StoredRegister> {
    let class_id = key.class_id.to_string();
    let date = date_text(key);
    let period = i32::from(key.period);
    // On the concrete connection: diesel caches these statements there, not through the
    // multi-backend wrapper, and the writer runs them for every register it touches.
    let rows: Vec<MarkRow> = crate::on_backend!(conn, |inner| marks::table
        .filter(marks::class_id.eq(&class_id))
        .filter(marks::date.eq(&date))
        .filter(marks::period.eq(period))
        .select(MarkRow::as_select())
        .load(inner))?;
    let mut stored = StoredRegister::default();
    for row in rows {
        let student_id = StudentId::from_str(&row.student_id).map_err(|_| corrupt("student id", &row.student_id))?;
        let status = row
            .status
            .as_deref()
            .map(|text| Status::from_str(text).map_err(|_| corrupt("status", text)))
            .transpose()?;
        let minutes_late = match (row.minutes_late, row.minutes_late_hlc.is_some()) {
            (Some(minutes), true) => Some(Some(
                u16::try_from(minutes).map_err(|_| corrupt("minutes late", &minutes.to_string()))?,
            )),
            (None, true) => Some(None),
            (_, false) => None,
        };
        let mark = MarkState {
            status: lww(status, row.status_hlc.as_deref())?,
            minutes_late: lww(minutes_late, row.minutes_late_hlc.as_deref())?,
            note: lww(row.note, row.note_hlc.as_deref())?,
        };
        stored.existing_marks.insert(student_id);
        stored.state.marks.insert(student_id, mark);
    }
    Ok(stored)
}

/// Loads a register's submission into `stored`, once.
pub fn load_submission(conn: &mut DbConnection, key: &RegisterKey, stored: &mut StoredRegister) -> QueryResult<()> {
    if stored.submission_loaded {
        return Ok(());
    }
    let class_id = key.class_id.to_string();
    let date = date_text(key);
    let period = i32::from(key.period);
    let submission: Option<(i32, String)> = crate::on_backend!(conn, |inner| register_submissions::table
        .filter(register_submissions::class_id.eq(&class_id))
        .filter(register_submissions::date.eq(&date))
        .filter(register_submissions::period.eq(period))
        .select((register_submissions::submitted, register_submissions::submitted_hlc))
        .first::<(i32, String)>(inner)
        .optional())?;
    if let Some((submitted, hlc)) = submission {
        stored.submission_exists = true;
        stored.state.submitted = lww(Some(submitted != 0), Some(&hlc))?;
    }
    stored.submission_loaded = true;
    Ok(())
}

fn mark_row(school_id: SchoolId, key: &RegisterKey, student_id: StudentId, mark: &MarkState) -> MarkRow {
    let text = |hlc: &Hlc| hlc.to_string();
    MarkRow {
        school_id: school_id.to_string(),
        class_id: key.class_id.to_string(),
        date: date_text(key),
        period: i32::from(key.period),
        student_id: student_id.to_string(),
        status: mark.status.as_ref().map(|s| s.value.as_str().to_owned()),
        status_hlc: mark.status.as_ref().map(|s| text(&s.hlc)),
        minutes_late: mark.minutes_late.as_ref().and_then(|m| m.value).map(i32::from),
        minutes_late_hlc: mark.minutes_late.as_ref().map(|m| text(&m.hlc)),
        note: mark.note.as_ref().map(|n| n.value.clone()),
        note_hlc: mark.note.as_ref().map(|n| text(&n.hlc)),
    }
}

/// Writes the marks (and submission) of a register that a merge changed.
pub fn save_register(
    conn: &mut DbConnection,
    school_id: SchoolId,
    key: &RegisterKey,
    stored: &StoredRegister,
    changed_students: &std::collections::BTreeSet<StudentId>,
    submission_changed: bool,
) -> QueryResult<()> {
    let mut new_rows = Vec::new();
    for student_id in changed_students {
        let Some(mark) = stored.state.marks.get(student_id) else {
            continue;
        };
        let row = mark_row(school_id, key, *student_id, mark);
        if stored.existing_marks.contains(student_id) {
            diesel::update(marks::table.find((&row.class_id, &row.date, row.period, &row.student_id)))
                .set(&row)
                .execute(conn)?;
        } else {
            new_rows.push(row);
        }
    }
    insert_rows!(conn, marks::table, &new_rows)?;
    if submission_changed && let Some(submitted) = &stored.state.submitted {
        let row = SubmissionRow {
            school_id: school_id.to_string(),
            class_id: key.class_id.to_string(),
            date: date_text(key),
            period: i32::from(key.period),
            submitted: i32::from(submitted.value),
            submitted_hlc: submitted.hlc.to_string(),
        };
        if stored.submission_exists {
            diesel::update(register_submissions::table.find((&row.class_id, &row.date, row.period)))
                .set(&row)
                .execute(conn)?;
        } else {
            diesel::insert_into(register_submissions::table)
                .values(&row)
                .execute(conn)?;
        }
    }
    Ok(())
}

/// Appends ops to the log.
pub fn append_op_log(conn: &mut DbConnection, rows: &[OpLogRow]) -> QueryResult<()> {
    insert_rows!(conn, op_log::table, rows)
}

/// An op's identity in the log: the HLC text it was sent with, and its op id.
pub type OpKey = (String, String);

/// Who sent an op and what it said, as logged. A retry of an op carries all of it unchanged; an
/// op id that comes back with any of it different is another op reusing the id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpIdentity {
    pub user_id: String,
    pub device_id: String,
    pub class_id: String,
    pub date: String,
    pub period: i64,
    pub student_id: Option<String>,
    pub field: String,
    pub value: String,
}

impl OpIdentity {
    pub fn of(row: &OpLogRow) -> Self {
        OpIdentity {
            user_id: row.user_id.clone(),
            device_id: row.device_id.clone(),
            class_id: row.class_id.clone(),
            date: row.date.clone(),
            period: row.period,
            student_id: row.student_id.clone(),
            field: row.field.clone(),
            value: row.value.clone(),
        }
    }
}

/// How an op was decided the first time it was received, as logged, and what it was.
#[derive(Debug, Clone)]
pub struct FirstReceipt {
    pub outcome: String,
    pub code: Option<String>,
    pub detail: Option<String>,
    pub identity: OpIdentity,
}

/// A logged receipt as read back: HLC text, op id, outcome, code, detail, then the identity's
/// columns.
type ReceiptRow = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
    String,
    String,
    i64,
    Option<String>,
    String,
    String,
);

/// For each op already received, how its first receipt was decided.
pub fn first_receipts(conn: &mut DbConnection, keys: &[OpKey]) -> QueryResult<BTreeMap<OpKey, FirstReceipt>> {
    let mut found = BTreeMap::new();
    for chunk in keys.chunks(LOOKUP_CHUNK) {
        let hlcs: Vec<&str> = chunk.iter().map(|(hlc, _)| hlc.as_str()).collect();
        // Uses the partial unique index (device_hlc, op_id) of first receipts (see the migrations).
        let rows: Vec<ReceiptRow> = crate::on_backend!(conn, |inner| op_log::table
            .filter(op_log::device_hlc.eq_any(&hlcs))
            // Spelled as a literal, not bound parameters: a planner can only use the partial
            // index when it sees the very condition of the index (PostgreSQL's generic plans
            // for prepared statements would otherwise scan the whole op log).
            .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(FIRST_RECEIPT))
            .select((
                op_log::device_hlc,
                op_log::op_id,
                op_log::outcome,
                op_log::code,
                op_log::detail,
                op_log::user_id,
                op_log::device_id,
                op_log::class_id,
                op_log::date,
                op_log::period,
                op_log::student_id,
                op_log::field,
                op_log::value,
            ))
            .load(inner))?;
        for (hlc, op_id, outcome, code, detail, user_id, device_id, class_id, date, period, student_id, field, value) in
            rows
        {
            let identity = OpIdentity {
                user_id,
                device_id,
                class_id,
                date,
                period,
                student_id,
                field,
                value,
            };
            found.insert(
                (hlc, op_id),
                FirstReceipt {
                    outcome,
                    code,
                    detail,
                    identity,
                },
            );
        }
    }
    Ok(found)
}

/// The condition of the op log's partial index `op_log_first_receipt`, word for word: the rows
/// that are an op's first receipt (not a duplicate, not another op reusing its id).
const FIRST_RECEIPT: &str = "outcome <> 'duplicate' AND (code IS NULL OR code <> 'OP_ID_REUSED')";
