//! Rows of the merged attendance state and of the op log, and their conversion to and from the
//! `shared` merge types. The merge itself is `shared`'s; this module only loads and saves.

use crate::db::DbConnection;
use crate::db::schema::{marks, op_log, register_submissions};
use diesel::prelude::*;
use rollcall_shared::column::{SchoolDate, Stored};
use rollcall_shared::merge::Lww;
use rollcall_shared::protocol::Outcome;
use rollcall_shared::{
    ClassId, ErrorCode, Hlc, MarkState, NodeId, OpId, RegisterKey, RegisterState, SchoolId, Status, StudentId, UserId,
    ValidationCode,
};
use std::collections::BTreeMap;

/// Ops per dedupe query: well under SQLite's and PostgreSQL's bind-parameter limits.
const LOOKUP_CHUNK: usize = 500;

/// Runs a multi-row statement over `rows` in chunks of fixed sizes (128, 64, 32, 16, 8, 4, 2,
/// 1 rows), `$chunk` naming each chunk in `$statement`. Diesel caches a prepared statement per
/// fixed size but re-parses a statement of any other size, and parsing a many-row INSERT costs
/// more than running it: with fixed sizes, a group's rows go in with a few cached statements,
/// each one round trip to PostgreSQL.
macro_rules! in_fixed_chunks {
    ($conn:expr, $rows:expr, |$chunk:ident| $statement:expr) => {{
        let mut rest: &[_] = $rows;
        while !rest.is_empty() {
            let taken = in_fixed_chunks!(@sizes $conn, rest, $chunk, $statement, 128, 64, 32, 16, 8, 4, 2, 1);
            rest = &rest[taken..];
        }
        diesel::QueryResult::Ok(())
    }};
    (@sizes $conn:expr, $rest:expr, $chunk:ident, $statement:expr, $($size:literal),*) => {{
        let mut taken = 0;
        $(
            if taken == 0 && $rest.len() >= $size {
                let $chunk: &[_; $size] = $rest[..$size].try_into().expect("a slice of the checked length");
                $crate::on_backend!($conn, |inner| $statement.execute(inner))?;
                taken = $size;
            }
        )*
        taken
    }};
}

/// One student's mark as stored: each field with the HLC that set it.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = marks, primary_key(class_id, date, period, student_id))]
#[diesel(treat_none_as_default_value = false, treat_none_as_null = true)]
pub struct MarkRow {
    pub school_id: SchoolId,
    pub class_id: ClassId,
    pub date: SchoolDate,
    pub period: i32,
    pub student_id: StudentId,
    pub status: Option<Status>,
    pub status_hlc: Option<Hlc>,
    pub minutes_late: Option<i32>,
    pub minutes_late_hlc: Option<Hlc>,
    pub note: Option<String>,
    pub note_hlc: Option<Hlc>,
}

/// A register's "attendance taken" as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = register_submissions, primary_key(class_id, date, period))]
#[diesel(treat_none_as_default_value = false)]
pub struct SubmissionRow {
    pub school_id: SchoolId,
    pub class_id: ClassId,
    pub date: SchoolDate,
    pub period: i32,
    pub submitted: i32,
    pub submitted_hlc: Hlc,
}

/// One received op as logged. Never updated. A rejected op is logged too, so its date, field,
/// HLC and value are kept as sent (control characters escaped), not as a valid op would have them.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = op_log, treat_none_as_default_value = false)]
pub struct OpLogRow {
    pub op_id: OpId,
    pub school_id: SchoolId,
    pub user_id: UserId,
    pub device_id: NodeId,
    pub device_time: i64,
    pub device_hlc: String,
    pub hlc: Option<Hlc>,
    pub received_at: i64,
    pub class_id: ClassId,
    pub date: String,
    pub period: i64,
    pub student_id: Option<StudentId>,
    pub field: String,
    pub value: String,
    pub outcome: Outcome,
    pub code: Option<ErrorCode>,
    pub detail: Option<ValidationCode>,
    pub message: Option<String>,
    pub clock_skewed: i32,
}

