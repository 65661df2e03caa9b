//! The schema's migrations, embedded in the binary (one set per backend, with the same folder
//! names), how they are run when the database is opened, and the schema version.
//!
//! The schema version of a database is the latest migration applied to it, as diesel records
//! them in `__diesel_schema_migrations`: the folder's date and number without the dashes
//! (`2026-12-03-000001_…` is `20261203000001`). A database that has a migration this binary
//! does not embed was upgraded by a newer Rollcall: this binary refuses it before changing
//! anything, because its queries do not know the newer schema (docs/backup-and-upgrades.md).

#[cfg(feature = "postgres")]
use super::WRITE_LOCK_KEY;
use super::{DbConnection, OpenError, write_transaction};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

#[cfg(feature = "sqlite")]
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");
#[cfg(feature = "postgres")]
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

diesel::table! {
    /// Diesel's record of the migrations applied (its `run_on` column is not read here).
    __diesel_schema_migrations (version) {
        version -> Text,
    }
}

/// The versions of the migrations this binary embeds, oldest first. Both backends have the same
/// folder names, so either set answers.
pub fn known_versions() -> Vec<String> {
    #[cfg(feature = "sqlite")]
    let migrations = diesel::migration::MigrationSource::<diesel::sqlite::Sqlite>::migrations(&SQLITE_MIGRATIONS);
    #[cfg(not(feature = "sqlite"))]
    let migrations = diesel::migration::MigrationSource::<diesel::pg::Pg>::migrations(&POSTGRES_MIGRATIONS);
    let mut versions: Vec<String> = migrations
        .unwrap_or_else(|e| panic!("the embedded migrations cannot be listed: {e}"))
        .iter()
        .map(|migration| migration.name().version().to_string())
        .collect();
    versions.sort();
    versions
}

/// The schema this binary brings a database to: its latest migration.
pub fn latest_known_version() -> String {
    known_versions().pop().unwrap_or_default()
}

/// The versions of the migrations applied to the database, oldest first; `None` when it keeps
/// no record of migrations (a new database, or one that is not Rollcall's). Reads only.
pub fn applied_versions(conn: &mut DbConnection) -> QueryResult<Option<Vec<String>>> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    // Asked first, so that reading does not create diesel's table (its own `applied_migrations`
    // would) and, on PostgreSQL, a missing table does not abort the transaction.
    let has_record_sql = match conn {
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(_) => {
            "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = '__diesel_schema_migrations'"
        }
        #[cfg(feature = "postgres")]
        DbConnection::Pg(_) => {
            "SELECT count(*) AS n FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = '__diesel_schema_migrations'"
        }
    };
    let has_record = crate::on_backend!(conn, |inner| diesel::sql_query(has_record_sql)
        .get_result::<Count>(inner))?;
    if has_record.n == 0 {
        return Ok(None);
    }
    let versions = __diesel_schema_migrations::table
        .select(__diesel_schema_migrations::version)
        .order(__diesel_schema_migrations::version.asc())
        .load(conn)?;
    Ok(Some(versions))
}

/// The database's schema version: the latest migration applied, if any.
pub fn schema_version(conn: &mut DbConnection) -> QueryResult<Option<String>> {
    Ok(applied_versions(conn)?.and_then(|mut versions| versions.pop()))
}

/// The migrations applied to a database that this binary does not embed, oldest first: when
/// there are any, a newer Rollcall upgraded the database.
pub fn unknown_versions(applied: &[String]) -> Vec<String> {
    let known = known_versions();
    applied
        .iter()
        .filter(|version| !known.contains(version))
        .cloned()
        .collect()
}

/// Brings the schema up to date: every pending migration, in one transaction, so a database is
/// either upgraded whole or left as it was. Refuses, changing nothing, a database a newer
/// Rollcall upgraded. Returns the schema version.
pub(super) fn migrate(conn: &mut DbConnection, describe: &str) -> Result<String, OpenError> {
    let migrate_in_transaction = |conn: &mut DbConnection| {
        write_transaction(conn, |conn| {
            refuse_newer(conn, describe)?;
            let run = match &mut *conn {
                #[cfg(feature = "sqlite")]
                DbConnection::Sqlite(inner) => inner.run_pending_migrations(SQLITE_MIGRATIONS).map(|_| ()),
                #[cfg(feature = "postgres")]
                DbConnection::Pg(inner) => inner.run_pending_migrations(POSTGRES_MIGRATIONS).map(|_| ()),
            };
            run.map_err(|e| OpenError::Migrate(e.to_string()))?;
            Ok::<_, OpenError>(schema_version(conn)?.unwrap_or_default())
        })
    };
    match conn {
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(_) => {
            let version = migrate_in_transaction(conn)?;
            // WAL lets readers (pull, roster) go on while the writer commits. It is a property
            // of the file, so it is set once here rather than on every connection; and after the
            // check above, so that a database this binary refuses is not touched.
            conn.batch_execute("PRAGMA journal_mode = WAL;")
                .map_err(OpenError::Wal)?;
            Ok(version)
        }
        #[cfg(feature = "postgres")]
        DbConnection::Pg(_) => {
            // Several servers may start at once on one database: the session lock makes them
            // migrate one after the other.
            conn.batch_execute(&format!("SELECT pg_advisory_lock({WRITE_LOCK_KEY})"))
                .map_err(|e| OpenError::Migrate(e.to_string()))?;
            let result = migrate_in_transaction(conn);
            conn.batch_execute(&format!("SELECT pg_advisory_unlock({WRITE_LOCK_KEY})"))
                .map_err(|e| OpenError::Migrate(e.to_string()))?;
            result
        }
    }
}

fn refuse_newer(conn: &mut DbConnection, describe: &str) -> Result<(), OpenError> {
    let applied = applied_versions(conn)?.unwrap_or_default();
    let unknown = unknown_versions(&applied);
    match unknown.last() {
        None => Ok(()),
        Some(newest) => Err(OpenError::NewerSchema {
            database: describe.to_owned(),
            schema: newest.clone(),
            known: latest_known_version(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::backend::Backend;
    use diesel::migration::MigrationSource;

    fn names<DB: Backend>(migrations: &EmbeddedMigrations) -> Vec<String>
    where
        EmbeddedMigrations: MigrationSource<DB>,
    {
        let mut names: Vec<String> = migrations
            .migrations()
            .unwrap()
            .iter()
            .map(|m| m.name().to_string())
            .collect();
        names.sort();
        names
    }

    #[test]
    #[cfg(all(feature = "sqlite", feature = "postgres"))]
    fn both_backends_have_the_same_migrations() {
        let sqlite = names::<diesel::sqlite::Sqlite>(&SQLITE_MIGRATIONS);
        assert_eq!(sqlite, names::<diesel::pg::Pg>(&POSTGRES_MIGRATIONS));
        assert_eq!(sqlite.len(), known_versions().len());
        assert!(
            sqlite
                .last()
                .unwrap()
                .replace('-', "")
                .starts_with(&latest_known_version())
        );
    }
}
