//! Sign-in: login, refresh (rotating refresh tokens), logout, and the [`AuthUser`] /
//! [`AdminUser`] extractors every other handler uses.
//!
//! The refresh token lives only in an HttpOnly, SameSite=Strict cookie scoped to the auth
//! endpoints, so page scripts can never read it and other sites can never send it. Each use
//! swaps it for a new one; presenting a used one means it was copied, and the whole sign-in
//! (its family) is ended.

use crate::db::{DbConnection, now_ms, write_transaction};
use crate::error::AppError;
use crate::passwords;
use crate::schema::{refresh_tokens, users};
use crate::state::AppState;
use crate::tokens::{self, TokenUser};
use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use diesel::prelude::*;
use rollcall_shared::WireName;
use rollcall_shared::protocol::{LoginRequest, LoginResponse, Role, UserInfo};
use rollcall_shared::{SchoolId, UserId};
use std::future::{Ready, ready};
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

/// The refresh cookie's name and path: the browser sends it to the auth endpoints only.
pub const REFRESH_COOKIE: &str = "rollcall_refresh";
const REFRESH_COOKIE_PATH: &str = "/api/v1/auth";

/// A signed-in caller, from a valid `Authorization: Bearer` access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthUser {
    pub id: UserId,
    pub school_id: SchoolId,
    pub role: Role,
}

impl AuthUser {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Checks a bearer token.
    pub fn from_token(state: &AppState, token: &str) -> Result<AuthUser, AppError> {
        let TokenUser { id, school_id, role } = state.keys.verify(token)?;
        Ok(AuthUser { id, school_id, role })
    }

    fn from_request_sync(req: &HttpRequest) -> Result<AuthUser, AppError> {
        let state = app_state(req)?;
        let header = req.headers().get(header::AUTHORIZATION).ok_or_else(|| {
            AppError::Unauthorized("sign in first: this needs an `Authorization: Bearer` access token".to_owned())
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or_else(|| {
                AppError::Unauthorized("the Authorization header must be `Bearer <access token>`".to_owned())
            })?;
        AuthUser::from_token(state, token.trim())
    }
}

impl FromRequest for AuthUser {
    type Error = AppError;
    type Future = Ready<Result<AuthUser, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(AuthUser::from_request_sync(req))
    }
}

/// A signed-in admin. Anyone else gets 403.
#[derive(Debug, Clone, Copy)]
pub struct AdminUser(pub AuthUser);

impl FromRequest for AdminUser {
    type Error = AppError;
    type Future = Ready<Result<AdminUser, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(AuthUser::from_request_sync(req).and_then(|user| {
            if user.is_admin() {
                Ok(AdminUser(user))
            } else {
                Err(AppError::Forbidden("only a school admin may do this".to_owned()))
            }
        }))
    }
}

fn app_state(req: &HttpRequest) -> Result<&AppState, AppError> {
    req.app_data::<web::Data<AppState>>()
        .map(|data| data.get_ref())
        .ok_or_else(|| AppError::Internal("the app state is not configured".to_owned()))
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
    request_body = crate::openapi::LoginRequestDoc,
    responses(
        (status = 200, description = "Signed in; the refresh token is set as an HttpOnly cookie", body = crate::openapi::LoginResponseDoc),
        (status = 400, description = "Malformed body", body = crate::openapi::ErrorBodyDoc),
        (status = 401, description = "Wrong username or password (INVALID_CREDENTIALS)", body = crate::openapi::ErrorBodyDoc),
        (status = 429, description = "Too many failed attempts; see Retry-After (RATE_LIMITED)", body = crate::openapi::ErrorBodyDoc),
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
    let refresh = state
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                issue_refresh_token(conn, &user_id, &uuid::Uuid::new_v4().to_string(), ttl_ms)
            })
        })
        .await?;
    tracing::info!(username = %info.username, "signed in");
    session_response(&req, &state, info, &refresh)
}

