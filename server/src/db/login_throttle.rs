//! The login throttle's memory (docs/security-model.md, "Login throttling"): failed logins
//! counted per account and per address, and which addresses signed in to which accounts. Kept in
//! the database, so that every server on it counts the same failures and a restart forgives
//! nothing. The rules are `security::throttle`'s; this is their SQL.
//!
//! Counting is a read-modify-write of a row. Two servers counting a failure against the same
//! account at once must not lose one, so the row is locked from read to write
//! ([`row_locking_transaction`]): `SELECT … FOR UPDATE` on PostgreSQL, the whole file on SQLite.

use crate::db::schema::{login_failures, login_trust};
use crate::db::{DbConnection, row_locking_transaction};
use crate::security::throttle::Failures;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use sha2::{Digest, Sha256};
use std::net::IpAddr;

/// Usernames longer than this are stored as their SHA-256: a login may name any username up to
/// the body limit, and PostgreSQL cannot index a key of kilobytes. No account has a name this
/// long (usernames are at most 64 characters), so no account's key changes.
const LONGEST_KEY: usize = 128;

/// `login_failures.kind` of an account's row, and of an address's.
const ACCOUNT: &str = "account";
const ADDRESS: &str = "address";

/// What failed logins are counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject<'a> {
    /// An account, by its username as logins are matched (lowercased, trimmed).
    Account(&'a str),
    /// A client address.
    Address(IpAddr),
}

impl Subject<'_> {
    fn kind(self) -> &'static str {
        match self {
            Subject::Account(_) => ACCOUNT,
            Subject::Address(_) => ADDRESS,
        }
    }

    fn key(self) -> String {
        match self {
            Subject::Account(username) => username_key(username),
            Subject::Address(address) => address_key(address),
        }
    }
}

/// A username as stored: itself, or its SHA-256 when it is too long or holds a control character
/// (PostgreSQL text cannot hold a NUL; no account's name holds a control character).
fn username_key(username: &str) -> String {
    if username.len() <= LONGEST_KEY && !username.chars().any(char::is_control) {
        username.to_owned()
    } else {
        format!("sha256:{:x}", Sha256::digest(username.as_bytes()))
    }
}

/// An IPv4 client seen through an IPv6 socket (`::ffff:10.0.0.5`) is the same client as
/// `10.0.0.5`.
fn address_key(address: IpAddr) -> String {
    address.to_canonical().to_string()
}

/// The columns of [`Failures`], as stored.
type FailuresRow = (i64, Option<i64>, Option<i64>);

fn failures_columns() -> (
    login_failures::failures,
    login_failures::window_start,
    login_failures::wait_until,
) {
    (
        login_failures::failures,
        login_failures::window_start,
        login_failures::wait_until,
    )
}

fn from_row((count, since, wait_until): FailuresRow) -> Failures {
    Failures {
        count: u32::try_from(count).unwrap_or(u32::MAX),
        since,
        wait_until,
    }
}

/// The failures counted against `subject`; none when it has no row.
pub fn failures(conn: &mut DbConnection, subject: Subject<'_>) -> QueryResult<Failures> {
    let row: Option<FailuresRow> = login_failures::table
        .find((subject.kind(), subject.key()))
        .select(failures_columns())
        .first(conn)
        .optional()?;
    Ok(row.map(from_row).unwrap_or_default())
}

