//! Push and pull against the real server: idempotency, LWW across devices, per-op rejection,
//! locks, clock skew, request limits, and gap-free paging, also under concurrent writers.

#![allow(clippy::unwrap_used, reason = "test scenarios: a panic is how they fail")]

mod common;

use common::{Device, TestServer, pulled_state, school_day};
use reqwest::StatusCode;
use rollcall_shared::OpId;
use serde_json::{Value, json};
use std::collections::BTreeSet;

backend_tests!(
    the_same_batch_three_times_changes_nothing_after_the_first,
    the_latest_write_wins_across_two_devices_in_any_order,
    a_bad_op_is_rejected_with_its_code_while_the_rest_applies,
    a_malformed_push_changes_nothing,
    unknown_keys_are_ignored,
    oversized_pushes_are_refused_whole,
    a_locked_register_rejects_ops_until_reopened,
    a_clock_running_ahead_is_restamped_flagged_and_told,
    pull_pages_through_every_change_without_gaps,
    concurrent_writers_never_make_a_puller_skip_a_change,
    a_writer_that_commits_late_is_not_skipped_by_a_puller,
    push_takes_only_json_like_every_json_endpoint,
    pull_limits_outside_one_to_a_thousand_are_refused_not_clamped,
    cursors_are_feed_positions_and_old_ones_still_work,
);

async fn the_same_batch_three_times_changes_nothing_after_the_first(server: &TestServer) {
    let (token, classes) = server.login_with_classes("teacher1").await;
    let class = classes.class(0);
    let mut device = Device::new(0xa1);
    let date = school_day(3);
    let mut ops: Vec<_> = classes
        .students(class)
        .iter()
        .take(10)
        .map(|student| device.mark(class, &date, 2, *student, "present"))
        .collect();
    ops.push(device.op(class, &date, 2, None, "submitted", json!(true)));
    let ids: Vec<OpId> = ops.iter().map(|op| op.op_id).collect();

    let first = server.push(&token, device.id, &ops).await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    assert!(first.outcomes().iter().all(|o| o == "applied"), "{:?}", first.body);
    let state_after_one = pulled_state(server, &token).await;
    assert_eq!(state_after_one.len(), 11);

    for _ in 0..2 {
        let again = server.push(&token, device.id, &ops).await;
        assert_eq!(again.status, StatusCode::OK);
        assert!(again.outcomes().iter().all(|o| o == "duplicate"), "{:?}", again.body);
        assert_eq!(pulled_state(server, &token).await, state_after_one);
    }

    let log = server.op_log_outcomes(&ids);
    let count = |outcome: &str| log.iter().filter(|(_, o)| o == outcome).count();
    assert_eq!(
        (count("applied"), count("duplicate"), log.len()),
        (11, 22, 33),
        "{log:?}"
    );
}

async fn the_latest_write_wins_across_two_devices_in_any_order(server: &TestServer) {
    let (token, classes) = server.login_with_classes("teacher1").await;
    let class = classes.class(0);
    let students = classes.students(class);
    let date = school_day(4);
    let mut tablet = Device::new(0xb1);
    let mut phone = Device::new(0xb2);
    // The tablet marks first, the phone later: the phone's write is the latest.
    let early = [
        tablet.mark(class, &date, 1, students[0], "absent"),
        tablet.mark(class, &date, 1, students[1], "absent"),
    ];
    let later = [
        phone.op_at(5, class, &date, 1, Some(students[0]), "status", json!("late")),
        phone.op_at(5, class, &date, 1, Some(students[1]), "status", json!("late")),
    ];
    // Student 0: early then later. Student 1: later then early (arrives out of order).
    assert_eq!(
        server.push(&token, tablet.id, &early[..1]).await.outcomes(),
        ["applied"]
    );
    assert_eq!(server.push(&token, phone.id, &later[..1]).await.outcomes(), ["applied"]);
    assert_eq!(server.push(&token, phone.id, &later[1..]).await.outcomes(), ["applied"]);
    assert_eq!(
        server.push(&token, tablet.id, &early[1..]).await.outcomes(),
        ["superseded"]
    );

    let state = pulled_state(server, &token).await;
    let statuses: Vec<&Value> = state.values().map(|(value, _)| value).collect();
    assert_eq!(statuses, [&json!("late"), &json!("late")]);
    // The other field of the same mark is its own register: a note from the tablet stands.
    let note = tablet.op(class, &date, 1, Some(students[1]), "note", json!("arrived with a note"));
    assert_eq!(server.push(&token, tablet.id, &[note]).await.outcomes(), ["applied"]);
    assert_eq!(pulled_state(server, &token).await.len(), 3);
}

