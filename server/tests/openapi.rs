//! The OpenAPI document against the real server: every answer of a walk through the API (sign
//! in and out, roster, push, pull, events, locks, health, and the 400, 401, 403, 404, 405, 409
//! and 413 answers) is looked up in the document the server serves, by method and path
//! template. Its status must be documented, the headers documented for it present and valid, and
//! its JSON body valid against the documented schema, with every object closed to keys the
//! document does not list; an error body must name the request id its header gives. A method a path does not take must answer 405 with `Allow` naming
//! exactly the documented methods.

#![allow(clippy::unwrap_used, reason = "test scenarios: a panic is how they fail")]

mod common;

use common::{Classes, Device, Reply, TestServer, school_day, send};
use reqwest::StatusCode;
use reqwest::header::{ALLOW, CONTENT_TYPE, COOKIE, HeaderMap};
use serde_json::{Value, json};
use std::collections::BTreeSet;

backend_tests!(every_answer_is_one_the_document_describes);

/// Real values of every wire type, with every optional key set (a walk through the API does not
/// produce each of them: a re-stamped op, a clock offset), each valid against its schema, types
/// included. Every object schema of the document has a sample here.
#[test]
fn every_wire_type_with_every_key_matches_its_schema() {
    use chrono::{NaiveDate, NaiveTime, Utc};
    use rollcall_server::api::locks::LockInfo;
    use rollcall_server::integrity::UnreadableRow;
    use rollcall_shared::protocol::*;
    use rollcall_shared::*;
    use utoipa::OpenApi;

    let doc = Document::new(serde_json::to_value(rollcall_server::api::openapi::ApiDoc::openapi()).unwrap());
    let id = uuid::Uuid::new_v4();
    let hlc: Hlc = "1763719200000-0000-9f2c4a1b7d3e5f60".parse().unwrap();
    let day = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
    let user = UserInfo {
        id: UserId(id),
        username: "teacher1".into(),
        display_name: "T".into(),
        role: Role::Teacher,
        school_id: SchoolId(id),
    };
    let op = RawOp {
        op_id: OpId(id),
        hlc: hlc.to_string(),
        device_time: Utc::now(),
        class_id: ClassId(id),
        date: "2026-11-20".into(),
        period: 1,
        student_id: Some(StudentId(id)),
        field: "minutes_late".into(),
        value: WireValue::Whole(5),
    };
    let change = op.validate().unwrap().change;
    let error = ErrorBody {
        error: ErrorInfo {
            code: ErrorCode::Validation,
            message: "m".into(),
            detail: Some(ValidationCode::NoteTooLong),
            request_id: Some("3f2a9c1e0b7d4a66".into()),
        },
    };
    let samples = [
        (
            "LoginRequest",
            json!(LoginRequest {
                username: "a".into(),
                password: "b".into()
            }),
        ),
        ("UserInfo", json!(user)),
        (
            "LoginResponse",
            json!(LoginResponse {
                access_token: "t".into(),
                token_type: "Bearer".into(),
                expires_in: 900,
                user
            }),
        ),
        (
            "Roster",
            json!(Roster {
                school: SchoolInfo {
                    id: SchoolId(id),
                    name: "S".into()
                },
                periods: vec![PeriodInfo {
                    period: 1,
                    label: "P1".into(),
                    starts: NaiveTime::from_hms_opt(8, 45, 0).unwrap(),
                    ends: NaiveTime::from_hms_opt(9, 40, 0).unwrap(),
                }],
                classes: vec![ClassInfo {
                    id: ClassId(id),
                    name: "7A".into(),
                    teacher_ids: vec![UserId(id)]
                }],
                students: vec![StudentInfo {
                    id: StudentId(id),
                    external_id: "1".into(),
                    given_name: "A".into(),
                    family_name: "B".into(),
                }],
                enrolments: vec![EnrolmentInfo {
                    class_id: ClassId(id),
                    student_id: StudentId(id),
                    from: day,
                    until: Some(day),
                }],
            }),
        ),
        (
            "PushRequest",
            json!(PushRequest {
                device_id: NodeId(1),
                ops: vec![op]
            }),
        ),
        (
            "PushResponse",
            json!(PushResponse {
                results: vec![OpResult {
                    op_id: OpId(id),
                    outcome: Outcome::Rejected,
                    code: Some(ErrorCode::Validation),
                    message: Some("m".into()),
                    detail: Some(ValidationCode::NoteTooLong),
                    restamped_hlc: Some(hlc),
                }],
                server_hlc: hlc,
                server_time: Utc::now(),
                clock_offset_ms: Some(-1),
            }),
        ),
        (
            "PullResponse",
            json!(PullResponse {
                changes: vec![change],
                cursor: "4711".into(),
                more: false,
                server_hlc: hlc,
                server_time: Utc::now(),
            }),
        ),
        ("ErrorBody", json!(error)),
        (
            "ChangesEvent",
            json!(ChangeNotice {
                class_ids: vec![ClassId(id)],
                device_id: NodeId(7),
            }),
        ),
        (
            "LockInfo",
            json!(LockInfo {
                id,
                class_id: Some(ClassId(id)),
                from: day,
                until: day,
                reason: "census".into(),
                locked_hlc: hlc,
                created_by: UserId(id),
                created_at: Utc::now(),
                active: false,
                reopened_at: Some(Utc::now()),
                reopened_by: Some(UserId(id)),
                reopen_reason: Some("a correction".into()),
            }),
        ),
        (
            "CreateLockRequest",
            json!({"class_id": id, "from": "2026-11-16", "until": "2026-11-20", "reason": "census"}),
        ),
        ("ReopenLockRequest", json!({"reason": "a correction"})),
        (
            "Health",
            json!({
                "status": "degraded",
                "unreadable_rows": [UnreadableRow::new("locks", id.to_string(), "bad date")],
                "schema_version": "20261204000001",
                "other_servers": "listening",
            }),
        ),
    ];
    // The nested types (Op, OpResult, Change, ErrorInfo, …) are checked through their parents.
    let nested = [
        "Op",
        "OpResult",
        "Change",
        "ErrorInfo",
        "SchoolInfo",
        "PeriodInfo",
        "ClassInfo",
        "StudentInfo",
        "EnrolmentInfo",
        "UnreadableRow",
    ];
    for (schema, sample) in &samples {
        doc.validate(
            &json!({"$ref": format!("#/components/schemas/{schema}")}),
            sample,
            schema,
        );
    }
    let objects: BTreeSet<&str> = doc.doc["components"]["schemas"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, schema)| schema.get("properties").is_some())
        .map(|(name, _)| name.as_str())
        .collect();
    // A lock's dates: the pattern takes exactly the school years the server takes.
    let lock_date = json!({"$ref": "#/components/schemas/CreateLockRequest/properties/from"});
    let years = rollcall_shared::op::SCHOOL_YEARS;
    for year in [*years.start() - 1, *years.start(), *years.end(), *years.end() + 1, 171] {
        let date = json!(format!("{year:04}-06-01"));
        let valid = doc.is_valid(&lock_date, &date);
        assert_eq!(valid, years.contains(&year), "the documented lock date {date}");
    }
    // A reason: some text, line breaks and tabs allowed, no other control character (as the server rules).
    let reason = json!({"$ref": "#/components/schemas/ReopenLockRequest/properties/reason"});
    for (text, valid) in [
        ("a correction", true),
        ("line\nbreak\tand tab", true),
        ("  ", false),
        ("bell\u{7}", false),
        ("c1\u{85}", false),
    ] {
        assert_eq!(
            doc.is_valid(&reason, &json!(text)),
            valid,
            "the documented reason {text:?}"
        );
    }
    let covered: BTreeSet<&str> = samples.iter().map(|(name, _)| *name).chain(nested).collect();
    assert_eq!(
        objects, covered,
        "every object schema has a sample, directly or through a parent"
    );
}

