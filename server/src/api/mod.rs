//! The HTTP API and the web app: one module per resource with its handlers (`verb_noun`), the
//! extractors of the caller, the OpenAPI document, what every request leaves behind (`observe`:
//! its id, log span and metrics), and here the one route table ([`config`], and
//! [`metrics_config`] for a separate metrics address), the rules every route shares (405 with
//! `Allow`, JSON bodies, `no-store`) and the `HttpServer`s with their middleware. Handlers parse,
//! call `sync`, `db` and `security`, and answer; nothing below `api` imports it.

pub mod auth;
pub mod events;
pub mod extract;
pub mod health;
pub mod locks;
pub mod metrics;
pub mod observe;
pub mod openapi;
pub mod roster;
pub mod sync;
pub mod trust;
pub mod web_app;

use crate::error::AppError;
use crate::state::AppState;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::{DefaultHeaders, Next, from_fn};
use actix_web::{App, HttpMessage, HttpRequest, HttpServer, Resource, Route, mime, web as aw};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

/// Every path the server answers, as the OpenAPI document must list them.
pub const ROUTES: &[&str] = &[
    "/api/v1/auth/login",
    "/api/v1/auth/refresh",
    "/api/v1/auth/logout",
    "/api/v1/roster",
    "/api/v1/sync/push",
    "/api/v1/sync/pull",
    "/api/v1/events",
    "/api/v1/admin/locks",
    "/api/v1/admin/locks/{id}/reopen",
    "/api/openapi.json",
    "/healthz",
    "/metrics",
];

/// Largest JSON body of the small endpoints (login, locks); push has its own 1 MiB limit.
const SMALL_JSON_LIMIT: usize = 64 * 1024;

/// Registers every route of the main port; `/metrics` only when `metrics_for_admins` (the
/// school did not give the metrics an address of their own, `--metrics-bind`).
///
/// Each API path is an [`endpoint`], so a method it does not take answers 405 with `Allow`,
/// not 404. No answer under `/api/` may be kept by a cache (`no-store`).
pub fn config(cfg: &mut aw::ServiceConfig, metrics_for_admins: bool) {
    cfg.service(
        aw::scope("/api")
            // Rosters and marks are about children: no browser or proxy cache may keep a copy.
            // A handler that sets its own Cache-Control keeps it.
            .wrap(DefaultHeaders::new().add((header::CACHE_CONTROL, "no-store")))
            .service(
                aw::scope("/v1")
                    .service(endpoint(
                        "/auth/login",
                        [(Method::POST, json_body(aw::to(auth::login_user)))],
                    ))
                    .service(endpoint(
                        "/auth/refresh",
                        [(Method::POST, aw::to(auth::refresh_session))],
                    ))
                    .service(endpoint("/auth/logout", [(Method::POST, aw::to(auth::logout_session))]))
                    .service(endpoint("/roster", [(Method::GET, aw::to(roster::get_roster))]))
                    .service(endpoint(
                        "/sync/push",
                        [(Method::POST, json_body(aw::to(sync::push_ops)))],
                    ))
                    .service(endpoint("/sync/pull", [(Method::GET, aw::to(sync::pull_changes))]))
                    .service(endpoint("/events", [(Method::GET, aw::to(events::stream_events))]))
                    .service(endpoint(
                        "/admin/locks",
                        [
                            (Method::GET, aw::to(locks::list_locks)),
                            (Method::POST, json_body(aw::to(locks::create_lock))),
                        ],
                    ))
                    .service(endpoint(
                        "/admin/locks/{id}/reopen",
                        [(Method::POST, json_body(aw::to(locks::reopen_lock)))],
                    )),
            )
            .service(endpoint("/openapi.json", [(Method::GET, aw::to(openapi::get_openapi))])),
    )
    .service(endpoint("/healthz", [(Method::GET, aw::to(health::get_health))]));
    if metrics_for_admins {
        cfg.service(endpoint("/metrics", [(Method::GET, aw::to(metrics::get_metrics))]));
    }
    cfg.route(trust::TRUST_PAGE, aw::get().to(trust::get_trust_page))
        .route(trust::CA_CERTIFICATE, aw::get().to(trust::get_ca_certificate))
        .route(trust::CA_CERTIFICATE_PEM, aw::get().to(trust::get_ca_certificate_pem))
        // Last: the web app takes every other GET.
        .route("/", aw::get().to(web_app::get_asset))
        .route("/{path:.*}", aw::get().to(web_app::get_asset));
}

