//! The wire types of the API as the OpenAPI document describes them.
//!
//! The wire types live in `shared`, which stays free of server-only dependencies (it also
//! compiles to wasm32), so their schemas are described here by `…Doc` twins named like the
//! real types; handlers name them in their `#[utoipa::path]` and `api::openapi` lists them.
//! This module is a leaf of `api`: it imports no handler.
#![allow(
    dead_code,
    reason = "the …Doc twins only describe the wire for the document; nothing builds them"
)]

use crate::sync::pull::CURSOR_PATTERN;
use chrono::{DateTime, NaiveDate, Utc};
use rollcall_shared::protocol::{Outcome, Role};
use rollcall_shared::{ErrorCode, Field, ValidationCode, VariantArray};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa::openapi::schema::{KnownFormat, Object, ObjectBuilder, SchemaFormat, SchemaType, Type};
use uuid::Uuid;

/// The data of a `changes` event: some changes were committed in these classes; pull them.
#[derive(Debug, ToSchema)]
#[schema(as = ChangesEvent)]
pub struct ChangesEventDoc {
    /// Absent when the server cannot say which (it missed some): pull anyway.
    #[schema(required = false)]
    class_ids: Vec<Uuid>,
    /// The `device_id` of the push that made the changes (16 lowercase hex digits). Absent with
    /// `class_ids`.
    #[schema(required = false)]
    device_id: String,
}

/// A value of an op as a request may carry it: any JSON scalar. Which ones a field takes is a
/// rule on the op (`rejected` with VALIDATION), not on the request.
fn op_value_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Number, Type::Boolean, Type::Null]))
        .description(Some(
            "A JSON scalar: `status` one of present, late, absent, excused; `minutes_late` an integer 0 to 600 or null; \
             `note` a string of at most 500 characters; `submitted` true or false. A list or an object makes the push \
             malformed (400); a scalar that the field does not take rejects the op (VALIDATION).",
        ))
        .examples([json!("present"), json!(5), json!(null), json!(true)])
        .build()
}

/// A value of a change: what a valid op stored.
fn change_value_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([
            Type::String,
            Type::Integer,
            Type::Boolean,
            Type::Null,
        ]))
        .description(Some(
            "`status`: present, late, absent or excused; `minutes_late`: 0 to 600 or null; `note`: a string; \
             `submitted`: true or false",
        ))
        .examples([json!("present"), json!(5), json!(null), json!(true)])
        .build()
}

/// A UUID in a request. JSON Schema takes `format` as a note, not a rule, so a generator may send
/// any string for `format: uuid`; the pattern says what the server reads.
const UUID_PATTERN: &str = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

fn uuid_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
        .pattern(Some(UUID_PATTERN))
}

fn op_id_schema() -> Object {
    uuid_schema()
        .description(Some(
            "The idempotency key: pushing the same op again is answered `duplicate`.",
        ))
        .build()
}

fn class_id_schema() -> Object {
    uuid_schema().build()
}

fn student_id_schema() -> Object {
    uuid_schema()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .description(Some("Absent or null for `submitted`, required for the other fields."))
        .build()
}

/// An HLC the server sends: `<wall ms, 13 digits>-<counter, 4 hex>-<node, 16 hex>`.
fn hlc_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^[0-9]{13}-[0-9a-f]{4}-[0-9a-f]{16}$"))
        .examples([json!("1763719200000-0000-9f2c4a1b7d3e5f60")])
        .build()
}

/// A string that is one of a wire enum's names.
fn names_schema(names: impl IntoIterator<Item = &'static str>) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(names))
        .build()
}

fn error_code_schema() -> Object {
    names_schema(ErrorCode::VARIANTS.iter().map(|code| code.as_str()))
}

fn validation_code_schema() -> Object {
    names_schema(ValidationCode::VARIANTS.iter().map(|code| code.as_str()))
}

fn outcome_schema() -> Object {
    names_schema(Outcome::VARIANTS.iter().map(|outcome| outcome.as_str()))
}

fn role_schema() -> Object {
    names_schema(Role::VARIANTS.iter().map(|role| role.as_str()))
}

fn field_schema() -> Object {
    names_schema(Field::VARIANTS.iter().map(|field| field.as_str()))
}