/// Each result of a push answer as (outcome, code, detail).
fn outcomes_codes_details(body: &Value) -> Vec<(String, Value, Value)> {
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["outcome"].as_str().unwrap().to_owned(),
                r["code"].clone(),
                r["detail"].clone(),
            )
        })
        .collect()
}

async fn a_bad_op_is_rejected_with_its_code_while_the_rest_applies(server: &TestServer) {
    let (token, classes) = server.login_with_classes("teacher1").await;
    let admin = server.login("admin").await;
    let everything = server.classes(&admin.token).await;
    let mine = classes.class(0);
    let students = classes.students(mine);
    let not_mine = everything.class_named("8A Maths");
    let stranger = everything.students(not_mine)[0];
    let date = school_day(5);
    let mut device = Device::new(0xc1);
    let ops = vec![
        device.mark(mine, &date, 3, students[0], "present"),
        device.op(mine, &date, 3, Some(students[1]), "note", json!("x".repeat(501))),
        device.mark(mine, &date, 3, students[2], "asleep"),
        device.mark(mine, &date, 3, stranger, "present"),
        device.mark(not_mine, &date, 3, stranger, "present"),
        device.op(mine, "2026-02-30", 3, Some(students[3]), "status", json!("late")),
        device.op(mine, &date, 3, None, "submitted", json!(true)),
    ];
    let reply = server.push(&token, device.id, &ops).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let summary = outcomes_codes_details(&reply.body);
    let expected = [
        ("applied", Value::Null, Value::Null),
        ("rejected", json!("VALIDATION"), json!("NOTE_TOO_LONG")),
        ("rejected", json!("VALIDATION"), json!("UNKNOWN_STATUS")),
        ("rejected", json!("NOT_ENROLLED"), Value::Null),
        ("rejected", json!("FORBIDDEN"), Value::Null),
        ("rejected", json!("VALIDATION"), json!("INVALID_DATE")),
        ("applied", Value::Null, Value::Null),
    ];
    let expected: Vec<(String, Value, Value)> = expected
        .iter()
        .map(|(o, c, d)| (o.to_string(), c.clone(), d.clone()))
        .collect();
    assert_eq!(summary, expected);
    for result in reply.body["results"].as_array().unwrap() {
        if result["outcome"] == "rejected" {
            assert!(!result["message"].as_str().unwrap().is_empty(), "{result}");
        }
    }
    // Every op is in the log, rejected ones included, with their codes.
    let ids: Vec<OpId> = ops.iter().map(|op| op.op_id).collect();
    let log = server.op_log_outcomes(&ids);
    assert_eq!(log.len(), 7);
    assert_eq!(log.iter().filter(|(_, o)| o == "rejected").count(), 5);
    assert_eq!(pulled_state(server, &token).await.len(), 2);

    // A tablet that lost that answer sends the batch again: every op is a duplicate, and each
    // refused one still says why, so the tablet keeps it visible as refused.
    let again = server.push(&token, device.id, &ops).await;
    assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);
    let repeated = outcomes_codes_details(&again.body);
    let expected_again: Vec<(String, Value, Value)> = expected
        .iter()
        .map(|(_, code, detail)| ("duplicate".to_owned(), code.clone(), detail.clone()))
        .collect();
    assert_eq!(repeated, expected_again);
}

