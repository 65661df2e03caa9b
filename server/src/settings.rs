//! Server settings, defined once. [`Settings`] is the table: each field's `#[arg]` names its flag,
//! its `ROLLCALL_*` environment variable and its default, its doc comment is its help text, and
//! its value parser says what a good value looks like. `rollcall serve --help` and README's
//! configuration table are made from it (a test fails when the README differs; run it with
//! `UPDATE_README=1` to rewrite the table). clap applies the precedence: a flag wins over its
//! variable, which wins over the default. Other `ROLLCALL_*` variables (`ROLLCALL_TEST_PG`, …)
//! are not settings and are not read here.
//!
//! Secrets (the database URL, the signing key) are marked `hide_env_values`: that keeps their
//! value out of `--help` and out of error messages, and [`Secret`] keeps it out of `Debug`.

pub mod file;

use crate::logging::LogFormat;
use clap::builder::TypedValueParser;
use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{Arg, Args, Command, FromArgMatches};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// The longest an access token may live: a stolen one is useless after this.
pub const MAX_ACCESS_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);
/// The longest refresh reuse grace allowed: each second of grace is a second in which a copied
/// refresh token is honoured instead of ending the sign-in.
pub const MAX_REFRESH_REUSE_GRACE: Duration = Duration::from_secs(5 * 60);
/// The longest a server may believe a "still on" answer about a sign-in: for this long, a sign-in
/// ended on another server sharing the database still works here.
pub const MAX_SESSION_RECHECK: Duration = Duration::from_secs(60);
/// The shortest interval between scheduled backups: each one copies the whole database.
pub const MIN_BACKUP_EVERY: Duration = Duration::from_secs(60);

/// A string that must never be printed (a password in a database URL, a signing key).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Whether the server makes its own HTTPS certificates (`--tls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain HTTP, unless a certificate of the school's is given (`--tls-cert`, `--tls-key`).
    Off,
    /// A local certificate authority in the data directory signs the server's certificate.
    Auto,
}

/// Where the data lives: all that `rollcall demo` and `rollcall user add` need, and part of
/// [`Settings`] for `rollcall serve`.
#[derive(Debug, Clone, Args)]
pub struct Storage {
    /// Data directory: the SQLite database (unless ROLLCALL_DB points elsewhere) and the generated
    /// token-signing key
    #[arg(
        long,
        env = "ROLLCALL_DATA_DIR",
        value_name = "DIR",
        default_value = "data",
        value_parser = SettingParser(path)
    )]
    pub data_dir: PathBuf,
    /// Database: sqlite://PATH or postgres://USER:PASS@HOST/DB; unset, DATA_DIR/rollcall.db
    ///
    /// Prefer the variable to the flag for a URL with a password: command lines are visible to
    /// other users of the machine.
    #[arg(
        long = "db",
        env = "ROLLCALL_DB",
        value_name = "URL",
        hide_env_values = true,
        value_parser = SettingParser(secret)
    )]
    pub database_url: Option<Secret>,
}

impl Storage {
    /// The database URL as given, or the default SQLite file.
    pub fn db_url(&self) -> crate::db::DbUrl {
        crate::db::DbUrl::parse(self.database_url.as_ref().map(Secret::expose), &self.data_dir)
    }
}