/// The served document, and how to check answers against it.
struct Document {
    doc: Value,
    /// The document's `components`, every object schema closed (`additionalProperties: false`):
    /// an answer with a key the document does not list fails.
    components: Value,
    /// How many answers were checked.
    checked: std::cell::Cell<usize>,
}

impl Document {
    async fn fetch(server: &TestServer) -> Document {
        let reply = server.call("GET", "/api/openapi.json", None, None).await;
        assert_eq!(reply.status, StatusCode::OK);
        let document = Document::new(reply.body.clone());
        document.check("GET", "/api/openapi.json", &reply);
        document
    }

    fn new(doc: Value) -> Document {
        let mut components = doc["components"].clone();
        close_objects(&mut components);
        Document {
            doc,
            components,
            checked: Default::default(),
        }
    }

    /// Checks one answer to `method template` (the path as the document spells it).
    fn check(&self, method: &str, template: &str, reply: &Reply) {
        let what = format!("{method} {template} answered {}", reply.status);
        let Some((media_type, described)) = self.described(method, template, reply.status, &reply.headers) else {
            assert_eq!(
                reply.body,
                Value::Null,
                "{what} with a body the document does not describe"
            );
            return;
        };
        if media_type == "application/json" {
            self.validate(&described["schema"], &reply.body, &what);
        }
        if reply.status.is_client_error() || reply.status.is_server_error() {
            assert_carries_its_request_id(reply, &what);
        }
        self.checked.set(self.checked.get() + 1);
    }