async fn a_malformed_push_changes_nothing(server: &TestServer) {
    let (token, classes) = server.login_with_classes("teacher1").await;
    let class = classes.class(0);
    let student = classes.students(class)[0];
    let mut device = Device::new(0xd1);
    let good = serde_json::to_value(device.mark(class, &school_day(6), 1, student, "present")).unwrap();
    let mut missing_op_id = good.clone();
    missing_op_id.as_object_mut().unwrap().remove("op_id");
    let mut period_as_text = good.clone();
    period_as_text["period"] = json!("1");
    // A value is a JSON scalar; whether it suits its field is each op's own check.
    let mut value_as_list = good.clone();
    value_as_list["value"] = json!(["present"]);
    let mut value_as_object = good.clone();
    value_as_object["value"] = json!({"status": "present"});
    let bodies = [
        (
            "missing_field",
            json!({"device_id": "00000000000000d1", "ops": [good.clone(), missing_op_id]}),
        ),
        (
            "mistyped_field",
            json!({"device_id": "00000000000000d1", "ops": [good.clone(), period_as_text]}),
        ),
        (
            "value_as_list",
            json!({"device_id": "00000000000000d1", "ops": [good.clone(), value_as_list]}),
        ),
        (
            "value_as_object",
            json!({"device_id": "00000000000000d1", "ops": [good.clone(), value_as_object]}),
        ),
        ("bad_device_id", json!({"device_id": "D1", "ops": [good.clone()]})),
        ("no_ops", json!({"device_id": "00000000000000d1"})),
    ];
    for (name, body) in bodies {
        let reply = server.post("/api/v1/sync/push", &token, body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{name}: {:?}", reply.body);
        assert_eq!(reply.body["error"]["code"], "BAD_REQUEST", "{name}");
        assert_eq!(reply.headers["rollcall-protocol"], "1");
        if name == "missing_field" {
            // serde's position depends on the op's timestamp digits.
            let filters = vec![(r"column \d+", "column [n]")];
            insta::with_settings!({prepend_module_to_snapshot => false, filters => filters}, {
                insta::assert_json_snapshot!("push_400_missing_field", reply.body, {".error.request_id" => "[request_id]"});
            });
        }
    }
    let not_json = server
        .http
        .post(server.url("/api/v1/sync/push"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"device_id\": \"00000000000000d1\", \"ops\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    // The good op in the refused pushes was not applied, not even logged.
    assert!(pulled_state(server, &token).await.is_empty());
    let op_id: OpId = serde_json::from_value(good["op_id"].clone()).unwrap();
    assert!(server.op_log_outcomes(&[op_id]).is_empty());
}

async fn unknown_keys_are_ignored(server: &TestServer) {
    let (token, classes) = server.login_with_classes("teacher1").await;
    let class = classes.class(0);
    let student = classes.students(class)[0];
    let mut device = Device::new(0xd2);
    let mut op = serde_json::to_value(device.mark(class, &school_day(6), 1, student, "present")).unwrap();
    op["added_in_protocol_9"] = json!({"anything": [1, 2]});
    let reply = server
        .post(
            "/api/v1/sync/push",
            &token,
            json!({"device_id": "00000000000000d2", "ops": [op], "battery": 0.4}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.outcomes(), ["applied"]);
}

async fn oversized_pushes_are_refused_whole(server: &TestServer) {
    let (token, classes) = server.login_with_classes("teacher1").await;
    let class = classes.class(0);
    let students = classes.students(class);
    let mut device = Device::new(0xe1);
    let ops: Vec<_> = (0..1001)
        .map(|i| device.mark(class, &school_day(7 + i / 200), 1 + (i % 6), students[0], "present"))
        .collect();
    let reply = server.push(&token, device.id, &ops).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    insta::with_settings!({prepend_module_to_snapshot => false}, {
        insta::assert_json_snapshot!("push_413_too_many_ops", reply.body, {".error.request_id" => "[request_id]"});
    });

    // 1000 ops of about 1.2 KB each: over the 1 MiB body limit.
    let huge_note = "n".repeat(900);
    let ops: Vec<_> = (0..1000)
        .map(|i| {
            device.op(
                class,
                &school_day(7 + i / 200),
                1 + (i % 6),
                Some(students[0]),
                "note",
                json!(huge_note),
            )
        })
        .collect();
    let reply = server.push(&token, device.id, &ops).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.headers["rollcall-protocol"], "1");
    insta::with_settings!({prepend_module_to_snapshot => false}, {
        insta::assert_json_snapshot!("push_413_payload_too_large", reply.body, {".error.request_id" => "[request_id]"});
    });
    assert!(pulled_state(server, &token).await.is_empty());
}

async fn a_locked_register_rejects_ops_until_reopened(server: &TestServer) {
    let (token, classes) = server.login_with_classes("teacher1").await;
    let admin = server.login("admin").await;
    let class = classes.class(0);
    let other_class = classes.class(1);
    let student = classes.students(class)[0];
    let other_student = classes.students(other_class)[0];
    let (locked_day, open_day) = (school_day(10), school_day(12));

    let lock = server
        .create_lock(
            &admin.token,
            json!({"class_id": class, "from": school_day(9), "until": locked_day, "reason": "census week"}),
        )
        .await;
    assert_eq!(lock.status, StatusCode::CREATED, "{:?}", lock.body);
    assert_eq!(lock.body["active"], true);
    let lock_id = lock.body["id"].as_str().unwrap().to_owned();

    let mut device = Device::new(0xf1);
    let ops = [
        device.mark(class, &locked_day, 1, student, "absent"),
        device.mark(class, &open_day, 1, student, "absent"),
        device.mark(other_class, &locked_day, 1, other_student, "absent"),
    ];
    let reply = server.push(&token, device.id, &ops).await;
    assert_eq!(reply.outcomes(), ["rejected", "applied", "applied"]);
    assert_eq!(reply.body["results"][0]["code"], "REGISTER_LOCKED");
    assert!(
        reply.body["results"][0]["message"]
            .as_str()
            .unwrap()
            .contains("census week")
    );

    // A whole-school lock covers every class.
    let school_lock = server
        .create_lock(
            &admin.token,
            json!({"from": school_day(20), "until": school_day(20), "reason": "inspection"}),
        )
        .await;
    assert_eq!(school_lock.status, StatusCode::CREATED);
    let reply = server
        .push(
            &token,
            device.id,
            &[device.mark(other_class, &school_day(20), 2, other_student, "present")],
        )
        .await;
    assert_eq!(reply.body["results"][0]["code"], "REGISTER_LOCKED");

    let reopened = server.reopen_lock(&admin.token, &lock_id, "a mark was wrong").await;
    assert_eq!(reopened.status, StatusCode::OK, "{:?}", reopened.body);
    assert_eq!(reopened.body["active"], false);
    assert_eq!(reopened.body["reopen_reason"], "a mark was wrong");
    let again = server.reopen_lock(&admin.token, &lock_id, "twice").await;
    assert_eq!(again.status, StatusCode::CONFLICT);

    let retry = device.mark(class, &locked_day, 1, student, "absent");
    assert_eq!(server.push(&token, device.id, &[retry]).await.outcomes(), ["applied"]);
    let list = server.get("/api/v1/admin/locks", &admin.token).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body.as_array().unwrap().len(), 2);
}

async fn a_clock_running_ahead_is_restamped_flagged_and_told(server: &TestServer) {
    use diesel::prelude::*;
    use rollcall_server::db::schema::op_log;
    let (token, classes) = server.login_with_classes("teacher1").await;
    let class = classes.class(0);
    let student = classes.students(class)[0];
    let date = school_day(13);
    let two_hours = 2 * 3600 * 1000;
    let mut fast = Device::new(0x0fa5);
    let ahead = fast.op_at(two_hours, class, &date, 1, Some(student), "status", json!("absent"));
    let reply = server.push(&token, fast.id, std::slice::from_ref(&ahead)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.outcomes(), ["applied"]);
    let offset = reply.body["clock_offset_ms"].as_i64().expect("clock_offset_ms");
    assert!((two_hours - 60_000..=two_hours + 1_000).contains(&offset), "{offset}");
    let restamped = reply.body["results"][0]["restamped_hlc"]
        .as_str()
        .expect("restamped_hlc")
        .to_owned();
    let now_ms = chrono::Utc::now().timestamp_millis();
    let restamped_wall: i64 = restamped[..13].parse().unwrap();
    assert!((now_ms - restamped_wall).abs() < 60_000, "{restamped} is not near now");

    // The log keeps the device's own HLC and the flag.
    let (device_hlc, hlc, skewed): (String, Option<String>, i32) = op_log::table
        .filter(op_log::op_id.eq(ahead.op_id.to_string()))
        .select((op_log::device_hlc, op_log::hlc, op_log::clock_skewed))
        .first(&mut server.db())
        .unwrap();
    assert_eq!(
        (device_hlc, hlc.as_deref(), skewed),
        (ahead.hlc.clone(), Some(restamped.as_str()), 1)
    );

    // The fast clock does not win later conflicts: a correct device writing a moment later does.
    let mut correct = Device::new(0x0c0c);
    let later = correct.op_at(1_000, class, &date, 1, Some(student), "status", json!("present"));
    let reply = server.push(&token, correct.id, &[later]).await;
    assert_eq!(reply.outcomes(), ["applied"]);
    assert!(reply.body.get("clock_offset_ms").is_none());
    let state = pulled_state(server, &token).await;
    assert_eq!(state.values().next().unwrap().0, json!("present"));
}

async fn pull_pages_through_every_change_without_gaps(server: &TestServer) {
    let (token, classes) = server.login_with_classes("teacher1").await;
    let class = classes.class(0);
    let students = classes.students(class);
    let mut device = Device::new(0x9a);
    let mut pushed = BTreeSet::new();
    for day in 0..5 {
        let ops: Vec<_> = students
            .iter()
            .map(|student| device.mark(class, &school_day(30 + day), 4, *student, "present"))
            .collect();
        pushed.extend(ops.iter().map(|op| op.hlc.clone()));
        let reply = server.push(&token, device.id, &ops).await;
        assert!(reply.outcomes().iter().all(|o| o == "applied"));
    }
    let (changes, cursor, pages) = server.pull_all(&token, None, 7).await;
    let seen: Vec<String> = changes.iter().map(|c| c["hlc"].as_str().unwrap().to_owned()).collect();
    assert_eq!(seen.len(), pushed.len(), "every change exactly once");
    assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), pushed);
    // Commit order is push order, and this device's HLCs increase.
    assert!(seen.windows(2).all(|pair| pair[0] < pair[1]));
    assert_eq!(pages, pushed.len().div_ceil(7));

    // From the last cursor, only what is new; nothing again.
    let extra = device.mark(class, &school_day(40), 1, students[0], "late");
    server.push(&token, device.id, std::slice::from_ref(&extra)).await;
    let (changes, _, _) = server.pull_all(&token, Some(cursor.clone()), 7).await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["hlc"], extra.hlc);

    // Another teacher sees none of it; the admin sees all of it.
    let teacher2 = server.login("teacher2").await;
    assert!(server.pull_all(&teacher2.token, None, 100).await.0.is_empty());
    let admin = server.login("admin").await;
    assert_eq!(
        server.pull_all(&admin.token, None, 1000).await.0.len(),
        pushed.len() + 1
    );

    let bad = server.get("/api/v1/sync/pull?cursor=not-a-cursor", &token).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let bad = server.get("/api/v1/sync/pull?limit=many", &token).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