/// Everything `rollcall serve` reads at start.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address and port to listen on, e.g. 0.0.0.0:8080 for the whole LAN
    #[arg(
        long,
        env = "ROLLCALL_BIND",
        value_name = "ADDR",
        default_value = "127.0.0.1:8080",
        value_parser = SettingParser(address)
    )]
    pub bind: SocketAddr,
    #[command(flatten)]
    pub storage: Storage,
    /// Token signing key, 32+ characters; unset, one is generated into DATA_DIR/jwt-secret
    ///
    /// Servers sharing a database need the same key. Prefer the variable to the flag: command
    /// lines are visible to other users of the machine.
    #[arg(
        long,
        env = "ROLLCALL_JWT_SECRET",
        value_name = "KEY",
        hide_env_values = true,
        value_parser = SettingParser(secret)
    )]
    pub jwt_secret: Option<Secret>,
    /// Access token lifetime in seconds, at most 900
    #[arg(
        long = "access-token-ttl-secs",
        env = "ROLLCALL_ACCESS_TOKEN_TTL_SECS",
        value_name = "SECS",
        default_value = "900",
        value_parser = SettingParser(seconds)
    )]
    pub access_token_ttl: Duration,
    /// Days a sign-in lasts without use before the tablet must ask for the password again
    #[arg(
        long = "refresh-token-ttl-days",
        env = "ROLLCALL_REFRESH_TOKEN_TTL_DAYS",
        value_name = "DAYS",
        default_value = "30",
        value_parser = SettingParser(days)
    )]
    pub refresh_token_ttl: Duration,
    /// Seconds in which a swapped refresh token that comes back (its answer was lost on the
    /// Wi-Fi) gets the same new one instead of ending the sign-in; 0 to 300
    ///
    /// On school Wi-Fi the answer to a refresh is often lost after the server rotated the token,
    /// and the tablet retries with the old one. Outside this window a reused token still ends the
    /// whole sign-in (it was copied). 0 turns the grace off.
    #[arg(
        long = "refresh-reuse-grace-secs",
        env = "ROLLCALL_REFRESH_REUSE_GRACE_SECS",
        value_name = "SECS",
        default_value = "30",
        value_parser = SettingParser(seconds)
    )]
    pub refresh_reuse_grace: Duration,
    /// Comma-separated IP addresses of reverse proxies whose Forwarded / X-Forwarded-Proto headers
    /// are believed (they decide whether the refresh cookie is Secure); nobody by default
    ///
    /// Anyone can write those headers, so from any other peer they are ignored.
    #[arg(
        long,
        env = "ROLLCALL_TRUSTED_PROXIES",
        value_name = "IPS",
        default_value = "",
        hide_default_value = true,
        value_parser = SettingParser(addresses)
    )]
    // Spelled out so that clap takes the list as one value (split here, not by clap).
    pub trusted_proxies: ::std::vec::Vec<IpAddr>,
    /// Seconds a tablet's clock may run ahead of the server's before its marks are re-stamped
    #[arg(
        long = "max-clock-drift-secs",
        env = "ROLLCALL_MAX_CLOCK_DRIFT_SECS",
        value_name = "SECS",
        default_value = "60",
        value_parser = SettingParser(seconds)
    )]
    pub max_clock_drift: Duration,
    /// Seconds a server believes that a sign-in is still on before asking the database again;
    /// 0 to 60
    ///
    /// A sign-in ended on this server stops working here at once; one ended on another server
    /// sharing the database stops working here within this long. 0 asks on every request.
    #[arg(
        long = "session-recheck-secs",
        env = "ROLLCALL_SESSION_RECHECK_SECS",
        value_name = "SECS",
        default_value = "2",
        value_parser = SettingParser(seconds)
    )]
    pub session_recheck: Duration,
    /// Database connections for reads and small writes (the push writer has its own)
    #[arg(
        long,
        env = "ROLLCALL_DB_POOL_SIZE",
        value_name = "N",
        default_value = "8",
        value_parser = SettingParser(count::<u32>)
    )]
    pub db_pool_size: u32,
    /// HTTP worker threads; 0 means one per CPU
    #[arg(
        long,
        env = "ROLLCALL_WORKERS",
        value_name = "N",
        default_value = "0",
        value_parser = SettingParser(count::<usize>)
    )]
    pub workers: usize,
    /// Most marks one group commit takes from the queue of waiting pushes
    #[arg(
        long,
        env = "ROLLCALL_GROUP_COMMIT_MAX_OPS",
        value_name = "N",
        default_value = "20000",
        value_parser = SettingParser(count::<usize>)
    )]
    pub group_commit_max_ops: usize,
    /// Failed logins for one account before it must wait; each further failure doubles the wait,
    /// up to the longest wait
    #[arg(
        long,
        env = "ROLLCALL_LOGIN_ACCOUNT_FREE_FAILURES",
        value_name = "N",
        default_value = "5",
        value_parser = SettingParser(count::<u32>)
    )]
    pub login_account_free_failures: u32,
    /// Failed logins from one address within the address window before that address must wait
    #[arg(
        long,
        env = "ROLLCALL_LOGIN_ADDRESS_FREE_FAILURES",
        value_name = "N",
        default_value = "20",
        value_parser = SettingParser(count::<u32>)
    )]
    pub login_address_free_failures: u32,
    /// The address window: seconds in which one address's failed logins are counted
    #[arg(
        long = "login-address-window-secs",
        env = "ROLLCALL_LOGIN_ADDRESS_WINDOW_SECS",
        value_name = "SECS",
        default_value = "900",
        value_parser = SettingParser(seconds)
    )]
    pub login_address_window: Duration,
    /// The longest wait, in seconds, a run of failed logins can impose: every wait ends, nobody is
    /// locked out for good
    #[arg(
        long = "login-max-delay-secs",
        env = "ROLLCALL_LOGIN_MAX_DELAY_SECS",
        value_name = "SECS",
        default_value = "300",
        value_parser = SettingParser(seconds)
    )]
    pub login_max_delay: Duration,
    // --- backups (docs/backup-and-upgrades.md) ---
    /// How often the server backs up the database while serving, e.g. 24h or 6h (at least 1m),
    /// or off
    ///
    /// A backup is made at start when the newest one in the backup folder is older than this.
    /// On PostgreSQL it runs pg_dump, which must be on PATH.
    #[arg(
        long,
        env = "ROLLCALL_BACKUP_EVERY",
        value_name = "INTERVAL",
        default_value = "off",
        value_parser = SettingParser(interval_or_off)
    )]
    // Spelled out so that clap takes `off` as a value (parsed to None), not as a missing flag.
    pub backup_every: ::std::option::Option<Duration>,
    /// How many scheduled backups to keep; the oldest beyond this are deleted
    #[arg(
        long,
        env = "ROLLCALL_BACKUP_KEEP",
        value_name = "N",
        default_value = "14",
        value_parser = SettingParser(count::<u32>)
    )]
    pub backup_keep: u32,
    /// Folder of the scheduled backups; unset, DATA_DIR/backups
    #[arg(
        long,
        env = "ROLLCALL_BACKUP_DIR",
        value_name = "DIR",
        default_value = "",
        hide_default_value = true,
        value_parser = SettingParser(optional_path)
    )]
    // Spelled out so that clap takes the empty default as a value (parsed to None).
    pub backup_dir: ::std::option::Option<PathBuf>,
    /// On SIGTERM or Ctrl-C, seconds open requests may take to finish before their connections
    /// are closed; queued marks are saved either way
    #[arg(
        long = "shutdown-timeout-secs",
        env = "ROLLCALL_SHUTDOWN_TIMEOUT_SECS",
        value_name = "SECS",
        default_value = "30",
        value_parser = SettingParser(seconds)
    )]
    pub shutdown_timeout: Duration,
    // --- HTTPS (docs/tls.md) ---
    /// HTTPS with a certificate authority of the box's own: `auto` creates it in DATA_DIR/tls on
    /// first start and a certificate for every name the box answers on; `off` serves plain HTTP
    /// unless --tls-cert and --tls-key are given
    #[arg(
        long,
        env = "ROLLCALL_TLS",
        value_name = "MODE",
        default_value = "off",
        value_parser = SettingParser(tls_mode)
    )]
    pub tls: TlsMode,
    /// With --tls auto: comma-separated host names and IP addresses the certificate is for; unset,
    /// the machine's host name, HOSTNAME.local, localhost, 127.0.0.1, ::1 and the addresses of its
    /// network interfaces
    ///
    /// Tablets must reach the server by one of these names. A change of the list re-issues the
    /// certificate (same authority: tablets keep trusting it).
    #[arg(
        long,
        env = "ROLLCALL_TLS_HOSTS",
        value_name = "NAMES",
        default_value = "",
        hide_default_value = true,
        value_parser = SettingParser(host_names)
    )]
    // Spelled out so that clap takes the list as one value (split here, not by clap).
    pub tls_hosts: ::std::vec::Vec<String>,
    /// A certificate the school already has: its PEM file, server certificate first, then the
    /// intermediates; reloaded when the file changes
    #[arg(
        long,
        env = "ROLLCALL_TLS_CERT",
        value_name = "FILE",
        value_parser = SettingParser(file)
    )]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert; reloaded when the file changes
    #[arg(
        long,
        env = "ROLLCALL_TLS_KEY",
        value_name = "FILE",
        value_parser = SettingParser(file)
    )]
    pub tls_key: Option<PathBuf>,
    /// With HTTPS: a plain-HTTP address and port, e.g. 0.0.0.0:80, that serves only the page
    /// tablets trust the certificate authority from (/trust), its certificate and a redirect to
    /// HTTPS; unset, no plain-HTTP port
    #[arg(
        long,
        env = "ROLLCALL_HTTP_BIND",
        value_name = "ADDR",
        value_parser = SettingParser(address)
    )]
    pub http_bind: Option<SocketAddr>,
    /// Log filter, e.g. info or rollcall_server=debug,info
    #[arg(
        long,
        env = "ROLLCALL_LOG",
        value_name = "FILTER",
        default_value = "info",
        value_parser = SettingParser(text)
    )]
    pub log: String,
    // --- observability (docs/observability.md) ---
    /// Log line format: text (for people) or json (one JSON object per line, for log collectors)
    #[arg(
        long,
        env = "ROLLCALL_LOG_FORMAT",
        value_name = "FORMAT",
        default_value = "text",
        value_parser = SettingParser(log_format)
    )]
    pub log_format: LogFormat,
    /// Serve /metrics on this address and port to anyone who can reach it, instead of to admins on
    /// the main port; e.g. 127.0.0.1:9464
    ///
    /// Pick an address that only the monitoring host reaches. Unset, /metrics is on the main port
    /// and needs an admin's access token.
    #[arg(
        long,
        env = "ROLLCALL_METRICS_BIND",
        value_name = "ADDR",
        value_parser = SettingParser(address)
    )]
    pub metrics_bind: Option<SocketAddr>,
}

