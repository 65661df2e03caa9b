//! The one piece of shared state every handler gets (`web::Data<AppState>`): what `launch`
//! builds once and the areas below (`db`, `security`, `sync`) provide.

use crate::db::Db;
use crate::integrity::UnreadableRows;
use crate::metrics::Metrics;
use crate::security::sessions::SessionRevocations;
use crate::security::throttle::LoginThrottle;
use crate::security::tokens::TokenKeys;
use crate::settings::Settings;
use crate::sync::clock::ServerClock;
use crate::sync::notices::EventHub;
use crate::sync::writer::PushWriter;

#[derive(Debug)]
pub struct AppState {
    pub settings: Settings,
    pub db: Db,
    pub keys: TokenKeys,
    pub clock: std::sync::Arc<ServerClock>,
    pub throttle: LoginThrottle,
    pub writer: PushWriter,
    pub events: EventHub,
    /// Database rows the server skipped because it could not read them (listed by /healthz).
    pub unreadable: UnreadableRows,
    /// Which sign-ins are known to be ended, so that their access tokens stop working at once.
    pub sessions: SessionRevocations,
    /// What `/metrics` shows; a backup records its time here ([`Metrics::record_backup`]).
    pub metrics: std::sync::Arc<Metrics>,
}
