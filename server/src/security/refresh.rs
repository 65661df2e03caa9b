//! Refresh token rotation. Each use of a refresh token swaps it for a new one; presenting a used
//! one means it was copied, and the whole sign-in (its family) is ended, unless it comes back
//! within a short grace of being swapped: then the answer to the first use was lost on the way,
//! and the same successor is handed out again.

use crate::db::users::{self, RefreshRow, UserRow};
use crate::db::{DbConnection, now_ms};
use crate::error::AppError;
use crate::security::tokens::{self, RefreshSuccessors};
use rollcall_shared::UserId;

/// The most swaps a lost-answer retry follows to reach the newest refresh token. Within the
/// grace a tablet refreshes once or twice; a longer chain is not a lost answer.
const MAX_GRACE_CHAIN: usize = 8;

/// The settings a rotation needs, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct RotationLimits {
    /// How long a new refresh token lives.
    pub ttl_ms: i64,
    /// How soon after its swap a used token may come back as a lost answer.
    pub grace_ms: i64,
}

/// What became of a presented refresh token.
#[expect(
    missing_debug_implementations,
    reason = "it holds a refresh token, which must never be printed"
)]
pub enum Rotation {
    Rotated {
        user: UserRow,
        token: String,
        family_id: String,
    },
    /// A token that was already swapped came back after the grace: the family is now revoked.
    /// Returned as a value, not an error, so that the revocation commits.
    Reused { user_id: UserId, family_id: String },
    /// No new token; `ended` names the family if this refusal revoked it.
    Refused {
        reason: &'static str,
        ended: Option<String>,
    },
}

/// Swaps a presented refresh token for its successor. The successor is derived from the
/// presented token ([`RefreshSuccessors`]), so a token that comes back within the grace of its
/// swap (the answer was lost on the way) gets the very same successor again instead of ending
/// the sign-in; only the hashes are stored. Runs in a write transaction: writes are serialized,
/// so two uses of one token never both swap it.
pub fn rotate_refresh_token(
    conn: &mut DbConnection,
    presented: &str,
    successors: &RefreshSuccessors,
    limits: RotationLimits,
) -> Result<Rotation, AppError> {
    let Some(row) = users::find_refresh_token(conn, &tokens::hash_refresh_token(presented))? else {
        return Ok(Rotation::Refused {
            reason: "this sign-in is not known: sign in with your password",
            ended: None,
        });
    };
    if row.revoked_at.is_some() {
        return Ok(Rotation::Refused {
            reason: "this sign-in was ended: sign in with your password",
            ended: None,
        });
    }
    let now = now_ms();
    let again = match row.used_at {
        None if row.expires_at <= now => {
            return Ok(Rotation::Refused {
                reason: "this sign-in has expired: sign in with your password",
                ended: None,
            });
        }
        None => None,
        Some(used_at) if now.saturating_sub(used_at) < limits.grace_ms => {
            match newest_successor(conn, presented, successors, now, limits.grace_ms)? {
                Some(token) => Some(token),
                None => return reused(conn, row),
            }
        }
        Some(_) => return reused(conn, row),
    };
    let user = users::find_user(conn, row.user_id)?;
    let Some(user) = user.filter(|user| user.disabled_at.is_none()) else {
        users::revoke_family(conn, &row.family_id)?;
        return Ok(Rotation::Refused {
            reason: "this account was disabled or removed: ask the school office",
            ended: Some(row.family_id),
        });
    };
    let token = match again {
        Some(token) => token,
        None => {
            users::mark_refresh_used(conn, &tokens::hash_refresh_token(presented), now)?;
            let (token, hash) = successors.successor(presented);
            users::store_refresh_token(conn, &hash, row.user_id, &row.family_id, limits.ttl_ms)?;
            token
        }
    };
    Ok(Rotation::Rotated {
        user,
        token,
        family_id: row.family_id,
    })
}

/// A swapped token came back after the grace: it was copied. Ends the whole sign-in.
fn reused(conn: &mut DbConnection, row: RefreshRow) -> Result<Rotation, AppError> {
    users::revoke_family(conn, &row.family_id)?;
    Ok(Rotation::Reused {
        user_id: row.user_id,
        family_id: row.family_id,
    })
}

/// For a token swapped within the grace: its successor, or, if that was swapped within the
/// grace too (the tablet got a later answer before this retry arrived), the newest token down
/// the chain. `None` when the chain does not end in a live token within [`MAX_GRACE_CHAIN`]
/// swaps, all within the grace: then this is no lost answer, and the caller treats it as reuse.
fn newest_successor(
    conn: &mut DbConnection,
    presented: &str,
    successors: &RefreshSuccessors,
    now: i64,
    grace_ms: i64,
) -> Result<Option<String>, AppError> {
    let mut current = presented.to_owned();
    for _ in 0..MAX_GRACE_CHAIN {
        let (next, hash) = successors.successor(&current);
        // Missing (issued under another signing key) or revoked: nothing to hand out again.
        let Some(row) = users::find_refresh_token(conn, &hash)?.filter(|row| row.revoked_at.is_none()) else {
            return Ok(None);
        };
        match row.used_at {
            None => return Ok((row.expires_at > now).then_some(next)),
            Some(used_at) if now.saturating_sub(used_at) < grace_ms => current = next,
            Some(_) => return Ok(None),
        }
    }
    Ok(None)
}