/// Changes the failures of each subject, in one transaction, each row locked from its read to
/// its write. Rows are locked in the order given: callers name the account before the address,
/// so two transactions never wait for each other in a circle.
pub fn update_failures(
    conn: &mut DbConnection,
    subjects: &[Subject<'_>],
    mut change: impl FnMut(Subject<'_>, &mut Failures),
) -> QueryResult<()> {
    row_locking_transaction(conn, |conn| {
        for &subject in subjects {
            let id = (subject.kind(), subject.key());
            // A row to lock when there is none yet: an empty one, read as no failures.
            crate::on_backend!(&mut *conn, |inner| diesel::insert_into(login_failures::table)
                .values((
                    login_failures::kind.eq(id.0),
                    login_failures::subject.eq(&id.1),
                    login_failures::failures.eq(0),
                ))
                .on_conflict_do_nothing()
                .execute(inner))?;
            let locked = login_failures::table.find(id.clone()).select(failures_columns());
            let row: FailuresRow = match &mut *conn {
                #[cfg(feature = "postgres")]
                DbConnection::Pg(inner) => locked.for_update().get_result(inner)?,
                // BEGIN IMMEDIATE already holds the file's one write lock.
                #[cfg(feature = "sqlite")]
                DbConnection::Sqlite(inner) => locked.get_result(inner)?,
            };
            let mut failures = from_row(row);
            change(subject, &mut failures);
            diesel::update(login_failures::table.find(id))
                .set((
                    login_failures::failures.eq(i64::from(failures.count)),
                    login_failures::window_start.eq(failures.since),
                    login_failures::wait_until.eq(failures.wait_until),
                ))
                .execute(conn)?;
        }
        Ok(())
    })
}

/// A sign-in to `username` from `address` at `now`: the account's failures are forgotten and the
/// address is trusted for it from now on.
pub fn record_sign_in(conn: &mut DbConnection, username: &str, address: IpAddr, now: i64) -> QueryResult<()> {
    let (username, address) = (username_key(username), address_key(address));
    row_locking_transaction(conn, |conn| {
        diesel::delete(login_failures::table.find((ACCOUNT, &username))).execute(conn)?;
        crate::on_backend!(conn, |inner| diesel::insert_into(login_trust::table)
            .values((
                login_trust::username.eq(&username),
                login_trust::address.eq(&address),
                login_trust::trusted_at.eq(now),
            ))
            .on_conflict((login_trust::username, login_trust::address))
            .do_update()
            .set(login_trust::trusted_at.eq(now))
            .execute(inner))?;
        Ok(())
    })
}

/// When `address` last signed in to `username`, if it ever did (and was not swept since).
pub fn trusted_at(conn: &mut DbConnection, username: &str, address: IpAddr) -> QueryResult<Option<i64>> {
    login_trust::table
        .find((username_key(username), address_key(address)))
        .select(login_trust::trusted_at)
        .first(conn)
        .optional()
}

/// Forgets the failures whose run began before `runs_before` and whose wait is over at `now`,
/// and the trust given before `trust_before`. Returns how many rows went.
///
/// On PostgreSQL, rows another transaction holds are left for the next sweep (`SKIP LOCKED`):
/// a sweep that waited for them while holding rows of its own could close a circle with a
/// server counting a failure, and a login would fail.
pub fn sweep(conn: &mut DbConnection, now: i64, runs_before: i64, trust_before: i64) -> QueryResult<usize> {
    let (failures_sql, trust_sql) = match conn {
        #[cfg(feature = "postgres")]
        DbConnection::Pg(_) => (
            "DELETE FROM login_failures WHERE (kind, subject) IN (
                 SELECT kind, subject FROM login_failures
                 WHERE window_start < $1 AND (wait_until IS NULL OR wait_until <= $2)
                 FOR UPDATE SKIP LOCKED)",
            "DELETE FROM login_trust WHERE (username, address) IN (
                 SELECT username, address FROM login_trust WHERE trusted_at < $1
                 FOR UPDATE SKIP LOCKED)",
        ),
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(_) => (
            "DELETE FROM login_failures WHERE window_start < ? AND (wait_until IS NULL OR wait_until <= ?)",
            "DELETE FROM login_trust WHERE trusted_at < ?",
        ),
    };
    let failures = crate::on_backend!(&mut *conn, |inner| diesel::sql_query(failures_sql)
        .bind::<BigInt, _>(runs_before)
        .bind::<BigInt, _>(now)
        .execute(inner))?;
    let trust = crate::on_backend!(conn, |inner| diesel::sql_query(trust_sql)
        .bind::<BigInt, _>(trust_before)
        .execute(inner))?;
    Ok(failures + trust)
}
