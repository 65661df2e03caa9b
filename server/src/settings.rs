//! Server settings: built-in defaults, then `ROLLCALL_*` environment variables, then command-line
//! flags (the last one wins). Every variable is listed in [`ENV_HELP`], which `rollcall serve
//! --help` prints. Secrets never appear in `Debug` output or logs.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// The longest an access token may live: a stolen one is useless after this.
pub const MAX_ACCESS_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);
/// The longest refresh reuse grace allowed: each second of grace is a second in which a copied
/// refresh token is honoured instead of ending the sign-in.
pub const MAX_REFRESH_REUSE_GRACE: Duration = Duration::from_secs(5 * 60);

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

/// Everything the server reads at start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address and port to listen on.
    pub bind: SocketAddr,
    /// Holds the SQLite database (unless `database_url` points elsewhere) and the generated
    /// token-signing key.
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://…`; `None` means `DATA_DIR/rollcall.db`.
    pub database_url: Option<Secret>,
    /// The access-token signing key; `None` means the key file in the data directory,
    /// generated on first start.
    pub jwt_secret: Option<Secret>,
    /// How long an access token lives (at most 15 minutes).
    pub access_token_ttl: Duration,
    /// How long a sign-in lasts without use before the tablet must ask for the password again.
    pub refresh_token_ttl: Duration,
    /// How long after a refresh token was swapped it may come back and get the same successor
    /// instead of ending the sign-in. On school Wi-Fi the answer to a refresh is often lost after
    /// the server rotated the token; the tablet then retries with the old one. Outside this
    /// window a reused token still ends the whole sign-in (it was copied). 0 turns the grace off.
    pub refresh_reuse_grace: Duration,
    /// Reverse proxies whose `Forwarded` / `X-Forwarded-Proto` headers are believed (to decide
    /// whether the tablet reached us over HTTPS, and so whether the refresh cookie is `Secure`).
    /// Anyone else can write those headers, so from any other peer they are ignored.
    pub trusted_proxies: Vec<IpAddr>,
    /// How far ahead of the server's clock a device's HLC may be before its ops are re-stamped.
    pub max_clock_drift: Duration,
    /// Database connections for reads and small writes (the push writer has its own).
    pub db_pool_size: u32,
    /// HTTP worker threads; 0 means one per CPU.
    pub workers: usize,
    /// Most ops one group commit takes from the queue of waiting pushes.
    pub group_commit_max_ops: usize,
    /// Failed logins for one account before it must wait; the wait doubles with each further
    /// failure, up to `login_max_delay`.
    pub login_account_free_failures: u32,
    /// Failed logins from one address within `login_address_window` before that address must wait.
    pub login_address_free_failures: u32,
    pub login_address_window: Duration,
    /// The longest wait a run of failed logins can impose. A wait always ends: nobody can be
    /// locked out for good.
    pub login_max_delay: Duration,
    /// How long a stop (SIGTERM, Ctrl-C) waits for open requests before closing their connections;
    /// queued pushes are committed either way.
    pub shutdown_timeout: Duration,
    /// Log filter, e.g. `info` or `rollcall_server=debug,info`.
    pub log: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("data"),
            database_url: None,
            jwt_secret: None,
            access_token_ttl: MAX_ACCESS_TOKEN_TTL,
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            refresh_reuse_grace: Duration::from_secs(30),
            trusted_proxies: Vec::new(),
            max_clock_drift: Duration::from_secs(60),
            db_pool_size: 8,
            workers: 0,
            group_commit_max_ops: 20_000,
            login_account_free_failures: 5,
            login_address_free_failures: 20,
            login_address_window: Duration::from_secs(15 * 60),
            login_max_delay: Duration::from_secs(5 * 60),
            shutdown_timeout: Duration::from_secs(30),
            log: "info".to_owned(),
        }
    }
}

