//! `/api/v1/admin/locks`: the office seals a date range, for the whole school or one class, so
//! finished registers stop changing; ops on a sealed register are rejected with
//! `REGISTER_LOCKED` (see `authz`). A lock is never deleted: it is reopened with a reason, and
//! both stay on record.

use crate::api::extract::AdminUser;
use crate::db::locks::{self, LockRow};
use crate::db::{DbConnection, now_ms, roster, write_transaction};
use crate::error::AppError;
use crate::integrity::UnreadableRow;
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, NaiveDate, Utc};
use rollcall_shared::column::{SchoolDate, Stored};
use rollcall_shared::{ClassId, Hlc, LockId, UserId, ValidationCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Longest reason text, in characters.
const MAX_REASON_CHARS: usize = 500;

/// `POST /api/v1/admin/locks` body. Changing it changes the API.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateLockRequest {
    /// Lock only this class; absent to lock the whole school.
    #[serde(default)]
    pub class_id: Option<ClassId>,
    /// First locked date (inclusive), `YYYY-MM-DD`, in years 1970 to 2199.
    #[schema(format = Date, pattern = "^(19[7-9][0-9]|2[01][0-9][0-9])-[0-9]{2}-[0-9]{2}$", example = "2026-11-16")]
    pub from: String,
    /// Last locked date (inclusive), `YYYY-MM-DD`, in years 1970 to 2199.
    #[schema(format = Date, pattern = "^(19[7-9][0-9]|2[01][0-9][0-9])-[0-9]{2}-[0-9]{2}$", example = "2026-11-20")]
    pub until: String,
    /// Why, for the record (e.g. "week closed for the census").
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\u0000-\u0008\u000B-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B-\u001F\u007F-\u009F]*$"
    )]
    pub reason: String,
}

/// `POST /api/v1/admin/locks/{id}/reopen` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ReopenLockRequest {
    /// Why the registers may change again.
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\u0000-\u0008\u000B-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B-\u001F\u007F-\u009F]*$"
    )]
    pub reason: String,
}

/// A lock as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LockInfo {
    pub id: uuid::Uuid,
    /// Absent for a whole-school lock.
    pub class_id: Option<ClassId>,
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub until: NaiveDate,
    pub reason: String,
    /// The server's HLC when the lock was made.
    pub locked_hlc: Hlc,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    /// Whether the lock still applies (it has not been reopened).
    pub active: bool,
    pub reopened_at: Option<DateTime<Utc>>,
    pub reopened_by: Option<UserId>,
    pub reopen_reason: Option<String>,
}

/// The lock as the API shows it, or what is wrong with the stored row.
fn info(row: &LockRow) -> Result<LockInfo, UnreadableRow> {
    let unreadable = |problem: String| UnreadableRow::new("locks", row.id.to_string(), problem);
    let time = |ms: i64| DateTime::<Utc>::from_timestamp_millis(ms).ok_or_else(|| unreadable(format!("bad time {ms}")));
    Ok(LockInfo {
        id: row.id.value().map_err(unreadable)?.as_uuid(),
        class_id: row
            .class_id
            .as_ref()
            .map(Stored::value)
            .transpose()
            .map_err(unreadable)?,
        from: row.from_date.value().map_err(unreadable)?.0,
        until: row.until_date.value().map_err(unreadable)?.0,
        locked_hlc: row.locked_hlc.value().map_err(unreadable)?,
        created_by: row.created_by.value().map_err(unreadable)?,
        created_at: time(row.created_at)?,
        active: row.reopened_at.is_none(),
        reopened_at: row.reopened_at.map(time).transpose()?,
        reopened_by: row
            .reopened_by
            .as_ref()
            .map(Stored::value)
            .transpose()
            .map_err(unreadable)?,
        reopen_reason: row.reopen_reason.clone(),
        reason: row.reason.clone(),
    })
}

/// A lock's or reopening's reason: kept on record, so it must say something, and it is free
/// text like a note.
fn check_reason(reason: &str) -> Result<String, AppError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(AppError::BadRequest("give a reason: it is kept on record".to_owned()));
    }
    rollcall_shared::op::check_free_text("reason", reason, MAX_REASON_CHARS, ValidationCode::TextTooLong)?;
    Ok(reason.to_owned())
}

/// Reads back a row just written, inside its transaction: a row that cannot be read again is
/// rolled back and refused, never committed behind a 500.
fn written(row: &LockRow) -> Result<LockInfo, AppError> {
    info(row).map_err(|unreadable| {
        AppError::Internal(format!(
            "a lock just written cannot be read back: {}",
            unreadable.problem
        ))
    })
}

