//! The change feed (the `change_feed` view over the op log): every committed change of a school
//! in commit order, which pull reads after a cursor.

use crate::db::DbConnection;
use crate::db::roster::classes_taught_by;
use crate::db::schema::change_feed;
use crate::integrity::UnreadableRow;
use diesel::prelude::*;
use rollcall_shared::column::Stored;
use rollcall_shared::{Change, ClassId, RawChange, SchoolId, StudentId, UserId};

/// One change of the feed as stored: an applied op of the log, with the `seq` that orders it.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = change_feed)]
pub struct FeedRow {
    pub seq: i64,
    pub class_id: Stored<ClassId>,
    /// The date, field, value and HLC as logged: [`Change`] reads them by the rules of a push.
    pub date: String,
    pub period: i64,
    pub student_id: Option<Stored<StudentId>>,
    pub field: String,
    pub value: String,
    pub hlc: Option<String>,
}

impl FeedRow {
    /// The change, or what is wrong with the logged row.
    pub fn into_change(self) -> Result<Change, UnreadableRow> {
        let corrupt = |problem: String| UnreadableRow::new("op_log", self.seq.to_string(), problem);
        let raw = RawChange {
            class_id: self.class_id.value().map_err(corrupt)?,
            date: self.date,
            period: self.period,
            student_id: self
                .student_id
                .as_ref()
                .map(Stored::value)
                .transpose()
                .map_err(corrupt)?,
            field: self.field,
            value: serde_json::from_str(&self.value).map_err(|e| corrupt(e.to_string()))?,
            hlc: self.hlc.unwrap_or_default(),
        };
        Change::try_from(raw).map_err(|e| corrupt(e.to_string()))
    }
}

/// At most `limit` changes of a school after `after` (a `seq`), in commit order; with
/// `teacher_id`, only those of the classes that teacher teaches.
pub fn changes_after(
    conn: &mut DbConnection,
    school_id: SchoolId,
    teacher_id: Option<UserId>,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<FeedRow>> {
    let mut feed = change_feed::table
        .filter(change_feed::school_id.eq(school_id))
        .filter(change_feed::seq.gt(after))
        .order(change_feed::seq.asc())
        .limit(limit)
        .select(FeedRow::as_select())
        .into_boxed();
    if let Some(teacher_id) = teacher_id {
        let classes = classes_taught_by(conn, teacher_id)?;
        feed = feed.filter(change_feed::class_id.eq_any(classes));
    }
    feed.load(conn)
}
