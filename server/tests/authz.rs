//! The authorization matrix: each role against each endpoint, on its own classes and on others'
//! (another teacher's, another school's).

#![allow(clippy::unwrap_used, reason = "test scenarios: a panic is how they fail")]

mod common;

use common::{Classes, Device, TestServer, school_day};
use reqwest::StatusCode;
use rollcall_shared::{ClassId, StudentId};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

backend_tests!(
    roster_shows_each_role_exactly_its_classes_and_students,
    push_applies_only_to_classes_the_caller_may_write,
    pull_shows_each_role_only_its_classes,
    events_reach_only_those_who_may_see_the_change,
    only_admins_manage_locks,
    every_endpoint_refuses_a_caller_without_a_token,
);

struct School {
    admin: String,
    teacher1: String,
    teacher2: String,
    stranger: String,
    everything: Classes,
    stranger_roster: Classes,
}

async fn school(server: &TestServer) -> School {
    let admin = server.login("admin").await.token;
    let everything = server.classes(&admin).await;
    let stranger = server.login("other-teacher").await.token;
    let stranger_roster = server.classes(&stranger).await;
    School {
        admin,
        teacher1: server.login("teacher1").await.token,
        teacher2: server.login("teacher2").await.token,
        stranger,
        everything,
        stranger_roster,
    }
}

fn first_student(classes: &Classes, class: ClassId) -> StudentId {
    classes.students(class)[0]
}

async fn roster_shows_each_role_exactly_its_classes_and_students(server: &TestServer) {
    let school = school(server).await;
    let names = |roster: &rollcall_shared::protocol::Roster| -> Vec<String> {
        roster.classes.iter().map(|c| c.name.clone()).collect()
    };
    let all = &school.everything.roster;
    assert_eq!(all.classes.len(), 8);
    assert_eq!(all.periods.len(), 6);
    assert!((8 * 25..=8 * 32).contains(&all.students.len()));
    assert!(all.classes.iter().all(|c| c.teacher_ids.len() == 1));

    let teacher1 = server.roster(&school.teacher1).await;
    assert_eq!(names(&teacher1), ["7A English", "7B English"]);
    let taught: BTreeSet<ClassId> = teacher1.classes.iter().map(|c| c.id).collect();
    assert!(teacher1.enrolments.iter().all(|e| taught.contains(&e.class_id)));
    let enrolled: BTreeSet<StudentId> = teacher1.enrolments.iter().map(|e| e.student_id).collect();
    let listed: BTreeSet<StudentId> = teacher1.students.iter().map(|s| s.id).collect();
    assert_eq!(enrolled, listed, "a teacher sees exactly the students of their classes");
    assert!(listed.len() < all.students.len());
    assert_eq!(teacher1.school.name, all.school.name);

    let stranger = &school.stranger_roster.roster;
    assert_eq!(names(stranger), ["H1 Art"]);
    assert_eq!(stranger.students.len(), 1);
    assert_ne!(stranger.school.id, all.school.id);
}