/// `POST /api/v1/admin/locks`
#[utoipa::path(
    post,
    path = "/api/v1/admin/locks",
    tag = "admin",
    request_body = CreateLockRequest,
    responses(
        (status = 201, description = "Locked: ops on these registers are now rejected with REGISTER_LOCKED", body = LockInfo),
        (status = 400, description = "Malformed body, a date that is not a school date (VALIDATION), until before from, or an empty reason (BAD_REQUEST)", body = rollcall_shared::protocol::ErrorBody),
        (status = 404, description = "No such class in your school (NOT_FOUND)", body = rollcall_shared::protocol::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create_lock(
    AdminUser(admin): AdminUser,
    state: web::Data<AppState>,
    body: web::Json<CreateLockRequest>,
) -> Result<HttpResponse, AppError> {
    let request = body.into_inner();
    let from = parse_date(&request.from)?;
    let until = parse_date(&request.until)?;
    if until < from {
        return Err(AppError::BadRequest("until must not be before from".to_owned()));
    }
    let reason = check_reason(&request.reason)?;
    let locked_hlc = state.clock.stamp(Utc::now());
    let row = LockRow {
        id: Stored::new(LockId(uuid::Uuid::new_v4())),
        school_id: Stored::new(admin.school_id),
        class_id: request.class_id.map(Stored::new),
        from_date: Stored::new(SchoolDate(from)),
        until_date: Stored::new(SchoolDate(until)),
        reason,
        locked_hlc: Stored::new(locked_hlc),
        created_by: Stored::new(admin.id),
        created_at: now_ms(),
        reopened_at: None,
        reopened_by: None,
        reopen_reason: None,
    };
    let lock = state
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                if let Some(class_id) = request.class_id
                    && !roster::class_is_in_school(conn, class_id, admin.school_id)?
                {
                    // Unknown and another school's are alike to the caller: no such class here.
                    return Err(AppError::NotFound(format!(
                        "class {class_id} is not a class of your school; lock the whole school or pick one of its classes"
                    )));
                }
                locks::insert(conn, &row)?;
                written(&row)
            })
        })
        .await?;
    tracing::info!(lock = %lock.id, from = %lock.from, until = %lock.until, "registers locked");
    Ok(HttpResponse::Created().json(lock))
}

/// `GET /api/v1/admin/locks`
#[utoipa::path(
    get,
    path = "/api/v1/admin/locks",
    tag = "admin",
    responses(
        (status = 200, description = "Every lock of the school, reopened ones included, latest dates first", body = Vec<LockInfo>),
    ),
    security(("bearer" = []))
)]
pub async fn list_locks(
    AdminUser(admin): AdminUser,
    state: web::Data<AppState>,
) -> Result<web::Json<Vec<LockInfo>>, AppError> {
    let school_id = admin.school_id;
    let rows = state.db.run(move |conn| Ok(locks::of_school(conn, school_id)?)).await?;
    // A row that cannot be read is left out and reported (see `integrity`); the list of every
    // other lock must still reach the office.
    let locks = rows
        .iter()
        .filter_map(|row| {
            info(row)
                .map_err(|unreadable| state.unreadable.add("lock list", unreadable))
                .ok()
        })
        .collect();
    Ok(web::Json(locks))
}

/// `POST /api/v1/admin/locks/{id}/reopen`
#[utoipa::path(
    post,
    path = "/api/v1/admin/locks/{id}/reopen",
    tag = "admin",
    params(("id" = uuid::Uuid, Path, description = "The lock")),
    request_body = ReopenLockRequest,
    responses(
        (status = 200, description = "Reopened: the registers take ops again", body = LockInfo),
        (status = 400, description = "Malformed body or empty reason (BAD_REQUEST)", body = rollcall_shared::protocol::ErrorBody),
        (status = 404, description = "No such lock in your school (NOT_FOUND)", body = rollcall_shared::protocol::ErrorBody),
        (status = 409, description = "Already reopened (CONFLICT)", body = rollcall_shared::protocol::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn reopen_lock(
    AdminUser(admin): AdminUser,
    state: web::Data<AppState>,
    path: web::Path<uuid::Uuid>,
    body: web::Json<ReopenLockRequest>,
) -> Result<web::Json<LockInfo>, AppError> {
    let reason = check_reason(&body.reason)?;
    let lock_id = LockId(path.into_inner());
    let lock = state
        .db
        .run(move |conn| write_transaction(conn, |conn| reopen(conn, &admin, lock_id, reason)))
        .await?;
    tracing::info!(lock = %lock.id, "registers reopened");
    Ok(web::Json(lock))
}

fn reopen(
    conn: &mut DbConnection,
    admin: &crate::security::AuthUser,
    lock_id: LockId,
    reason: String,
) -> Result<LockInfo, AppError> {
    let existing = locks::find_in_school(conn, lock_id, admin.school_id)?
        .ok_or_else(|| AppError::NotFound(format!("there is no lock {lock_id} in your school")))?;
    if existing.reopened_at.is_some() {
        return Err(AppError::Conflict(format!("lock {lock_id} was already reopened")));
    }
    if let Err(unreadable) = info(&existing) {
        return Err(AppError::Conflict(format!(
            "lock {lock_id} cannot be read ({}), so the server already ignores it; ask your school IT to \
             repair or remove the row",
            unreadable.problem
        )));
    }
    locks::reopen(conn, lock_id, admin.id, &reason)?;
    written(&locks::get(conn, lock_id)?)
}

/// A date from the office, by the one date rule (`VALIDATION` with `INVALID_DATE` or
/// `DATE_OUT_OF_RANGE` otherwise).
fn parse_date(text: &str) -> Result<NaiveDate, AppError> {
    Ok(rollcall_shared::op::parse_date(text)?)
}