fn lww<T>(value: Option<T>, hlc: Option<Hlc>) -> Option<Lww<T>> {
    value.zip(hlc).map(|(value, hlc)| Lww { value, hlc })
}

/// A register's stored state.
#[derive(Debug, Default)]
pub struct StoredRegister {
    pub state: RegisterState,
    /// The submission is read only when an op sets it (most pushes carry marks only).
    pub submission_loaded: bool,
}

/// Loads the marks of every register in `keys` (empty for one with none yet); each
/// submission follows with [`load_submission`] when needed.
///
/// PostgreSQL: one query for them all, as every statement is a round trip to the database
/// server and a group touches dozens of registers. SQLite runs in this process: one cached
/// query per register costs less there than building the join.
pub fn load_registers(
    conn: &mut DbConnection,
    keys: &std::collections::BTreeSet<RegisterKey>,
) -> QueryResult<BTreeMap<RegisterKey, StoredRegister>> {
    let rows: Vec<MarkRow> = match conn {
        #[cfg(feature = "postgres")]
        DbConnection::Pg(pg) => {
            use diesel::sql_types::{Array, Integer, Text};
            use rollcall_shared::column::TextColumn;
            // As the columns store them (`rollcall_shared::column`).
            let classes: Vec<String> = keys.iter().map(|key| key.class_id.to_text().into_owned()).collect();
            let dates: Vec<String> = keys
                .iter()
                .map(|key| SchoolDate(key.date).to_text().into_owned())
                .collect();
            let periods: Vec<i32> = keys.iter().map(|key| i32::from(key.period)).collect();
            diesel::sql_query(
                "SELECT marks.* FROM marks \
                 JOIN unnest($1::text[], $2::text[], $3::int[]) AS wanted (class_id, date, period) \
                 USING (class_id, date, period)",
            )
            .bind::<Array<Text>, _>(classes)
            .bind::<Array<Text>, _>(dates)
            .bind::<Array<Integer>, _>(periods)
            .load(pg)?
        }
        _ => {
            let mut rows = Vec::new();
            for key in keys {
                let (date, period) = (SchoolDate(key.date), i32::from(key.period));
                // On the concrete connection: diesel caches the statement there, not through
                // the multi-backend wrapper.
                rows.extend(crate::on_backend!(conn, |inner| marks::table
                    .filter(marks::class_id.eq(key.class_id))
                    .filter(marks::date.eq(date))
                    .filter(marks::period.eq(period))
                    .select(MarkRow::as_select())
                    .load(inner))?);
            }
            rows
        }
    };
    let mut loaded: BTreeMap<RegisterKey, StoredRegister> =
        keys.iter().map(|key| (*key, StoredRegister::default())).collect();
    for row in rows {
        let bad = |what: String| diesel::result::Error::DeserializationError(what.into());
        let key = RegisterKey {
            class_id: row.class_id,
            date: row.date.0,
            period: u8::try_from(row.period).map_err(|_| bad(format!("bad period {} in the database", row.period)))?,
        };
        let minutes_late = match (row.minutes_late, row.minutes_late_hlc.is_some()) {
            (Some(minutes), true) => {
                Some(Some(u16::try_from(minutes).map_err(|_| {
                    bad(format!("bad minutes late {minutes} in the database"))
                })?))
            }
            (None, true) => Some(None),
            (_, false) => None,
        };
        let mark = MarkState {
            status: lww(row.status, row.status_hlc),
            minutes_late: lww(minutes_late, row.minutes_late_hlc),
            note: lww(row.note, row.note_hlc),
        };
        loaded.entry(key).or_default().state.marks.insert(row.student_id, mark);
    }
    Ok(loaded)
}

