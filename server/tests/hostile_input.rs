//! What a hostile-input probe found, each held shut: dates no school can mean, an unreadable row
//! in the database, op ids reused across users, huge or invisible text, messages that say too
//! much, and forged log lines.

#![allow(clippy::unwrap_used, reason = "test scenarios: a panic is how they fail")]

mod common;

use common::{BinaryServer, Classes, Device, PASSWORD, TestServer, read_events, school_day};
use diesel::prelude::*;
use reqwest::StatusCode;
use rollcall_server::db::schema::{locks, op_log};
use serde_json::{Value, json};

backend_tests!(
    dates_no_school_can_mean_are_refused_at_every_entry_point,
    an_unreadable_lock_row_stops_nobody_and_is_reported,
    an_op_id_reused_by_another_user_or_for_other_content_is_refused_without_leaking,
    free_text_refuses_control_characters_and_messages_stay_short,
    a_forbidden_op_does_not_name_a_class_the_caller_does_not_teach,
    a_forged_log_line_in_a_username_stays_one_escaped_line,
    an_unreadable_logged_change_is_skipped_by_pull_and_reported,
    an_event_stream_hears_only_its_classes_and_ends_with_its_sign_in,
);

fn locks_stored(server: &TestServer) -> i64 {
    locks::table.count().get_result(&mut server.db()).unwrap()
}

async fn dates_no_school_can_mean_are_refused_at_every_entry_point(server: &TestServer) {
    let admin = server.login("admin").await.token;
    let (token, classes) = server.login_with_classes("teacher1").await;
    let class = classes.class(0);
    let student = classes.students(class)[0];
    for (from, detail) in [
        ("-0001-01-01", "INVALID_DATE"),
        ("+10000-01-01", "INVALID_DATE"),
        ("0000-01-01", "DATE_OUT_OF_RANGE"),
        ("1969-12-31", "DATE_OUT_OF_RANGE"),
        ("9999-12-31", "DATE_OUT_OF_RANGE"),
    ] {
        // As a lock's first day (the probe's case) and as its last.
        for body in [
            json!({"from": from, "until": "2020-01-01", "reason": "x"}),
            json!({"from": "2020-01-01", "until": from, "reason": "x"}),
        ] {
            let reply = server.create_lock(&admin, body.clone()).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}: {:?}", reply.body);
            assert_eq!(reply.body["error"]["code"], "VALIDATION", "{body}");
            assert_eq!(reply.body["error"]["detail"], detail, "{body}");
        }
        // As an op's date: that one op is rejected, the rest of the push applies.
        let mut device = Device::new(0x0da7e);
        let ops = [
            device.mark(class, from, 1, student, "absent"),
            device.mark(class, &school_day(3), 1, student, "absent"),
        ];
        let reply = server.push(&token, device.id, &ops).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        assert_eq!(reply.outcomes(), ["rejected", "applied"], "{from}");
        assert_eq!(reply.body["results"][0]["detail"], detail, "{from}");
    }
    assert_eq!(locks_stored(server), 0, "a refused lock changes nothing");
    // Every push and the lock list still work.
    let mut device = Device::new(0x0da7f);
    let empty = server.push(&token, device.id, &[]).await;
    assert_eq!(empty.status, StatusCode::OK, "{:?}", empty.body);
    let mark = device.mark(class, &school_day(4), 1, student, "late");
    assert_eq!(server.push(&token, device.id, &[mark]).await.outcomes(), ["applied"]);
    let list = server.get("/api/v1/admin/locks", &admin).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body, json!([]));
}

/// Writes a lock row the way an older version did for "-0001-01-01" (or a hand edit might):
/// one no version can read back.
fn store_unreadable_lock(server: &TestServer, school_id: &str, created_by: &str) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    diesel::insert_into(locks::table)
        .values((
            locks::id.eq(&id),
            locks::school_id.eq(school_id),
            locks::from_date.eq("-001-01-01"),
            locks::until_date.eq("2020-01-01"),
            locks::reason.eq("x"),
            locks::locked_hlc.eq("1763719200000-0000-9f2c4a1b7d3e5f60"),
            locks::created_by.eq(created_by),
            locks::created_at.eq(0i64),
        ))
        .execute(&mut server.db())
        .unwrap();
    id
}

