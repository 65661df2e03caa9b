//! The one piece of shared state every handler gets (`web::Data<AppState>`): what `launch`
//! builds once and the areas below (`db`, `security`, `sync`) provide.

use crate::db::Db;
use crate::db::backup::schedule::LastBackup;
use crate::integrity::UnreadableRows;
use crate::metrics::Metrics;
use crate::security::sessions::SessionRevocations;
use crate::security::throttle::LoginThrottle;
use crate::security::tls::ServerTls;
use crate::security::tokens::TokenKeys;
use crate::settings::Settings;
use crate::sync::clock::ServerClock;
use crate::sync::notices::EventHub;
use crate::sync::relay::Relay;
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
    /// When the last scheduled backup was made (for monitoring); `None` before the first or
    /// when backups are off.
    pub last_backup: LastBackup,
    /// How the server speaks HTTPS; `None` for plain HTTP.
    pub https: Option<Https>,
    /// What `/metrics` shows (counters and histograms; states are read when scraped).
    pub metrics: std::sync::Arc<Metrics>,
    /// Whether this server hears the notices of the other servers on its database.
    pub relay: Relay,
}

/// The HTTPS side of the server (docs/tls.md).
#[derive(Debug)]
pub struct Https {
    /// The certificate served, and the local authority that signed it, if it is ours.
    pub tls: std::sync::Arc<ServerTls>,
    /// The port of the HTTPS listener, where the plain-HTTP port sends browsers.
    pub port: u16,
}
