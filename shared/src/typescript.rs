//! TypeScript declarations of the wire types the PWA receives, for those whose JSON form serde's
//! derive does not show: ids, the HLC and device id travel as strings, op values as any JSON scalar, and the enums sent by name
//! get theirs from `wire_names!` (the same `as_str`). The structs derive theirs next to their
//! serde derives. Only with the `typescript` feature, which the test that writes the PWA's
//! declarations turns on (`client-wasm/tests/generated.rs`); the shipped module carries none of it.

use crate::hlc::{Hlc, NodeId};
use crate::ids::{ClassId, OpId, SchoolId, StudentId, UserId};
use crate::op::WireValue;

/// Declares types whose TypeScript is written inline wherever they appear: `Type => "text"`.
macro_rules! inline_in_typescript {
    ($($name:ty => $text:literal),* $(,)?) => {$(
        impl ts_rs::TS for $name {
            type WithoutGenerics = Self;
            type OptionInnerType = Self;
            fn name() -> String {
                $text.to_owned()
            }
            fn inline() -> String {
                Self::name()
            }
            fn inline_flattened() -> String {
                panic!("{} cannot be flattened", $text)
            }
            fn decl() -> String {
                panic!("{} has no declaration of its own", $text)
            }
            fn decl_concrete() -> String {
                Self::decl()
            }
        }
    )*};
}

inline_in_typescript!(
    SchoolId => "string",
    UserId => "string",
    StudentId => "string",
    ClassId => "string",
    OpId => "string",
    Hlc => "string",
    NodeId => "string",
    // An op's value: any JSON scalar (see `op::WireValue`).
    WireValue => "string | number | boolean | null",
);

/// The TypeScript union of an enum's wire names: `"admin" | "teacher"`.
pub fn names_union(names: impl IntoIterator<Item = &'static str>) -> String {
    names
        .into_iter()
        .map(|name| format!("\"{name}\""))
        .collect::<Vec<_>>()
        .join(" | ")
}
