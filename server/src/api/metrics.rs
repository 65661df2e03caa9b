//! `GET /metrics`: the server's metrics in the Prometheus text format (`crate::metrics`,
//! docs/observability.md).
//!
//! The school chooses who may read them. By default they are on the main port, for admins only
//! (a valid admin access token, as every office tool checks it). With `--metrics-bind ADDR` they
//! are served on that address instead, without sign-in (a port that only the monitoring host can
//! reach), and the main port has no `/metrics` at all.

use crate::api::extract::AdminUser;
use crate::metrics::{CONTENT_TYPE, Readings};
use crate::state::AppState;
use actix_web::{HttpResponse, web};

/// `GET /metrics` on the main port
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    responses(
        (status = 200, description = "The server's metrics in the Prometheus text format (version 0.0.4); see \
            docs/observability.md. For admins only; a server started with `--metrics-bind` serves them on that \
            address instead, without sign-in, and answers 404 here.", content_type = "text/plain", body = String),
        (status = 403, description = "Not an admin (FORBIDDEN)", body = rollcall_shared::protocol::ErrorBody),
        (status = 404, description = "This server serves its metrics on the address of `--metrics-bind` (NOT_FOUND)", body = rollcall_shared::protocol::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get_metrics(_admin: AdminUser, state: web::Data<AppState>) -> HttpResponse {
    metrics_answer(&state)
}

/// `GET /metrics` on the address of `--metrics-bind`: whoever can reach that address may read
/// them.
pub async fn get_metrics_unguarded(state: web::Data<AppState>) -> HttpResponse {
    metrics_answer(&state)
}

fn metrics_answer(state: &AppState) -> HttpResponse {
    let pool = state.db.pool_state();
    let text = state.metrics.render(Readings {
        open_streams: *state.events.open_streams().borrow(),
        pool_connections: pool.connections,
        pool_idle: pool.idle_connections,
        pool_max: state.db.pool_max_size(),
        last_backup: state.last_backup.get(),
    });
    HttpResponse::Ok().content_type(CONTENT_TYPE).body(text)
}
