//! Backups and restores (docs/backup-and-upgrades.md), with the real `rollcall` binary against a
//! real server: a backup taken while tablets push holds every op acknowledged before it began;
//! `rollcall restore` refuses a damaged file, a file that is not a Rollcall database and one from
//! a newer Rollcall, changing nothing, and refuses while a server uses the database; scheduled
//! backups appear and the oldest beyond the count are deleted.

#![allow(clippy::unwrap_used, reason = "test scenarios: a panic is how they fail")]

mod common;

use common::{Backend, Device, TestDatabase, TestServer, rollcall, school_day};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use reqwest::StatusCode;
use rollcall_server::db::DbUrl;
use rollcall_server::db::backup::schedule;
use rollcall_server::db::schema::op_log;
use rollcall_shared::OpId;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

per_backend_tests!(
    a_backup_taken_while_tablets_push_holds_every_op_acknowledged_before_it,
    scheduled_backups_appear_and_the_oldest_beyond_the_count_go,
);

/// Tablets pushing at once while the backup runs.
const TABLETS: usize = 4;
/// Acknowledged ops to wait for before the backup starts.
const ACKNOWLEDGED_BEFORE_BACKUP: usize = 300;
/// Pushes one tablet makes at most (the loop stops at the end of the backup long before).
const MAX_PUSHES_PER_TABLET: usize = 400;

/// Runs the real binary to its end, off the async workers.
async fn run(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        rollcall(&args).output().unwrap()
    })
    .await
    .unwrap()
}

/// `rollcall COMMAND FILE --FLAG VALUE`, e.g. `backup FILE --db URL`.
async fn run_on(command: &str, file: &Path, flag: &str, value: &str) -> Output {
    run(vec![command.into(), path_arg(file), format!("--{flag}"), value.into()]).await
}

/// `rollcall restore FILE --data-dir DIR`
async fn restore(file: &Path, data_dir: &Path) -> Output {
    run_on("restore", file, "data-dir", &path_arg(data_dir)).await
}

/// A SQLite database at `path` (made if missing) with `sql` run on it.
fn with_sql(path: &Path, sql: &str) {
    DbUrl::Sqlite(path.to_owned())
        .connect()
        .unwrap()
        .batch_execute(sql)
        .unwrap();
}

fn said(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn path_arg(path: &Path) -> String {
    path.to_str().unwrap().to_owned()
}

/// Ops a tablet has pushed and the server has answered for, and how many (to wait on).
struct Acknowledged {
    ops: Mutex<Vec<OpId>>,
    count: tokio::sync::watch::Sender<usize>,
}

/// One teacher's tablet pushing registers, one push after another, until told to stop.
async fn push_until_stopped(server: &TestServer, teacher: usize, acknowledged: &Acknowledged, stop: &AtomicBool) {
    let (token, classes) = server.login_with_classes(&format!("teacher{}", teacher + 1)).await;
    let mut device = Device::new(0xb0 + teacher as u64);
    for push in 0..MAX_PUSHES_PER_TABLET {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let class = classes.class(push % 2);
        let date = school_day((push / 2 % 60) as i64);
        let period = 1 + (push / 120 % 8) as i64;
        let ops: Vec<_> = classes
            .students(class)
            .into_iter()
            .take(30)
            .map(|student| device.mark(class, &date, period, student, "present"))
            .collect();
        let reply = server.push(&token, device.id, &ops).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        let answered: Vec<OpId> = reply.body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|result| serde_json::from_value(result["op_id"].clone()).unwrap())
            .collect();
        assert_eq!(answered.len(), ops.len());
        let mut ops = acknowledged.ops.lock().unwrap();
        ops.extend(answered);
        acknowledged.count.send_replace(ops.len());
    }
}

/// The op ids in the op log of a database.
fn op_ids_in(url: &DbUrl) -> HashSet<String> {
    op_log::table
        .select(op_log::op_id)
        .load::<String>(&mut url.connect().unwrap())
        .unwrap()
        .into_iter()
        .collect()
}

