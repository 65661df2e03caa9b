//! Backups of a live database (docs/backup-and-upgrades.md): `rollcall backup`, the server's
//! scheduled backups ([`schedule`]) and `rollcall restore` ([`restore`]).
//!
//! - SQLite: `VACUUM INTO` on a connection of its own. It reads one consistent snapshot (a read
//!   transaction, which in WAL mode never holds up the push writer) and writes a compact copy;
//!   every commit acknowledged before it started is in the copy.
//! - PostgreSQL: `pg_dump --format=custom`, which also reads one snapshot; `pg_restore` restores it.
//!
//! Either way the copy is written beside its destination as `FILE.partial` and renamed when
//! complete and on disk, so a file with the destination's name is always a whole backup. Only
//! its owner may read it (mode 0600).

pub mod restore;
pub mod schedule;

use super::in_use::{InUseError, InUseLock};
use super::{ConnectError, DbConnection, DbUrl, migrations};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How often a long copy reports how far it has got.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// What a long backup or restore tells the person waiting: the command line draws it, the
/// server's scheduled backups tell nobody (`&()`).
pub trait Progress: Sync {
    /// A new step begins (`what` it does), with its size in bytes when known.
    fn step(&self, what: &str, total: Option<u64>);
    /// Bytes done so far in the current step.
    fn done(&self, bytes: u64);
}

impl Progress for () {
    fn step(&self, _what: &str, _total: Option<u64>) {}
    fn done(&self, _bytes: u64) {}
}

/// A backup that was written.
#[derive(Debug, Clone)]
pub struct BackupReport {
    /// Its size in bytes.
    pub bytes: u64,
    /// The schema version of the database it holds.
    pub schema: Option<String>,
}

/// A backup could not be made. Nothing was written at the destination.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("there is no database at {}: check --data-dir and --db", .0.display())]
    NoDatabase(PathBuf),
    #[error("cannot back up to {}: the folder {} does not exist", path.display(), folder.display())]
    NoFolder { path: PathBuf, folder: PathBuf },
    #[error("cannot back up to {}: SQLite takes only file names written in UTF-8", .0.display())]
    NotUtf8(PathBuf),
    #[error("{0}")]
    Connect(#[from] ConnectError),
    #[error("{0}")]
    InUse(#[from] InUseError),
    #[error("the backup failed while copying the database: {0}")]
    Copy(#[from] diesel::result::Error),
    #[error("cannot write the backup {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error(
        "pg_dump was not found: backing up PostgreSQL needs the PostgreSQL client tools on PATH \
         (Debian: apt-get install postgresql-client, of the server's major version or newer), or run \
         pg_dump yourself (docs/backup-and-upgrades.md)"
    )]
    PgDumpMissing,
    #[error("pg_dump failed ({status}): {stderr}")]
    PgDump { status: String, stderr: String },
    #[error("the PostgreSQL URL cannot be read: {0}")]
    PgUrl(String),
}

/// Writes a consistent backup of the database at `url` to `dest` while the server may be
/// serving, replacing `dest` once the backup is complete.
pub fn backup(url: &DbUrl, dest: &Path, progress: &dyn Progress) -> Result<BackupReport, BackupError> {
    if let Some(folder) = dest.parent().filter(|folder| !folder.as_os_str().is_empty())
        && !folder.is_dir()
    {
        return Err(BackupError::NoFolder {
            path: dest.to_owned(),
            folder: folder.to_owned(),
        });
    }
    let partial = with_suffix(dest, ".partial");
    remove_if_present(&partial).map_err(|source| write_error(&partial, source))?;
    // Empty, so that VACUUM INTO and pg_dump write into it and it keeps its permissions.
    create_private(&partial).map_err(|source| write_error(&partial, source))?;
    let result = match url {
        DbUrl::Sqlite(path) => snapshot_sqlite(path, &partial, progress),
        DbUrl::Postgres(url) => snapshot_postgres(url, &partial, progress),
    };
    let schema = match result {
        Ok(schema) => schema,
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            return Err(error);
        }
    };
    let bytes = finish_file(&partial, dest).map_err(|source| {
        let _ = std::fs::remove_file(&partial);
        write_error(dest, source)
    })?;
    progress.done(bytes);
    Ok(BackupReport { bytes, schema })
}

/// SQLite: `VACUUM INTO` the partial file, reporting its growth against the database's size.
fn snapshot_sqlite(path: &Path, partial: &Path, progress: &dyn Progress) -> Result<Option<String>, BackupError> {
    if !path.is_file() {
        return Err(BackupError::NoDatabase(path.to_owned()));
    }
    let target = partial
        .to_str()
        .ok_or_else(|| BackupError::NotUtf8(partial.to_owned()))?
        .to_owned();
    let _in_use = InUseLock::shared(path)?;
    let mut conn = DbUrl::Sqlite(path.to_owned()).connect()?;
    let schema = migrations::schema_version(&mut conn)?;
    let DbConnection::Sqlite(inner) = &mut conn else {
        unreachable!("a SQLite URL opens a SQLite connection")
    };
    progress.step("Backing up", Some(sqlite_used_bytes(inner)?));
    let (finished, running) = mpsc::channel::<()>();
    std::thread::scope(|scope| {
        // VACUUM INTO says nothing until it is done: the size of what it has written so far is
        // the progress.
        scope.spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = running.recv_timeout(PROGRESS_EVERY) {
                progress.done(std::fs::metadata(partial).map_or(0, |m| m.len()));
            }
        });
        let copied = diesel::sql_query("VACUUM INTO ?")
            .bind::<Text, _>(&target)
            .execute(inner);
        drop(finished);
        copied
    })?;
    Ok(schema)
}

