//! `GET /healthz`: for monitoring. The database answers, its schema version, and which rows the
//! server had to skip because it cannot read them (see `integrity`).

use crate::db::migrations;
use crate::error::AppError;
use crate::integrity::UnreadableRow;
use crate::state::AppState;
use crate::sync::relay::RelayStatus;
use actix_web::web;
use serde::Serialize;

/// What `/healthz` answers. Changing it changes the API.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` when the database answers and every row the server reads is readable; `degraded`
    /// when it serves everyone but had to skip some rows (listed in `unreadable_rows`).
    #[schema(example = "ok")]
    status: &'static str,
    /// Database rows the server skipped because it cannot read them: repair or remove them.
    unreadable_rows: Vec<UnreadableRow>,
    /// The database's schema version: the latest migration applied to it (see
    /// docs/backup-and-upgrades.md). `rollcall --version` names the one this server brings a
    /// database to.
    #[schema(example = "20261204000001")]
    schema_version: String,
    /// Whether this server hears at once of changes made through the other servers on the same
    /// PostgreSQL database (docs/install.md, "A district"): `listening`; `connecting` while it
    /// cannot (tablets connected here then get those changes at their next sync); `not_used` on
    /// SQLite.
    other_servers: RelayStatus,
}

/// `GET /healthz`
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    responses(
        (status = 200, description = "The server and its database answer; `degraded` lists rows it skips", body = Health),
        (status = 503, description = "The database does not answer (UNAVAILABLE)", body = rollcall_shared::protocol::ErrorBody),
    )
)]
pub async fn get_health(state: web::Data<AppState>) -> Result<web::Json<Health>, AppError> {
    let schema_version = state
        .db
        .run(|conn| {
            migrations::schema_version(conn)
                .map_err(|e| AppError::Unavailable(format!("the database does not answer: {e}")))
        })
        .await?
        .unwrap_or_default();
    let unreadable_rows = state.unreadable.list();
    Ok(web::Json(Health {
        status: if unreadable_rows.is_empty() { "ok" } else { "degraded" },
        unreadable_rows,
        schema_version,
        other_servers: state.relay.status(),
    }))
}
