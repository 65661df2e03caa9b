//! `GET /api/v1/events`: server-sent events, one notice per committed batch of changes that the
//! caller may see, so open screens pull at once instead of polling. A notice carries no marks;
//! the client pulls them with its cursor, which is what keeps it gap-free.
//!
//! Notices come from this server's own writer. With several servers on one PostgreSQL database a
//! screen hears only the pushes that reached its server; its periodic pull covers the rest.

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::schema::class_teachers;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use diesel::prelude::*;
use rollcall_shared::{ClassId, SchoolId};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// A comment line this often keeps proxies from closing an idle stream.
const KEEPALIVE: Duration = Duration::from_secs(20);

/// Some changes were committed in these classes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeNotice {
    #[serde(skip)]
    pub school_id: SchoolId,
    pub class_ids: Vec<ClassId>,
}

/// Fans notices out to every open event stream.
#[derive(Debug, Clone)]
pub struct EventHub {
    notices: broadcast::Sender<Arc<ChangeNotice>>,
    closing: Arc<watch::Sender<bool>>,
}

impl Default for EventHub {
    fn default() -> Self {
        EventHub {
            notices: broadcast::channel(1024).0,
            closing: Arc::new(watch::channel(false).0),
        }
    }
}

impl EventHub {
    /// Tells every listener of the caller's school; nobody listening is fine.
    pub fn publish(&self, notice: ChangeNotice) {
        let _ = self.notices.send(Arc::new(notice));
    }

    /// Ends every open stream, so that a graceful shutdown does not wait for them.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct EventsQuery {
    /// The access token, for `EventSource`, which cannot send an Authorization header. Prefer
    /// the header where the client can set it.
    access_token: Option<String>,
}

/// Which notices one stream may see.
struct Audience {
    school_id: SchoolId,
    /// `None` for admins: the whole school.
    classes: Option<HashSet<ClassId>>,
}

impl Audience {
    fn sees(&self, notice: &ChangeNotice) -> bool {
        notice.school_id == self.school_id
            && self
                .classes
                .as_ref()
                .is_none_or(|classes| notice.class_ids.iter().any(|id| classes.contains(id)))
    }
}

/// `GET /api/v1/events`
#[utoipa::path(
    get,
    path = "/api/v1/events",
    tag = "sync",
    params(EventsQuery),
    responses(
        (status = 200, description = "A text/event-stream: `ready` once, then a `changes` event with `{\"class_ids\": [...]}` after each committed batch the caller may see", content_type = "text/event-stream", body = String),
        (status = 401, description = "No or bad token", body = crate::openapi::ErrorBodyDoc),
    ),
    security(("bearer" = []))
)]
pub async fn stream_events(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<EventsQuery>,
) -> Result<HttpResponse, AppError> {
    let user = match (&query.access_token, req.headers().contains_key(header::AUTHORIZATION)) {
        (Some(token), false) => AuthUser::from_token(&state, token).await?,
        _ => {
            use actix_web::FromRequest;
            AuthUser::extract(&req).await?
        }
    };
    let classes = if user.is_admin() {
        None
    } else {
        let teacher_id = user.id.to_string();
        let ids = state
            .db
            .run(move |conn| {
                Ok(class_teachers::table
                    .filter(class_teachers::teacher_id.eq(teacher_id))
                    .select(class_teachers::class_id)
                    .load::<String>(conn)?)
            })
            .await?;
        Some(ids.iter().filter_map(|id| ClassId::from_str(id).ok()).collect())
    };
    let audience = Audience {
        school_id: user.school_id,
        classes,
    };
    let notices = state.events.notices.subscribe();
    let closing = state.events.closing.subscribe();
    let hello = futures_util::stream::once(async {
        Ok::<_, AppError>(Bytes::from_static(b"retry: 5000\nevent: ready\ndata: {}\n\n"))
    });
    let updates = futures_util::stream::unfold(
        (notices, closing, audience),
        |(mut notices, mut closing, audience)| async move {
            loop {
                if *closing.borrow() {
                    return None;
                }
                let frame = tokio::select! {
                    received = notices.recv() => match received {
                        Ok(notice) if audience.sees(&notice) => {
                            let data = serde_json::to_string(&*notice).unwrap_or_else(|_| "{}".to_owned());
                            format!("event: changes\ndata: {data}\n\n")
                        }
                        Ok(_) => continue,
                        // Missed some: say "something changed" and let the client pull.
                        Err(broadcast::error::RecvError::Lagged(_)) => "event: changes\ndata: {}\n\n".to_owned(),
                        Err(broadcast::error::RecvError::Closed) => return None,
                    },
                    _ = tokio::time::sleep(KEEPALIVE) => ": keepalive\n\n".to_owned(),
                    _ = closing.changed() => return None,
                };
                return Some((Ok::<_, AppError>(Bytes::from(frame)), (notices, closing, audience)));
            }
        },
    );
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        // Not compressed: the Compress middleware would hold the notices back in its buffer, and a browser (which
        // always accepts gzip) would hear nothing until the stream ended.
        .insert_header(header::ContentEncoding::Identity)
        .streaming(futures_util::StreamExt::chain(hello, updates)))
}
