//! Enums that travel as one fixed name per variant: statuses, fields, roles, outcomes, error codes.
//!
//! Each such enum spells its names once, in its own `as_str`, and strum lists its variants;
//! serde, `Display` and `FromStr` all go through them (see [`wire_names!`]), so a name can never
//! differ between the wire, the database and a message. serde's derive would spell the names a
//! second time, and cost the wasm module a parser per enum (1 KB gzipped for these six).

/// An enum whose wire form is a fixed name per variant.
pub trait WireName: strum::VariantArray + Copy + 'static {
    /// What a name names, for messages: "status", "field".
    const WHAT: &'static str;

    /// The wire (and database) spelling.
    fn as_str(self) -> &'static str;

    /// The variant spelled `name`.
    fn from_name(name: &str) -> Result<Self, UnknownName> {
        Self::VARIANTS
            .iter()
            .copied()
            .find(|variant| variant.as_str() == name)
            .ok_or_else(|| UnknownName {
                what: Self::WHAT,
                name: name.to_owned(),
                expected: Self::VARIANTS.iter().map(|variant| variant.as_str()).collect(),
            })
    }
}

/// A name that is none of an enum's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    pub what: &'static str,
    pub name: String,
    pub expected: Vec<&'static str>,
}

impl std::fmt::Display for UnknownName {
    /// `unknown status "sick": expected present, late, absent or excused`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown {} {}: expected ", self.what, crate::text::quote(&self.name))?;
        for (i, name) in self.expected.iter().enumerate() {
            let separator = match i {
                0 => "",
                _ if i + 1 == self.expected.len() => " or ",
                _ => ", ",
            };
            write!(f, "{separator}{name}")?;
        }
        Ok(())
    }
}

impl std::error::Error for UnknownName {}

/// Makes each enum a [`WireName`] (its inherent `as_str` spells the names; it derives
/// `strum::VariantArray`) and serializes, deserializes, displays and parses it as its name.
/// `Type: "what a name names";`
macro_rules! wire_names {
    ($($name:ty: $what:literal;)*) => {$(
        impl crate::wire_name::WireName for $name {
            const WHAT: &'static str = $what;
            fn as_str(self) -> &'static str {
                <$name>::as_str(self)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let name = <String as serde::Deserialize>::deserialize(deserializer)?;
                <$name as crate::wire_name::WireName>::from_name(&name).map_err(serde::de::Error::custom)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                crate::openapi::names_schema(
                    $what,
                    <$name as strum::VariantArray>::VARIANTS.iter().map(|variant| variant.as_str()),
                )
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}

        #[cfg(feature = "typescript")]
        impl ts_rs::TS for $name {
            type WithoutGenerics = Self;
            type OptionInnerType = Self;
            fn name() -> String {
                stringify!($name).to_owned()
            }
            fn inline() -> String {
                crate::typescript::names_union(
                    <$name as strum::VariantArray>::VARIANTS.iter().map(|variant| variant.as_str()),
                )
            }
            fn inline_flattened() -> String {
                panic!("a name cannot be flattened")
            }
            fn decl() -> String {
                format!("type {} = {};", stringify!($name), Self::inline())
            }
            fn decl_concrete() -> String {
                Self::decl()
            }
        }

        impl std::str::FromStr for $name {
            type Err = crate::wire_name::UnknownName;
            fn from_str(name: &str) -> Result<Self, Self::Err> {
                <$name as crate::wire_name::WireName>::from_name(name)
            }
        }
    )*};
}
pub(crate) use wire_names;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;
    use crate::protocol::Role;
    use strum::VariantArray;

    #[test]
    fn an_unknown_name_says_what_was_expected() {
        let error = Status::from_name("sick").expect_err("not a status");
        assert_eq!(
            error.to_string(),
            "unknown status \"sick\": expected present, late, absent or excused"
        );
        let error = serde_json::from_str::<Role>("\"owner\"").expect_err("not a role");
        assert!(
            error
                .to_string()
                .starts_with("unknown role \"owner\": expected admin or teacher"),
            "{error}"
        );
    }

    #[test]
    fn names_round_trip_through_serde_and_text() {
        for &status in Status::VARIANTS {
            let json = serde_json::to_string(&status).expect("serializes");
            assert_eq!(json, format!("\"{}\"", status.as_str()));
            assert_eq!(serde_json::from_str::<Status>(&json).expect("reads back"), status);
            assert_eq!(status.to_string().parse::<Status>(), Ok(status));
        }
    }
}
