//! The TypeScript declarations of every record this module hands to JS, from the Rust types
//! themselves (ts-rs, `typescript` feature). `tests/generated.rs` writes them to
//! `rollcall-types.d.ts`, which `lib.rs` hands to wasm-bindgen for the generated `.d.ts`.

use crate::OpInfo;
use crate::engine::{Event, LastError, Options, Status as SyncStatus, SyncReport};
use crate::store::OpState;
use crate::view::{RegisterHeader, RegisterPhase, RegisterSummary, RegisterView, Rejection, StudentRow, SyncState};
use rollcall_shared::protocol::{
    ClassInfo, EnrolmentInfo, PeriodInfo, Role, Roster, SchoolInfo, StudentInfo, UserInfo,
};
use rollcall_shared::{ErrorCode, Field, Status, Tally, ValidationCode};
use ts_rs::TS;

/// One exported declaration, its doc comment first.
fn declaration<T: TS + ?Sized>() -> String {
    format!("{}export {}\n", T::docs().unwrap_or_default(), T::decl())
}

/// Every declaration, in the order a reader meets them.
pub fn declarations() -> String {
    [
        declaration::<Options>(),
        declaration::<Role>(),
        declaration::<UserInfo>(),
        declaration::<Roster>(),
        declaration::<SchoolInfo>(),
        declaration::<PeriodInfo>(),
        declaration::<ClassInfo>(),
        declaration::<StudentInfo>(),
        declaration::<EnrolmentInfo>(),
        declaration::<Status>(),
        declaration::<Field>(),
        declaration::<ErrorCode>(),
        declaration::<ValidationCode>(),
        declaration::<SyncState>(),
        declaration::<Tally>(),
        declaration::<Rejection>(),
        declaration::<StudentRow>(),
        declaration::<RegisterHeader>(),
        declaration::<RegisterView>(),
        declaration::<RegisterPhase>(),
        declaration::<RegisterSummary>(),
        declaration::<LastError>(),
        declaration::<SyncStatus>(),
        declaration::<SyncReport>(),
        declaration::<Event<'static>>(),
        declaration::<OpState>(),
        declaration::<OpInfo>(),
    ]
    .concat()
}
