//! Rollcall's domain core, shared by the server and the wasm client.
//!
//! Everything that decides *what a register says* lives here: ids, the hybrid logical clock,
//! the per-field last-write-wins merge, the protocol (wire) types, validation with stable
//! error codes, effective status and report arithmetic. The server and the tablet run the very
//! same code, so they can never disagree about a merge.
//!
//! This crate must stay pure: no I/O, no clock reads, no randomness. Callers pass "now" in.
//! It compiles for the host and for `wasm32-unknown-unknown`.
//!
//! Messages quote the values they name with [`text::quote`] (cut short, control characters
//! escaped), never with `{:?}`: the tablet's module is built with Debug formatting compiled out
//! (see `xtask/src/wasm.rs`), and there `{:?}` prints nothing.

pub mod codes;
#[cfg(feature = "diesel")]
pub mod column;
pub mod effective;
pub mod hlc;
pub mod ids;
pub mod merge;
pub mod op;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod protocol;
pub mod register;
pub mod report;
pub mod text;
#[cfg(feature = "typescript")]
pub mod typescript;
pub mod wire_name;
pub mod wire_time;

pub use codes::{ErrorCode, ValidationCode};
pub use effective::{DateRange, EffectiveStatus, ExcuseRange, effective_status};
pub use hlc::{Hlc, HlcClock, HlcParseError, NodeId, SkewCheck};
pub use ids::{ClassId, LockId, OpId, SchoolId, StudentId, UserId};
pub use merge::{AttendanceState, Lww, MarkState, MergeOutcome, RegisterState};
pub use op::{Change, Field, FieldChange, MarkValue, Op, RawChange, RawOp, ValidationError, WireValue};
pub use register::{MarkKey, RegisterKey, Status};
pub use report::{ChronicThreshold, Tally};
/// Lists an enum's variants (`Status::VARIANTS`, in declaration order).
pub use strum::VariantArray;
pub use wire_name::{UnknownName, WireName};
