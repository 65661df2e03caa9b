//! The local certificate authority of `--tls auto` and the server certificates it signs, kept in
//! DATA_DIR/tls (docs/tls.md).
//!
//! The authority is made once and lives ten years: tablets trust it, so it must not change. The
//! server certificate it signs lives 397 days and is re-issued, by the same authority, when it
//! nears its end, when the names it must carry change, or when it cannot be read.

use super::{CertInfo, TlsError, certified_key, signed_by};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use std::io::Write;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// The folder of DATA_DIR that holds the authority and the server certificate.
pub const TLS_DIR: &str = "tls";
pub const CA_CERT_FILE: &str = "ca.crt";
pub const CA_KEY_FILE: &str = "ca.key";
pub const SERVER_CERT_FILE: &str = "server.crt";
pub const SERVER_KEY_FILE: &str = "server.key";

/// How long the authority lives: every tablet trusts it once, for the life of the box.
const CA_VALIDITY: time::Duration = time::Duration::days(3650);
/// How long a server certificate lives. Apple devices refuse any longer than 825 days, even from
/// an authority the user installed; 397 days is what every browser accepts from any authority.
const SERVER_CERT_VALIDITY: time::Duration = time::Duration::days(397);
/// Certificates start a day before they are made, so a tablet whose clock runs a little behind
/// accepts a fresh one.
const BACKDATE: time::Duration = time::Duration::days(1);
/// Under this much life left, the authority is said to need replacing (at start).
const CA_WARN_WITHIN: time::Duration = time::Duration::days(365);

/// The certificate authority in DATA_DIR/tls.
pub struct LocalCa {
    dir: PathBuf,
    cert: CertificateDer<'static>,
    pem: String,
    issuer: Issuer<'static, KeyPair>,
    not_after: OffsetDateTime,
}

impl std::fmt::Debug for LocalCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCa")
            .field("dir", &self.dir)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// Why a new server certificate was issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reissue {
    /// There was none yet.
    Missing,
    /// It had this many days left.
    Expiring { days_left: i64 },
    /// It did not carry exactly the names it must.
    NamesChanged,
    /// Another authority signed it (the authority's files were replaced).
    OtherAuthority,
    /// Its files could not be read or did not hold a usable certificate and key.
    Unreadable(String),
}

impl std::fmt::Display for Reissue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reissue::Missing => f.write_str("there was none"),
            Reissue::Expiring { days_left } => write!(f, "the old one had {days_left} days left"),
            Reissue::NamesChanged => f.write_str("the host names changed"),
            Reissue::OtherAuthority => f.write_str("the old one was signed by another authority"),
            Reissue::Unreadable(why) => write!(f, "the old one could not be used: {why}"),
        }
    }
}

impl LocalCa {
    /// The authority in `data_dir`/tls, made on first start. `box_name` goes into its name, so a
    /// tablet that trusts several boxes tells them apart.
    pub fn load_or_create(data_dir: &Path, box_name: &str) -> Result<LocalCa, TlsError> {
        let dir = data_dir.join(TLS_DIR);
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        match (cert_path.exists(), key_path.exists()) {
            (true, true) => LocalCa::load(dir),
            (false, false) => LocalCa::create(dir, box_name),
            (true, false) | (false, true) => {
                let (present, missing) = if cert_path.exists() {
                    (&cert_path, &key_path)
                } else {
                    (&key_path, &cert_path)
                };
                Err(TlsError(format!(
                    "{} is there but {} is missing: restore it from a backup of the data directory; \
                     only if there is none, move both away to make a new authority (every tablet must \
                     then trust the new one from /trust)",
                    present.display(),
                    missing.display()
                )))
            }
        }
    }

