//! The embedded web app, the security headers, /healthz, the OpenAPI document and the JSON 404.

#![allow(clippy::unwrap_used, reason = "test scenarios: a panic is how they fail")]

mod common;

use common::{Backend, TestServer};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::time::Duration;

backend_tests!(health_answers_when_the_database_does);

async fn health_answers_when_the_database_does(server: &TestServer) {
    use rollcall_server::sync::relay::RelayStatus;
    // On PostgreSQL the server also hears the other servers on its database, once it listens.
    let other_servers = match server.backend {
        common::Backend::Sqlite => "not_used",
        common::Backend::Postgres => {
            server.relay.wait_for(RelayStatus::Listening).await;
            "listening"
        }
    };
    let reply = server.call("GET", "/healthz", None, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.body,
        serde_json::json!({
            "status": "ok",
            "unreadable_rows": [],
            "schema_version": rollcall_server::db::migrations::latest_known_version(),
            "other_servers": other_servers,
        })
    );
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
        ("GET", "/api/v1/roster/more"),
        ("GET", "/api/nothing"),
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
    for route in rollcall_server::api::ROUTES {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_method_a_path_does_not_take_is_405_with_allow_not_404() {
    let server = TestServer::start(Backend::Sqlite).await;
    let document = server.call("GET", "/api/openapi.json", None, None).await.body;
    for route in rollcall_server::api::ROUTES {
        let documented: Vec<String> = document["paths"][route]
            .as_object()
            .unwrap()
            .keys()
            .map(|method| method.to_uppercase())
            .collect();
        let path = route.replace("{id}", &uuid::Uuid::new_v4().to_string());
        for method in ["TRACE", "PUT", "DELETE", "PATCH", "OPTIONS", "GET", "POST"] {
            if documented.iter().any(|taken| taken == method) {
                continue;
            }
            let reply = server.call(method, &path, None, None).await;
            assert_eq!(
                reply.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {route}: {:?}",
                reply.body
            );
            let mut allowed: Vec<&str> = reply.headers["allow"].to_str().unwrap().split(", ").collect();
            allowed.sort_unstable();
            assert_eq!(allowed, documented, "{method} {route}");
            assert_eq!(reply.headers["rollcall-protocol"], "1", "{method} {route}");
            assert_eq!(reply.body["error"]["code"], "METHOD_NOT_ALLOWED", "{method} {route}");
            let message = reply.body["error"]["message"].as_str().unwrap();
            assert!(
                message.contains(method) && message.contains(&documented.join(", ")),
                "{message}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_answers_are_never_kept_by_a_cache() {
    let server = TestServer::start(Backend::Sqlite).await;
    let teacher = server.login("teacher1").await;
    let device = json!({"device_id": "00000000000000aa", "ops": []});
    let answers = [
        server.get("/api/v1/roster", &teacher.token).await,
        server.get("/api/v1/sync/pull", &teacher.token).await,
        server.post("/api/v1/sync/push", &teacher.token, device).await,
        server.get("/api/v1/admin/locks", &teacher.token).await,
        server.call("GET", "/api/v1/roster", None, None).await,
        server.call("GET", "/api/v1/events", None, None).await,
        server.call("TRACE", "/api/v1/roster", None, None).await,
        server.call("GET", "/api/v1/nothing", None, None).await,
        server.call("GET", "/api/openapi.json", None, None).await,
        server
            .try_login(json!({"username": "teacher1", "password": common::PASSWORD}))
            .await,
    ];
    for reply in answers {
        assert_eq!(
            reply.headers["cache-control"], "no-store",
            "{} {:?}",
            reply.status, reply.body
        );
    }
    // The web app's files are revalidated, not refused to caches: the service worker keeps them.
    let page = server.call("GET", "/", None, None).await;
    assert_eq!(page.headers["cache-control"], "no-cache");
}

/// A tablet that closes its event stream (the app is closed, the screen turns off) must not leave
/// the server holding the stream, its task and its socket until the next keep-alive, 20 s or more
/// later: with a few hundred tablets that adds up. The server counts its open streams; the count
/// must drop well within one keep-alive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_event_stream_is_let_go_at_once() {
    let server = TestServer::start(Backend::Sqlite).await;
    let teacher = server.login("teacher1").await;
    let mut open = server.events.open_streams();
    assert_eq!(*open.borrow(), 0);

    let address = server.url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        stream,
        "GET /api/v1/events HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\nAccept: text/event-stream\r\n\r\n",
        teacher.token
    )
    .unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    while !String::from_utf8_lossy(&received).contains("event: ready\ndata: {}\n\n") {
        let read = stream.read(&mut buffer).expect("no `ready` event");
        assert!(read > 0, "the stream ended before `ready`");
        received.extend_from_slice(&buffer[..read]);
    }
    let head = String::from_utf8_lossy(&received).to_lowercase();
    assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
    assert!(head.contains("\r\ncontent-type: text/event-stream\r\n"), "{head}");
    assert!(head.contains("\r\ncache-control: no-store\r\n"), "{head}");
    assert_eq!(*open.borrow_and_update(), 1);

    drop(stream);
    // Half the keep-alive interval: a server that only notices at its next keep-alive write
    // (or the one after, when the first write still succeeds) fails here.
    tokio::time::timeout(Duration::from_secs(10), open.wait_for(|open| *open == 0))
        .await
        .expect("the server still holds the closed stream")
        .unwrap();
}
