//! The tablet's durable state: one IndexedDB database per signed-in user.
//!
//! Stores (schema version [`SCHEMA_VERSION`]):
//! - `ops` — every op this device made, keyed by an auto-incremented `seq` (queue order). Each
//!   record carries its per-op status: `pending` ops have a `queued` property (the sparse `queue`
//!   index is the push queue), `rejected` ones a `rejected` property (the sparse `rejected` index
//!   is the rejected list); `reg` indexes them by register. A register's ops are forgotten a month
//!   on, once none is queued or on the rejected list ([`LocalStore::forget_settled_history`]).
//! - `registers` — per register: `server`, what the server is known to hold (pulled changes and
//!   acknowledged ops), and `local` = `server` merged with the pending ops, by `shared`'s merge.
//!   Invariant, kept by every write: `local == server ⊔ pending(reg)`.
//! - `roster` — the last downloaded roster, for offline use.
//! - `meta` — the device record (HLC node id, last HLC, clock offset), sync metadata (pull cursor,
//!   last successful sync) and the data version of the schema.
//!
//! Every write is one IndexedDB transaction that is aborted on any error, so nothing is ever
//! half-applied; a mark's op and the local state it changes are committed together.
//!
//! Records are stored as the JSON of their serde form. Changing a record struct changes what is
//! on every tablet: add optional fields, or bump [`SCHEMA_VERSION`] with a migration.

use crate::error::{ClientError, Result};
use crate::platform;
use crate::sorted::sorted_unique;
use rexie::{Index, KeyRange, ObjectStore, Rexie, Store, Transaction, TransactionMode};
use rollcall_shared::protocol::{PushResponse, Roster};
use rollcall_shared::{
    Change, ErrorCode, FieldChange, Hlc, HlcClock, MergeOutcome, NodeId, Op, OpId, RegisterKey, RegisterState,
    ValidationCode,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;

/// The IndexedDB version this code writes. Version 1 had no `reg` on ops (see [`upgrade_data`]).
pub const SCHEMA_VERSION: u32 = 2;

const OPS: &str = "ops";
const REGISTERS: &str = "registers";
const ROSTER: &str = "roster";
const META: &str = "meta";

const META_DEVICE: &str = "device";
const META_SYNC: &str = "sync";
const META_SCHEMA: &str = "schema";
const ROSTER_KEY: &str = "roster";

/// The object stores and indexes of a schema version. Version 1 is kept so the upgrade can be
/// tested against a real version-1 database.
pub fn schema(name: &str, version: u32) -> rexie::RexieBuilder {
    let mut ops = ObjectStore::new(OPS)
        .key_path("seq")
        .auto_increment(true)
        .add_index(Index::new("op_id", "op_id").unique(true))
        .add_index(Index::new("queue", "queued"))
        .add_index(Index::new("rejected", "rejected"));
    if version >= 2 {
        // Version 2: per-register lookups (the register view, recomputing `local`) by index
        // instead of a scan of every op ever made.
        ops = ops
            .add_index(Index::new("reg", "reg"))
            // Only pending ops have `queued`, so only they are in this index: rebuilding a
            // register's local state reads its pending ops, not its whole history.
            .add_index(Index::new_array("pending", ["reg", "queued"]));
    }
    Rexie::builder(name)
        .version(version)
        .add_object_store(ops)
        .add_object_store(ObjectStore::new(REGISTERS).key_path("reg"))
        .add_object_store(ObjectStore::new(ROSTER))
        .add_object_store(ObjectStore::new(META))
}

/// The database name of one user: a second teacher on the same tablet gets another database,
/// so they never see or push the first one's queue.
pub fn database_name(user_id: &str) -> String {
    format!("rollcall-user-{user_id}")
}

/// The text key of a register, `class|date|period`, sorting like [`RegisterKey`].
pub fn register_id(key: &RegisterKey) -> String {
    format!("{}|{}|{:02}", key.class_id, key.date, key.period)
}

/// The date in a [`register_id`].
fn register_date_of(reg: &str) -> Option<chrono::NaiveDate> {
    rollcall_shared::op::parse_date(reg.split('|').nth(1)?).ok()
}

/// How long, by register date, the ops of a settled register are kept (see
/// [`LocalStore::forget_settled_history`]): a month of "synced" and "superseded" marks to look back on.
pub const HISTORY_DAYS: u64 = 30;

const DAY_MS: f64 = 86_400_000.0;

/// Serializes a record the way it is stored: the JS value `JSON.parse` would make of its JSON
/// (maps as objects, `None` as `null`), so records written by earlier versions read back alike.
pub fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| ClientError::Storage(format!("cannot encode a record: {e}")))
}