async fn an_unreadable_lock_row_stops_nobody_and_is_reported(server: &TestServer) {
    let admin = server.login("admin").await;
    let (token, classes) = server.login_with_classes("teacher1").await;
    let class = classes.class(0);
    let student = classes.students(class)[0];
    let teacher2 = server.login("teacher2").await.token;
    let teacher2_classes = server.classes(&teacher2).await;
    let other_school = server.login("other-teacher").await.token;
    let other_classes = server.classes(&other_school).await;
    // A readable lock beside the bad one must still hold.
    let good = server
        .create_lock(
            &admin.token,
            json!({"class_id": class, "from": school_day(30), "until": school_day(30), "reason": "census"}),
        )
        .await;
    assert_eq!(good.status, StatusCode::CREATED, "{:?}", good.body);
    let school_id = admin.login.user.school_id.to_string();
    let bad_id = store_unreadable_lock(server, &school_id, &admin.login.user.id.to_string());

    /// Pushes from this school's teachers (two classes, two teachers) and another school's all
    /// go on; the readable lock still refuses its register.
    async fn everyone_pushes(
        server: &TestServer,
        pushers: &[(&str, &Classes)],
        locked: (&str, rollcall_shared::ClassId, rollcall_shared::StudentId),
        round: u64,
    ) {
        for (i, (token, classes)) in pushers.iter().enumerate() {
            let mut device = Device::new(0xbad0_0000 + round * 16 + i as u64);
            let class = classes.class(classes.roster.classes.len() - 1);
            let student = classes.students(class)[0];
            let empty = server.push(token, device.id, &[]).await;
            assert_eq!(empty.status, StatusCode::OK, "an empty push: {:?}", empty.body);
            let mark = device.mark(class, &school_day(5 + round as i64), 2, student, "present");
            let reply = server.push(token, device.id, &[mark]).await;
            assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
            assert_eq!(reply.outcomes(), ["applied"]);
        }
        let (token, class, student) = locked;
        let mut device = Device::new(0xbad1_0000 + round);
        let reply = server
            .push(
                token,
                device.id,
                &[device.mark(class, &school_day(30), 1, student, "absent")],
            )
            .await;
        assert_eq!(reply.body["results"][0]["code"], "REGISTER_LOCKED");
    }
    let pushers: [(&str, &Classes); 3] = [
        (&token, &classes),
        (&teacher2, &teacher2_classes),
        (&other_school, &other_classes),
    ];
    everyone_pushes(server, &pushers, (&token, class, student), 0).await;

    // The office's list leaves the bad row out; health names it so IT can repair it.
    let list = server.get("/api/v1/admin/locks", &admin.token).await;
    assert_eq!(list.status, StatusCode::OK, "{:?}", list.body);
    let listed: Vec<&Value> = list.body.as_array().unwrap().iter().collect();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["reason"], "census");
    let health = server.call("GET", "/healthz", None, None).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body["status"], "degraded");
    let reported = health.body["unreadable_rows"].as_array().unwrap();
    assert!(
        reported
            .iter()
            .any(|row| row["table"] == "locks" && row["key"] == bad_id.as_str()),
        "{reported:?}"
    );
    // Reopening it cannot be answered with a lock it cannot read: refused, nothing changed.
    let reopen = server.reopen_lock(&admin.token, &bad_id, "mistake").await;
    assert_eq!(reopen.status, StatusCode::CONFLICT, "{:?}", reopen.body);
    let reopened_at: Option<i64> = locks::table
        .find(&bad_id)
        .select(locks::reopened_at)
        .first(&mut server.db())
        .unwrap();
    assert_eq!(reopened_at, None);

    // A restart with the row still there serves everyone too, and reports it at once.
    let restarted = server.sibling().await;
    let health = restarted.call("GET", "/healthz", None, None).await;
    assert_eq!(health.body["status"], "degraded", "{:?}", health.body);
    let token = restarted.login("teacher1").await.token;
    let teacher2 = restarted.login("teacher2").await.token;
    let other_school = restarted.login("other-teacher").await.token;
    let pushers: [(&str, &Classes); 3] = [
        (&token, &classes),
        (&teacher2, &teacher2_classes),
        (&other_school, &other_classes),
    ];
    everyone_pushes(&restarted, &pushers, (&token, class, student), 1).await;
    let pulled = restarted.get("/api/v1/sync/pull", &token).await;
    assert_eq!(pulled.status, StatusCode::OK);
}

