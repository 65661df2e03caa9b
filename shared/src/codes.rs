//! Stable error codes. Clients match on these strings, so a variant's wire name never changes;
//! add new ones instead.

use crate::wire_name::wire_names;

/// The `code` of an error response (`{"error": {"code", "message"}}`) or of a rejected op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::VariantArray)]
#[cfg_attr(feature = "diesel", derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow), diesel(sql_type = diesel::sql_types::Text))]
pub enum ErrorCode {
    /// The request body is not what the endpoint takes (bad JSON, missing or mistyped fields).
    BadRequest,
    /// A well-formed op or request breaks a rule on its values; `detail` names which.
    Validation,
    /// No token, or a token that is expired, forged or for another audience.
    Unauthorized,
    /// Wrong username or password.
    InvalidCredentials,
    /// The refresh token is missing, expired, revoked or was reused.
    InvalidRefreshToken,
    /// The caller's role or classes do not cover this.
    Forbidden,
    /// The student is not enrolled in the class on that date.
    NotEnrolled,
    /// The office has locked this register.
    RegisterLocked,
    /// This op (its `op_id` with its `hlc`, which a retry carries unchanged) was already received
    /// for a different op: from another user or device, or with other content. Nothing about the
    /// other op is revealed; the device should send its change under a new op id.
    OpIdReused,
    /// No such resource (or not one the caller may see).
    NotFound,
    /// The path exists but does not take this method; `Allow` lists the ones it takes.
    MethodNotAllowed,
    /// The request conflicts with existing data (e.g. a username already taken).
    Conflict,
    /// The body is over the size limit.
    PayloadTooLarge,
    /// A push holds more ops than one request may carry.
    TooManyOps,
    /// Too many attempts; wait for `Retry-After` seconds.
    RateLimited,
    /// The server or its database is unavailable; retry later.
    Unavailable,
    /// A bug or an unexpected failure on the server; the log says more.
    Internal,
}

impl ErrorCode {
    /// The wire spelling, e.g. `REGISTER_LOCKED`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "BAD_REQUEST",
            ErrorCode::Validation => "VALIDATION",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::InvalidCredentials => "INVALID_CREDENTIALS",
            ErrorCode::InvalidRefreshToken => "INVALID_REFRESH_TOKEN",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::NotEnrolled => "NOT_ENROLLED",
            ErrorCode::RegisterLocked => "REGISTER_LOCKED",
            ErrorCode::OpIdReused => "OP_ID_REUSED",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::TooManyOps => "TOO_MANY_OPS",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::Internal => "INTERNAL",
        }
    }
}

/// Which rule a value broke. Sent as `detail` next to [`ErrorCode::Validation`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::VariantArray)]
#[cfg_attr(feature = "diesel", derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow), diesel(sql_type = diesel::sql_types::Text))]
pub enum ValidationCode {
    /// `field` is not one of status, minutes_late, note, submitted.
    UnknownField,
    /// `value` has the wrong JSON type for its field.
    WrongValueType,
    /// `status` is not present, late, absent or excused.
    UnknownStatus,
    /// `minutes_late` is outside 0..=600.
    MinutesLateOutOfRange,
    /// `note` is longer than 500 characters.
    NoteTooLong,
    /// `hlc` is not `<13-digit ms>-<4 hex>-<16 hex>`.
    MalformedHlc,
    /// `date` is not a real calendar date in `YYYY-MM-DD` form.
    InvalidDate,
    /// A real date, but outside the years a school register can have (see `op::SCHOOL_YEARS`).
    DateOutOfRange,
    /// `period` is 0 or over 16.
    PeriodOutOfRange,
    /// A per-student field came without `student_id`.
    StudentRequired,
    /// `submitted` is register-level and takes no `student_id`.
    StudentNotAllowed,
    /// Free text (a note, a reason) holds a control character other than newline or tab.
    ControlCharacter,
    /// Free text other than a note (a reason) is longer than its limit.
    TextTooLong,
}

impl ValidationCode {
    /// The wire spelling, e.g. `NOTE_TOO_LONG`.
    pub fn as_str(self) -> &'static str {
        match self {
            ValidationCode::UnknownField => "UNKNOWN_FIELD",
            ValidationCode::WrongValueType => "WRONG_VALUE_TYPE",
            ValidationCode::UnknownStatus => "UNKNOWN_STATUS",
            ValidationCode::MinutesLateOutOfRange => "MINUTES_LATE_OUT_OF_RANGE",
            ValidationCode::NoteTooLong => "NOTE_TOO_LONG",
            ValidationCode::MalformedHlc => "MALFORMED_HLC",
            ValidationCode::InvalidDate => "INVALID_DATE",
            ValidationCode::DateOutOfRange => "DATE_OUT_OF_RANGE",
            ValidationCode::PeriodOutOfRange => "PERIOD_OUT_OF_RANGE",
            ValidationCode::StudentRequired => "STUDENT_REQUIRED",
            ValidationCode::StudentNotAllowed => "STUDENT_NOT_ALLOWED",
            ValidationCode::ControlCharacter => "CONTROL_CHARACTER",
            ValidationCode::TextTooLong => "TEXT_TOO_LONG",
        }
    }
}

wire_names! {
    ErrorCode: "error code";
    ValidationCode: "validation code";
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant serializes as its `as_str` name and reads back from it.
    fn travels_as_its_name<T>()
    where
        T: crate::WireName + serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        for &code in T::VARIANTS {
            let json = serde_json::to_value(code).expect("a code serializes");
            assert_eq!(json, code.as_str());
            assert_eq!(serde_json::from_value::<T>(json).expect("and reads back"), code);
        }
    }

    #[test]
    fn every_code_travels_as_its_name_and_back() {
        travels_as_its_name::<ErrorCode>();
        travels_as_its_name::<ValidationCode>();
        let unknown = serde_json::from_value::<ErrorCode>("SLEEPY".into()).expect_err("not a code");
        assert!(
            unknown
                .to_string()
                .starts_with("unknown error code \"SLEEPY\": expected BAD_REQUEST, "),
            "{unknown}"
        );
    }
}
