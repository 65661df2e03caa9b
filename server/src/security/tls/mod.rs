//! HTTPS (docs/tls.md): the certificate the server presents, where it comes from, and how it is
//! kept current while the server runs.
//!
//! Two sources: the box's own certificate authority (`--tls auto`, [`authority`]), or a
//! certificate the school already has (`--tls-cert`/`--tls-key`, [`school`]). Either way rustls
//! asks [`ServerTls`]'s resolver for the certificate at every handshake, and a renewed or reloaded
//! certificate replaces the old one there: new connections get it at once, open ones keep theirs,
//! nothing restarts. `api` serves the authority's certificate and the page that explains it.

mod authority;
mod hosts;
mod school;

pub use authority::{CA_CERT_FILE, CA_KEY_FILE, LocalCa, Reissue, SERVER_CERT_FILE, SERVER_KEY_FILE, TLS_DIR};

use crate::settings::{Settings, TlsMode};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use school::SchoolFiles;
use sha2::Digest;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use time::OffsetDateTime;

/// `--tls auto` renews the server certificate when it has less than this left: a month of
/// daily checks in which a failure (a full disk) can be seen and fixed before tablets notice.
pub const RENEW_WITHIN: Duration = Duration::from_secs(30 * 24 * 3600);
/// How often `--tls auto` checks its certificate's end and names while serving.
const RENEWAL_CHECK_EVERY: Duration = Duration::from_secs(24 * 3600);
/// How often the files of `--tls-cert`/`--tls-key` are looked at for a change (two `stat`s).
const RELOAD_CHECK_EVERY: Duration = Duration::from_secs(2);

/// HTTPS could not be set up; the text says what to do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(pub String);

/// What the server needs to know of a certificate: whom it names, until when, and its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Its DNS names and IP addresses (subject alternative names), as written.
    pub names: Vec<String>,
    pub not_after: OffsetDateTime,
    /// The raw public key, to match a private key against.
    public_key: Vec<u8>,
}

impl CertInfo {
    fn parse(der: &CertificateDer<'_>) -> Result<CertInfo, String> {
        use x509_parser::extensions::GeneralName;
        let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| format!("not a certificate: {e}"))?;
        let names = match cert.subject_alternative_name() {
            Ok(Some(extension)) => extension
                .value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    GeneralName::DNSName(dns) => Some(dns.to_string()),
                    GeneralName::IPAddress(bytes) => ip_address(bytes).map(|ip| ip.to_string()),
                    _ => None,
                })
                .collect(),
            Ok(None) => Vec::new(),
            Err(e) => return Err(format!("its names cannot be read: {e}")),
        };
        let not_after = OffsetDateTime::from_unix_timestamp(cert.validity().not_after.timestamp())
            .map_err(|e| format!("its end date cannot be read: {e}"))?;
        Ok(CertInfo {
            names,
            not_after,
            public_key: cert.public_key().subject_public_key.data.to_vec(),
        })
    }
}

fn ip_address(bytes: &[u8]) -> Option<std::net::IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(std::net::IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(std::net::IpAddr::from),
        _ => None,
    }
}

/// Whether `authority` signed `leaf`.
fn signed_by(leaf: &CertificateDer<'_>, authority: &CertificateDer<'_>) -> bool {
    let (Ok((_, leaf)), Ok((_, authority))) = (
        x509_parser::parse_x509_certificate(leaf),
        x509_parser::parse_x509_certificate(authority),
    ) else {
        return false;
    };
    leaf.issuer() == authority.subject() && leaf.verify_signature(Some(authority.public_key())).is_ok()
}

/// A chain and its key as rustls serves them, refused when the key is not the certificate's.
fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, String> {
    CertifiedKey::from_der(chain, key, provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => "the key does not belong to the certificate".to_owned(),
        rustls::Error::General(why) => {
            format!("the key cannot be used ({why}): use an RSA (2048 bits or more), ECDSA P-256/P-384 or Ed25519 key")
        }
        other => other.to_string(),
    })
}

/// Colon-separated upper-case hex, as certificate viewers show a fingerprint.
fn colon_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

impl LocalCa {
    /// The SHA-256 fingerprint of the authority's certificate, which iPads, Android, ChromeOS
    /// and `sha256sum rollcall-ca.crt` show.
    pub fn sha256_fingerprint(&self) -> String {
        colon_hex(&sha2::Sha256::digest(self.der()))
    }

    /// The SHA-1 thumbprint, which is what Windows shows of a certificate.
    pub fn sha1_thumbprint(&self) -> String {
        colon_hex(&sha1::Sha1::digest(self.der()))
    }
}

