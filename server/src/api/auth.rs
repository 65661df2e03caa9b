//! Sign-in over HTTP: `POST /api/v1/auth/login`, `/refresh` (rotating refresh tokens, see
//! `security::refresh`) and `/logout`.
//!
//! The refresh token lives only in an HttpOnly, SameSite=Strict cookie scoped to the auth
//! endpoints, so page scripts can never read it and other sites can never send it. Every access
//! token names its sign-in (`sid`, the family id); ending a sign-in here is recorded in
//! `security::sessions`, so the extractors refuse its access tokens at once.

use crate::api::extract::from_trusted_proxy;
use crate::db::users::{self, normalize_username};
use crate::db::write_transaction;
use crate::error::AppError;
use crate::security::passwords;
use crate::security::refresh::{Rotation, RotationLimits, rotate_refresh_token};
use crate::security::tokens::{self, TokenUser};
use crate::state::AppState;
use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use rollcall_shared::protocol::{LoginRequest, LoginResponse, UserInfo};
use std::net::{IpAddr, Ipv4Addr};
use uuid::Uuid;

/// The refresh cookie's name and path: the browser sends it to the auth endpoints only.
pub const REFRESH_COOKIE: &str = "rollcall_refresh";
const REFRESH_COOKIE_PATH: &str = "/api/v1/auth";

/// The id of a sign-in as access tokens carry it.
fn session_id(family_id: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(family_id)
        .map_err(|_| AppError::Internal(format!("the refresh token family {family_id:?} is not a UUID")))
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
    request_body = rollcall_shared::protocol::LoginRequest,
    responses(
        (status = 200, description = "Signed in; the refresh token is set as an HttpOnly cookie", body = rollcall_shared::protocol::LoginResponse),
        (status = 400, description = "Malformed body", body = rollcall_shared::protocol::ErrorBody),
        (status = 401, description = "Wrong username or password (INVALID_CREDENTIALS)", body = rollcall_shared::protocol::ErrorBody),
        (status = 429, description = "Too many failed attempts; see Retry-After (RATE_LIMITED)", body = rollcall_shared::protocol::ErrorBody),
        (status = 503, description = "The database, which keeps the failed-login counts, does not answer; nothing was tried (UNAVAILABLE)", body = rollcall_shared::protocol::ErrorBody),
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
    // The throttle's counts are in the database: when it cannot be read, the login fails
    // (Unavailable) rather than going unthrottled.
    state.throttle.check(&username, address).await?;

    let lookup = username.clone();
    let user = state
        .db
        .run(move |conn| users::find_user_by_name(conn, &lookup))
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
            tracing::info!(%username, %address, "failed login");
            state.throttle.record_failure(&username, address).await?;
            return Err(AppError::InvalidCredentials);
        }
    };
    if user.disabled_at.is_some() {
        return Err(AppError::Forbidden(
            "this account is disabled; ask the school office to enable it".to_owned(),
        ));
    }
    state.throttle.record_success(&username, address).await?;
    let info = user.info();
    let ttl_ms = refresh_ttl_ms(&state);
    let user_id = user.id;
    let session = Uuid::new_v4();
    let (refresh, hash) = tokens::new_refresh_token();
    state
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                users::store_refresh_token(conn, &hash, user_id, &session.to_string(), ttl_ms)
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
        (status = 200, description = "A new access token; the refresh cookie is replaced", body = rollcall_shared::protocol::LoginResponse),
        (status = 401, description = "No, expired, revoked or reused refresh token (INVALID_REFRESH_TOKEN); a reused one ends the whole sign-in, unless it was swapped within the reuse grace (then its successor is returned again)", body = rollcall_shared::protocol::ErrorBody),
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
            session_response(&req, &state, user.info(), session_id(&family_id)?, &token)
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
                    let family = users::family_of(conn, &hash)?;
                    if let Some(family) = &family {
                        users::revoke_family(conn, family)?;
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
    if from_trusted_proxy(req, trusted_proxies) {
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
