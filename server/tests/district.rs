//! A district: several servers on one PostgreSQL database, tablets split across them
//! (docs/install.md, "A district"). Live notices cross servers, tablets converge, and a dropped
//! relay connection costs no change. Gap-free pulls across servers are proven in `sync.rs`
//! (`concurrent_writers_never_make_a_puller_skip_a_change` writes through three servers).
//! Every test here needs PostgreSQL and says SKIPPED without `ROLLCALL_TEST_PG`.

#![allow(clippy::unwrap_used, reason = "test scenarios: a panic is how they fail")]

mod common;

use common::{Device, TestServer, pulled_state, read_events, school_day};
use diesel::RunQueryDsl;
use reqwest::StatusCode;
use rollcall_server::sync::relay::RelayStatus;
use rollcall_shared::{ClassId, NodeId};
use std::collections::BTreeMap;

/// Two servers on one fresh database, each hearing the other.
async fn district() -> Option<(TestServer, TestServer)> {
    let first = TestServer::start_postgres().await?;
    let second = first.sibling().await;
    for server in [&first, &second] {
        server.relay.wait_for(RelayStatus::Listening).await;
    }
    Some((first, second))
}

/// An open event stream of `token` on `server`, past its `ready`.
async fn open_stream(server: &TestServer, token: &str) -> reqwest::Response {
    let mut stream = server
        .http
        .get(server.url(&format!("/api/v1/events?access_token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    read_events(&mut stream, |text| text.contains("event: ready")).await;
    stream
}

/// Reads `stream` until a notice from `device` naming `class` arrives.
async fn hear_change(stream: &mut reqwest::Response, class: ClassId, device: NodeId) {
    let (class, device) = (class.to_string(), format!("\"{device}\""));
    let (heard, ended) = read_events(stream, |text| text.contains(&class) && text.contains(&device)).await;
    assert!(!ended, "the stream ended before the change was heard: {heard}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tablet_on_one_server_hears_at_once_of_a_mark_pushed_through_another() {
    let Some((first, second)) = district().await else {
        return;
    };
    let health = second.call("GET", "/healthz", None, None).await;
    assert_eq!(health.body["other_servers"], "listening", "{:?}", health.body);

    let on_second = second.login("teacher1").await;
    let mut stream = open_stream(&second, &on_second.token).await;
    let (token, classes) = first.login_with_classes("teacher1").await;
    let class = classes.class(0);
    let mut device = Device::new(0xd1);
    let op = device.mark(class, &school_day(3), 1, classes.students(class)[0], "absent");
    assert_eq!(first.push(&token, device.id, &[op]).await.outcomes(), ["applied"]);
    hear_change(&mut stream, class, device.id).await;

    // The server that took a push tells its own streams itself, and ignores that push's notice
    // when the relay brings it back: a later push through the other server, relayed the same
    // way, arrives after it, and by then the first was heard once.
    let mut own = open_stream(&first, &token).await;
    let op = device.mark(class, &school_day(3), 2, classes.students(class)[0], "late");
    assert_eq!(first.push(&token, device.id, &[op]).await.outcomes(), ["applied"]);
    let mut other_device = Device::new(0xd3);
    let op = other_device.mark(class, &school_day(3), 3, classes.students(class)[0], "present");
    assert_eq!(
        second.push(&on_second.token, other_device.id, &[op]).await.outcomes(),
        ["applied"]
    );
    let other = format!("\"{}\"", other_device.id);
    let (heard, _) = read_events(&mut own, |text| text.contains(&other)).await;
    let mine = format!("\"{}\"", device.id);
    assert_eq!(
        heard.matches(&mine).count(),
        1,
        "heard once, not again through the relay: {heard}"
    );
}

/// Eight tablets, four on each server, mark the same students at the same time, each with its
/// own statuses. Both servers then hold one and the same state: per field, the latest write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tablets_split_across_two_servers_sync_concurrently_and_converge() {
    const TABLETS: u64 = 8;
    const ROUNDS: i64 = 5;
    let Some((first, second)) = district().await else {
        return;
    };
    let (token, classes) = first.login_with_classes("teacher1").await;
    let class = classes.class(0);
    let students = classes.students(class);
    let mut tablets = Vec::new();
    for tablet in 0..TABLETS {
        let server = if tablet % 2 == 0 { &first } else { &second };
        let session = server.login("teacher1").await;
        let (url, http, students) = (server.url.clone(), server.http.clone(), students.clone());
        tablets.push(tokio::spawn(async move {
            let mut device = Device::new(0xd100 + tablet);
            let statuses = ["present", "absent", "late"];
            let mut sent = Vec::new();
            for round in 0..ROUNDS {
                let status = statuses[(tablet as usize + round as usize) % statuses.len()];
                let ops: Vec<_> = students
                    .iter()
                    .map(|s| device.mark(class, &school_day(4), 1, *s, status))
                    .collect();
                sent.extend(ops.iter().map(|op| {
                    let student = op.student_id.unwrap().to_string();
                    (student, op.hlc.clone(), status.to_owned())
                }));
                let response = http
                    .post(format!("{url}/api/v1/sync/push"))
                    .bearer_auth(&session.token)
                    .json(&serde_json::json!({"device_id": device.id, "ops": ops}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::OK);
            }
            sent
        }));
    }
    let mut latest: BTreeMap<String, (String, String)> = BTreeMap::new();
    for tablet in tablets {
        for (student, hlc, status) in tablet.await.unwrap() {
            if latest.get(&student).is_none_or(|(newest, _)| *newest < hlc) {
                latest.insert(student, (hlc, status));
            }
        }
    }
    let through_first = pulled_state(&first, &token).await;
    let on_second = second.login("teacher1").await;
    let through_second = pulled_state(&second, &on_second.token).await;
    assert_eq!(through_first.len(), students.len(), "one status per student");
    assert_eq!(through_first, through_second);

    // What the database holds is, per student, the write with the latest HLC of all eight.
    let stored: Vec<StoredStatus> = diesel::sql_query(
        "SELECT student_id, status, status_hlc FROM marks WHERE class_id = $1 AND date = $2 AND period = 1",
    )
    .bind::<diesel::sql_types::Text, _>(class.to_string())
    .bind::<diesel::sql_types::Text, _>(school_day(4))
    .load(&mut first.db())
    .unwrap();
    assert_eq!(stored.len(), students.len());
    for row in stored {
        assert_eq!(
            latest[&row.student_id],
            (row.status_hlc, row.status),
            "student {}",
            row.student_id
        );
    }
}

#[derive(diesel::QueryableByName)]
struct StoredStatus {
    #[diesel(sql_type = diesel::sql_types::Text)]
    student_id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    status: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    status_hlc: String,
}

/// The relay's connection is cut (a database restart, a network blip). Every stream is told
/// that it missed notices, so its tablet pulls; the relay reconnects by itself, and the next
/// change crosses again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_relay_connection_drops_streams_are_told_to_pull_and_it_comes_back() {
    let Some((first, second)) = district().await else {
        return;
    };
    let on_second = second.login("teacher1").await;
    let mut stream = open_stream(&second, &on_second.token).await;

    let mut conn = first.db();
    let cut: Vec<Terminated> = diesel::sql_query(
        "SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity \
         WHERE application_name = 'rollcall-relay' AND datname = current_database()",
    )
    .load(&mut conn)
    .unwrap();
    assert_eq!(cut.len(), 2, "one relay connection per server");
    assert!(cut.iter().all(|row| row.terminated));

    let (heard, ended) = read_events(&mut stream, |text| text.contains("data: {}")).await;
    assert!(!ended, "{heard}");
    // The stream heard it once the second server listened again: the push below crosses.
    second.relay.wait_for(RelayStatus::Listening).await;

    let (token, classes) = first.login_with_classes("teacher1").await;
    let class = classes.class(0);
    let mut device = Device::new(0xd2);
    let op = device.mark(class, &school_day(5), 1, classes.students(class)[0], "absent");
    assert_eq!(first.push(&token, device.id, &[op]).await.outcomes(), ["applied"]);
    hear_change(&mut stream, class, device.id).await;
}

#[derive(diesel::QueryableByName)]
struct Terminated {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    terminated: bool,
}