    fn load(dir: PathBuf) -> Result<LocalCa, TlsError> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        let broken = |path: &Path, why: String| {
            TlsError(format!(
                "the local certificate authority's {} cannot be used ({why}): restore DATA_DIR/{TLS_DIR} \
                 from a backup; only if there is none, move it away to make a new authority (every \
                 tablet must then trust the new one from /trust)",
                path.display()
            ))
        };
        let pem = read_text(&cert_path)?;
        let cert = CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| broken(&cert_path, e.to_string()))?;
        let key = KeyPair::from_pem(&read_text(&key_path)?).map_err(|e| broken(&key_path, e.to_string()))?;
        let info = CertInfo::parse(&cert).map_err(|why| broken(&cert_path, why))?;
        let issuer = Issuer::from_ca_cert_der(&cert, key).map_err(|e| broken(&cert_path, e.to_string()))?;
        if rcgen::PublicKeyData::der_bytes(issuer.key()) != info.public_key.as_slice() {
            return Err(broken(
                &key_path,
                format!("it is not the key of {}", cert_path.display()),
            ));
        }
        let now = OffsetDateTime::now_utc();
        if info.not_after <= now {
            return Err(TlsError(format!(
                "the local certificate authority in {} expired on {}: move the folder away to make a \
                 new one, then have every tablet trust the new one from /trust",
                dir.display(),
                info.not_after.date()
            )));
        }
        if info.not_after - now < CA_WARN_WITHIN {
            tracing::warn!(
                expires = %info.not_after.date(),
                dir = %dir.display(),
                "the local certificate authority expires within a year: before then, move the folder \
                 away to make a new one and have every tablet trust it from /trust"
            );
        }
        Ok(LocalCa {
            dir,
            cert,
            pem,
            issuer,
            not_after: info.not_after,
        })
    }

    fn create(dir: PathBuf, box_name: &str) -> Result<LocalCa, TlsError> {
        let now = OffsetDateTime::now_utc();
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(
            DnType::CommonName,
            format!("Rollcall local CA {box_name} {}", now.date()),
        );
        name.push(DnType::OrganizationName, "Rollcall");
        params.distinguished_name = name;
        // It signs server certificates only, never another authority.
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = now - BACKDATE;
        params.not_after = now + CA_VALIDITY;
        let key = KeyPair::generate().map_err(|e| TlsError(format!("cannot make a key: {e}")))?;
        let cert = params
            .self_signed(&key)
            .map_err(|e| TlsError(format!("cannot make the certificate authority: {e}")))?;
        create_private_dir(&dir)?;
        // The key first: a certificate without its key would stop the next start.
        write_file(&dir.join(CA_KEY_FILE), key.serialize_pem().as_bytes(), Secrecy::Private)?;
        write_file(&dir.join(CA_CERT_FILE), cert.pem().as_bytes(), Secrecy::Public)?;
        tracing::info!(dir = %dir.display(), "made a new local certificate authority: tablets trust it from /trust");
        Ok(LocalCa {
            pem: cert.pem(),
            cert: cert.der().clone(),
            not_after: params.not_after,
            issuer: Issuer::new(params, key),
            dir,
        })
    }

    /// The authority's certificate, as tablets install it.
    pub fn der(&self) -> &[u8] {
        &self.cert
    }

    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// The folder that holds the authority and the server certificate.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The server certificate in the folder if it is still good for `names` for longer than
    /// `renew_within`, or a new one signed by this authority (written over the old one).
    pub fn server_cert(
        &self,
        names: &[String],
        renew_within: time::Duration,
        provider: &CryptoProvider,
    ) -> Result<(CertifiedKey, CertInfo, Option<Reissue>), TlsError> {
        let now = OffsetDateTime::now_utc();
        let reason = match self.stored_server_cert(provider) {
            Ok(Some((key, info))) => {
                let mut have = info.names.clone();
                let mut want = names.to_vec();
                have.sort();
                want.sort();
                if !signed_by(&key.cert[0], &self.cert) {
                    Reissue::OtherAuthority
                } else if have != want {
                    Reissue::NamesChanged
                } else if info.not_after - now < renew_within {
                    Reissue::Expiring {
                        days_left: (info.not_after - now).whole_days(),
                    }
                } else {
                    return Ok((key, info, None));
                }
            }
            Ok(None) => Reissue::Missing,
            Err(why) => Reissue::Unreadable(why),
        };
        let (key, info) = self.issue(names, now, provider)?;
        Ok((key, info, Some(reason)))
    }

    /// The server certificate and key in the folder; `None` when there are none.
    fn stored_server_cert(&self, provider: &CryptoProvider) -> Result<Option<(CertifiedKey, CertInfo)>, String> {
        let cert_path = self.dir.join(SERVER_CERT_FILE);
        let key_path = self.dir.join(SERVER_KEY_FILE);
        if !cert_path.exists() && !key_path.exists() {
            return Ok(None);
        }
        let read = |path: &Path| std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()));
        let chain = CertificateDer::pem_slice_iter(&read(&cert_path)?)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{}: {e}", cert_path.display()))?;
        let key =
            PrivateKeyDer::from_pem_slice(&read(&key_path)?).map_err(|e| format!("{}: {e}", key_path.display()))?;
        let info = CertInfo::parse(chain.first().ok_or("no certificate")?)?;
        let key = certified_key(chain, key, provider)?;
        Ok(Some((key, info)))
    }

    /// Signs a new server certificate for `names` and writes it and its key to the folder.
    fn issue(
        &self,
        names: &[String],
        now: OffsetDateTime,
        provider: &CryptoProvider,
    ) -> Result<(CertifiedKey, CertInfo), TlsError> {
        let bad = |e: rcgen::Error| TlsError(format!("cannot make the server certificate: {e}"));
        let mut params = CertificateParams::new(names.to_vec()).map_err(bad)?;
        let mut subject = DistinguishedName::new();
        subject.push(DnType::CommonName, names.first().map_or("rollcall", String::as_str));
        params.distinguished_name = subject;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.not_before = now - BACKDATE;
        // Never past the authority's own end: no client would accept the rest.
        params.not_after = (now + SERVER_CERT_VALIDITY).min(self.not_after);
        let key = KeyPair::generate().map_err(bad)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(bad)?;
        write_file(
            &self.dir.join(SERVER_KEY_FILE),
            key.serialize_pem().as_bytes(),
            Secrecy::Private,
        )?;
        write_file(&self.dir.join(SERVER_CERT_FILE), cert.pem().as_bytes(), Secrecy::Public)?;
        let key_der = PrivateKeyDer::try_from(key.serialize_der()).map_err(|e| TlsError(e.to_owned()))?;
        let info = CertInfo::parse(cert.der()).map_err(TlsError)?;
        let certified = certified_key(vec![cert.der().clone()], key_der, provider).map_err(TlsError)?;
        Ok((certified, info))
    }
}