    /// Checks the events of an event stream (each as its fields, `data` as text) against the
    /// schema documented for them.
    fn check_events(&self, template: &str, headers: &HeaderMap, events: &[Value]) {
        let what = format!("GET {template} sent an event");
        let (media_type, described) = self.described("GET", template, StatusCode::OK, headers).unwrap();
        assert_eq!(media_type, "text/event-stream");
        for event in events {
            self.validate(&described["schema"], event, &what);
        }
        self.checked.set(self.checked.get() + 1);
    }

    /// The documented media type of an answer, after checking that its status is documented and
    /// it carries the headers documented for it; `None` when the document describes no body.
    fn described(
        &self,
        method: &str,
        template: &str,
        status: StatusCode,
        headers: &HeaderMap,
    ) -> Option<(String, &Value)> {
        let what = format!("{method} {template} answered {status}");
        let operation = &self.doc["paths"][template][method.to_lowercase()];
        assert!(operation.is_object(), "{what}, but the document has no such operation");
        let response = &operation["responses"][status.as_str()];
        assert!(
            response.is_object(),
            "{what}, a status the document does not list for it: {:?}",
            operation["responses"].as_object().unwrap().keys().collect::<Vec<_>>()
        );
        for (name, header) in response["headers"].as_object().into_iter().flatten() {
            let value = headers
                .get(name.as_str())
                .unwrap_or_else(|| panic!("{what} without its documented header {name}"));
            self.validate(
                &header["schema"],
                &json!(value.to_str().unwrap()),
                &format!("{what}: header {name}"),
            );
        }
        let content = response["content"].as_object()?;
        let media_type = headers
            .get(CONTENT_TYPE)
            .map(|value| value.to_str().unwrap().split(';').next().unwrap().trim().to_owned())
            .unwrap_or_else(|| panic!("{what} without a Content-Type"));
        let Some(described) = content.get(&media_type) else {
            panic!(
                "{what} as {media_type}; the document says {:?}",
                content.keys().collect::<Vec<_>>()
            );
        };
        Some((media_type, described))
    }

    /// Checks a 405: the path is documented, the method is not, `Allow` names exactly the
    /// documented methods, and the body is the API's error.
    fn check_not_allowed(&self, method: &str, template: &str, reply: &Reply) {
        let what = format!("{method} {template}");
        let item = self.doc["paths"][template]
            .as_object()
            .unwrap_or_else(|| panic!("{template} is not documented"));
        let documented: BTreeSet<String> = item.keys().map(|method| method.to_uppercase()).collect();
        assert!(!documented.contains(method), "{what} is documented");
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{what}: {:?}", reply.body);
        let allowed: BTreeSet<String> = reply
            .headers
            .get(ALLOW)
            .unwrap_or_else(|| panic!("{what}: 405 without Allow"))
            .to_str()
            .unwrap()
            .split(',')
            .map(|method| method.trim().to_owned())
            .collect();
        assert_eq!(allowed, documented, "{what}: Allow");
        self.check_error(reply, "METHOD_NOT_ALLOWED", &what);
    }

    /// Checks an answer no operation describes (a 404 or 405): the API's error with this code.
    fn check_error(&self, reply: &Reply, code: &str, what: &str) {
        assert_eq!(reply.headers[CONTENT_TYPE], "application/json", "{what}");
        assert_eq!(reply.headers["rollcall-protocol"], "1", "{what}");
        self.validate(&json!({"$ref": "#/components/schemas/ErrorBody"}), &reply.body, what);
        assert_eq!(reply.body["error"]["code"], code, "{what}");
        assert_carries_its_request_id(reply, what);
        self.checked.set(self.checked.get() + 1);
    }