/// Reads a stored record back.
pub fn from_js<T: DeserializeOwned>(value: &JsValue) -> Result<T> {
    serde_wasm_bindgen::from_value(value.clone())
        .map_err(|e| ClientError::Storage(format!("a stored record is damaged: {e}")))
}

/// A queued op as a push carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedOp {
    /// Its queue position.
    pub seq: f64,
    /// The op's JSON: the wire form stored when it was queued, and validated then.
    pub json: String,
}

/// Where an op stands, from this device's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub enum OpState {
    /// In the queue, not yet acknowledged by the server.
    Pending,
    /// The server stored it and it held the field when acknowledged (applied, or a duplicate).
    Synced,
    /// The server stored it, but a later write already held the field.
    Superseded,
    /// The server refused it (`code` says why). Kept, never resent.
    Rejected,
}

/// One op this device made, with its status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpRecord {
    /// Queue position, assigned by IndexedDB on insert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<f64>,
    pub op_id: OpId,
    pub op: Op,
    /// The register's text key (schema version 2; absent in version-1 records).
    #[serde(default)]
    pub reg: String,
    pub state: OpState,
    /// Present only while pending: what the `queue` index covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued: Option<u8>,
    /// Present only while rejected: what the `rejected` index covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<ErrorCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<ValidationCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The HLC the server stored it under (differs from the op's when the server re-stamped it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_hlc: Option<Hlc>,
    /// Device time of the server's answer, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<f64>,
}

impl OpRecord {
    fn pending(op: Op) -> OpRecord {
        OpRecord {
            seq: None,
            op_id: op.op_id,
            reg: register_id(&op.change.register),
            op,
            state: OpState::Pending,
            queued: Some(1),
            rejected: None,
            code: None,
            detail: None,
            message: None,
            stored_hlc: None,
            answered_at: None,
        }
    }

    /// The HLC that decides this op's fate in the merge: the server's stamp when it re-stamped it.
    pub fn effective_hlc(&self) -> Hlc {
        self.stored_hlc.unwrap_or(self.op.change.hlc)
    }
}

/// One register's known states.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisterRecord {
    pub reg: String,
    pub key: RegisterKey,
    /// What the server is known to hold.
    pub server: RegisterState,
    /// `server` merged with this device's pending ops: what the teacher sees.
    pub local: RegisterState,
}

impl RegisterRecord {
    fn empty(key: RegisterKey) -> RegisterRecord {
        RegisterRecord {
            reg: register_id(&key),
            key,
            server: RegisterState::default(),
            local: RegisterState::default(),
        }
    }
}

/// This device's identity and clock, per user database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    pub node: NodeId,
    /// The last HLC this device issued or received.
    pub last_hlc: Hlc,
    /// How far the device's wall clock runs ahead of the server's, as last reported (ms).
    #[serde(default)]
    pub clock_offset_ms: i64,
}

impl DeviceRecord {
    /// The wall time to stamp with: the device clock corrected by the server-reported offset.
    pub fn corrected_now(&self, device_now_ms: f64) -> u64 {
        (device_now_ms - self.clock_offset_ms as f64).max(0.0) as u64
    }
}

/// A measured offset smaller than this is taken as none: network latency alone explains it.
pub const OFFSET_DEADBAND_MS: i64 = 2_000;

/// What a server answer says about the server's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerClock {
    pub hlc: Hlc,
    pub time: chrono::DateTime<chrono::Utc>,
    /// The push answer's `clock_offset_ms`: set when the server found this device's stamps ahead.
    pub reported_offset_ms: Option<i64>,
}

impl ServerClock {
    /// The clock part of a push answer.
    pub fn of_push(response: &PushResponse) -> ServerClock {
        ServerClock {
            hlc: response.server_hlc,
            time: response.server_time,
            reported_offset_ms: response.clock_offset_ms,
        }
    }
}

