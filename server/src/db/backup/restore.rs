//! `rollcall restore FILE` on SQLite: check a backup, then put it in place of the database.
//!
//! The backup is copied beside the database (`rollcall.db.restoring`) and the copy is checked:
//! a SQLite file, `PRAGMA integrity_check` clean, Rollcall's migrations, none newer than this
//! binary's. A refused backup changes nothing (the copy is deleted). A good one replaces the
//! database by a rename, so the database is at every moment either the old one or the new one;
//! the old one stays as `rollcall.db.before-restore-<time>` (with its write-ahead log, if it
//! could not be folded in). The whole time the lock of [`super::super::in_use`] is held
//! exclusively: no server or other command uses the database meanwhile.

use super::{Progress, create_private, remove_if_present, sync_folder, with_suffix};
use crate::db::in_use::{InUseError, InUseLock};
use crate::db::{ConnectError, DbConnection, DbUrl, migrations};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The first bytes of every SQLite database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";
/// The files SQLite keeps beside a database while it is in use, by suffix. A write-ahead log or
/// a rollback journal left beside a swapped-in file would be read as part of it.
const SIDECARS: [&str; 3] = ["-wal", "-journal", "-shm"];

/// A backup that passed the checks.
#[derive(Debug, Clone)]
pub struct CheckedBackup {
    /// Its schema version (the latest migration applied to it).
    pub schema: String,
    /// This binary's migrations it does not have yet: the server applies them when it starts.
    pub pending: Vec<String>,
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct RestoreReport {
    pub database: PathBuf,
    pub backup: CheckedBackup,
    /// Where the database that was replaced is kept; `None` when there was none.
    pub previous: Option<PathBuf>,
}

/// A restore was refused or failed; the database is as it was.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(
        "rollcall restore puts back a SQLite backup; for PostgreSQL, restore a pg_dump file with pg_restore \
         (docs/backup-and-upgrades.md)"
    )]
    Postgres,
    #[error("cannot read the backup {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{} is not a SQLite database, so not a Rollcall backup; nothing was changed", .0.display())]
    NotADatabase(PathBuf),
    #[error("{} is damaged ({detail}); nothing was changed. Restore an older backup", path.display())]
    Damaged { path: PathBuf, detail: String },
    #[error("{} is a SQLite database but not a Rollcall one; nothing was changed", .0.display())]
    NotRollcall(PathBuf),
    #[error(
        "{} has database schema {schema}, newer than this rollcall {version} knows (it knows up to {known}); \
         nothing was changed. Restore it with the newer Rollcall that made it",
        path.display(),
        version = env!("CARGO_PKG_VERSION")
    )]
    Newer {
        path: PathBuf,
        schema: String,
        known: String,
    },
    #[error("{0}")]
    InUse(#[from] InUseError),
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
}

/// Replaces the SQLite database at `target` with the backup `file`, after checking it.
pub fn restore(target: &DbUrl, file: &Path, progress: &dyn Progress) -> Result<RestoreReport, RestoreError> {
    let DbUrl::Sqlite(database) = target else {
        return Err(RestoreError::Postgres);
    };
    expect_sqlite_header(file)?;
    if let Some(folder) = database.parent().filter(|folder| !folder.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder).map_err(|source| write_error(folder, source))?;
    }
    let _only_user = InUseLock::exclusive(database)?;
    let staged = with_suffix(database, ".restoring");
    remove_with_sidecars(&staged)?;
    let checked = stage(file, &staged, progress).inspect_err(|_| {
        let _ = remove_with_sidecars(&staged);
    })?;
    let previous = keep_previous(database)?;
    std::fs::rename(&staged, database).map_err(|source| write_error(database, source))?;
    sync_folder(database).map_err(|source| write_error(database, source))?;
    Ok(RestoreReport {
        database: database.clone(),
        backup: checked,
        previous,
    })
}

/// Copies the backup to `staged` (flushed to disk) and checks the copy.
fn stage(file: &Path, staged: &Path, progress: &dyn Progress) -> Result<CheckedBackup, RestoreError> {
    let read_error = |source| RestoreError::Read {
        path: file.to_owned(),
        source,
    };
    let source = std::fs::File::open(file).map_err(read_error)?;
    let total = source.metadata().map_err(read_error)?.len();
    progress.step("Copying the backup", Some(total));
    let mut copy = create_private(staged).map_err(|source| write_error(staged, source))?;
    let mut reader = Counted {
        inner: source,
        read: 0,
        progress,
    };
    std::io::copy(&mut reader, &mut copy).map_err(|source| write_error(staged, source))?;
    copy.sync_all().map_err(|source| write_error(staged, source))?;
    drop(copy);
    progress.step("Checking the backup", None);
    check(staged).map_err(|refusal| refusal.naming(file))
}

