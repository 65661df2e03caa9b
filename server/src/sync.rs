//! The sync endpoints: `POST /api/v1/sync/push` and `GET /api/v1/sync/pull`.
//!
//! Push checks the request's shape here (400/413, nothing applied) and hands the ops to the
//! group-commit writer, which validates, authorizes and merges each op. Pull reads the change
//! feed after an opaque cursor, limited to what the caller may see.

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::schema::{change_feed, class_teachers};
use crate::state::AppState;
use crate::writer::CheckedOp;
use actix_web::web;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use diesel::prelude::*;
use futures_util::StreamExt;
use rollcall_shared::protocol::{MAX_OPS_PER_PUSH, MAX_PUSH_BYTES, PullQuery, PullResponse, PushRequest, PushResponse};
use rollcall_shared::{Change, RawChange};

/// Changes per pull when the client does not say.
const DEFAULT_PULL_LIMIT: u32 = 500;
/// Most changes one pull returns.
const MAX_PULL_LIMIT: u32 = 1000;
/// How much of an oversized body is read (and thrown away) before answering 413, so the client
/// is not cut off mid-upload and actually receives the answer. Beyond this the connection closes.
const DRAIN_LIMIT: usize = 4 * MAX_PUSH_BYTES;

/// `POST /api/v1/sync/push`
#[utoipa::path(
    post,
    path = "/api/v1/sync/push",
    tag = "sync",
    request_body = crate::openapi::PushRequestDoc,
    responses(
        (status = 200, description = "Every op's outcome, in request order. Sent only after the ops are durable.", body = crate::openapi::PushResponseDoc),
        (status = 400, description = "Not a well-formed push (BAD_REQUEST); nothing was applied", body = crate::openapi::ErrorBodyDoc),
        (status = 401, description = "No or bad token (UNAUTHORIZED)", body = crate::openapi::ErrorBodyDoc),
        (status = 413, description = "Body over 1 MiB (PAYLOAD_TOO_LARGE) or more than 1000 ops (TOO_MANY_OPS); nothing was applied", body = crate::openapi::ErrorBodyDoc),
        (status = 503, description = "The database is unavailable (UNAVAILABLE); nothing was applied, retry", body = crate::openapi::ErrorBodyDoc),
    ),
    security(("bearer" = []))
)]
pub async fn push_ops(
    user: AuthUser,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<web::Json<PushResponse>, AppError> {
    let body = read_body(payload, MAX_PUSH_BYTES).await?;
    let request: PushRequest = serde_json::from_slice(&body)
        .map_err(|e| AppError::BadRequest(format!("this is not a well-formed push: {e}")))?;
    if request.ops.len() > MAX_OPS_PER_PUSH {
        return Err(AppError::TooManyOps(format!(
            "a push may carry at most {MAX_OPS_PER_PUSH} ops, this one has {}; send them in smaller batches",
            request.ops.len()
        )));
    }
    let ops = request.ops.into_iter().map(CheckedOp::new).collect();
    let response = state.writer.push(user, request.device_id, ops).await?;
    Ok(web::Json(response))
}

/// Reads a body of at most `limit` bytes.
async fn read_body(mut payload: web::Payload, limit: usize) -> Result<web::BytesMut, AppError> {
    let too_large = || {
        AppError::PayloadTooLarge(format!(
            "a push body may be at most {limit} bytes; send fewer ops per push"
        ))
    };
    let mut body = web::BytesMut::new();
    let mut received = 0usize;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| AppError::BadRequest(format!("the request body could not be read: {e}")))?;
        received += chunk.len();
        if received > limit {
            if received > DRAIN_LIMIT {
                return Err(too_large());
            }
            continue;
        }
        body.extend_from_slice(&chunk);
    }
    if received > limit {
        return Err(too_large());
    }
    Ok(body)
}

/// Cursor text: opaque to clients, so its form can change without breaking them.
fn encode_cursor(seq: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{seq}"))
}

