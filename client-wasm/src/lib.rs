//! Rollcall's tablet engine, compiled to wasm32 and called by the PWA in `www/`.
//!
//! It keeps every mark durable in IndexedDB the moment it is tapped (one database per signed-in
//! user), shows registers as the server's state merged with the tablet's pending ops, and syncs
//! with the server (push in batches, pull by cursor) on its own triggers with backoff, one tab at
//! a time. Every rule — validation, the hybrid logical clock, the per-field LWW merge — comes
//! from `rollcall-shared`; this crate must not re-implement one. It does no rendering: the UI
//! reads [`Rollcall::register`], [`Rollcall::status`] and subscribes to change events.
//!
//! JS entry points: `Rollcall.signIn`, `Rollcall.resume`; everything else is a method of the
//! returned client. Types are in the generated `.d.ts` (see the custom section below).

pub mod accounts;
pub mod api;
pub mod engine;
pub mod error;
pub mod platform;
pub mod schedule;
pub mod sorted;
pub mod store;
#[cfg(feature = "typescript")]
pub mod typescript;
pub mod view;

use crate::api::Api;
use crate::engine::{Engine, Options};
use crate::error::{ClientError, Result};
use crate::store::{OpRecord, from_js, to_js};
use js_sys::{Function, Promise};
use rollcall_shared::op::{parse_date, parse_register, parse_status};
use rollcall_shared::{ClassId, FieldChange, OpId, RegisterKey, StudentId, WireValue};
use serde::Serialize;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

pub use crate::engine::SyncReport;
pub use crate::error::ClientError as Error;

/// Talc instead of Rust's default wasm allocator (dlmalloc): every byte of the module crosses
/// the school's Wi-Fi, and talc's code is 3.8 KB smaller (1.7 KB gzipped as served). `mark()` and
/// sync timings did not change measurably. The module runs single-threaded (no `atomics`), which
/// this allocator requires.
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static GLOBAL_ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

/// The records this module hands to JS, declared for the generated `.d.ts`. The file is written
/// from the Rust types by `tests/generated.rs`; wasm-bindgen moves it into the `.d.ts` and keeps
/// none of it in the module.
#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = include_str!("../rollcall-types.d.ts");

/// An op as the JS side sees it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub(crate) struct OpInfo {
    op_id: OpId,
    class_id: ClassId,
    #[serde(with = "rollcall_shared::wire_time::date")]
    #[cfg_attr(feature = "typescript", ts(type = "string"))]
    date: chrono::NaiveDate,
    period: u8,
    student_id: Option<StudentId>,
    field: rollcall_shared::Field,
    value: WireValue,
    hlc: String,
    state: store::OpState,
    code: Option<rollcall_shared::ErrorCode>,
    detail: Option<rollcall_shared::ValidationCode>,
    message: Option<String>,
    answered_at: Option<f64>,
}

impl From<&OpRecord> for OpInfo {
    fn from(record: &OpRecord) -> Self {
        let change = &record.op.change;
        OpInfo {
            op_id: record.op_id,
            class_id: change.register.class_id,
            date: change.register.date,
            period: change.register.period,
            student_id: change.change.student_id(),
            field: change.change.field(),
            value: change.change.wire_value(),
            hlc: change.hlc.to_string(),
            state: record.state,
            code: record.code,
            detail: record.detail,
            message: record.message.clone(),
            answered_at: record.answered_at,
        }
    }
}

/// Runs an async step as a JS promise; a `ClientError` rejects it with a coded JS `Error`.
fn promise<T: Serialize>(work: impl Future<Output = Result<T>> + 'static) -> Promise {
    js_promise(Box::pin(async move { to_js(&work.await?) }))
}

/// One `future_to_promise` for every method: its task machinery is then compiled once, not
/// once per method's future type.
fn js_promise(work: Pin<Box<dyn Future<Output = Result<JsValue>>>>) -> Promise {
    future_to_promise(async move { work.await.map_err(Into::into) })
}