/// Several writers (on PostgreSQL: on three servers sharing the database, so transactions truly
/// commit concurrently and out of order) push while a puller keeps pulling with its cursor.
/// Every applied op must reach the puller exactly once. Without the writers' advisory lock,
/// PostgreSQL hands out feed positions in an order that commits do not follow, and this fails.
async fn concurrent_writers_never_make_a_puller_skip_a_change(server: &TestServer) {
    const WRITERS: usize = 8;
    const ROUNDS: i64 = 20;
    const OPS: usize = 6;
    let siblings = if server.backend == common::Backend::Postgres {
        vec![server.sibling().await, server.sibling().await]
    } else {
        Vec::new()
    };
    let admin = server.login("admin").await;
    let teachers = ["teacher1", "teacher2", "teacher3", "teacher4"];
    let mut writers = Vec::new();
    for index in 0..WRITERS {
        let target = match index % 3 {
            0 => server,
            n => siblings.get(n - 1).unwrap_or(server),
        };
        let session = target.login(teachers[index % teachers.len()]).await;
        let mine = target.classes(&session.token).await;
        let url = target.url.clone();
        let http = target.http.clone();
        writers.push(tokio::spawn(async move {
            let mut device = Device::new(0x5000 + index as u64);
            // Two writers share each teacher: each takes its own class and periods.
            let class = mine.class(index / teachers.len() % 2);
            let students = mine.students(class);
            let mut applied = Vec::new();
            for round in 0..ROUNDS {
                let ops: Vec<_> = students
                    .iter()
                    .take(OPS)
                    .map(|s| device.mark(class, &school_day(50 + round), 1 + (index as i64 % 6), *s, "present"))
                    .collect();
                let reply: Value = http
                    .post(format!("{url}/api/v1/sync/push"))
                    .bearer_auth(&session.token)
                    .json(&json!({"device_id": device.id, "ops": ops}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                for (op, result) in ops.iter().zip(reply["results"].as_array().unwrap()) {
                    assert_eq!(result["outcome"], "applied", "{result}");
                    applied.push(op.hlc.clone());
                }
            }
            applied
        }));
    }
    // Pull while they write, from every server in turn.
    let pullers: Vec<&TestServer> = std::iter::once(server).chain(siblings.iter()).collect();
    let mut cursor: Option<String> = None;
    let mut seen = Vec::new();
    let mut turn = 0;
    while writers.iter().any(|w| !w.is_finished()) {
        let (changes, next, _) = pullers[turn % pullers.len()]
            .pull_all(&admin.token, cursor.clone(), 5)
            .await;
        turn += 1;
        seen.extend(changes.iter().map(|c| c["hlc"].as_str().unwrap().to_owned()));
        cursor = Some(next);
    }
    let mut applied = BTreeSet::new();
    for writer in writers {
        applied.extend(writer.await.unwrap());
    }
    let (changes, _, _) = server.pull_all(&admin.token, cursor, 50).await;
    seen.extend(changes.iter().map(|c| c["hlc"].as_str().unwrap().to_owned()));
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "a change was pulled twice");
    let missed: Vec<_> = applied.difference(&unique).collect();
    assert!(
        missed.is_empty(),
        "{} applied changes never reached the puller",
        missed.len()
    );
    assert_eq!(unique.len(), WRITERS * ROUNDS as usize * OPS);
}

/// The deterministic version of the race above: writer A takes its place in the feed and holds
/// its transaction open; writer B starts after it; a puller pulls in between; then A commits.
/// The puller must still get A's change. (With a plain sequence and no writer lock, B would
/// commit first, the puller's cursor would pass A's position, and A's change would be lost.)
async fn a_writer_that_commits_late_is_not_skipped_by_a_puller(server: &TestServer) {
    use rollcall_server::db::marks::{OpLogRow, append_op_log};
    use rollcall_server::db::{DbUrl, write_transaction};
    let admin = server.login("admin").await;
    let classes = server.classes(&admin.token).await;
    let class = classes.class(0);
    let student = classes.students(class)[0];
    let (_, start, _) = server.pull_all(&admin.token, None, 100).await;
    let row = |device: &mut Device, period: i64| {
        let op = device.mark(class, &school_day(60), period, student, "present");
        OpLogRow {
            op_id: op.op_id,
            school_id: classes.roster.school.id,
            user_id: admin.login.user.id,
            device_id: device.id,
            device_time: 0,
            device_hlc: op.hlc.clone(),
            hlc: Some(op.hlc.parse().unwrap()),
            received_at: 0,
            class_id: class,
            date: op.date.clone(),
            period,
            student_id: Some(student),
            field: "status".to_owned(),
            value: "\"present\"".to_owned(),
            outcome: rollcall_shared::protocol::Outcome::Applied,
            code: None,
            detail: None,
            message: None,
            clock_skewed: 0,
        }
    };
    let mut device = Device::new(0x51);
    let (early, late) = (row(&mut device, 1), row(&mut device, 2));
    let db_url = DbUrl::parse(Some(&server.db_url), server.data_dir.path());

    // The slow writer takes its feed position, then holds its transaction open until the test
    // has pulled; the fast one queues behind it for the write lock. Each step waits on the one
    // before through a channel, not on the clock.
    let (placed, placed_rx) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let url = db_url.clone();
    let slow = std::thread::spawn(move || {
        let mut conn = url.connect().unwrap();
        write_transaction(&mut conn, |conn| {
            append_op_log(conn, &[early])?;
            placed.send(()).unwrap();
            released.recv().unwrap();
            diesel::QueryResult::Ok(())
        })
        .unwrap();
    });
    placed_rx.recv().unwrap();
    let (asking, asked) = std::sync::mpsc::channel();
    let url = db_url.clone();
    let fast = std::thread::spawn(move || {
        let mut conn = url.connect().unwrap();
        asking.send(()).unwrap();
        write_transaction(&mut conn, |conn| append_op_log(conn, &[late])).unwrap();
    });
    asked.recv().unwrap();
    let (during, cursor, _) = server.pull_all(&admin.token, Some(start), 100).await;
    release.send(()).unwrap();
    slow.join().unwrap();
    fast.join().unwrap();
    let (after, _, _) = server.pull_all(&admin.token, Some(cursor), 100).await;
    let periods: Vec<i64> = during
        .iter()
        .chain(&after)
        .map(|c| c["period"].as_i64().unwrap())
        .collect();
    assert_eq!(periods, [1, 2], "pulled while writing: {during:?}, then: {after:?}");
}

/// Sends `body` to `path` labelled with `content_type` (none when `None`).
async fn post_labelled(
    server: &TestServer,
    path: &str,
    token: &str,
    content_type: Option<&str>,
    body: &Value,
) -> (StatusCode, Value) {
    let mut request = server
        .http
        .post(server.url(path))
        .bearer_auth(token)
        .body(body.to_string());
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Push reads its body itself, past actix's `Json` extractor; it must still refuse what is not
/// labelled JSON, as login and locks do, with the same answer, and apply none of it.
async fn push_takes_only_json_like_every_json_endpoint(server: &TestServer) {
    let (token, classes) = server.login_with_classes("teacher1").await;
    let admin = server.login("admin").await;
    let class = classes.class(0);
    let student = classes.students(class)[0];
    let mut device = Device::new(0xc7);
    let login = json!({"username": "teacher1", "password": common::PASSWORD});
    let lock = json!({"from": school_day(50), "until": school_day(50), "reason": "trip"});
    let refused = [
        None,
        Some("text/plain"),
        Some("application/xml"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("not a media type"),
    ];
    let taken = [
        Some("application/json"),
        Some("application/json; charset=utf-8"),
        Some("application/vnd.rollcall+json"),
    ];
    let mut refused_ops = Vec::new();
    for content_type in refused {
        let op = device.mark(class, &school_day(7), 2, student, "absent");
        refused_ops.push(op.op_id);
        let push = json!({"device_id": device.id, "ops": [op]});
        let (push_status, push_body) = post_labelled(server, "/api/v1/sync/push", &token, content_type, &push).await;
        let (login_status, login_body) =
            post_labelled(server, "/api/v1/auth/login", &token, content_type, &login).await;
        let (lock_status, lock_body) =
            post_labelled(server, "/api/v1/admin/locks", &admin.token, content_type, &lock).await;
        assert_eq!(push_status, StatusCode::BAD_REQUEST, "{content_type:?}: {push_body}");
        assert_eq!(push_body["error"]["code"], "BAD_REQUEST");
        assert_eq!(
            push_body["error"]["message"],
            "send the body as JSON with `Content-Type: application/json`"
        );
        let push_body = common::without_request_id(&push_body);
        assert_eq!(
            (login_status, common::without_request_id(&login_body)),
            (push_status, push_body.clone()),
            "{content_type:?}: login"
        );
        assert_eq!(
            (lock_status, common::without_request_id(&lock_body)),
            (push_status, push_body),
            "{content_type:?}: locks"
        );
    }
    assert!(
        server.op_log_outcomes(&refused_ops).is_empty(),
        "a refused push was applied"
    );
    for content_type in taken {
        let op = device.mark(class, &school_day(7), 3, student, "late");
        let push = json!({"device_id": device.id, "ops": [op]});
        let (status, body) = post_labelled(server, "/api/v1/sync/push", &token, content_type, &push).await;
        assert_eq!(status, StatusCode::OK, "{content_type:?}: {body}");
        let (status, body) = post_labelled(server, "/api/v1/auth/login", &token, content_type, &login).await;
        assert_eq!(status, StatusCode::OK, "{content_type:?}: login {body}");
    }
}

async fn pull_limits_outside_one_to_a_thousand_are_refused_not_clamped(server: &TestServer) {
    let (token, _) = server.login_with_classes("teacher1").await;
    for limit in ["0", "1001", "4294967295", "4294967296", "-1", "many", ""] {
        let reply = server.get(&format!("/api/v1/sync/pull?limit={limit}"), &token).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "limit={limit}: {:?}", reply.body);
        assert_eq!(reply.body["error"]["code"], "BAD_REQUEST");
    }
    let reply = server.get("/api/v1/sync/pull?limit=1001", &token).await;
    assert_eq!(
        reply.body["error"]["message"],
        "limit must be between 1 and 1000, not 1001"
    );
    // What the tablet sends.
    for limit in ["1", "1000"] {
        let reply = server.get(&format!("/api/v1/sync/pull?limit={limit}"), &token).await;
        assert_eq!(reply.status, StatusCode::OK, "limit={limit}: {:?}", reply.body);
    }
}

async fn cursors_are_feed_positions_and_old_ones_still_work(server: &TestServer) {
    use base64::Engine;
    let (token, classes) = server.login_with_classes("teacher1").await;
    let class = classes.class(0);
    let students = classes.students(class);
    let mut device = Device::new(0xc8);
    let first = device.mark(class, &school_day(8), 1, students[0], "present");
    server.push(&token, device.id, std::slice::from_ref(&first)).await;
    let (_, cursor, _) = server.pull_all(&token, None, 1000).await;
    assert!(
        !cursor.is_empty() && cursor.len() <= 18 && cursor.bytes().all(|b| b.is_ascii_digit()),
        "{cursor}"
    );
    let second = device.mark(class, &school_day(8), 1, students[1], "late");
    server.push(&token, device.id, std::slice::from_ref(&second)).await;

    // A tablet that saved a cursor from an older server (base64 of `v1:<seq>`) goes on from there.
    let legacy = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("v1:{cursor}"));
    for saved in [cursor.clone(), legacy] {
        let (changes, _, _) = server.pull_all(&token, Some(saved.clone()), 1000).await;
        assert_eq!(changes.len(), 1, "{saved}");
        assert_eq!(changes[0]["hlc"], second.hlc, "{saved}");
    }
    // Every cursor of the documented form is taken, even one past the end of the feed.
    for cursor in ["0", "000", "999999999999999999"] {
        let reply = server.get(&format!("/api/v1/sync/pull?cursor={cursor}"), &token).await;
        assert_eq!(reply.status, StatusCode::OK, "{cursor}: {:?}", reply.body);
    }
    for cursor in ["", "-1", "1234567890123456789", "abc", "djE6LTE"] {
        let reply = server.get(&format!("/api/v1/sync/pull?cursor={cursor}"), &token).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{cursor:?}: {:?}", reply.body);
    }
}
