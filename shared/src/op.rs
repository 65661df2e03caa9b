//! Ops (what a device pushes) and changes (what pull returns), in their wire form and their
//! validated, typed form.
//!
//! The wire forms ([`RawOp`], [`RawChange`]) keep `field` and `value` loose so that a push with
//! one bad op still parses: the server then validates op by op and rejects only the bad one
//! with a stable [`ValidationCode`]. Changing a serialized struct here changes the protocol.
//!
//! A `value` is a [`WireValue`], a JSON scalar, not a `serde_json::Value`: the wasm client
//! would otherwise carry serde_json's whole value tree (about 5 KB gzipped) for four scalars.

use crate::codes::ValidationCode;
use crate::hlc::Hlc;
use crate::ids::{ClassId, OpId, StudentId};
use crate::register::{PERIODS, RegisterKey, Status};
use crate::text::quote;
use crate::wire_name::{WireName, wire_names};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Most minutes a student can be late.
pub const MAX_MINUTES_LATE: u16 = 600;
/// Longest note, in characters (not bytes: names and notes are often not ASCII).
pub const MAX_NOTE_CHARS: usize = 500;

/// The fields an op can set. Each is its own last-write-wins register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, strum::VariantArray)]
pub enum Field {
    Status,
    MinutesLate,
    Note,
    /// Register-level: "attendance taken".
    Submitted,
}

impl Field {
    /// The wire and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Status => "status",
            Field::MinutesLate => "minutes_late",
            Field::Note => "note",
            Field::Submitted => "submitted",
        }
    }
}

wire_names! {
    Field: "field";
}

/// A value for one of a mark's fields.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MarkValue {
    Status(Status),
    /// `None` clears it (e.g. when a late student is changed to present).
    MinutesLate(Option<u16>),
    Note(String),
}

/// An op's `value` as it travels: any JSON scalar, whatever its field, so that a value of the
/// wrong type is one op's rejection (`WRONG_VALUE_TYPE`), checked by [`FieldChange::parse`]. A
/// list or an object is no value at all: the push is malformed (400).
#[derive(Debug, Clone, PartialEq)]
pub enum WireValue {
    Null,
    Bool(bool),
    /// A number written without a fraction or an exponent, within `i64`.
    Whole(i64),
    /// A whole number above `i64::MAX`.
    Huge(u64),
    /// Any other number (`5.5`, and `5.0` too, as serde_json reads it).
    Fraction(f64),
    Text(String),
}

impl WireValue {
    fn as_bool(&self) -> Option<bool> {
        match self {
            WireValue::Bool(flag) => Some(*flag),
            _ => None,
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            WireValue::Text(text) => Some(text),
            _ => None,
        }
    }

    /// The value in words, for an error message.
    fn describe(&self) -> String {
        match self {
            WireValue::Null => "null".into(),
            WireValue::Bool(flag) => flag.to_string(),
            WireValue::Whole(number) => number.to_string(),
            WireValue::Huge(number) => number.to_string(),
            WireValue::Fraction(_) => "a fraction".into(),
            WireValue::Text(text) => quote(text),
        }
    }
}

impl From<&str> for WireValue {
    fn from(text: &str) -> Self {
        WireValue::Text(text.to_owned())
    }
}

impl From<Option<u16>> for WireValue {
    fn from(number: Option<u16>) -> Self {
        number.map_or(WireValue::Null, |number| WireValue::Whole(i64::from(number)))
    }
}

impl From<bool> for WireValue {
    fn from(flag: bool) -> Self {
        WireValue::Bool(flag)
    }
}

impl Serialize for WireValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            WireValue::Null => serializer.serialize_unit(),
            WireValue::Bool(flag) => serializer.serialize_bool(*flag),
            WireValue::Whole(number) => serializer.serialize_i64(*number),
            WireValue::Huge(number) => serializer.serialize_u64(*number),
            WireValue::Fraction(number) => serializer.serialize_f64(*number),
            WireValue::Text(text) => serializer.serialize_str(text),
        }
    }
}