/// A string argument from JS. wasm-bindgen trusts a `String` parameter to be a string: a number or
/// `undefined` there traps inside the module ("memory access out of bounds") instead of failing
/// with a code. So the API takes strings as `JsValue`s (typed `string` in the `.d.ts`) and checks
/// them here.
fn text(value: &JsValue, name: &str) -> Result<String> {
    value
        .as_string()
        .ok_or_else(|| ClientError::BadArgument(format!("{name} must be a string")))
}

fn bad_argument(what: &str, text: &str) -> ClientError {
    ClientError::BadArgument(format!(
        "{what} {} is not a valid id",
        rollcall_shared::text::quote(text)
    ))
}

/// Parses a register's parts with `shared`'s rules.
fn register_key(class_id: &JsValue, date: &JsValue, period: f64) -> Result<RegisterKey> {
    let class_id = text(class_id, "classId")?;
    let class_id: ClassId = class_id.parse().map_err(|_| bad_argument("class", &class_id))?;
    let date = text(date, "date")?;
    if period.fract() != 0.0 {
        // (Not formatted with the number: f64 formatting alone costs 14 KB of wasm.)
        return Err(ClientError::BadArgument("a period is a whole number".into()));
    }
    Ok(parse_register(class_id, &date, period as i64)?)
}

fn student_id(value: &JsValue) -> Result<StudentId> {
    let id = text(value, "studentId")?;
    id.parse().map_err(|_| bad_argument("student", &id))
}

/// Builds a per-student change with `shared`'s validation (status names, minutes range, note length).
fn student_change(student: StudentId, field: &str, value: WireValue) -> Result<FieldChange> {
    Ok(FieldChange::parse(Some(student), field, &value)?)
}

fn options(value: Option<JsValue>) -> Result<Options> {
    match value {
        Some(value) if !value.is_undefined() && !value.is_null() => {
            from_js(&value).map_err(|e| ClientError::BadArgument(format!("options: {e}")))
        }
        _ => Ok(Options::default()),
    }
}

/// The Rollcall client of one signed-in user: their marks, registers, queue and sync status.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Rollcall {
    engine: Rc<Engine>,
}

impl Rollcall {
    /// The engine, for Rust callers (tests).
    pub fn engine(&self) -> &Rc<Engine> {
        &self.engine
    }

    /// Records changes to one register and answers with the first op's id.
    fn change_one(&self, register: RegisterKey, change: Result<FieldChange>) -> Promise {
        let engine = self.engine.clone();
        promise(async move {
            let change = change?;
            let ops = engine.change(register, move |_| Ok(vec![change])).await?;
            Ok(ops.first().map(|op| op.op_id))
        })
    }

    /// Signs in (Rust form of `Rollcall.signIn`).
    pub async fn sign_in_with(base_url: &str, username: &str, password: &str, options: Options) -> Result<Rollcall> {
        let api = Api::new(base_url);
        api.set_timeout_ms(f64::from(options.request_timeout_ms.max(1)));
        let user = api.login(username, password).await?;
        accounts::remember(&accounts::Session {
            user: user.clone(),
            base_url: base_url.to_owned(),
        })
        .await?;
        let engine = Engine::open(api, user, options).await?;
        // The roster makes the registers; if it cannot come now, the first sync fetches it.
        let _ = engine.refresh_roster().await;
        Ok(Rollcall { engine })
    }

    /// Resumes the last signed-in user (Rust form of `Rollcall.resume`).
    pub async fn resume_with(base_url: &str, options: Options) -> Result<Option<Rollcall>> {
        let Some(session) = accounts::last().await? else {
            return Ok(None);
        };
        let api = Api::for_user(base_url, session.user.id);
        let engine = Engine::open(api, session.user, options).await?;
        Ok(Some(Rollcall { engine }))
    }
}

