//! The web app (www/) embedded in the binary, the security headers of every answer, and the JSON
//! 404 and 405 for everything else.
//!
//! Release builds carry www/ inside the executable, so a school installs one file. Debug builds
//! read www/ from disk, so edits show on reload.

use crate::error::{AppError, error_body};
use actix_web::http::Method;
use actix_web::http::header::{self, AcceptEncoding, ContentEncoding, Encoding, Header, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use rollcall_shared::ErrorCode;
use rust_embed::{EmbeddedFile, RustEmbed};

/// Content-Security-Policy for every response: scripts only from this server, WebAssembly
/// allowed to compile, no inline script anywhere, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; worker-src 'self'; manifest-src 'self'; \
     object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

#[derive(RustEmbed)]
#[folder = "../www"]
#[allow_missing = true]
struct WebApp;

/// `GET /` and `GET /{path}`: a file of the web app, or 404.
pub async fn get_asset(req: HttpRequest) -> Result<HttpResponse, AppError> {
    let path = req.match_info().query("path").trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    let Some(plain) = WebApp::get(path) else {
        return Err(AppError::NotFound(format!("there is no page or file at /{path}")));
    };
    let (file, encoding) = match precompressed(&req, path) {
        Some((file, encoding)) => (file, Some(encoding)),
        // The Compress middleware compresses it on the fly if the browser takes that.
        None => (plain, None),
    };
    // The hash is a strong validator: an unchanged file costs a 304 and no body.
    let etag = format!("\"{}\"", base64_hash(&file.metadata.sha256_hash()));
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|tag| tag.trim() == etag));
    let mut response = if matches {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag))
        // Always revalidate: the service worker decides what to keep offline, and a new release
        // must reach tablets at the next load.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // Which copy was sent depends on what the browser accepts; caches must keep them apart.
        .insert_header((header::VARY, "Accept-Encoding"));
    if let Some(encoding) = encoding {
        // Also tells the Compress middleware to leave the body as it is.
        response.insert_header(encoding);
    }
    if matches {
        return Ok(response.finish());
    }
    Ok(response.content_type(content_type(path)).body(file.data.into_owned()))
}

/// The copies `cargo xtask build` compresses at top settings beside the web app's big files
/// (`<file>.br`, `<file>.gz`; see xtask/src/precompress.rs). On the fly, the Compress middleware
/// can only afford fast levels: the module would be ~20% bigger as brotli, ~5% as gzip.
const PRECOMPRESSED: [(ContentEncoding, &str); 2] = [(ContentEncoding::Brotli, "br"), (ContentEncoding::Gzip, "gz")];

/// The precompressed copy of `path` that this browser takes best, if there is one; `None` when it
/// takes none of them (or there are none), and the plain file is to be sent.
fn precompressed(req: &HttpRequest, path: &str) -> Option<(EmbeddedFile, ContentEncoding)> {
    let copies: Vec<(Encoding, ContentEncoding, EmbeddedFile)> = PRECOMPRESSED
        .iter()
        .filter_map(|&(encoding, suffix)| {
            WebApp::get(&format!("{path}.{suffix}")).map(|file| (Encoding::Known(encoding), encoding, file))
        })
        .collect();
    if copies.is_empty() {
        return None;
    }
    let accepted = AcceptEncoding::parse(req).ok()?;
    let identity = Encoding::identity();
    let offered = copies.iter().map(|(encoding, ..)| encoding).chain([&identity]);
    let chosen = accepted.negotiate(offered)?;
    copies
        .into_iter()
        .find(|(encoding, ..)| *encoding == chosen)
        .map(|(_, encoding, file)| (file, encoding))
}

/// The Content-Type of a web app file. Browsers compile WebAssembly streaming only when it is
/// served as `application/wasm`.
fn content_type(path: &str) -> String {
    mime_guess::from_path(path).first_or_octet_stream().to_string()
}

fn base64_hash(hash: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash)
}

/// Anything no route matched.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, AppError> {
    Err(AppError::NotFound(format!(
        "there is nothing at {} {}",
        req.method(),
        req.path()
    )))
}

/// A method that an API path does not take: 405, with `Allow` listing the methods it does.
pub fn method_not_allowed(req: &HttpRequest, allowed: &[Method]) -> HttpResponse {
    let names: Vec<&str> = allowed.iter().map(Method::as_str).collect();
    HttpResponse::MethodNotAllowed()
        .insert_header(header::Allow(allowed.to_vec()))
        .json(error_body(
            ErrorCode::MethodNotAllowed,
            format!(
                "{} does not take {}; it takes {}",
                req.path(),
                req.method(),
                names.join(", ")
            ),
            None,
        ))
}

/// Headers every response carries, errors and 404s included.
pub fn security_headers() -> actix_web::middleware::DefaultHeaders {
    actix_web::middleware::DefaultHeaders::new()
        .add((
            rollcall_shared::protocol::PROTOCOL_HEADER,
            HeaderValue::from_static(rollcall_shared::protocol::PROTOCOL_VERSION),
        ))
        .add((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "no-referrer"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_app_files_get_the_types_browsers_require() {
        assert_eq!(content_type("pkg/rollcall_client_bg.wasm"), "application/wasm");
        assert_eq!(content_type("js/app.js"), "text/javascript");
        assert_eq!(content_type("index.html"), "text/html");
        assert_eq!(content_type("manifest.webmanifest"), "application/manifest+json");
    }
}
