//! Users and refresh tokens: their rows and the SQL of signing in, rotating and ending a sign-in.
//! Only hashes of refresh tokens are stored (see `security::tokens`).

use crate::db::schema::{refresh_tokens, users};
use crate::db::{DbConnection, now_ms};
use crate::error::AppError;
use diesel::prelude::*;
use rollcall_shared::protocol::{Role, UserInfo};
use rollcall_shared::{SchoolId, UserId};

/// A user account as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: UserId,
    pub school_id: SchoolId,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub password_hash: String,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
}

impl UserRow {
    /// The public view of the account, as login returns it.
    pub fn info(&self) -> UserInfo {
        UserInfo {
            id: self.id,
            username: self.username.clone(),
            display_name: self.display_name.clone(),
            role: self.role,
            school_id: self.school_id,
        }
    }
}

/// Adds an account.
pub fn insert_user(conn: &mut DbConnection, user: &UserRow) -> QueryResult<()> {
    diesel::insert_into(users::table).values(user).execute(conn)?;
    Ok(())
}

/// Usernames are matched without regard to case or surrounding spaces.
pub fn normalize_username(username: &str) -> String {
    username.trim().to_lowercase()
}

/// Whether a sign-in is still on: some token of its family is not revoked. Ending a sign-in
/// revokes every token of the family in one write transaction, and writes are serialized
/// (`write_transaction`), so no token is added to a family after it was ended. A family with no
/// tokens at all is not on either. In a live family every token is unrevoked, so the scan stops
/// at the first row.
pub fn family_is_live(conn: &mut DbConnection, family: &str) -> Result<bool, AppError> {
    Ok(diesel::select(diesel::dsl::exists(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family))
            .filter(refresh_tokens::revoked_at.is_null()),
    ))
    .get_result(conn)?)
}

/// Stores a refresh token (its hash) in a family.
pub fn store_refresh_token(
    conn: &mut DbConnection,
    hash: &str,
    user_id: UserId,
    family_id: &str,
    ttl_ms: i64,
) -> Result<(), AppError> {
    let now = now_ms();
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::token_hash.eq(hash),
            refresh_tokens::family_id.eq(family_id),
            refresh_tokens::user_id.eq(user_id),
            refresh_tokens::issued_at.eq(now),
            refresh_tokens::expires_at.eq(now.saturating_add(ttl_ms)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Ends a sign-in: revokes every token of its family.
pub fn revoke_family(conn: &mut DbConnection, family_id: &str) -> Result<(), AppError> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(now_ms()))
    .execute(conn)?;
    Ok(())
}

/// A stored refresh token.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshRow {
    pub family_id: String,
    pub user_id: UserId,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

pub fn find_refresh_token(conn: &mut DbConnection, hash: &str) -> Result<Option<RefreshRow>, AppError> {
    Ok(refresh_tokens::table
        .find(hash)
        .select(RefreshRow::as_select())
        .first(conn)
        .optional()?)
}

/// The user of a stored token, if the account still exists.
pub fn find_user(conn: &mut DbConnection, user_id: UserId) -> Result<Option<UserRow>, AppError> {
    Ok(users::table
        .find(user_id)
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

/// The account a login names. No username holds a control character, and PostgreSQL cannot
/// even be asked about one with a NUL: such a name is simply not found.
pub fn find_user_by_name(conn: &mut DbConnection, username: &str) -> Result<Option<UserRow>, AppError> {
    if username.chars().any(char::is_control) {
        return Ok(None);
    }
    Ok(users::table
        .filter(users::username.eq(username))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

/// Records that a refresh token was swapped for its successor.
pub fn mark_refresh_used(conn: &mut DbConnection, hash: &str, now: i64) -> Result<(), AppError> {
    diesel::update(refresh_tokens::table.find(hash))
        .set(refresh_tokens::used_at.eq(now))
        .execute(conn)?;
    Ok(())
}

/// The sign-in (family) of a refresh token, by its hash.
pub fn family_of(conn: &mut DbConnection, hash: &str) -> Result<Option<String>, AppError> {
    Ok(refresh_tokens::table
        .find(hash)
        .select(refresh_tokens::family_id)
        .first::<String>(conn)
        .optional()?)
}
