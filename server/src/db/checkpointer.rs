//! SQLite only: the background thread that copies the write-ahead log into the database file.

use super::{ConnectError, Db, DbConnection, DbUrl};
use diesel::connection::SimpleConnection;
use std::time::Duration;

/// How often the checkpointer copies the write-ahead log into the database file. Often, so each
/// copy is small: a checkpoint ends with an fsync of the database file, and a commit's fsync of
/// the log waits behind it on the disk. Under the push benchmark, checkpoints every 250 ms (or
/// 1 s) stalled commits for 30–50 ms and put p99 at 44–55 ms; every 25 ms it is 21–26 ms. When
/// nothing changed, a checkpoint only reads the log's header.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(25);

/// SQLite only: a thread that checkpoints the write-ahead log in the background (PASSIVE: it
/// never blocks the writer or readers). Stops, after a last checkpoint, when dropped.
#[derive(Debug)]
pub struct Checkpointer {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread for a SQLite database; `None` for PostgreSQL, which checkpoints itself.
    pub fn start(db: &Db) -> Result<Option<Checkpointer>, ConnectError> {
        if !matches!(db.url, DbUrl::Sqlite(_)) {
            return Ok(None);
        }
        let mut conn = db.connect()?;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("rollcall-checkpoint".to_owned())
            .spawn(move || {
                let checkpoint = |conn: &mut DbConnection| {
                    if let Err(e) = conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE);") {
                        tracing::warn!(error = %e, "checkpointing the SQLite write-ahead log failed; will retry");
                    }
                };
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY) {
                    checkpoint(&mut conn);
                }
                checkpoint(&mut conn);
            })
            .map_err(|e| ConnectError::Thread(e.to_string()))?;
        Ok(Some(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        }))
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
