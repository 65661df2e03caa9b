//! The OpenAPI document served at `/api/openapi.json`.
//!
//! The wire types live in `shared`, which stays free of server-only dependencies (it also
//! compiles to wasm32), so their schemas are described here by `…Doc` twins named like the
//! real types. The tests at the bottom serialize real `shared` values and fail if a twin's
//! properties differ from the keys on the wire, so the document cannot drift silently.
#![allow(
    dead_code,
    reason = "the …Doc twins only describe the wire for the document; nothing builds them"
)]

use crate::{auth, events, locks, sync, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use uuid::Uuid;

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Rollcall",
        description = "Offline-first attendance: sync protocol v1 (every response carries `Rollcall-Protocol: 1`; \
                       errors are `{\"error\": {\"code\", \"message\", \"detail\"?}}`)."
    ),
    paths(
        auth::login_user,
        auth::refresh_session,
        auth::logout_session,
        crate::roster::get_roster,
        sync::push_ops,
        sync::pull_changes,
        events::stream_events,
        locks::create_lock,
        locks::list_locks,
        locks::reopen_lock,
        web::get_health,
        get_openapi,
    ),
    components(schemas(
        LoginRequestDoc,
        LoginResponseDoc,
        UserInfoDoc,
        RosterDoc,
        SchoolInfoDoc,
        PeriodInfoDoc,
        ClassInfoDoc,
        StudentInfoDoc,
        EnrolmentInfoDoc,
        PushRequestDoc,
        OpDoc,
        PushResponseDoc,
        OpResultDoc,
        PullResponseDoc,
        ChangeDoc,
        ErrorBodyDoc,
        ErrorInfoDoc,
        locks::CreateLockRequest,
        locks::ReopenLockRequest,
        locks::LockInfo,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Sign in, refresh, sign out"),
        (name = "roster", description = "What the caller may see"),
        (name = "sync", description = "Push ops, pull changes, hear about new ones"),
        (name = "admin", description = "Office tools (admins only)"),
        (name = "health", description = "For monitoring"),
    )
)]
pub struct ApiDoc;

#[derive(Debug)]
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "The access_token from login or refresh, valid for at most 15 minutes",
                    ))
                    .build(),
            ),
        );
    }
}

/// `GET /api/openapi.json`
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "health",
    responses((status = 200, description = "This document", content_type = "application/json", body = Object))
)]
pub async fn get_openapi() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok().json(ApiDoc::openapi())
}

/// Login body.
#[derive(Debug, ToSchema)]
#[schema(as = LoginRequest)]
pub struct LoginRequestDoc {
    username: String,
    password: String,
}

#[derive(Debug, ToSchema)]
#[schema(as = UserInfo)]
pub struct UserInfoDoc {
    id: Uuid,
    username: String,
    display_name: String,
    /// `admin` or `teacher`.
    #[schema(example = "teacher")]
    role: String,
    school_id: Uuid,
}

/// Login and refresh answer; the refresh token itself travels only in its HttpOnly cookie.
#[derive(Debug, ToSchema)]
#[schema(as = LoginResponse)]
pub struct LoginResponseDoc {
    access_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    token_type: String,
    /// Seconds until the access token expires.
    expires_in: u64,
    user: UserInfoDoc,
}

#[derive(Debug, ToSchema)]
#[schema(as = SchoolInfo)]
pub struct SchoolInfoDoc {
    id: Uuid,
    name: String,
}

#[derive(Debug, ToSchema)]
#[schema(as = PeriodInfo)]
pub struct PeriodInfoDoc {
    period: u8,
    label: String,
    #[schema(example = "08:45:00")]
    starts: String,
    #[schema(example = "09:40:00")]
    ends: String,
}

#[derive(Debug, ToSchema)]
#[schema(as = ClassInfo)]
pub struct ClassInfoDoc {
    id: Uuid,
    name: String,
    teacher_ids: Vec<Uuid>,
}

#[derive(Debug, ToSchema)]
#[schema(as = StudentInfo)]
pub struct StudentInfoDoc {
    id: Uuid,
    /// The school's own student number.
    external_id: String,
    given_name: String,
    family_name: String,
}

/// A student's membership of a class; `until` is inclusive, null while it lasts.
#[derive(Debug, ToSchema)]
#[schema(as = EnrolmentInfo)]
pub struct EnrolmentInfoDoc {
    class_id: Uuid,
    student_id: Uuid,
    from: NaiveDate,
    until: Option<NaiveDate>,
}

#[derive(Debug, ToSchema)]
#[schema(as = Roster)]
pub struct RosterDoc {
    school: SchoolInfoDoc,
    periods: Vec<PeriodInfoDoc>,
    classes: Vec<ClassInfoDoc>,
    students: Vec<StudentInfoDoc>,
    enrolments: Vec<EnrolmentInfoDoc>,
}

