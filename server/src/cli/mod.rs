//! The `rollcall` command line: `serve`, `user add`, `demo`.

pub mod demo;
mod serve;
mod user;

use crate::db::{Db, DbConnection};
use crate::settings::{Settings, Storage};
use clap::{Parser, Subcommand};
use std::process::ExitCode;
use user::UserCommand;

/// After the flags in `--help`: how flags, variables and defaults combine.
const PRECEDENCE: &str = "Every setting can also be given by the ROLLCALL_* environment variable shown next to \
its flag. A flag wins over its variable, which wins over the default.";

#[derive(Debug, Parser)]
#[command(
    name = "rollcall",
    version,
    about = "Rollcall: offline-first attendance for schools",
    after_help = "`rollcall serve --help` lists the settings and their ROLLCALL_* environment variables."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API and the web app.
    #[command(after_help = PRECEDENCE)]
    // Boxed: the settings table is far larger than the other commands' arguments.
    Serve(Box<Settings>),
    /// Manage user accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Seed the demo school (logins admin, teacher1…teacher4, password `rollcall-demo`) into an
    /// empty database. Does nothing if the demo school is already there.
    #[command(after_help = PRECEDENCE)]
    Demo(Storage),
}

/// Runs the command line; the binary's `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(*args),
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
fn open_db(storage: &Storage) -> Result<DbConnection, String> {
    let db = Db::open(storage.db_url(), 1).map_err(|e| e.to_string())?;
    db.connect().map_err(|e| e.to_string())
}
