//! How the server stores shared's types in its database (feature `diesel`, which only the server
//! enables: nothing of diesel reaches the wasm client).
//!
//! Every id, school date, HLC and name sits in a text column as its own text form, the one the
//! wire uses: what every school's database already holds. `FromSql` and `ToSql` for all of them
//! are here, once, for SQLite, PostgreSQL and the server's multi-backend connection.
//!
//! A query that reads a typed column fails when one row holds a text that is not such a value.
//! Where a row must never stop anyone (the authorization copy, pull, the lock list: see the
//! server's `integrity`), the column is read as [`Stored<T>`], which keeps either the value or
//! the text with what is wrong with it, so the reader can skip and report that one row.

use crate::codes::{ErrorCode, ValidationCode};
use crate::hlc::{Hlc, NodeId};
use crate::ids::{ClassId, LockId, OpId, SchoolId, StudentId, UserId};
use crate::protocol::{Outcome, Role};
use crate::register::Status;
use crate::text::quote;
use crate::wire_name::WireName;
use crate::wire_time::time_of_day;
use chrono::{NaiveDate, NaiveTime};
use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Text;
use ref_cast::RefCast;
use std::borrow::Cow;
use std::fmt;

/// A value stored as one text column.
pub trait TextColumn: Sized + fmt::Debug + Send + Sync + 'static {
    /// The text stored for it.
    fn to_text(&self) -> Cow<'_, str>;
    /// The value a stored text holds, or what is wrong with the text, for the person who
    /// repairs the row.
    fn from_text(text: &str) -> Result<Self, String>;
}

/// A school date as stored: `YYYY-MM-DD` ([`crate::op::format_date`]), read back by the one
/// date rule ([`crate::op::parse_date`]), so a stored date is always one a school can mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, AsExpression, FromSqlRow)]
#[diesel(sql_type = Text)]
pub struct SchoolDate(pub NaiveDate);

impl TextColumn for SchoolDate {
    fn to_text(&self) -> Cow<'_, str> {
        Cow::Owned(crate::op::format_date(self.0))
    }

    fn from_text(text: &str) -> Result<Self, String> {
        crate::op::parse_date(text)
            .map(SchoolDate)
            .map_err(|e| format!("bad date: {}", e.message))
    }
}

/// A period's start or end as stored: `HH:MM` or `HH:MM:SS`, read like the wire reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, AsExpression, FromSqlRow)]
#[diesel(sql_type = Text)]
pub struct TimeOfDay(pub NaiveTime);

impl TextColumn for TimeOfDay {
    fn to_text(&self) -> Cow<'_, str> {
        Cow::Owned(time_of_day::format(self.0))
    }

    fn from_text(text: &str) -> Result<Self, String> {
        time_of_day::parse(text)
            .map(TimeOfDay)
            .ok_or_else(|| format!("bad time of day {}", quote(text)))
    }
}

/// Types stored as their `Display` text and read back with `FromStr`: `Type: "what it is"`.
macro_rules! displayed_columns {
    ($($ty:ty: $what:literal,)*) => {$(
        impl TextColumn for $ty {
            fn to_text(&self) -> Cow<'_, str> {
                Cow::Owned(self.to_string())
            }

            fn from_text(text: &str) -> Result<Self, String> {
                text.parse().map_err(|_| format!("bad {} {}", $what, quote(text)))
            }
        }
    )*};
}

displayed_columns! {
    SchoolId: "school id",
    UserId: "user id",
    StudentId: "student id",
    ClassId: "class id",
    OpId: "op id",
    LockId: "lock id",
    NodeId: "device id",
    Hlc: "HLC",
}

/// Enums stored as their one wire name ([`WireName`]).
macro_rules! named_columns {
    ($($ty:ty,)*) => {$(
        impl TextColumn for $ty {
            fn to_text(&self) -> Cow<'_, str> {
                Cow::Borrowed(WireName::as_str(*self))
            }

            fn from_text(text: &str) -> Result<Self, String> {
                <$ty as WireName>::from_name(text).map_err(|e| e.to_string())
            }
        }
    )*};
}

named_columns! {
    Role,
    Outcome,
    Status,
    ErrorCode,
    ValidationCode,
}

/// A backend a [`TextColumn`] binds on. SQLite and PostgreSQL are here; the server's
/// multi-backend connection binds through [`AsText`].
pub trait TextBackend: Backend {
    fn bind_text<'b, T: TextColumn>(value: &'b T, out: &mut Output<'b, '_, Self>) -> serialize::Result;
}

#[cfg(feature = "sqlite")]
impl TextBackend for diesel::sqlite::Sqlite {
    fn bind_text<'b, T: TextColumn>(value: &'b T, out: &mut Output<'b, '_, Self>) -> serialize::Result {
        match value.to_text() {
            Cow::Borrowed(text) => out.set_value(text),
            Cow::Owned(text) => out.set_value(text),
        }
        Ok(IsNull::No)
    }
}

#[cfg(feature = "postgres")]
impl TextBackend for diesel::pg::Pg {
    fn bind_text<'b, T: TextColumn>(value: &'b T, out: &mut Output<'b, '_, Self>) -> serialize::Result {
        std::io::Write::write_all(out, value.to_text().as_bytes())?;
        Ok(IsNull::No)
    }
}

