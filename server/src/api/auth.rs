//! Sign-in: login, refresh (rotating refresh tokens), logout, and the [`AuthUser`] /
//! [`AdminUser`] extractors every other handler uses.
//!
//! The refresh token lives only in an HttpOnly, SameSite=Strict cookie scoped to the auth
//! endpoints, so page scripts can never read it and other sites can never send it. Each use
//! swaps it for a new one; presenting a used one means it was copied, and the whole sign-in
//! (its family) is ended, unless it comes back within a short grace of being swapped: then the
//! answer to the first use was lost on the way, and the same successor is handed out again.
//!
//! Every access token names its sign-in (`sid`, the family id), and the extractors refuse a
//! token whose sign-in was ended, so logging out or a detected copy ends access at once rather
//! than when the last access token expires.

use crate::db::schema::{refresh_tokens, users};
use crate::db::{Db, DbConnection, now_ms, write_transaction};
use crate::error::AppError;
use crate::security::passwords;
use crate::security::tokens::{self, RefreshSuccessors, TokenUser};
use crate::settings::MAX_ACCESS_TOKEN_TTL;
use crate::state::AppState;
use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use diesel::prelude::*;
use futures_util::future::LocalBoxFuture;
use rollcall_shared::WireName;
use rollcall_shared::protocol::{LoginRequest, LoginResponse, Role, UserInfo};
use rollcall_shared::{SchoolId, UserId};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The refresh cookie's name and path: the browser sends it to the auth endpoints only.
pub const REFRESH_COOKIE: &str = "rollcall_refresh";
const REFRESH_COOKIE_PATH: &str = "/api/v1/auth";
/// How long a "this sign-in is still on" answer from the database is believed. A sign-in ended
/// by this server is known here at once; one ended by another server on the same database is
/// noticed within this long. Short enough for an ended sign-in, long enough that a tablet
/// pushing several times a second costs the database one small query every few seconds.
pub const SESSION_RECHECK: Duration = Duration::from_secs(2);
/// How often the memory of sign-ins is swept of answers that no longer matter.
const SESSION_SWEEP_EVERY: Duration = Duration::from_secs(60);
/// The most swaps a lost-answer retry follows to reach the newest refresh token. Within the
/// grace a tablet refreshes once or twice; a longer chain is not a lost answer.
const MAX_GRACE_CHAIN: usize = 8;
/// What a request with an access token of an ended sign-in is told.
const SIGN_IN_ENDED: &str = "this sign-in was ended: sign in again";

/// A signed-in caller, from a valid `Authorization: Bearer` access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthUser {
    pub id: UserId,
    pub school_id: SchoolId,
    pub role: Role,
    /// The sign-in (refresh token family) the token belongs to; long-lived answers such as the
    /// event stream check it again while they last.
    pub session: Uuid,
}

impl AuthUser {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Checks a bearer token: signature, lifetime, and that its sign-in has not been ended.
    pub async fn from_token(state: &AppState, token: &str) -> Result<AuthUser, AppError> {
        let TokenUser {
            id,
            school_id,
            role,
            session,
        } = state.keys.verify(token)?;
        state.sessions.ensure_live(&state.db, session).await?;
        Ok(AuthUser {
            id,
            school_id,
            role,
            session,
        })
    }

    /// The caller, from the request's `Authorization: Bearer` header.
    fn from_request_async(req: &HttpRequest) -> LocalBoxFuture<'static, Result<AuthUser, AppError>> {
        // Taken out of the request now: the future must not borrow it.
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer_token(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| AppError::Internal("the app state is not configured".to_owned()))?;
            AuthUser::from_token(&state, &token?).await
        })
    }
}

fn bearer_token(req: &HttpRequest) -> Result<String, AppError> {
    let header = req.headers().get(header::AUTHORIZATION).ok_or_else(|| {
        AppError::Unauthorized("sign in first: this needs an `Authorization: Bearer` access token".to_owned())
    })?;
    header
        .to_str()
        .ok()
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(|token| token.trim().to_owned())
        .ok_or_else(|| AppError::Unauthorized("the Authorization header must be `Bearer <access token>`".to_owned()))
}

