//! Registers, marks and the statuses a teacher can give.

use crate::ids::{ClassId, StudentId};
use crate::wire_name::wire_names;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Lowest and highest period a school timetable may use.
pub const PERIODS: std::ops::RangeInclusive<u8> = 1..=16;

/// A teacher's mark for one student.
///
/// The order (present < late < absent < excused) only breaks exact HLC ties in the merge;
/// it carries no meaning. Changing a name in `as_str` changes the wire and the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, strum::VariantArray)]
#[cfg_attr(feature = "diesel", derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow), diesel(sql_type = diesel::sql_types::Text))]
pub enum Status {
    Present,
    Late,
    Absent,
    Excused,
}

impl Status {
    /// The wire and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Present => "present",
            Status::Late => "late",
            Status::Absent => "absent",
            Status::Excused => "excused",
        }
    }

    /// The word a person reads for it, in the app, reports and exports.
    pub fn label(self) -> &'static str {
        match self {
            Status::Present => "Present",
            Status::Late => "Late",
            Status::Absent => "Absent",
            Status::Excused => "Excused",
        }
    }

    /// The status a tap moves to next: present → late → absent → excused → present. The web
    /// app's cycle is generated from this (`www/js/rules.js`).
    pub fn next(self) -> Status {
        match self {
            Status::Present => Status::Late,
            Status::Late => Status::Absent,
            Status::Absent => Status::Excused,
            Status::Excused => Status::Present,
        }
    }
}

wire_names! {
    Status: "status";
}

/// A register's identity: one class, one date, one period.
///
/// It is a natural key, never a generated id, so two tablets that open the same register
/// offline produce the same register. Field order is the sort order (class, date, period).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RegisterKey {
    pub class_id: ClassId,
    #[serde(with = "crate::wire_time::date")]
    pub date: NaiveDate,
    pub period: u8,
}

/// One student's mark within one register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MarkKey {
    #[serde(flatten)]
    pub register: RegisterKey,
    pub student_id: StudentId,
}
