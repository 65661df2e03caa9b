//! HTTPS on the LAN as a tablet meets it (docs/tls.md): the local certificate authority's
//! certificate to install, the page that says how (`/trust`), HSTS on HTTPS answers, and the
//! plain-HTTP port, which serves only those and sends everything else to HTTPS.

use crate::error::AppError;
use crate::settings::certificate_name;
use crate::state::AppState;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};

/// The page that walks a teacher or IT through trusting the local certificate authority.
pub const TRUST_PAGE: &str = "/trust";
/// The authority's certificate in DER, as iPads, Android, ChromeOS and Windows install it (and
/// whose `sha256sum` is the fingerprint the page shows).
pub const CA_CERTIFICATE: &str = "/rollcall-ca.crt";
/// The same certificate as PEM text, for management consoles and `curl --cacert`.
pub const CA_CERTIFICATE_PEM: &str = "/rollcall-ca.pem";
/// All that the plain-HTTP port serves (to `GET`) while HTTPS is on: the page, its stylesheet
/// and the certificate. A tablet needs them before it trusts the authority, so before HTTPS works.
const PLAIN_HTTP_PATHS: [&str; 4] = [TRUST_PAGE, CA_CERTIFICATE, CA_CERTIFICATE_PEM, "/app.css"];
/// HSTS: a year of HTTPS only, once a browser has had one answer over a connection it trusts.
/// Without `includeSubDomains`: other machines under the school's domain are none of ours.
const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000";
/// The `Content-Type` under which iPadOS offers to install a certificate as a profile, and
/// Android and ChromeOS as an authority.
const CA_CERTIFICATE_TYPE: &str = "application/x-x509-ca-cert";

const PAGE: &str = include_str!("trust_page.html");
const LOCAL_CA_BODY: &str = include_str!("trust_local_ca.html");

/// Wraps every answer: on the HTTPS port, adds HSTS; on the plain-HTTP port of a server that
/// speaks HTTPS, answers only [`PLAIN_HTTP_PATHS`] and redirects the rest to HTTPS. A server
/// without HTTPS is left as it is.
pub async fn https_gate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody + 'static>>, actix_web::Error> {
    let https_port = req
        .app_data::<web::Data<AppState>>()
        .and_then(|state| state.https.as_ref())
        .map(|https| https.port);
    let Some(https_port) = https_port else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    // The listener says whether this connection is TLS; no header a client sends can.
    if req.app_config().secure() {
        let mut response = next.call(req).await?;
        response.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(STRICT_TRANSPORT_SECURITY),
        );
        return Ok(response.map_into_left_body());
    }
    let plain = req.method() == Method::GET && PLAIN_HTTP_PATHS.contains(&req.path());
    if plain {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let path = req.uri().path_and_query().map_or("/", |path| path.as_str()).to_owned();
    let location = https_url(req.request(), https_port, &path);
    // 308 keeps the method and body of a POST; the browser remembers the move.
    let redirect = HttpResponse::build(StatusCode::PERMANENT_REDIRECT)
        .insert_header((header::LOCATION, location))
        .finish();
    Ok(req.into_response(redirect).map_into_right_body())
}

/// `GET /rollcall-ca.crt`: the local authority's certificate, DER.
pub async fn get_ca_certificate(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let ca = local_ca(&state)?;
    Ok(certificate_download(
        ca.der().to_vec(),
        CA_CERTIFICATE_TYPE,
        "rollcall-ca.crt",
    ))
}

/// `GET /rollcall-ca.pem`: the same certificate, PEM.
pub async fn get_ca_certificate_pem(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let ca = local_ca(&state)?;
    Ok(certificate_download(
        ca.pem().as_bytes().to_vec(),
        "application/x-pem-file",
        "rollcall-ca.pem",
    ))
}

fn local_ca(state: &AppState) -> Result<&crate::security::tls::LocalCa, AppError> {
    state
        .https
        .as_ref()
        .and_then(|https| https.tls.authority())
        .ok_or_else(|| {
            AppError::NotFound(
                "this server has no certificate authority of its own: it runs without --tls auto".to_owned(),
            )
        })
}

fn certificate_download(body: Vec<u8>, content_type: &str, file_name: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{file_name}\""),
        ))
        // A renewed authority must reach the next tablet that asks.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

