//! The optional configuration file, `rollcall.toml`: one `key = value` line per setting, the key
//! being the setting's flag without its dashes (`bind = "0.0.0.0:8443"`, `data-dir = "/var/lib/rollcall"`).
//! docs/rollcall.example.toml lists every key; docs/configuration.md says how the layers combine.
//!
//! The file sits between the built-in defaults and the `ROLLCALL_*` variables: its values become
//! the defaults of the command's arguments before clap parses them, so a variable or a flag still
//! wins, and each value is checked by the same parser as its flag.

use clap::{Arg, Command};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// A configuration file that was read and checked: each key is a known setting.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    pub path: PathBuf,
    /// Setting id (as in [`super::Settings`]) → its value as text and the line it is on.
    entries: BTreeMap<String, Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    value: String,
    line: usize,
}

/// Why a configuration file cannot be used; the message names the file and line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: not valid TOML: {message}")]
    Syntax { path: String, message: String },
    #[error(
        "{path} line {line}: unknown setting `{key}`; every setting is listed in \
         docs/rollcall.example.toml (keys are the flags of `rollcall serve --help` without the dashes)"
    )]
    UnknownKey { path: String, line: usize, key: String },
    #[error("{path} line {line}: `{key}` must be a string, a number, a boolean or a list of them")]
    NotAValue { path: String, line: usize, key: String },
    #[error("{path} line {line}: {message}")]
    BadValue { path: String, line: usize, message: String },
}

impl ConfigFile {
    /// Reads `path` and checks every key and value against the settings of `table` (the
    /// arguments of `rollcall serve`).
    pub fn read(path: &Path, table: &Command) -> Result<ConfigFile, ConfigFileError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigFileError::Read {
            path: shown.clone(),
            source,
        })?;
        let parsed: BTreeMap<Spanned<String>, Spanned<toml::Value>> =
            toml::from_str(&text).map_err(|error| ConfigFileError::Syntax {
                path: shown.clone(),
                message: error.to_string().trim_end().replace('\n', " "),
            })?;
        let line_of = |offset: usize| text[..offset].matches('\n').count() + 1;
        let mut entries = BTreeMap::new();
        for (key, value) in parsed {
            let line = line_of(key.span().start);
            let name = key.get_ref();
            let arg = table
                .get_arguments()
                .find(|arg| arg.get_long() == Some(name.as_str()))
                .ok_or_else(|| ConfigFileError::UnknownKey {
                    path: shown.clone(),
                    line,
                    key: name.clone(),
                })?;
            let value = as_text(value.get_ref()).ok_or_else(|| ConfigFileError::NotAValue {
                path: shown.clone(),
                line,
                key: name.clone(),
            })?;
            // The flag's own parser, so a bad value is reported here, with its line.
            Command::new("rollcall")
                .arg(arg.clone().env(None).required(false))
                .try_get_matches_from(["rollcall".to_owned(), format!("--{name}={value}")])
                .map_err(|error| ConfigFileError::BadValue {
                    path: shown.clone(),
                    line,
                    message: error.to_string().trim().trim_start_matches("error: ").to_owned(),
                })?;
            entries.insert(arg.get_id().to_string(), Entry { value, line });
        }
        Ok(ConfigFile {
            path: path.to_owned(),
            entries,
        })
    }

    /// `command` with the file's values as the defaults of the arguments it has.
    pub fn apply(&self, command: Command) -> Command {
        command.mut_args(|arg| match self.entries.get(arg.get_id().as_str()) {
            Some(entry) => arg.default_value(entry.value.clone()),
            None => arg,
        })
    }

    /// `error`, saying where the file set the refused setting, if it did (the error names the
    /// setting by its variable, which an admin who used the file never typed).
    pub fn explain(&self, error: &super::SettingsError) -> String {
        let line = super::Settings::command()
            .get_arguments()
            .find(|arg| super::env_name(arg) == error.name)
            .and_then(|arg| self.line_of(arg));
        match line {
            Some(line) => format!("{error} (set in {} line {line})", self.path.display()),
            None => error.to_string(),
        }
    }

    /// The line that sets `arg`, if the file sets it.
    pub fn line_of(&self, arg: &Arg) -> Option<usize> {
        self.entries.get(arg.get_id().as_str()).map(|entry| entry.line)
    }
}

/// A TOML value as the text its flag would take: a list is comma-separated (`trusted-proxies`).
fn as_text(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(text) => Some(text.clone()),
        toml::Value::Integer(number) => Some(number.to_string()),
        toml::Value::Boolean(flag) => Some(flag.to_string()),
        toml::Value::Array(items) => items
            .iter()
            .map(|item| match item {
                toml::Value::Array(_) | toml::Value::Table(_) => None,
                item => as_text(item),
            })
            .collect::<Option<Vec<_>>>()
            .map(|items| items.join(",")),
        toml::Value::Float(_) | toml::Value::Datetime(_) | toml::Value::Table(_) => None,
    }
}