/// Merges the server's HLC into the device clock and keeps the device's clock offset: the
/// server's report when it made one, otherwise this device's clock minus the server's time.
/// Measuring on every answer also un-learns an offset once the tablet's clock is fixed.
async fn observe_server_clock(meta: &Store, server: &ServerClock, device_now_ms: f64) -> Result<()> {
    let mut device = get_device(meta).await?;
    device.clock_offset_ms = server.reported_offset_ms.unwrap_or_else(|| {
        let measured = device_now_ms as i64 - server.time.timestamp_millis();
        if measured.abs() < OFFSET_DEADBAND_MS {
            0
        } else {
            measured
        }
    });
    let mut clock = HlcClock::resume(device.last_hlc);
    clock.receive(server.hlc, device.corrected_now(device_now_ms));
    device.last_hlc = clock.last();
    meta.put(&to_js(&device)?, Some(&key(META_DEVICE))).await?;
    Ok(())
}

/// Pull cursor and sync bookkeeping.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncRecord {
    #[serde(default)]
    pub cursor: Option<String>,
    /// Device time of the last fully successful sync, in ms.
    #[serde(default)]
    pub last_sync_at: Option<f64>,
    /// Device time the roster was last downloaded, in ms.
    #[serde(default)]
    pub roster_at: Option<f64>,
    /// Device time settled history was last forgotten (see [`LocalStore::forget_settled_history`]), in ms.
    #[serde(default)]
    pub history_forgotten_at: Option<f64>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct SchemaRecord {
    data_version: u32,
}

/// What one push answer did to the local state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushApplied {
    pub synced: u32,
    pub superseded: u32,
    pub rejected: u32,
    /// Ops the answer did not mention: they stay queued.
    pub unanswered: u32,
    /// Whether any op was re-stamped because this device's clock ran ahead.
    pub restamped: bool,
    /// The registers whose state changed: keys, sorted, without repeats.
    pub registers: Vec<String>,
}

/// Queue and rejected-list sizes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub pending: u32,
    pub rejected: u32,
}

/// What to change in a register, decided from its local state (see [`LocalStore::record`]).
pub(crate) type Plan<'a> = Box<dyn FnOnce(&RegisterState) -> Result<Vec<FieldChange>> + 'a>;

/// One user's database.
#[derive(Debug)]
pub struct LocalStore {
    db: Rexie,
}

fn key(text: &str) -> JsValue {
    JsValue::from_str(text)
}

/// The record stored under `id`, as its JS value.
async fn get_js(store: &Store, id: &str) -> Result<Option<JsValue>> {
    Ok(store.get(key(id)).await?.filter(|value| !value.is_undefined()))
}

async fn get<T: DeserializeOwned>(store: &Store, id: &str) -> Result<Option<T>> {
    get_js(store, id).await?.as_ref().map(from_js).transpose()
}

async fn get_device(meta: &Store) -> Result<DeviceRecord> {
    get(meta, META_DEVICE).await?.ok_or_else(missing_device)
}

/// `open` creates the device record, so only a damaged database lacks it.
fn missing_device() -> ClientError {
    ClientError::Storage("the device record is missing".into())
}

async fn get_register(store: &Store, key: RegisterKey) -> Result<RegisterRecord> {
    Ok(get(store, &register_id(&key))
        .await?
        .unwrap_or_else(|| RegisterRecord::empty(key)))
}

async fn ops_of_register(ops: &Store, reg: &str) -> Result<Vec<OpRecord>> {
    let range = KeyRange::only(&key(reg)).map_err(rexie::Error::from)?;
    ops.index("reg")?
        .get_all(Some(range), None)
        .await?
        .iter()
        .map(from_js)
        .collect()
}

/// The pending ops of one register, oldest first.
async fn pending_of_register(ops: &Store, reg: &str) -> Result<Vec<OpRecord>> {
    let index_key = js_sys::Array::of2(&key(reg), &JsValue::from(1));
    let range = KeyRange::only(&index_key).map_err(rexie::Error::from)?;
    ops.index("pending")?
        .get_all(Some(range), None)
        .await?
        .iter()
        .map(from_js)
        .collect()
}

