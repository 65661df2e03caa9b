//! The rows the push writer's authorization copy (`sync::authz`) is built from, and the
//! version that says when to reload it. Triggers bump `authz_version` in the same transaction
//! as any change to these tables.

use crate::db::DbConnection;
use crate::db::schema::{authz_version, class_teachers, classes, enrolments, locks, users};
use diesel::prelude::*;

/// The current `authz_version`.
pub fn version(conn: &mut DbConnection) -> QueryResult<i64> {
    authz_version::table.select(authz_version::version).first::<i64>(conn)
}

/// Every row that decides who may write what, as stored.
#[derive(Debug)]
pub struct AuthzRows {
    /// `(id, school_id, role, disabled_at)`.
    pub users: Vec<(String, String, String, Option<i64>)>,
    /// `(id, school_id, name)`.
    pub classes: Vec<(String, String, String)>,
    /// `(class_id, teacher_id)`.
    pub class_teachers: Vec<(String, String)>,
    /// `(class_id, student_id, from, until)`.
    pub enrolments: Vec<(String, String, String, Option<String>)>,
    /// The locks not reopened: `(id, school_id, class_id, from, until, reason)`.
    pub open_locks: Vec<(String, String, Option<String>, String, String, String)>,
}

/// Loads [`AuthzRows`]; run it inside the transaction that read [`version`].
pub fn load(conn: &mut DbConnection) -> QueryResult<AuthzRows> {
    let users = users::table
        .select((users::id, users::school_id, users::role, users::disabled_at))
        .load::<(String, String, String, Option<i64>)>(conn)?;
    let classes = classes::table
        .select((classes::id, classes::school_id, classes::name))
        .load::<(String, String, String)>(conn)?;
    let class_teachers = class_teachers::table
        .select((class_teachers::class_id, class_teachers::teacher_id))
        .load::<(String, String)>(conn)?;
    let enrolments = enrolments::table
        .select((
            enrolments::class_id,
            enrolments::student_id,
            enrolments::from_date,
            enrolments::until_date,
        ))
        .load::<(String, String, String, Option<String>)>(conn)?;
    let open_locks = locks::table
        .filter(locks::reopened_at.is_null())
        .select((
            locks::id,
            locks::school_id,
            locks::class_id,
            locks::from_date,
            locks::until_date,
            locks::reason,
        ))
        .load::<(String, String, Option<String>, String, String, String)>(conn)?;
    Ok(AuthzRows {
        users,
        classes,
        class_teachers,
        enrolments,
        open_locks,
    })
}
