//! `GET /api/v1/roster`: the school, its periods, and the classes, students and enrolments the
//! caller may see. A teacher gets only the classes they teach and those classes' students.

use crate::db::DbConnection;
use crate::db::schema::{class_teachers, classes, enrolments, periods, schools, students};
use crate::error::AppError;
use crate::security::AuthUser;
use crate::state::AppState;
use actix_web::web;
use chrono::{NaiveDate, NaiveTime};
use diesel::prelude::*;
use rollcall_shared::protocol::{ClassInfo, EnrolmentInfo, PeriodInfo, Roster, SchoolInfo, StudentInfo};
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

/// `GET /api/v1/roster`
#[utoipa::path(
    get,
    path = "/api/v1/roster",
    tag = "roster",
    responses(
        (status = 200, description = "What the caller may see: an admin the whole school, a teacher their classes and those classes' students", body = crate::api::docs::RosterDoc),
        (status = 401, description = "No or bad token (UNAUTHORIZED)", body = crate::api::docs::ErrorBodyDoc),
    ),
    security(("bearer" = []))
)]
pub async fn get_roster(user: AuthUser, state: web::Data<AppState>) -> Result<web::Json<Roster>, AppError> {
    Ok(web::Json(state.db.run(move |conn| load_roster(conn, &user)).await?))
}

fn corrupt(what: &str, text: &str) -> AppError {
    AppError::Internal(format!("bad {what} {text:?} in the roster tables"))
}

fn parse<T: FromStr>(text: &str, what: &str) -> Result<T, AppError> {
    text.parse().map_err(|_| corrupt(what, text))
}

fn parse_date(text: &str) -> Result<NaiveDate, AppError> {
    rollcall_shared::op::parse_date(text).map_err(|_| corrupt("date", text))
}

fn parse_time(text: &str) -> Result<NaiveTime, AppError> {
    rollcall_shared::wire_time::time_of_day::parse(text).ok_or_else(|| corrupt("time", text))
}

fn load_roster(conn: &mut DbConnection, user: &AuthUser) -> Result<Roster, AppError> {
    let school_id = user.school_id.to_string();
    let (id, name) = schools::table
        .find(&school_id)
        .select((schools::id, schools::name))
        .first::<(String, String)>(conn)?;
    let school = SchoolInfo {
        id: parse(&id, "school id")?,
        name,
    };

    let periods = periods::table
        .filter(periods::school_id.eq(&school_id))
        .order(periods::period.asc())
        .select((periods::period, periods::label, periods::starts, periods::ends))
        .load::<(i32, String, String, String)>(conn)?
        .into_iter()
        .map(|(period, label, starts, ends)| {
            Ok(PeriodInfo {
                period: u8::try_from(period).map_err(|_| corrupt("period", &period.to_string()))?,
                label,
                starts: parse_time(&starts)?,
                ends: parse_time(&ends)?,
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;

    let mut class_query = classes::table
        .filter(classes::school_id.eq(&school_id))
        .order((classes::name.asc(), classes::id.asc()))
        .select((classes::id, classes::name))
        .into_boxed();
    if !user.is_admin() {
        let taught = class_teachers::table
            .filter(class_teachers::teacher_id.eq(user.id.to_string()))
            .select(class_teachers::class_id)
            .load::<String>(conn)?;
        class_query = class_query.filter(classes::id.eq_any(taught));
    }
    let class_rows = class_query.load::<(String, String)>(conn)?;
    let class_ids: Vec<String> = class_rows.iter().map(|(id, _)| id.clone()).collect();

    let mut teachers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (class_id, teacher_id) in class_teachers::table
        .filter(class_teachers::class_id.eq_any(&class_ids))
        .order((class_teachers::class_id.asc(), class_teachers::teacher_id.asc()))
        .select((class_teachers::class_id, class_teachers::teacher_id))
        .load::<(String, String)>(conn)?
    {
        teachers.entry(class_id).or_default().push(teacher_id);
    }
    let classes = class_rows
        .into_iter()
        .map(|(id, name)| {
            let teacher_ids = teachers
                .remove(&id)
                .unwrap_or_default()
                .iter()
                .map(|teacher| parse(teacher, "user id"))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(ClassInfo {
                id: parse(&id, "class id")?,
                name,
                teacher_ids,
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;

    let enrolment_rows = enrolments::table
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
    let visible_students: BTreeSet<String> = enrolment_rows
        .iter()
        .map(|(_, student, _, _)| student.clone())
        .collect();
    let enrolments = enrolment_rows
        .into_iter()
        .map(|(class_id, student_id, from, until)| {
            Ok(EnrolmentInfo {
                class_id: parse(&class_id, "class id")?,
                student_id: parse(&student_id, "student id")?,
                from: parse_date(&from)?,
                until: until.as_deref().map(parse_date).transpose()?,
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;

    let mut student_query = students::table
        .filter(students::school_id.eq(&school_id))
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
    if !user.is_admin() {
        student_query = student_query.filter(students::id.eq_any(visible_students));
    }
    let students = student_query
        .load::<(String, String, String, String)>(conn)?
        .into_iter()
        .map(|(id, external_id, given_name, family_name)| {
            Ok(StudentInfo {
                id: parse(&id, "student id")?,
                external_id,
                given_name,
                family_name,
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;

    Ok(Roster {
        school,
        periods,
        classes,
        students,
        enrolments,
    })
}