async fn push_applies_only_to_classes_the_caller_may_write(server: &TestServer) {
    let school = school(server).await;
    let everything = &school.everything;
    let own = everything.class_named("7A English");
    let teacher2s = everything.class_named("8A Maths");
    let hillside = school.stranger_roster.class(0);
    let date = school_day(2);
    let mut device = Device::new(0x77);
    // (who, token, class, student, outcome, code)
    type Case<'a> = (&'a str, &'a str, ClassId, StudentId, &'a str, Option<&'a str>);
    let cases: [Case; 5] = [
        (
            "teacher1",
            &school.teacher1,
            own,
            first_student(everything, own),
            "applied",
            None,
        ),
        (
            "teacher1",
            &school.teacher1,
            teacher2s,
            first_student(everything, teacher2s),
            "rejected",
            Some("FORBIDDEN"),
        ),
        (
            "teacher1",
            &school.teacher1,
            hillside,
            first_student(&school.stranger_roster, hillside),
            "rejected",
            Some("FORBIDDEN"),
        ),
        (
            "admin",
            &school.admin,
            teacher2s,
            first_student(everything, teacher2s),
            "applied",
            None,
        ),
        (
            "other-teacher",
            &school.stranger,
            own,
            first_student(everything, own),
            "rejected",
            Some("FORBIDDEN"),
        ),
    ];
    for (who, token, class, student, outcome, code) in cases {
        let op = device.mark(class, &date, 1, student, "present");
        let reply = server.push(token, device.id, &[op]).await;
        assert_eq!(reply.status, StatusCode::OK, "{who}");
        let result = &reply.body["results"][0];
        assert_eq!(result["outcome"], outcome, "{who} on {class}: {result}");
        assert_eq!(result["code"].as_str(), code, "{who} on {class}");
    }
}

