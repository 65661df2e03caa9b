//! `GET /api/v1/roster`: the school, its periods, and the classes, students and enrolments the
//! caller may see. A teacher gets only the classes they teach and those classes' students.

use crate::db::{DbConnection, roster};
use crate::error::AppError;
use crate::security::AuthUser;
use crate::state::AppState;
use actix_web::web;
use rollcall_shared::protocol::{ClassInfo, EnrolmentInfo, PeriodInfo, Roster, SchoolInfo, StudentInfo};
use rollcall_shared::{ClassId, UserId};
use std::collections::BTreeMap;

/// `GET /api/v1/roster`
#[utoipa::path(
    get,
    path = "/api/v1/roster",
    tag = "roster",
    responses(
        (status = 200, description = "What the caller may see: an admin the whole school, a teacher their classes and those classes' students", body = rollcall_shared::protocol::Roster),
    ),
    security(("bearer" = []))
)]
pub async fn get_roster(user: AuthUser, state: web::Data<AppState>) -> Result<web::Json<Roster>, AppError> {
    Ok(web::Json(state.db.run(move |conn| load_roster(conn, &user)).await?))
}

fn load_roster(conn: &mut DbConnection, user: &AuthUser) -> Result<Roster, AppError> {
    let teacher_id = (!user.is_admin()).then_some(user.id);
    let rows = roster::load(conn, user.school_id, teacher_id)?;
    let (id, name) = rows.school;
    let school = SchoolInfo { id, name };

    let periods = rows
        .periods
        .into_iter()
        .map(|(period, label, starts, ends)| {
            Ok(PeriodInfo {
                period: u8::try_from(period)
                    .map_err(|_| AppError::Internal(format!("bad period {period} in the roster tables")))?,
                label,
                starts: starts.0,
                ends: ends.0,
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;

    let mut teachers: BTreeMap<ClassId, Vec<UserId>> = BTreeMap::new();
    for (class_id, teacher_id) in rows.class_teachers {
        teachers.entry(class_id).or_default().push(teacher_id);
    }
    let classes = rows
        .classes
        .into_iter()
        .map(|(id, name)| ClassInfo {
            id,
            name,
            teacher_ids: teachers.remove(&id).unwrap_or_default(),
        })
        .collect();

    let enrolments = rows
        .enrolments
        .into_iter()
        .map(|(class_id, student_id, from, until)| EnrolmentInfo {
            class_id,
            student_id,
            from: from.0,
            until: until.map(|until| until.0),
        })
        .collect();

    let students = rows
        .students
        .into_iter()
        .map(|(id, external_id, given_name, family_name)| StudentInfo {
            id,
            external_id,
            given_name,
            family_name,
        })
        .collect();

    Ok(Roster {
        school,
        periods,
        classes,
        students,
        enrolments,
    })
}