impl FromRequest for AuthUser {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<AuthUser, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        AuthUser::from_request_async(req)
    }
}

/// A signed-in admin. Anyone else gets 403.
#[derive(Debug, Clone, Copy)]
pub struct AdminUser(pub AuthUser);

impl FromRequest for AdminUser {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<AdminUser, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let user = AuthUser::from_request_async(req);
        Box::pin(async move {
            let user = user.await?;
            if user.is_admin() {
                Ok(AdminUser(user))
            } else {
                Err(AppError::Forbidden("only a school admin may do this".to_owned()))
            }
        })
    }
}

/// Which sign-ins (refresh token families) this server knows to be ended or, recently, still
/// on: the check every authenticated request makes, mostly without the database.
///
/// A sign-in this server ends is recorded here as soon as the database has it, so on one server
/// the next request with one of its access tokens is refused. A "still on" answer read from the
/// database is believed for [`SESSION_RECHECK`], so servers sharing a database agree within
/// seconds. "Ended" is never overwritten by a "still on" read that raced it.
#[derive(Debug, Default)]
pub struct SessionRevocations {
    known: Mutex<KnownSessions>,
}

#[derive(Debug, Default)]
struct KnownSessions {
    sessions: HashMap<Uuid, Known>,
    swept: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
enum Known {
    /// The database said it was on; `checked` is when the question was asked.
    Live {
        checked: Instant,
    },
    Ended {
        at: Instant,
    },
}

impl SessionRevocations {
    fn with<T>(&self, f: impl FnOnce(&mut KnownSessions) -> T) -> T {
        let mut known = self.known.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut known)
    }

    /// `Ok` when the sign-in is still on; 401 when it was ended (or never existed).
    pub async fn ensure_live(&self, db: &Db, session: Uuid) -> Result<(), AppError> {
        let cached = self.with(|known| match known.sessions.get(&session) {
            Some(Known::Ended { .. }) => Some(false),
            Some(Known::Live { checked }) if checked.elapsed() < SESSION_RECHECK => Some(true),
            _ => None,
        });
        let live = match cached {
            Some(live) => live,
            None => {
                // Taken before asking: an answer is no fresher than the question.
                let checked = Instant::now();
                let family = session.to_string();
                let live = db.run(move |conn| family_is_live(conn, &family)).await?;
                self.record(
                    session,
                    if live {
                        Known::Live { checked }
                    } else {
                        Known::Ended { at: checked }
                    },
                );
                live
            }
        };
        if live {
            Ok(())
        } else {
            Err(AppError::Unauthorized(SIGN_IN_ENDED.to_owned()))
        }
    }

    /// Records that this server ended a sign-in. Call it after the revocation is committed: a
    /// sign-in refused here but still on in the database would refresh into tokens that are
    /// refused again.
    pub fn record_ended(&self, session: Uuid) {
        self.record(session, Known::Ended { at: Instant::now() });
    }

    fn record(&self, session: Uuid, status: Known) {
        self.with(|known| {
            let now = Instant::now();
            if known
                .swept
                .is_none_or(|swept| now.duration_since(swept) >= SESSION_SWEEP_EVERY)
            {
                // An entry only saves a query; dropping one is always safe. An ended sign-in's
                // tokens are all expired once the longest token lifetime has passed.
                known.sessions.retain(|_, entry| match *entry {
                    Known::Live { checked } => now.duration_since(checked) < SESSION_RECHECK,
                    Known::Ended { at } => now.duration_since(at) < MAX_ACCESS_TOKEN_TTL + SESSION_SWEEP_EVERY,
                });
                known.swept = Some(now);
            }
            match (known.sessions.get(&session), status) {
                (Some(Known::Ended { .. }), Known::Live { .. }) => {}
                _ => {
                    known.sessions.insert(session, status);
                }
            }
        });
    }
}