/// The `ROLLCALL_*` environment variables, for `--help`.
pub const ENV_HELP: &str = "\
Environment (flags win over these, these win over the defaults):
  ROLLCALL_BIND                      address:port to listen on [127.0.0.1:8080]
  ROLLCALL_DATA_DIR                  data directory (SQLite file, signing key) [./data]
  ROLLCALL_DB                        sqlite://PATH or postgres://USER:PASS@HOST/DB [DATA_DIR/rollcall.db]
  ROLLCALL_JWT_SECRET                token signing key, 32+ characters [generated into DATA_DIR/jwt-secret]
  ROLLCALL_ACCESS_TOKEN_TTL_SECS     access token lifetime, at most 900 [900]
  ROLLCALL_REFRESH_TOKEN_TTL_DAYS    sign-in lifetime without use [30]
  ROLLCALL_REFRESH_REUSE_GRACE_SECS  a swapped refresh token coming back this soon (a lost answer)
                                     gets the same new one instead of ending the sign-in; 0 to 300 [30]
  ROLLCALL_TRUSTED_PROXIES           comma-separated IP addresses of reverse proxies whose
                                     Forwarded / X-Forwarded-Proto headers are believed [none]
  ROLLCALL_MAX_CLOCK_DRIFT_SECS      device clock lead before ops are re-stamped [60]
  ROLLCALL_DB_POOL_SIZE              database connections for reads [8]
  ROLLCALL_WORKERS                   HTTP worker threads, 0 = one per CPU [0]
  ROLLCALL_GROUP_COMMIT_MAX_OPS      most ops per group commit [20000]
  ROLLCALL_LOGIN_ACCOUNT_FREE_FAILURES  failed logins per account before waits start [5]
  ROLLCALL_LOGIN_ADDRESS_FREE_FAILURES  failed logins per address per window before waits [20]
  ROLLCALL_LOGIN_ADDRESS_WINDOW_SECS    that window [900]
  ROLLCALL_LOGIN_MAX_DELAY_SECS      longest wait after failed logins [300]
  ROLLCALL_SHUTDOWN_TIMEOUT_SECS     on stop, how long open requests may finish [30]
  ROLLCALL_LOG                       log filter, e.g. info or rollcall_server=debug [info]";

/// A setting had a value that could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{name}={value:?} is not valid: {reason}")]
pub struct SettingsError {
    pub name: String,
    pub value: String,
    pub reason: String,
}

