//! Backups while serving (`--backup-every`, `--backup-keep`, `--backup-dir`): a thread of the
//! server that writes `rollcall-<UTC time>.db` (`.pgdump` on PostgreSQL) into the backup folder
//! whenever the newest one there is older than the interval, then deletes the oldest beyond the
//! count to keep. Only files named that way are ever deleted.
//!
//! A server that was down when a backup was due makes it as soon as it starts. A backup that
//! fails is logged at ERROR and tried again after [`RETRY_AFTER`] (or the interval, if shorter).

use super::{BackupError, backup};
use crate::db::DbUrl;
use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::Duration;

/// How long after a failed backup the next attempt comes.
pub const RETRY_AFTER: Duration = Duration::from_secs(10 * 60);
/// The time in a backup's name: sorts like the clock, no character a file system refuses.
const STAMP_FORMAT: &str = "%Y%m%dT%H%M%S%.3fZ";
const NAME_PREFIX: &str = "rollcall-";

/// When and where the server backs up.
#[derive(Debug, Clone)]
pub struct BackupSchedule {
    pub every: Duration,
    /// How many backups the folder keeps; at least 1.
    pub keep: u32,
    pub folder: PathBuf,
}

/// When the newest backup in the backup folder was made; `None` before the first. Shared with
/// whoever reports it (monitoring); [`LastBackup::subscribe`] tells of each new one.
#[derive(Debug, Clone, Default)]
pub struct LastBackup(Arc<tokio::sync::watch::Sender<Option<DateTime<Utc>>>>);

impl LastBackup {
    pub fn get(&self) -> Option<DateTime<Utc>> {
        *self.0.borrow()
    }

    /// A receiver that sees every later backup.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<Option<DateTime<Utc>>> {
        self.0.subscribe()
    }

    fn set(&self, at: DateTime<Utc>) {
        self.0.send_replace(Some(at));
    }
}

/// The scheduler thread; stops (after a backup in progress) when dropped.
#[derive(Debug)]
pub struct BackupScheduler {
    backups: Backups,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Asks the scheduler for a backup now (what the timer does when one is due).
#[derive(Debug, Clone)]
pub struct Backups {
    requests: mpsc::Sender<Request>,
    last: LastBackup,
}

enum Request {
    Now(tokio::sync::oneshot::Sender<Result<PathBuf, String>>),
    Stop,
}

impl Backups {
    /// Makes a backup now, as a due one is made (name, retention, [`LastBackup`]); returns its path.
    pub async fn run_now(&self) -> Result<PathBuf, String> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.requests
            .send(Request::Now(reply))
            .map_err(|_| "the backup scheduler has stopped".to_owned())?;
        answer
            .await
            .map_err(|_| "the backup scheduler has stopped".to_owned())?
    }

    pub fn last(&self) -> &LastBackup {
        &self.last
    }
}

impl BackupScheduler {
    /// Checks that backups of `url` can be made (PostgreSQL: pg_dump is there), before a server
    /// that would fail at its first scheduled backup starts at all.
    pub fn check(url: &DbUrl) -> Result<(), BackupError> {
        match url {
            DbUrl::Sqlite(_) => Ok(()),
            DbUrl::Postgres(_) => super::pg_dump_available(),
        }
    }

