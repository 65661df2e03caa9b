//! Upgrades (docs/backup-and-upgrades.md): an empty database and one left by the first release
//! (its one migration, with rows) are brought to the latest schema when the server starts; an
//! upgrade that fails half-way is undone whole; the schema version shows in `/healthz` and
//! `rollcall --version`; an older binary refuses a database a newer one upgraded, with a clear
//! message and changing nothing.

#![allow(clippy::unwrap_used, reason = "test scenarios: a panic is how they fail")]

mod common;

use common::{Backend, TestDatabase, TestServer, rollcall};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_migrations::{FileBasedMigrations, MigrationHarness};
use reqwest::StatusCode;
use rollcall_server::db::migrations::{applied_versions, known_versions, latest_known_version};
use rollcall_server::db::{Db, DbConnection};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

per_backend_tests!(
    an_empty_database_is_brought_to_the_latest_schema,
    the_first_released_schema_is_upgraded_with_its_rows,
    an_upgrade_that_fails_half_way_leaves_the_database_as_it_was,
    an_older_rollcall_refuses_a_database_a_newer_one_upgraded_and_changes_nothing,
);

/// A migration no binary of this version has.
const FUTURE_MIGRATION: &str = "20990101000001";

fn migrations_folder(backend: Backend) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../migrations")
        .join(match backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
}

#[test]
fn the_version_names_the_latest_migration_folder() {
    let mut folders: Vec<String> = std::fs::read_dir(migrations_folder(Backend::Sqlite))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    // Diesel records a migration by its folder's date and number, without the dashes.
    let latest = folders.last().unwrap().split('_').next().unwrap().replace('-', "");
    assert_eq!(latest_known_version(), latest);
    let output = rollcall(&["--version"]).output().unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("rollcall {} (database schema {latest})\n", env!("CARGO_PKG_VERSION"))
    );
}

async fn an_empty_database_is_brought_to_the_latest_schema(backend: Backend) {
    let Some(database) = TestDatabase::new(backend) else {
        return;
    };
    assert_eq!(applied_versions(&mut database.connect()).unwrap(), None);
    let server = TestServer::serve(database).await;
    assert_eq!(applied_versions(&mut server.db()).unwrap(), Some(known_versions()));
    let health = server.call("GET", "/healthz", None, None).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body["schema_version"], json!(latest_known_version()));
}

/// A database as the first release left it: its one migration, with rows; `None` when
/// PostgreSQL is not configured.
fn first_release_database(backend: Backend) -> Option<TestDatabase> {
    let database = TestDatabase::new(backend)?;
    // What the first release left: its one migration, applied by diesel's harness as it did...
    let first_release = FileBasedMigrations::from_path(migrations_folder(backend)).unwrap();
    match &mut database.connect() {
        DbConnection::Sqlite(conn) => conn.run_next_migration(first_release).map(|_| ()),
        DbConnection::Pg(conn) => conn.run_next_migration(first_release).map(|_| ()),
    }
    .unwrap();
    assert_eq!(
        applied_versions(&mut database.connect()).unwrap(),
        Some(known_versions()[..1].to_vec())
    );
    // ...and rows it wrote, in its own SQL: a school, an admin, an op, and a lock with dates no
    // version could read (which the second migration reopens).
    let hash = rollcall_server::security::passwords::hash(common::PASSWORD).unwrap();
    database
        .connect()
        .batch_execute(&format!(
            "INSERT INTO schools (id, name, created_at)
                 VALUES ('6f1c1a52-5a9e-4a43-9b38-1f2f3b0d0001', 'First Release School', 0);
             INSERT INTO users (id, school_id, username, display_name, role, password_hash, created_at)
                 VALUES ('6f1c1a52-5a9e-4a43-9b38-1f2f3b0d0002', '6f1c1a52-5a9e-4a43-9b38-1f2f3b0d0001',
                         'office', 'The Office', 'admin', '{hash}', 0);
             INSERT INTO op_log (op_id, school_id, user_id, device_id, device_time, device_hlc, hlc,
                                 received_at, class_id, date, period, student_id, field, value, outcome,
                                 code, detail, message, clock_skewed)
                 VALUES ('6f1c1a52-5a9e-4a43-9b38-1f2f3b0d0003', '6f1c1a52-5a9e-4a43-9b38-1f2f3b0d0001',
                         '6f1c1a52-5a9e-4a43-9b38-1f2f3b0d0002', '00000000000000b1', 0,
                         '1763719200000-0000-00000000000000b1', NULL, 0,
                         '6f1c1a52-5a9e-4a43-9b38-1f2f3b0d0004', '2026-11-20', 1, NULL, 'status',
                         '\"present\"', 'rejected', 'FORBIDDEN', NULL, 'not your class', 0);
             INSERT INTO locks (id, school_id, class_id, from_date, until_date, reason, locked_hlc,
                                created_by, created_at)
                 VALUES ('6f1c1a52-5a9e-4a43-9b38-1f2f3b0d0005', '6f1c1a52-5a9e-4a43-9b38-1f2f3b0d0001',
                         NULL, '-001-01-01', '-001-01-02', 'typo', '1763719200000-0000-00000000000000b1',
                         '6f1c1a52-5a9e-4a43-9b38-1f2f3b0d0002', 0);"
        ))
        .unwrap();
    Some(database)
}

