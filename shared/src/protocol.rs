//! Sync protocol v1 message types (docs/sync-protocol.md). Tests outside the project
//! use this contract: a change to a serialized struct here is a change to the protocol.
//! Unknown keys are ignored on purpose, so a newer tablet never stalls against an older server.

use crate::codes::{ErrorCode, ValidationCode};
use crate::hlc::{Hlc, NodeId};
use crate::ids::{ClassId, OpId, SchoolId, StudentId, UserId};
use crate::op::{Change, RawOp};
use crate::wire_name::wire_names;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

/// The value of the `Rollcall-Protocol` header on every response.
pub const PROTOCOL_VERSION: &str = "1";
/// The header that carries [`PROTOCOL_VERSION`].
pub const PROTOCOL_HEADER: &str = "Rollcall-Protocol";
/// Most ops one push may carry.
pub const MAX_OPS_PER_PUSH: usize = 1000;
/// Largest push body, in bytes.
pub const MAX_PUSH_BYTES: usize = 1024 * 1024;
/// Changes per pull when the client does not say.
pub const DEFAULT_PULL_LIMIT: u32 = 500;
/// Most changes one pull returns; a larger `limit` is refused.
pub const MAX_PULL_LIMIT: u32 = 1000;
/// What a pull cursor looks like: the feed position of the last change pulled, in decimal. The
/// document shows this pattern, and the server takes every cursor that matches it.
pub const CURSOR_PATTERN: &str = "^[0-9]{1,18}$";

/// `{"error": {"code", "message", "detail"?, "request_id"?}}`: the body of every error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorInfo,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorInfo {
    /// A stable code: clients match on it, never on the message.
    pub code: ErrorCode,
    /// Says what happened and what to do next, for a person.
    pub message: String,
    /// For `VALIDATION`: which rule was broken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<ValidationCode>,
    /// The id of the request this answers, as in its `X-Request-Id` header: the server's log
    /// lines about the request carry it, so quote it when asking IT. The server sends it with
    /// every error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(example = "3f2a9c1e0b7d4a66"))]
    pub request_id: Option<String>,
}

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::VariantArray)]
#[cfg_attr(feature = "diesel", derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow), diesel(sql_type = diesel::sql_types::Text))]
pub enum Role {
    /// Everything in their school.
    Admin,
    /// Only the classes they teach.
    Teacher,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Teacher => "teacher",
        }
    }
}

/// `POST /api/v1/auth/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// The signed-in user, as login returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct UserInfo {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub school_id: SchoolId,
}

/// Answer to login and refresh. The refresh token travels only in its HttpOnly cookie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginResponse {
    pub access_token: String,
    /// Always `"Bearer"`.
    #[cfg_attr(feature = "openapi", schema(example = "Bearer"))]
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub user: UserInfo,
}

/// `GET /api/v1/roster`: what the caller may see, cached on the tablet for offline use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct Roster {
    pub school: SchoolInfo,
    pub periods: Vec<PeriodInfo>,
    pub classes: Vec<ClassInfo>,
    pub students: Vec<StudentInfo>,
    pub enrolments: Vec<EnrolmentInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct SchoolInfo {
    pub id: SchoolId,
    pub name: String,
}

/// A timetable slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct PeriodInfo {
    pub period: u8,
    pub label: String,
    /// `HH:MM:SS`, school time.
    #[serde(with = "crate::wire_time::time_of_day")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "08:45:00"))]
    #[cfg_attr(feature = "typescript", ts(type = "string"))]
    pub starts: NaiveTime,
    #[serde(with = "crate::wire_time::time_of_day")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "09:40:00"))]
    #[cfg_attr(feature = "typescript", ts(type = "string"))]
    pub ends: NaiveTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct ClassInfo {
    pub id: ClassId,
    pub name: String,
    pub teacher_ids: Vec<UserId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct StudentInfo {
    pub id: StudentId,
    /// The school's own student number.
    pub external_id: String,
    pub given_name: String,
    pub family_name: String,
}

/// A student's membership of a class; `until` is inclusive, `None` while it lasts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct EnrolmentInfo {
    pub class_id: ClassId,
    pub student_id: StudentId,
    /// `YYYY-MM-DD`, the first day in the class.
    #[serde(with = "crate::wire_time::date")]
    #[cfg_attr(feature = "typescript", ts(type = "string"))]
    pub from: NaiveDate,
    /// `YYYY-MM-DD`, the last day in the class.
    #[serde(with = "crate::wire_time::optional_date", default)]
    #[cfg_attr(feature = "typescript", ts(type = "string | null"))]
    pub until: Option<NaiveDate>,
}

