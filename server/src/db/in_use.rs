//! SQLite only: the lock file beside the database (`rollcall.db.lock`) that says it is in use.
//!
//! Every process that opens the database holds it shared: the server, `rollcall user add` and
//! `rollcall demo` (through [`super::Db::open`]) and `rollcall backup`. `rollcall restore` holds it
//! exclusively while it checks and swaps the file. So a restore never replaces a database under a
//! running server, and a server does not start half-way through a restore. The lock is the
//! kernel's (`flock`), so it goes away with the process that held it, even one that crashed: a
//! lock file left behind means nothing, and it is never deleted.

use fs4::TryLockError;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

/// A hold on the lock file of one SQLite database; let go when dropped.
#[derive(Debug)]
pub struct InUseLock {
    _file: File,
}

/// The lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum InUseError {
    #[error(
        "`rollcall restore` is replacing the database {}; start again once it has finished",
        database.display()
    )]
    BeingRestored { database: PathBuf },
    #[error(
        "the database {} is in use by a running Rollcall server (or `rollcall user add`, `rollcall demo`, \
         `rollcall backup`); stop it first (e.g. `systemctl stop rollcall`), then restore",
        database.display()
    )]
    InUse { database: PathBuf },
    #[error("cannot use the lock file {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

impl InUseLock {
    /// A shared hold, as any process that reads or writes the database takes; refused only while
    /// a restore holds the lock.
    pub fn shared(database: &Path) -> Result<InUseLock, InUseError> {
        take(database, fs4::FileExt::try_lock_shared, || InUseError::BeingRestored {
            database: database.to_owned(),
        })
    }

    /// The only hold, as a restore takes; refused while anything else uses the database.
    pub fn exclusive(database: &Path) -> Result<InUseLock, InUseError> {
        take(database, fs4::FileExt::try_lock, || InUseError::InUse {
            database: database.to_owned(),
        })
    }
}

fn take(
    database: &Path,
    try_lock: fn(&File) -> Result<(), TryLockError>,
    refused: impl FnOnce() -> InUseError,
) -> Result<InUseLock, InUseError> {
    let path = lock_path(database);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| InUseError::Io {
            path: path.clone(),
            source,
        })?;
    match try_lock(&file) {
        Ok(()) => Ok(InUseLock { _file: file }),
        Err(TryLockError::WouldBlock) => Err(refused()),
        Err(TryLockError::Error(source)) => Err(InUseError::Io { path, source }),
    }
}

/// `rollcall.db` → `rollcall.db.lock`.
pub fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}