impl LocalStore {
    /// Opens (creating or upgrading) a database at the current schema version.
    pub async fn open(name: &str) -> Result<LocalStore> {
        let db = schema(name, SCHEMA_VERSION).build().await?;
        let store = LocalStore { db };
        store.upgrade_data().await?;
        Ok(store)
    }

    /// Deletes a database (tests, and "forget this tablet's data").
    pub async fn delete(name: &str) -> Result<()> {
        Rexie::delete(name).await.map_err(Into::into)
    }

    /// Closes the connection.
    pub fn close(self) {
        self.db.close();
    }

    /// The IndexedDB version of the open database.
    pub fn version(&self) -> Result<u32> {
        self.db.version().map_err(Into::into)
    }

    /// Runs `body` in one read-write transaction over `stores`: committed when it succeeds,
    /// aborted when it fails, so that nothing is half-applied.
    async fn write<T>(&self, stores: &[&str], body: impl AsyncFnOnce(&Transaction) -> Result<T>) -> Result<T> {
        let tx = self.db.transaction(stores, TransactionMode::ReadWrite)?;
        match body(&tx).await {
            Ok(value) => {
                tx.commit().await?;
                Ok(value)
            }
            Err(error) => {
                let _ = tx.abort().await;
                Err(error)
            }
        }
    }

    fn read(&self, stores: &[&str]) -> Result<Transaction> {
        Ok(self.db.transaction(stores, TransactionMode::ReadOnly)?)
    }

    /// Brings the records up to the current schema and makes sure the device has an identity.
    ///
    /// IndexedDB's upgrade step creates stores and indexes; data changes run here, in one
    /// transaction with the new data version, so an interrupted upgrade simply runs again.
    /// - version 1 → 2: ops gain `reg`, which feeds the new `reg` index.
    async fn upgrade_data(&self) -> Result<()> {
        self.write(&[OPS, META], async |tx| {
            let ops = tx.store(OPS)?;
            let meta = tx.store(META)?;
            let data_version = get::<SchemaRecord>(&meta, META_SCHEMA)
                .await?
                .map_or(1, |record| record.data_version);
            if data_version < 2 {
                for value in ops.get_all(None, None).await? {
                    let mut record: OpRecord = from_js(&value)?;
                    if record.reg.is_empty() {
                        record.reg = register_id(&record.op.change.register);
                        ops.put(&to_js(&record)?, None).await?;
                    }
                }
            }
            if data_version != SCHEMA_VERSION {
                let schema = SchemaRecord {
                    data_version: SCHEMA_VERSION,
                };
                meta.put(&to_js(&schema)?, Some(&key(META_SCHEMA))).await?;
            }
            if get::<DeviceRecord>(&meta, META_DEVICE).await?.is_none() {
                let node = platform::new_node_id()?;
                let device = DeviceRecord {
                    node,
                    last_hlc: Hlc::zero(node),
                    clock_offset_ms: 0,
                };
                meta.put(&to_js(&device)?, Some(&key(META_DEVICE))).await?;
            }
            Ok(())
        })
        .await
    }

    /// Durably records changes to one register: each becomes an op stamped with the device HLC,
    /// queued, and merged into the register's local state, all in ONE transaction that has
    /// committed when this returns.
    ///
    /// `plan` sees the register's current local state inside the transaction (so a concurrent
    /// tab cannot slip in between) and says what to change; it may return nothing. The engine
    /// passes a boxed [`Plan`], so the module holds one copy of this future for every kind of mark.
    pub async fn record(
        &self,
        register: RegisterKey,
        device_now_ms: f64,
        plan: impl FnOnce(&RegisterState) -> Result<Vec<FieldChange>>,
    ) -> Result<Vec<Op>> {
        let device_time = chrono::DateTime::from_timestamp_millis(device_now_ms as i64)
            .ok_or_else(|| ClientError::BadArgument("the device clock is not a valid time".into()))?;
        self.write(&[OPS, REGISTERS, META], async |tx| {
            let ops = tx.store(OPS)?;
            let registers = tx.store(REGISTERS)?;
            let meta = tx.store(META)?;
            let (device, record) = platform::join2(
                get::<DeviceRecord>(&meta, META_DEVICE),
                get_register(&registers, register),
            )
            .await;
            let mut device = device?.ok_or_else(missing_device)?;
            let mut record = record?;
            let changes = plan(&record.local)?;
            if changes.is_empty() {
                return Ok(Vec::new());
            }
            let mut clock = HlcClock::resume(device.last_hlc);
            let now = device.corrected_now(device_now_ms);
            let mut made = Vec::with_capacity(changes.len());
            let mut queued = Vec::with_capacity(changes.len());
            for change in changes {
                let hlc = clock.send(now);
                let op = Op {
                    op_id: platform::new_op_id()?,
                    device_time,
                    change: Change { register, change, hlc },
                };
                record.local.apply(op.change.change.clone(), hlc);
                queued.push((to_js(&OpRecord::pending(op.clone()))?, None));
                made.push(op);
            }
            device.last_hlc = clock.last();
            let (record, device) = (to_js(&record)?, to_js(&device)?);
            let device_key = key(META_DEVICE);
            // All writes go out at once; a failing one aborts the transaction, which `write` reports.
            let (added, (register_put, device_put)) = platform::join2(
                ops.add_all(queued.into_iter()),
                platform::join2(registers.put(&record, None), meta.put(&device, Some(&device_key))),
            )
            .await;
            added?;
            register_put?;
            device_put?;
            Ok(made)
        })
        .await
    }