/// Whether a sign-in is still on: some token of its family is not revoked. Ending a sign-in
/// revokes every token of the family in one write transaction, and writes are serialized
/// (`write_transaction`), so no token is added to a family after it was ended. A family with no
/// tokens at all is not on either. In a live family every token is unrevoked, so the scan stops
/// at the first row.
fn family_is_live(conn: &mut DbConnection, family: &str) -> Result<bool, AppError> {
    Ok(diesel::select(diesel::dsl::exists(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family))
            .filter(refresh_tokens::revoked_at.is_null()),
    ))
    .get_result(conn)?)
}

/// The id of a sign-in as access tokens carry it.
fn session_id(family_id: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(family_id)
        .map_err(|_| AppError::Internal(format!("the refresh token family {family_id:?} is not a UUID")))
}

/// A user account as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: String,
    pub school_id: String,
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub password_hash: String,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
}

impl UserRow {
    /// The public view of the account, as login returns it.
    pub fn info(&self) -> Result<UserInfo, AppError> {
        let corrupt = |what: &str| AppError::Internal(format!("user {} has a bad {what} in the database", self.id));
        Ok(UserInfo {
            id: UserId::from_str(&self.id).map_err(|_| corrupt("id"))?,
            username: self.username.clone(),
            display_name: self.display_name.clone(),
            role: Role::from_name(&self.role).map_err(|_| corrupt("role"))?,
            school_id: SchoolId::from_str(&self.school_id).map_err(|_| corrupt("school id"))?,
        })
    }
}

/// Usernames are matched without regard to case or surrounding spaces.
pub fn normalize_username(username: &str) -> String {
    username.trim().to_lowercase()
}

/// The address a login comes from, for throttling. Forwarded headers are ignored on purpose:
/// anyone can write them.
fn peer_ip(req: &HttpRequest) -> IpAddr {
    req.peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |addr| addr.ip())
}

/// `POST /api/v1/auth/login`
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    request_body = crate::api::openapi::LoginRequestDoc,
    responses(
        (status = 200, description = "Signed in; the refresh token is set as an HttpOnly cookie", body = crate::api::openapi::LoginResponseDoc),
        (status = 400, description = "Malformed body", body = crate::api::openapi::ErrorBodyDoc),
        (status = 401, description = "Wrong username or password (INVALID_CREDENTIALS)", body = crate::api::openapi::ErrorBodyDoc),
        (status = 429, description = "Too many failed attempts; see Retry-After (RATE_LIMITED)", body = crate::api::openapi::ErrorBodyDoc),
    )
)]
pub async fn login_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, AppError> {
    let LoginRequest { username, password } = body.into_inner();
    let username = normalize_username(&username);
    let address = peer_ip(&req);
    state
        .throttle
        .check(&username, address)
        .map_err(|retry| AppError::RateLimited {
            retry_after_secs: retry.0,
        })?;

    let lookup = username.clone();
    let user = state
        .db
        .run(move |conn| {
            // No username holds a control character, and PostgreSQL cannot even be asked about
            // one with a NUL: such a name is simply not found.
            if lookup.chars().any(char::is_control) {
                return Ok(None);
            }
            Ok(users::table
                .filter(users::username.eq(lookup))
                .select(UserRow::as_select())
                .first(conn)
                .optional()?)
        })
        .await?;
    let stored_hash = user.as_ref().map(|user| user.password_hash.clone());
    let matches = web::block(move || match stored_hash {
        Some(hash) => passwords::verify(&password, &hash),
        None => {
            passwords::verify_against_nothing(&password);
            false
        }
    })
    .await
    .map_err(|e| AppError::Internal(format!("password check did not finish: {e}")))?;

    let user = match user {
        Some(user) if matches => user,
        _ => {
            state.throttle.record_failure(&username, address);
            tracing::info!(%username, %address, "failed login");
            return Err(AppError::InvalidCredentials);
        }
    };
    if user.disabled_at.is_some() {
        return Err(AppError::Forbidden(
            "this account is disabled; ask the school office to enable it".to_owned(),
        ));
    }
    state.throttle.record_success(&username, address);
    let info = user.info()?;
    let ttl_ms = refresh_ttl_ms(&state);
    let user_id = user.id.clone();
    let session = Uuid::new_v4();
    let (refresh, hash) = tokens::new_refresh_token();
    state
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                store_refresh_token(conn, &hash, &user_id, &session.to_string(), ttl_ms)
            })
        })
        .await?;
    tracing::info!(username = %info.username, "signed in");
    session_response(&req, &state, info, session, &refresh)
}