    /// Whether a value is valid against a schema of the document.
    fn is_valid(&self, schema: &Value, value: &Value) -> bool {
        let mut root = schema.clone();
        root["components"] = self.components.clone();
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&root)
            .unwrap()
            .is_valid(value)
    }

    /// Validates a value against a schema of the document, its `#/components/...` refs resolved.
    fn validate(&self, schema: &Value, value: &Value, what: &str) {
        let mut root = schema.clone();
        root["components"] = self.components.clone();
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|e| panic!("{what}: the documented schema does not compile: {e}"));
        let errors: Vec<String> = validator
            .iter_errors(value)
            .map(|error| format!("at {}: {error}", error.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{what}: the body does not match the document:\n{}\nbody: {value}",
            errors.join("\n")
        );
    }
}

/// An error body names the request it answers, as its `X-Request-Id` header does.
fn assert_carries_its_request_id(reply: &Reply, what: &str) {
    let header = reply.headers["x-request-id"].to_str().unwrap();
    assert_eq!(reply.body["error"]["request_id"], header, "{what}: {}", reply.body);
}

/// Sets `additionalProperties: false` on every object schema that lists properties and says
/// nothing of others, so that an answer carrying an undocumented key fails.
fn close_objects(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".to_owned(), Value::Bool(false));
            }
            map.values_mut().for_each(close_objects);
        }
        Value::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}

/// Reads an event stream until at least one event is complete; returns the complete events, each
/// as its fields (`event`, `data`, `retry`), as a client's parser gives them. Comment lines are
/// not events.
async fn next_events(stream: &mut reqwest::Response) -> Vec<Value> {
    let mut text = String::new();
    loop {
        let chunk = stream.chunk().await.unwrap().expect("the stream ended");
        text.push_str(std::str::from_utf8(&chunk).unwrap());
        let Some(end) = text.rfind("\n\n") else { continue };
        let events: Vec<Value> = text[..end]
            .split("\n\n")
            .filter_map(|block| {
                let mut event = serde_json::Map::new();
                for line in block.lines().filter(|line| !line.starts_with(':')) {
                    let (field, value) = line.split_once(": ").unwrap_or((line, ""));
                    let value = match field {
                        "retry" => json!(value.parse::<u64>().unwrap()),
                        _ => json!(value),
                    };
                    event.insert(field.to_owned(), value);
                }
                (!event.is_empty()).then_some(Value::Object(event))
            })
            .collect();
        if !events.is_empty() {
            return events;
        }
        text.drain(..end + 2);
    }
}