    /// Starts the thread. `last` learns of the newest backup already in the folder at once.
    pub fn start(url: DbUrl, schedule: BackupSchedule, last: LastBackup) -> Result<BackupScheduler, BackupError> {
        let extension = extension(&url);
        if let Some(newest) = existing(&schedule.folder, extension).last() {
            last.set(newest.0);
        }
        let (requests, incoming) = mpsc::channel();
        let backups = Backups {
            requests,
            last: last.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("rollcall-backup".to_owned())
            .spawn(move || {
                let mut next = next_due(last.get(), schedule.every, Utc::now());
                loop {
                    let wait = (next - Utc::now()).to_std().unwrap_or(Duration::ZERO);
                    let reply = match incoming.recv_timeout(wait) {
                        Ok(Request::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
                        Ok(Request::Now(reply)) => Some(reply),
                        Err(mpsc::RecvTimeoutError::Timeout) => None,
                    };
                    let made = back_up_once(&url, &schedule, &last);
                    next = match &made {
                        Ok(_) => next_due(last.get(), schedule.every, Utc::now()),
                        Err(error) => {
                            let retry = schedule.every.min(RETRY_AFTER);
                            tracing::error!(
                                %error,
                                retry_in_secs = retry.as_secs(),
                                "the scheduled backup failed; see docs/backup-and-upgrades.md"
                            );
                            Utc::now() + retry
                        }
                    };
                    if let Some(reply) = reply {
                        let _ = reply.send(made.map_err(|e| e.to_string()));
                    }
                }
            })
            .map_err(|source| BackupError::Write {
                path: PathBuf::from("(a thread)"),
                source,
            })?;
        Ok(BackupScheduler {
            backups,
            thread: Some(thread),
        })
    }

    pub fn backups(&self) -> Backups {
        self.backups.clone()
    }
}

impl Drop for BackupScheduler {
    fn drop(&mut self) {
        let _ = self.backups.requests.send(Request::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// When the next backup is due: an interval after the last one, or now if that has passed.
pub fn next_due(last: Option<DateTime<Utc>>, every: Duration, now: DateTime<Utc>) -> DateTime<Utc> {
    let every = chrono::Duration::from_std(every).unwrap_or(chrono::Duration::MAX);
    match last.and_then(|last| last.checked_add_signed(every)) {
        Some(due) if due > now => due,
        _ => now,
    }
}

/// One backup into the folder, then the oldest beyond the count deleted.
fn back_up_once(url: &DbUrl, schedule: &BackupSchedule, last: &LastBackup) -> Result<PathBuf, BackupError> {
    let write_error = |source| BackupError::Write {
        path: schedule.folder.clone(),
        source,
    };
    std::fs::create_dir_all(&schedule.folder).map_err(write_error)?;
    let extension = extension(url);
    // To the millisecond, as in the name; two backups within one millisecond (asked for by
    // hand) get two names.
    let mut at = Utc::now().trunc_subsecs(3);
    while let Some(previous) = last.get().filter(|previous| *previous >= at) {
        at = previous + chrono::Duration::milliseconds(1);
    }
    let dest = schedule.folder.join(name(at, extension));
    let started = std::time::Instant::now();
    let report = backup(url, &dest, &())?;
    last.set(at);
    tracing::info!(
        file = %dest.display(),
        bytes = report.bytes,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "backup written"
    );
    let backups = existing(&schedule.folder, extension);
    let surplus = backups.len().saturating_sub(schedule.keep.max(1) as usize);
    for (_, old) in &backups[..surplus] {
        match std::fs::remove_file(old) {
            Ok(()) => tracing::info!(file = %old.display(), keep = schedule.keep, "old backup deleted"),
            Err(error) => tracing::warn!(file = %old.display(), %error, "cannot delete an old backup"),
        }
    }
    Ok(dest)
}

fn extension(url: &DbUrl) -> &'static str {
    match url {
        DbUrl::Sqlite(_) => "db",
        DbUrl::Postgres(_) => "pgdump",
    }
}

/// `rollcall-20261205T101500.123Z.db`
pub fn name(at: DateTime<Utc>, extension: &str) -> String {
    format!("{NAME_PREFIX}{}.{extension}", at.format(STAMP_FORMAT))
}

/// The backups in the folder made by the schedule, oldest first, with their time.
pub fn existing(folder: &Path, extension: &str) -> Vec<(DateTime<Utc>, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    let suffix = format!(".{extension}");
    let mut backups: Vec<_> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let file_name = entry.file_name();
            let stamp = file_name.to_str()?.strip_prefix(NAME_PREFIX)?.strip_suffix(&suffix)?;
            let at = NaiveDateTime::parse_from_str(stamp, STAMP_FORMAT).ok()?.and_utc();
            Some((at, entry.path()))
        })
        .collect();
    backups.sort();
    backups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_is_due_an_interval_after_the_last_or_at_once() {
        let now = Utc::now();
        let day = Duration::from_secs(24 * 3600);
        assert_eq!(next_due(None, day, now), now);
        let an_hour_ago = now - chrono::Duration::hours(1);
        assert_eq!(
            next_due(Some(an_hour_ago), day, now),
            an_hour_ago + chrono::Duration::hours(24)
        );
        assert_eq!(next_due(Some(now - chrono::Duration::hours(25)), day, now), now);
        assert_eq!(
            next_due(Some(now), Duration::MAX, now),
            now,
            "an interval past the calendar"
        );
    }

    #[test]
    fn names_carry_their_time_and_nothing_else_is_taken_for_a_backup() {
        let folder = tempfile::tempdir().unwrap();
        let at = DateTime::parse_from_rfc3339("2026-12-05T10:15:00.123Z")
            .unwrap()
            .to_utc();
        assert_eq!(name(at, "db"), "rollcall-20261205T101500.123Z.db");
        for other in [
            "rollcall-20261205T101500.123Z.db.partial",
            "rollcall.db",
            "rollcall-yesterday.db",
            "rollcall-20261205T101500.123Z.pgdump",
        ] {
            std::fs::write(folder.path().join(other), b"").unwrap();
        }
        let later = at + chrono::Duration::days(1);
        std::fs::write(folder.path().join(name(later, "db")), b"").unwrap();
        std::fs::write(folder.path().join(name(at, "db")), b"").unwrap();
        let found: Vec<_> = existing(folder.path(), "db").into_iter().map(|(at, _)| at).collect();
        assert_eq!(found, [at, later]);
    }
}
