//! Access tokens (HS256 JWTs, at most 15 minutes) and refresh tokens (random, stored hashed).
//!
//! Verifying an access token is a cheap HMAC and needs no database: it runs on every request.

use crate::error::AppError;
use crate::settings::Settings;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use rollcall_shared::protocol::Role;
use rollcall_shared::{SchoolId, UserId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// The `aud` every access token carries and every check demands: a token minted for another
/// service with the same key is still refused.
const AUDIENCE: &str = "rollcall-api";
/// The file in the data directory that holds the generated signing key.
const SECRET_FILE: &str = "jwt-secret";

/// Who a valid access token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenUser {
    pub id: UserId,
    pub school_id: SchoolId,
    pub role: Role,
}

/// The JWT payload. Changing it logs every tablet out at the next refresh.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: UserId,
    sch: SchoolId,
    role: Role,
    aud: String,
    iat: u64,
    exp: u64,
}

/// Signs and checks access tokens.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKeys")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl TokenKeys {
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        // Validation::new(HS256) allows only HS256: a token with alg "none" or RS256 is refused.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "aud", "sub"]);
        validation.leeway = 5;
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }

    /// The key from the settings, or the one in the data directory (made on first start).
    pub fn from_settings(settings: &Settings) -> Result<Self, std::io::Error> {
        let secret = match &settings.jwt_secret {
            Some(secret) => secret.expose().as_bytes().to_vec(),
            None => load_or_create_secret(&settings.data_dir)?,
        };
        Ok(TokenKeys::new(&secret, settings.access_token_ttl))
    }

    /// Seconds an access token lives.
    pub fn ttl_secs(&self) -> u64 {
        self.ttl.as_secs()
    }

    /// Mints an access token.
    pub fn issue(&self, user: TokenUser) -> Result<String, AppError> {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: user.id,
            sch: user.school_id,
            role: user.role,
            aud: AUDIENCE.to_owned(),
            iat: now,
            exp: now + self.ttl.as_secs(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AppError::Internal(format!("cannot sign an access token: {e}")))
    }

    /// Checks signature, algorithm, audience and expiry.
    pub fn verify(&self, token: &str) -> Result<TokenUser, AppError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            AppError::Unauthorized(match e.kind() {
                ErrorKind::ExpiredSignature => "the access token has expired: refresh it or sign in again".to_owned(),
                _ => "the access token is not valid: sign in again".to_owned(),
            })
        })?;
        Ok(TokenUser {
            id: data.claims.sub,
            school_id: data.claims.sch,
            role: data.claims.role,
        })
    }
}

/// Reads the signing key from the data directory, creating it (readable by the owner only) on
/// first start. The key itself is never logged.
fn load_or_create_secret(data_dir: &Path) -> Result<Vec<u8>, std::io::Error> {
    let path = data_dir.join(SECRET_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) if text.trim().len() >= 32 => return Ok(text.trim().as_bytes().to_vec()),
        Ok(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{} is too short to be a signing key; delete it to have a new one generated \
                     (everyone will have to sign in again)",
                    path.display()
                ),
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::create_dir_all(data_dir)?;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = URL_SAFE_NO_PAD.encode(bytes);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(&path) {
        Ok(mut file) => {
            file.write_all(secret.as_bytes())?;
            file.sync_all()?;
            tracing::info!(path = %path.display(), "generated a new token signing key");
            Ok(secret.into_bytes())
        }
        // Another process started at the same moment and wrote it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create_secret(data_dir),
        Err(e) => Err(e),
    }
}

/// A new refresh token: the value for the cookie, and the hash that is stored.
pub fn new_refresh_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_refresh_token(&token);
    (token, hash)
}

/// What the database keeps of a refresh token: a leaked database holds no usable token.
pub fn hash_refresh_token(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> TokenUser {
        TokenUser {
            id: UserId(uuid::Uuid::new_v4()),
            school_id: SchoolId(uuid::Uuid::new_v4()),
            role: Role::Teacher,
        }
    }

    fn keys() -> TokenKeys {
        TokenKeys::new(b"0123456789abcdef0123456789abcdef", Duration::from_secs(900))
    }

    #[test]
    fn a_token_round_trips() {
        let user = user();
        let token = keys().issue(user).unwrap();
        assert_eq!(keys().verify(&token).unwrap(), user);
    }

    #[test]
    fn other_keys_audiences_algorithms_and_expired_tokens_are_refused() {
        let user = user();
        let other = TokenKeys::new(b"another-key-another-key-another-key", Duration::from_secs(900));
        assert!(keys().verify(&other.issue(user).unwrap()).is_err());

        let now = jsonwebtoken::get_current_timestamp();
        let key = EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef");
        let claims = |aud: &str, exp: u64| Claims {
            sub: user.id,
            sch: user.school_id,
            role: user.role,
            aud: aud.to_owned(),
            iat: now,
            exp,
        };
        let wrong_audience = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims("other", now + 60), &key);
        assert!(keys().verify(&wrong_audience.unwrap()).is_err());
        let expired = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims(AUDIENCE, now - 60), &key);
        assert!(keys().verify(&expired.unwrap()).is_err());
        let hs512 = jsonwebtoken::encode(&Header::new(Algorithm::HS512), &claims(AUDIENCE, now + 60), &key);
        assert!(keys().verify(&hs512.unwrap()).is_err());
    }

    #[test]
    fn the_generated_key_is_kept_in_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create_secret(dir.path()).unwrap();
        let second = load_or_create_secret(dir.path()).unwrap();
        assert_eq!(first, second);
        assert!(first.len() >= 32);
    }
}