async fn the_first_released_schema_is_upgraded_with_its_rows(backend: Backend) {
    let Some(database) = first_release_database(backend) else {
        return;
    };

    // The server of today upgrades it at start and serves what was there.
    let server = TestServer::serve(database).await;
    assert_eq!(applied_versions(&mut server.db()).unwrap(), Some(known_versions()));
    let health = server.call("GET", "/healthz", None, None).await;
    assert_eq!(health.body["schema_version"], json!(latest_known_version()));
    let office = server.login("office").await;
    assert_eq!(office.login.user.display_name, "The Office");
    let roster = server.roster(&office.token).await;
    assert_eq!(roster.school.name, "First Release School");
    use rollcall_server::db::schema::{locks, op_log};
    let reopened: Vec<Option<String>> = locks::table
        .select(locks::reopen_reason)
        .load(&mut server.db())
        .unwrap();
    assert_eq!(reopened.len(), 1);
    assert!(
        reopened[0]
            .as_deref()
            .unwrap_or_default()
            .starts_with("Reopened by the upgrade"),
        "{reopened:?}"
    );
    let ops: i64 = op_log::table.count().get_result(&mut server.db()).unwrap();
    assert_eq!(ops, 1);
}

/// The definition of the op log's "received once" index, which the second migration replaces.
fn first_receipt_index(database: &TestDatabase) -> String {
    #[derive(QueryableByName)]
    struct Definition {
        #[diesel(sql_type = diesel::sql_types::Text)]
        definition: String,
    }
    let sql = match database.backend {
        Backend::Sqlite => "SELECT sql AS definition FROM sqlite_master WHERE name = 'op_log_first_receipt'",
        Backend::Postgres => "SELECT indexdef AS definition FROM pg_indexes WHERE indexname = 'op_log_first_receipt'",
    };
    let definition: Definition = match &mut database.connect() {
        DbConnection::Sqlite(conn) => diesel::sql_query(sql).get_result(conn),
        DbConnection::Pg(conn) => diesel::sql_query(sql).get_result(conn),
    }
    .unwrap();
    definition.definition
}