impl EnrolmentInfo {
    /// Whether the student is in the class on a date.
    pub fn covers(&self, date: NaiveDate) -> bool {
        crate::DateRange {
            from: self.from,
            until: self.until,
        }
        .covers(date)
    }
}

/// `POST /api/v1/sync/push`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushRequest {
    /// The device's HLC node id.
    pub device_id: NodeId,
    /// At most [`MAX_OPS_PER_PUSH`] (more: 413 TOO_MANY_OPS).
    #[cfg_attr(feature = "openapi", schema(max_items = 1000))]
    pub ops: Vec<RawOp>,
}

/// What became of one pushed op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::VariantArray)]
#[cfg_attr(feature = "diesel", derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow), diesel(sql_type = diesel::sql_types::Text))]
pub enum Outcome {
    /// Stored: it is now the value of its field.
    Applied,
    /// Stored in the log, but a later write already holds the field.
    Superseded,
    /// This op_id was received before; nothing changed.
    Duplicate,
    /// Broke a rule (`code` says which); logged, not applied.
    Rejected,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Superseded => "superseded",
            Outcome::Duplicate => "duplicate",
            Outcome::Rejected => "rejected",
        }
    }
}

wire_names! {
    Role: "role";
    Outcome: "outcome";
}

/// One entry of a push answer, in the order of the request's ops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpResult {
    pub op_id: OpId,
    pub outcome: Outcome,
    /// For rejected ops: FORBIDDEN, NOT_ENROLLED, REGISTER_LOCKED, OP_ID_REUSED or VALIDATION.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<ErrorCode>,
    /// For rejected ops: why, for a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// For `VALIDATION`: which rule was broken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<ValidationCode>,
    /// Set when the op's clock ran too far ahead and the server stamped it anew: the HLC it
    /// was stored under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restamped_hlc: Option<Hlc>,
}

/// Answer to a push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushResponse {
    pub results: Vec<OpResult>,
    pub server_hlc: Hlc,
    #[serde(with = "crate::wire_time::utc")]
    pub server_time: DateTime<Utc>,
    /// How far the device's clock runs ahead of the server's (ms), measured on this push. Sent
    /// only when it ran further ahead than the allowed drift and ops were re-stamped; the device
    /// subtracts it from its wall clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_offset_ms: Option<i64>,
}

/// The data of a `changes` event on `GET /api/v1/events`: one committed push applied ops in
/// these classes (those the listener may see). It carries no marks: pull them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = ChangesEvent))]
pub struct ChangeNotice {
    /// Absent when the server cannot say which (it missed some): pull anyway.
    #[cfg_attr(feature = "openapi", schema(required = false))]
    pub class_ids: Vec<ClassId>,
    /// The `device_id` of that push: a device skips its own notices, having sent those changes.
    /// Absent with `class_ids`.
    #[cfg_attr(feature = "openapi", schema(required = false))]
    pub device_id: NodeId,
}

/// `GET /api/v1/sync/pull?cursor=C&limit=N` query.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PullQuery {
    /// Opaque; absent on the first pull.
    #[serde(default)]
    pub cursor: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
}

/// Answer to a pull.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PullResponse {
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<crate::op::RawChange>))]
    pub changes: Vec<Change>,
    /// Pass back as `cursor` on the next pull.
    #[cfg_attr(feature = "openapi", schema(schema_with = cursor_schema))]
    pub cursor: String,
    /// True when more changes are waiting: pull again at once.
    pub more: bool,
    pub server_hlc: Hlc,
    #[serde(with = "crate::wire_time::utc")]
    pub server_time: DateTime<Utc>,
}

/// A pull cursor's OpenAPI schema (`openapi` feature).
#[cfg(feature = "openapi")]
fn cursor_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .pattern(Some(CURSOR_PATTERN))
        .description(Some("Pass back as `cursor` on the next pull"))
        .examples([serde_json::json!("4711")])
        .build()
}
