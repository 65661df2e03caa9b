//! The schema's migrations, embedded in the binary (one set per backend), and how they are run
//! when the database is opened.

#[cfg(feature = "postgres")]
use super::WRITE_LOCK_KEY;
use super::{DbConnection, OpenError};
use diesel::connection::SimpleConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

#[cfg(feature = "sqlite")]
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");
#[cfg(feature = "postgres")]
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

/// Applies the pending migrations of the connection's backend.
pub(super) fn migrate(conn: &mut DbConnection) -> Result<(), OpenError> {
    let migration_error = |e: Box<dyn std::error::Error + Send + Sync>| OpenError::Migrate(e.to_string());
    match conn {
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(conn) => {
            // WAL lets readers (pull, roster) go on while the writer commits. It is a property
            // of the file, so it is set once here rather than on every connection.
            conn.batch_execute("PRAGMA journal_mode = WAL;")
                .map_err(OpenError::Wal)?;
            conn.run_pending_migrations(SQLITE_MIGRATIONS)
                .map_err(migration_error)?;
        }
        #[cfg(feature = "postgres")]
        DbConnection::Pg(conn) => {
            // Several servers may start at once on one database: the session lock makes them
            // migrate one after the other.
            conn.batch_execute(&format!("SELECT pg_advisory_lock({WRITE_LOCK_KEY})"))
                .map_err(|e| OpenError::Migrate(e.to_string()))?;
            let result = conn.run_pending_migrations(POSTGRES_MIGRATIONS).map(|_| ());
            conn.batch_execute(&format!("SELECT pg_advisory_unlock({WRITE_LOCK_KEY})"))
                .map_err(|e| OpenError::Migrate(e.to_string()))?;
            result.map_err(migration_error)?;
        }
    }
    Ok(())
}
