//! `rollcall user add`: an admin or a teacher account, with a generated or given password.

use super::open_db;
use crate::db::schema::{schools, users};
use crate::db::users::{UserRow, insert_user, normalize_username};
use crate::db::{DbConnection, now_ms, roster, write_transaction};
use crate::error::AppError;
use crate::security::passwords;
use crate::settings::Storage;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Subcommand};
use diesel::prelude::*;
use rollcall_shared::protocol::{Role, SchoolInfo};
use rollcall_shared::{SchoolId, UserId, VariantArray, WireName};
use std::io::BufRead;
use uuid::Uuid;

#[derive(Debug, Subcommand)]
pub(super) enum UserCommand {
    /// Add an admin or a teacher. Without --password-stdin a password is generated and printed
    /// once.
    Add(UserAddArgs),
}

/// Reads `--role` by the role's one name (`Role::as_str`); `--help` lists the names.
fn role_parser() -> impl TypedValueParser<Value = Role> {
    PossibleValuesParser::new(Role::VARIANTS.iter().map(|role| PossibleValue::new(role.as_str())))
        .try_map(|name| Role::from_name(&name))
}

#[derive(Debug, Args)]
pub(super) struct UserAddArgs {
    /// Login name (case-insensitive, no spaces).
    #[arg(long)]
    username: String,
    #[arg(long, value_parser = role_parser())]
    role: Role,
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
    storage: Storage,
}

pub(super) fn add(args: UserAddArgs) -> Result<(), String> {
    crate::logging::init("warn", crate::logging::LogFormat::Text);
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
    let role = args.role;
    let display_name = args.display_name.clone().unwrap_or_else(|| username.clone());
    let mut conn = open_db(&args.storage)?;
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
        insert_user(
            conn,
            &UserRow {
                id: UserId::from(Uuid::new_v4()),
                school_id: school.id,
                username: username.clone(),
                display_name: display_name.clone(),
                role,
                password_hash: hash.clone(),
                created_at: now_ms(),
                disabled_at: None,
            },
        )?;
        Ok(school)
    })
    .map_err(|e: AppError| e.to_string())?;
    println!("Added {role} {username} to {}.", school.name);
    if generated {
        println!("Password (shown only now, write it down): {password}");
    }
    Ok(())
}

/// The school to add a user to, creating it on an empty database.
fn pick_school(conn: &mut DbConnection, wanted: Option<&str>) -> Result<SchoolInfo, AppError> {
    let all: Vec<SchoolInfo> = schools::table
        .select((schools::id, schools::name))
        .load::<(SchoolId, String)>(conn)?
        .into_iter()
        .map(|(id, name)| SchoolInfo { id, name })
        .collect();
    match (wanted, all.as_slice()) {
        (Some(name), _) => {
            if let Some(found) = all.iter().find(|school| school.name == name) {
                return Ok(found.clone());
            }
            if !all.is_empty() {
                let names: Vec<&str> = all.iter().map(|school| school.name.as_str()).collect();
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

fn create_school(conn: &mut DbConnection, name: &str) -> Result<SchoolInfo, AppError> {
    let school = SchoolInfo {
        id: SchoolId::from(Uuid::new_v4()),
        name: name.to_owned(),
    };
    roster::insert_school(conn, &school, now_ms())?;
    Ok(school)
}