/// The only route of the separate metrics address (`--metrics-bind`): `/metrics`, without
/// sign-in.
pub fn metrics_config(cfg: &mut aw::ServiceConfig) {
    cfg.service(endpoint(
        "/metrics",
        [(Method::GET, aw::to(metrics::get_metrics_unguarded))],
    ));
}

/// One path of the API with a route per method it takes. Any other method gets 405 with `Allow`
/// and the API's error body: a route added with `.route()` would send it on to the app's 404, as
/// if the path did not exist, and a bare resource answers an empty 405.
fn endpoint<const N: usize>(path: &str, routes: [(Method, Route); N]) -> Resource {
    let allowed: Arc<[Method]> = routes.iter().map(|(method, _)| method.clone()).collect();
    let resource = routes
        .into_iter()
        .fold(aw::resource(path), |resource, (method, route)| {
            resource.route(route.method(method))
        });
    resource.default_service(aw::to(move |req: HttpRequest| {
        std::future::ready(web_app::method_not_allowed(&req, &allowed))
    }))
}

/// Whether a request carries the Content-Type of a JSON body: `application/json`, or any
/// `…/json` or `…+json` type, which is what actix's `Json` extractor takes. The one rule of every
/// endpoint with a JSON body, push included (it reads its raw payload, past the extractor).
fn is_json(req: &HttpRequest) -> bool {
    matches!(req.mime_type(), Ok(Some(mime)) if mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON))
}

/// The answer to a body that is not labelled JSON.
fn not_json() -> AppError {
    AppError::BadRequest("send the body as JSON with `Content-Type: application/json`".to_owned())
}

/// The route of an endpoint that takes a JSON body: a request whose Content-Type is not
/// [`is_json`] is refused with [`not_json`] before the handler (and its extractors) run.
fn json_body(route: Route) -> Route {
    route.wrap(from_fn(require_json))
}

async fn require_json(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody + 'static>>, actix_web::Error> {
    if is_json(req.request()) {
        Ok(next.call(req).await?.map_into_left_body())
    } else {
        Ok(req.error_response(not_json()).map_into_right_body())
    }
}

/// Makes extractor errors (bad JSON, bad query, bad path) answer in the API's error format.
fn extractor_errors(cfg: &mut aw::ServiceConfig) {
    cfg.app_data(
        aw::JsonConfig::default()
            .limit(SMALL_JSON_LIMIT)
            .error_handler(|error, _| {
                use actix_web::error::JsonPayloadError;
                match error {
                    JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
                        AppError::PayloadTooLarge(format!("this body may be at most {SMALL_JSON_LIMIT} bytes"))
                    }
                    // `json_body` refuses these first; an extractor on a route without it says the same.
                    JsonPayloadError::ContentType => not_json(),
                    other => AppError::BadRequest(format!("the body is not what this endpoint takes: {other}")),
                }
                .into()
            }),
    )
    .app_data(
        aw::QueryConfig::default()
            .error_handler(|error, _| AppError::BadRequest(format!("bad query parameters: {error}")).into()),
    )
    .app_data(
        aw::PathConfig::default().error_handler(|error, _| AppError::BadRequest(format!("bad path: {error}")).into()),
    );
}