impl Default for Settings {
    /// The built-in defaults of the table, whatever the environment says.
    fn default() -> Self {
        let matches = Settings::command()
            .mut_args(|arg| arg.env(None))
            .try_get_matches_from(["rollcall"])
            .unwrap_or_else(|e| panic!("a built-in default does not parse: {e}"));
        Settings::from_arg_matches(&matches).unwrap_or_else(|e| panic!("a built-in default does not parse: {e}"))
    }
}

/// A setting had a value that could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{name}={value:?} is not valid: {reason}")]
pub struct SettingsError {
    /// The variable or flag, e.g. `ROLLCALL_WORKERS` or `--workers`.
    pub name: String,
    /// The value given, or `<redacted>` for a secret.
    pub value: String,
    /// What a good value looks like.
    pub reason: String,
}

impl Settings {
    /// The table as a clap command: the flags of `rollcall serve`, their variables and help.
    pub fn command() -> Command {
        Settings::augment_args(Command::new("rollcall"))
    }

    /// Checks values that only make sense within bounds (a value that did not parse never gets
    /// here). The error names the setting by its variable, as the table spells it.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let error = |id: &str, value: String, reason: &str| {
            let command = Settings::command();
            let arg = command
                .get_arguments()
                .find(|arg| arg.get_id() == id)
                .unwrap_or_else(|| panic!("no setting {id}"));
            SettingsError {
                name: env_name(arg),
                value: if arg.is_hide_env_values_set() {
                    "<redacted>".to_owned()
                } else {
                    value
                },
                reason: reason.to_owned(),
            }
        };
        let secs = |duration: Duration| duration.as_secs().to_string();
        if self.access_token_ttl.is_zero() || self.access_token_ttl > MAX_ACCESS_TOKEN_TTL {
            return Err(error(
                "access_token_ttl",
                secs(self.access_token_ttl),
                "must be 1 to 900 seconds",
            ));
        }
        if let Some(secret) = &self.jwt_secret
            && secret.expose().len() < 32
        {
            return Err(error(
                "jwt_secret",
                String::new(),
                "must be at least 32 characters; leave it unset to have one generated",
            ));
        }
        if self.refresh_token_ttl.is_zero() {
            return Err(error("refresh_token_ttl", "0".to_owned(), "must be at least 1 day"));
        }
        if self.refresh_reuse_grace > MAX_REFRESH_REUSE_GRACE {
            return Err(error(
                "refresh_reuse_grace",
                secs(self.refresh_reuse_grace),
                "must be 0 to 300 seconds",
            ));
        }
        if self.session_recheck > MAX_SESSION_RECHECK {
            return Err(error(
                "session_recheck",
                secs(self.session_recheck),
                "must be 0 to 60 seconds",
            ));
        }
        if let Some(every) = self.backup_every
            && every < MIN_BACKUP_EVERY
        {
            return Err(error(
                "backup_every",
                humantime::format_duration(every).to_string(),
                "must be at least 1m (one minute)",
            ));
        }
        if self.backup_keep == 0 {
            return Err(error("backup_keep", "0".to_owned(), "must be at least 1"));
        }
        if self.group_commit_max_ops == 0 {
            return Err(error("group_commit_max_ops", "0".to_owned(), "must be at least 1"));
        }
        if let Some(metrics_bind) = self.metrics_bind
            && metrics_bind == self.bind
            && metrics_bind.port() != 0
        {
            return Err(error(
                "metrics_bind",
                metrics_bind.to_string(),
                "must differ from ROLLCALL_BIND: the metrics get a port of their own",
            ));
        }
        self.validate_tls(error)
    }

    /// The HTTPS settings hold together: one source of certificate, and the options of one
    /// source are not given to another.
    fn validate_tls(&self, error: impl Fn(&str, String, &str) -> SettingsError) -> Result<(), SettingsError> {
        let shown = |path: &Option<PathBuf>| path.as_ref().map_or(String::new(), |path| path.display().to_string());
        if self.tls == TlsMode::Auto && self.tls_cert.is_some() {
            return Err(error(
                "tls_cert",
                shown(&self.tls_cert),
                "give either --tls auto (certificates made by the box) or --tls-cert and --tls-key \
                 (the school's own certificate), not both",
            ));
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => {
                return Err(error(
                    "tls_key",
                    String::new(),
                    "must be given with ROLLCALL_TLS_CERT: the PEM file of the certificate's private key",
                ));
            }
            (None, Some(_)) => {
                return Err(error(
                    "tls_cert",
                    String::new(),
                    "must be given with ROLLCALL_TLS_KEY: the PEM file of the certificate (chain)",
                ));
            }
            _ => {}
        }
        if !self.tls_hosts.is_empty() && self.tls != TlsMode::Auto {
            return Err(error(
                "tls_hosts",
                self.tls_hosts.join(","),
                "is only used with --tls auto (the names of a certificate given with --tls-cert are in that file)",
            ));
        }
        if let Some(http_bind) = self.http_bind {
            if !self.https() {
                return Err(error(
                    "http_bind",
                    http_bind.to_string(),
                    "serves only the trust page and a redirect to HTTPS: turn HTTPS on with --tls auto \
                     or --tls-cert/--tls-key, or leave it unset",
                ));
            }
            if http_bind == self.bind && http_bind.port() != 0 {
                return Err(error(
                    "http_bind",
                    http_bind.to_string(),
                    "must differ from ROLLCALL_BIND, which serves HTTPS",
                ));
            }
        }
        Ok(())
    }

    /// The database URL as given, or the default SQLite file.
    pub fn db_url(&self) -> crate::db::DbUrl {
        self.storage.db_url()
    }

    /// The scheduled backups, when they are on.
    pub fn backup_schedule(&self) -> Option<crate::db::backup::schedule::BackupSchedule> {
        Some(crate::db::backup::schedule::BackupSchedule {
            every: self.backup_every?,
            keep: self.backup_keep,
            folder: self
                .backup_dir
                .clone()
                .unwrap_or_else(|| self.storage.data_dir.join("backups")),
        })
    }

    /// Whether `--bind` serves HTTPS.
    pub fn https(&self) -> bool {
        self.tls == TlsMode::Auto || self.tls_cert.is_some()
    }
}