/// `GET /trust`: how to trust the local authority (`--tls auto`); with the school's own
/// certificate or with plain HTTP, what that means for a tablet.
pub async fn get_trust_page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let (title, body) = match &state.https {
        Some(https) => {
            let app_url = https_url(&req, https.port, "/");
            let names = https.tls.current().names;
            match https.tls.authority() {
                Some(ca) => {
                    // A long fingerprint may wrap between its bytes, never inside one.
                    let breakable = |fingerprint: String| escape_html(&fingerprint).replace(':', ":<wbr>");
                    let body = LOCAL_CA_BODY
                        .replace("{{sha256}}", &breakable(ca.sha256_fingerprint()))
                        .replace("{{sha1}}", &breakable(ca.sha1_thumbprint()));
                    (
                        "Trust this Rollcall server",
                        fill(&body, &[("app_url", &app_url), ("names", &names.join(", "))]),
                    )
                }
                None => (
                    "This Rollcall server uses HTTPS",
                    fill(
                        "    <section class=\"card\"><p>It uses the school's own certificate, for {{names}}. \
                         Devices the school manages trust it already. If a browser warns about the \
                         certificate at <a href=\"{{app_url}}\">{{app_url}}</a>, ask IT.</p></section>\n",
                        &[("names", &names.join(", ")), ("app_url", &app_url)],
                    ),
                ),
            }
        }
        None => (
            "This Rollcall server speaks plain HTTP",
            "    <section class=\"card\"><p>Marks are still saved on each tablet and sent when it \
             reaches the server, but the app cannot open without the network: browsers keep an app \
             for offline use only on HTTPS. IT turns HTTPS on with <code>rollcall serve --tls \
             auto</code> (see docs/tls.md in Rollcall's source); this page then says how tablets \
             trust it.</p></section>\n"
                .to_owned(),
        ),
    };
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(fill(PAGE, &[("title", title)]).replace("{{body}}", &body))
}

/// `template` with each `{{name}}` replaced by its value, HTML-escaped.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    values.iter().fold(template.to_owned(), |text, (name, value)| {
        text.replace(&format!("{{{{{name}}}}}"), &escape_html(value))
    })
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The HTTPS address of `path` on this server, by the name the request used: the browser
/// asked for that name, so the certificate names it. A `Host` that is not a plain host name or
/// address (anyone can send anything) gives way to the certificate's first name.
fn https_url(req: &HttpRequest, port: u16, path: &str) -> String {
    let asked = req
        .headers()
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().host().map(str::to_owned));
    let host = asked
        .as_deref()
        .and_then(host_of)
        .or_else(|| {
            let state = req.app_data::<web::Data<AppState>>()?;
            state.https.as_ref()?.tls.current().names.into_iter().next()
        })
        .unwrap_or_else(|| "localhost".to_owned());
    let host = if host.contains(':') { format!("[{host}]") } else { host };
    match port {
        443 => format!("https://{host}{path}"),
        port => format!("https://{host}:{port}{path}"),
    }
}

/// The host of a `Host` header (`name`, `name:port`, `[v6]:port`), if it is a certificate name.
fn host_of(value: &str) -> Option<String> {
    let host = match value.strip_prefix('[') {
        Some(bracketed) => bracketed.split_once(']')?.0,
        None => value.rsplit_once(':').map_or(value, |(host, _port)| host),
    };
    certificate_name(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_read_from_the_host_header_and_odd_ones_refused() {
        assert_eq!(
            host_of("rollcall.school.lan:8080").as_deref(),
            Some("rollcall.school.lan")
        );
        assert_eq!(host_of("Rollcall.School.LAN").as_deref(), Some("rollcall.school.lan"));
        assert_eq!(host_of("10.0.0.5").as_deref(), Some("10.0.0.5"));
        assert_eq!(host_of("[::1]:8080").as_deref(), Some("::1"));
        for odd in ["evil.example/x", "user@evil", "a b", "", "[::1"] {
            assert_eq!(host_of(odd), None, "{odd}");
        }
    }

    #[test]
    fn filled_values_are_escaped() {
        assert_eq!(fill("<p>{{x}}</p>", &[("x", "<b>&\"")]), "<p>&lt;b&gt;&amp;&quot;</p>");
    }
}