fn cursor_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(CURSOR_PATTERN))
        .description(Some("Pass back as `cursor` on the next pull"))
        .examples([json!("4711")])
        .build()
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
    #[schema(schema_with = role_schema)]
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
    #[schema(schema_with = op_id_schema)]
    op_id: Uuid,
    /// `<wall ms, 13 digits>-<counter, 4 hex>-<node, 16 hex>`; any other text rejects the op
    /// (VALIDATION, MALFORMED_HLC).
    #[schema(example = "1763719200000-0000-9f2c4a1b7d3e5f60")]
    hlc: String,
    device_time: DateTime<Utc>,
    #[schema(schema_with = class_id_schema)]
    class_id: Uuid,
    /// `YYYY-MM-DD`; anything else rejects the op (VALIDATION, INVALID_DATE).
    #[schema(example = "2026-11-20")]
    date: String,
    /// 1 to 16; any other number rejects the op (VALIDATION, PERIOD_OUT_OF_RANGE).
    #[schema(example = 1)]
    period: i64,
    #[schema(schema_with = student_id_schema, required = false)]
    student_id: Option<Uuid>,
    /// status, minutes_late, note or submitted; any other name rejects the op (VALIDATION, UNKNOWN_FIELD).
    #[schema(example = "status")]
    field: String,
    #[schema(schema_with = op_value_schema)]
    value: Value,
}

#[derive(Debug, ToSchema)]
#[schema(as = PushRequest)]
pub struct PushRequestDoc {
    /// The device's HLC node id: 16 lowercase hex digits.
    #[schema(example = "9f2c4a1b7d3e5f60", pattern = "^[0-9a-f]{16}$")]
    device_id: String,
    /// At most 1000 (more: 413 TOO_MANY_OPS).
    #[schema(max_items = 1000)]
    ops: Vec<OpDoc>,
}

#[derive(Debug, ToSchema)]
#[schema(as = OpResult)]
pub struct OpResultDoc {
    op_id: Uuid,
    #[schema(schema_with = outcome_schema)]
    outcome: String,
    /// For rejected ops: FORBIDDEN, NOT_ENROLLED, REGISTER_LOCKED or VALIDATION.
    #[schema(schema_with = error_code_schema, required = false)]
    code: Option<String>,
    /// For rejected ops: why, for a person.
    #[schema(required = false)]
    message: String,
    /// For VALIDATION: which rule, e.g. NOTE_TOO_LONG.
    #[schema(schema_with = validation_code_schema, required = false)]
    detail: Option<String>,
    /// Set when the device clock ran ahead and the op was stored under this server HLC.
    #[schema(schema_with = hlc_schema, required = false)]
    restamped_hlc: Option<String>,
}

#[derive(Debug, ToSchema)]
#[schema(as = PushResponse)]
pub struct PushResponseDoc {
    results: Vec<OpResultDoc>,
    #[schema(schema_with = hlc_schema)]
    server_hlc: String,
    server_time: DateTime<Utc>,
    /// Present when the device clock runs ahead beyond the allowed drift: by how many ms.
    #[schema(required = false)]
    clock_offset_ms: i64,
}

#[derive(Debug, ToSchema)]
#[schema(as = Change)]
pub struct ChangeDoc {
    class_id: Uuid,
    #[schema(format = Date, example = "2026-11-20")]
    date: String,
    #[schema(minimum = 1, maximum = 16)]
    period: i64,
    /// Null for `submitted`.
    student_id: Option<Uuid>,
    #[schema(schema_with = field_schema)]
    field: String,
    #[schema(schema_with = change_value_schema)]
    value: Value,
    #[schema(schema_with = hlc_schema)]
    hlc: String,
}

#[derive(Debug, ToSchema)]
#[schema(as = PullResponse)]
pub struct PullResponseDoc {
    changes: Vec<ChangeDoc>,
    #[schema(schema_with = cursor_schema)]
    cursor: String,
    /// More changes are waiting: pull again at once.
    more: bool,
    #[schema(schema_with = hlc_schema)]
    server_hlc: String,
    server_time: DateTime<Utc>,
}

#[derive(Debug, ToSchema)]
#[schema(as = ErrorInfo)]
pub struct ErrorInfoDoc {
    /// A stable code: clients match on it, never on the message.
    #[schema(schema_with = error_code_schema)]
    code: String,
    /// What happened and what to do next, for a person.
    message: String,
    /// For VALIDATION: which rule was broken.
    #[schema(schema_with = validation_code_schema, required = false)]
    detail: Option<String>,
}

#[derive(Debug, ToSchema)]
#[schema(as = ErrorBody)]
pub struct ErrorBodyDoc {
    error: ErrorInfoDoc,
}