async fn an_upgrade_that_fails_half_way_leaves_the_database_as_it_was(backend: Backend) {
    let Some(database) = first_release_database(backend) else {
        return;
    };
    // The second migration replaces an index, then reopens unreadable locks: a trigger makes that
    // last statement fail.
    let sabotage = match backend {
        Backend::Sqlite => {
            "CREATE TRIGGER sabotage BEFORE UPDATE ON locks
                 BEGIN SELECT RAISE(ABORT, 'the test stops this upgrade'); END;"
        }
        Backend::Postgres => {
            "CREATE FUNCTION sabotage() RETURNS trigger LANGUAGE plpgsql
                 AS $$ BEGIN RAISE EXCEPTION 'the test stops this upgrade'; END $$;
             CREATE TRIGGER sabotage BEFORE UPDATE ON locks FOR EACH ROW EXECUTE FUNCTION sabotage();"
        }
    };
    database.connect().batch_execute(sabotage).unwrap();
    let index_before = first_receipt_index(&database);
    assert!(!index_before.contains("OP_ID_REUSED"), "{index_before}");

    let refused = Db::open(database.db_url(), 1).unwrap_err().to_string();
    assert!(
        refused.contains("cannot bring the database schema up to date")
            && refused.contains("the test stops this upgrade"),
        "{refused}"
    );
    // The index the migration had already replaced is the old one again, and the schema is the
    // first release's.
    assert_eq!(first_receipt_index(&database), index_before);
    assert_eq!(
        applied_versions(&mut database.connect()).unwrap(),
        Some(known_versions()[..1].to_vec())
    );

    // Without the trigger the same upgrade goes through.
    let remove = match backend {
        Backend::Sqlite => "DROP TRIGGER sabotage",
        Backend::Postgres => "DROP TRIGGER sabotage ON locks",
    };
    database.connect().batch_execute(remove).unwrap();
    drop(Db::open(database.db_url(), 1).unwrap());
    assert!(first_receipt_index(&database).contains("OP_ID_REUSED"));
}

/// What a database holds, as far as "changes nothing" goes: SQLite, every file of its folder with
/// a hash of its bytes; PostgreSQL, its tables and the migrations applied.
fn fingerprint(database: &TestDatabase) -> Vec<String> {
    match database.backend {
        Backend::Sqlite => {
            let mut files: Vec<String> = std::fs::read_dir(database.dir.path())
                .unwrap()
                .map(|entry| {
                    let entry = entry.unwrap();
                    let bytes = std::fs::read(entry.path()).unwrap_or_default();
                    format!("{} {:x}", entry.file_name().to_string_lossy(), Sha256::digest(bytes))
                })
                .collect();
            files.sort();
            files
        }
        Backend::Postgres => {
            #[derive(QueryableByName)]
            struct Table {
                #[diesel(sql_type = diesel::sql_types::Text)]
                name: String,
            }
            let DbConnection::Pg(mut conn) = database.connect() else {
                unreachable!()
            };
            let tables: Vec<Table> = diesel::sql_query(
                "SELECT table_name::text AS name FROM information_schema.tables \
                 WHERE table_schema = current_schema() ORDER BY 1",
            )
            .load(&mut conn)
            .unwrap();
            let mut fingerprint: Vec<String> = tables.into_iter().map(|table| table.name).collect();
            fingerprint.extend(applied_versions(&mut database.connect()).unwrap().unwrap_or_default());
            fingerprint
        }
    }
}

async fn an_older_rollcall_refuses_a_database_a_newer_one_upgraded_and_changes_nothing(backend: Backend) {
    let Some(database) = TestDatabase::new(backend) else {
        return;
    };
    // A newer Rollcall upgraded it: a migration this binary does not have.
    drop(Db::open(database.db_url(), 1).unwrap());
    database
        .connect()
        .batch_execute(&format!(
            "INSERT INTO __diesel_schema_migrations (version) VALUES ('{FUTURE_MIGRATION}')"
        ))
        .unwrap();
    let before = fingerprint(&database);

    let output = rollcall(&[
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--data-dir",
        database.dir.path().to_str().unwrap(),
        "--db",
        &database.url,
    ])
    .env("ROLLCALL_LOG", "warn")
    .output()
    .unwrap();
    assert!(!output.status.success(), "it started");
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains(&format!(
            "has database schema {FUTURE_MIGRATION}, newer than this rollcall {} knows (it knows up to {})",
            env!("CARGO_PKG_VERSION"),
            latest_known_version()
        )) && said.contains("Nothing was changed"),
        "{said}"
    );
    // The library's way in refuses the same.
    let refused = Db::open(database.db_url(), 1).unwrap_err().to_string();
    assert!(refused.contains("a newer Rollcall upgraded it"), "{refused}");
    assert_eq!(fingerprint(&database), before);
}
