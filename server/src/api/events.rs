//! `GET /api/v1/events`: server-sent events, one notice per committed push with changes that the
//! caller may see (and which device pushed them), so open screens pull at once instead of polling. A notice carries no marks;
//! the client pulls them with its cursor, which is what keeps it gap-free.
//!
//! The server lets go of a stream as soon as its client closes the connection (see
//! `h1_allow_half_closed` in `api::serve`), not at the next keep-alive write; `EventHub::open_streams`
//! counts the streams it holds.
//!
//! The notices themselves and who may hear which are `sync::notices`.

use crate::api::extract;
use crate::db::roster;
use crate::error::AppError;
use crate::security::AuthUser;
use crate::state::AppState;
use crate::sync::notices::{Audience, Heard, OpenStream};
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use std::time::Duration;
use tokio::sync::broadcast;

/// A comment line this often keeps proxies from closing an idle stream.
pub const KEEPALIVE: Duration = Duration::from_secs(20);
/// The first frame of every stream: reconnect after 5 s if it drops; the stream is ready.
const READY_FRAME: &str = "retry: 5000\nevent: ready\ndata: {}\n\n";
/// A notice that names no classes: some were missed, so the client pulls whatever it holds.
const MISSED_FRAME: &str = "event: changes\ndata: {}\n\n";
/// The frame sent after [`KEEPALIVE`] without an event: a comment, which clients ignore.
pub const KEEPALIVE_FRAME: &str = ": keepalive\n\n";

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// The access token, for `EventSource`, which cannot send an Authorization header. Prefer
    /// the header where the client can set it.
    access_token: Option<String>,
}

/// `GET /api/v1/events`
#[utoipa::path(
    get,
    path = "/api/v1/events",
    tag = "sync",
    params(EventsQuery),
    responses(
        (status = 200, description = "A stream of server-sent events that lasts until the client or the server closes it: \
            `ready` with data `{}` once, then `changes` with data `{\"class_ids\": [...], \"device_id\": \"...\"}` after each \
            committed push the caller may see, naming the device that pushed (`{}` when some were missed: pull anyway), and a `: keepalive` comment after 20 s of quiet. \
            It carries no marks: pull them with your cursor.", content_type = "text/event-stream", body = String),
    ),
    security(("bearer" = []))
)]
pub async fn stream_events(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<EventsQuery>,
) -> Result<HttpResponse, AppError> {
    let user = match (&query.access_token, req.headers().contains_key(header::AUTHORIZATION)) {
        (Some(token), false) => extract::authenticate(&state, token).await?,
        _ => {
            use actix_web::FromRequest;
            AuthUser::extract(&req).await?
        }
    };
    let classes = if user.is_admin() {
        None
    } else {
        let teacher_id = user.id;
        let ids = state
            .db
            .run(move |conn| Ok(roster::classes_taught_by(conn, teacher_id)?))
            .await?;
        Some(ids.into_iter().collect())
    };
    let audience = Audience {
        school_id: user.school_id,
        classes,
    };
    let session = user.session;
    let state_for_stream = state.clone();
    let notices = state.events.subscribe();
    let closing = state.events.closing();
    let open = OpenStream::new(&state.events);
    let hello = futures_util::stream::once(async { Ok::<_, AppError>(Bytes::from_static(READY_FRAME.as_bytes())) });
    let updates = futures_util::stream::unfold(
        (notices, closing, audience, open),
        move |(mut notices, mut closing, audience, open)| {
            let state = state_for_stream.clone();
            async move {
                loop {
                    if *closing.borrow() {
                        return None;
                    }
                    let frame = tokio::select! {
                        received = notices.recv() => match received.as_deref() {
                            Ok(Heard::Notice(notice)) => match audience.visible(notice) {
                                Some(visible) => {
                                    let data = serde_json::to_string(&visible).unwrap_or_else(|_| "{}".to_owned());
                                    format!("event: changes\ndata: {data}\n\n")
                                }
                                None => continue,
                            },
                            // Missed some: say "something changed" and let the client pull.
                            Ok(Heard::Missed) | Err(broadcast::error::RecvError::Lagged(_)) => MISSED_FRAME.to_owned(),
                            Err(broadcast::error::RecvError::Closed) => return None,
                        },
                        _ = tokio::time::sleep(KEEPALIVE) => KEEPALIVE_FRAME.to_owned(),
                        _ = closing.changed() => return None,
                    };
                    // A sign-in ended (logout, a stolen refresh token) ends its open streams too, at the
                    // next frame at the latest (the keep-alive).
                    if state.sessions.ensure_live(&state.db, session).await.is_err() {
                        return None;
                    }
                    return Some((
                        Ok::<_, AppError>(Bytes::from(frame)),
                        (notices, closing, audience, open),
                    ));
                }
            }
        },
    );
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Accel-Buffering", "no"))
        // Not compressed: the Compress middleware would hold the notices back in its buffer, and a browser (which
        // always accepts gzip) would hear nothing until the stream ended.
        .insert_header(header::ContentEncoding::Identity)
        .streaming(futures_util::StreamExt::chain(hello, updates)))
}