    /// The oldest pending ops, in queue order: at most `max_ops`, and no more than `max_bytes`
    /// of JSON (a batch of long notes must stay under the server's body limit).
    ///
    /// The stored `op` is the op's wire form, written by [`LocalStore::record`] from an op that
    /// `shared` had validated: its JSON goes into the push as it is, not read back into an [`Op`].
    pub async fn next_batch(&self, max_ops: u32, max_bytes: usize) -> Result<Vec<QueuedOp>> {
        let tx = self.read(&[OPS])?;
        let values = tx.store(OPS)?.index("queue")?.get_all(None, Some(max_ops)).await?;
        let mut batch = Vec::with_capacity(values.len());
        let mut bytes = 0;
        for value in &values {
            let field = |name: &str| js_sys::Reflect::get(value, &key(name)).unwrap_or(JsValue::UNDEFINED);
            let json = js_sys::JSON::stringify(&field("op"))
                .ok()
                .and_then(|json| json.as_string());
            let (Some(seq), Some(json)) = (field("seq").as_f64(), json) else {
                return Err(ClientError::Storage("a queued op is damaged".into()));
            };
            bytes += json.len() + 1;
            if bytes > max_bytes && !batch.is_empty() {
                break;
            }
            batch.push(QueuedOp { seq, json });
        }
        Ok(batch)
    }