impl<'de> Deserialize<'de> for WireValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;

        impl Visitor<'_> for ScalarVisitor {
            type Value = WireValue;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, a number, true, false or null")
            }

            fn visit_unit<E: de::Error>(self) -> Result<WireValue, E> {
                Ok(WireValue::Null)
            }

            fn visit_none<E: de::Error>(self) -> Result<WireValue, E> {
                Ok(WireValue::Null)
            }

            fn visit_bool<E: de::Error>(self, flag: bool) -> Result<WireValue, E> {
                Ok(WireValue::Bool(flag))
            }

            fn visit_i64<E: de::Error>(self, number: i64) -> Result<WireValue, E> {
                Ok(WireValue::Whole(number))
            }

            fn visit_u64<E: de::Error>(self, number: u64) -> Result<WireValue, E> {
                Ok(i64::try_from(number).map_or(WireValue::Huge(number), WireValue::Whole))
            }

            fn visit_f64<E: de::Error>(self, number: f64) -> Result<WireValue, E> {
                Ok(WireValue::Fraction(number))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<WireValue, E> {
                Ok(WireValue::Text(text.to_owned()))
            }

            fn visit_string<E: de::Error>(self, text: String) -> Result<WireValue, E> {
                Ok(WireValue::Text(text))
            }
        }

        deserializer.deserialize_any(ScalarVisitor)
    }
}

/// What one op or change sets: a field of one student's mark, or the register's submission.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FieldChange {
    Mark { student_id: StudentId, value: MarkValue },
    Submitted(bool),
}

impl FieldChange {
    /// Which field this sets.
    pub fn field(&self) -> Field {
        match self {
            FieldChange::Mark {
                value: MarkValue::Status(_),
                ..
            } => Field::Status,
            FieldChange::Mark {
                value: MarkValue::MinutesLate(_),
                ..
            } => Field::MinutesLate,
            FieldChange::Mark {
                value: MarkValue::Note(_),
                ..
            } => Field::Note,
            FieldChange::Submitted(_) => Field::Submitted,
        }
    }

    /// The student, for per-student fields.
    pub fn student_id(&self) -> Option<StudentId> {
        match self {
            FieldChange::Mark { student_id, .. } => Some(*student_id),
            FieldChange::Submitted(_) => None,
        }
    }

    /// The value as it travels and is stored.
    pub fn wire_value(&self) -> WireValue {
        match self {
            FieldChange::Mark {
                value: MarkValue::Status(status),
                ..
            } => WireValue::from(status.as_str()),
            FieldChange::Mark {
                value: MarkValue::MinutesLate(minutes),
                ..
            } => WireValue::from(*minutes),
            FieldChange::Mark {
                value: MarkValue::Note(note),
                ..
            } => WireValue::from(note.as_str()),
            FieldChange::Submitted(submitted) => WireValue::from(*submitted),
        }
    }

    /// Builds a typed change from its loose parts, checking every rule on the value.
    pub fn parse(
        student_id: Option<StudentId>,
        field: &str,
        value: &WireValue,
    ) -> Result<FieldChange, ValidationError> {
        use ValidationCode as V;
        let field = Field::from_name(field).map_err(|e| ValidationError::new(V::UnknownField, e.to_string()))?;
        let wrong_type = |expected: &str| {
            ValidationError::new(
                V::WrongValueType,
                format!("{field} takes {expected}, not {}", value.describe()),
            )
        };
        let mark_value = match field {
            Field::Submitted => {
                if student_id.is_some() {
                    return Err(ValidationError::new(
                        V::StudentNotAllowed,
                        "submitted is register-level: send it without student_id",
                    ));
                }
                return value
                    .as_bool()
                    .map(FieldChange::Submitted)
                    .ok_or_else(|| wrong_type("true or false"));
            }
            Field::Status => {
                let text = value.as_str().ok_or_else(|| wrong_type("a string"))?;
                MarkValue::Status(parse_status(text)?)
            }
            Field::MinutesLate => {
                let out_of_range = || {
                    ValidationError::new(
                        V::MinutesLateOutOfRange,
                        format!("minutes_late must be 0 to {MAX_MINUTES_LATE}, not {}", value.describe()),
                    )
                };
                match value {
                    WireValue::Null => MarkValue::MinutesLate(None),
                    WireValue::Whole(minutes) => MarkValue::MinutesLate(Some(
                        u16::try_from(*minutes)
                            .ok()
                            .filter(|minutes| *minutes <= MAX_MINUTES_LATE)
                            .ok_or_else(out_of_range)?,
                    )),
                    WireValue::Huge(_) => return Err(out_of_range()),
                    _ => return Err(wrong_type("a whole number of minutes or null")),
                }
            }
            Field::Note => {
                let note = value.as_str().ok_or_else(|| wrong_type("a string"))?;
                check_free_text("note", note, MAX_NOTE_CHARS, V::NoteTooLong)?;
                MarkValue::Note(note.to_owned())
            }
        };
        let student_id = student_id.ok_or_else(|| {
            ValidationError::new(V::StudentRequired, format!("{field} is per student: send student_id"))
        })?;
        Ok(FieldChange::Mark {
            student_id,
            value: mark_value,
        })
    }
}

