//! `rollcall backup FILE` and `rollcall restore FILE` (docs/backup-and-upgrades.md). The work is
//! `db::backup`'s; this draws its progress on a terminal (indicatif hides it when stderr is not
//! one, e.g. under cron or systemd) and says what happened.

use crate::db::backup::restore::{RestoreReport, restore};
use crate::db::backup::{Progress, backup};
use crate::db::migrations;
use crate::settings::Storage;
use clap::Args;
use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The backup file to write; one already there is replaced once the backup is complete
    #[arg(value_name = "FILE")]
    file: PathBuf,
    #[command(flatten)]
    storage: Storage,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup to put back (a file written by `rollcall backup` or a scheduled backup)
    #[arg(value_name = "FILE")]
    file: PathBuf,
    #[command(flatten)]
    storage: Storage,
}

/// `rollcall backup FILE`: safe while the server is serving.
pub(super) fn run_backup(args: BackupArgs) -> Result<(), String> {
    let bar = Bar::new();
    let report = backup(&args.storage.db_url(), &args.file, &bar);
    bar.0.finish_and_clear();
    let report = report.map_err(|e| e.to_string())?;
    println!(
        "Backup written to {} ({}, database schema {}).",
        args.file.display(),
        HumanBytes(report.bytes),
        report.schema.as_deref().unwrap_or("none")
    );
    Ok(())
}

/// `rollcall restore FILE`: with the server stopped.
pub(super) fn run_restore(args: RestoreArgs) -> Result<(), String> {
    let bar = Bar::new();
    let report = restore(&args.storage.db_url(), &args.file, &bar);
    bar.0.finish_and_clear();
    let RestoreReport {
        database,
        backup,
        previous,
    } = report.map_err(|e| e.to_string())?;
    println!(
        "Restored {} into {} (database schema {}).",
        args.file.display(),
        database.display(),
        backup.schema
    );
    if let Some(previous) = previous {
        println!("The database it replaced is kept as {}.", previous.display());
    }
    if !backup.pending.is_empty() {
        println!(
            "The server will upgrade it to database schema {} when it starts.",
            migrations::latest_known_version()
        );
    }
    println!("Start the server again.");
    Ok(())
}

/// A progress bar on stderr: bytes against the total when it is known, a spinner otherwise.
struct Bar(ProgressBar);

impl Bar {
    fn new() -> Bar {
        let bar = ProgressBar::new(0);
        bar.enable_steady_tick(Duration::from_millis(120));
        Bar(bar)
    }
}

impl Progress for Bar {
    fn step(&self, what: &str, total: Option<u64>) {
        let template = match total {
            Some(_) => "{msg} [{bar:30}] {bytes}/{total_bytes} ({eta} left)",
            None => "{spinner} {msg} {prefix}",
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            self.0.set_style(style.progress_chars("=> "));
        }
        self.0.set_length(total.unwrap_or(0));
        self.0.set_position(0);
        self.0.set_prefix("");
        self.0.set_message(what.to_owned());
    }

    fn done(&self, bytes: u64) {
        self.0.set_position(bytes);
        if self.0.length().unwrap_or(0) == 0 {
            // No total to measure against (pg_dump): how much is written so far.
            self.0.set_prefix(HumanBytes(bytes).to_string());
        }
    }
}
