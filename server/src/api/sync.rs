//! The sync endpoints: `POST /api/v1/sync/push` and `GET /api/v1/sync/pull`.
//!
//! Push checks the request's shape here (400/413, nothing applied) and hands the ops to the
//! group-commit writer (`sync::writer`), which validates, authorizes and merges each op. Pull
//! reads the change feed after an opaque cursor (`sync::pull`), limited to what the caller may
//! see.

use crate::db::feed;
use crate::error::AppError;
use crate::security::AuthUser;
use crate::state::AppState;
use crate::sync::pull::{decode_cursor, encode_cursor, pull_limit};
use crate::sync::writer::CheckedOp;
use actix_web::web;
use chrono::Utc;
use futures_util::StreamExt;
use rollcall_shared::protocol::{MAX_OPS_PER_PUSH, MAX_PUSH_BYTES, PullQuery, PullResponse, PushRequest, PushResponse};

/// How much of an oversized body is read (and thrown away) before answering 413, so the client
/// is not cut off mid-upload and actually receives the answer. Beyond this the connection closes.
const DRAIN_LIMIT: usize = 4 * MAX_PUSH_BYTES;

/// `POST /api/v1/sync/push`
#[utoipa::path(
    post,
    path = "/api/v1/sync/push",
    tag = "sync",
    request_body = rollcall_shared::protocol::PushRequest,
    responses(
        (status = 200, description = "Every op's outcome, in request order. Sent only after the ops are durable.", body = rollcall_shared::protocol::PushResponse),
        (status = 400, description = "Not a well-formed push, or not sent as `application/json` (BAD_REQUEST); nothing was applied", body = rollcall_shared::protocol::ErrorBody),
        (status = 413, description = "Body over 1 MiB (PAYLOAD_TOO_LARGE) or more than 1000 ops (TOO_MANY_OPS); nothing was applied", body = rollcall_shared::protocol::ErrorBody),
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

/// `GET /api/v1/sync/pull?cursor=C&limit=N`
#[utoipa::path(
    get,
    path = "/api/v1/sync/pull",
    tag = "sync",
    params(
        ("cursor" = Option<String>, Query, pattern = "^[0-9]{1,18}$", example = "4711",
            description = "The `cursor` of the previous pull, as it came; absent on the first pull"),
        ("limit" = Option<i32>, Query, minimum = 1, maximum = 1000,
            description = "Most changes to return (default 500); anything else is refused"),
    ),
    responses(
        (status = 200, description = "Changes after the cursor that the caller may see, in commit order. No change is ever skipped.", body = rollcall_shared::protocol::PullResponse),
        (status = 400, description = "A cursor this server did not give out, or a limit outside 1 to 1000 (BAD_REQUEST)", body = rollcall_shared::protocol::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn pull_changes(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<PullQuery>,
) -> Result<web::Json<PullResponse>, AppError> {
    let after = decode_cursor(query.cursor.as_deref())?;
    let limit = pull_limit(query.limit)?;
    let mut rows = state
        .db
        .run(move |conn| {
            let teacher_id = (!user.is_admin()).then_some(user.id);
            Ok(feed::changes_after(
                conn,
                user.school_id,
                teacher_id,
                after,
                i64::from(limit) + 1,
            )?)
        })
        .await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let cursor = encode_cursor(rows.last().map_or(after, |row| row.seq));
    // A logged change that cannot be read is skipped and reported (see `integrity`): one bad row
    // must not stop every tablet of the school from catching up.
    let changes = rows
        .into_iter()
        .filter_map(|row| {
            row.into_change()
                .map_err(|unreadable| state.unreadable.add("pull", unreadable))
                .ok()
        })
        .collect();
    let now = Utc::now();
    Ok(web::Json(PullResponse {
        changes,
        cursor,
        more,
        server_hlc: state.clock.stamp(now),
        server_time: now,
    }))
}