#[wasm_bindgen]
impl Rollcall {
    /// Signs in against the server at `baseUrl` ("" for this page's origin) and opens the
    /// user's own database. Rejects with `code` "INVALID_CREDENTIALS" for a wrong password and
    /// "OFFLINE" when the server cannot be reached.
    #[wasm_bindgen(js_name = signIn, unchecked_return_type = "Promise<Rollcall>")]
    pub fn sign_in(
        #[wasm_bindgen(js_name = baseUrl, unchecked_param_type = "string")] base_url: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] username: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] password: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "Partial<RollcallOptions>")] options: Option<JsValue>,
    ) -> Promise {
        js_promise(Box::pin(async move {
            let (base_url, username) = (text(&base_url, "baseUrl")?, text(&username, "username")?);
            let password = text(&password, "password")?;
            let options = self::options(options)?;
            let client = Rollcall::sign_in_with(&base_url, &username, &password, options).await?;
            Ok(client.into())
        }))
    }

    /// Resumes the last signed-in user with no network needed: resolves to `null` when nobody
    /// is signed in. The session is renewed (refresh cookie) on the first sync.
    #[wasm_bindgen(unchecked_return_type = "Promise<Rollcall | null>")]
    pub fn resume(
        #[wasm_bindgen(js_name = baseUrl, unchecked_param_type = "string")] base_url: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "Partial<RollcallOptions>")] options: Option<JsValue>,
    ) -> Promise {
        js_promise(Box::pin(async move {
            let base_url = text(&base_url, "baseUrl")?;
            let options = self::options(options)?;
            Ok(match Rollcall::resume_with(&base_url, options).await? {
                Some(client) => client.into(),
                None => JsValue::NULL,
            })
        }))
    }

    /// The signed-in user.
    #[wasm_bindgen(getter, unchecked_return_type = "UserInfo")]
    pub fn user(&self) -> JsValue {
        to_js(&self.engine.user).unwrap_or(JsValue::NULL)
    }

    /// Signs out: ends the server session, forgets who to resume and stops syncing. Marks still
    /// queued stay in this user's database and are sent when they sign in again.
    #[wasm_bindgen(js_name = signOut, unchecked_return_type = "Promise<void>")]
    pub fn sign_out(&self) -> Promise {
        let engine = self.engine.clone();
        js_promise(Box::pin(async move {
            engine.close();
            // Offline sign-out still signs out on this tablet; the server session expires.
            let _ = engine.api.logout().await;
            accounts::forget().await?;
            Ok(JsValue::UNDEFINED)
        }))
    }

    /// After `status().signInRequired`: signs the same user in again and resumes syncing.
    #[wasm_bindgen(js_name = signInAgain, unchecked_return_type = "Promise<void>")]
    pub fn sign_in_again(&self, #[wasm_bindgen(unchecked_param_type = "string")] password: JsValue) -> Promise {
        let engine = self.engine.clone();
        js_promise(Box::pin(async move {
            engine.sign_in_again(&text(&password, "password")?).await?;
            Ok(JsValue::UNDEFINED)
        }))
    }

    /// Stops timers and listeners without signing out (e.g. before dropping the client).
    pub fn close(&self) {
        self.engine.close();
    }

    /// The cached roster (works offline). Rejects with "NO_ROSTER" before the first download.
    #[wasm_bindgen(unchecked_return_type = "Promise<Roster>")]
    pub fn roster(&self) -> Promise {
        let engine = self.engine.clone();
        js_promise(Box::pin(async move { engine.roster_js().await }))
    }

    /// Downloads the roster again and caches it.
    #[wasm_bindgen(js_name = refreshRoster, unchecked_return_type = "Promise<Roster>")]
    pub fn refresh_roster(&self) -> Promise {
        let engine = self.engine.clone();
        js_promise(Box::pin(async move { engine.refresh_roster().await }))
    }

    /// The user's registers on `date` (YYYY-MM-DD): each class they teach in each period.
    #[wasm_bindgen(js_name = registersOn, unchecked_return_type = "Promise<RegisterSummary[]>")]
    pub fn registers_on(&self, #[wasm_bindgen(unchecked_param_type = "string")] date: JsValue) -> Promise {
        let engine = self.engine.clone();
        promise(async move {
            let date = parse_date(&text(&date, "date")?)?;
            engine.registers_on(date).await
        })
    }