/// One op. Fields and values: `status` ∈ present | late | absent | excused; `minutes_late`
/// 0–600 or null; `note` ≤ 500 characters; `submitted` true/false (register-level, no student_id).
#[derive(Debug, ToSchema)]
#[schema(as = Op)]
pub struct OpDoc {
    /// The idempotency key: pushing the same op again is answered `duplicate`.
    op_id: Uuid,
    #[schema(example = "1763719200000-0000-9f2c4a1b7d3e5f60")]
    hlc: String,
    device_time: DateTime<Utc>,
    class_id: Uuid,
    #[schema(example = "2026-11-20")]
    date: String,
    #[schema(minimum = 1, maximum = 16)]
    period: i64,
    student_id: Option<Uuid>,
    #[schema(example = "status")]
    field: String,
    #[schema(value_type = Object, example = json!("present"))]
    value: Value,
}

#[derive(Debug, ToSchema)]
#[schema(as = PushRequest)]
pub struct PushRequestDoc {
    /// The device's HLC node id: 16 lowercase hex digits.
    #[schema(example = "9f2c4a1b7d3e5f60")]
    device_id: String,
    /// At most 1000.
    ops: Vec<OpDoc>,
}

#[derive(Debug, ToSchema)]
#[schema(as = OpResult)]
pub struct OpResultDoc {
    op_id: Uuid,
    /// applied | superseded | duplicate | rejected
    #[schema(example = "applied")]
    outcome: String,
    /// For rejected ops: FORBIDDEN, NOT_ENROLLED, REGISTER_LOCKED or VALIDATION.
    code: Option<String>,
    message: Option<String>,
    /// For VALIDATION: which rule, e.g. NOTE_TOO_LONG.
    detail: Option<String>,
    /// Set when the device clock ran ahead and the op was stored under this server HLC.
    restamped_hlc: Option<String>,
}

#[derive(Debug, ToSchema)]
#[schema(as = PushResponse)]
pub struct PushResponseDoc {
    results: Vec<OpResultDoc>,
    server_hlc: String,
    server_time: DateTime<Utc>,
    /// Present when the device clock runs ahead beyond the allowed drift: by how many ms.
    clock_offset_ms: Option<i64>,
}

#[derive(Debug, ToSchema)]
#[schema(as = Change)]
pub struct ChangeDoc {
    class_id: Uuid,
    date: String,
    period: i64,
    student_id: Option<Uuid>,
    field: String,
    #[schema(value_type = Object)]
    value: Value,
    hlc: String,
}

#[derive(Debug, ToSchema)]
#[schema(as = PullResponse)]
pub struct PullResponseDoc {
    changes: Vec<ChangeDoc>,
    /// Pass back as `cursor` on the next pull.
    cursor: String,
    /// More changes are waiting: pull again at once.
    more: bool,
    server_hlc: String,
    server_time: DateTime<Utc>,
}

#[derive(Debug, ToSchema)]
#[schema(as = ErrorInfo)]
pub struct ErrorInfoDoc {
    /// A stable code, e.g. BAD_REQUEST, UNAUTHORIZED, FORBIDDEN, PAYLOAD_TOO_LARGE, RATE_LIMITED.
    code: String,
    /// What happened and what to do next, for a person.
    message: String,
    /// For VALIDATION: which rule was broken.
    detail: Option<String>,
}

#[derive(Debug, ToSchema)]
#[schema(as = ErrorBody)]
pub struct ErrorBodyDoc {
    error: ErrorInfoDoc,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollcall_shared::protocol::*;
    use rollcall_shared::*;
    use std::collections::BTreeSet;

    fn document() -> Value {
        serde_json::to_value(ApiDoc::openapi()).unwrap()
    }