    /// Applies the server's answer to a pushed batch, in one transaction: each answered op leaves
    /// the queue (synced, superseded, or rejected and kept with its code); the server state learns
    /// the stored ops; `local` is rebuilt; the clock merges the server's HLC and keeps the offset.
    pub async fn apply_push(
        &self,
        batch: &[QueuedOp],
        response: &PushResponse,
        device_now_ms: f64,
    ) -> Result<PushApplied> {
        use rollcall_shared::protocol::Outcome;
        let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
            return Ok(PushApplied::default());
        };
        let (first, last) = (first.seq, last.seq);
        self.write(&[OPS, REGISTERS, META], async |tx| {
            let ops = tx.store(OPS)?;
            let registers = tx.store(REGISTERS)?;
            let meta = tx.store(META)?;
            // The batch's records as they are now, in one request: a batch is a run of the queue,
            // and under the sync lock no other tab answers them meanwhile (checked anyway).
            let range =
                KeyRange::bound(&JsValue::from(first), &JsValue::from(last), None, None).map_err(rexie::Error::from)?;
            // Plain vectors searched linearly rather than maps: a batch is at most a few hundred
            // ops, and every map type costs the wasm module kilobytes of its own code.
            let mut current: Vec<OpRecord> = Vec::new();
            for value in ops.get_all(Some(range), None).await? {
                let record: OpRecord = from_js(&value)?;
                if record.state == OpState::Pending {
                    current.push(record);
                }
            }
            let mut applied = PushApplied::default();
            // The registers the answered ops belong to, read all at once.
            let keys = sorted_unique(
                response
                    .results
                    .iter()
                    .filter_map(|result| current.iter().find(|record| record.op_id == result.op_id))
                    .map(|record| record.op.change.register),
            );
            let mut touched: Vec<RegisterRecord> = Vec::with_capacity(keys.len());
            for register in platform::join_all(keys.iter().map(|key| get_register(&registers, *key))).await {
                touched.push(register?);
            }
            let mut answered = Vec::with_capacity(response.results.len());
            for result in &response.results {
                let Some(index) = current.iter().position(|record| record.op_id == result.op_id) else {
                    continue;
                };
                let mut record = current.swap_remove(index);
                record.queued = None;
                record.answered_at = Some(device_now_ms);
                // A duplicate whose first receipt was refused carries the refusal's code: it
                // is a rejected op, and must not pass for a stored one.
                let refused = result.outcome == Outcome::Rejected
                    || (result.outcome == Outcome::Duplicate && result.code.is_some());
                if refused {
                    record.state = OpState::Rejected;
                    record.rejected = Some(1);
                    record.code = result.code;
                    record.detail = result.detail;
                    record.message = result.message.clone();
                    applied.rejected += 1;
                } else {
                    record.state = if result.outcome == Outcome::Superseded {
                        applied.superseded += 1;
                        OpState::Superseded
                    } else {
                        applied.synced += 1;
                        OpState::Synced
                    };
                    record.stored_hlc = result.restamped_hlc;
                    applied.restamped |= result.restamped_hlc.is_some();
                    if let Some(register) = touched.iter_mut().find(|register| register.reg == record.reg) {
                        register
                            .server
                            .apply(record.op.change.change.clone(), record.effective_hlc());
                    }
                }
                answered.push((to_js(&record)?, None));
            }
            applied.unanswered = current.len() as u32;
            ops.put_all(answered.into_iter()).await?;
            // `local` = `server` ⊔ what is still pending (the answered ops no longer are).
            let still_pending =
                platform::join_all(touched.iter().map(|register| pending_of_register(&ops, &register.reg))).await;
            let mut rebuilt = Vec::with_capacity(touched.len());
            for (mut register, pending) in touched.into_iter().zip(still_pending) {
                let mut local = register.server.clone();
                for op in pending? {
                    local.apply(op.op.change.change, op.op.change.hlc);
                }
                register.local = local;
                rebuilt.push((to_js(&register)?, None));
                // In key order, and `register_id` sorts like the key: the list stays sorted.
                applied.registers.push(register.reg);
            }
            registers.put_all(rebuilt.into_iter()).await?;
            observe_server_clock(&meta, &ServerClock::of_push(response), device_now_ms).await?;
            Ok(applied)
        })
        .await
    }

    /// After a clock correction, once nothing stamped with the old clock waits in the queue:
    /// restart the device clock from the server's HLC, so that the tablet stops stamping ahead.
    /// (While old ahead-stamped ops are queued this must not happen, or a newer tap could sort
    /// before an older one of the same device.)
    pub async fn reset_clock_to(&self, server_hlc: Hlc) -> Result<bool> {
        self.write(&[OPS, META], async |tx| {
            let queued = tx.store(OPS)?.index("queue")?.count(None).await?;
            if queued > 0 {
                return Ok(false);
            }
            let meta = tx.store(META)?;
            let mut device = get_device(&meta).await?;
            device.last_hlc = Hlc {
                node: device.node,
                ..server_hlc
            };
            meta.put(&to_js(&device)?, Some(&key(META_DEVICE))).await?;
            Ok(true)
        })
        .await
    }

    /// Applies one pulled page: every change merges into both the server state and the local
    /// state of its register (merge is commutative, so `local == server ⊔ pending` still holds),
    /// and the cursor moves on in the same transaction, so a page is applied exactly once.
    pub async fn apply_pull(
        &self,
        changes: &[Change],
        cursor: &str,
        server: &ServerClock,
        device_now_ms: f64,
    ) -> Result<Vec<String>> {
        self.write(&[REGISTERS, META], async |tx| {
            let registers = tx.store(REGISTERS)?;
            let meta = tx.store(META)?;
            // Merge is commutative: group the page by register, one read and one write each.
            let keys = sorted_unique(changes.iter().map(|change| change.register));
            let records = platform::join_all(keys.iter().map(|key| get_register(&registers, *key))).await;
            let mut touched = Vec::with_capacity(keys.len());
            let mut updated = Vec::with_capacity(keys.len());
            for (record, key) in records.into_iter().zip(&keys) {
                let mut record = record?;
                let mut changed = false;
                for change in changes.iter().filter(|change| change.register == *key) {
                    changed |= record.server.apply(change.change.clone(), change.hlc) == MergeOutcome::Applied;
                    changed |= record.local.apply(change.change.clone(), change.hlc) == MergeOutcome::Applied;
                }
                touched.push(record.reg.clone());
                // The page after this tablet's own push holds its acknowledged ops, which the
                // register already has: nothing to write then.
                if changed {
                    updated.push((to_js(&record)?, None));
                }
            }
            registers.put_all(updated.into_iter()).await?;
            let mut sync = get::<SyncRecord>(&meta, META_SYNC).await?.unwrap_or_default();
            sync.cursor = Some(cursor.to_owned());
            meta.put(&to_js(&sync)?, Some(&key(META_SYNC))).await?;
            observe_server_clock(&meta, server, device_now_ms).await?;
            Ok(touched)
        })
        .await
    }

    /// One register's record and this device's ops for it, read together.
    pub async fn register(&self, register: RegisterKey) -> Result<(RegisterRecord, Vec<OpRecord>)> {
        let tx = self.read(&[OPS, REGISTERS])?;
        let record = get_register(&tx.store(REGISTERS)?, register).await?;
        let ops = ops_of_register(&tx.store(OPS)?, &record.reg).await?;
        Ok((record, ops))
    }

    /// Several registers at once (a day's overview).
    pub async fn registers(&self, keys: &[RegisterKey]) -> Result<Vec<(RegisterRecord, Vec<OpRecord>)>> {
        let tx = self.read(&[OPS, REGISTERS])?;
        let (registers, ops) = (tx.store(REGISTERS)?, tx.store(OPS)?);
        let ids: Vec<String> = keys.iter().map(register_id).collect();
        let (records, histories) = platform::join2(
            platform::join_all(keys.iter().map(|key| get_register(&registers, *key))),
            platform::join_all(ids.iter().map(|reg| ops_of_register(&ops, reg))),
        )
        .await;
        records
            .into_iter()
            .zip(histories)
            .map(|(record, history)| Ok((record?, history?)))
            .collect()
    }

    /// Queue and rejected-list sizes.
    pub async fn counts(&self) -> Result<Counts> {
        let tx = self.read(&[OPS])?;
        let ops = tx.store(OPS)?;
        Ok(Counts {
            pending: ops.index("queue")?.count(None).await?,
            rejected: ops.index("rejected")?.count(None).await?,
        })
    }

    /// Every pending op, in queue order.
    pub async fn pending(&self) -> Result<Vec<OpRecord>> {
        let tx = self.read(&[OPS])?;
        let values = tx.store(OPS)?.index("queue")?.get_all(None, None).await?;
        values.iter().map(from_js).collect()
    }

    /// The rejected list, oldest first.
    pub async fn rejected(&self) -> Result<Vec<OpRecord>> {
        let tx = self.read(&[OPS])?;
        let values = tx.store(OPS)?.index("rejected")?.get_all(None, None).await?;
        values.iter().map(from_js).collect()
    }

    /// Takes a rejected op off the rejected list once the teacher has dealt with it. The op
    /// stays in the store as history. Returns whether it was on the list.
    pub async fn dismiss_rejected(&self, op_id: OpId) -> Result<bool> {
        self.write(&[OPS], async |tx| {
            let ops = tx.store(OPS)?;
            let Some(value) = ops.index("op_id")?.get(key(&op_id.to_string())).await? else {
                return Ok(false);
            };
            let mut record: OpRecord = from_js(&value)?;
            if record.rejected.is_none() {
                return Ok(false);
            }
            record.rejected = None;
            ops.put(&to_js(&record)?, None).await?;
            Ok(true)
        })
        .await
    }

    /// The device record.
    pub async fn device(&self) -> Result<DeviceRecord> {
        let tx = self.read(&[META])?;
        get_device(&tx.store(META)?).await
    }

    /// The sync bookkeeping.
    pub async fn sync_record(&self) -> Result<SyncRecord> {
        let tx = self.read(&[META])?;
        Ok(get(&tx.store(META)?, META_SYNC).await?.unwrap_or_default())
    }

    /// Records a fully successful sync.
    pub async fn synced_at(&self, device_now_ms: f64) -> Result<()> {
        self.write(&[META], async |tx| {
            let meta = tx.store(META)?;
            let mut sync = get::<SyncRecord>(&meta, META_SYNC).await?.unwrap_or_default();
            sync.last_sync_at = Some(device_now_ms);
            meta.put(&to_js(&sync)?, Some(&key(META_SYNC))).await?;
            Ok(())
        })
        .await
    }

    /// Forgets the ops of registers dated [`HISTORY_DAYS`] or more before today (by the corrected
    /// device clock) that are settled: none is pending and none is on the rejected list. Every op on the tablet
    /// stays in the store until then, so without this the store grows by every tap, for good.
    ///
    /// Nothing the teacher can see is lost: the marks are in the register's state, which is what the
    /// server holds, and with no op left the view shows them as synced, which they are. Registers with
    /// an op in the queue or on the rejected list keep their whole history until they settle.
    ///
    /// Runs at most once a day (it reads every old register's ops). Returns how many ops it deleted.
    pub async fn forget_settled_history(&self, device_now_ms: f64) -> Result<u32> {
        // Checked in a read first: most syncs stop here, and must not hold up marks meanwhile.
        let done_today = |sync: &SyncRecord| {
            sync.history_forgotten_at
                .is_some_and(|at| (device_now_ms - at).abs() < DAY_MS)
        };
        if done_today(&self.sync_record().await?) {
            return Ok(0);
        }
        self.write(&[OPS, REGISTERS, META], async |tx| {
            let meta = tx.store(META)?;
            let mut sync = get::<SyncRecord>(&meta, META_SYNC).await?.unwrap_or_default();
            // Another tab may have done it since the check.
            if done_today(&sync) {
                return Ok(0);
            }
            let device = get_device(&meta).await?;
            let today = chrono::DateTime::from_timestamp_millis(device.corrected_now(device_now_ms) as i64)
                .map(|now| now.date_naive())
                .ok_or_else(|| ClientError::Storage("the device clock is out of range".into()))?;
            let oldest_kept = today - chrono::Days::new(HISTORY_DAYS);
            let ops = tx.store(OPS)?;
            let mut forgotten = 0;
            for reg in tx.store(REGISTERS)?.get_all_keys(None, None).await? {
                let Some(reg) = reg.as_string() else { continue };
                let old_enough = register_date_of(&reg).is_some_and(|date| date < oldest_kept);
                if !old_enough {
                    continue;
                }
                let history = ops_of_register(&ops, &reg).await?;
                if history.iter().any(|op| op.queued.is_some() || op.rejected.is_some()) {
                    continue;
                }
                for seq in history.iter().filter_map(|op| op.seq) {
                    ops.delete(JsValue::from(seq)).await?;
                    forgotten += 1;
                }
            }
            sync.history_forgotten_at = Some(device_now_ms);
            meta.put(&to_js(&sync)?, Some(&key(META_SYNC))).await?;
            Ok(forgotten)
        })
        .await
    }

    /// The cached roster, if it was ever downloaded.
    pub async fn roster(&self) -> Result<Option<Roster>> {
        self.roster_js().await?.as_ref().map(from_js).transpose()
    }

    /// The cached roster as stored: the JS value of the server's JSON.
    pub async fn roster_js(&self) -> Result<Option<JsValue>> {
        let tx = self.read(&[ROSTER])?;
        get_js(&tx.store(ROSTER)?, ROSTER_KEY).await
    }

    /// Replaces the cached roster with `roster`, the JS value of a [`Roster`]'s JSON (as the
    /// server sends it).
    pub async fn save_roster(&self, roster: &JsValue, device_now_ms: f64) -> Result<()> {
        self.write(&[ROSTER, META], async |tx| {
            tx.store(ROSTER)?.put(roster, Some(&key(ROSTER_KEY))).await?;
            let meta = tx.store(META)?;
            let mut sync = get::<SyncRecord>(&meta, META_SYNC).await?.unwrap_or_default();
            sync.roster_at = Some(device_now_ms);
            meta.put(&to_js(&sync)?, Some(&key(META_SYNC))).await?;
            Ok(())
        })
        .await
    }
}