/// `POST /api/v1/auth/refresh`
#[utoipa::path(
    post,
    path = "/api/v1/auth/refresh",
    tag = "auth",
    responses(
        (status = 200, description = "A new access token; the refresh cookie is replaced", body = crate::api::openapi::LoginResponseDoc),
        (status = 401, description = "No, expired, revoked or reused refresh token (INVALID_REFRESH_TOKEN); a reused one ends the whole sign-in, unless it was swapped within the reuse grace (then its successor is returned again)", body = crate::api::openapi::ErrorBodyDoc),
    )
)]
pub async fn refresh_session(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let presented = req
        .cookie(REFRESH_COOKIE)
        .map(|cookie| cookie.value().to_owned())
        .ok_or_else(|| AppError::InvalidRefreshToken("no sign-in to refresh: sign in with your password".to_owned()))?;
    let successors = state.keys.refresh_successors();
    let limits = RotationLimits {
        ttl_ms: refresh_ttl_ms(&state),
        grace_ms: i64::try_from(state.settings.refresh_reuse_grace.as_millis()).unwrap_or(i64::MAX),
    };
    let rotation = state
        .db
        .run(move |conn| write_transaction(conn, |conn| rotate_refresh_token(conn, &presented, &successors, limits)))
        .await?;
    match rotation {
        Rotation::Rotated { user, token, family_id } => {
            session_response(&req, &state, user.info()?, session_id(&family_id)?, &token)
        }
        Rotation::Reused { user_id, family_id } => {
            state.sessions.record_ended(session_id(&family_id)?);
            tracing::warn!(%user_id, "a refresh token was used twice; its sign-in has been ended");
            Err(AppError::InvalidRefreshToken(
                "this sign-in was used from two places, so it has been ended everywhere: sign in again".to_owned(),
            ))
        }
        Rotation::Refused { reason, ended } => {
            if let Some(family_id) = ended {
                state.sessions.record_ended(session_id(&family_id)?);
            }
            Err(AppError::InvalidRefreshToken(reason.to_owned()))
        }
    }
}

/// `POST /api/v1/auth/logout`
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "auth",
    responses((status = 204, description = "Signed out: the refresh token's whole sign-in is revoked and the cookie cleared"))
)]
pub async fn logout_session(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    if let Some(cookie) = req.cookie(REFRESH_COOKIE) {
        let hash = tokens::hash_refresh_token(cookie.value());
        let ended = state
            .db
            .run(move |conn| {
                write_transaction(conn, |conn| {
                    let family = refresh_tokens::table
                        .find(&hash)
                        .select(refresh_tokens::family_id)
                        .first::<String>(conn)
                        .optional()?;
                    if let Some(family) = &family {
                        revoke_family(conn, family)?;
                    }
                    Ok::<_, AppError>(family)
                })
            })
            .await?;
        // Committed: from now on this server refuses the sign-in's access tokens too.
        if let Some(family) = ended {
            state.sessions.record_ended(session_id(&family)?);
        }
    }
    let mut removal = refresh_cookie(&req, &state, String::new());
    removal.make_removal();
    Ok(HttpResponse::NoContent().cookie(removal).finish())
}

fn refresh_ttl_ms(state: &AppState) -> i64 {
    i64::try_from(state.settings.refresh_token_ttl.as_millis()).unwrap_or(i64::MAX)
}