async fn an_op_id_reused_by_another_user_or_for_other_content_is_refused_without_leaking(server: &TestServer) {
    let (token1, classes1) = server.login_with_classes("teacher1").await;
    let token2 = server.login("teacher2").await.token;
    let classes2 = server.classes(&token2).await;
    let (class1, class2) = (classes1.class(0), classes2.class(0));
    let (student1, student2) = (classes1.students(class1)[0], classes2.students(class2)[0]);
    let day = school_day(6);

    let mut device2 = Device::new(0x2222);
    let theirs = device2.mark(class2, &day, 1, student2, "absent");
    assert_eq!(
        server
            .push(&token2, device2.id, std::slice::from_ref(&theirs))
            .await
            .outcomes(),
        ["applied"]
    );

    // Teacher1 sends an op into their own class under teacher2's op id and HLC.
    let mut device1 = Device::new(0x1111);
    let mut mine = device1.mark(class1, &day, 1, student1, "late");
    mine.op_id = theirs.op_id;
    mine.hlc = theirs.hlc.clone();
    let reply = server.push(&token1, device1.id, &[mine.clone()]).await;
    assert_eq!(reply.outcomes(), ["rejected"]);
    let result = &reply.body["results"][0];
    assert_eq!(result["code"], "OP_ID_REUSED");
    let message = result["message"].as_str().unwrap();
    for leak in ["applied", "absent", &class2.to_string(), &student2.to_string()] {
        assert!(!message.contains(leak), "the answer reveals {leak:?}: {message}");
    }
    // A retry of it is refused the same way, and teacher1 can send it under a new id.
    let again = server.push(&token1, device1.id, &[mine.clone()]).await;
    assert_eq!(again.body["results"][0]["code"], "OP_ID_REUSED");
    let renamed = device1.mark(class1, &day, 1, student1, "late");
    assert_eq!(
        server.push(&token1, device1.id, &[renamed]).await.outcomes(),
        ["applied"]
    );

    // The same user on another device, or the same device with other content, is also a reuse;
    // the very same op again is a harmless duplicate.
    let mut other_device = Device::new(0x2223);
    let same_op_other_device = server
        .push(&token2, other_device.id, std::slice::from_ref(&theirs))
        .await;
    assert_eq!(same_op_other_device.body["results"][0]["code"], "OP_ID_REUSED");
    let mut other_content = theirs.clone();
    other_content.value = serde_json::from_value(json!("present")).unwrap();
    let reply = server.push(&token2, device2.id, &[other_content]).await;
    assert_eq!(reply.body["results"][0]["code"], "OP_ID_REUSED");
    let retry = server.push(&token2, device2.id, std::slice::from_ref(&theirs)).await;
    assert_eq!(retry.outcomes(), ["duplicate"]);
    // Within one push too: a second op under an id the push already used.
    let fresh = other_device.mark(class2, &day, 2, student2, "present");
    let mut twin = fresh.clone();
    twin.value = serde_json::from_value(json!("absent")).unwrap();
    let reply = server.push(&token2, other_device.id, &[fresh, twin]).await;
    assert_eq!(reply.outcomes(), ["applied", "rejected"]);
    assert_eq!(reply.body["results"][1]["code"], "OP_ID_REUSED");

    // Teacher2's mark is untouched, and every receipt is in the op log.
    let (changes, _, _) = server.pull_all(&token2, None, 1000).await;
    let status = changes
        .iter()
        .rfind(|c| c["student_id"] == json!(student2) && c["date"] == json!(day) && c["period"] == 1)
        .unwrap();
    assert_eq!(status["value"], "absent");
    let reused: i64 = op_log::table
        .filter(op_log::code.eq("OP_ID_REUSED"))
        .count()
        .get_result(&mut server.db())
        .unwrap();
    assert_eq!(reused, 5);
}

