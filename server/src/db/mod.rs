//! Database access on SQLite (the default, a file in the data directory) or PostgreSQL, picked by
//! URL. Everything backend-specific lives here: connection settings, migrations, backups, and how
//! a write transaction starts.
//!
//! Diesel is synchronous: every call runs on a blocking thread ([`Db::run`]) or on the push
//! writer's own thread, never on an async worker.

pub mod authz;
pub mod backup;
mod checkpointer;
pub mod feed;
pub mod in_use;
pub mod locks;
pub mod login_throttle;
pub mod marks;
pub mod migrations;
pub mod roster;
pub mod schema;
pub mod users;

pub use checkpointer::Checkpointer;

use crate::error::AppError;
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection};
use diesel::serialize::{self, IsNull, Output};
use rollcall_shared::column::{AsText, TextBackend, TextColumn};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a SQLite connection waits for another writer before giving up. Group commits are
/// short; this only bites when the disk stalls.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 10_000;

/// Write-ahead log size (pages) at which a committing connection checkpoints by itself. The
/// server checkpoints from a thread of its own ([`Checkpointer`]) long before that, so commits
/// (and the pushes waiting on them) do not pay for copying the log into the database file;
/// this is the backstop for when that thread falls behind, and for the CLI.
const SQLITE_AUTOCHECKPOINT_PAGES: u32 = 20_000;

/// The key of the PostgreSQL advisory lock that serializes writers (see [`write_transaction`]).
/// Any fixed number works; this one spells "rollcall" in ASCII.
#[cfg(feature = "postgres")]
const WRITE_LOCK_KEY: i64 = 0x726f_6c6c_6361_6c6c;

/// Runs the same diesel code on the concrete connection inside a [`DbConnection`], for the
/// few statements `MultiConnection` cannot express (multi-row inserts). The body is
/// type-checked once per backend, so it is written once and stays identical.
#[macro_export]
macro_rules! on_backend {
    ($conn:expr, |$inner:ident| $body:expr) => {
        match $conn {
            #[cfg(feature = "postgres")]
            $crate::db::DbConnection::Pg($inner) => $body,
            #[cfg(feature = "sqlite")]
            $crate::db::DbConnection::Sqlite($inner) => $body,
        }
    };
}

/// One connection to either backend.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    #[cfg(feature = "postgres")]
    Pg(diesel::PgConnection),
    #[cfg(feature = "sqlite")]
    Sqlite(diesel::SqliteConnection),
}

/// Shared's column types (`rollcall_shared::column`) on this connection: it binds a value by
/// reference and has the backend of the connection write it when the query runs.
impl TextBackend for MultiBackend {
    fn bind_text<'b, T: TextColumn>(value: &'b T, out: &mut Output<'b, '_, Self>) -> serialize::Result {
        out.set_value((diesel::sql_types::Text, AsText::of(value)));
        Ok(IsNull::No)
    }
}

impl fmt::Debug for DbConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            #[cfg(feature = "postgres")]
            DbConnection::Pg(_) => f.write_str("DbConnection::Pg"),
            #[cfg(feature = "sqlite")]
            DbConnection::Sqlite(_) => f.write_str("DbConnection::Sqlite"),
        }
    }
}

/// Which database a URL names.
#[derive(Clone, PartialEq, Eq)]
pub enum DbUrl {
    /// `sqlite://PATH`, `sqlite:PATH` or a plain file path.
    Sqlite(PathBuf),
    /// `postgres://…` or `postgresql://…`. May hold a password: never printed.
    Postgres(String),
}

impl fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbUrl::Sqlite(path) => write!(f, "Sqlite({})", path.display()),
            DbUrl::Postgres(_) => f.write_str("Postgres(<redacted>)"),
        }
    }
}