fn read_text(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|e| {
        TlsError(format!(
            "cannot read {}: {e}; it must be readable by the user running rollcall",
            path.display()
        ))
    })
}

/// Who may read a file of the folder.
#[derive(Debug, Clone, Copy)]
enum Secrecy {
    /// A private key: the owner only (0600).
    Private,
    /// A certificate (0644).
    Public,
}

fn create_private_dir(dir: &Path) -> Result<(), TlsError> {
    let cannot = |e: std::io::Error| {
        TlsError(format!(
            "cannot create {}: {e}; the data directory must be writable by the user running rollcall",
            dir.display()
        ))
    };
    if let Some(data_dir) = dir.parent() {
        std::fs::create_dir_all(data_dir).map_err(cannot)?;
    }
    // Only this folder is made private: the data directory keeps the permissions IT gave it.
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    match builder.create(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other.map_err(cannot),
    }
}

/// Replaces `path` whole: written beside it, then renamed over it, so a crash or a reader never
/// sees half a key. A private key is created readable by the owner only, never readable first.
fn write_file(path: &Path, bytes: &[u8], secrecy: Secrecy) -> Result<(), TlsError> {
    let cannot = |e: std::io::Error| {
        TlsError(format!(
            "cannot write {}: {e}; the data directory must be writable by the user running rollcall",
            path.display()
        ))
    };
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".new");
    let temporary = PathBuf::from(temporary);
    let _ = std::fs::remove_file(&temporary);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(
        &mut options,
        match secrecy {
            Secrecy::Private => 0o600,
            Secrecy::Public => 0o644,
        },
    );
    let mut file = options.open(&temporary).map_err(cannot)?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(cannot)?;
    std::fs::rename(&temporary, path).map_err(cannot)
}
