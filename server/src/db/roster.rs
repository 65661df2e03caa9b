//! The roster tables as stored: schools, periods, classes, who teaches them, students and
//! enrolments. Rows are written as the roster API reads them back (`ClassInfo`, `StudentInfo`,
//! `EnrolmentInfo`).

use crate::db::DbConnection;
use crate::db::schema::{class_teachers, classes, enrolments, periods, schools, students};
use diesel::prelude::*;
use rollcall_shared::column::{SchoolDate, Stored, TimeOfDay};
use rollcall_shared::protocol::{ClassInfo, EnrolmentInfo, SchoolInfo, StudentInfo};
use rollcall_shared::{ClassId, SchoolId, StudentId, UserId};
use std::collections::BTreeSet;

/// The ids of the classes a teacher teaches: what a teacher may see of the register, the change
/// feed and the notices. A row whose class id cannot be read teaches nothing (the authorization
/// copy reports it).
pub fn classes_taught_by(conn: &mut DbConnection, teacher_id: UserId) -> QueryResult<Vec<ClassId>> {
    let classes: Vec<Stored<ClassId>> = class_teachers::table
        .filter(class_teachers::teacher_id.eq(teacher_id))
        .select(class_teachers::class_id)
        .load(conn)?;
    Ok(classes.into_iter().filter_map(Stored::ok).collect())
}

/// Whether a class exists and belongs to this school.
pub fn class_is_in_school(conn: &mut DbConnection, class_id: ClassId, school_id: SchoolId) -> QueryResult<bool> {
    let in_school = classes::table
        .find(class_id)
        .filter(classes::school_id.eq(school_id))
        .count()
        .get_result::<i64>(conn)?;
    Ok(in_school != 0)
}

/// A school's roster rows, in the order the API lists them.
#[derive(Debug)]
pub struct RosterRows {
    /// `(id, name)`.
    pub school: (SchoolId, String),
    /// `(period, label, starts, ends)`, by period.
    pub periods: Vec<(i32, String, TimeOfDay, TimeOfDay)>,
    /// `(id, name)`, by name then id.
    pub classes: Vec<(ClassId, String)>,
    /// `(class_id, teacher_id)` of the listed classes, by class then teacher.
    pub class_teachers: Vec<(ClassId, UserId)>,
    /// `(class_id, student_id, from, until)` of the listed classes, by class, student, from.
    pub enrolments: Vec<(ClassId, StudentId, SchoolDate, Option<SchoolDate>)>,
    /// `(id, external_id, given_name, family_name)`, by family name, given name, id.
    pub students: Vec<(StudentId, String, String, String)>,
}

/// The roster of a school: all of it, or with `teacher_id` only the classes that teacher
/// teaches and the students enrolled in them.
pub fn load(conn: &mut DbConnection, school_id: SchoolId, teacher_id: Option<UserId>) -> QueryResult<RosterRows> {
    let school = schools::table
        .find(school_id)
        .select((schools::id, schools::name))
        .first(conn)?;

    let periods = periods::table
        .filter(periods::school_id.eq(school_id))
        .order(periods::period.asc())
        .select((periods::period, periods::label, periods::starts, periods::ends))
        .load(conn)?;

    let mut class_query = classes::table
        .filter(classes::school_id.eq(school_id))
        .order((classes::name.asc(), classes::id.asc()))
        .select((classes::id, classes::name))
        .into_boxed();
    if let Some(teacher_id) = teacher_id {
        let taught = classes_taught_by(conn, teacher_id)?;
        class_query = class_query.filter(classes::id.eq_any(taught));
    }
    let classes: Vec<(ClassId, String)> = class_query.load(conn)?;
    let class_ids: Vec<ClassId> = classes.iter().map(|(id, _)| *id).collect();

    let class_teachers = class_teachers::table
        .filter(class_teachers::class_id.eq_any(&class_ids))
        .order((class_teachers::class_id.asc(), class_teachers::teacher_id.asc()))
        .select((class_teachers::class_id, class_teachers::teacher_id))
        .load(conn)?;

    let enrolments: Vec<(ClassId, StudentId, SchoolDate, Option<SchoolDate>)> = enrolments::table
        .filter(enrolments::class_id.eq_any(&class_ids))
        .order((
            enrolments::class_id.asc(),
            enrolments::student_id.asc(),
            enrolments::from_date.asc(),
        ))
        .select((
            enrolments::class_id,
            enrolments::student_id,
            enrolments::from_date,
            enrolments::until_date,
        ))
        .load(conn)?;

    let mut student_query = students::table
        .filter(students::school_id.eq(school_id))
        .order((
            students::family_name.asc(),
            students::given_name.asc(),
            students::id.asc(),
        ))
        .select((
            students::id,
            students::external_id,
            students::given_name,
            students::family_name,
        ))
        .into_boxed();
    if teacher_id.is_some() {
        let visible: BTreeSet<StudentId> = enrolments.iter().map(|(_, student, _, _)| *student).collect();
        student_query = student_query.filter(students::id.eq_any(visible));
    }
    let students = student_query.load(conn)?;

    Ok(RosterRows {
        school,
        periods,
        classes,
        class_teachers,
        enrolments,
        students,
    })
}

/// Adds a school.
pub fn insert_school(conn: &mut DbConnection, school: &SchoolInfo, created_at: i64) -> QueryResult<()> {
    diesel::insert_into(schools::table)
        .values((
            schools::id.eq(school.id),
            schools::name.eq(&school.name),
            schools::created_at.eq(created_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Adds a class of a school and who teaches it.
pub fn insert_class(conn: &mut DbConnection, school_id: SchoolId, class: &ClassInfo) -> QueryResult<()> {
    diesel::insert_into(classes::table)
        .values((
            classes::id.eq(class.id),
            classes::school_id.eq(school_id),
            classes::name.eq(&class.name),
        ))
        .execute(conn)?;
    for &teacher_id in &class.teacher_ids {
        diesel::insert_into(class_teachers::table)
            .values((
                class_teachers::school_id.eq(school_id),
                class_teachers::class_id.eq(class.id),
                class_teachers::teacher_id.eq(teacher_id),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Adds a student of a school.
pub fn insert_student(conn: &mut DbConnection, school_id: SchoolId, student: &StudentInfo) -> QueryResult<()> {
    diesel::insert_into(students::table)
        .values((
            students::id.eq(student.id),
            students::school_id.eq(school_id),
            students::external_id.eq(&student.external_id),
            students::given_name.eq(&student.given_name),
            students::family_name.eq(&student.family_name),
        ))
        .execute(conn)?;
    Ok(())
}

/// Enrols a student of a school in a class.
pub fn insert_enrolment(conn: &mut DbConnection, school_id: SchoolId, enrolment: &EnrolmentInfo) -> QueryResult<()> {
    diesel::insert_into(enrolments::table)
        .values((
            enrolments::school_id.eq(school_id),
            enrolments::class_id.eq(enrolment.class_id),
            enrolments::student_id.eq(enrolment.student_id),
            enrolments::from_date.eq(SchoolDate(enrolment.from)),
            enrolments::until_date.eq(enrolment.until.map(SchoolDate)),
        ))
        .execute(conn)?;
    Ok(())
}