pub(crate) fn env_name(arg: &Arg) -> String {
    arg.get_env()
        .map_or_else(|| arg.get_id().to_string(), |name| name.to_string_lossy().into_owned())
}

/// One setting's parser: `parse` turns the text into the value or says what was expected; the
/// error names the variable or flag the text came from, and hides a secret's value.
#[derive(Clone)]
struct SettingParser<T>(fn(&str) -> Result<T, &'static str>);

impl<T: Clone + Send + Sync + 'static> TypedValueParser for SettingParser<T> {
    type Value = T;

    fn parse_ref(&self, cmd: &Command, arg: Option<&Arg>, value: &std::ffi::OsStr) -> Result<T, clap::Error> {
        self.parse_ref_(cmd, arg, value, ValueSource::CommandLine)
    }

    fn parse_ref_(
        &self,
        _cmd: &Command,
        arg: Option<&Arg>,
        value: &std::ffi::OsStr,
        source: ValueSource,
    ) -> Result<T, clap::Error> {
        let text = value.to_str().ok_or("expected text (UTF-8)");
        text.and_then(self.0).map_err(|reason| {
            let secret = arg.is_some_and(Arg::is_hide_env_values_set);
            let name = match (arg, source) {
                (Some(arg), ValueSource::EnvVariable) => env_name(arg),
                (Some(arg), _) => format!("--{}", arg.get_long().unwrap_or_default()),
                (None, _) => "a setting".to_owned(),
            };
            let error = SettingsError {
                name,
                value: if secret {
                    "<redacted>".to_owned()
                } else {
                    value.to_string_lossy().into_owned()
                },
                reason: reason.to_owned(),
            };
            clap::Error::raw(ErrorKind::ValueValidation, format!("{error}\n"))
        })
    }
}

