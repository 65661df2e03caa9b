//! Access tokens (HS256 JWTs, at most 15 minutes) and refresh tokens (random, stored hashed).
//!
//! Verifying an access token is a cheap HMAC and needs no database: it runs on every request.
//! Whether the token's sign-in has since been ended is a separate check (`auth`), because it
//! does need the database.

use crate::error::AppError;
use crate::settings::{MAX_ACCESS_TOKEN_TTL, Settings};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
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
use uuid::Uuid;

/// The `aud` every access token carries and every check demands: a token minted for another
/// service with the same key is still refused.
const AUDIENCE: &str = "rollcall-api";
/// The file in the data directory that holds the generated signing key.
const SECRET_FILE: &str = "jwt-secret";
/// How far the clocks of the servers sharing a database may disagree before their tokens are
/// refused by each other (`exp` in the past, `iat` in the future). Servers behind one proxy
/// must keep their clocks in sync (NTP) to within this.
const CLOCK_LEEWAY_SECS: u64 = 5;
/// Put in front of every refresh-token successor MAC. The successors are keyed with the same
/// secret as the access tokens; a JWT's signing input always starts with `eyJ` (base64 of
/// `{"`) and this label never does, so a successor can never pass for a token signature and
/// no token signature for a successor.
const SUCCESSOR_LABEL: &[u8] = b"rollcall refresh-token successor v1\0";

type HmacSha256 = Hmac<Sha256>;

/// Who a valid access token speaks for, and in which sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenUser {
    pub id: UserId,
    pub school_id: SchoolId,
    pub role: Role,
    /// The sign-in (refresh token family) the token was issued in: when it is ended (logout, a
    /// reused refresh token), its access tokens must stop working too.
    pub session: Uuid,
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
    /// The sign-in ([`TokenUser::session`]). Optional here only so that a token from a version
    /// that did not write it gets a refusal that says what to do; it is always written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<Uuid>,
}

/// Signs and checks access tokens, and derives refresh-token successors.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
    successors: RefreshSuccessors,
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
        // `iat` is required too, by `Claims` (it is not optional there).
        validation.set_required_spec_claims(&["exp", "aud", "sub"]);
        validation.leeway = CLOCK_LEEWAY_SECS;
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
            successors: RefreshSuccessors::new(secret),
        }
    }

    /// The key from the settings, or the one in the data directory (made on first start).
    pub fn from_settings(settings: &Settings) -> Result<Self, std::io::Error> {
        let secret = match &settings.jwt_secret {
            Some(secret) => secret.expose().as_bytes().to_vec(),
            None => load_or_create_secret(&settings.storage.data_dir)?,
        };
        Ok(TokenKeys::new(&secret, settings.access_token_ttl))
    }

    /// Seconds an access token lives.
    pub fn ttl_secs(&self) -> u64 {
        self.ttl.as_secs()
    }

    /// The successor function of refresh tokens, to take into a database task.
    pub fn refresh_successors(&self) -> RefreshSuccessors {
        self.successors.clone()
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
            sid: Some(user.session),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AppError::Internal(format!("cannot sign an access token: {e}")))
    }

    /// Checks signature, algorithm, audience, expiry and lifetime, and that the token names its
    /// sign-in. Whether that sign-in is still on is for the caller to check.
    pub fn verify(&self, token: &str) -> Result<TokenUser, AppError> {
        let invalid = || AppError::Unauthorized("the access token is not valid: sign in again".to_owned());
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    AppError::Unauthorized("the access token has expired: refresh it or sign in again".to_owned())
                }
                _ => invalid(),
            })?
            .claims;
        // `exp` alone would let a token signed with the real key (a leaked key, a bug) live for
        // ever: no token this server issues lives longer than the maximum, so none may.
        let now = jsonwebtoken::get_current_timestamp();
        if claims.iat > now.saturating_add(CLOCK_LEEWAY_SECS) {
            tracing::warn!(user = %claims.sub, iat = claims.iat, "refused an access token issued in the future");
            return Err(invalid());
        }
        if claims.exp.saturating_sub(claims.iat) > MAX_ACCESS_TOKEN_TTL.as_secs() {
            tracing::warn!(user = %claims.sub, iat = claims.iat, exp = claims.exp, "refused an access token that lives too long");
            return Err(invalid());
        }
        let session = claims.sid.ok_or_else(|| {
            AppError::Unauthorized(
                "this access token is from an older version of Rollcall: refresh it or sign in again".to_owned(),
            )
        })?;
        Ok(TokenUser {
            id: claims.sub,
            school_id: claims.sch,
            role: claims.role,
            session,
        })
    }
}