/// `POST /api/v1/auth/refresh`
#[utoipa::path(
    post,
    path = "/api/v1/auth/refresh",
    tag = "auth",
    responses(
        (status = 200, description = "A new access token; the refresh cookie is replaced", body = crate::openapi::LoginResponseDoc),
        (status = 401, description = "No, expired, revoked or reused refresh token (INVALID_REFRESH_TOKEN); a reused one ends the whole sign-in", body = crate::openapi::ErrorBodyDoc),
    )
)]
pub async fn refresh_session(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let presented = req
        .cookie(REFRESH_COOKIE)
        .map(|cookie| cookie.value().to_owned())
        .ok_or_else(|| AppError::InvalidRefreshToken("no sign-in to refresh: sign in with your password".to_owned()))?;
    let hash = tokens::hash_refresh_token(&presented);
    let ttl_ms = refresh_ttl_ms(&state);
    let rotation = state
        .db
        .run(move |conn| write_transaction(conn, |conn| rotate_refresh_token(conn, &hash, ttl_ms)))
        .await?;
    match rotation {
        Rotation::Rotated { user, token } => session_response(&req, &state, user.info()?, &token),
        Rotation::Reused { user_id } => {
            tracing::warn!(%user_id, "a refresh token was used twice; its sign-in has been ended");
            Err(AppError::InvalidRefreshToken(
                "this sign-in was used from two places, so it has been ended everywhere: sign in again".to_owned(),
            ))
        }
        Rotation::Invalid(reason) => Err(AppError::InvalidRefreshToken(reason.to_owned())),
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
        state
            .db
            .run(move |conn| {
                write_transaction(conn, |conn| {
                    let family = refresh_tokens::table
                        .find(&hash)
                        .select(refresh_tokens::family_id)
                        .first::<String>(conn)
                        .optional()?;
                    if let Some(family) = family {
                        revoke_family(conn, &family)?;
                    }
                    Ok::<_, AppError>(())
                })
            })
            .await?;
    }
    let mut removal = refresh_cookie(&req, String::new());
    removal.make_removal();
    Ok(HttpResponse::NoContent().cookie(removal).finish())
}

fn refresh_ttl_ms(state: &AppState) -> i64 {
    i64::try_from(state.settings.refresh_token_ttl.as_millis()).unwrap_or(i64::MAX)
}

fn refresh_cookie(req: &HttpRequest, value: String) -> Cookie<'static> {
    // Secure whenever the tablet reached us over HTTPS (directly or via a proxy that says so);
    // plain http://localhost during development must still work.
    let https = req.connection_info().scheme() == "https";
    Cookie::build(REFRESH_COOKIE, value)
        .path(REFRESH_COOKIE_PATH)
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(https)
        .finish()
}

fn session_response(
    req: &HttpRequest,
    state: &AppState,
    user: UserInfo,
    refresh_token: &str,
) -> Result<HttpResponse, AppError> {
    let access_token = state.keys.issue(TokenUser {
        id: user.id,
        school_id: user.school_id,
        role: user.role,
    })?;
    let mut cookie = refresh_cookie(req, refresh_token.to_owned());
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

/// Stores a new refresh token in a family and returns the token.
fn issue_refresh_token(
    conn: &mut DbConnection,
    user_id: &str,
    family_id: &str,
    ttl_ms: i64,
) -> Result<String, AppError> {
    let (token, hash) = tokens::new_refresh_token();
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
    Ok(token)
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

enum Rotation {
    Rotated {
        user: UserRow,
        token: String,
    },
    /// A token that was already swapped came back: the family is now revoked. Returned as
    /// a value, not an error, so that the revocation commits.
    Reused {
        user_id: String,
    },
    Invalid(&'static str),
}

fn rotate_refresh_token(conn: &mut DbConnection, hash: &str, ttl_ms: i64) -> Result<Rotation, AppError> {
    let row = refresh_tokens::table
        .find(hash)
        .select((
            refresh_tokens::family_id,
            refresh_tokens::user_id,
            refresh_tokens::expires_at,
            refresh_tokens::used_at,
            refresh_tokens::revoked_at,
        ))
        .first::<(String, String, i64, Option<i64>, Option<i64>)>(conn)
        .optional()?;
    let Some((family_id, user_id, expires_at, used_at, revoked_at)) = row else {
        return Ok(Rotation::Invalid(
            "this sign-in is not known: sign in with your password",
        ));
    };
    if revoked_at.is_some() {
        return Ok(Rotation::Invalid("this sign-in was ended: sign in with your password"));
    }
    if used_at.is_some() {
        revoke_family(conn, &family_id)?;
        return Ok(Rotation::Reused { user_id });
    }
    let now = now_ms();
    if expires_at <= now {
        return Ok(Rotation::Invalid(
            "this sign-in has expired: sign in with your password",
        ));
    }
    let user = users::table
        .find(&user_id)
        .select(UserRow::as_select())
        .first(conn)
        .optional()?;
    let Some(user) = user.filter(|user| user.disabled_at.is_none()) else {
        revoke_family(conn, &family_id)?;
        return Ok(Rotation::Invalid(
            "this account was disabled or removed: ask the school office",
        ));
    };
    diesel::update(refresh_tokens::table.find(hash))
        .set(refresh_tokens::used_at.eq(now))
        .execute(conn)?;
    let token = issue_refresh_token(conn, &user_id, &family_id, ttl_ms)?;
    Ok(Rotation::Rotated { user, token })
}