    /// One register: the server's state merged with this tablet's pending marks, and each
    /// student's sync state.
    #[wasm_bindgen(unchecked_return_type = "Promise<RegisterView>")]
    pub fn register(
        &self,
        #[wasm_bindgen(js_name = classId, unchecked_param_type = "string")] class_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] date: JsValue,
        period: f64,
    ) -> Promise {
        let engine = self.engine.clone();
        promise(async move { engine.register_view(register_key(&class_id, &date, period)?).await })
    }

    /// Sets a student's status. Resolves with the op id once the mark is durable on the tablet.
    /// A student who stops being late loses their minutes late in the same step.
    #[wasm_bindgen(unchecked_return_type = "Promise<string>")]
    pub fn mark(
        &self,
        #[wasm_bindgen(js_name = classId, unchecked_param_type = "string")] class_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] date: JsValue,
        period: f64,
        #[wasm_bindgen(js_name = studentId, unchecked_param_type = "string")] student: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Status")] status: JsValue,
    ) -> Promise {
        let engine = self.engine.clone();
        promise(async move {
            let register = register_key(&class_id, &date, period)?;
            let student = student_id(&student)?;
            let status = parse_status(&text(&status, "status")?)?;
            let ops = engine
                .change(register, move |local| {
                    Ok(view::status_changes(local.marks.get(&student), student, status))
                })
                .await?;
            Ok(ops.first().map(|op| op.op_id))
        })
    }

    /// Sets or clears (`null`) a student's minutes late (0–600).
    #[wasm_bindgen(js_name = setMinutesLate, unchecked_return_type = "Promise<string>")]
    pub fn set_minutes_late(
        &self,
        #[wasm_bindgen(js_name = classId, unchecked_param_type = "string")] class_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] date: JsValue,
        period: f64,
        #[wasm_bindgen(js_name = studentId, unchecked_param_type = "string")] student: JsValue,
        minutes: Option<f64>,
    ) -> Promise {
        let register = register_key(&class_id, &date, period);
        let change = student_id(&student).and_then(|student| {
            // Whole numbers travel as integers so that `shared` checks the range, not the type.
            let value = match minutes {
                None => WireValue::Null,
                Some(m) if m.fract() == 0.0 && m.abs() < 1e15 => WireValue::Whole(m as i64),
                Some(m) => WireValue::Fraction(m),
            };
            student_change(student, "minutes_late", value)
        });
        match register {
            Ok(register) => self.change_one(register, change),
            Err(error) => Promise::reject(&error.into()),
        }
    }

    /// Sets a student's note ("" clears it). Its limit is `MAX_NOTE_CHARS` of `js/rules.js`, in characters
    /// as the server counts them (code points).
    #[wasm_bindgen(js_name = setNote, unchecked_return_type = "Promise<string>")]
    pub fn set_note(
        &self,
        #[wasm_bindgen(js_name = classId, unchecked_param_type = "string")] class_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] date: JsValue,
        period: f64,
        #[wasm_bindgen(js_name = studentId, unchecked_param_type = "string")] student: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] note: JsValue,
    ) -> Promise {
        let register = register_key(&class_id, &date, period);
        let change = student_id(&student)
            .and_then(|student| student_change(student, "note", WireValue::Text(text(&note, "note")?)));
        match register {
            Ok(register) => self.change_one(register, change),
            Err(error) => Promise::reject(&error.into()),
        }
    }

