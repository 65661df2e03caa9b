//! TypeScript declarations of the wire types the PWA receives, for those whose JSON form serde's
//! derive does not show: ids, the HLC and device id travel as strings (op values: see `op`), and the enums sent by name
//! get theirs from `wire_names!` (the same `as_str`). The structs derive theirs next to their
//! serde derives. Only with the `typescript` feature, which the test that writes the PWA's
//! declarations turns on (`client-wasm/tests/generated.rs`); the shipped module carries none of it.

use crate::hlc::{Hlc, NodeId};
use crate::ids::{ClassId, OpId, SchoolId, StudentId, UserId};

/// Declares types whose JSON form is a plain string.
macro_rules! strings_in_typescript {
    ($($name:ty),*) => {$(
        impl ts_rs::TS for $name {
            type WithoutGenerics = Self;
            type OptionInnerType = Self;
            fn name() -> String {
                "string".to_owned()
            }
            fn inline() -> String {
                Self::name()
            }
            fn inline_flattened() -> String {
                panic!("a string cannot be flattened")
            }
            fn decl() -> String {
                panic!("a string has no declaration of its own")
            }
            fn decl_concrete() -> String {
                Self::decl()
            }
        }
    )*};
}

strings_in_typescript!(SchoolId, UserId, StudentId, ClassId, OpId, Hlc, NodeId);

/// The TypeScript union of an enum's wire names: `"admin" | "teacher"`.
pub fn names_union(names: impl IntoIterator<Item = &'static str>) -> String {
    names
        .into_iter()
        .map(|name| format!("\"{name}\""))
        .collect::<Vec<_>>()
        .join(" | ")
}
