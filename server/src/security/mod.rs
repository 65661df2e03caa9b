//! Who is calling and whether to believe them, apart from HTTP: access and refresh tokens,
//! password hashing, the login throttle, the memory of ended sign-ins, refresh token rotation,
//! and the HTTPS certificate (`tls`). `api` turns requests into these checks; nothing here knows
//! of requests.

pub mod passwords;
pub mod refresh;
pub mod sessions;
pub mod throttle;
pub mod tls;
pub mod tokens;

use rollcall_shared::protocol::Role;
use rollcall_shared::{SchoolId, UserId};
use uuid::Uuid;

/// A signed-in caller, from a valid access token (see `api::extract` for how a request yields
/// one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthUser {
    pub id: UserId,
    pub school_id: SchoolId,
    pub role: Role,
    /// The sign-in (refresh token family) the token belongs to; long-lived answers such as the
    /// event stream check it again while they last.
    pub session: Uuid,
}

impl AuthUser {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}
