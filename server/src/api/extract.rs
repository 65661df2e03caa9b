//! The extractors every handler that needs a caller takes: [`AuthUser`] (anyone signed in) and
//! [`AdminUser`] (a school admin), from a valid `Authorization: Bearer` access token whose
//! sign-in has not been ended. A check never repeated in handlers. Also whether a request came
//! through a trusted proxy ([`from_trusted_proxy`]), whose headers may be believed.

use crate::error::AppError;
use crate::security::AuthUser;
use crate::security::tokens::TokenUser;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use std::net::IpAddr;

/// Checks a bearer token: signature, lifetime, and that its sign-in has not been ended.
pub async fn authenticate(state: &AppState, token: &str) -> Result<AuthUser, AppError> {
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

/// Whether the connection comes from one of `trusted_proxies` (`--trusted-proxies`). Anyone can
/// write `Forwarded` or `X-Request-Id`; only these peers are believed.
pub fn from_trusted_proxy(req: &HttpRequest, trusted_proxies: &[IpAddr]) -> bool {
    req.peer_addr().is_some_and(|peer| {
        let peer = peer.ip().to_canonical();
        trusted_proxies.iter().any(|proxy| proxy.to_canonical() == peer)
    })
}

/// The caller, from the request's `Authorization: Bearer` header.
fn from_request_async(req: &HttpRequest) -> LocalBoxFuture<'static, Result<AuthUser, AppError>> {
    // Taken out of the request now: the future must not borrow it.
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let token = bearer_token(req);
    Box::pin(async move {
        let state = state.ok_or_else(|| AppError::Internal("the app state is not configured".to_owned()))?;
        authenticate(&state, &token?).await
    })
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
        from_request_async(req)
    }
}

/// A signed-in admin. Anyone else gets 403.
#[derive(Debug, Clone, Copy)]
pub struct AdminUser(pub AuthUser);

impl FromRequest for AdminUser {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<AdminUser, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let user = from_request_async(req);
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