impl DbUrl {
    /// Reads a database URL; `None` means the SQLite file in the data directory.
    pub fn parse(url: Option<&str>, data_dir: &Path) -> DbUrl {
        match url {
            None => DbUrl::Sqlite(data_dir.join("rollcall.db")),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                DbUrl::Postgres(url.to_owned())
            }
            Some(url) => {
                let path = url
                    .strip_prefix("sqlite://")
                    .or_else(|| url.strip_prefix("sqlite:"))
                    .unwrap_or(url);
                DbUrl::Sqlite(PathBuf::from(path))
            }
        }
    }

    /// A description safe for logs: the SQLite path, or the PostgreSQL host and database
    /// without user or password.
    pub fn describe(&self) -> String {
        match self {
            DbUrl::Sqlite(path) => format!("SQLite at {}", path.display()),
            DbUrl::Postgres(url) => {
                let after_scheme = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
                let host_and_db = after_scheme.rsplit_once('@').map_or(after_scheme, |(_, rest)| rest);
                let without_params = host_and_db.split('?').next().unwrap_or(host_and_db);
                format!("PostgreSQL at {without_params}")
            }
        }
    }

    /// Opens one connection with this project's settings applied.
    pub fn connect(&self) -> Result<DbConnection, ConnectError> {
        match self {
            #[cfg(feature = "sqlite")]
            DbUrl::Sqlite(path) => {
                let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy())?;
                // busy_timeout first, so that the other PRAGMAs already wait for a busy file.
                // synchronous=FULL: in WAL mode the log is fsynced at every commit, so an
                // acknowledged push survives a power cut. foreign_keys is per connection.
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS};
                     PRAGMA synchronous = FULL;
                     PRAGMA foreign_keys = ON;
                     PRAGMA cache_size = -32768;
                     PRAGMA temp_store = MEMORY;
                     PRAGMA wal_autocheckpoint = {SQLITE_AUTOCHECKPOINT_PAGES};"
                ))?;
                Ok(DbConnection::Sqlite(conn))
            }
            #[cfg(feature = "postgres")]
            DbUrl::Postgres(url) => Ok(DbConnection::Pg(diesel::PgConnection::establish(url)?)),
            #[allow(unreachable_patterns)]
            _ => Err(ConnectError::BackendNotBuilt(self.describe())),
        }
    }
}

/// A connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot open the database: {0}")]
    Connection(#[from] diesel::ConnectionError),
    #[error("cannot set up the database connection: {0}")]
    Setup(#[from] diesel::result::Error),
    #[error("this rollcall binary was built without support for {0}; rebuild with that cargo feature")]
    BackendNotBuilt(String),
    #[error("cannot start a database thread: {0}")]
    Thread(String),
}

/// The connection pool's manager: opens connections through [`DbUrl::connect`].
#[derive(Debug)]
pub struct DbManager {
    url: DbUrl,
}

impl ManageConnection for DbManager {
    type Connection = DbConnection;
    type Error = ConnectError;

    fn connect(&self) -> Result<DbConnection, ConnectError> {
        self.url.connect()
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), ConnectError> {
        conn.batch_execute("SELECT 1").map_err(ConnectError::Setup)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        <DbConnection as Connection>::TransactionManager::is_broken_transaction_manager(conn)
    }
}

pub type PooledConnection = r2d2::PooledConnection<DbManager>;

/// The database: where it is, and a pool of connections for reads and small writes. The push
/// writer has a connection of its own ([`Db::connect`]).
#[derive(Clone)]
pub struct Db {
    url: DbUrl,
    pool: r2d2::Pool<DbManager>,
    /// SQLite: held while any clone lives, so that `rollcall restore` refuses to swap the file.
    _in_use: Option<std::sync::Arc<in_use::InUseLock>>,
}

impl fmt::Debug for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Db").field("url", &self.url).finish_non_exhaustive()
    }
}