async fn free_text_refuses_control_characters_and_messages_stay_short(server: &TestServer) {
    let admin = server.login("admin").await.token;
    let (token, classes) = server.login_with_classes("teacher1").await;
    let class = classes.class(0);
    let student = classes.students(class)[0];
    let mut device = Device::new(0x7e47);
    let day = school_day(7);
    let ops = [
        device.op(class, &day, 1, Some(student), "note", json!("fine\u{0}hidden")),
        device.op(
            class,
            &day,
            1,
            Some(student),
            "note",
            json!("line one\nline two\ttabbed"),
        ),
        device.op(class, &day, 1, Some(student), "status", json!("x".repeat(100_000))),
    ];
    let reply = server.push(&token, device.id, &ops).await;
    assert_eq!(reply.outcomes(), ["rejected", "applied", "rejected"]);
    assert_eq!(reply.body["results"][0]["detail"], "CONTROL_CHARACTER");
    assert_eq!(reply.body["results"][2]["detail"], "UNKNOWN_STATUS");
    let message = reply.body["results"][2]["message"].as_str().unwrap();
    assert!(message.len() < 200, "a {} byte message", message.len());
    let logged: Vec<Option<String>> = op_log::table
        .filter(op_log::field.eq("status"))
        .select(op_log::message)
        .load(&mut server.db())
        .unwrap();
    assert!(logged.iter().flatten().all(|m| m.len() < 200));

    // NULs where no text is expected: each op is rejected on its own and logged escaped (a
    // PostgreSQL text column cannot hold a NUL, and one such op once failed its whole push).
    let mut with_nul = [
        device.mark(class, &day, 2, student, "absent"),
        device.mark(class, &day, 2, student, "absent"),
        device.mark(class, &day, 2, student, "absent"),
    ];
    with_nul[0].field = "sta\u{0}tus".to_owned();
    with_nul[1].date = "2026\u{0}01-01".to_owned();
    with_nul[2].hlc = "\u{0}".to_owned();
    let reply = server.push(&token, device.id, &with_nul).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.outcomes(), ["rejected", "rejected", "rejected"]);
    let details: Vec<&Value> = (0..3).map(|i| &reply.body["results"][i]["detail"]).collect();
    assert_eq!(
        details,
        [&json!("UNKNOWN_FIELD"), &json!("INVALID_DATE"), &json!("MALFORMED_HLC")]
    );
    let retried = server.push(&token, device.id, &with_nul).await;
    assert_eq!(retried.outcomes(), ["duplicate", "duplicate", "duplicate"]);
    let escaped: i64 = op_log::table
        .filter(op_log::field.eq("sta\\u{0}tus"))
        .count()
        .get_result(&mut server.db())
        .unwrap();
    assert_eq!(escaped, 2, "the first receipt and the duplicate, escaped");

    for (reason, detail) in [
        ("census\u{0}", "CONTROL_CHARACTER"),
        (&*"r".repeat(501), "TEXT_TOO_LONG"),
    ] {
        let reply = server
            .create_lock(
                &admin,
                json!({"from": school_day(1), "until": school_day(1), "reason": reason}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(reply.body["error"]["detail"], detail);
    }
    assert_eq!(locks_stored(server), 0);
}

async fn a_forbidden_op_does_not_name_a_class_the_caller_does_not_teach(server: &TestServer) {
    let admin = server.login("admin").await.token;
    let everything = server.classes(&admin).await;
    let (token, mine) = server.login_with_classes("teacher1").await;
    let theirs = everything
        .roster
        .classes
        .iter()
        .find(|class| !mine.roster.classes.iter().any(|m| m.id == class.id))
        .unwrap();
    let student = everything.students(theirs.id)[0];
    let mut device = Device::new(0xf0b1);
    let reply = server
        .push(
            &token,
            device.id,
            &[device.mark(theirs.id, &school_day(2), 1, student, "absent")],
        )
        .await;
    assert_eq!(reply.body["results"][0]["code"], "FORBIDDEN");
    let message = reply.body["results"][0]["message"].as_str().unwrap();
    assert!(!message.contains(&theirs.name), "{message}");
}

/// Against the real binary: its log is what school IT reads.
async fn a_forged_log_line_in_a_username_stays_one_escaped_line(server: &TestServer) {
    let mut binary = BinaryServer::start(&server.db_url, &[]);
    let forged = "admin\n2026-12-03T10:00:00.000000Z  INFO rollcall_server::api::auth: signed in username=admin\u{0}";
    let reply = server
        .http
        .post(format!("{}/api/v1/auth/login", binary.url))
        .json(&json!({"username": forged, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::UNAUTHORIZED);
    let failed = binary.wait_for("failed login");
    // Usernames are matched in lower case, so the log shows the forged text lowered.
    assert!(failed.contains("\\n2026-12-03t10:00:00"), "escaped in place: {failed}");
    assert!(failed.contains("\\u{0}"), "{failed}");
    for line in &binary.seen {
        assert!(!line.contains('\0'), "a raw NUL in the log: {line:?}");
        assert!(
            !line.to_lowercase().starts_with("2026-12-03t10:00:00.000000z"),
            "a forged line in the log: {line}"
        );
    }
}

async fn an_unreadable_logged_change_is_skipped_by_pull_and_reported(server: &TestServer) {
    let (token, classes) = server.login_with_classes("teacher1").await;
    let class = classes.class(0);
    let student = classes.students(class)[0];
    let mut device = Device::new(0x5eed);
    let first = device.mark(class, &school_day(8), 1, student, "absent");
    assert_eq!(server.push(&token, device.id, &[first]).await.outcomes(), ["applied"]);
    // An applied change whose value no version wrote: a hand edit gone wrong.
    diesel::sql_query(format!(
        "UPDATE op_log SET value = 'not json' WHERE seq = (SELECT MAX(seq) FROM op_log) AND class_id = '{class}'"
    ))
    .execute(&mut server.db())
    .unwrap();
    let second = device.mark(class, &school_day(8), 2, student, "late");
    assert_eq!(server.push(&token, device.id, &[second]).await.outcomes(), ["applied"]);

    let (changes, _, _) = server.pull_all(&token, None, 1000).await;
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0]["value"], "late");
    let health = server.call("GET", "/healthz", None, None).await;
    assert_eq!(health.body["status"], "degraded");
    assert_eq!(
        health.body["unreadable_rows"][0]["table"], "op_log",
        "{:?}",
        health.body
    );
}

async fn an_event_stream_hears_only_its_classes_and_ends_with_its_sign_in(server: &TestServer) {
    let admin = server.login("admin").await.token;
    let teacher1 = server.login("teacher1").await;
    let mine = server.classes(&teacher1.token).await;
    let teacher2 = server.login("teacher2").await.token;
    let theirs = server.classes(&teacher2).await;
    let (my_class, their_class) = (mine.class(0), theirs.class(0));
    let mut stream = server
        .http
        .get(server.url(&format!("/api/v1/events?access_token={}", teacher1.token)))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    read_events(&mut stream, |text| text.contains("event: ready")).await;

    // One admin push touching both teachers' classes: teacher1 hears only of their own.
    let mut device = Device::new(0xad);
    let ops = [
        device.mark(my_class, &school_day(9), 1, mine.students(my_class)[0], "absent"),
        device.mark(
            their_class,
            &school_day(9),
            1,
            theirs.students(their_class)[0],
            "absent",
        ),
    ];
    assert_eq!(
        server.push(&admin, device.id, &ops).await.outcomes(),
        ["applied", "applied"]
    );
    let (heard, _) = read_events(&mut stream, |text| text.contains("event: changes")).await;
    assert!(heard.contains(&my_class.to_string()), "{heard}");
    assert!(
        !heard.contains(&their_class.to_string()),
        "a teacher heard of another's class: {heard}"
    );

    // Signing out ends the open stream at its next frame.
    let logout = server.logout(&teacher1.refresh_cookie).await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    let op = device.mark(my_class, &school_day(9), 2, mine.students(my_class)[0], "late");
    assert_eq!(server.push(&admin, device.id, &[op]).await.outcomes(), ["applied"]);
    let (after, ended) = read_events(&mut stream, |_| false).await;
    assert!(ended, "the stream outlived its sign-in");
    assert!(
        !after.contains("event: changes"),
        "a signed-out stream heard a change: {after}"
    );
}
