//! The `rollcall` command line: `serve`, `user add`, `demo`.

pub mod demo;

use crate::cli::demo::Seeded;
use crate::db::schema::{schools, users};
use crate::db::users::normalize_username;
use crate::db::{Db, DbConnection, now_ms, write_transaction};
use crate::error::AppError;
use crate::security::passwords;
use crate::settings::{ENV_HELP, Settings, SettingsError};
use clap::{Args, Parser, Subcommand, ValueEnum};
use diesel::prelude::*;
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

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
struct DbArgs {
    /// Data directory (SQLite database, signing key).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB. Prefer ROLLCALL_DB for URLs
    /// with a password: command lines are visible to other users of the machine.
    #[arg(long, value_name = "URL")]
    db: Option<String>,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address and port to listen on, e.g. 0.0.0.0:8080 for the whole LAN.
    #[arg(long, value_name = "ADDR")]
    bind: Option<SocketAddr>,
    #[command(flatten)]
    db: DbArgs,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add an admin or a teacher. Without --password-stdin a password is generated and printed
    /// once.
    Add(UserAddArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RoleArg {
    Admin,
    Teacher,
}

#[derive(Debug, Args)]
struct UserAddArgs {
    /// Login name (case-insensitive, no spaces).
    #[arg(long)]
    username: String,
    #[arg(long, value_enum)]
    role: RoleArg,
    /// Name shown in the app; defaults to the username.
    #[arg(long)]
    display_name: Option<String>,
    /// The school to add the user to. Needed when the database holds several schools; on an
    /// empty database a school of this name is created.
    #[arg(long)]
    school: Option<String>,
    /// Read the password from the first line of standard input instead of generating one.
    #[arg(long)]
    password_stdin: bool,
    #[command(flatten)]
    db: DbArgs,
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
        Command::Serve(args) => serve(args),
        Command::Demo(args) => seed_demo(args),
        Command::User {
            command: UserCommand::Add(args),
        } => add_user(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("rollcall: {message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs) -> Result<(), String> {
    let settings = settings(&args.db, args.bind).map_err(|e| e.to_string())?;
    crate::logging::init(&settings.log);
    let bind = settings.bind;
    actix_web::rt::System::new().block_on(async move {
        let listener = std::net::TcpListener::bind(bind).map_err(|e| {
            format!("cannot listen on {bind}: {e}; is another server using that port? Pick another with --bind")
        })?;
        let server = crate::launch(settings, listener).map_err(|e| e.to_string())?;
        println!("Rollcall is running at http://{}/", server.addr);
        let stop = server.stop_handle();
        actix_web::rt::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutting down: finishing requests in flight");
            stop.stop().await;
        });
        server.wait().await.map_err(|e| e.to_string())
    })
}

/// Ctrl-C or SIGTERM (what systemd and `docker stop` send).
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use actix_web::rt::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = actix_web::rt::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = actix_web::rt::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = actix_web::rt::signal::ctrl_c().await;
    }
}

fn open_db(settings: &Settings) -> Result<DbConnection, String> {
    let db = Db::open(settings.db_url(), 1).map_err(|e| e.to_string())?;
    db.connect().map_err(|e| e.to_string())
}

fn seed_demo(args: DbArgs) -> Result<(), String> {
    let settings = settings(&args, None).map_err(|e| e.to_string())?;
    crate::logging::init("warn");
    let mut conn = open_db(&settings)?;
    match demo::seed(&mut conn, chrono::Local::now().date_naive()).map_err(|e| e.to_string())? {
        Seeded::Created { students } => {
            println!("Seeded {} with {students} students.", demo::DEMO_SCHOOL_NAME);
            println!(
                "Demo logins (demo data only): {} and {}, all with the password {}",
                demo::DEMO_ADMIN,
                demo::DEMO_TEACHERS.map(|(username, _)| username).join(", "),
                demo::DEMO_PASSWORD
            );
        }
        Seeded::AlreadyPresent => println!("demo school already present"),
        Seeded::OtherSchoolPresent(name) => {
            println!("the database already holds the school {name:?}; the demo is only seeded into an empty database")
        }
    }
    Ok(())
}

fn add_user(args: UserAddArgs) -> Result<(), String> {
    let settings = settings(&args.db, None).map_err(|e| e.to_string())?;
    crate::logging::init("warn");
    let username = normalize_username(&args.username);
    if username.is_empty() || username.len() > 64 || username.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("a username is 1 to 64 characters with no spaces or control characters".to_owned());
    }
    let (password, generated) = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
        let password = line.trim_end_matches(['\r', '\n']).to_owned();
        if password.chars().count() < 8 {
            return Err("the password must be at least 8 characters".to_owned());
        }
        (password, false)
    } else {
        (passwords::generate(), true)
    };
    let hash = passwords::hash(&password).map_err(|e| format!("cannot hash the password: {e}"))?;
    let role = match args.role {
        RoleArg::Admin => "admin",
        RoleArg::Teacher => "teacher",
    };
    let display_name = args.display_name.clone().unwrap_or_else(|| username.clone());
    let mut conn = open_db(&settings)?;
    let school = write_transaction(&mut conn, |conn| {
        let school = pick_school(conn, args.school.as_deref())?;
        let taken = users::table
            .filter(users::username.eq(&username))
            .count()
            .get_result::<i64>(conn)?;
        if taken > 0 {
            return Err(AppError::Conflict(format!(
                "the username {username:?} is already taken"
            )));
        }
        diesel::insert_into(users::table)
            .values((
                users::id.eq(uuid::Uuid::new_v4().to_string()),
                users::school_id.eq(&school.0),
                users::username.eq(&username),
                users::display_name.eq(&display_name),
                users::role.eq(role),
                users::password_hash.eq(&hash),
                users::created_at.eq(now_ms()),
            ))
            .execute(conn)?;
        Ok(school)
    })
    .map_err(|e: AppError| e.to_string())?;
    println!("Added {role} {username} to {}.", school.1);
    if generated {
        println!("Password (shown only now, write it down): {password}");
    }
    Ok(())
}

/// (id, name) of the school to add a user to, creating it on an empty database.
fn pick_school(conn: &mut DbConnection, wanted: Option<&str>) -> Result<(String, String), AppError> {
    let all = schools::table
        .select((schools::id, schools::name))
        .load::<(String, String)>(conn)?;
    match (wanted, all.as_slice()) {
        (Some(name), _) => {
            if let Some(found) = all.iter().find(|(_, n)| n == name) {
                return Ok(found.clone());
            }
            if !all.is_empty() {
                let names: Vec<&str> = all.iter().map(|(_, n)| n.as_str()).collect();
                return Err(AppError::NotFound(format!(
                    "there is no school {name:?}; the schools are: {}",
                    names.join(", ")
                )));
            }
            create_school(conn, name)
        }
        (None, [only]) => Ok(only.clone()),
        (None, []) => create_school(conn, "My School"),
        (None, _) => Err(AppError::BadRequest(
            "the database holds several schools: say which with --school".to_owned(),
        )),
    }
}

fn create_school(conn: &mut DbConnection, name: &str) -> Result<(String, String), AppError> {
    let id = uuid::Uuid::new_v4().to_string();
    diesel::insert_into(schools::table)
        .values((
            schools::id.eq(&id),
            schools::name.eq(name),
            schools::created_at.eq(now_ms()),
        ))
        .execute(conn)?;
    Ok((id, name.to_owned()))
}
