//! The rows the push writer's authorization copy (`sync::authz`) is built from, and the
//! version that says when to reload it. Triggers bump `authz_version` in the same transaction
//! as any change to these tables.

use crate::db::DbConnection;
use crate::db::schema::{authz_version, class_teachers, classes, enrolments, locks, users};
use diesel::prelude::*;
use rollcall_shared::column::{SchoolDate, Stored};
use rollcall_shared::protocol::Role;
use rollcall_shared::{ClassId, LockId, SchoolId, StudentId, UserId};

/// The current `authz_version`.
pub fn version(conn: &mut DbConnection) -> QueryResult<i64> {
    authz_version::table.select(authz_version::version).first::<i64>(conn)
}

/// Every row that decides who may write what, each column as stored: a row the server cannot
/// read must be skipped and reported, not fail the load (see `integrity`).
#[derive(Debug)]
pub struct AuthzRows {
    pub users: Vec<UserAccessRow>,
    /// `(id, school_id, name)`.
    pub classes: Vec<(Stored<ClassId>, Stored<SchoolId>, String)>,
    /// `(class_id, teacher_id)`.
    pub class_teachers: Vec<(Stored<ClassId>, Stored<UserId>)>,
    pub enrolments: Vec<EnrolmentRow>,
    /// The locks not reopened.
    pub open_locks: Vec<OpenLockRow>,
}

/// A user: `(id, school_id, role, disabled_at)`.
pub type UserAccessRow = (Stored<UserId>, Stored<SchoolId>, Stored<Role>, Option<i64>);

/// An enrolment: `(class_id, student_id, from, until)`.
pub type EnrolmentRow = (
    Stored<ClassId>,
    Stored<StudentId>,
    Stored<SchoolDate>,
    Option<Stored<SchoolDate>>,
);

/// A lock not reopened: `(id, school_id, class_id, from, until, reason)`.
pub type OpenLockRow = (
    Stored<LockId>,
    Stored<SchoolId>,
    Option<Stored<ClassId>>,
    Stored<SchoolDate>,
    Stored<SchoolDate>,
    String,
);

/// Loads [`AuthzRows`]; run it inside the transaction that read [`version`].
pub fn load(conn: &mut DbConnection) -> QueryResult<AuthzRows> {
    Ok(AuthzRows {
        users: users::table
            .select((users::id, users::school_id, users::role, users::disabled_at))
            .load(conn)?,
        classes: classes::table
            .select((classes::id, classes::school_id, classes::name))
            .load(conn)?,
        class_teachers: class_teachers::table
            .select((class_teachers::class_id, class_teachers::teacher_id))
            .load(conn)?,
        enrolments: enrolments::table
            .select((
                enrolments::class_id,
                enrolments::student_id,
                enrolments::from_date,
                enrolments::until_date,
            ))
            .load(conn)?,
        open_locks: locks::table
            .filter(locks::reopened_at.is_null())
            .select((
                locks::id,
                locks::school_id,
                locks::class_id,
                locks::from_date,
                locks::until_date,
                locks::reason,
            ))
            .load(conn)?,
    })
}
