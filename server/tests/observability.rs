//! What school IT watches (docs/observability.md), against the real server: `/metrics` parses as
//! Prometheus text and its counters move with traffic; only admins read it on the main port, and
//! anyone who can reach `--metrics-bind` reads it there; every answer carries a request id, taken
//! from a proxy only when the proxy is trusted, and the same id is in error bodies and in the log
//! lines of the request, in both log formats of the real binary.

#![allow(clippy::unwrap_used, reason = "test scenarios: a panic is how they fail")]

mod common;

use common::{BinaryServer, Device, Reply, TestServer, school_day, send};
use openmetrics_parser::PrometheusValue;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeMap;

backend_tests!(metrics_move_with_traffic);

/// One scrape of `/metrics`, parsed by a strict parser of the Prometheus text format.
#[derive(Debug)]
struct Scrape {
    /// Every series: its name (`_count` for a histogram's count), labels and value.
    series: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Scrape {
    fn parse(reply: &Reply) -> Scrape {
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        assert_eq!(
            reply.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8",
            "the Prometheus text format"
        );
        let text = reply.body.as_str().expect("a text body");
        let exposition = openmetrics_parser::prometheus::parse_prometheus(text)
            .unwrap_or_else(|e| panic!("/metrics is not Prometheus text: {e:?}\n{text}"));
        let mut series = Vec::new();
        for (name, family) in &exposition.families {
            for sample in family.iter_samples() {
                let labels: BTreeMap<String, String> = sample
                    .get_labelset()
                    .unwrap()
                    .iter()
                    .map(|(name, value)| (name.clone(), value.clone()))
                    .collect();
                let (name, value) = match &sample.value {
                    PrometheusValue::Counter(counter) => (name.clone(), counter.value.as_f64()),
                    PrometheusValue::Gauge(value) | PrometheusValue::Unknown(value) => (name.clone(), value.as_f64()),
                    PrometheusValue::Histogram(histogram) => {
                        (format!("{name}_count"), histogram.count.unwrap_or_default() as f64)
                    }
                    PrometheusValue::Summary(_) => panic!("{name}: the server has no summaries"),
                };
                series.push((name, labels, value));
            }
        }
        Scrape { series }
    }

    /// The sum of the series of `name` whose labels include `labels`; 0 when there is none.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.series
            .iter()
            .filter(|(series, have, _)| {
                series == name
                    && labels
                        .iter()
                        .all(|(label, value)| have.get(*label).map(String::as_str) == Some(*value))
            })
            .map(|(_, _, value)| value)
            .sum()
    }

    /// Every label value of every series.
    fn label_values(&self) -> impl Iterator<Item = &str> {
        self.series
            .iter()
            .flat_map(|(_, labels, _)| labels.values().map(String::as_str))
    }
}

async fn scrape(server: &TestServer, token: &str) -> Scrape {
    Scrape::parse(&server.get("/metrics", token).await)
}

/// Every error answer carries its request id, the same in its body and its header.
fn assert_error_carries_its_id(reply: &Reply, code: &str) {
    assert_eq!(reply.body["error"]["code"], code, "{:?}", reply.body);
    let id = reply.headers["x-request-id"].to_str().unwrap();
    assert_eq!(reply.body["error"]["request_id"], id, "{:?}", reply.body);
}