/// Any [`TextColumn`] as one generic type that is `ToSql` on every [`TextBackend`]. diesel's
/// multi-backend connection binds a value by reference and hands it to the backend of the
/// connection later, so it needs a type it can ask that of: `AsText::of(value)`.
#[derive(Debug, RefCast)]
#[repr(transparent)]
pub struct AsText<T>(T);

impl<T> AsText<T> {
    pub fn of(value: &T) -> &AsText<T> {
        AsText::ref_cast(value)
    }
}

/// A column read without failing its query: the value, or the text the row holds and what is
/// wrong with it. Written, it is the value's text (or the text it was read from).
#[derive(Debug, Clone, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = Text)]
pub struct Stored<T>(Result<T, Unreadable>);

/// A stored text that is not the value its column holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub text: String,
    pub problem: String,
}

impl<T> Stored<T> {
    /// A value as it would be read back.
    pub fn new(value: T) -> Self {
        Stored(Ok(value))
    }

    /// The value, or what is wrong with the stored text.
    pub fn value(&self) -> Result<T, String>
    where
        T: Clone,
    {
        self.0.clone().map_err(|unreadable| unreadable.problem)
    }

    /// The value if the text was one.
    pub fn ok(self) -> Option<T> {
        self.0.ok()
    }
}

impl<T: TextColumn> fmt::Display for Stored<T> {
    /// The stored text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// `FromSql` on every backend that reads text (the multi-backend connection included), and
/// `ToSql` on every [`TextBackend`], for each `[generics] Type`.
macro_rules! text_sql {
    ($([$($generics:tt)*] $ty:ty,)*) => {$(
        impl<$($generics)* DB> FromSql<Text, DB> for $ty
        where
            DB: Backend,
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                let text = String::from_sql(bytes)?;
                Ok(TextColumn::from_text(&text)?)
            }
        }

        impl<$($generics)* DB: TextBackend> ToSql<Text, DB> for $ty {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                DB::bind_text(self, out)
            }
        }
    )*};
}

impl<T: TextColumn> TextColumn for AsText<T> {
    fn to_text(&self) -> Cow<'_, str> {
        self.0.to_text()
    }

    fn from_text(text: &str) -> Result<Self, String> {
        T::from_text(text).map(AsText)
    }
}

impl<T: TextColumn> TextColumn for Stored<T> {
    fn to_text(&self) -> Cow<'_, str> {
        match &self.0 {
            Ok(value) => value.to_text(),
            Err(unreadable) => Cow::Borrowed(&unreadable.text),
        }
    }

    /// Never fails: an unreadable text is kept with its problem.
    fn from_text(text: &str) -> Result<Self, String> {
        Ok(Stored(T::from_text(text).map_err(|problem| Unreadable {
            text: text.to_owned(),
            problem,
        })))
    }
}

text_sql! {
    [] SchoolId,
    [] UserId,
    [] StudentId,
    [] ClassId,
    [] OpId,
    [] LockId,
    [] NodeId,
    [] Hlc,
    [] SchoolDate,
    [] TimeOfDay,
    [] Role,
    [] Outcome,
    [] Status,
    [] ErrorCode,
    [] ValidationCode,
    [T: TextColumn,] AsText<T>,
    [T: TextColumn,] Stored<T>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_reads_back_what_it_stores() {
        fn round_trip<T: TextColumn + PartialEq + fmt::Debug>(value: T, text: &str) {
            assert_eq!(value.to_text(), text);
            assert_eq!(T::from_text(text), Ok(value));
        }
        let id = uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        round_trip(ClassId(id), "01234567-89ab-cdef-0123-456789abcdef");
        round_trip(
            "1763719200000-0000-9f2c4a1b7d3e5f60".parse::<Hlc>().expect("an HLC"),
            "1763719200000-0000-9f2c4a1b7d3e5f60",
        );
        round_trip(
            SchoolDate(NaiveDate::from_ymd_opt(2026, 1, 5).expect("a date")),
            "2026-01-05",
        );
        round_trip(Role::Teacher, "teacher");
        round_trip(Outcome::Duplicate, "duplicate");
        round_trip(ErrorCode::OpIdReused, "OP_ID_REUSED");
    }

    #[test]
    fn an_unreadable_text_is_kept_with_its_problem() {
        let stored = Stored::<SchoolDate>::from_text("-001-01-01").expect("kept");
        assert_eq!(stored.to_string(), "-001-01-01");
        assert!(
            stored.value().expect_err("not a school date").starts_with("bad date: "),
            "{stored:?}"
        );
        assert_eq!(
            ClassId::from_text("nope").expect_err("not a UUID"),
            "bad class id \"nope\""
        );
        assert_eq!(
            Role::from_text("owner").expect_err("not a role"),
            "unknown role \"owner\": expected admin or teacher"
        );
        let readable = Stored::<Role>::from_text("admin").expect("kept");
        assert_eq!(
            (readable.to_string(), readable.value()),
            ("admin".to_owned(), Ok(Role::Admin))
        );
    }
}