/// Loads a register's submission into `stored`, once.
pub fn load_submission(conn: &mut DbConnection, key: &RegisterKey, stored: &mut StoredRegister) -> QueryResult<()> {
    if stored.submission_loaded {
        return Ok(());
    }
    let date = SchoolDate(key.date);
    let period = i32::from(key.period);
    let submission: Option<(i32, Hlc)> = crate::on_backend!(conn, |inner| register_submissions::table
        .filter(register_submissions::class_id.eq(key.class_id))
        .filter(register_submissions::date.eq(date))
        .filter(register_submissions::period.eq(period))
        .select((register_submissions::submitted, register_submissions::submitted_hlc))
        .first(inner)
        .optional())?;
    if let Some((submitted, hlc)) = submission {
        stored.state.submitted = Some(Lww {
            value: submitted != 0,
            hlc,
        });
    }
    stored.submission_loaded = true;
    Ok(())
}

fn mark_row(school_id: SchoolId, key: &RegisterKey, student_id: StudentId, mark: &MarkState) -> MarkRow {
    MarkRow {
        school_id,
        class_id: key.class_id,
        date: SchoolDate(key.date),
        period: i32::from(key.period),
        student_id,
        status: mark.status.as_ref().map(|s| s.value),
        status_hlc: mark.status.as_ref().map(|s| s.hlc),
        minutes_late: mark.minutes_late.as_ref().and_then(|m| m.value).map(i32::from),
        minutes_late_hlc: mark.minutes_late.as_ref().map(|m| m.hlc),
        note: mark.note.as_ref().map(|n| n.value.clone()),
        note_hlc: mark.note.as_ref().map(|n| n.hlc),
    }
}

/// The rows a group's merges changed, written together at the end of the group.
#[derive(Debug, Default)]
pub struct ChangedRows {
    marks: Vec<MarkRow>,
    submissions: Vec<SubmissionRow>,
}

impl ChangedRows {
    /// Adds what a merge changed in one register: the marks of `changed_students`, and the
    /// submission when `submission_changed`.
    pub fn add(
        &mut self,
        school_id: SchoolId,
        key: &RegisterKey,
        stored: &StoredRegister,
        changed_students: &std::collections::BTreeSet<StudentId>,
        submission_changed: bool,
    ) {
        for student_id in changed_students {
            if let Some(mark) = stored.state.marks.get(student_id) {
                self.marks.push(mark_row(school_id, key, *student_id, mark));
            }
        }
        if submission_changed && let Some(submitted) = &stored.state.submitted {
            self.submissions.push(SubmissionRow {
                school_id,
                class_id: key.class_id,
                date: SchoolDate(key.date),
                period: i32::from(key.period),
                submitted: i32::from(submitted.value),
                submitted_hlc: submitted.hlc,
            });
        }
    }
}

/// Writes the changed rows: each row as merged, inserted or replacing the stored one, in a few
/// multi-row statements for the whole group (a row per student would be a round trip each).
pub fn save_changes(conn: &mut DbConnection, changed: &ChangedRows) -> QueryResult<()> {
    use diesel::upsert::excluded;
    in_fixed_chunks!(conn, &changed.marks, |chunk| diesel::insert_into(marks::table)
        .values(chunk)
        .on_conflict((marks::class_id, marks::date, marks::period, marks::student_id))
        .do_update()
        .set((
            marks::status.eq(excluded(marks::status)),
            marks::status_hlc.eq(excluded(marks::status_hlc)),
            marks::minutes_late.eq(excluded(marks::minutes_late)),
            marks::minutes_late_hlc.eq(excluded(marks::minutes_late_hlc)),
            marks::note.eq(excluded(marks::note)),
            marks::note_hlc.eq(excluded(marks::note_hlc)),
        )))?;
    in_fixed_chunks!(conn, &changed.submissions, |chunk| diesel::insert_into(
        register_submissions::table
    )
    .values(chunk)
    .on_conflict((
        register_submissions::class_id,
        register_submissions::date,
        register_submissions::period
    ))
    .do_update()
    .set((
        register_submissions::submitted.eq(excluded(register_submissions::submitted)),
        register_submissions::submitted_hlc.eq(excluded(register_submissions::submitted_hlc)),
    )))
}