async fn metrics_move_with_traffic(server: &TestServer) {
    let admin = server.login("admin").await.token;
    let (teacher, classes) = server.login_with_classes("teacher1").await;
    let before = scrape(server, &admin).await;
    assert_eq!(before.value("rollcall_event_streams_open", &[]), 0.0);
    assert_eq!(before.value("rollcall_last_backup_timestamp_seconds", &[]), 0.0);
    assert_eq!(before.value("rollcall_db_pool_max_connections", &[]), 4.0);

    // N new marks, the same N again, and one refused: each counted by its outcome.
    let class = classes.class(0);
    let students = classes.students(class);
    let day = school_day(3);
    let mut device = Device::new(0x0b5e);
    let marks: Vec<_> = students
        .iter()
        .map(|student| device.mark(class, &day, 1, *student, "present"))
        .collect();
    let n = marks.len() as f64;
    assert!(n >= 2.0);
    for outcome in ["applied", "duplicate"] {
        let outcomes = server.push(&teacher, device.id, &marks).await.outcomes();
        assert!(outcomes.iter().all(|o| o == outcome), "{outcomes:?}");
    }
    let refused = device.mark(class, &day, 1, students[0], "sleepy");
    assert_eq!(
        server.push(&teacher, device.id, &[refused]).await.outcomes(),
        ["rejected"]
    );
    let pulled = server.get("/api/v1/sync/pull", &teacher).await;
    assert_eq!(pulled.status, StatusCode::OK);

    // A lock reopened by its id: counted under the route's pattern, never its path.
    let lock = json!({"class_id": class, "from": school_day(30), "until": school_day(30), "reason": "census"});
    let lock = server.create_lock(&admin, lock).await;
    assert_eq!(lock.status, StatusCode::CREATED);
    let lock_id = lock.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        server.reopen_lock(&admin, &lock_id, "a correction").await.status,
        StatusCode::OK
    );
    let not_found = server.reopen_lock(&admin, uuid::Uuid::new_v4(), "again").await;
    assert_eq!(not_found.status, StatusCode::NOT_FOUND);

    let after = scrape(server, &admin).await;
    let moved = |name: &str, labels: &[(&str, &str)]| after.value(name, labels) - before.value(name, labels);
    assert_eq!(moved("rollcall_push_ops_total", &[("outcome", "applied")]), n);
    assert_eq!(moved("rollcall_push_ops_total", &[("outcome", "duplicate")]), n);
    assert_eq!(moved("rollcall_push_ops_total", &[("outcome", "rejected")]), 1.0);
    assert_eq!(moved("rollcall_push_ops_total", &[("outcome", "superseded")]), 0.0);
    let push = [("method", "POST"), ("route", "/api/v1/sync/push")];
    assert_eq!(
        moved("rollcall_http_requests_total", &[push[0], push[1], ("status", "200")]),
        3.0
    );
    assert_eq!(moved("rollcall_http_request_duration_seconds_count", &push), 3.0);
    let pull = [("method", "GET"), ("route", "/api/v1/sync/pull")];
    assert_eq!(
        moved("rollcall_http_requests_total", &[pull[0], pull[1], ("status", "200")]),
        1.0
    );
    assert_eq!(moved("rollcall_http_request_duration_seconds_count", &pull), 1.0);
    let reopen = [("method", "POST"), ("route", "/api/v1/admin/locks/{id}/reopen")];
    assert_eq!(
        moved(
            "rollcall_http_requests_total",
            &[reopen[0], reopen[1], ("status", "200")]
        ),
        1.0
    );
    assert_eq!(
        moved(
            "rollcall_http_requests_total",
            &[reopen[0], reopen[1], ("status", "404")]
        ),
        1.0
    );
    assert!(
        after.label_values().all(|value| !value.contains(&lock_id)),
        "an id in a label"
    );
    // The first scrape is counted by the second.
    let metrics = [("method", "GET"), ("route", "/metrics"), ("status", "200")];
    assert!(after.value("rollcall_http_requests_total", &metrics) >= 1.0);
    // Each push went through a group commit (several may share one).
    // One group commit per push: each was answered before the next was sent.
    assert_eq!(moved("rollcall_group_commit_ops_count", &[]), 3.0);
    assert_eq!(moved("rollcall_group_commit_pushes_count", &[]), 3.0);
    assert_eq!(moved("rollcall_group_commit_duration_seconds_count", &[]), 3.0);
    let pool = after.value("rollcall_db_pool_connections", &[]);
    assert!((1.0..=4.0).contains(&pool), "{pool} pooled connections");

    // An open event stream counts from its `ready` until the server lets go of it.
    let mut stream = server
        .http
        .get(server.url("/api/v1/events"))
        .bearer_auth(&teacher)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let mut first = String::new();
    while !first.contains("event: ready") {
        let chunk = stream.chunk().await.unwrap().expect("the stream ended before `ready`");
        first.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert_eq!(
        scrape(server, &admin).await.value("rollcall_event_streams_open", &[]),
        1.0
    );
    drop(stream);
    let mut open = server.events.open_streams();
    open.wait_for(|open| *open == 0).await.unwrap();
    assert_eq!(
        scrape(server, &admin).await.value("rollcall_event_streams_open", &[]),
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_backup_time_shows_once_a_backup_is_made() {
    let server = TestServer::start_with(common::Backend::Sqlite, |settings| {
        settings.backup_every = Some(std::time::Duration::from_secs(24 * 3600));
    })
    .await
    .expect("SQLite is always there");
    let admin = server.login("admin").await.token;
    let backups = server.backups.clone().unwrap();
    // The first backup is due at start; then one more, by hand.
    backups.last().subscribe().wait_for(Option::is_some).await.unwrap();
    backups.run_now().await.unwrap();
    let made = backups.last().get().unwrap();
    let shown = scrape(&server, &admin)
        .await
        .value("rollcall_last_backup_timestamp_seconds", &[]);
    assert_eq!(shown, made.timestamp_millis() as f64 / 1000.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_read_metrics_on_the_main_port() {
    let server = TestServer::start(common::Backend::Sqlite).await;
    let anonymous = server.call("GET", "/metrics", None, None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_error_carries_its_id(&anonymous, "UNAUTHORIZED");
    let teacher = server.login("teacher1").await.token;
    let refused = server.get("/metrics", &teacher).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_error_carries_its_id(&refused, "FORBIDDEN");
    let forged = server.get("/metrics", "not-a-token").await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    let admin = server.login("admin").await.token;
    let scraped = scrape(&server, &admin).await;
    // The refusals were counted, by their status.
    let refusals = |status: &str| {
        scraped.value(
            "rollcall_http_requests_total",
            &[("route", "/metrics"), ("status", status)],
        )
    };
    assert_eq!((refusals("401"), refusals("403")), (2.0, 1.0));
    assert!(server.metrics_url.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_separate_metrics_address_needs_no_sign_in_and_the_main_port_has_none() {
    let plain = TestServer::start(common::Backend::Sqlite).await;
    let server = plain
        .sibling_with(|settings| settings.metrics_bind = Some("127.0.0.1:0".parse().unwrap()))
        .await;
    let metrics_url = server.metrics_url.clone().expect("a metrics address");
    let (token, classes) = server.login_with_classes("teacher1").await;
    let class = classes.class(0);
    let student = classes.students(class)[0];
    let mut device = Device::new(0x0b5f);
    let mark = device.mark(class, &school_day(4), 2, student, "absent");
    assert_eq!(server.push(&token, device.id, &[mark]).await.outcomes(), ["applied"]);

    let scraped = send(server.http.get(format!("{metrics_url}/metrics"))).await;
    let scraped = Scrape::parse(&scraped);
    assert_eq!(scraped.value("rollcall_push_ops_total", &[("outcome", "applied")]), 1.0);
    let elsewhere = send(server.http.post(format!("{metrics_url}/metrics"))).await;
    assert_eq!(elsewhere.status, StatusCode::METHOD_NOT_ALLOWED);
    let elsewhere = send(server.http.get(format!("{metrics_url}/healthz"))).await;
    assert_error_carries_its_id(&elsewhere, "NOT_FOUND");

    // The main port has no /metrics, even for an admin.
    let admin = server.login("admin").await.token;
    let main_port = server.get("/metrics", &admin).await;
    assert_eq!(main_port.status, StatusCode::NOT_FOUND);
    assert_error_carries_its_id(&main_port, "NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_id_is_taken_only_from_a_trusted_proxy() {
    let server = TestServer::start(common::Backend::Sqlite).await;
    let as_proxy = |server: &TestServer, id: &str| {
        send(
            server
                .http
                .post(server.url("/api/v1/auth/login"))
                .header("X-Request-Id", id)
                .json(&json!({"username": "teacher1", "password": "wrong"})),
        )
    };
    // Not a proxy of ours: its id is ignored, and the answer has one of the server's.
    let untrusted = as_proxy(&server, "edge-7f3a").await;
    assert_error_carries_its_id(&untrusted, "INVALID_CREDENTIALS");
    assert_ne!(untrusted.headers["x-request-id"], "edge-7f3a");
    let fresh = as_proxy(&server, "edge-7f3a").await;
    assert_ne!(fresh.headers["x-request-id"], untrusted.headers["x-request-id"]);

    let behind_proxy = server
        .sibling_with(|settings| settings.trusted_proxies = vec!["127.0.0.1".parse().unwrap()])
        .await;
    let trusted = as_proxy(&behind_proxy, "edge-7f3a").await;
    assert_eq!(trusted.headers["x-request-id"], "edge-7f3a");
    assert_error_carries_its_id(&trusted, "INVALID_CREDENTIALS");
    // Even a trusted proxy cannot put just anything into the log.
    let odd = as_proxy(&behind_proxy, "two words").await;
    assert_ne!(odd.headers["x-request-id"], "two words");
    assert_error_carries_its_id(&odd, "INVALID_CREDENTIALS");
    // A success carries the id in its header.
    let health = behind_proxy.call("GET", "/healthz", None, None).await;
    assert_eq!(health.headers["x-request-id"].len(), 16);
}

/// Signs in to the real binary twice (a wrong password, then the right one) and returns the
/// answers' request ids.
async fn sign_in_twice(server: &BinaryServer) -> (String, String) {
    let http = reqwest::Client::new();
    let login = |password: &str| {
        send(
            http.post(format!("{}/api/v1/auth/login", server.url))
                .json(&json!({"username": "teacher1", "password": password})),
        )
    };
    let failed = login("wrong").await;
    assert_error_carries_its_id(&failed, "INVALID_CREDENTIALS");
    let signed_in = login(common::PASSWORD).await;
    assert_eq!(signed_in.status, StatusCode::OK);
    let id = |reply: &Reply| reply.headers["x-request-id"].to_str().unwrap().to_owned();
    (id(&failed), id(&signed_in))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_json_lines_with_the_request_id_of_the_answer() {
    let db = TestServer::start(common::Backend::Sqlite).await;
    let mut server = BinaryServer::start(&db.db_url, &[("ROLLCALL_LOG_FORMAT", "json")]);
    let (failed, signed_in) = sign_in_twice(&server).await;
    let failed_line = server.wait_for("failed login");
    let signed_in_line = server.wait_for("signed in");
    for line in &server.seen {
        let parsed: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(parsed["level"].is_string() && parsed["timestamp"].is_string(), "{line}");
    }
    let failed_line: Value = serde_json::from_str(&failed_line).unwrap();
    assert_eq!(failed_line["message"], "failed login");
    assert_eq!(failed_line["username"], "teacher1");
    assert_eq!(failed_line["span"]["request_id"], failed.as_str());
    let signed_in_line: Value = serde_json::from_str(&signed_in_line).unwrap();
    assert_eq!(signed_in_line["span"]["request_id"], signed_in.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_logs_name_the_request_id_of_the_answer() {
    let db = TestServer::start(common::Backend::Sqlite).await;
    let mut server = BinaryServer::start(&db.db_url, &[]);
    let (failed, signed_in) = sign_in_twice(&server).await;
    let failed_line = server.wait_for("failed login");
    assert!(
        failed_line.contains(&format!("request{{request_id={failed}}}")),
        "{failed_line}"
    );
    let signed_in_line = server.wait_for("signed in");
    assert!(
        signed_in_line.contains(&format!("request{{request_id={signed_in}}}")),
        "{signed_in_line}"
    );
}