/// Where the server listens: `main` serves everything, over TLS when `tls` is given;
/// `plain_http` (only with TLS) serves the trust page and redirects the rest to HTTPS.
#[derive(Debug)]
pub struct Listeners {
    pub main: TcpListener,
    pub tls: Option<rustls::ServerConfig>,
    pub plain_http: Option<TcpListener>,
}

/// The HTTP server on `listeners`: every route, the extractors' error format, compression, the
/// security headers (HSTS on HTTPS), and outermost what each request leaves behind (`observe`).
pub fn serve(
    state: aw::Data<AppState>,
    workers: usize,
    shutdown_timeout: Duration,
    listeners: Listeners,
) -> std::io::Result<Server> {
    let observer = observe::Observer::new(state.metrics.clone(), &state.settings.trusted_proxies);
    let metrics_for_admins = state.settings.metrics_bind.is_none();
    let server = HttpServer::new(move || {
        let observer = observer.clone();
        App::new()
            .app_data(state.clone())
            .configure(extractor_errors)
            .configure(|cfg| config(cfg, metrics_for_admins))
            .default_service(aw::to(web_app::not_found))
            // Inside the security headers, so a redirect of the plain-HTTP port carries them too.
            .wrap(from_fn(trust::https_gate))
            .wrap(actix_web::middleware::Compress::default())
            .wrap(web_app::security_headers())
            .wrap_fn(move |req, srv| observer.serve(req, srv))
    })
    .workers(workers)
    // Small JSON answers must not wait for Nagle + delayed ACK (~40 ms per push on loopback).
    .on_connect(|connection, _| {
        use actix_tls::accept::rustls_0_23::TlsStream;
        use actix_web::rt::net::TcpStream;
        let tcp = connection.downcast_ref::<TcpStream>().or_else(|| {
            connection
                .downcast_ref::<TlsStream<TcpStream>>()
                .map(|tls| tls.get_ref().0)
        });
        if let Some(tcp) = tcp {
            let _ = tcp.set_nodelay(true);
        }
    })
    // A client that closes its side of the connection is gone: drop what serves it at once. With
    // half-closes allowed (actix's default), the EOF of a closed `/api/v1/events` stream goes
    // unheeded, and the stream and its socket live on until a keep-alive write fails, 20 to 40 s
    // later (see events.rs). No client of ours sends a request and then half-closes to wait for
    // the answer; browsers and proxies do not.
    .h1_allow_half_closed(false)
    .disable_signals()
    .shutdown_timeout(shutdown_timeout.as_secs());
    let server = match listeners.tls {
        Some(tls) => server.listen_rustls_0_23(listeners.main, tls)?,
        None => server.listen(listeners.main)?,
    };
    let server = match listeners.plain_http {
        Some(plain_http) => server.listen(plain_http)?,
        None => server,
    };
    Ok(server.run())
}

/// The HTTP server of the separate metrics address on `listener`: `/metrics` and nothing else,
/// one worker (a scrape every few seconds).
pub fn serve_metrics(
    state: aw::Data<AppState>,
    shutdown_timeout: Duration,
    listener: TcpListener,
) -> std::io::Result<Server> {
    let observer = observe::Observer::new(state.metrics.clone(), &state.settings.trusted_proxies);
    Ok(HttpServer::new(move || {
        let observer = observer.clone();
        App::new()
            .app_data(state.clone())
            .configure(metrics_config)
            .default_service(aw::to(web_app::not_found))
            .wrap(web_app::security_headers())
            .wrap_fn(move |req, srv| observer.serve(req, srv))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(shutdown_timeout.as_secs())
    .listen(listener)?
    .run())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use utoipa::OpenApi;

    #[test]
    fn every_route_is_documented() {
        let doc = serde_json::to_value(openapi::ApiDoc::openapi()).unwrap();
        let paths: BTreeSet<&str> = doc["paths"].as_object().unwrap().keys().map(String::as_str).collect();
        for route in ROUTES {
            assert!(paths.contains(route), "{route} is served but not documented");
        }
    }
}
