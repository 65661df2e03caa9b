//! The `locks` table: sealed date ranges of a school or one class. A lock is never deleted; a
//! reopened one keeps its row with who reopened it, when and why.

use crate::db::DbConnection;
use crate::db::now_ms;
use crate::db::schema::locks;
use diesel::prelude::*;
use rollcall_shared::column::{SchoolDate, Stored};
use rollcall_shared::{ClassId, Hlc, LockId, SchoolId, UserId};

/// One stored lock, as written (see `api::locks` for what the API shows of it). Each typed
/// column is read as [`Stored`]: a lock the server cannot read is left out of the office's list
/// and reported, it does not fail the list.
#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = locks)]
pub struct LockRow {
    pub id: Stored<LockId>,
    pub school_id: Stored<SchoolId>,
    pub class_id: Option<Stored<ClassId>>,
    pub from_date: Stored<SchoolDate>,
    pub until_date: Stored<SchoolDate>,
    pub reason: String,
    pub locked_hlc: Stored<Hlc>,
    pub created_by: Stored<UserId>,
    pub created_at: i64,
    pub reopened_at: Option<i64>,
    pub reopened_by: Option<Stored<UserId>>,
    pub reopen_reason: Option<String>,
}

/// Writes a new lock.
pub fn insert(conn: &mut DbConnection, row: &LockRow) -> QueryResult<()> {
    diesel::insert_into(locks::table).values(row).execute(conn)?;
    Ok(())
}

/// Every lock of a school, reopened ones included, latest dates first.
pub fn of_school(conn: &mut DbConnection, school_id: SchoolId) -> QueryResult<Vec<LockRow>> {
    locks::table
        .filter(locks::school_id.eq(school_id))
        .order((locks::from_date.desc(), locks::created_at.desc()))
        .select(LockRow::as_select())
        .load(conn)
}

/// The lock with this id, if it belongs to this school.
pub fn find_in_school(conn: &mut DbConnection, lock_id: LockId, school_id: SchoolId) -> QueryResult<Option<LockRow>> {
    locks::table
        .find(lock_id)
        .filter(locks::school_id.eq(school_id))
        .select(LockRow::as_select())
        .first(conn)
        .optional()
}

/// The lock with this id.
pub fn get(conn: &mut DbConnection, lock_id: LockId) -> QueryResult<LockRow> {
    locks::table.find(lock_id).select(LockRow::as_select()).first(conn)
}

/// Records that a lock was reopened, now, by whom and why.
pub fn reopen(conn: &mut DbConnection, lock_id: LockId, reopened_by: UserId, reason: &str) -> QueryResult<()> {
    diesel::update(locks::table.find(lock_id))
        .set((
            locks::reopened_at.eq(now_ms()),
            locks::reopened_by.eq(reopened_by),
            locks::reopen_reason.eq(reason),
        ))
        .execute(conn)?;
    Ok(())
}