fn text(value: &str) -> Result<String, &'static str> {
    Ok(value.to_owned())
}

fn path(value: &str) -> Result<PathBuf, &'static str> {
    match value {
        "" => Err("expected a directory"),
        value => Ok(PathBuf::from(value)),
    }
}

fn file(value: &str) -> Result<PathBuf, &'static str> {
    match value {
        "" => Err("expected a file"),
        value => Ok(PathBuf::from(value)),
    }
}

fn log_format(value: &str) -> Result<LogFormat, &'static str> {
    LogFormat::parse(value).ok_or("expected text or json")
}

fn secret(value: &str) -> Result<Secret, &'static str> {
    Ok(Secret::new(value))
}

fn address(value: &str) -> Result<SocketAddr, &'static str> {
    value
        .trim()
        .parse()
        .map_err(|_| "expected address:port, e.g. 0.0.0.0:8080")
}

fn addresses(value: &str) -> Result<Vec<IpAddr>, &'static str> {
    value
        .split(',')
        .map(str::trim)
        .filter(|address| !address.is_empty())
        .map(|address| address.parse::<IpAddr>())
        .collect::<Result<_, _>>()
        .map_err(|_| "expected IP addresses separated by commas, e.g. 10.0.0.5,10.0.0.6")
}

fn tls_mode(value: &str) -> Result<TlsMode, &'static str> {
    match value.trim() {
        "off" => Ok(TlsMode::Off),
        "auto" => Ok(TlsMode::Auto),
        _ => Err("expected auto (a certificate authority of the box's own) or off"),
    }
}

/// A host name or IP address as a certificate names it (lower case, an IP address in its usual
/// form), or `None` when no client could ask for it.
pub fn certificate_name(name: &str) -> Option<String> {
    use rustls::pki_types::ServerName;
    // rustls's own rule for a name a client can ask for: what it refuses, no tablet can reach.
    match ServerName::try_from(name.trim().to_ascii_lowercase()).ok()? {
        ServerName::DnsName(dns) => Some(dns.as_ref().to_owned()),
        ServerName::IpAddress(ip) => Some(IpAddr::from(ip).to_string()),
        _ => None,
    }
}

/// Host names and IP addresses a certificate can name, each once.
fn host_names(value: &str) -> Result<Vec<String>, &'static str> {
    let mut names: Vec<String> = Vec::new();
    for name in value.split(',').filter(|name| !name.trim().is_empty()) {
        let name = certificate_name(name).ok_or(
            "expected host names or IP addresses separated by commas, e.g. rollcall.school.lan,10.0.0.5 \
             (a name has letters, digits, hyphens and dots)",
        )?;
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}

fn whole_number(value: &str) -> Result<u64, &'static str> {
    value.trim().parse().map_err(|_| "expected a whole number")
}

fn count<T: TryFrom<u64>>(value: &str) -> Result<T, &'static str> {
    T::try_from(whole_number(value)?).map_err(|_| "too large")
}

fn seconds(value: &str) -> Result<Duration, &'static str> {
    whole_number(value).map(Duration::from_secs)
}

/// A length of time as people write it (24h, 6h, 90m, 1d), or `off`.
fn interval_or_off(value: &str) -> Result<Option<Duration>, &'static str> {
    match value.trim() {
        "off" => Ok(None),
        value => humantime::parse_duration(value)
            .map(Some)
            .map_err(|_| "expected a length of time such as 24h, 6h or 30m, or off"),
    }
}

/// A path, or nothing (the empty text) for the default.
fn optional_path(value: &str) -> Result<Option<PathBuf>, &'static str> {
    Ok(Some(value).filter(|value| !value.is_empty()).map(PathBuf::from))
}