fn decode_cursor(cursor: Option<&str>) -> Result<i64, AppError> {
    let Some(cursor) = cursor.filter(|c| !c.is_empty()) else {
        return Ok(0);
    };
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix("v1:").and_then(|seq| seq.parse::<i64>().ok()))
        .filter(|seq| *seq >= 0)
        .ok_or_else(|| {
            AppError::BadRequest(
                "the cursor is not one this server gave out; pull without a cursor to start over".to_owned(),
            )
        })
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = change_feed)]
struct FeedRow {
    seq: i64,
    class_id: String,
    date: String,
    period: i64,
    student_id: Option<String>,
    field: String,
    value: String,
    hlc: Option<String>,
}

impl FeedRow {
    fn into_change(self) -> Result<Change, AppError> {
        let corrupt = |e: String| AppError::Internal(format!("change {} in the feed is unreadable: {e}", self.seq));
        let raw = RawChange {
            class_id: self.class_id.parse().map_err(|e: uuid::Error| corrupt(e.to_string()))?,
            date: self.date.clone(),
            period: self.period,
            student_id: self
                .student_id
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|e: uuid::Error| corrupt(e.to_string()))?,
            field: self.field.clone(),
            value: serde_json::from_str(&self.value).map_err(|e| corrupt(e.to_string()))?,
            hlc: self.hlc.clone().unwrap_or_default(),
        };
        Change::try_from(raw).map_err(|e| corrupt(e.to_string()))
    }
}

/// `GET /api/v1/sync/pull?cursor=C&limit=N`
#[utoipa::path(
    get,
    path = "/api/v1/sync/pull",
    tag = "sync",
    params(
        ("cursor" = Option<String>, Query, description = "Opaque; the `cursor` of the previous pull, absent on the first"),
        ("limit" = Option<u32>, Query, description = "Most changes to return, 1 to 1000 (default 500)"),
    ),
    responses(
        (status = 200, description = "Changes after the cursor that the caller may see, in commit order. No change is ever skipped.", body = crate::openapi::PullResponseDoc),
        (status = 400, description = "Bad cursor or limit (BAD_REQUEST)", body = crate::openapi::ErrorBodyDoc),
        (status = 401, description = "No or bad token (UNAUTHORIZED)", body = crate::openapi::ErrorBodyDoc),
    ),
    security(("bearer" = []))
)]
pub async fn pull_changes(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<PullQuery>,
) -> Result<web::Json<PullResponse>, AppError> {
    let after = decode_cursor(query.cursor.as_deref())?;
    let limit = match query.limit {
        None => DEFAULT_PULL_LIMIT,
        Some(0) => return Err(AppError::BadRequest("limit must be at least 1".to_owned())),
        Some(limit) => limit.min(MAX_PULL_LIMIT),
    };
    let mut rows = state
        .db
        .run(move |conn| {
            let mut feed = change_feed::table
                .filter(change_feed::school_id.eq(user.school_id.to_string()))
                .filter(change_feed::seq.gt(after))
                .order(change_feed::seq.asc())
                .limit(i64::from(limit) + 1)
                .select(FeedRow::as_select())
                .into_boxed();
            if !user.is_admin() {
                let classes = class_teachers::table
                    .filter(class_teachers::teacher_id.eq(user.id.to_string()))
                    .select(class_teachers::class_id)
                    .load::<String>(conn)?;
                feed = feed.filter(change_feed::class_id.eq_any(classes));
            }
            Ok(feed.load(conn)?)
        })
        .await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let cursor = encode_cursor(rows.last().map_or(after, |row| row.seq));
    let changes = rows
        .into_iter()
        .map(FeedRow::into_change)
        .collect::<Result<Vec<_>, _>>()?;
    let now = Utc::now();
    Ok(web::Json(PullResponse {
        changes,
        cursor,
        more,
        server_hlc: state.clock.stamp(now),
        server_time: now,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        assert_eq!(decode_cursor(Some(&encode_cursor(42))).unwrap(), 42);
        assert_eq!(decode_cursor(None).unwrap(), 0);
        assert_eq!(decode_cursor(Some("")).unwrap(), 0);
        for bad in [
            "42",
            "!!",
            &URL_SAFE_NO_PAD.encode("v1:-3"),
            &URL_SAFE_NO_PAD.encode("v2:3"),
        ] {
            assert!(decode_cursor(Some(bad)).is_err(), "{bad}");
        }
    }
}