fn refresh_cookie(req: &HttpRequest, state: &AppState, value: String) -> Cookie<'static> {
    // Secure whenever the tablet reached us over HTTPS; plain http://localhost during
    // development must still work.
    Cookie::build(REFRESH_COOKIE, value)
        .path(REFRESH_COOKIE_PATH)
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(reached_over_https(req, &state.settings.trusted_proxies))
        .finish()
}

/// Whether the tablet reached us over HTTPS. A TLS-terminating proxy says so in `Forwarded` or
/// `X-Forwarded-Proto`, but anyone can write those headers, so they count only when the
/// connection comes from a configured proxy; otherwise only the connection itself does.
fn reached_over_https(req: &HttpRequest, trusted_proxies: &[IpAddr]) -> bool {
    let from_trusted_proxy = req.peer_addr().is_some_and(|peer| {
        let peer = peer.ip().to_canonical();
        trusted_proxies.iter().any(|proxy| proxy.to_canonical() == peer)
    });
    if from_trusted_proxy {
        // Forwarded, then X-Forwarded-Proto, then the connection's own scheme.
        req.connection_info().scheme() == "https"
    } else {
        req.app_config().secure()
    }
}

fn session_response(
    req: &HttpRequest,
    state: &AppState,
    user: UserInfo,
    session: Uuid,
    refresh_token: &str,
) -> Result<HttpResponse, AppError> {
    let access_token = state.keys.issue(TokenUser {
        id: user.id,
        school_id: user.school_id,
        role: user.role,
        session,
    })?;
    let mut cookie = refresh_cookie(req, state, refresh_token.to_owned());
    cookie.set_max_age(time::Duration::seconds(
        i64::try_from(state.settings.refresh_token_ttl.as_secs()).unwrap_or(i64::MAX),
    ));
    Ok(HttpResponse::Ok()
        .cookie(cookie)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(LoginResponse {
            access_token,
            token_type: "Bearer".to_owned(),
            expires_in: state.keys.ttl_secs(),
            user,
        }))
}

/// Stores a refresh token (its hash) in a family.
fn store_refresh_token(
    conn: &mut DbConnection,
    hash: &str,
    user_id: &str,
    family_id: &str,
    ttl_ms: i64,
) -> Result<(), AppError> {
    let now = now_ms();
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::token_hash.eq(hash),
            refresh_tokens::family_id.eq(family_id),
            refresh_tokens::user_id.eq(user_id),
            refresh_tokens::issued_at.eq(now),
            refresh_tokens::expires_at.eq(now.saturating_add(ttl_ms)),
        ))
        .execute(conn)?;
    Ok(())
}

fn revoke_family(conn: &mut DbConnection, family_id: &str) -> Result<(), AppError> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(now_ms()))
    .execute(conn)?;
    Ok(())
}

/// A stored refresh token.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = refresh_tokens)]
struct RefreshRow {
    family_id: String,
    user_id: String,
    expires_at: i64,
    used_at: Option<i64>,
    revoked_at: Option<i64>,
}

fn find_refresh_token(conn: &mut DbConnection, hash: &str) -> Result<Option<RefreshRow>, AppError> {
    Ok(refresh_tokens::table
        .find(hash)
        .select(RefreshRow::as_select())
        .first(conn)
        .optional()?)
}

/// The settings a rotation needs, in milliseconds.
#[derive(Debug, Clone, Copy)]
struct RotationLimits {
    /// How long a new refresh token lives.
    ttl_ms: i64,
    /// How soon after its swap a used token may come back as a lost answer.
    grace_ms: i64,
}

enum Rotation {
    Rotated {
        user: UserRow,
        token: String,
        family_id: String,
    },
    /// A token that was already swapped came back after the grace: the family is now revoked.
    /// Returned as a value, not an error, so that the revocation commits.
    Reused { user_id: String, family_id: String },
    /// No new token; `ended` names the family if this refusal revoked it.
    Refused {
        reason: &'static str,
        ended: Option<String>,
    },
}