/// The certificate rustls presents at every handshake, replaced whole when renewed or reloaded.
#[derive(Debug)]
struct LiveCert(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for LiveCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // One certificate for every name: a tablet that asks by IP address sends no name at all.
        Some(self.0.read().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

/// Where the certificate comes from.
#[derive(Debug)]
enum Source {
    /// `--tls auto`: `hosts` as configured (empty: this box's names, looked up at each check).
    Local { ca: Box<LocalCa>, hosts: Vec<String> },
    /// `--tls-cert`/`--tls-key`.
    School(SchoolFiles),
}

/// What a [`ServerTls::refresh`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refresh {
    /// The certificate served is still the right one.
    Unchanged,
    /// `--tls auto` issued a new server certificate, for this reason.
    Reissued(Reissue),
    /// The school's files changed and the new certificate is served.
    Reloaded,
}

/// The server's HTTPS certificate and where it comes from.
#[derive(Debug)]
pub struct ServerTls {
    provider: Arc<CryptoProvider>,
    live: Arc<LiveCert>,
    source: Source,
    /// What is being served; the lock also keeps two refreshes from running at once.
    current: Mutex<CertInfo>,
}

impl ServerTls {
    /// HTTPS as the settings ask for it, or `None` for plain HTTP. With `--tls auto` the
    /// authority is made on first start, and the server certificate renewed now if it must be.
    pub fn from_settings(settings: &Settings) -> Result<Option<ServerTls>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let (source, (key, info)) = match (&settings.tls, &settings.tls_cert, &settings.tls_key) {
            (TlsMode::Auto, _, _) => {
                let box_name = hosts::host_name()
                    .map(|name| name.split('.').next().unwrap_or_default().to_owned())
                    .unwrap_or_else(|| "server".to_owned());
                let ca = LocalCa::load_or_create(&settings.storage.data_dir, &box_name)?;
                let names = hosts::wanted(&settings.tls_hosts);
                let (key, info, reissued) = ca.server_cert(&names, to_time(RENEW_WITHIN), &provider)?;
                if let Some(reason) = reissued {
                    log_reissue(&info, &reason);
                }
                let source = Source::Local {
                    ca: Box::new(ca),
                    hosts: settings.tls_hosts.clone(),
                };
                (source, (key, info))
            }
            (TlsMode::Off, Some(cert), Some(key)) => {
                let files = SchoolFiles::new(cert.clone(), key.clone());
                let loaded = files.load(&provider)?;
                warn_if_ending(&loaded.1);
                (Source::School(files), loaded)
            }
            (TlsMode::Off, _, _) => return Ok(None),
        };
        Ok(Some(ServerTls {
            provider,
            live: Arc::new(LiveCert(RwLock::new(Arc::new(key)))),
            source,
            current: Mutex::new(info),
        }))
    }

    /// The rustls configuration of the HTTPS listener: TLS 1.2 and 1.3 with rustls's safe
    /// defaults, the certificate from this [`ServerTls`]. (actix adds the ALPN protocols.)
    pub fn server_config(&self) -> Result<rustls::ServerConfig, TlsError> {
        Ok(rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError(format!("cannot set up TLS: {e}")))?
            .with_no_client_auth()
            .with_cert_resolver(self.live.clone()))
    }

    /// The box's own certificate authority (`--tls auto`), which tablets are asked to trust.
    pub fn authority(&self) -> Option<&LocalCa> {
        match &self.source {
            Source::Local { ca, .. } => Some(ca),
            Source::School(_) => None,
        }
    }

    /// The certificate being served: its names and end.
    pub fn current(&self) -> CertInfo {
        self.current.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Makes sure the right certificate is served: with `--tls auto`, a new server certificate
    /// when the one served has less than `renew_within` left or its names changed; with the
    /// school's files, their new content when they changed. On an error the certificate served
    /// stays as it was.
    pub fn refresh(&self, renew_within: Duration) -> Result<Refresh, TlsError> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let (key, info, outcome) = match &self.source {
            Source::Local { ca, hosts } => {
                let names = hosts::wanted(hosts);
                match ca.server_cert(&names, to_time(renew_within), &self.provider)? {
                    (_, _, None) => return Ok(Refresh::Unchanged),
                    (key, info, Some(reason)) => (key, info, Refresh::Reissued(reason)),
                }
            }
            Source::School(files) => {
                if !files.changed() {
                    return Ok(Refresh::Unchanged);
                }
                let (key, info) = files.load(&self.provider)?;
                (key, info, Refresh::Reloaded)
            }
        };
        *self.live.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(key);
        *current = info;
        Ok(outcome)
    }

    /// Runs [`ServerTls::refresh`] for as long as the server serves: daily with `--tls auto`,
    /// every two seconds (a look at the files' stamps) with the school's files. Says in the
    /// log what changed, and what to fix when a new file cannot be used.
    pub async fn keep_current(self: Arc<Self>) {
        let every = match self.source {
            Source::Local { .. } => RENEWAL_CHECK_EVERY,
            Source::School(_) => RELOAD_CHECK_EVERY,
        };
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is now: `from_settings` has just checked.
        ticks.tick().await;
        loop {
            ticks.tick().await;
            match self.refresh(RENEW_WITHIN) {
                Ok(Refresh::Unchanged) => {}
                Ok(Refresh::Reissued(reason)) => log_reissue(&self.current(), &reason),
                Ok(Refresh::Reloaded) => {
                    let info = self.current();
                    tracing::info!(
                        names = %info.names.join(", "),
                        expires = %info.not_after.date(),
                        "loaded the new HTTPS certificate"
                    );
                    warn_if_ending(&info);
                }
                Err(e) => match &self.source {
                    Source::School(files) => tracing::error!(
                        "kept serving the previous HTTPS certificate: the changed files cannot be used: {e}. \
                         Fix {} or its key; they are read again as soon as they change",
                        files.cert_path().display()
                    ),
                    Source::Local { .. } => tracing::error!(
                        "kept serving the current HTTPS certificate: a new one could not be made: {e}. \
                         It is tried again tomorrow, or at the next start"
                    ),
                },
            }
        }
    }
}

fn log_reissue(info: &CertInfo, reason: &Reissue) {
    tracing::info!(
        names = %info.names.join(", "),
        expires = %info.not_after.date(),
        why = %reason,
        "issued a new server certificate from the local certificate authority"
    );
}

/// Says so at start and at each reload when the school's certificate ends within a month.
fn warn_if_ending(info: &CertInfo) {
    let left = info.not_after - OffsetDateTime::now_utc();
    if left < to_time(RENEW_WITHIN) {
        tracing::warn!(
            expires = %info.not_after.date(),
            "the HTTPS certificate ends within a month: put a renewed one in place of the files"
        );
    }
}

fn to_time(duration: Duration) -> time::Duration {
    time::Duration::try_from(duration).unwrap_or(time::Duration::MAX)
}
