//! The `rollcall` command line: `serve`, `user add`, `demo`, `config check`, `backup`, `restore`,
//! and the optional configuration file they all read (`--config`).

mod backup;
mod config;
pub mod demo;
mod serve;
mod user;

use crate::db::{Db, DbConnection};
use crate::settings::file::ConfigFile;
use crate::settings::{Settings, Storage};
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use user::UserCommand;

/// After the flags in `--help`: how the file, flags, variables and defaults combine.
const PRECEDENCE: &str = "Every setting can also be given by the ROLLCALL_* environment variable shown next to \
its flag, or in the file named by --config (the flag's name without dashes as the key). A flag wins over its \
variable, which wins over the file, which wins over the default.";

#[derive(Debug, Parser)]
#[command(
    name = "rollcall",
    version,
    about = "Rollcall: offline-first attendance for schools",
    after_help = "`rollcall serve --help` lists the settings and their ROLLCALL_* environment variables."
)]
struct Cli {
    /// Configuration file (TOML) with settings of `rollcall serve`; see docs/rollcall.example.toml
    #[arg(long, global = true, env = CONFIG_ENV, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// The variable naming the configuration file, as `--config` does.
const CONFIG_ENV: &str = "ROLLCALL_CONFIG";

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
    /// Check the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Write a consistent backup of the database to FILE, while the server is serving. SQLite
    /// copies the database; PostgreSQL runs pg_dump (custom format, restore it with pg_restore).
    #[command(after_help = PRECEDENCE)]
    Backup(backup::BackupArgs),
    /// Put a SQLite backup back in place of the database, with the server stopped. The backup is
    /// checked first (not damaged, a Rollcall database, not from a newer Rollcall); the database it
    /// replaces is kept beside it as rollcall.db.before-restore-<time>.
    #[command(after_help = PRECEDENCE)]
    Restore(backup::RestoreArgs),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the settings `rollcall serve` would use and where each came from (secrets
    /// redacted); fails, with the reason, on a setting the server would refuse.
    #[command(after_help = PRECEDENCE)]
    // Boxed, as `Serve`'s: the settings table is far larger than the other commands' arguments.
    Check(Box<Settings>),
}

/// Runs the command line; the binary's `main`.
pub fn main() -> ExitCode {
    let result = parse(std::env::args_os().collect()).and_then(|(cli, matches, file)| match cli.command {
        Command::Serve(settings) => {
            validate(&settings, file.as_ref())?;
            serve::run(*settings)
        }
        Command::Demo(args) => demo::run(args),
        Command::Backup(args) => backup::run_backup(args),
        Command::Restore(args) => backup::run_restore(args),
        Command::User {
            command: UserCommand::Add(args),
        } => user::add(args),
        Command::Config {
            command: ConfigCommand::Check(settings),
        } => {
            let check = matches
                .subcommand_matches("config")
                .and_then(|config| config.subcommand_matches("check"))
                .expect("`config check` was parsed");
            config::check(&settings, check, file.as_ref())
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("rollcall: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The settings' bounds (see [`Settings::validate`]), an error naming the file's line when the
/// refused value came from the file.
fn validate(settings: &Settings, file: Option<&ConfigFile>) -> Result<(), String> {
    settings.validate().map_err(|error| match file {
        Some(file) => file.explain(&error),
        None => error.to_string(),
    })
}

/// Parses the command line with the configuration file's values as the defaults; `--help`,
/// `--version` and usage errors exit here, as clap does.
fn parse(args: Vec<OsString>) -> Result<(Cli, ArgMatches, Option<ConfigFile>), String> {
    // `rollcall --version` also names the schema this binary brings a database to.
    let version = format!(
        "{} (database schema {})",
        env!("CARGO_PKG_VERSION"),
        crate::db::migrations::latest_known_version()
    );
    let mut command = Cli::command().version(version);
    let file = match config_path(&args) {
        Some(path) => Some(ConfigFile::read(&path, &Settings::command()).map_err(|e| e.to_string())?),
        None => None,
    };
    if let Some(file) = &file {
        command = command.mut_subcommands(|sub| apply_to_all(file, sub));
    }
    let matches = command.get_matches_from(args);
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    Ok((cli, matches, file))
}

/// `command` and its subcommands, with the file's values as defaults wherever they have the setting.
fn apply_to_all(file: &ConfigFile, command: clap::Command) -> clap::Command {
    file.apply(command).mut_subcommands(|sub| apply_to_all(file, sub))
}

/// The configuration file named by `--config FILE`, `--config=FILE` or `ROLLCALL_CONFIG`, found
/// before clap parses (its values must be in place by then).
fn config_path(args: &[OsString]) -> Option<PathBuf> {
    let mut rest = args.iter().skip(1);
    while let Some(arg) = rest.next() {
        if arg == "--" {
            break;
        }
        if arg == "--config" {
            return rest.next().map(PathBuf::from);
        }
        if let Some(path) = arg.to_str().and_then(|arg| arg.strip_prefix("--config=")) {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os(CONFIG_ENV)
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
}

/// The database the command names, schema up to date, as one connection.
fn open_db(storage: &Storage) -> Result<DbConnection, String> {
    let db = Db::open(storage.db_url(), 1).map_err(|e| e.to_string())?;
    db.connect().map_err(|e| e.to_string())
}
