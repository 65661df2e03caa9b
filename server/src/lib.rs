//! Rollcall's sync server: the HTTP API of docs/sync-protocol.md (protocol v1) over SQLite or
//! PostgreSQL, plus the embedded web app.
//!
//! The binary `rollcall` is a thin wrapper around [`cli::main`]; tests start the real server with
//! [`launch`] on `127.0.0.1:0`. The areas, from the top: `cli` (commands), `api` (HTTP: routes,
//! handlers, extractors, the OpenAPI document, the web app), then, never importing `api`:
//! `sync` (push writer, authorization snapshot, change notices, the HLC clock, pull cursors),
//! `security` (tokens, passwords, login throttle, sign-ins) and `db` (connections, migrations,
//! schema, one module per table family). `settings`, `error`, `integrity`, `logging`, `metrics`
//! and `state` serve them all. Merge rules, validation and error codes come from `shared` and
//! must not be re-implemented here: this crate stores, authorizes and serves.

pub mod api;
pub mod cli;
pub mod db;
pub mod error;
pub mod integrity;
pub mod logging;
pub mod metrics;
pub mod security;
pub mod settings;
pub mod state;
pub mod sync;

use crate::db::Db;
use crate::db::backup::schedule::{BackupScheduler, Backups, LastBackup};
use crate::integrity::UnreadableRows;
use crate::metrics::Metrics;
use crate::security::sessions::SessionRevocations;
use crate::security::throttle::{LoginThrottle, ThrottleClock};
use crate::security::tls::{ServerTls, TlsError};
use crate::security::tokens::TokenKeys;
use crate::settings::Settings;
use crate::state::{AppState, Https};
use crate::sync::clock::ServerClock;
use crate::sync::notices::EventHub;
#[cfg(feature = "postgres")]
use crate::sync::relay;
use crate::sync::relay::{Relay, ServerId};
use crate::sync::writer::{PushWriter, WriterContext, WriterThread};
use actix_web::dev::ServerHandle;
use actix_web::web;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Instant;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("{0}")]
    Settings(#[from] settings::SettingsError),
    #[error("{0}")]
    Database(#[from] db::OpenError),
    #[error("cannot read or create the token signing key in {dir}: {source}")]
    SigningKey { dir: String, source: std::io::Error },
    #[error("cannot set up HTTPS: {0}")]
    Tls(#[from] TlsError),
    #[error("{0}")]
    Listen(String),
    #[error("cannot start the HTTP server: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot start the scheduled backups: {0}")]
    Backup(#[from] db::backup::BackupError),
    #[error(
        "cannot listen for metrics on {addr}: {source}; is another program using that port? Pick another with \
         --metrics-bind"
    )]
    MetricsBind { addr: SocketAddr, source: std::io::Error },
}

/// Stops a running server gracefully: event streams end, in-flight requests (pushes
/// included) get the shutdown timeout to finish, then the writer commits what is queued and
/// stops.
#[derive(Debug, Clone)]
pub struct StopHandle {
    server: ServerHandle,
    /// The separate metrics address's server, if the school gave the metrics one.
    metrics_server: Option<ServerHandle>,
    events: EventHub,
}

impl StopHandle {
    pub async fn stop(&self) {
        self.events.close();
        if let Some(metrics_server) = &self.metrics_server {
            metrics_server.stop(true).await;
        }
        self.server.stop(true).await;
    }
}

/// Why a port could not be had, and what to do: `flag` is the setting that named it.
pub fn listen_error(flag: &str, addr: SocketAddr, error: &std::io::Error) -> String {
    let hint = match error.kind() {
        std::io::ErrorKind::AddrInUse => {
            format!("another program uses that port; stop it or pick another port with {flag}")
        }
        std::io::ErrorKind::PermissionDenied => format!(
            "ports below 1024 need root or the CAP_NET_BIND_SERVICE capability (systemd: \
             AmbientCapabilities=CAP_NET_BIND_SERVICE); or pick a port above 1024 with {flag}"
        ),
        std::io::ErrorKind::AddrNotAvailable => {
            format!("this machine has no such address; give one of its own (or 0.0.0.0) with {flag}")
        }
        _ => format!("pick another address with {flag}"),
    };
    format!("cannot listen on {addr}: {error}; {hint}")
}

/// A started server.
pub struct RunningServer {
    /// Where it listens (useful with port 0).
    pub addr: SocketAddr,
    /// Where the plain-HTTP port of an HTTPS server listens (`--http-bind`), if it has one.
    pub http_addr: Option<SocketAddr>,
    tls: Option<Arc<ServerTls>>,
    /// Renews or reloads the certificate while the server serves.
    tls_keeper: Option<actix_web::rt::task::JoinHandle<()>>,
    /// Where it serves `/metrics` without sign-in, when `--metrics-bind` gave it an address.
    pub metrics_addr: Option<SocketAddr>,
    server: actix_web::dev::Server,
    metrics_server: Option<actix_web::dev::Server>,
    metrics: Arc<Metrics>,
    relay: Relay,
    stop: StopHandle,
    writer: WriterThread,
    checkpointer: Option<db::Checkpointer>,
    backups: Option<BackupScheduler>,
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl RunningServer {
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// The hub of the event streams, e.g. to see how many are open.
    pub fn events(&self) -> EventHub {
        self.stop.events.clone()
    }

    /// Whether it hears the other servers on its database, to read or to wait on.
    pub fn relay(&self) -> Relay {
        self.relay.clone()
    }

    /// The scheduled backups (`None` unless `--backup-every` is set), e.g. to ask for one now.
    pub fn backups(&self) -> Option<Backups> {
        self.backups.as_ref().map(BackupScheduler::backups)
    }

    /// The certificate of an HTTPS server, e.g. to renew it now.
    pub fn tls(&self) -> Option<Arc<ServerTls>> {
        self.tls.clone()
    }

    /// The address to open: `http://ADDR/`, or with HTTPS `https://NAME:PORT/` by a name the
    /// certificate carries (the address listened on, if it is one of them).
    pub fn url(&self) -> String {
        match &self.tls {
            None => format!("http://{}/", self.addr),
            Some(tls) => format!("https://{}/", self.reachable_as(tls, self.addr)),
        }
    }

    /// The page tablets trust the certificate from: on the plain-HTTP port if there is one.
    pub fn trust_url(&self) -> Option<String> {
        let tls = self.tls.as_ref()?;
        Some(match self.http_addr {
            Some(http_addr) => format!("http://{}/trust", self.reachable_as(tls, http_addr)),
            None => format!("{}trust", self.url()),
        })
    }

    /// `NAME:PORT` for `addr`, with NAME one the certificate carries where possible.
    fn reachable_as(&self, tls: &ServerTls, addr: SocketAddr) -> String {
        let names = tls.current().names;
        let listened = self.addr.ip();
        let host = if !listened.is_unspecified() && names.contains(&listened.to_string()) {
            listened.to_string()
        } else {
            names.into_iter().next().unwrap_or_else(|| listened.to_string())
        };
        match host.parse::<IpAddr>() {
            Ok(IpAddr::V6(_)) => format!("[{host}]:{}", addr.port()),
            _ => format!("{host}:{}", addr.port()),
        }
    }

    /// The server's metrics, e.g. for a backup to record its time.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Serves until stopped, then waits for the writer to finish its last commit.
    pub async fn wait(self) -> std::io::Result<()> {
        // A server runs only while its future is polled: both at once.
        let metrics_server = async {
            match self.metrics_server {
                Some(metrics_server) => metrics_server.await,
                None => Ok(()),
            }
        };
        let (result, metrics_result) = futures_util::future::join(self.server, metrics_server).await;
        let result = result.and(metrics_result);
        if let Some(keeper) = self.tls_keeper {
            keeper.abort();
        }
        self.writer.finish().await;
        // The last checkpoint follows the last commit; a backup in progress is finished.
        let (checkpointer, backups) = (self.checkpointer, self.backups);
        let _ = actix_web::rt::task::spawn_blocking(move || drop((checkpointer, backups))).await;
        tracing::info!("server stopped");
        result
    }
}

/// Opens the database (migrating it), loads or creates the signing key and starts serving on
/// `listener`. Must be called inside an actix system (`actix_web::rt::System`).
pub fn launch(settings: Settings, listener: TcpListener) -> Result<RunningServer, LaunchError> {
    launch_with(settings, listener, ThrottleClock::System)
}

/// [`launch`], with the login throttle going by `throttle_clock` (tests move it by hand).
pub fn launch_with(
    settings: Settings,
    listener: TcpListener,
    throttle_clock: ThrottleClock,
) -> Result<RunningServer, LaunchError> {
    settings.validate()?;
    let started = Instant::now();
    // First: a certificate problem stops the start before anything else is opened.
    let tls = ServerTls::from_settings(&settings)?.map(Arc::new);
    let plain_http = match (&tls, settings.http_bind) {
        (Some(_), Some(http_bind)) => Some(
            TcpListener::bind(http_bind)
                .map_err(|e| LaunchError::Listen(listen_error("--http-bind", http_bind, &e)))?,
        ),
        _ => None,
    };
    let http_addr = plain_http.as_ref().map(TcpListener::local_addr).transpose()?;
    if settings.backup_schedule().is_some() {
        BackupScheduler::check(&settings.db_url())?;
    }
    let db = Db::open(settings.db_url(), settings.db_pool_size)?;
    let keys = TokenKeys::from_settings(&settings).map_err(|source| LaunchError::SigningKey {
        dir: settings.storage.data_dir.display().to_string(),
        source,
    })?;
    let clock = Arc::new(ServerClock::default());
    let events = EventHub::default();
    let metrics = Arc::new(Metrics::new());
    let unreadable = UnreadableRows::default();
    let server_id = ServerId::new();
    let relay = match db.url() {
        #[cfg(feature = "postgres")]
        db::DbUrl::Postgres(url) => relay::start(url, events.clone(), server_id),
        _ => Relay::not_used(),
    };
    let (writer, writer_thread) = PushWriter::start(WriterContext {
        db: db.clone(),
        clock: clock.clone(),
        events: events.clone(),
        max_clock_drift: settings.max_clock_drift,
        group_commit_max_ops: settings.group_commit_max_ops,
        unreadable: unreadable.clone(),
        metrics: metrics.clone(),
        server_id,
    })?;
    let checkpointer = db::Checkpointer::start(&db).map_err(db::OpenError::from)?;
    let last_backup = LastBackup::default();
    let backups = settings
        .backup_schedule()
        .map(|schedule| BackupScheduler::start(db.url().clone(), schedule, last_backup.clone()))
        .transpose()?;
    let addr = listener.local_addr()?;
    let metrics_listener = settings
        .metrics_bind
        .map(|addr| TcpListener::bind(addr).map_err(|source| LaunchError::MetricsBind { addr, source }))
        .transpose()?;
    let metrics_addr = metrics_listener.as_ref().map(TcpListener::local_addr).transpose()?;
    tracing::info!(
        %addr,
        https = tls.is_some(),
        metrics = %metrics_addr.map_or_else(|| "for admins at /metrics".to_owned(), |addr| addr.to_string()),
        database = %db.url().describe(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "rollcall is listening"
    );
    let workers = if settings.workers == 0 {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    } else {
        settings.workers
    };
    let shutdown_timeout = settings.shutdown_timeout;
    let throttle = LoginThrottle::new(&settings, db.clone(), throttle_clock);
    let sessions = SessionRevocations::new(settings.session_recheck);
    let tls_config = tls.as_ref().map(|tls| tls.server_config()).transpose()?;
    let https = tls.as_ref().map(|tls| Https {
        tls: tls.clone(),
        port: addr.port(),
    });
    let state = web::Data::new(AppState {
        settings,
        db,
        keys,
        clock,
        throttle,
        writer,
        events: events.clone(),
        unreadable,
        sessions,
        last_backup,
        https,
        metrics: metrics.clone(),
        relay: relay.clone(),
    });
    let metrics_server = metrics_listener
        .map(|listener| api::serve_metrics(state.clone(), shutdown_timeout, listener))
        .transpose()?;
    let listeners = api::Listeners {
        main: listener,
        tls: tls_config,
        plain_http,
    };
    let server = api::serve(state, workers, shutdown_timeout, listeners)?;
    let tls_keeper = tls.clone().map(|tls| actix_web::rt::spawn(tls.keep_current()));
    let stop = StopHandle {
        server: server.handle(),
        metrics_server: metrics_server.as_ref().map(actix_web::dev::Server::handle),
        events,
    };
    Ok(RunningServer {
        addr,
        http_addr,
        tls,
        tls_keeper,
        metrics_addr,
        server,
        metrics_server,
        metrics,
        relay,
        stop,
        writer: writer_thread,
        checkpointer,
        backups,
    })
}