/// A value broke a rule. `code` is stable; `message` says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{code}: {message}")]
pub struct ValidationError {
    pub code: ValidationCode,
    pub message: String,
}

impl ValidationError {
    pub fn new(code: ValidationCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// The years a school date can fall in: registers, locks, enrolments, excuses, imports. Before
/// 1970 no device clock (HLC wall time counts from 1970) could have stamped a mark; after 2199
/// is a typing slip. A date outside them is refused at every entry point with
/// `DATE_OUT_OF_RANGE`, so no stored row can hold a date the server cannot read back.
pub const SCHOOL_YEARS: std::ops::RangeInclusive<i32> = 1970..=2199;

/// Parses a school date: a real calendar day, written `YYYY-MM-DD`, within [`SCHOOL_YEARS`].
/// The one date rule: every date a person or a device sends goes through it.
pub fn parse_date(text: &str) -> Result<NaiveDate, ValidationError> {
    let invalid = || {
        ValidationError::new(
            ValidationCode::InvalidDate,
            format!("{} is not a real date in YYYY-MM-DD form", quote(text)),
        )
    };
    // chrono alone would accept "2026-1-5", " 2026-1-05", "2026- 1-05", "+2026-1-05" and
    // "-0001-01-01". Only the zero-padded digits form keeps dates sortable as text and stored
    // exactly as sent.
    let canonical = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !canonical {
        return Err(invalid());
    }
    // The digits are checked above, so plain number parsing is enough; no format string
    // (chrono's strftime machinery costs the wasm client ~15 KB).
    let number = |range: std::ops::Range<usize>| text[range].parse().map_err(|_| invalid());
    let date = NaiveDate::from_ymd_opt(number(0..4)? as i32, number(5..7)?, number(8..10)?).ok_or_else(invalid)?;
    check_school_date(date)
}

/// Checks that a date a caller already holds typed (e.g. read by chrono) is within
/// [`SCHOOL_YEARS`].
pub fn check_school_date(date: NaiveDate) -> Result<NaiveDate, ValidationError> {
    if SCHOOL_YEARS.contains(&date.year()) {
        return Ok(date);
    }
    Err(ValidationError::new(
        ValidationCode::DateOutOfRange,
        format!(
            "{} is outside the years a school date can have ({} to {})",
            format_date(date),
            SCHOOL_YEARS.start(),
            SCHOOL_YEARS.end()
        ),
    ))
}

/// Writes a school date as `YYYY-MM-DD`, the form [`parse_date`] reads.
pub fn format_date(date: NaiveDate) -> String {
    format!("{:04}-{:02}-{:02}", date.year(), date.month(), date.day())
}

/// Checks free text a person typed (a note, a lock's reason): at most `max_chars` characters
/// (not bytes: names and notes are often not ASCII), else `too_long`, and no control characters
/// but newline and tab, so nothing invisible (a NUL, an escape sequence) is stored, logged or
/// exported.
pub fn check_free_text(
    what: &str,
    text: &str,
    max_chars: usize,
    too_long: ValidationCode,
) -> Result<(), ValidationError> {
    let chars = text.chars().count();
    if chars > max_chars {
        return Err(ValidationError::new(
            too_long,
            format!("a {what} holds at most {max_chars} characters, this one has {chars}"),
        ));
    }
    if let Some(position) = text.chars().position(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(ValidationError::new(
            ValidationCode::ControlCharacter,
            format!(
                "a {what} may not hold control characters (only line breaks and tabs); character {} is one",
                position + 1
            ),
        ));
    }
    Ok(())
}

/// Checks a period number against the timetable's range.
pub fn check_period(period: i64) -> Result<u8, ValidationError> {
    u8::try_from(period)
        .ok()
        .filter(|p| PERIODS.contains(p))
        .ok_or_else(|| {
            ValidationError::new(
                ValidationCode::PeriodOutOfRange,
                format!("period must be {} to {}, not {period}", PERIODS.start(), PERIODS.end()),
            )
        })
}

/// Parses a status name, refusing anything else with `UNKNOWN_STATUS`.
pub fn parse_status(text: &str) -> Result<Status, ValidationError> {
    Status::from_name(text).map_err(|e| ValidationError::new(ValidationCode::UnknownStatus, e.to_string()))
}

/// Builds a register key from loose wire parts.
pub fn parse_register(class_id: ClassId, date: &str, period: i64) -> Result<RegisterKey, ValidationError> {
    Ok(RegisterKey {
        class_id,
        date: parse_date(date)?,
        period: check_period(period)?,
    })
}

/// Reads a whole number the way JSON Schema counts one: `3` and also `3.0`, which some JSON
/// writers produce, at any size within 64 bits (the document's `int64`): the op's own rule then
/// rejects what is out of range (`PERIOD_OUT_OF_RANGE`) without failing the rest of the push. A
/// fraction (`3.5`), a number beyond 64 bits or anything but a number is a malformed push (400).
fn whole_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    struct WholeVisitor;

    impl Visitor<'_> for WholeVisitor {
        type Value = i64;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a whole number")
        }