async fn every_answer_is_one_the_document_describes(server: &TestServer) {
    let doc = Document::fetch(server).await;
    let health = server.call("GET", "/healthz", None, None).await;
    doc.check("GET", "/healthz", &health);

    // Sign in, refresh, sign out.
    let login = "/api/v1/auth/login";
    let admin = server.login("admin").await;
    let teacher = server.login("teacher1").await;
    let signed_in = server
        .call(
            "POST",
            login,
            None,
            Some(json!({"username": "teacher2", "password": common::PASSWORD})),
        )
        .await;
    assert_eq!(signed_in.status, StatusCode::OK);
    doc.check("POST", login, &signed_in);
    let cookie = common::refresh_cookie(&signed_in.headers).unwrap();
    for body in [
        json!({"username": "teacher2"}),
        json!({"username": "teacher2", "password": "wrong"}),
    ] {
        doc.check("POST", login, &server.call("POST", login, None, Some(body)).await);
    }
    let as_text = server.http.post(server.url(login)).header(CONTENT_TYPE, "text/plain");
    doc.check(
        "POST",
        login,
        &send(as_text.body(r#"{"username": "a", "password": "b"}"#)).await,
    );
    let huge = json!({"username": "teacher2", "password": "x".repeat(100 * 1024)});
    let too_large = server.call("POST", login, None, Some(huge)).await;
    assert_eq!(too_large.status, StatusCode::PAYLOAD_TOO_LARGE);
    doc.check("POST", login, &too_large);
    let refresh = |cookie: Option<&str>| {
        let request = server.http.post(server.url("/api/v1/auth/refresh"));
        send(match cookie {
            Some(cookie) => request.header(COOKIE, cookie),
            None => request,
        })
    };
    let refreshed = refresh(Some(&cookie)).await;
    assert_eq!(refreshed.status, StatusCode::OK);
    doc.check("POST", "/api/v1/auth/refresh", &refreshed);
    doc.check("POST", "/api/v1/auth/refresh", &refresh(None).await);
    let cookie = common::refresh_cookie(&refreshed.headers).unwrap();
    let logout = server.logout(&cookie).await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    doc.check("POST", "/api/v1/auth/logout", &logout);

    // The roster.
    let roster = server.get("/api/v1/roster", &teacher.token).await;
    doc.check("GET", "/api/v1/roster", &roster);
    doc.check(
        "GET",
        "/api/v1/roster",
        &server.call("GET", "/api/v1/roster", None, None).await,
    );
    let classes = Classes {
        roster: serde_json::from_value(roster.body).unwrap(),
    };

    // Push: applied, rejected and restamped ops, then the same again (duplicate), then bad pushes.
    let push = "/api/v1/sync/push";
    let class = classes.class(0);
    let students = classes.students(class);
    let day = school_day(12);
    let mut device = Device::new(0x0a91);
    let ops = vec![
        device.mark(class, &day, 1, students[0], "present"),
        device.op(class, &day, 1, Some(students[1]), "minutes_late", json!(7)),
        device.op(class, &day, 1, Some(students[1]), "minutes_late", json!(null)),
        device.op(class, &day, 1, Some(students[2]), "note", json!("bus was late")),
        device.op(class, &day, 1, None, "submitted", json!(true)),
        device.mark(class, &day, 1, students[0], "sleepy"),
        device.op(class, &day, 1, Some(students[0]), "minutes_late", json!(5.5)),
        device.op_at(3_600_000, class, &day, 2, Some(students[0]), "status", json!("late")),
    ];
    let pushed = server.push(&teacher.token, device.id, &ops).await;
    assert_eq!(
        pushed.outcomes(),
        [
            "applied", "applied", "applied", "applied", "applied", "rejected", "rejected", "applied"
        ]
    );
    doc.check("POST", push, &pushed);
    let again = server.push(&teacher.token, device.id, &ops).await;
    assert!(again.outcomes().iter().all(|outcome| outcome == "duplicate"));
    doc.check("POST", push, &again);
    for body in [
        json!({"device_id": device.id}),
        json!({"device_id": device.id, "ops": [{"value": [1]}]}),
    ] {
        let reply = server.post(push, &teacher.token, body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        doc.check("POST", push, &reply);
    }
    let as_text = server
        .http
        .post(server.url(push))
        .bearer_auth(&teacher.token)
        .header(CONTENT_TYPE, "text/plain");
    let as_text = send(as_text.body(json!({"device_id": device.id, "ops": []}).to_string())).await;
    assert_eq!(as_text.status, StatusCode::BAD_REQUEST);
    doc.check("POST", push, &as_text);
    let many: Vec<_> = (0..1001)
        .map(|_| device.mark(class, &day, 3, students[0], "present"))
        .collect();
    let too_many = server.push(&teacher.token, device.id, &many).await;
    assert_eq!(too_many.status, StatusCode::PAYLOAD_TOO_LARGE);
    doc.check("POST", push, &too_many);
    doc.check("POST", push, &server.call("POST", push, None, Some(json!({}))).await);

    // Pull: the changes just pushed, every kind of value; then bad cursors and limits.
    let pull = "/api/v1/sync/pull";
    let pulled = server.get(&format!("{pull}?limit=1000"), &teacher.token).await;
    assert_eq!(pulled.body["changes"].as_array().unwrap().len(), 6);
    doc.check("GET", pull, &pulled);
    let cursor = pulled.body["cursor"].as_str().unwrap();
    doc.check(
        "GET",
        pull,
        &server
            .get(&format!("{pull}?cursor={cursor}&limit=1"), &teacher.token)
            .await,
    );
    for query in ["limit=0", "limit=1001", "cursor=x", "cursor="] {
        let reply = server.get(&format!("{pull}?{query}"), &teacher.token).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
        doc.check("GET", pull, &reply);
    }
    doc.check("GET", pull, &server.call("GET", pull, None, None).await);

    // Events: the stream's `ready`, then the `changes` a push brings; refused without a good token.
    let events = "/api/v1/events";
    let mut stream = server
        .http
        .get(server.url(events))
        .bearer_auth(&teacher.token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let headers = stream.headers().clone();
    let ready = next_events(&mut stream).await;
    assert_eq!(ready[0]["event"], "ready", "{ready:?}");
    doc.check_events(events, &headers, &ready);
    let mark = device.mark(class, &day, 4, students[0], "absent");
    assert_eq!(
        server.push(&teacher.token, device.id, &[mark]).await.outcomes(),
        ["applied"]
    );
    let changes = next_events(&mut stream).await;
    assert_eq!(changes[0]["event"], "changes", "{changes:?}");
    doc.check_events(events, &headers, &changes);
    let data: Value = serde_json::from_str(changes[0]["data"].as_str().unwrap()).unwrap();
    doc.validate(
        &json!({"$ref": "#/components/schemas/ChangesEvent"}),
        &data,
        "a changes event's data",
    );
    assert_eq!(data["class_ids"], json!([class]));
    assert_eq!(data["device_id"], json!(device.id.to_string()));
    drop(stream);
    doc.check("GET", events, &server.call("GET", events, None, None).await);
    doc.check(
        "GET",
        events,
        &server
            .call("GET", &format!("{events}?access_token=forged"), None, None)
            .await,
    );

    // Locks.
    let locks = "/api/v1/admin/locks";
    let lock = json!({"class_id": class, "from": school_day(20), "until": school_day(21), "reason": "census"});
    let created = server.post(locks, &admin.token, lock.clone()).await;
    assert_eq!(created.status, StatusCode::CREATED);
    doc.check("POST", locks, &created);
    doc.check("POST", locks, &server.post(locks, &teacher.token, lock.clone()).await);
    doc.check(
        "POST",
        locks,
        &server.call("POST", locks, None, Some(lock.clone())).await,
    );
    let no_reason = json!({"from": school_day(20), "until": school_day(21), "reason": "  "});
    doc.check("POST", locks, &server.post(locks, &admin.token, no_reason).await);
    let school_lock = json!({"from": school_day(22), "until": school_day(22), "reason": "inspection"});
    doc.check("POST", locks, &server.post(locks, &admin.token, school_lock).await);
    doc.check("GET", locks, &server.get(locks, &admin.token).await);
    doc.check("GET", locks, &server.get(locks, &teacher.token).await);
    let reopen = "/api/v1/admin/locks/{id}/reopen";
    let reopen_path = format!("{locks}/{}/reopen", created.body["id"].as_str().unwrap());
    let reason = json!({"reason": "a mark was wrong"});
    let reopened = server.post(&reopen_path, &admin.token, reason.clone()).await;
    assert_eq!(reopened.status, StatusCode::OK);
    doc.check("POST", reopen, &reopened);
    // The list again, with a reopened lock in it.
    doc.check("GET", locks, &server.get(locks, &admin.token).await);
    doc.check(
        "POST",
        reopen,
        &server.post(&reopen_path, &admin.token, reason.clone()).await,
    );
    let unknown = format!("{locks}/{}/reopen", uuid::Uuid::new_v4());
    doc.check(
        "POST",
        reopen,
        &server.post(&unknown, &admin.token, reason.clone()).await,
    );
    doc.check(
        "POST",
        reopen,
        &server
            .post(&format!("{locks}/not-a-uuid/reopen"), &admin.token, reason)
            .await,
    );

    // The metrics, for admins only (the server has no separate address for them).
    let metrics = server.get("/metrics", &admin.token).await;
    assert_eq!(metrics.status, StatusCode::OK);
    doc.check("GET", "/metrics", &metrics);
    doc.check("GET", "/metrics", &server.get("/metrics", &teacher.token).await);
    doc.check("GET", "/metrics", &server.call("GET", "/metrics", None, None).await);

    // Methods a path does not take, and paths that do not exist.
    for (method, path, template) in [
        ("TRACE", "/api/v1/roster", "/api/v1/roster"),
        ("DELETE", locks, locks),
        ("PUT", &reopen_path, reopen),
        ("GET", push, push),
        ("POST", "/healthz", "/healthz"),
        ("PATCH", "/api/openapi.json", "/api/openapi.json"),
        ("POST", "/metrics", "/metrics"),
    ] {
        let reply = server.call(method, path, Some(&admin.token), None).await;
        doc.check_not_allowed(method, template, &reply);
    }
    for (method, path) in [("GET", "/api/v1/nothing"), ("POST", "/api/v2/sync/push")] {
        let reply = server.call(method, path, Some(&admin.token), None).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method} {path}");
        doc.check_error(&reply, "NOT_FOUND", &format!("{method} {path}"));
    }
    assert!(doc.checked.get() > 40, "only {} answers checked", doc.checked.get());
}