/// Appends ops to the log. PostgreSQL: one binary `COPY`, a single round trip however many rows
/// (multi-row INSERTs of up to 128 rows took several).
pub fn append_op_log(conn: &mut DbConnection, rows: &[OpLogRow]) -> QueryResult<()> {
    match conn {
        #[cfg(feature = "postgres")]
        DbConnection::Pg(pg) if !rows.is_empty() => diesel::copy_from(op_log::table)
            .from_insertable(rows)
            .execute(pg)
            .map(|_| ()),
        _ => in_fixed_chunks!(conn, rows, |chunk| diesel::insert_into(op_log::table).values(chunk)),
    }
}

/// An op's identity in the log: the HLC text it was sent with, and its op id.
pub type OpKey = (String, String);

/// Who sent an op and what it said, as logged. A retry of an op carries all of it unchanged; an
/// op id that comes back with any of it different is another op reusing the id. Read back as
/// [`Stored`]: a logged row that cannot be read is no op's identity, and does not fail the push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpIdentity {
    pub user_id: Stored<UserId>,
    pub device_id: Stored<NodeId>,
    pub class_id: Stored<ClassId>,
    pub date: String,
    pub period: i64,
    pub student_id: Option<Stored<StudentId>>,
    pub field: String,
    pub value: String,
}

impl OpIdentity {
    pub fn of(row: &OpLogRow) -> Self {
        OpIdentity {
            user_id: Stored::new(row.user_id),
            device_id: Stored::new(row.device_id),
            class_id: Stored::new(row.class_id),
            date: row.date.clone(),
            period: row.period,
            student_id: row.student_id.map(Stored::new),
            field: row.field.clone(),
            value: row.value.clone(),
        }
    }
}

/// How an op was decided the first time it was received, as logged, and what it was. A code
/// this server no longer knows reads as none.
#[derive(Debug, Clone)]
pub struct FirstReceipt {
    pub outcome: Stored<Outcome>,
    pub code: Option<Stored<ErrorCode>>,
    pub detail: Option<Stored<ValidationCode>>,
    pub identity: OpIdentity,
}

/// A logged receipt as read back: HLC text, op id, outcome, code, detail, then the identity's
/// columns.
type ReceiptRow = (
    String,
    String,
    Stored<Outcome>,
    Option<Stored<ErrorCode>>,
    Option<Stored<ValidationCode>>,
    Stored<UserId>,
    Stored<NodeId>,
    Stored<ClassId>,
    String,
    i64,
    Option<Stored<StudentId>>,
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
/// that are an op's first receipt (not a duplicate, not another op reusing its id). The test
/// below holds it to the names of [`Outcome`] and [`ErrorCode`] and to the migrations.
const FIRST_RECEIPT: &str = "outcome <> 'duplicate' AND (code IS NULL OR code <> 'OP_ID_REUSED')";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_receipt_condition_spells_the_names_and_the_index_of_the_migrations() {
        assert_eq!(
            FIRST_RECEIPT,
            format!(
                "outcome <> '{}' AND (code IS NULL OR code <> '{}')",
                Outcome::Duplicate.as_str(),
                ErrorCode::OpIdReused.as_str()
            )
        );
        for backend in ["sqlite", "postgres"] {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../migrations")
                .join(backend);
            let mut migrations: Vec<_> = std::fs::read_dir(&dir)
                .expect("the migrations")
                .map(|entry| entry.expect("a migration").path())
                .collect();
            migrations.sort();
            // The index as the last migration that (re)creates it leaves it.
            let index = migrations
                .iter()
                .filter_map(|migration| {
                    let sql = std::fs::read_to_string(migration.join("up.sql")).expect("its up.sql");
                    let words = sql.split_whitespace().collect::<Vec<_>>().join(" ");
                    let at = words.find("CREATE UNIQUE INDEX op_log_first_receipt")?;
                    let statement = &words[at..];
                    Some(statement[..statement.find(';').expect("a statement ends")].to_owned())
                })
                .next_back()
                .unwrap_or_else(|| panic!("no migration of {backend} creates op_log_first_receipt"));
            assert!(index.ends_with(&format!("WHERE {FIRST_RECEIPT}")), "{backend}: {index}");
        }
    }
}