/// The database could not be made ready at start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{0}")]
    Connect(#[from] ConnectError),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error("cannot switch SQLite to write-ahead logging: {0}")]
    Wal(diesel::result::Error),
    #[error("cannot bring the database schema up to date: {0}")]
    Migrate(String),
    #[error(
        "{database} has database schema {schema}, newer than this rollcall {version} knows \
         (it knows up to {known}): a newer Rollcall upgraded it. Nothing was changed. Run that newer \
         Rollcall again, or restore a backup taken before the upgrade (docs/backup-and-upgrades.md)",
        version = env!("CARGO_PKG_VERSION")
    )]
    NewerSchema {
        database: String,
        schema: String,
        known: String,
    },
    #[error("cannot check or upgrade the database schema: {0}")]
    Schema(#[from] diesel::result::Error),
    #[error("{0}")]
    InUse(#[from] in_use::InUseError),
    #[error("cannot build the connection pool: {0}")]
    Pool(#[from] r2d2::PoolError),
}

impl Db {
    /// Opens the database, brings its schema up to date and builds the pool.
    pub fn open(url: DbUrl, pool_size: u32) -> Result<Db, OpenError> {
        let in_use = match &url {
            DbUrl::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|source| OpenError::DataDir {
                        path: dir.to_owned(),
                        source,
                    })?;
                }
                Some(std::sync::Arc::new(in_use::InUseLock::shared(path)?))
            }
            DbUrl::Postgres(_) => None,
        };
        let mut conn = url.connect()?;
        migrations::migrate(&mut conn, &url.describe())?;
        let pool = r2d2::Pool::builder()
            .max_size(pool_size.max(1))
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(10))
            .build(DbManager { url: url.clone() })?;
        Ok(Db {
            url,
            pool,
            _in_use: in_use,
        })
    }

    /// Where the database is.
    pub fn url(&self) -> &DbUrl {
        &self.url
    }

    /// A dedicated connection outside the pool.
    pub fn connect(&self) -> Result<DbConnection, ConnectError> {
        self.url.connect()
    }

    /// The push writer's own connection. On PostgreSQL its statements keep one generic plan:
    /// a plan made for a group's actual values looks the op log up by scanning it whole while
    /// the table has no statistics yet (a new database, a busy first day), and a group's
    /// dedupe query then takes milliseconds per thousand rows logged instead of a few index
    /// probes. The generic plan uses the indexes whatever the statistics say.
    pub fn connect_writer(&self) -> Result<DbConnection, ConnectError> {
        let mut conn = self.url.connect()?;
        #[cfg(feature = "postgres")]
        if let DbConnection::Pg(pg) = &mut conn {
            pg.batch_execute("SET plan_cache_mode = force_generic_plan")?;
        }
        Ok(conn)
    }

    /// A pooled connection, for code that already runs on a blocking thread.
    pub fn get(&self) -> Result<PooledConnection, AppError> {
        self.pool.get().map_err(|e| {
            AppError::Unavailable(format!(
                "no database connection is free ({e}); if this persists, check that {} is reachable",
                self.url.describe()
            ))
        })
    }

    /// How many pooled connections are open, and how many of those are idle (for `/metrics`).
    pub fn pool_state(&self) -> r2d2::State {
        self.pool.state()
    }

    /// The most connections the pool opens.
    pub fn pool_max_size(&self) -> u32 {
        self.pool.max_size()
    }

    /// Runs diesel code on a blocking thread with a pooled connection.
    pub async fn run<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
    {
        let db = self.clone();
        // What is logged on the blocking thread belongs to the request that asked for it.
        let span = tracing::Span::current();
        actix_web::web::block(move || {
            let _request = span.enter();
            let mut conn = db.get()?;
            f(&mut conn)
        })
        .await
        .map_err(|e| AppError::Internal(format!("a database task did not finish: {e}")))?
    }
}

/// Runs `f` in a write transaction and commits it; rolls back if `f` fails.
///
/// Every write goes through here (but the login throttle's, see [`row_locking_transaction`]), so
/// writers are serialized the same way on both backends:
/// - SQLite: `BEGIN IMMEDIATE` takes the write lock up front (waiting out `busy_timeout`), so a
///   transaction never fails half-way because another writer got in first.
/// - PostgreSQL: a transaction-scoped advisory lock, held until commit. It makes the op log's
///   `seq` order equal commit order across servers (see the migration) and orders every write
///   after the authorization data the push writer checked against.
///
/// Nested `conn.transaction(…)` calls inside `f` become savepoints.
pub fn write_transaction<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    E: From<diesel::result::Error>,
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
{
    transaction(conn, Writers::Serialized, f)
}

/// Runs `f` in a transaction that, on PostgreSQL, waits only for transactions holding the rows it
/// locks: for the login throttle's small writes, which must not queue behind the push writer's
/// group commits (the advisory lock of [`write_transaction`]). `f` must lock each row it reads and
/// then writes (`SELECT … FOR UPDATE`). On SQLite, which has one writer at a time anyway, it
/// begins like [`write_transaction`]: `BEGIN IMMEDIATE`.
pub fn row_locking_transaction<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    E: From<diesel::result::Error>,
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
{
    transaction(conn, Writers::RowLocks, f)
}

/// How a PostgreSQL transaction waits for other writers.
#[derive(Clone, Copy)]
enum Writers {
    /// Behind every other [`write_transaction`], on every server.
    Serialized,
    /// Only for the rows it locks.
    RowLocks,
}

fn transaction<T, E, F>(conn: &mut DbConnection, writers: Writers, f: F) -> Result<T, E>
where
    E: From<diesel::result::Error>,
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
{
    match conn {
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(inner) => AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?,
        #[cfg(feature = "postgres")]
        DbConnection::Pg(inner) => {
            AnsiTransactionManager::begin_transaction(inner)?;
            let locked = match writers {
                Writers::Serialized => inner.batch_execute(&format!("SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")),
                Writers::RowLocks => Ok(()),
            };
            if let Err(e) = locked {
                let _ = AnsiTransactionManager::rollback_transaction(inner);
                return Err(e.into());
            }
        }
    }
    match f(conn) {
        Ok(value) => {
            <DbConnection as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(error) => {
            // The original error says what went wrong; a failed rollback adds nothing to it.
            let _ = <DbConnection as Connection>::TransactionManager::rollback_transaction(conn);
            Err(error)
        }
    }
}

/// Milliseconds since the epoch, as stored in the database.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