        fn visit_i64<E: de::Error>(self, number: i64) -> Result<i64, E> {
            Ok(number)
        }

        fn visit_u64<E: de::Error>(self, number: u64) -> Result<i64, E> {
            i64::try_from(number).map_err(|_| E::custom("a whole number beyond 64 bits"))
        }

        fn visit_f64<E: de::Error>(self, number: f64) -> Result<i64, E> {
            // serde_json reads an integer beyond 64 bits as the nearest float, and
            // -9223372036854775809 rounds to exactly -2^63: so -2^63 as a float is refused too
            // (i64::MIN written as an integer arrives through `visit_i64`).
            const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
            if number.fract() != 0.0 {
                Err(E::custom("a whole number, not a fraction"))
            } else if number > -TWO_POW_63 && number < TWO_POW_63 {
                Ok(number as i64)
            } else {
                Err(E::custom("a whole number beyond 64 bits"))
            }
        }
    }

    deserializer.deserialize_i64(WholeVisitor)
}

/// A change to the shared state: one field of one register, stamped with an HLC.
/// It is what an op carries and what pull returns.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawChange", into = "RawChange")]
pub struct Change {
    pub register: RegisterKey,
    pub change: FieldChange,
    pub hlc: Hlc,
}

/// The wire form of a [`Change`] (pull): `{class_id, date, period, student_id?, field, value, hlc}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Change))]
pub struct RawChange {
    pub class_id: ClassId,
    #[cfg_attr(feature = "openapi", schema(schema_with = openapi_schemas::date_text))]
    pub date: String,
    #[serde(deserialize_with = "whole_number")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 16))]
    pub period: i64,
    /// Absent for `submitted`, which is about the whole register.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub student_id: Option<StudentId>,
    #[cfg_attr(feature = "openapi", schema(value_type = Field))]
    pub field: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = openapi_schemas::change_value))]
    pub value: WireValue,
    #[cfg_attr(feature = "openapi", schema(value_type = Hlc))]
    pub hlc: String,
}

impl TryFrom<RawChange> for Change {
    type Error = ValidationError;
    fn try_from(raw: RawChange) -> Result<Self, Self::Error> {
        let hlc = raw.hlc.parse().map_err(|e: crate::hlc::HlcParseError| {
            ValidationError::new(ValidationCode::MalformedHlc, e.to_string())
        })?;
        Ok(Change {
            register: parse_register(raw.class_id, &raw.date, raw.period)?,
            change: FieldChange::parse(raw.student_id, &raw.field, &raw.value)?,
            hlc,
        })
    }
}

impl From<Change> for RawChange {
    fn from(change: Change) -> Self {
        RawChange {
            class_id: change.register.class_id,
            date: format_date(change.register.date),
            period: i64::from(change.register.period),
            student_id: change.change.student_id(),
            field: change.change.field().as_str().to_owned(),
            value: change.change.wire_value(),
            hlc: change.hlc.to_string(),
        }
    }
}