async fn a_backup_taken_while_tablets_push_holds_every_op_acknowledged_before_it(backend: Backend) {
    let Some(server) = TestServer::start_with(backend, |_| {}).await else {
        return;
    };
    let server = &server;
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join(match server.backend {
        Backend::Sqlite => "rollcall-backup.db",
        Backend::Postgres => "rollcall-backup.pgdump",
    });
    let acknowledged = Acknowledged {
        ops: Mutex::new(Vec::new()),
        count: tokio::sync::watch::channel(0).0,
    };
    let stop = AtomicBool::new(false);
    let tablets = futures_util::future::join_all(
        (0..TABLETS).map(|teacher| push_until_stopped(server, teacher, &acknowledged, &stop)),
    );
    let backup = async {
        let mut count = acknowledged.count.subscribe();
        count.wait_for(|n| *n >= ACKNOWLEDGED_BEFORE_BACKUP).await.unwrap();
        let before: Vec<OpId> = acknowledged.ops.lock().unwrap().clone();
        let output = run_on("backup", &file, "db", &server.db_url).await;
        let during = acknowledged.ops.lock().unwrap().len() - before.len();
        stop.store(true, Ordering::SeqCst);
        (before, output, during)
    };
    let (_, (before, output, during)) = tokio::join!(tablets, backup);
    assert!(output.status.success(), "{}", said(&output));
    assert!(said(&output).contains("Backup written to"), "{}", said(&output));
    println!(
        "{} ops acknowledged before the backup began, {during} while it ran",
        before.len()
    );

    // Put the backup back into an empty database and look for every op acknowledged before.
    let restored = TestDatabase::new(server.backend).unwrap();
    match server.backend {
        Backend::Sqlite => {
            let output = restore(&file, restored.dir.path()).await;
            assert!(output.status.success(), "{}", said(&output));
        }
        Backend::Postgres => {
            // `rollcall restore` says to use pg_restore, which is what IT runs.
            let output = run_on("restore", &file, "db", &restored.url).await;
            assert!(!output.status.success());
            assert!(
                said(&output).contains("restore a pg_dump file with pg_restore"),
                "{}",
                said(&output)
            );
            let output = std::process::Command::new("pg_restore")
                .args(["--no-owner", "--exit-on-error", "--dbname", &restored.url])
                .arg(&file)
                .output()
                .unwrap();
            assert!(output.status.success(), "{}", said(&output));
        }
    }
    let url = match server.backend {
        Backend::Sqlite => DbUrl::Sqlite(restored.dir.path().join("rollcall.db")),
        Backend::Postgres => restored.db_url(),
    };
    let in_backup = op_ids_in(&url);
    let missing: Vec<_> = before
        .iter()
        .filter(|op| !in_backup.contains(&op.to_string()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged ops are missing from the backup, e.g. {:?}",
        missing.len(),
        before.len(),
        missing.first()
    );

    // The live database is in use: restoring over it is refused.
    if server.backend == Backend::Sqlite {
        let output = restore(&file, server.data_dir.path()).await;
        assert!(!output.status.success());
        assert!(
            said(&output).contains("is in use by a running Rollcall server") && said(&output).contains("stop it first"),
            "{}",
            said(&output)
        );
        let live = op_ids_in(&DbUrl::parse(Some(&server.db_url), server.data_dir.path()));
        let acknowledged = acknowledged.ops.lock().unwrap();
        assert!(acknowledged.iter().all(|op| live.contains(&op.to_string())));
    }
}

/// Every file in a folder with a hash of its bytes.
fn fingerprint(folder: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(folder)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let bytes = std::fs::read(entry.path()).unwrap_or_default();
            (
                entry.file_name().to_string_lossy().into_owned(),
                format!("{:x}", Sha256::digest(bytes)),
            )
        })
        .collect()
}

