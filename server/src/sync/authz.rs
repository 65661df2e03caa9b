//! Who may write what: an in-memory copy of users, classes, teachers, enrolments and open locks,
//! so the push writer checks thousands of ops per second without a query per op.
//!
//! Triggers bump `authz_version` in the same transaction as any change to those tables, and
//! the writer compares the version at the start of every group commit (inside its write
//! transaction), reloading when it moved. The copy is therefore exactly what is committed,
//! whichever server or tool made the change.

use crate::db::{self, DbConnection};
use crate::integrity::{UnreadableRow, UnreadableRows};
use crate::security::AuthUser;
use diesel::prelude::*;
use rollcall_shared::column::Stored;
use rollcall_shared::protocol::Role;
use rollcall_shared::{ClassId, DateRange, ErrorCode, Op, SchoolId, StudentId, UserId};
use std::collections::HashMap;

/// Why an op may not be applied: a code from `shared` and a message for the office.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub code: ErrorCode,
    pub message: String,
}

#[derive(Debug)]
struct UserAccess {
    school_id: SchoolId,
    role: Role,
    active: bool,
}

#[derive(Debug)]
struct ClassAccess {
    school_id: SchoolId,
    name: String,
    teachers: Vec<UserId>,
}

#[derive(Debug)]
struct OpenLock {
    class_id: Option<ClassId>,
    dates: DateRange,
    reason: String,
}

/// The in-memory copy at one `authz_version`.
#[derive(Debug, Default)]
pub struct AuthzSnapshot {
    version: Option<i64>,
    users: HashMap<UserId, UserAccess>,
    classes: HashMap<ClassId, ClassAccess>,
    /// When each student is in each class: one range per enrolment.
    enrolments: HashMap<(ClassId, StudentId), Vec<DateRange>>,
    locks: HashMap<SchoolId, Vec<OpenLock>>,
}

/// The rows of one table, each read by `read` or reported as unreadable and skipped: a row
/// the server cannot read must never stop every push (see `integrity`).
fn read_rows<R, T>(
    rows: Vec<R>,
    table: &str,
    key: impl Fn(&R) -> String,
    read: impl Fn(&R) -> Result<T, String>,
    unreadable: &mut Vec<UnreadableRow>,
) -> Vec<T> {
    rows.iter()
        .filter_map(|row| {
            read(row)
                .map_err(|problem| unreadable.push(UnreadableRow::new(table, key(row), problem)))
                .ok()
        })
        .collect()
}

/// What `/healthz` calls the authorization copy when it lists the rows it skipped.
const READER: &str = "push authorization";

impl AuthzSnapshot {
    /// Brings the copy up to date if the database moved on since it was loaded. Rows it cannot
    /// read are skipped and reported to `unreadable`.
    pub fn refresh(&mut self, conn: &mut DbConnection, unreadable: &UnreadableRows) -> QueryResult<()> {
        let version = db::authz::version(conn)?;
        if self.version != Some(version) {
            let mut skipped = Vec::new();
            *self = AuthzSnapshot::load(conn, version, &mut skipped)?;
            unreadable.replace(READER, skipped);
            tracing::debug!(version, "reloaded the authorization copy");
        }
        Ok(())
    }

