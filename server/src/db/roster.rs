//! The roster tables as stored: schools, periods, classes, who teaches them, students and
//! enrolments. Ids, dates and times are the stored text; `api::roster` reads them into the
//! protocol's types.

use crate::db::DbConnection;
use crate::db::schema::{class_teachers, classes, enrolments, periods, schools, students};
use diesel::prelude::*;
use std::collections::BTreeSet;

/// The ids of the classes a teacher teaches: what a teacher may see of the register, the change
/// feed and the notices.
pub fn classes_taught_by(conn: &mut DbConnection, teacher_id: &str) -> QueryResult<Vec<String>> {
    class_teachers::table
        .filter(class_teachers::teacher_id.eq(teacher_id))
        .select(class_teachers::class_id)
        .load::<String>(conn)
}

/// Whether a class exists and belongs to this school.
pub fn class_is_in_school(conn: &mut DbConnection, class_id: &str, school_id: &str) -> QueryResult<bool> {
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
    pub school: (String, String),
    /// `(period, label, starts, ends)`, by period.
    pub periods: Vec<(i32, String, String, String)>,
    /// `(id, name)`, by name then id.
    pub classes: Vec<(String, String)>,
    /// `(class_id, teacher_id)` of the listed classes, by class then teacher.
    pub class_teachers: Vec<(String, String)>,
    /// `(class_id, student_id, from, until)` of the listed classes, by class, student, from.
    pub enrolments: Vec<(String, String, String, Option<String>)>,
    /// `(id, external_id, given_name, family_name)`, by family name, given name, id.
    pub students: Vec<(String, String, String, String)>,
}

/// The roster of a school: all of it, or with `teacher_id` only the classes that teacher
/// teaches and the students enrolled in them.
pub fn load(conn: &mut DbConnection, school_id: &str, teacher_id: Option<&str>) -> QueryResult<RosterRows> {
    let school = schools::table
        .find(school_id)
        .select((schools::id, schools::name))
        .first::<(String, String)>(conn)?;

    let periods = periods::table
        .filter(periods::school_id.eq(school_id))
        .order(periods::period.asc())
        .select((periods::period, periods::label, periods::starts, periods::ends))
        .load::<(i32, String, String, String)>(conn)?;

    let mut class_query = classes::table
        .filter(classes::school_id.eq(school_id))
        .order((classes::name.asc(), classes::id.asc()))
        .select((classes::id, classes::name))
        .into_boxed();
    if let Some(teacher_id) = teacher_id {
        let taught = classes_taught_by(conn, teacher_id)?;
        class_query = class_query.filter(classes::id.eq_any(taught));
    }
    let classes = class_query.load::<(String, String)>(conn)?;
    let class_ids: Vec<String> = classes.iter().map(|(id, _)| id.clone()).collect();

    let class_teachers = class_teachers::table
        .filter(class_teachers::class_id.eq_any(&class_ids))
        .order((class_teachers::class_id.asc(), class_teachers::teacher_id.asc()))
        .select((class_teachers::class_id, class_teachers::teacher_id))
        .load::<(String, String)>(conn)?;

    let enrolments = enrolments::table
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
        .load::<(String, String, String, Option<String>)>(conn)?;

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
        let visible: BTreeSet<String> = enrolments.iter().map(|(_, student, _, _)| student.clone()).collect();
        student_query = student_query.filter(students::id.eq_any(visible));
    }
    let students = student_query.load::<(String, String, String, String)>(conn)?;

    Ok(RosterRows {
        school,
        periods,
        classes,
        class_teachers,
        enrolments,
        students,
    })
}
