//! `rollcall config check`: the settings `rollcall serve` would start with, where each came from,
//! and whether the server would accept them, for IT to run before (re)starting the service.

use crate::settings::file::ConfigFile;
use crate::settings::{Settings, env_name};
use clap::ArgMatches;
use clap::parser::ValueSource;

/// Prints one line per setting (secrets redacted); an error if the server would refuse them.
pub(super) fn check(settings: &Settings, matches: &ArgMatches, file: Option<&ConfigFile>) -> Result<(), String> {
    match file {
        Some(file) => println!("Configuration file: {}", file.path.display()),
        None => println!("Configuration file: none (give one with --config FILE or ROLLCALL_CONFIG)"),
    }
    let command = Settings::command();
    let rows: Vec<[String; 3]> = command
        .get_arguments()
        .map(|arg| {
            let id = arg.get_id().as_str();
            let value = if arg.is_hide_env_values_set() {
                match matches.value_source(id) {
                    Some(_) if matches.get_raw(id).is_some() => "<redacted>".to_owned(),
                    _ => "(unset)".to_owned(),
                }
            } else {
                matches
                    .get_raw(id)
                    .map(|values| values.map(|v| v.to_string_lossy()).collect::<Vec<_>>().join(","))
                    .filter(|text| !text.is_empty())
                    .unwrap_or_else(|| "(unset)".to_owned())
            };
            let source = match (matches.value_source(id), file.and_then(|file| file.line_of(arg))) {
                (Some(ValueSource::CommandLine), _) => format!("flag --{}", arg.get_long().unwrap_or(id)),
                (Some(ValueSource::EnvVariable), _) => format!("variable {}", env_name(arg)),
                (Some(ValueSource::DefaultValue), Some(line)) => format!(
                    "{} line {line}",
                    file.map(|file| file.path.display().to_string()).unwrap_or_default()
                ),
                _ => "default".to_owned(),
            };
            [arg.get_long().unwrap_or(id).to_owned(), value, source]
        })
        .collect();
    let widths = [0, 1].map(|column| rows.iter().map(|row| row[column].chars().count()).max().unwrap_or(0));
    for [name, value, source] in &rows {
        println!("  {name:<0$}  {value:<1$}  {source}", widths[0], widths[1]);
    }
    super::validate(settings, file).map_err(|error| format!("the server would refuse this configuration: {error}"))?;
    check_data_dir(settings)?;
    println!("The server would accept these settings.");
    Ok(())
}

/// The data directory must be a directory the server can create files in (the database, the
/// signing key); it is created if missing, as `rollcall serve` would.
fn check_data_dir(settings: &Settings) -> Result<(), String> {
    let dir = &settings.storage.data_dir;
    let refused = |why: String| {
        format!(
            "the server would refuse this configuration: data directory {}: {why}",
            dir.display()
        )
    };
    std::fs::create_dir_all(dir).map_err(|e| refused(format!("cannot be created ({e})")))?;
    tempfile_in(dir).map_err(|e| {
        refused(format!(
            "is not writable by this user ({e}); fix its owner or permissions"
        ))
    })
}

/// Creates and removes a probe file in `dir`.
fn tempfile_in(dir: &std::path::Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".rollcall-config-check-{}", std::process::id()));
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(&probe)
}