/// Damages a copy of a SQLite backup: the first bytes of the op log's root page turned over.
fn damage(good: &Path, damaged: &Path) {
    std::fs::copy(good, damaged).unwrap();
    #[derive(QueryableByName)]
    struct Page {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        rootpage: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        page_size: i64,
    }
    let rollcall_server::db::DbConnection::Sqlite(mut conn) = DbUrl::Sqlite(damaged.to_owned()).connect().unwrap()
    else {
        unreachable!()
    };
    let page: Page =
        diesel::sql_query("SELECT rootpage, page_size FROM sqlite_master, pragma_page_size() WHERE name = 'op_log'")
            .get_result(&mut conn)
            .unwrap();
    drop(conn);
    let mut bytes = std::fs::read(damaged).unwrap();
    let start = ((page.rootpage - 1) * page.page_size) as usize;
    for byte in &mut bytes[start..start + 64] {
        *byte ^= 0xff;
    }
    std::fs::write(damaged, bytes).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_refuses_a_damaged_foreign_or_newer_backup_and_changes_nothing() {
    let server = TestServer::start(Backend::Sqlite).await;
    let (token, classes) = server.login_with_classes("teacher1").await;
    let class = classes.class(0);
    let mut device = Device::new(0xbac);
    let marks: Vec<_> = classes
        .students(class)
        .into_iter()
        .map(|student| device.mark(class, &school_day(2), 1, student, "absent"))
        .collect();
    assert_eq!(server.push(&token, device.id, &marks).await.status, StatusCode::OK);
    let folder = tempfile::tempdir().unwrap();
    let good = folder.path().join("good.db");
    let data_dir = server.data_dir.path().to_owned();
    let output = run_on("backup", &good, "data-dir", &path_arg(&data_dir)).await;
    assert!(output.status.success(), "{}", said(&output));
    // A mark after the backup: a restore takes it away again.
    let later = device.mark(class, &school_day(3), 1, classes.students(class)[0], "late");
    assert_eq!(
        server
            .push(&token, device.id, std::slice::from_ref(&later))
            .await
            .status,
        StatusCode::OK
    );
    server.stop().unwrap();

    let damaged = folder.path().join("damaged.db");
    damage(&good, &damaged);
    let newer = folder.path().join("newer.db");
    std::fs::copy(&good, &newer).unwrap();
    with_sql(
        &newer,
        "INSERT INTO __diesel_schema_migrations (version) VALUES ('20990101000001')",
    );
    let foreign = folder.path().join("notes.db");
    with_sql(
        &foreign,
        "CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('not attendance');",
    );
    let text = folder.path().join("notes.txt");
    std::fs::write(&text, "This is not a database, whatever its name says.\n").unwrap();
    let empty = folder.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();

    let before = fingerprint(&data_dir);
    let refusals: [(&PathBuf, &str); 5] = [
        (&damaged, "is damaged"),
        (&newer, "has database schema 20990101000001, newer than this rollcall"),
        (&foreign, "is a SQLite database but not a Rollcall one"),
        (&text, "is not a SQLite database"),
        (&empty, "is not a SQLite database"),
    ];
    for (file, reason) in refusals {
        let candidate = std::fs::read(file).unwrap();
        let output = restore(file, &data_dir).await;
        assert!(!output.status.success(), "{} was restored", file.display());
        let said = said(&output);
        assert!(said.contains(reason) && said.contains("nothing was changed"), "{said}");
        assert_eq!(
            fingerprint(&data_dir),
            before,
            "restoring {} changed the data directory",
            file.display()
        );
        assert_eq!(
            std::fs::read(file).unwrap(),
            candidate,
            "restoring {} changed it",
            file.display()
        );
    }

    // The good backup goes back; the database it replaces is kept beside it.
    let output = restore(&good, &data_dir).await;
    assert!(output.status.success(), "{}", said(&output));
    assert!(said(&output).contains("Start the server again"), "{}", said(&output));
    let restored = DbUrl::Sqlite(data_dir.join("rollcall.db"));
    let ops = op_ids_in(&restored);
    assert!(marks.iter().all(|mark| ops.contains(&mark.op_id.to_string())));
    assert!(
        !ops.contains(&later.op_id.to_string()),
        "the mark after the backup is gone"
    );
    let previous: Vec<PathBuf> = std::fs::read_dir(&data_dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().contains("rollcall.db.before-restore-"))
        .collect();
    assert_eq!(previous.len(), 1, "{previous:?}");
    assert!(op_ids_in(&DbUrl::Sqlite(previous[0].clone())).contains(&later.op_id.to_string()));
    // The server opens it.
    rollcall_server::db::Db::open(restored, 1).unwrap();
}

async fn scheduled_backups_appear_and_the_oldest_beyond_the_count_go(backend: Backend) {
    let Some(server) = TestServer::start_with(backend, |settings| {
        settings.backup_every = Some(Duration::from_secs(24 * 3600));
        settings.backup_keep = 2;
    })
    .await
    else {
        return;
    };
    let folder = server.data_dir.path().join("backups");
    let extension = match backend {
        Backend::Sqlite => "db",
        Backend::Postgres => "pgdump",
    };
    let backups = server.backups.clone().unwrap();
    // None was there, so the first is due at start.
    let first = *backups.last().subscribe().wait_for(Option::is_some).await.unwrap();
    let found = schedule::existing(&folder, extension);
    assert_eq!(found.iter().map(|(at, _)| Some(*at)).collect::<Vec<_>>(), [first]);
    let second = backups.run_now().await.unwrap();
    let third = backups.run_now().await.unwrap();
    let kept: Vec<PathBuf> = schedule::existing(&folder, extension)
        .into_iter()
        .map(|(_, path)| path)
        .collect();
    assert_eq!(kept, [second, third.clone()], "the oldest beyond 2 is deleted");
    assert_eq!(
        backups.last().get().map(|at| schedule::name(at, extension)),
        third.file_name().map(|name| name.to_string_lossy().into_owned())
    );
    // Each is a whole backup of the database as it is.
    match backend {
        Backend::Sqlite => assert_eq!(
            rollcall_server::db::migrations::schema_version(&mut DbUrl::Sqlite(third).connect().unwrap()).unwrap(),
            Some(rollcall_server::db::migrations::latest_known_version())
        ),
        Backend::Postgres => {
            let listed = std::process::Command::new("pg_restore")
                .arg("--list")
                .arg(&third)
                .output()
                .unwrap();
            assert!(listed.status.success(), "{}", said(&listed));
            assert!(String::from_utf8_lossy(&listed.stdout).contains("TABLE public op_log"));
        }
    }
}
