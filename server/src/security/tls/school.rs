//! A certificate the school already has (`--tls-cert`, `--tls-key`): read at start, and read
//! again whenever either file changes, so a renewed certificate is served without a restart.

use super::{CertInfo, TlsError, certified_key};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;
use time::OffsetDateTime;

/// What tells a changed file from the same one: a file replaced by a rename (what certbot and
/// most tools do) has a new inode; one rewritten in place, a new modification time or size.
type Stamp = Option<(SystemTime, u64, u64)>;

#[derive(Debug)]
pub(super) struct SchoolFiles {
    cert: PathBuf,
    key: PathBuf,
    /// The stamps of the two files when they were last read.
    seen: Mutex<[Stamp; 2]>,
}

impl SchoolFiles {
    pub(super) fn new(cert: PathBuf, key: PathBuf) -> SchoolFiles {
        SchoolFiles {
            cert,
            key,
            seen: Mutex::new([None, None]),
        }
    }

    pub(super) fn cert_path(&self) -> &Path {
        &self.cert
    }

    /// Whether either file changed since it was last read.
    pub(super) fn changed(&self) -> bool {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        *seen != self.stamps()
    }

    /// Reads both files. Their stamps are taken first: a file that changes while it is read is
    /// seen as changed again at the next look.
    pub(super) fn load(&self, provider: &CryptoProvider) -> Result<(CertifiedKey, CertInfo), TlsError> {
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = self.stamps();
        let cert_text = std::fs::read(&self.cert).map_err(|e| {
            TlsError(format!(
                "cannot read the certificate {}: {e}; check the path, and that the user running rollcall may read it",
                self.cert.display()
            ))
        })?;
        let key_text = std::fs::read(&self.key).map_err(|e| {
            TlsError(format!(
                "cannot read the private key {}: {e}; check the path, and that the user running rollcall may \
                 read it (and nobody else: chmod 600)",
                self.key.display()
            ))
        })?;
        let chain = CertificateDer::pem_slice_iter(&cert_text)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.not_pem(&self.cert, "certificate", e))?;
        let Some(leaf) = chain.first() else {
            return Err(self.not_pem(&self.cert, "certificate", pem::Error::NoItemsFound));
        };
        let info = CertInfo::parse(leaf).map_err(|why| {
            TlsError(format!(
                "{} does not hold a certificate that can be used ({why})",
                self.cert.display()
            ))
        })?;
        if info.not_after <= OffsetDateTime::now_utc() {
            return Err(TlsError(format!(
                "the certificate in {} expired on {}: put a renewed one in its place",
                self.cert.display(),
                info.not_after.date()
            )));
        }
        let key = PrivateKeyDer::from_pem_slice(&key_text).map_err(|e| self.not_pem(&self.key, "private key", e))?;
        let key = certified_key(chain, key, provider).map_err(|why| {
            TlsError(format!(
                "the private key {} cannot serve the certificate {}: {why}",
                self.key.display(),
                self.cert.display()
            ))
        })?;
        Ok((key, info))
    }

    fn not_pem(&self, path: &Path, what: &str, error: pem::Error) -> TlsError {
        let expected = if what == "certificate" {
            "-----BEGIN CERTIFICATE-----, the server's certificate first, then its intermediates"
        } else {
            "-----BEGIN PRIVATE KEY----- (or RSA PRIVATE KEY, EC PRIVATE KEY)"
        };
        let found = match error {
            pem::Error::NoItemsFound => "none was found".to_owned(),
            other => other.to_string(),
        };
        TlsError(format!(
            "{} does not hold a PEM {what} ({found}): expected text starting with {expected}",
            path.display()
        ))
    }

    fn stamps(&self) -> [Stamp; 2] {
        [stamp(&self.cert), stamp(&self.key)]
    }
}

fn stamp(path: &Path) -> Stamp {
    let metadata = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&metadata);
    #[cfg(not(unix))]
    let inode = 0;
    Some((metadata.modified().ok()?, metadata.len(), inode))
}
