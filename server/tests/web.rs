//! The embedded web app, the security headers, /healthz, the OpenAPI document and the JSON 404.

#![allow(clippy::unwrap_used, reason = "test scenarios: a panic is how they fail")]

mod common;

use common::{Backend, TestServer};
use reqwest::StatusCode;
use serde_json::Value;

backend_tests!(health_answers_when_the_database_does);

async fn health_answers_when_the_database_does(server: &TestServer) {
    let reply = server.call("GET", "/healthz", None, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, serde_json::json!({"status": "ok", "unreadable_rows": []}));
}

fn www(path: &str) -> Vec<u8> {
    std::fs::read(format!("{}/../www/{path}", env!("CARGO_MANIFEST_DIR"))).expect("www file")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_app_is_served_with_a_strict_csp_and_no_inline_script() {
    let server = TestServer::start(Backend::Sqlite).await;
    let response = server.http.get(server.url("/")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/html"));
    assert_eq!(headers["rollcall-protocol"], "1");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.starts_with("default-src 'self'; script-src 'self' 'wasm-unsafe-eval';"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let body = response.bytes().await.unwrap();
    assert_eq!(body.as_ref(), www("index.html").as_slice());

    // The CSP forbids inline script, so the page must have none: every <script> has a src.
    let html = String::from_utf8_lossy(&body).to_lowercase();
    for tag in html.split("<script").skip(1) {
        let open_tag = tag.split('>').next().unwrap_or_default();
        assert!(
            open_tag.contains("src="),
            "inline script in index.html: <script{open_tag}>"
        );
    }

    // Unchanged files cost a 304.
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let again = server
        .http
        .get(server.url("/index.html"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    let manifest = server
        .http
        .get(server.url("/manifest.webmanifest"))
        .send()
        .await
        .unwrap();
    assert_eq!(manifest.status(), StatusCode::OK);
    assert_eq!(
        manifest.bytes().await.unwrap().as_ref(),
        www("manifest.webmanifest").as_slice()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_module_is_sent_as_the_build_compressed_it_when_the_browser_takes_that() {
    let module = "pkg/rollcall_client_bg.wasm";
    assert!(
        std::path::Path::new(&format!("{}/../www/{module}.br", env!("CARGO_MANIFEST_DIR"))).exists(),
        "www/{module}.br is missing: run `cargo xtask build` before these tests (`cargo xtask test` does)"
    );
    let server = TestServer::start(Backend::Sqlite).await;
    let fetch = |accept: &'static str| {
        let request = server.http.get(server.url(&format!("/{module}")));
        async move {
            let response = request.header("accept-encoding", accept).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{accept}");
            assert_eq!(response.headers()["content-type"], "application/wasm", "{accept}");
            assert_eq!(response.headers()["vary"], "Accept-Encoding", "{accept}");
            let encoding = response
                .headers()
                .get("content-encoding")
                .map(|value| value.to_str().unwrap().to_owned());
            (encoding, response.bytes().await.unwrap())
        }
    };

    // What Chromium sends: brotli wins over gzip and zstd.
    let (encoding, body) = fetch("gzip, deflate, br, zstd").await;
    assert_eq!(encoding.as_deref(), Some("br"));
    assert_eq!(body.as_ref(), www(&format!("{module}.br")).as_slice());

    let (encoding, body) = fetch("gzip").await;
    assert_eq!(encoding.as_deref(), Some("gzip"));
    assert_eq!(body.as_ref(), www(&format!("{module}.gz")).as_slice());

    // A browser that takes brotli but prefers gzip gets gzip.
    let (encoding, _) = fetch("br;q=0.5, gzip").await;
    assert_eq!(encoding.as_deref(), Some("gzip"));

    let (encoding, body) = fetch("identity").await;
    assert_eq!(encoding, None);
    assert_eq!(body.as_ref(), www(module).as_slice());

    // Files the build did not compress are still compressed on the fly.
    let page = server
        .http
        .get(server.url("/index.html"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(page.headers()["content-encoding"], "gzip");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_get_a_json_404_with_the_protocol_header() {
    let server = TestServer::start(Backend::Sqlite).await;
    for (method, path) in [
        ("GET", "/no/such/page"),
        ("POST", "/api/v1/nothing"),
        ("DELETE", "/api/v1/roster"),
    ] {
        let reply = server.call(method, path, None, None).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(reply.headers["rollcall-protocol"], "1", "{method} {path}");
        assert_eq!(reply.body["error"]["code"], "NOT_FOUND", "{method} {path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_endpoint_and_each_answers() {
    let server = TestServer::start(Backend::Sqlite).await;
    let reply = server.call("GET", "/api/openapi.json", None, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let paths = reply.body["paths"].as_object().expect("paths");
    for route in rollcall_server::ROUTES {
        assert!(paths.contains_key(*route), "{route} is not documented");
    }
    // Every documented operation exists: none of them answers 404 or 405.
    for (path, operations) in paths {
        let concrete = path.replace("{id}", &uuid::Uuid::new_v4().to_string());
        for method in operations.as_object().unwrap().keys() {
            let reply = server
                .call(
                    &method.to_uppercase(),
                    &concrete,
                    None,
                    Some(Value::Object(Default::default())),
                )
                .await;
            assert!(
                ![StatusCode::NOT_FOUND, StatusCode::METHOD_NOT_ALLOWED].contains(&reply.status),
                "{method} {path} answered {}",
                reply.status
            );
        }
    }
    assert!(reply.body["components"]["securitySchemes"]["bearer"].is_object());
}
