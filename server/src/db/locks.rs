//! The `locks` table: sealed date ranges of a school or one class. A lock is never deleted; a
//! reopened one keeps its row with who reopened it, when and why.

use crate::db::DbConnection;
use crate::db::now_ms;
use crate::db::schema::locks;
use diesel::prelude::*;

/// One stored lock, as written (see `api::locks` for what the API shows of it).
#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = locks)]
pub struct LockRow {
    pub id: String,
    pub school_id: String,
    pub class_id: Option<String>,
    pub from_date: String,
    pub until_date: String,
    pub reason: String,
    pub locked_hlc: String,
    pub created_by: String,
    pub created_at: i64,
    pub reopened_at: Option<i64>,
    pub reopened_by: Option<String>,
    pub reopen_reason: Option<String>,
}

/// Writes a new lock.
pub fn insert(conn: &mut DbConnection, row: &LockRow) -> QueryResult<()> {
    diesel::insert_into(locks::table).values(row).execute(conn)?;
    Ok(())
}

/// Every lock of a school, reopened ones included, latest dates first.
pub fn of_school(conn: &mut DbConnection, school_id: &str) -> QueryResult<Vec<LockRow>> {
    locks::table
        .filter(locks::school_id.eq(school_id))
        .order((locks::from_date.desc(), locks::created_at.desc()))
        .select(LockRow::as_select())
        .load(conn)
}

/// The lock with this id, if it belongs to this school.
pub fn find_in_school(conn: &mut DbConnection, lock_id: &str, school_id: &str) -> QueryResult<Option<LockRow>> {
    locks::table
        .find(lock_id)
        .filter(locks::school_id.eq(school_id))
        .select(LockRow::as_select())
        .first(conn)
        .optional()
}

/// The lock with this id.
pub fn get(conn: &mut DbConnection, lock_id: &str) -> QueryResult<LockRow> {
    locks::table.find(lock_id).select(LockRow::as_select()).first(conn)
}

/// Records that a lock was reopened, now, by whom and why.
pub fn reopen(conn: &mut DbConnection, lock_id: &str, reopened_by: &str, reason: &str) -> QueryResult<()> {
    diesel::update(locks::table.find(lock_id))
        .set((
            locks::reopened_at.eq(now_ms()),
            locks::reopened_by.eq(reopened_by),
            locks::reopen_reason.eq(reason),
        ))
        .execute(conn)?;
    Ok(())
}