fn days(value: &str) -> Result<Duration, &'static str> {
    whole_number(value).map(|days| Duration::from_secs(days.saturating_mul(24 * 3600)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses flags with the environment ignored (the tests share one process environment).
    fn parse(args: &[&str]) -> Result<Settings, String> {
        let matches = Settings::command()
            .mut_args(|arg| arg.env(None))
            .try_get_matches_from(std::iter::once("rollcall").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        let settings = Settings::from_arg_matches(&matches).map_err(|e| e.to_string())?;
        settings.validate().map_err(|e| e.to_string())?;
        Ok(settings)
    }

    #[test]
    fn the_built_in_defaults() {
        let settings = Settings::default();
        assert_eq!(settings.bind, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(settings.storage.data_dir, PathBuf::from("data"));
        assert!(settings.storage.database_url.is_none() && settings.jwt_secret.is_none());
        assert_eq!(settings.access_token_ttl, MAX_ACCESS_TOKEN_TTL);
        assert_eq!(settings.refresh_token_ttl, Duration::from_secs(30 * 24 * 3600));
        assert_eq!(settings.refresh_reuse_grace, Duration::from_secs(30));
        assert!(settings.trusted_proxies.is_empty(), "nobody is trusted by default");
        assert_eq!(settings.max_clock_drift, Duration::from_secs(60));
        assert_eq!(settings.session_recheck, Duration::from_secs(2));
        assert_eq!(
            (settings.db_pool_size, settings.workers, settings.group_commit_max_ops),
            (8, 0, 20_000)
        );
        assert_eq!(
            (
                settings.login_account_free_failures,
                settings.login_address_free_failures
            ),
            (5, 20)
        );
        assert_eq!(settings.login_address_window, Duration::from_secs(900));
        assert_eq!(settings.login_max_delay, Duration::from_secs(300));
        assert_eq!(settings.shutdown_timeout, Duration::from_secs(30));
        assert!(settings.backup_schedule().is_none(), "backups are off by default");
        assert_eq!(settings.backup_keep, 14);
        assert_eq!(settings.log, "info");
        assert_eq!(settings.tls, TlsMode::Off);
        assert!(settings.tls_hosts.is_empty() && settings.tls_cert.is_none() && settings.tls_key.is_none());
        assert!(
            settings.http_bind.is_none() && !settings.https(),
            "plain HTTP by default"
        );
        assert_eq!(settings.log_format, LogFormat::Text);
        assert_eq!(settings.metrics_bind, None, "metrics on the main port, for admins");
        settings.validate().unwrap();
    }

    #[test]
    fn https_settings_hold_together() {
        let settings = parse(&[
            "--tls",
            "auto",
            "--tls-hosts",
            " Rollcall.School.LAN ,10.0.0.5,::1,rollcall.school.lan",
            "--http-bind",
            "0.0.0.0:80",
        ])
        .unwrap();
        assert_eq!(settings.tls, TlsMode::Auto);
        assert_eq!(settings.tls_hosts, ["rollcall.school.lan", "10.0.0.5", "::1"]);
        assert_eq!(settings.http_bind, Some("0.0.0.0:80".parse().unwrap()));
        assert!(settings.https());
        assert!(
            parse(&["--tls-cert", "school.pem", "--tls-key", "school.key"])
                .unwrap()
                .https()
        );
        for (args, expected) in [
            (&["--tls", "on"][..], "--tls=\"on\" is not valid: expected auto"),
            (
                &["--tls", "auto", "--tls-cert", "a.pem", "--tls-key", "a.key"],
                "not both",
            ),
            (&["--tls-cert", "a.pem"], "ROLLCALL_TLS_KEY"),
            (&["--tls-key", "a.key"], "ROLLCALL_TLS_CERT"),
            (&["--tls-hosts", "a.lan"], "is only used with --tls auto"),
            (&["--http-bind", "0.0.0.0:80"], "turn HTTPS on"),
            (
                &["--tls", "auto", "--bind", "0.0.0.0:8443", "--http-bind", "0.0.0.0:8443"],
                "must differ from ROLLCALL_BIND",
            ),
            (
                &["--tls", "auto", "--tls-hosts", "a.lan,bad name"],
                "expected host names or IP addresses",
            ),
        ] {
            let error = parse(args).unwrap_err();
            assert!(error.contains(expected), "{args:?}: {error}");
        }
    }

    #[test]
    fn every_setting_has_a_flag_and_the_variable_of_that_flag() {
        for arg in Settings::command().get_arguments() {
            let long = arg.get_long().unwrap_or_else(|| panic!("{} has no flag", arg.get_id()));
            let expected = format!("ROLLCALL_{}", long.to_uppercase().replace('-', "_"));
            assert_eq!(env_name(arg), expected, "--{long}");
            assert!(arg.get_help().is_some(), "--{long} has no help");
        }
    }

    #[test]
    fn flags_override_defaults() {
        let settings = parse(&[
            "--bind",
            "0.0.0.0:9000",
            "--max-clock-drift-secs",
            "5",
            "--shutdown-timeout-secs",
            "7",
            "--refresh-token-ttl-days",
            "2",
            "--data-dir",
            "/srv/rollcall",
        ])
        .unwrap();
        assert_eq!(settings.bind, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(settings.max_clock_drift, Duration::from_secs(5));
        assert_eq!(settings.shutdown_timeout, Duration::from_secs(7));
        assert_eq!(settings.refresh_token_ttl, Duration::from_secs(2 * 24 * 3600));
        assert_eq!(settings.storage.data_dir, PathBuf::from("/srv/rollcall"));
        assert!(settings.storage.database_url.is_none());
    }

    #[test]
    fn trusted_proxies_and_the_reuse_grace() {
        let settings = parse(&[
            "--trusted-proxies",
            " 10.0.0.5, ::1,",
            "--refresh-reuse-grace-secs",
            "0",
        ])
        .unwrap();
        assert_eq!(
            settings.trusted_proxies,
            vec!["10.0.0.5".parse::<IpAddr>().unwrap(), "::1".parse().unwrap()]
        );
        assert_eq!(settings.refresh_reuse_grace, Duration::ZERO);
        let error = parse(&["--trusted-proxies", "10.0.0.0/8"]).unwrap_err();
        assert!(
            error.contains("--trusted-proxies=\"10.0.0.0/8\" is not valid: expected IP addresses"),
            "{error}"
        );
        let error = parse(&["--refresh-reuse-grace-secs", "3600"]).unwrap_err();
        assert!(
            error.contains("ROLLCALL_REFRESH_REUSE_GRACE_SECS=\"3600\" is not valid: must be 0 to 300 seconds"),
            "{error}"
        );
    }

    #[test]
    fn bad_values_name_the_setting_and_hide_secrets() {
        let error = parse(&["--workers", "many"]).unwrap_err();
        assert!(
            error.contains("--workers=\"many\" is not valid: expected a whole number"),
            "{error}"
        );
        let error = parse(&["--jwt-secret", "short-secret"]).unwrap_err();
        assert!(error.contains("ROLLCALL_JWT_SECRET"), "{error}");
        assert!(!error.contains("short-secret"), "{error}");
        // A value read from the environment is named by its variable.
        let arg = Settings::command()
            .get_arguments()
            .find(|arg| arg.get_id() == "workers")
            .cloned()
            .unwrap();
        let error = SettingParser(count::<usize>)
            .parse_ref_(
                &Settings::command(),
                Some(&arg),
                "many".as_ref(),
                ValueSource::EnvVariable,
            )
            .unwrap_err()
            .to_string();
        assert!(error.contains("ROLLCALL_WORKERS=\"many\" is not valid"), "{error}");
        let arg = Settings::command()
            .get_arguments()
            .find(|arg| arg.get_id() == "database_url")
            .cloned()
            .unwrap();
        let error = SettingParser(|_| Err::<Secret, _>("refused"))
            .parse_ref_(
                &Settings::command(),
                Some(&arg),
                "postgres://rollcall:hunter2@db/x".as_ref(),
                ValueSource::EnvVariable,
            )
            .unwrap_err()
            .to_string();
        assert!(error.contains("ROLLCALL_DB=\"<redacted>\""), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn debug_output_and_help_never_show_secrets() {
        let settings = Settings {
            storage: Storage {
                database_url: Some(Secret::new("postgres://rollcall:hunter2@db/rollcall")),
                ..Settings::default().storage
            },
            jwt_secret: Some(Secret::new("0123456789abcdef0123456789abcdef")),
            ..Settings::default()
        };
        let printed = format!("{settings:?}");
        assert!(
            !printed.contains("hunter2") && !printed.contains("0123456789abcdef"),
            "{printed}"
        );
        let secrets: Vec<_> = Settings::command()
            .get_arguments()
            .filter(|arg| arg.is_hide_env_values_set())
            .map(|arg| arg.get_id().to_string())
            .collect();
        assert_eq!(secrets, ["database_url", "jwt_secret"]);
    }

    #[test]
    fn access_tokens_cannot_outlive_fifteen_minutes() {
        assert!(parse(&["--access-token-ttl-secs", "900"]).is_ok());
        for bad in ["0", "901", "3600"] {
            let error = parse(&["--access-token-ttl-secs", bad]).unwrap_err();
            assert!(error.contains("must be 1 to 900 seconds"), "{error}");
        }
    }

    #[test]
    fn other_bounds() {
        assert!(parse(&["--session-recheck-secs", "0"]).is_ok());
        assert!(parse(&["--session-recheck-secs", "61"]).is_err());
        assert!(parse(&["--refresh-token-ttl-days", "0"]).is_err());
        assert!(parse(&["--group-commit-max-ops", "0"]).is_err());
        assert!(parse(&["--jwt-secret", "0123456789abcdef0123456789abcdef"]).is_ok());
    }

    #[test]
    fn backup_settings() {
        let settings = parse(&[
            "--backup-every",
            "6h",
            "--backup-keep",
            "3",
            "--data-dir",
            "/srv/rollcall",
        ])
        .unwrap();
        let schedule = settings.backup_schedule().unwrap();
        assert_eq!(schedule.every, Duration::from_secs(6 * 3600));
        assert_eq!(schedule.keep, 3);
        assert_eq!(schedule.folder, PathBuf::from("/srv/rollcall/backups"));
        let settings = parse(&["--backup-every", "1d", "--backup-dir", "/mnt/usb"]).unwrap();
        assert_eq!(settings.backup_schedule().unwrap().folder, PathBuf::from("/mnt/usb"));
        let error = parse(&["--backup-every", "daily"]).unwrap_err();
        assert!(
            error.contains("--backup-every=\"daily\" is not valid: expected a length of time"),
            "{error}"
        );
        let error = parse(&["--backup-every", "30s"]).unwrap_err();
        assert!(
            error.contains("ROLLCALL_BACKUP_EVERY=\"30s\" is not valid: must be at least 1m"),
            "{error}"
        );
        assert!(parse(&["--backup-keep", "0"]).is_err());
        assert!(parse(&["--backup-every", "off"]).unwrap().backup_schedule().is_none());
    }

    #[test]
    fn log_format_and_metrics_address() {
        let settings = parse(&["--log-format", "json", "--metrics-bind", "127.0.0.1:9464"]).unwrap();
        assert_eq!(settings.log_format, LogFormat::Json);
        assert_eq!(settings.metrics_bind, Some("127.0.0.1:9464".parse().unwrap()));
        let error = parse(&["--log-format", "yaml"]).unwrap_err();
        assert!(
            error.contains("--log-format=\"yaml\" is not valid: expected text or json"),
            "{error}"
        );
        let error = parse(&["--bind", "0.0.0.0:8080", "--metrics-bind", "0.0.0.0:8080"]).unwrap_err();
        assert!(
            error.contains("ROLLCALL_METRICS_BIND=\"0.0.0.0:8080\" is not valid: must differ from ROLLCALL_BIND"),
            "{error}"
        );
        // Two ports picked by the system differ.
        assert!(parse(&["--bind", "127.0.0.1:0", "--metrics-bind", "127.0.0.1:0"]).is_ok());
    }

    /// README's configuration table, made from the table above.
    fn readme_table() -> String {
        let cell = |text: &str| text.replace('|', "\\|").replace('\n', " ");
        let mut table = "| variable | flag | meaning | default |\n|---|---|---|---|\n".to_owned();
        for arg in Settings::command().get_arguments() {
            let default = match arg.get_default_values() {
                [value] if !arg.is_hide_default_value_set() => format!("`{}`", value.to_string_lossy()),
                _ => String::new(),
            };
            table += &format!(
                "| `{}` | `--{}` | {} | {default} |\n",
                env_name(arg),
                arg.get_long().unwrap_or_default(),
                cell(&arg.get_help().map(ToString::to_string).unwrap_or_default()),
            );
        }
        table
    }

    /// docs/rollcall.example.toml, made from the table above: every setting, commented out at its default.
    fn example_file() -> String {
        let mut file = "# rollcall.toml: every setting of `rollcall serve`, at its default, commented out.\n\
            # Made from server/src/settings.rs (a test checks it). Uncomment and change what you need, then\n\
            # run `rollcall config check --config /etc/rollcall/rollcall.toml` before restarting the service.\n\
            # A ROLLCALL_* variable or a flag still wins over this file; see docs/configuration.md.\n"
            .to_owned();
        for arg in Settings::command().get_arguments() {
            file.push('\n');
            let help = arg
                .get_long_help()
                .or(arg.get_help())
                .map(ToString::to_string)
                .unwrap_or_default();
            for line in help.lines() {
                file += &format!("#{}{line}\n", if line.is_empty() { "" } else { " " });
            }
            file += &format!("# (variable {})\n", env_name(arg));
            let key = arg.get_long().unwrap_or_default();
            match arg.get_default_values() {
                [value] => {
                    let value = value.to_string_lossy().into_owned();
                    let value = if value.parse::<u64>().is_ok() {
                        value
                    } else {
                        format!("{value:?}")
                    };
                    file += &format!("#{key} = {value}\n");
                }
                _ => file += &format!("# unset by default:\n#{key} = \"\"\n"),
            }
        }
        file
    }

    /// Compares a generated file with its checked-in copy; `UPDATE_README=1` rewrites the copy.
    fn assert_generated(path: &std::path::Path, current: &str, expected: &str, what: &str) -> bool {
        if current == expected {
            return true;
        }
        if std::env::var_os("UPDATE_README").is_some() {
            return false;
        }
        panic!(
            "{what} differs from server/src/settings.rs; rerun this test with UPDATE_README=1 to \
             rewrite {}. It should read:\n{expected}",
            path.display()
        );
    }

    #[test]
    fn the_example_file_lists_every_setting_and_reads_back() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/rollcall.example.toml");
        let expected = example_file();
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if !assert_generated(&path, &current, &expected, "docs/rollcall.example.toml") {
            std::fs::write(&path, &expected).unwrap();
        }
        // Uncommented, every default is a value the file reader takes.
        let dir = tempfile::tempdir().unwrap();
        let settings: Vec<&str> = expected
            .lines()
            .filter_map(|line| {
                line.strip_prefix('#')
                    .filter(|rest| !rest.starts_with([' ', '#']) && !rest.is_empty())
            })
            .collect();
        assert_eq!(
            settings.len(),
            Settings::command().get_arguments().count(),
            "one line per setting"
        );
        let uncommented: String = settings
            .iter()
            .filter(|line| !line.ends_with("= \"\""))
            .map(|line| format!("{line}\n"))
            .collect();
        let copy = dir.path().join("rollcall.toml");
        std::fs::write(&copy, &uncommented).unwrap();
        let file = file::ConfigFile::read(&copy, &Settings::command()).unwrap();
        for arg in Settings::command().get_arguments() {
            if arg.get_default_values().iter().any(|value| !value.is_empty()) {
                assert!(file.line_of(arg).is_some(), "--{:?} is in the example", arg.get_long());
            }
        }
    }

    const TABLE_START: &str = "<!-- settings table: made from server/src/settings.rs -->\n";
    const TABLE_END: &str = "<!-- end of settings table -->\n";

    #[test]
    fn the_readme_table_is_the_settings_table() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
        let readme = std::fs::read_to_string(&path).unwrap();
        let start = readme
            .find(TABLE_START)
            .expect("README has the settings table start marker")
            + TABLE_START.len();
        let end = start
            + readme[start..]
                .find(TABLE_END)
                .expect("README has the settings table end marker");
        let expected = readme_table();
        if !assert_generated(&path, &readme[start..end], &expected, "README's configuration table") {
            std::fs::write(&path, format!("{}{expected}{}", &readme[..start], &readme[end..])).unwrap();
        }
    }
}