    fn load(conn: &mut DbConnection, version: i64, skipped: &mut Vec<UnreadableRow>) -> QueryResult<AuthzSnapshot> {
        let mut snapshot = AuthzSnapshot {
            version: Some(version),
            ..AuthzSnapshot::default()
        };
        let rows = db::authz::load(conn)?;
        snapshot.users = read_rows(
            rows.users,
            "users",
            |(id, ..)| id.to_string(),
            |(id, school_id, role, disabled_at)| {
                let access = UserAccess {
                    school_id: school_id.value()?,
                    role: role.value()?,
                    active: disabled_at.is_none(),
                };
                Ok((id.value()?, access))
            },
            skipped,
        )
        .into_iter()
        .collect();
        snapshot.classes = read_rows(
            rows.classes,
            "classes",
            |(id, ..)| id.to_string(),
            |(id, school_id, name)| {
                let access = ClassAccess {
                    school_id: school_id.value()?,
                    name: name.clone(),
                    teachers: Vec::new(),
                };
                Ok((id.value()?, access))
            },
            skipped,
        )
        .into_iter()
        .collect();
        for (class_id, teacher_id) in read_rows(
            rows.class_teachers,
            "class_teachers",
            |(class_id, teacher_id)| format!("{class_id} {teacher_id}"),
            |(class_id, teacher_id)| Ok((class_id.value()?, teacher_id.value()?)),
            skipped,
        ) {
            if let Some(class) = snapshot.classes.get_mut(&class_id) {
                class.teachers.push(teacher_id);
            }
        }
        for (key, span) in read_rows(
            rows.enrolments,
            "enrolments",
            |(class_id, student_id, from, _)| format!("{class_id} {student_id} {from}"),
            |(class_id, student_id, from, until)| {
                let span = DateRange {
                    from: from.value()?.0,
                    until: until.as_ref().map(Stored::value).transpose()?.map(|until| until.0),
                };
                Ok(((class_id.value()?, student_id.value()?), span))
            },
            skipped,
        ) {
            snapshot.enrolments.entry(key).or_default().push(span);
        }
        for (school_id, lock) in read_rows(
            rows.open_locks,
            "locks",
            |(id, ..)| id.to_string(),
            |(_, school_id, class_id, from, until, reason)| {
                let lock = OpenLock {
                    class_id: class_id.as_ref().map(Stored::value).transpose()?,
                    dates: DateRange {
                        from: from.value()?.0,
                        until: Some(until.value()?.0),
                    },
                    reason: reason.clone(),
                };
                Ok((school_id.value()?, lock))
            },
            skipped,
        ) {
            snapshot.locks.entry(school_id).or_default().push(lock);
        }
        Ok(snapshot)
    }

    /// Whether the caller's account still exists, is enabled, and still has the role and school
    /// its token claims (a token lives up to 15 minutes after an account changes).
    pub fn account_is_current(&self, user: &AuthUser) -> bool {
        self.users
            .get(&user.id)
            .is_some_and(|access| access.active && access.school_id == user.school_id && access.role == user.role)
    }

    /// Checks one validated op against the rules of access, enrolment and locks, in that order.
    pub fn check(&self, user: &AuthUser, op: &Op) -> Result<(), Denied> {
        let register = &op.change.register;
        let class = self
            .classes
            .get(&register.class_id)
            .filter(|class| class.school_id == user.school_id)
            .ok_or_else(|| Denied {
                code: ErrorCode::Forbidden,
                message: format!("class {} is not a class of your school", register.class_id),
            })?;
        if user.role != Role::Admin && !class.teachers.contains(&user.id) {
            return Err(Denied {
                code: ErrorCode::Forbidden,
                // Not the class's name: a teacher learns nothing about classes that are not theirs.
                message: "you do not teach this class; ask the office to correct this mark".to_owned(),
            });
        }
        if let Some(student_id) = op.change.change.student_id() {
            let enrolled = self
                .enrolments
                .get(&(register.class_id, student_id))
                .is_some_and(|spans| spans.iter().any(|span| span.covers(register.date)));
            if !enrolled {
                return Err(Denied {
                    code: ErrorCode::NotEnrolled,
                    message: format!(
                        "student {student_id} is not enrolled in {} on {}; refresh the roster",
                        class.name, register.date
                    ),
                });
            }
        }
        let lock = self.locks.get(&user.school_id).and_then(|locks| {
            locks
                .iter()
                .find(|lock| lock.class_id.is_none_or(|id| id == register.class_id) && lock.dates.covers(register.date))
        });
        if let Some(lock) = lock {
            return Err(Denied {
                code: ErrorCode::RegisterLocked,
                message: format!(
                    "the office locked {} on {} ({}); ask them to reopen it to change this mark",
                    class.name, register.date, lock.reason
                ),
            });
        }
        Ok(())
    }
}
