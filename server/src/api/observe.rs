//! What every request leaves behind for school IT (docs/observability.md): an id, sent back in
//! `X-Request-Id` and in every error body and carried by every log line written while the
//! request is served (a `request` span); a debug line when it is answered; and its count and
//! duration in `/metrics`, by route pattern.
//!
//! The outermost middleware of both listeners ([`crate::api::serve`]), so that answers made by
//! the layers inside it (404, 405, refused bodies) carry the id too.

use crate::api::extract::from_trusted_proxy;
use crate::logging;
use crate::metrics::{Metrics, RequestLabels};
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::Method;
use actix_web::http::header::{HeaderName, HeaderValue};
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

/// The header that carries a request's id, both ways, as the OpenAPI document spells it.
pub const REQUEST_ID_HEADER: &str = "X-Request-Id";
/// [`REQUEST_ID_HEADER`] as actix takes it (lower case, as HTTP/2 sends it).
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The longest request id taken from a proxy.
const MAX_REQUEST_ID_LEN: usize = 128;
/// The request ids the server sends, as the OpenAPI document describes them: its own (16 hex
/// digits) and those it takes from a proxy ([`is_sensible_request_id`]).
pub const REQUEST_ID_PATTERN: &str = "^[A-Za-z0-9._:@-]{1,128}$";

/// The middleware's view of the server, cloned into each worker.
#[derive(Debug, Clone)]
pub struct Observer {
    metrics: Arc<Metrics>,
    /// Only these peers may name a request's id (`--trusted-proxies`).
    trusted_proxies: Arc<[IpAddr]>,
}

impl Observer {
    pub fn new(metrics: Arc<Metrics>, trusted_proxies: &[IpAddr]) -> Observer {
        Observer {
            metrics,
            trusted_proxies: trusted_proxies.into(),
        }
    }

    /// Serves `req` with `service` inside the request's scope (its id and span), then labels the
    /// answer with the id and counts it. For `App::wrap_fn`.
    pub fn serve<S, B>(
        &self,
        req: ServiceRequest,
        service: &S,
    ) -> impl Future<Output = Result<ServiceResponse<B>, actix_web::Error>> + use<S, B>
    where
        S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
        B: MessageBody,
    {
        let observer = self.clone();
        let id = request_id(&req, &self.trusted_proxies);
        // At level ERROR, so that whatever the log filter lets through carries the id.
        let span = tracing::error_span!("request", request_id = %id);
        // Taken now: the request cannot be kept (routing needs it unshared), and an error below
        // comes without it. The pattern, never the path: no ids in labels, and a fixed number of
        // series.
        let method = method_label(req.method());
        let route = req.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
        let started = Instant::now();
        // Routing and the first steps of a handler run here, before the future is polled.
        let answer = span.in_scope(|| logging::sync_scope_request_id(id.clone(), || service.call(req)));
        let scoped_id = id.clone();
        let answered = async move {
            let header = HeaderValue::from_str(&id).ok();
            let log = |path: &str, status: u16| {
                tracing::debug!(
                    method,
                    path,
                    status,
                    elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                    "request"
                );
            };
            let (answer, status) = match answer.await {
                Ok(mut response) => {
                    if let Some(header) = header {
                        response.headers_mut().insert(REQUEST_ID, header);
                    }
                    let status = response.status().as_u16();
                    log(response.request().path(), status);
                    (Ok(response), status)
                }
                // An error that no layer inside made into an answer: made into one here, in the
                // request's scope, so that its body carries the id; actix sends it as it is.
                Err(error) => {
                    let mut response = error.error_response();
                    if let Some(header) = header {
                        response.headers_mut().insert(REQUEST_ID, header);
                    }
                    let status = response.status().as_u16();
                    log(&route, status);
                    (Err(InternalError::from_response(error, response).into()), status)
                }
            };
            observer
                .metrics
                .request_answered(RequestLabels { method, route, status }, started.elapsed());
            answer
        };
        logging::scope_request_id(scoped_id, answered).instrument(span)
    }
}

/// The id a proxy in `--trusted-proxies` gave the request, when it is a sensible one; otherwise
/// a new one. Anyone else's `X-Request-Id` is ignored: it would let a client put any text it
/// likes into the log, or pass off its requests as another's.
fn request_id(req: &ServiceRequest, trusted_proxies: &[IpAddr]) -> String {
    let given = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| is_sensible_request_id(id));
    match given {
        Some(id) if from_trusted_proxy(req.request(), trusted_proxies) => id.to_owned(),
        _ => format!("{:016x}", rand::random::<u64>()),
    }
}

/// 1 to 128 letters, digits and `-_.:@`: what proxies send (UUIDs, hex), and nothing that could
/// disturb a log line.
fn is_sensible_request_id(id: &str) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-_.:@".contains(&byte))
}

/// A method as a label: the standard ones by name, anything else as `other`, so that a client
/// inventing methods cannot add series.
fn method_label(method: &Method) -> &'static str {
    const STANDARD: [&str; 9] = [
        "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT",
    ];
    STANDARD
        .into_iter()
        .find(|name| *name == method.as_str())
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sensible_ids_are_taken_from_a_proxy() {
        for good in [
            "3f2a9c1e0b7d4a66",
            "0b7e2d1c-4f3a-4c55-9d7e-2a1b3c4d5e6f",
            "lb-1:42@edge",
        ] {
            assert!(is_sensible_request_id(good), "{good}");
        }
        let too_long = "a".repeat(MAX_REQUEST_ID_LEN + 1);
        for bad in ["", "two words", "quote\"", "line\nbreak", "Zoë", too_long.as_str()] {
            assert!(!is_sensible_request_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_header_has_one_name() {
        assert_eq!(REQUEST_ID, HeaderName::try_from(REQUEST_ID_HEADER).unwrap());
    }

    #[test]
    fn methods_beyond_the_standard_ones_share_one_label() {
        assert_eq!(method_label(&Method::POST), "POST");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
    }
}
