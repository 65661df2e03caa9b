//! `GET /api/v1/roster`: the school, its periods, and the classes, students and enrolments the
//! caller may see. A teacher gets only the classes they teach and those classes' students.

use crate::db::{DbConnection, roster};
use crate::error::AppError;
use crate::security::AuthUser;
use crate::state::AppState;
use actix_web::web;
use chrono::{NaiveDate, NaiveTime};
use rollcall_shared::protocol::{ClassInfo, EnrolmentInfo, PeriodInfo, Roster, SchoolInfo, StudentInfo};
use std::collections::BTreeMap;
use std::str::FromStr;

/// `GET /api/v1/roster`
#[utoipa::path(
    get,
    path = "/api/v1/roster",
    tag = "roster",
    responses(
        (status = 200, description = "What the caller may see: an admin the whole school, a teacher their classes and those classes' students", body = rollcall_shared::protocol::Roster),
        (status = 401, description = "No or bad token (UNAUTHORIZED)", body = rollcall_shared::protocol::ErrorBody),
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
    let teacher_id = (!user.is_admin()).then(|| user.id.to_string());
    let rows = roster::load(conn, &user.school_id.to_string(), teacher_id.as_deref())?;
    let (id, name) = rows.school;
    let school = SchoolInfo {
        id: parse(&id, "school id")?,
        name,
    };

    let periods = rows
        .periods
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

    let mut teachers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (class_id, teacher_id) in rows.class_teachers {
        teachers.entry(class_id).or_default().push(teacher_id);
    }
    let classes = rows
        .classes
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

    let enrolments = rows
        .enrolments
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

    let students = rows
        .students
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