/// Swaps a presented refresh token for its successor. The successor is derived from the
/// presented token ([`RefreshSuccessors`]), so a token that comes back within the grace of its
/// swap (the answer was lost on the way) gets the very same successor again instead of ending
/// the sign-in; only the hashes are stored. Runs in a write transaction: writes are serialized,
/// so two uses of one token never both swap it.
fn rotate_refresh_token(
    conn: &mut DbConnection,
    presented: &str,
    successors: &RefreshSuccessors,
    limits: RotationLimits,
) -> Result<Rotation, AppError> {
    let Some(row) = find_refresh_token(conn, &tokens::hash_refresh_token(presented))? else {
        return Ok(Rotation::Refused {
            reason: "this sign-in is not known: sign in with your password",
            ended: None,
        });
    };
    if row.revoked_at.is_some() {
        return Ok(Rotation::Refused {
            reason: "this sign-in was ended: sign in with your password",
            ended: None,
        });
    }
    let now = now_ms();
    let again = match row.used_at {
        None if row.expires_at <= now => {
            return Ok(Rotation::Refused {
                reason: "this sign-in has expired: sign in with your password",
                ended: None,
            });
        }
        None => None,
        Some(used_at) if now.saturating_sub(used_at) < limits.grace_ms => {
            match newest_successor(conn, presented, successors, now, limits.grace_ms)? {
                Some(token) => Some(token),
                None => return reused(conn, row),
            }
        }
        Some(_) => return reused(conn, row),
    };
    let user = users::table
        .find(&row.user_id)
        .select(UserRow::as_select())
        .first(conn)
        .optional()?;
    let Some(user) = user.filter(|user| user.disabled_at.is_none()) else {
        revoke_family(conn, &row.family_id)?;
        return Ok(Rotation::Refused {
            reason: "this account was disabled or removed: ask the school office",
            ended: Some(row.family_id),
        });
    };
    let token = match again {
        Some(token) => token,
        None => {
            diesel::update(refresh_tokens::table.find(tokens::hash_refresh_token(presented)))
                .set(refresh_tokens::used_at.eq(now))
                .execute(conn)?;
            let (token, hash) = successors.successor(presented);
            store_refresh_token(conn, &hash, &row.user_id, &row.family_id, limits.ttl_ms)?;
            token
        }
    };
    Ok(Rotation::Rotated {
        user,
        token,
        family_id: row.family_id,
    })
}

/// A swapped token came back after the grace: it was copied. Ends the whole sign-in.
fn reused(conn: &mut DbConnection, row: RefreshRow) -> Result<Rotation, AppError> {
    revoke_family(conn, &row.family_id)?;
    Ok(Rotation::Reused {
        user_id: row.user_id,
        family_id: row.family_id,
    })
}

/// For a token swapped within the grace: its successor, or, if that was swapped within the
/// grace too (the tablet got a later answer before this retry arrived), the newest token down
/// the chain. `None` when the chain does not end in a live token within [`MAX_GRACE_CHAIN`]
/// swaps, all within the grace: then this is no lost answer, and the caller treats it as reuse.
fn newest_successor(
    conn: &mut DbConnection,
    presented: &str,
    successors: &RefreshSuccessors,
    now: i64,
    grace_ms: i64,
) -> Result<Option<String>, AppError> {
    let mut current = presented.to_owned();
    for _ in 0..MAX_GRACE_CHAIN {
        let (next, hash) = successors.successor(&current);
        // Missing (issued under another signing key) or revoked: nothing to hand out again.
        let Some(row) = find_refresh_token(conn, &hash)?.filter(|row| row.revoked_at.is_none()) else {
            return Ok(None);
        };
        match row.used_at {
            None => return Ok((row.expires_at > now).then_some(next)),
            Some(used_at) if now.saturating_sub(used_at) < grace_ms => current = next,
            Some(_) => return Ok(None),
        }
    }
    Ok(None)
}