async fn pull_shows_each_role_only_its_classes(server: &TestServer) {
    let school = school(server).await;
    let everything = &school.everything;
    let mut device = Device::new(0x78);
    let date = school_day(3);
    let mut by_class = Vec::new();
    for name in ["7A English", "8A Maths"] {
        let class = everything.class_named(name);
        let op = device.mark(class, &date, 2, first_student(everything, class), "late");
        assert_eq!(
            server.push(&school.admin, device.id, &[op]).await.outcomes(),
            ["applied"]
        );
        by_class.push(class.to_string());
    }
    let classes_seen = |changes: Vec<Value>| -> Vec<String> {
        changes
            .iter()
            .map(|c| c["class_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        classes_seen(server.pull_all(&school.admin, None, 100).await.0),
        by_class
    );
    assert_eq!(
        classes_seen(server.pull_all(&school.teacher1, None, 100).await.0),
        by_class[..1]
    );
    assert_eq!(
        classes_seen(server.pull_all(&school.teacher2, None, 100).await.0),
        by_class[1..]
    );
    assert!(server.pull_all(&school.stranger, None, 100).await.0.is_empty());
}

/// Reads a server-sent event stream for `wait`, returning what arrived.
async fn listen(server: &TestServer, token: &str, wait: Duration) -> tokio::task::JoinHandle<String> {
    let response = server
        .http
        .get(server.url(&format!("/api/v1/events?access_token={token}")))
        // As a browser asks: a compressed stream would sit in the compressor's buffer and arrive too late.
        .header("Accept-Encoding", "gzip, deflate, br")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"),
        "{:?}",
        response.headers()
    );
    tokio::spawn(async move {
        let mut response = response;
        let mut text = String::new();
        let deadline = tokio::time::Instant::now() + wait;
        while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(deadline, response.chunk()).await {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        text
    })
}

async fn events_reach_only_those_who_may_see_the_change(server: &TestServer) {
    let school = school(server).await;
    let everything = &school.everything;
    let class = everything.class_named("7A English");
    let wait = Duration::from_secs(3);
    let teacher1 = listen(server, &school.teacher1, wait).await;
    let teacher2 = listen(server, &school.teacher2, wait).await;
    let admin = listen(server, &school.admin, wait).await;
    // Each stream subscribed before its answer's headers were sent, so `listen` returning is the
    // point after which every notice reaches it: no wait needed.
    let stranger = listen(server, &school.stranger, wait).await;
    let mut device = Device::new(0x79);
    let op = device.mark(class, &school_day(4), 3, first_student(everything, class), "absent");
    assert_eq!(
        server.push(&school.teacher1, device.id, &[op]).await.outcomes(),
        ["applied"]
    );

    // It names the pushing device, so that the device can skip its own notice.
    let notice = format!(
        "event: changes\ndata: {{\"class_ids\":[\"{class}\"],\"device_id\":\"{}\"}}",
        device.id
    );
    let (teacher1, teacher2, admin, stranger) = (
        teacher1.await.unwrap(),
        teacher2.await.unwrap(),
        admin.await.unwrap(),
        stranger.await.unwrap(),
    );
    for (who, text) in [
        ("teacher1", &teacher1),
        ("teacher2", &teacher2),
        ("admin", &admin),
        ("other", &stranger),
    ] {
        assert!(text.starts_with("retry: 5000\nevent: ready\n"), "{who}: {text:?}");
    }
    assert!(teacher1.contains(&notice), "{teacher1:?}");
    assert!(admin.contains(&notice), "{admin:?}");
    assert!(!teacher2.contains("event: changes"), "{teacher2:?}");
    assert!(!stranger.contains("event: changes"), "{stranger:?}");

    let anonymous = server.call("GET", "/api/v1/events", None, None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

async fn only_admins_manage_locks(server: &TestServer) {
    let school = school(server).await;
    let class = school.everything.class_named("7A English");
    let body = json!({"class_id": class, "from": school_day(1), "until": school_day(2), "reason": "checked"});
    for token in [&school.teacher1, &school.teacher2, &school.stranger] {
        let create = server.create_lock(token, body.clone()).await;
        assert_eq!(create.status, StatusCode::FORBIDDEN);
        assert_eq!(
            server.get("/api/v1/admin/locks", token).await.status,
            StatusCode::FORBIDDEN
        );
    }
    let forbidden = server.get("/api/v1/admin/locks", &school.teacher1).await;
    insta::with_settings!({prepend_module_to_snapshot => false}, {
        insta::assert_json_snapshot!("locks_403_teacher", forbidden.body, {".error.request_id" => "[request_id]"});
    });

    let created = server.create_lock(&school.admin, body).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let reopen = server.reopen_lock(&school.teacher1, &id, "mine").await;
    assert_eq!(reopen.status, StatusCode::FORBIDDEN);

    // An admin cannot lock another school's class (there is no such class in theirs), nor give
    // no reason, nor an upside-down range.
    let hillside = school.stranger_roster.class(0);
    let foreign = server
        .create_lock(
            &school.admin,
            json!({"class_id": hillside, "from": school_day(1), "until": school_day(1), "reason": "x"}),
        )
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND, "{:?}", foreign.body);
    for bad in [
        json!({"from": school_day(1), "until": school_day(1), "reason": "  "}),
        json!({"from": school_day(2), "until": school_day(1), "reason": "x"}),
        json!({"from": "yesterday", "until": school_day(1), "reason": "x"}),
    ] {
        let reply = server.create_lock(&school.admin, bad.clone()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}: {:?}", reply.body);
    }
    let unknown = server.reopen_lock(&school.admin, uuid::Uuid::new_v4(), "x").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let listed = server.get("/api/v1/admin/locks", &school.admin).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
}

async fn every_endpoint_refuses_a_caller_without_a_token(server: &TestServer) {
    let lock = format!("/api/v1/admin/locks/{}/reopen", uuid::Uuid::new_v4());
    let endpoints = [
        ("GET", "/api/v1/roster", None),
        (
            "POST",
            "/api/v1/sync/push",
            Some(json!({"device_id": "0000000000000001", "ops": []})),
        ),
        ("GET", "/api/v1/sync/pull", None),
        ("GET", "/api/v1/events", None),
        ("GET", "/api/v1/admin/locks", None),
        (
            "POST",
            "/api/v1/admin/locks",
            Some(json!({"from": "2026-01-01", "until": "2026-01-01", "reason": "x"})),
        ),
        ("POST", lock.as_str(), Some(json!({"reason": "x"}))),
    ];
    for (method, path, body) in endpoints {
        let reply = server.call(method, path, None, body).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(reply.body["error"]["code"], "UNAUTHORIZED", "{method} {path}");
        assert_eq!(reply.headers["rollcall-protocol"], "1");
    }
}
