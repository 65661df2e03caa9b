//! The OpenAPI schemas of the wire types whose JSON form serde's derive does not show: ids, the
//! HLC and device id, and the enums sent by name (see `wire_names!`, which gives each of them its
//! schema from the same `as_str`). Op values, change values and cursors have theirs next to their
//! types in `op` and `protocol`. The structs of `protocol` and `op` derive
//! theirs next to their serde derives, so the document the server serves describes the very
//! types it sends and reads. Only with the `openapi` feature: the wasm client carries none of it.

use crate::hlc::{Hlc, NodeId};
use crate::ids::{ClassId, OpId, SchoolId, StudentId, UserId};
use serde_json::json;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::{PartialSchema, ToSchema};

/// A UUID as the server reads it. JSON Schema takes `format` as a note, not a rule, so a
/// generator may send any string for `format: uuid`; the pattern says what is accepted.
pub const UUID_PATTERN: &str = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
/// An HLC's text form: `<wall ms, 13 digits>-<counter, 4 hex>-<node, 16 hex>`.
pub const HLC_PATTERN: &str = "^[0-9]{13}-[0-9a-f]{4}-[0-9a-f]{16}$";
/// A device id ([`NodeId`]): 16 lowercase hex digits.
pub const NODE_ID_PATTERN: &str = "^[0-9a-f]{16}$";

macro_rules! uuid_schemas {
    ($($name:ident: $description:literal;)*) => {$(
        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
                    .pattern(Some(UUID_PATTERN))
                    .description(Some($description))
                    .into()
            }
        }
        impl ToSchema for $name {}
    )*};
}

uuid_schemas! {
    SchoolId: "A school's id";
    UserId: "A user's id";
    StudentId: "A student's id";
    ClassId: "A class's id";
    OpId: "An op's id, chosen by the device: the idempotency key (the same op pushed again is answered `duplicate`)";
}

impl PartialSchema for Hlc {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(HLC_PATTERN))
            .description(Some(
                "A hybrid logical clock reading: `<wall ms, 13 digits>-<counter, 4 hex>-<node, 16 hex>`; its text \
                 sorts in clock order",
            ))
            .examples([json!("1763719200000-0000-9f2c4a1b7d3e5f60")])
            .into()
    }
}
impl ToSchema for Hlc {}

impl PartialSchema for NodeId {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(NODE_ID_PATTERN))
            .description(Some("A device's id in the clock: 16 lowercase hex digits"))
            .examples([json!("9f2c4a1b7d3e5f60")])
            .into()
    }
}
impl ToSchema for NodeId {
    fn name() -> std::borrow::Cow<'static, str> {
        "DeviceId".into()
    }
}

/// The schema of an enum sent by name: a string that is one of `names`.
pub fn names_schema(what: &str, names: impl IntoIterator<Item = &'static str>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(names))
        .description(Some(format!("A {what}")))
        .into()
}