/// Computes the refresh token that replaces a presented one. It is a keyed MAC of the presented
/// token, so the server can compute it again when the same token comes back (its answer was
/// lost) without ever storing a refresh token in plain text; without the key nobody can.
#[derive(Clone)]
pub struct RefreshSuccessors {
    mac: HmacSha256,
}

impl fmt::Debug for RefreshSuccessors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshSuccessors").finish_non_exhaustive()
    }
}

impl RefreshSuccessors {
    fn new(secret: &[u8]) -> Self {
        RefreshSuccessors {
            mac: <HmacSha256 as Mac>::new_from_slice(secret).expect("HMAC takes a key of any length"),
        }
    }

    /// The successor of `token`: the value for the cookie, and the hash that is stored.
    pub fn successor(&self, token: &str) -> (String, String) {
        let mut mac = self.mac.clone();
        mac.update(SUCCESSOR_LABEL);
        mac.update(token.as_bytes());
        let successor = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        let hash = hash_refresh_token(&successor);
        (successor, hash)
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
            session: Uuid::new_v4(),
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
            sid: Some(user.session),
        };
        let wrong_audience = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims("other", now + 60), &key);
        assert!(keys().verify(&wrong_audience.unwrap()).is_err());
        let expired = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims(AUDIENCE, now - 60), &key);
        assert!(keys().verify(&expired.unwrap()).is_err());
        let hs512 = jsonwebtoken::encode(&Header::new(Algorithm::HS512), &claims(AUDIENCE, now + 60), &key);
        assert!(keys().verify(&hs512.unwrap()).is_err());
    }

    #[test]
    fn tokens_signed_with_the_key_are_still_bounded_in_lifetime_and_name_their_sign_in() {
        let user = user();
        let now = jsonwebtoken::get_current_timestamp();
        let key = EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef");
        let sign = |iat: u64, exp: u64, sid: Option<Uuid>| {
            let claims = Claims {
                sub: user.id,
                sch: user.school_id,
                role: user.role,
                aud: AUDIENCE.to_owned(),
                iat,
                exp,
                sid,
            };
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap()
        };
        let session = Some(user.session);
        assert_eq!(keys().verify(&sign(now, now + 900, session)).unwrap(), user);
        assert!(
            keys().verify(&sign(now, now + 901, session)).is_err(),
            "a second too long"
        );
        assert!(keys().verify(&sign(now, 4_102_444_800, session)).is_err(), "until 2100");
        assert!(
            keys().verify(&sign(now + 60, now + 120, session)).is_err(),
            "issued in the future"
        );
        assert!(
            keys().verify(&sign(now + 2, now + 60, session)).is_ok(),
            "within the clock leeway"
        );
        let old = keys().verify(&sign(now, now + 60, None)).unwrap_err();
        assert!(old.to_string().contains("refresh"), "{old}");
    }

    #[test]
    fn a_successor_is_the_same_each_time_and_depends_on_the_key() {
        let successors = keys().refresh_successors();
        let (first, hash) = successors.successor("a-refresh-token");
        assert_eq!(successors.successor("a-refresh-token"), (first.clone(), hash.clone()));
        assert_eq!(hash, hash_refresh_token(&first));
        assert_ne!(successors.successor("another-refresh-token").0, first);
        let other = TokenKeys::new(b"another-key-another-key-another-key", Duration::from_secs(900));
        assert_ne!(other.refresh_successors().successor("a-refresh-token").0, first);
        // As long as a fresh refresh token, and of the same alphabet.
        assert_eq!(first.len(), new_refresh_token().0.len());
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