/// An op as a device pushes it: `{op_id, hlc, device_time, class_id, date, period,
/// student_id?, field, value}`. Missing or mistyped keys fail to parse (400 for the whole
/// push); rule breaks inside well-typed keys are found by [`RawOp::validate`] (one op rejected).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Op))]
pub struct RawOp {
    pub op_id: OpId,
    /// `<wall ms, 13 digits>-<counter, 4 hex>-<node, 16 hex>`; any other text rejects the op
    /// (VALIDATION, MALFORMED_HLC).
    #[cfg_attr(feature = "openapi", schema(example = "1763719200000-0000-9f2c4a1b7d3e5f60"))]
    pub hlc: String,
    /// The device's clock when the teacher tapped, kept for the audit log.
    #[serde(with = "crate::wire_time::utc")]
    pub device_time: DateTime<Utc>,
    pub class_id: ClassId,
    /// `YYYY-MM-DD`; anything else rejects the op (VALIDATION, INVALID_DATE).
    #[cfg_attr(feature = "openapi", schema(example = "2026-11-20"))]
    pub date: String,
    /// 1 to 16; any other number rejects the op (VALIDATION, PERIOD_OUT_OF_RANGE).
    #[serde(deserialize_with = "whole_number")]
    #[cfg_attr(feature = "openapi", schema(example = 1))]
    pub period: i64,
    /// Absent or null for `submitted`, required for the other fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub student_id: Option<StudentId>,
    /// status, minutes_late, note or submitted; any other name rejects the op (VALIDATION,
    /// UNKNOWN_FIELD).
    #[cfg_attr(feature = "openapi", schema(example = "status"))]
    pub field: String,
    pub value: WireValue,
}

impl RawOp {
    /// Checks every rule and gives the typed op, or the first rule it breaks.
    pub fn validate(&self) -> Result<Op, ValidationError> {
        let raw_change = RawChange {
            class_id: self.class_id,
            date: self.date.clone(),
            period: self.period,
            student_id: self.student_id,
            field: self.field.clone(),
            value: self.value.clone(),
            hlc: self.hlc.clone(),
        };
        Ok(Op {
            op_id: self.op_id,
            device_time: self.device_time,
            change: Change::try_from(raw_change)?,
        })
    }
}

/// A validated op: one change made on one device, with its idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawOp", into = "RawOp")]
pub struct Op {
    pub op_id: OpId,
    /// The device's wall clock when the teacher tapped, kept for the audit log.
    pub device_time: DateTime<Utc>,
    pub change: Change,
}

impl TryFrom<RawOp> for Op {
    type Error = ValidationError;
    fn try_from(raw: RawOp) -> Result<Self, Self::Error> {
        raw.validate()
    }
}

impl From<Op> for RawOp {
    fn from(op: Op) -> Self {
        let raw = RawChange::from(op.change);
        RawOp {
            op_id: op.op_id,
            hlc: raw.hlc,
            device_time: op.device_time,
            class_id: raw.class_id,
            date: raw.date,
            period: raw.period,
            student_id: raw.student_id,
            field: raw.field,
            value: raw.value,
        }
    }
}

/// The OpenAPI schemas of op values and of a change's fields (`openapi` feature).
#[cfg(feature = "openapi")]
mod openapi_schemas {
    use super::WireValue;
    use serde_json::json;
    use strum::VariantArray;
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{KnownFormat, Object, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type};
    use utoipa::{PartialSchema, ToSchema};

    /// An op's value as a push may carry it: any JSON scalar. Which ones a field takes is a rule on
    /// the op (`rejected` with VALIDATION), not on the request.
    impl PartialSchema for WireValue {
        fn schema() -> RefOr<Schema> {
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([
                    Type::String,
                    Type::Number,
                    Type::Boolean,
                    Type::Null,
                ]))
                .description(Some(format!(
                    "A JSON scalar: `status` one of {statuses}; `minutes_late` an integer 0 to {late} or null; `note` a \
                     string of at most {note} characters; `submitted` true or false. A list or an object makes the push \
                     malformed (400); a scalar that the field does not take rejects the op (VALIDATION).",
                    statuses = crate::Status::VARIANTS
                        .iter()
                        .map(|status| status.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    late = super::MAX_MINUTES_LATE,
                    note = super::MAX_NOTE_CHARS,
                )))
                .examples([json!("present"), json!(5), json!(null), json!(true)])
                .into()
        }
    }
    impl ToSchema for WireValue {
        fn name() -> std::borrow::Cow<'static, str> {
            "OpValue".into()
        }
    }

    /// A change's value as pull sends it: what a valid op stored.
    pub(super) fn change_value() -> Object {
        ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([
                Type::String,
                Type::Integer,
                Type::Boolean,
                Type::Null,
            ]))
            .description(Some(
                "`status`: a status name; `minutes_late`: a whole number of minutes or null; `note`: a string; \
                 `submitted`: true or false",
            ))
            .examples([json!("present"), json!(5), json!(null), json!(true)])
            .build()
    }

    /// A school date as text, `YYYY-MM-DD`.
    pub(super) fn date_text() -> Object {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
            .examples([json!("2026-11-20")])
            .build()
    }
}