/// Checks a SQLite file as a Rollcall backup this binary can serve. Opens it read-write (SQLite
/// may fold a write-ahead log into it): call it on a copy.
fn check(path: &Path) -> Result<CheckedBackup, RestoreError> {
    let damaged = |detail: String| RestoreError::Damaged {
        path: path.to_owned(),
        detail,
    };
    expect_sqlite_header(path)?;
    let mut conn = DbUrl::Sqlite(path.to_owned())
        .connect()
        .map_err(|e: ConnectError| damaged(e.to_string()))?;
    let DbConnection::Sqlite(inner) = &mut conn else {
        unreachable!("a SQLite URL opens a SQLite connection")
    };
    let problems = integrity_problems(inner).map_err(|e| damaged(e.to_string()))?;
    if !problems.is_empty() {
        return Err(damaged(problems.join("; ")));
    }
    let applied = migrations::applied_versions(&mut conn)
        .map_err(|e| damaged(e.to_string()))?
        .unwrap_or_default();
    let known = migrations::known_versions();
    // Every Rollcall database starts with Rollcall's first migration.
    if known.first().is_none_or(|first| !applied.contains(first)) {
        return Err(RestoreError::NotRollcall(path.to_owned()));
    }
    if let Some(newest) = migrations::unknown_versions(&applied).pop() {
        return Err(RestoreError::Newer {
            path: path.to_owned(),
            schema: newest,
            known: migrations::latest_known_version(),
        });
    }
    // Leave one file: the write-ahead log folded in, the connection closed.
    conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE);")
        .map_err(|e| damaged(e.to_string()))?;
    drop(conn);
    for sidecar in SIDECARS {
        remove_if_present(&with_suffix(path, sidecar)).map_err(|source| write_error(path, source))?;
    }
    Ok(CheckedBackup {
        schema: applied.last().cloned().unwrap_or_default(),
        pending: known.into_iter().filter(|version| !applied.contains(version)).collect(),
    })
}

/// What `PRAGMA integrity_check` finds wrong, at most 10 lines; empty when the file is sound.
fn integrity_problems(conn: &mut diesel::SqliteConnection) -> QueryResult<Vec<String>> {
    #[derive(QueryableByName)]
    struct Line {
        #[diesel(sql_type = Text)]
        integrity_check: String,
    }
    let lines: Vec<Line> = diesel::sql_query("PRAGMA integrity_check(10)").load(conn)?;
    Ok(lines
        .into_iter()
        .map(|line| line.integrity_check)
        .filter(|line| line != "ok")
        .collect())
}

fn expect_sqlite_header(path: &Path) -> Result<(), RestoreError> {
    let mut header = [0u8; 16];
    let read = std::fs::File::open(path).and_then(|mut file| file.read_exact(&mut header));
    match read {
        Ok(()) if &header == SQLITE_HEADER => Ok(()),
        Err(e) if e.kind() != std::io::ErrorKind::UnexpectedEof => Err(RestoreError::Read {
            path: path.to_owned(),
            source: e,
        }),
        _ => Err(RestoreError::NotADatabase(path.to_owned())),
    }
}

/// Keeps the database about to be replaced as `<database>.before-restore-<time>`: a second name
/// for the same file (a copy where the file system has no hard links), with its write-ahead log
/// or journal moved beside it under the name SQLite looks for. The live name keeps the old
/// database until the rename that follows.
fn keep_previous(database: &Path) -> Result<Option<PathBuf>, RestoreError> {
    if !database.exists() {
        for sidecar in SIDECARS {
            remove_if_present(&with_suffix(database, sidecar)).map_err(|source| write_error(database, source))?;
        }
        return Ok(None);
    }
    // Fold the write-ahead log into the file, so the file alone is the whole previous database.
    // A damaged database (a common reason to restore) may refuse: then its log moves with it.
    if let Ok(mut conn) = DbUrl::Sqlite(database.to_owned()).connect() {
        let _ = conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE);");
    }
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    // A second restore within the same second must not replace the first one's copy.
    let previous = (1..)
        .map(|n| match n {
            1 => with_suffix(database, &format!(".before-restore-{stamp}")),
            n => with_suffix(database, &format!(".before-restore-{stamp}-{n}")),
        })
        .find(|name| !name.exists())
        .unwrap_or_else(|| unreachable!("an unbounded range ends only when a name is free"));
    if std::fs::hard_link(database, &previous).is_err() {
        std::fs::copy(database, &previous).map_err(|source| write_error(&previous, source))?;
    }
    for sidecar in SIDECARS {
        let live = with_suffix(database, sidecar);
        let keeps_data = sidecar != "-shm" && std::fs::metadata(&live).is_ok_and(|m| m.len() > 0);
        if keeps_data {
            std::fs::rename(&live, with_suffix(&previous, sidecar)).map_err(|source| write_error(&live, source))?;
        } else {
            remove_if_present(&live).map_err(|source| write_error(&live, source))?;
        }
    }
    Ok(Some(previous))
}

fn remove_with_sidecars(path: &Path) -> Result<(), RestoreError> {
    for suffix in std::iter::once("").chain(SIDECARS) {
        let file = with_suffix(path, suffix);
        remove_if_present(&file).map_err(|source| write_error(&file, source))?;
    }
    Ok(())
}

fn write_error(path: &Path, source: std::io::Error) -> RestoreError {
    RestoreError::Write {
        path: path.to_owned(),
        source,
    }
}

impl RestoreError {
    /// A refusal found on the staged copy, told about the file the person named.
    fn naming(self, file: &Path) -> RestoreError {
        let path = file.to_owned();
        match self {
            RestoreError::NotADatabase(_) => RestoreError::NotADatabase(path),
            RestoreError::Damaged { detail, .. } => RestoreError::Damaged { path, detail },
            RestoreError::NotRollcall(_) => RestoreError::NotRollcall(path),
            RestoreError::Newer { schema, known, .. } => RestoreError::Newer { path, schema, known },
            other => other,
        }
    }
}

/// A reader that reports how much has been read.
struct Counted<'a, R> {
    inner: R,
    read: u64,
    progress: &'a dyn Progress,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        self.progress.done(self.read);
        Ok(n)
    }
}