impl Settings {
    /// Applies `ROLLCALL_*` variables from `vars` (normally `std::env::vars()`).
    pub fn apply_env(mut self, vars: impl IntoIterator<Item = (String, String)>) -> Result<Self, SettingsError> {
        for (name, value) in vars {
            let Some(key) = name.strip_prefix("ROLLCALL_") else {
                continue;
            };
            let error = |reason: &str| SettingsError {
                name: name.clone(),
                value: if key == "DB" || key == "JWT_SECRET" {
                    "<redacted>".to_owned()
                } else {
                    value.clone()
                },
                reason: reason.to_owned(),
            };
            let number = |value: &str| {
                value
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| error("expected a whole number"))
            };
            match key {
                "BIND" => {
                    self.bind = value
                        .parse()
                        .map_err(|_| error("expected address:port, e.g. 0.0.0.0:8080"))?
                }
                "DATA_DIR" => self.data_dir = PathBuf::from(value),
                "DB" => self.database_url = Some(Secret::new(value)),
                "JWT_SECRET" => self.jwt_secret = Some(Secret::new(value)),
                "ACCESS_TOKEN_TTL_SECS" => self.access_token_ttl = Duration::from_secs(number(&value)?),
                "REFRESH_TOKEN_TTL_DAYS" => {
                    self.refresh_token_ttl = Duration::from_secs(number(&value)?.saturating_mul(24 * 3600))
                }
                "REFRESH_REUSE_GRACE_SECS" => self.refresh_reuse_grace = Duration::from_secs(number(&value)?),
                "TRUSTED_PROXIES" => {
                    self.trusted_proxies = value
                        .split(',')
                        .map(str::trim)
                        .filter(|address| !address.is_empty())
                        .map(|address| address.parse::<IpAddr>())
                        .collect::<Result<_, _>>()
                        .map_err(|_| error("expected IP addresses separated by commas, e.g. 10.0.0.5,10.0.0.6"))?
                }
                "MAX_CLOCK_DRIFT_SECS" => self.max_clock_drift = Duration::from_secs(number(&value)?),
                "DB_POOL_SIZE" => self.db_pool_size = u32::try_from(number(&value)?).map_err(|_| error("too large"))?,
                "WORKERS" => self.workers = usize::try_from(number(&value)?).map_err(|_| error("too large"))?,
                "GROUP_COMMIT_MAX_OPS" => {
                    self.group_commit_max_ops = usize::try_from(number(&value)?).map_err(|_| error("too large"))?
                }
                "LOGIN_ACCOUNT_FREE_FAILURES" => {
                    self.login_account_free_failures = u32::try_from(number(&value)?).map_err(|_| error("too large"))?
                }
                "LOGIN_ADDRESS_FREE_FAILURES" => {
                    self.login_address_free_failures = u32::try_from(number(&value)?).map_err(|_| error("too large"))?
                }
                "LOGIN_ADDRESS_WINDOW_SECS" => self.login_address_window = Duration::from_secs(number(&value)?),
                "LOGIN_MAX_DELAY_SECS" => self.login_max_delay = Duration::from_secs(number(&value)?),
                "SHUTDOWN_TIMEOUT_SECS" => self.shutdown_timeout = Duration::from_secs(number(&value)?),
                "LOG" => self.log = value,
                // Variables for tests and other tools (e.g. ROLLCALL_TEST_PG) are not settings.
                _ => {}
            }
        }
        Ok(self)
    }

    /// Checks values that only make sense together or within bounds.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let error = |name: &str, value: String, reason: &str| SettingsError {
            name: name.to_owned(),
            value,
            reason: reason.to_owned(),
        };
        if self.access_token_ttl.is_zero() || self.access_token_ttl > MAX_ACCESS_TOKEN_TTL {
            return Err(error(
                "ROLLCALL_ACCESS_TOKEN_TTL_SECS",
                self.access_token_ttl.as_secs().to_string(),
                "must be 1 to 900 seconds",
            ));
        }
        if let Some(secret) = &self.jwt_secret
            && secret.expose().len() < 32
        {
            return Err(error(
                "ROLLCALL_JWT_SECRET",
                "<redacted>".to_owned(),
                "must be at least 32 characters; leave it unset to have one generated",
            ));
        }
        if self.refresh_token_ttl.is_zero() {
            return Err(error(
                "ROLLCALL_REFRESH_TOKEN_TTL_DAYS",
                "0".to_owned(),
                "must be at least 1 day",
            ));
        }
        if self.refresh_reuse_grace > MAX_REFRESH_REUSE_GRACE {
            return Err(error(
                "ROLLCALL_REFRESH_REUSE_GRACE_SECS",
                self.refresh_reuse_grace.as_secs().to_string(),
                "must be 0 to 300 seconds",
            ));
        }
        if self.group_commit_max_ops == 0 {
            return Err(error(
                "ROLLCALL_GROUP_COMMIT_MAX_OPS",
                "0".to_owned(),
                "must be at least 1",
            ));
        }
        Ok(())
    }

    /// The database URL as given, or the default SQLite file.
    pub fn db_url(&self) -> crate::db::DbUrl {
        crate::db::DbUrl::parse(self.database_url.as_ref().map(Secret::expose), &self.data_dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn env_overrides_defaults_and_ignores_other_variables() {
        let settings = Settings::default()
            .apply_env(vars(&[
                ("ROLLCALL_BIND", "0.0.0.0:9000"),
                ("ROLLCALL_MAX_CLOCK_DRIFT_SECS", "5"),
                ("ROLLCALL_SHUTDOWN_TIMEOUT_SECS", "7"),
                ("ROLLCALL_TEST_PG", "postgres://x"),
                ("HOME", "/root"),
            ]))
            .unwrap();
        assert_eq!(settings.bind, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(settings.max_clock_drift, Duration::from_secs(5));
        assert_eq!(settings.shutdown_timeout, Duration::from_secs(7));
        assert!(settings.database_url.is_none());
    }

    #[test]
    fn trusted_proxies_and_the_reuse_grace_are_read_from_the_environment() {
        let settings = Settings::default()
            .apply_env(vars(&[
                ("ROLLCALL_TRUSTED_PROXIES", " 10.0.0.5, ::1,"),
                ("ROLLCALL_REFRESH_REUSE_GRACE_SECS", "0"),
            ]))
            .unwrap();
        assert_eq!(
            settings.trusted_proxies,
            vec!["10.0.0.5".parse::<IpAddr>().unwrap(), "::1".parse().unwrap()]
        );
        assert_eq!(settings.refresh_reuse_grace, Duration::ZERO);
        assert!(
            Settings::default().trusted_proxies.is_empty(),
            "nobody is trusted by default"
        );
        let error = Settings::default()
            .apply_env(vars(&[("ROLLCALL_TRUSTED_PROXIES", "10.0.0.0/8")]))
            .unwrap_err();
        assert!(error.to_string().contains("ROLLCALL_TRUSTED_PROXIES"), "{error}");
        let too_long = Settings {
            refresh_reuse_grace: Duration::from_secs(3600),
            ..Settings::default()
        };
        assert!(too_long.validate().is_err());
    }

    #[test]
    fn bad_values_name_the_variable_and_hide_secrets() {
        let error = Settings::default()
            .apply_env(vars(&[("ROLLCALL_WORKERS", "many")]))
            .unwrap_err();
        assert!(error.to_string().contains("ROLLCALL_WORKERS"), "{error}");
        let settings = Settings::default()
            .apply_env(vars(&[("ROLLCALL_JWT_SECRET", "short-secret")]))
            .unwrap();
        let error = settings.validate().unwrap_err().to_string();
        assert!(!error.contains("short-secret"), "{error}");
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let settings = Settings {
            database_url: Some(Secret::new("postgres://rollcall:hunter2@db/rollcall")),
            jwt_secret: Some(Secret::new("0123456789abcdef0123456789abcdef")),
            ..Settings::default()
        };
        let printed = format!("{settings:?}");
        assert!(
            !printed.contains("hunter2") && !printed.contains("0123456789abcdef"),
            "{printed}"
        );
    }

    #[test]
    fn access_tokens_cannot_outlive_fifteen_minutes() {
        let settings = Settings {
            access_token_ttl: Duration::from_secs(3600),
            ..Settings::default()
        };
        assert!(settings.validate().is_err());
    }
}
