//! The `rollcall` command line: `serve`, `user add`, `demo`.

pub mod demo;
mod serve;
mod user;

use crate::db::{Db, DbConnection};
use crate::settings::{ENV_HELP, Settings, SettingsError};
use clap::{Args, Parser, Subcommand};
use serve::ServeArgs;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use user::UserCommand;

#[derive(Debug, Parser)]
#[command(name = "rollcall", version, about = "Rollcall: offline-first attendance for schools", after_help = ENV_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API and the web app.
    #[command(after_help = ENV_HELP)]
    Serve(ServeArgs),
    /// Manage user accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Seed the demo school (logins admin, teacher1…teacher4, password `rollcall-demo`) into an
    /// empty database. Does nothing if the demo school is already there.
    Demo(DbArgs),
}

/// Where the data lives; flags win over ROLLCALL_DATA_DIR and ROLLCALL_DB.
#[derive(Debug, Args)]
pub(super) struct DbArgs {
    /// Data directory (SQLite database, signing key).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB. Prefer ROLLCALL_DB for URLs
    /// with a password: command lines are visible to other users of the machine.
    #[arg(long, value_name = "URL")]
    db: Option<String>,
}

fn settings(db: &DbArgs, bind: Option<SocketAddr>) -> Result<Settings, SettingsError> {
    let mut settings = Settings::default().apply_env(std::env::vars())?;
    if let Some(dir) = &db.data_dir {
        settings.data_dir = dir.clone();
    }
    if let Some(url) = &db.db {
        settings.database_url = Some(crate::settings::Secret::new(url.clone()));
    }
    if let Some(bind) = bind {
        settings.bind = bind;
    }
    settings.validate()?;
    Ok(settings)
}

/// Runs the command line; the binary's `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Demo(args) => demo::run(args),
        Command::User {
            command: UserCommand::Add(args),
        } => user::add(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("rollcall: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The database the command names, schema up to date, as one connection.
fn open_db(settings: &Settings) -> Result<DbConnection, String> {
    let db = Db::open(settings.db_url(), 1).map_err(|e| e.to_string())?;
    db.connect().map_err(|e| e.to_string())
}
