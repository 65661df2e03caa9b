//! The sync endpoints: `POST /api/v1/sync/push` and `GET /api/v1/sync/pull`.
//!
//! Push checks the request's shape here (400/413, nothing applied) and hands the ops to the
//! group-commit writer, which validates, authorizes and merges each op. Pull reads the change
//! feed after an opaque cursor, limited to what the caller may see.

use crate::api::auth::AuthUser;
use crate::db::schema::{change_feed, class_teachers};
use crate::error::AppError;
use crate::integrity::UnreadableRow;
use crate::state::AppState;
use crate::sync::writer::CheckedOp;
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
    request_body = crate::api::openapi::PushRequestDoc,
    responses(
        (status = 200, description = "Every op's outcome, in request order. Sent only after the ops are durable.", body = crate::api::openapi::PushResponseDoc),
        (status = 400, description = "Not a well-formed push, or not sent as `application/json` (BAD_REQUEST); nothing was applied", body = crate::api::openapi::ErrorBodyDoc),
        (status = 401, description = "No or bad token (UNAUTHORIZED)", body = crate::api::openapi::ErrorBodyDoc),
        (status = 413, description = "Body over 1 MiB (PAYLOAD_TOO_LARGE) or more than 1000 ops (TOO_MANY_OPS); nothing was applied", body = crate::api::openapi::ErrorBodyDoc),
        (status = 503, description = "The database is unavailable (UNAVAILABLE); nothing was applied, retry", body = crate::api::openapi::ErrorBodyDoc),
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

/// What a cursor looks like: the feed position of the last change pulled, in decimal. The
/// document shows this pattern, and the server takes every cursor that matches it.
pub const CURSOR_PATTERN: &str = "^[0-9]{1,18}$";

/// Cursor text: the feed position in decimal (see [`CURSOR_PATTERN`]). Clients pass it back as
/// they got it.
fn encode_cursor(seq: i64) -> String {
    seq.to_string()
}

/// The feed position after which to pull: 0 without a cursor. Also takes the base64 `v1:<seq>`
/// cursors of earlier servers, so a tablet that saved one before an upgrade keeps pulling from
/// where it was.
fn decode_cursor(cursor: Option<&str>) -> Result<i64, AppError> {
    let Some(cursor) = cursor else {
        return Ok(0);
    };
    let decimal = || {
        (1..=18)
            .contains(&cursor.len())
            .then_some(cursor)
            .filter(|digits| digits.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|digits| digits.parse::<i64>().ok())
    };
    let legacy = || {
        URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| text.strip_prefix("v1:").and_then(|seq| seq.parse::<i64>().ok()))
            .filter(|seq| *seq >= 0)
    };
    decimal().or_else(legacy).ok_or_else(|| {
        AppError::BadRequest(
            "the cursor is not one this server gave out; pull without a cursor to start over".to_owned(),
        )
    })
}

/// The number of changes to pull: [`DEFAULT_PULL_LIMIT`] when absent, else 1 to
/// [`MAX_PULL_LIMIT`]. Anything else is refused, not clamped, as the document says.
fn pull_limit(limit: Option<u32>) -> Result<u32, AppError> {
    match limit {
        None => Ok(DEFAULT_PULL_LIMIT),
        Some(limit) if (1..=MAX_PULL_LIMIT).contains(&limit) => Ok(limit),
        Some(limit) => Err(AppError::BadRequest(format!(
            "limit must be between 1 and {MAX_PULL_LIMIT}, not {limit}"
        ))),
    }
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
    /// The change, or what is wrong with the logged row.
    fn into_change(self) -> Result<Change, UnreadableRow> {
        let corrupt = |e: String| UnreadableRow::new("op_log", self.seq.to_string(), e);
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
        ("cursor" = Option<String>, Query, pattern = "^[0-9]{1,18}$", example = "4711",
            description = "The `cursor` of the previous pull, as it came; absent on the first pull"),
        ("limit" = Option<i32>, Query, minimum = 1, maximum = 1000,
            description = "Most changes to return (default 500); anything else is refused"),
    ),
    responses(
        (status = 200, description = "Changes after the cursor that the caller may see, in commit order. No change is ever skipped.", body = crate::api::openapi::PullResponseDoc),
        (status = 400, description = "A cursor this server did not give out, or a limit outside 1 to 1000 (BAD_REQUEST)", body = crate::api::openapi::ErrorBodyDoc),
        (status = 401, description = "No or bad token (UNAUTHORIZED)", body = crate::api::openapi::ErrorBodyDoc),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_decimal_feed_positions_and_old_ones_still_work() {
        assert_eq!(encode_cursor(42), "42");
        assert_eq!(decode_cursor(Some(&encode_cursor(42))).unwrap(), 42);
        assert_eq!(decode_cursor(Some(&encode_cursor(0))).unwrap(), 0);
        assert_eq!(decode_cursor(None).unwrap(), 0);
        // Every value of the documented pattern is taken, leading zeros and the largest too.
        assert_eq!(decode_cursor(Some("007")).unwrap(), 7);
        assert_eq!(
            decode_cursor(Some("999999999999999999")).unwrap(),
            999_999_999_999_999_999
        );
        // What earlier servers gave out.
        assert_eq!(decode_cursor(Some(&URL_SAFE_NO_PAD.encode("v1:42"))).unwrap(), 42);
        for bad in [
            "",
            "-3",
            "+3",
            " 3",
            "1234567890123456789",
            "!!",
            "v1:3",
            &URL_SAFE_NO_PAD.encode("v1:-3"),
            &URL_SAFE_NO_PAD.encode("v2:3"),
        ] {
            assert!(decode_cursor(Some(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_pull_limit_is_one_to_a_thousand_and_nothing_else() {
        assert_eq!(pull_limit(None).unwrap(), DEFAULT_PULL_LIMIT);
        assert_eq!(pull_limit(Some(1)).unwrap(), 1);
        assert_eq!(pull_limit(Some(1000)).unwrap(), 1000);
        for bad in [0, 1001, u32::MAX] {
            let error = pull_limit(Some(bad)).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("limit must be between 1 and 1000, not {bad}")
            );
        }
    }
}