/// The bytes of a SQLite database that hold data (free pages are not copied by `VACUUM INTO`).
pub(crate) fn sqlite_used_bytes(conn: &mut diesel::SqliteConnection) -> QueryResult<u64> {
    #[derive(QueryableByName)]
    struct Pages {
        #[diesel(sql_type = BigInt)]
        used: i64,
    }
    let pages: Pages = diesel::sql_query(
        "SELECT (page_count - freelist_count) * page_size AS used \
         FROM pragma_page_count(), pragma_freelist_count(), pragma_page_size()",
    )
    .get_result(conn)?;
    Ok(u64::try_from(pages.used).unwrap_or(0))
}

/// PostgreSQL: `pg_dump --format=custom` into the partial file. The password is handed over in
/// pg_dump's environment, never on its command line (which every user of the machine can see).
fn snapshot_postgres(url: &str, partial: &Path, progress: &dyn Progress) -> Result<Option<String>, BackupError> {
    let schema = DbUrl::Postgres(url.to_owned())
        .connect()
        .map_err(BackupError::from)
        .and_then(|mut conn| Ok(migrations::schema_version(&mut conn)?))?;
    let (url, password) = without_password(url)?;
    let mut command = Command::new("pg_dump");
    command
        .arg("--format=custom")
        .arg("--file")
        .arg(partial)
        .arg("--dbname")
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    let child = command.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => BackupError::PgDumpMissing,
        _ => write_error(partial, e),
    })?;
    progress.step("Backing up (pg_dump)", None);
    let (finished, running) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let _ = finished.send(child.wait_with_output());
    });
    let output = loop {
        match running.recv_timeout(PROGRESS_EVERY) {
            Ok(output) => break output,
            Err(mpsc::RecvTimeoutError::Timeout) => progress.done(std::fs::metadata(partial).map_or(0, |m| m.len())),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break Err(std::io::Error::other("the thread waiting for pg_dump stopped"));
            }
        }
    };
    let _ = waiter.join();
    let output = output.map_err(|e| write_error(partial, e))?;
    if !output.status.success() {
        return Err(BackupError::PgDump {
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(schema)
}

/// Checks that pg_dump can be run, for a server that will back up PostgreSQL on a schedule.
pub fn pg_dump_available() -> Result<(), BackupError> {
    match Command::new("pg_dump").arg("--version").stdout(Stdio::null()).status() {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(BackupError::PgDumpMissing),
        Err(e) => Err(BackupError::PgDump {
            status: "not started".to_owned(),
            stderr: e.to_string(),
        }),
    }
}

/// The URL without its password, and the password (percent-decoded, as libpq reads it).
fn without_password(url: &str) -> Result<(String, Option<String>), BackupError> {
    let mut parsed = url::Url::parse(url).map_err(|e| BackupError::PgUrl(e.to_string()))?;
    let Some(password) = parsed.password().map(str::to_owned) else {
        return Ok((url.to_owned(), None));
    };
    parsed
        .set_password(None)
        .map_err(|()| BackupError::PgUrl("it has a password but no host".to_owned()))?;
    let password = percent_encoding::percent_decode_str(&password)
        .decode_utf8_lossy()
        .into_owned();
    Ok((parsed.to_string(), Some(password)))
}

/// `path` with `suffix` added to its file name: `rollcall.db` → `rollcall.db.partial`.
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Creates (or empties) a file only its owner may read: a backup holds every student's
/// attendance and every password hash.
pub(crate) fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Puts a finished file in place: flushed to disk, renamed over `dest`, and the rename itself made
/// durable (the folder flushed). Returns its size.
pub(crate) fn finish_file(written: &Path, dest: &Path) -> std::io::Result<u64> {
    let file = std::fs::File::open(written)?;
    file.sync_all()?;
    let bytes = file.metadata()?.len();
    drop(file);
    std::fs::rename(written, dest)?;
    sync_folder(dest)?;
    Ok(bytes)
}

/// Flushes the folder holding `path`, so that a rename or a new name in it survives a power cut.
pub(crate) fn sync_folder(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let folder = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::File::open(folder)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

pub(crate) fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn write_error(path: &Path, source: std::io::Error) -> BackupError {
    BackupError::Write {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_leaves_the_url() {
        let (url, password) =
            without_password("postgres://rollcall:p%40ss%3Aword@db.lan:5433/rollcall?sslmode=require").unwrap();
        assert_eq!(url, "postgres://rollcall@db.lan:5433/rollcall?sslmode=require");
        assert_eq!(password.as_deref(), Some("p@ss:word"));
        let (url, password) = without_password("postgres://postgres@127.0.0.1/test").unwrap();
        assert_eq!((url.as_str(), password), ("postgres://postgres@127.0.0.1/test", None));
    }
}