    fn documented_keys(doc: &Value, schema: &str) -> BTreeSet<String> {
        doc["components"]["schemas"][schema]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("no schema {schema}"))
            .keys()
            .cloned()
            .collect()
    }

    fn wire_keys(value: &Value) -> BTreeSet<String> {
        value.as_object().unwrap().keys().cloned().collect()
    }

    /// Serializes real `shared` values with every optional field set and compares keys.
    #[test]
    fn every_documented_schema_has_exactly_the_wire_keys() {
        let doc = document();
        let id = uuid::Uuid::nil();
        let hlc: Hlc = "1763719200000-0000-9f2c4a1b7d3e5f60".parse().unwrap();
        let user = UserInfo {
            id: UserId(id),
            username: "teacher1".into(),
            display_name: "T".into(),
            role: Role::Teacher,
            school_id: SchoolId(id),
        };
        let raw_op = RawOp {
            op_id: OpId(id),
            hlc: hlc.to_string(),
            device_time: chrono::Utc::now(),
            class_id: ClassId(id),
            date: "2026-11-20".into(),
            period: 1,
            student_id: Some(StudentId(id)),
            field: "status".into(),
            value: "present".into(),
        };
        let change = raw_op.validate().unwrap().change;
        let samples: Vec<(&str, Value)> = vec![
            (
                "LoginRequest",
                serde_json::to_value(LoginRequest {
                    username: "a".into(),
                    password: "b".into(),
                })
                .unwrap(),
            ),
            ("UserInfo", serde_json::to_value(&user).unwrap()),
            (
                "LoginResponse",
                serde_json::to_value(LoginResponse {
                    access_token: "t".into(),
                    token_type: "Bearer".into(),
                    expires_in: 900,
                    user: user.clone(),
                })
                .unwrap(),
            ),
            (
                "Roster",
                serde_json::to_value(Roster {
                    school: SchoolInfo {
                        id: SchoolId(id),
                        name: "S".into(),
                    },
                    periods: vec![],
                    classes: vec![],
                    students: vec![],
                    enrolments: vec![],
                })
                .unwrap(),
            ),
            (
                "PeriodInfo",
                serde_json::to_value(PeriodInfo {
                    period: 1,
                    label: "P1".into(),
                    starts: chrono::NaiveTime::MIN,
                    ends: chrono::NaiveTime::MIN,
                })
                .unwrap(),
            ),
            (
                "ClassInfo",
                serde_json::to_value(ClassInfo {
                    id: ClassId(id),
                    name: "7A".into(),
                    teacher_ids: vec![],
                })
                .unwrap(),
            ),
            (
                "StudentInfo",
                serde_json::to_value(StudentInfo {
                    id: StudentId(id),
                    external_id: "1".into(),
                    given_name: "A".into(),
                    family_name: "B".into(),
                })
                .unwrap(),
            ),
            (
                "EnrolmentInfo",
                serde_json::to_value(EnrolmentInfo {
                    class_id: ClassId(id),
                    student_id: StudentId(id),
                    from: chrono::NaiveDate::MIN,
                    until: Some(chrono::NaiveDate::MIN),
                })
                .unwrap(),
            ),
            ("Op", serde_json::to_value(&raw_op).unwrap()),
            (
                "PushRequest",
                serde_json::to_value(PushRequest {
                    device_id: NodeId(1),
                    ops: vec![],
                })
                .unwrap(),
            ),
            (
                "OpResult",
                serde_json::to_value(OpResult {
                    op_id: OpId(id),
                    outcome: Outcome::Rejected,
                    code: Some(ErrorCode::Validation),
                    message: Some("m".into()),
                    detail: Some(ValidationCode::NoteTooLong),
                    restamped_hlc: Some(hlc),
                })
                .unwrap(),
            ),
            (
                "PushResponse",
                serde_json::to_value(PushResponse {
                    results: vec![],
                    server_hlc: hlc,
                    server_time: chrono::Utc::now(),
                    clock_offset_ms: Some(1),
                })
                .unwrap(),
            ),
            ("Change", serde_json::to_value(&change).unwrap()),
            (
                "PullResponse",
                serde_json::to_value(PullResponse {
                    changes: vec![],
                    cursor: "c".into(),
                    more: false,
                    server_hlc: hlc,
                    server_time: chrono::Utc::now(),
                })
                .unwrap(),
            ),
            (
                "ErrorBody",
                serde_json::to_value(ErrorBody {
                    error: ErrorInfo {
                        code: ErrorCode::Validation,
                        message: "m".into(),
                        detail: Some(ValidationCode::NoteTooLong),
                    },
                })
                .unwrap(),
            ),
        ];
        for (schema, sample) in samples {
            assert_eq!(documented_keys(&doc, schema), wire_keys(&sample), "schema {schema}");
        }
        let error = serde_json::to_value(ErrorBody {
            error: ErrorInfo {
                code: ErrorCode::Validation,
                message: "m".into(),
                detail: Some(ValidationCode::NoteTooLong),
            },
        })
        .unwrap();
        assert_eq!(documented_keys(&doc, "ErrorInfo"), wire_keys(&error["error"]));
    }

    #[test]
    fn every_route_is_documented() {
        let doc = document();
        let paths: BTreeSet<&str> = doc["paths"].as_object().unwrap().keys().map(String::as_str).collect();
        for route in crate::ROUTES {
            assert!(paths.contains(route), "{route} is served but not documented");
        }
    }
}