    /// Gives every enrolled student `status` in one durable step ("mark all present"); with
    /// `onlyUnmarked`, only students without a status yet. Resolves with how many changed.
    #[wasm_bindgen(js_name = markAll, unchecked_return_type = "Promise<number>")]
    pub fn mark_all(
        &self,
        #[wasm_bindgen(js_name = classId, unchecked_param_type = "string")] class_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] date: JsValue,
        period: f64,
        #[wasm_bindgen(unchecked_param_type = "Status")] status: JsValue,
        #[wasm_bindgen(js_name = onlyUnmarked)] only_unmarked: Option<bool>,
    ) -> Promise {
        let engine = self.engine.clone();
        promise(async move {
            let register = register_key(&class_id, &date, period)?;
            let status = parse_status(&text(&status, "status")?)?;
            let roster = engine.roster().await?;
            let ops = engine
                .change(register, move |local| {
                    Ok(view::mark_all_changes(
                        &roster,
                        register,
                        local,
                        status,
                        only_unmarked.unwrap_or(false),
                    ))
                })
                .await?;
            Ok(sorted::sorted_unique(ops.iter().filter_map(|op| op.change.change.student_id())).len())
        })
    }

    /// Marks the register as taken ("submit"); `false` takes that back.
    #[wasm_bindgen(unchecked_return_type = "Promise<string>")]
    pub fn submit(
        &self,
        #[wasm_bindgen(js_name = classId, unchecked_param_type = "string")] class_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] date: JsValue,
        period: f64,
        submitted: Option<bool>,
    ) -> Promise {
        match register_key(&class_id, &date, period) {
            Ok(register) => self.change_one(register, Ok(FieldChange::Submitted(submitted.unwrap_or(true)))),
            Err(error) => Promise::reject(&error.into()),
        }
    }

    /// The sync status, now.
    #[wasm_bindgen(unchecked_return_type = "SyncStatus")]
    pub fn status(&self) -> JsValue {
        to_js(&self.engine.status()).unwrap_or(JsValue::NULL)
    }

    /// Calls `callback(event)` on every status or data change. Returns the function that
    /// unsubscribes.
    #[wasm_bindgen(unchecked_return_type = "() => void")]
    pub fn subscribe(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(event: ChangeEvent) => void")] callback: Function,
    ) -> JsValue {
        let id = self.engine.subscribe(callback);
        let engine = Rc::downgrade(&self.engine);
        Closure::<dyn FnMut()>::new(move || {
            if let Some(engine) = engine.upgrade() {
                engine.unsubscribe(id);
            }
        })
        .into_js_value()
    }

    /// Syncs now (push the queue, pull what is new), whatever the backoff says.
    #[wasm_bindgen(js_name = syncNow, unchecked_return_type = "Promise<SyncReport>")]
    pub fn sync_now(&self) -> Promise {
        let engine = self.engine.clone();
        promise(async move { Ok(engine.sync().await) })
    }

    /// The queue, oldest first.
    #[wasm_bindgen(unchecked_return_type = "Promise<OpInfo[]>")]
    pub fn pending(&self) -> Promise {
        let engine = self.engine.clone();
        promise(async move {
            Ok(engine
                .store
                .pending()
                .await?
                .iter()
                .map(OpInfo::from)
                .collect::<Vec<_>>())
        })
    }

    /// The rejected list, oldest first: ops the server refused, with the reason.
    #[wasm_bindgen(unchecked_return_type = "Promise<OpInfo[]>")]
    pub fn rejected(&self) -> Promise {
        let engine = self.engine.clone();
        promise(async move { Ok(engine.rejected().await?.iter().map(OpInfo::from).collect::<Vec<_>>()) })
    }

    /// Takes an op off the rejected list once the teacher has dealt with it.
    #[wasm_bindgen(js_name = dismissRejected, unchecked_return_type = "Promise<boolean>")]
    pub fn dismiss_rejected(
        &self,
        #[wasm_bindgen(js_name = opId, unchecked_param_type = "string")] op_id: JsValue,
    ) -> Promise {
        let engine = self.engine.clone();
        promise(async move {
            let op_id = text(&op_id, "opId")?;
            let op_id: OpId = op_id.parse().map_err(|_| bad_argument("op", &op_id))?;
            engine.dismiss_rejected(op_id).await
        })
    }
}
