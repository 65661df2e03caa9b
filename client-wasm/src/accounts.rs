//! Who signed in last on this tablet, so the app can open offline straight into their data.
//!
//! Only the user's public details and the server's base URL are kept here, never a token: the
//! access token lives in memory and the refresh token in its HttpOnly cookie.

use crate::error::Result;
use crate::store::{from_js, to_js};
use rexie::{ObjectStore, Rexie, TransactionMode};
use rollcall_shared::protocol::UserInfo;
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;

const DATABASE: &str = "rollcall-accounts";
const STORE: &str = "accounts";
const LAST: &str = "last";

/// The last signed-in user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub user: UserInfo,
    pub base_url: String,
}

async fn open() -> Result<Rexie> {
    Ok(Rexie::builder(DATABASE)
        .version(1)
        .add_object_store(ObjectStore::new(STORE))
        .build()
        .await?)
}

/// Remembers `session` as the one to resume.
pub async fn remember(session: &Session) -> Result<()> {
    let db = open().await?;
    let tx = db.transaction(&[STORE], TransactionMode::ReadWrite)?;
    tx.store(STORE)?
        .put(&to_js(session)?, Some(&JsValue::from_str(LAST)))
        .await?;
    tx.commit().await?;
    db.close();
    Ok(())
}

/// The session to resume, if someone signed in and did not sign out.
pub async fn last() -> Result<Option<Session>> {
    let db = open().await?;
    let tx = db.transaction(&[STORE], TransactionMode::ReadOnly)?;
    let value = tx.store(STORE)?.get(JsValue::from_str(LAST)).await?;
    drop(tx);
    db.close();
    match value {
        Some(value) if !value.is_undefined() => from_js(&value).map(Some),
        _ => Ok(None),
    }
}

/// Forgets the session to resume (sign out). The user's own database, and any marks still
/// queued in it, stay until that user signs in again.
pub async fn forget() -> Result<()> {
    let db = open().await?;
    let tx = db.transaction(&[STORE], TransactionMode::ReadWrite)?;
    tx.store(STORE)?.delete(JsValue::from_str(LAST)).await?;
    tx.commit().await?;
    db.close();
    Ok(())
}
