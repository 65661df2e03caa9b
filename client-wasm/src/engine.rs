//! The sync engine of one signed-in user: durable marking, the push/pull cycle, its triggers
//! and backoff, the session rule, one syncing tab at a time, and the observable status.
//!
//! Single-threaded (wasm): state sits in `RefCell`s that are never borrowed across an `await`
//! or a call into JS, so a subscriber may call back into the engine.

use crate::api::{Api, PullPage};
use crate::error::{ClientError, Result};
use crate::platform::{self, Channel, EventStream, Listener, Timer};
use crate::schedule::{Scheduler, Timings};
use crate::sorted::sorted_unique;
use crate::store::{Counts, LocalStore, OpRecord, Plan, ServerClock, database_name};
use crate::view::{self, RegisterSummary, RegisterView};
use js_sys::Function;
use rollcall_shared::protocol::{MAX_OPS_PER_PUSH, MAX_PULL_LIMIT, MAX_PUSH_BYTES, Roster, UserInfo};
use rollcall_shared::{Change, FieldChange, Hlc, NodeId, Op, RegisterKey, RegisterState};
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use wasm_bindgen::JsValue;

/// Most ops in one push: half of what the protocol allows, so each request stays short on bad Wi-Fi.
pub const PUSH_BATCH_OPS: u32 = MAX_OPS_PER_PUSH as u32 / 2;
/// Most JSON bytes of ops in one push: half the server's body limit.
pub const PUSH_BATCH_BYTES: usize = MAX_PUSH_BYTES / 2;
/// Changes asked for per pull page: as many as one pull may return.
pub const PULL_PAGE: u32 = MAX_PULL_LIMIT;
/// A roster older than this is downloaded again during a sync.
pub const ROSTER_MAX_AGE_MS: f64 = 15.0 * 60.0 * 1000.0;

/// What a JS caller may tune (all optional).
///
/// The timings are spelled out rather than a `#[serde(flatten)]` [`Timings`]: flatten buffers
/// the whole object through serde's generic `Content`, which costs the wasm module kilobytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS), ts(rename = "RollcallOptions"))]
pub struct Options {
    /// Wait after a mark before pushing, ms ([`Timings::debounce_ms`]).
    #[cfg_attr(feature = "typescript", ts(type = "number"))]
    pub debounce_ms: u64,
    /// How soon to check again while another tab syncs, ms ([`Timings::lock_wait_ms`]).
    #[cfg_attr(feature = "typescript", ts(type = "number"))]
    pub lock_wait_ms: u64,
    /// Poll interval with nothing to push, ms ([`Timings::idle_interval_ms`]). The server's change
    /// notices start a sync sooner whenever the event stream is open.
    #[cfg_attr(feature = "typescript", ts(type = "number"))]
    pub idle_interval_ms: u64,
    /// Sync on the triggers by itself. Off only for tests and benchmarks that drive `syncNow`.
    pub auto_sync: bool,
    /// Ops per push, at most [`PUSH_BATCH_OPS`].
    pub push_batch: u32,
    /// How long one request may take before it counts as "offline" (ms).
    pub request_timeout_ms: u32,
}

impl Options {
    /// The scheduler's timings.
    pub fn timings(&self) -> Timings {
        Timings {
            debounce_ms: self.debounce_ms,
            lock_wait_ms: self.lock_wait_ms,
            idle_interval_ms: self.idle_interval_ms,
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        let timings = Timings::default();
        Options {
            debounce_ms: timings.debounce_ms,
            lock_wait_ms: timings.lock_wait_ms,
            idle_interval_ms: timings.idle_interval_ms,
            auto_sync: true,
            push_batch: PUSH_BATCH_OPS,
            request_timeout_ms: crate::api::REQUEST_TIMEOUT_MS as u32,
        }
    }
}

/// The last failure, for the status bar.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct LastError {
    pub code: String,
    pub message: String,
    /// Device time, ms.
    pub at: f64,
}

/// The observable status (`status()` and every change event).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS), ts(rename = "SyncStatus"))]
pub struct Status {
    /// The browser has a network and the last attempt reached the server.
    pub online: bool,
    pub syncing: bool,
    /// Ops waiting to be pushed.
    pub pending: u32,
    /// Ops on the rejected list.
    pub rejected: u32,
    /// Device time of the last fully successful sync, ms.
    pub last_sync_at: Option<f64>,
    pub last_error: Option<LastError>,
    /// When the next attempt comes while backing off after failures (device time, ms).
    pub next_retry_at: Option<f64>,
    /// When the next attempt of any kind is due.
    pub next_sync_at: Option<f64>,
    /// Consecutive failed attempts.
    pub failures: u32,
    /// The current backoff ceiling, ms (0 when not backing off).
    #[cfg_attr(feature = "typescript", ts(type = "number"))]
    pub backoff_ceiling_ms: u64,
    /// The session is over: sign in again to send the queue (it is kept).
    pub sign_in_required: bool,
    /// How far this device's clock runs ahead of the server's, as the server last reported.
    #[cfg_attr(feature = "typescript", ts(type = "number"))]
    pub clock_offset_ms: i64,
    pub user: UserInfo,
}

/// What one sync attempt did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct SyncReport {
    pub ok: bool,
    /// Another tab holds the sync lock: it syncs this user's queue.
    pub skipped: bool,
    pub pushed: u32,
    pub rejected: u32,
    pub pulled: u32,
    pub error: Option<LastError>,
}

#[derive(Debug, Default)]
struct CycleResult {
    pushed: u32,
    rejected: u32,
    pulled: u32,
    /// Register keys, sorted, without repeats.
    registers: Vec<String>,
}

#[derive(Debug)]
struct EngineState {
    scheduler: Scheduler,
    syncing: bool,
    online: bool,
    counts: Counts,
    last_sync_at: Option<f64>,
    last_error: Option<LastError>,
    clock_offset_ms: i64,
}

/// A change event for subscribers: `{kind, status, registers?}`.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS), ts(rename = "ChangeEvent"))]
pub(crate) struct Event<'a> {
    /// `"status"`: the status changed. `"data"`: register contents changed (`registers` says
    /// which, as `class|date|period` keys); re-read what is on screen.
    #[cfg_attr(feature = "typescript", ts(type = "\"status\" | \"data\""))]
    kind: &'a str,
    status: &'a Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(optional))]
    registers: Option<&'a [String]>,
}

/// What tabs of the same user tell each other.
#[derive(Debug, Serialize, Deserialize)]
struct TabMessage {
    registers: Vec<String>,
}

/// One signed-in user's engine.
#[derive(Debug)]
pub struct Engine {
    pub user: UserInfo,
    /// This device's id in this user's database: the `device_id` of its pushes.
    pub device: NodeId,
    pub api: Api,
    pub store: LocalStore,
    options: Options,
    state: RefCell<EngineState>,
    subscribers: RefCell<Vec<(u32, Function)>>,
    next_subscriber: Cell<u32>,
    timer: RefCell<Option<Timer>>,
    listeners: RefCell<Vec<Listener>>,
    channel: RefCell<Option<Channel>>,
    /// The server's change notices, while open (see [`Engine::follow_server`]).
    notices: RefCell<Option<EventStream>>,
    closed: Cell<bool>,
}

fn last_error(error: &ClientError) -> LastError {
    LastError {
        code: error.code().to_owned(),
        message: error.to_string(),
        at: platform::now_ms(),
    }
}

impl Engine {
    /// Opens the user's database and, with `auto_sync`, starts syncing on the triggers.
    pub async fn open(api: Api, user: UserInfo, options: Options) -> Result<Rc<Engine>> {
        api.set_timeout_ms(f64::from(options.request_timeout_ms.max(1)));
        let store = LocalStore::open(&database_name(&user.id.to_string())).await?;
        let counts = store.counts().await?;
        let sync = store.sync_record().await?;
        let device = store.device().await?;
        let now = platform::now_ms() as u64;
        let options = Options {
            push_batch: options.push_batch.clamp(1, PUSH_BATCH_OPS),
            ..options
        };
        let engine = Rc::new(Engine {
            user,
            device: device.node,
            api,
            store,
            options,
            state: RefCell::new(EngineState {
                scheduler: Scheduler::new(options.timings(), now),
                syncing: false,
                online: platform::navigator_online(),
                counts,
                last_sync_at: sync.last_sync_at,
                last_error: None,
                clock_offset_ms: device.clock_offset_ms,
            }),
            subscribers: RefCell::new(Vec::new()),
            next_subscriber: Cell::new(1),
            timer: RefCell::new(None),
            listeners: RefCell::new(Vec::new()),
            channel: RefCell::new(None),
            notices: RefCell::new(None),
            closed: Cell::new(false),
        });
        engine.listen();
        engine.follow_server();
        engine.arm();
        Ok(engine)
    }

    /// Installs the `online`/`offline`/`visibilitychange` listeners and the tab channel.
    fn listen(self: &Rc<Self>) {
        let weak = Rc::downgrade(self);
        let on = |weak: &Weak<Engine>, action: fn(&Rc<Engine>)| {
            let weak = weak.clone();
            move |_event: JsValue| {
                if let Some(engine) = weak.upgrade() {
                    action(&engine);
                }
            }
        };
        let listeners = [
            Listener::on_window(
                "online",
                on(&weak, |engine| {
                    {
                        let mut state = engine.state.borrow_mut();
                        state.online = true;
                        state.scheduler.network_back(platform::now_ms() as u64);
                    }
                    engine.wake();
                }),
            ),
            Listener::on_window(
                "offline",
                on(&weak, |engine| {
                    engine.state.borrow_mut().online = false;
                    engine.emit("status", None);
                }),
            ),
            Listener::on_document(
                "visibilitychange",
                on(&weak, |engine| {
                    if platform::page_visible() {
                        engine.wake();
                    }
                }),
            ),
        ];
        self.listeners.replace(listeners.into_iter().flatten().collect());
        let channel_weak = weak.clone();
        let channel = Channel::open(&format!("rollcall-{}", self.user.id), move |data| {
            let Some(engine) = channel_weak.upgrade() else { return };
            let registers = crate::store::from_js::<TabMessage>(&data)
                .map(|message| message.registers)
                .unwrap_or_default();
            wasm_bindgen_futures::spawn_local(async move {
                engine.reload_counts().await;
                engine.emit("data", Some(&registers));
            });
        });
        self.channel.replace(channel);
    }

    /// Stops timers, listeners and the tab channel. The database stays as it is.
    pub fn close(&self) {
        self.closed.set(true);
        self.timer.replace(None);
        self.listeners.replace(Vec::new());
        self.channel.replace(None);
        self.notices.replace(None);
        self.subscribers.replace(Vec::new());
    }

    /// Listens to the server's change notices (`/api/v1/events`), so that an open register shows
    /// another device's marks within moments instead of at the next idle poll: each notice starts
    /// a sync, except those of this device's own pushes (see [`Engine::is_own`]). The stream's URL
    /// carries the access token; when the server refuses it (the token expired), it is reopened
    /// after the next successful sync, which renews the token.
    fn follow_server(self: &Rc<Self>) {
        if self.closed.get() || !self.options.auto_sync || self.notices.borrow().is_some() {
            return;
        }
        let Some(url) = self.api.events_url() else { return };
        let (on_notice, on_refused) = (Rc::downgrade(self), Rc::downgrade(self));
        let stream = EventStream::open(
            &url,
            "changes",
            move |data| {
                if let Some(engine) = on_notice.upgrade()
                    && !engine.is_own(&data)
                {
                    engine.wake();
                }
            },
            move || {
                if let Some(engine) = on_refused.upgrade() {
                    // Not dropped inside its own listener: wasm-bindgen forbids freeing a running closure.
                    wasm_bindgen_futures::spawn_local(async move {
                        engine.notices.replace(None);
                    });
                }
            },
        );
        self.notices.replace(stream);
    }

    /// Whether a change notice's data names this device: the changes of its own push, which it
    /// sent and whose fate the push's answer told (an unanswered push leaves its ops queued, and
    /// they go again). Another tab of this user on this tablet shares the device id and the
    /// database, and hears of the push over the tab channel. Anything unreadable, such as `{}`
    /// for missed notices, is someone else's.
    fn is_own(&self, data: &JsValue) -> bool {
        // Only the `device_id` of the `ChangeNotice` is read: decoding all of it would cost the
        // module the code of its decoder.
        let device = data
            .as_string()
            .and_then(|text| js_sys::JSON::parse(&text).ok())
            .and_then(|notice| js_sys::Reflect::get(&notice, &"device_id".into()).ok())
            .and_then(|id| id.as_string());
        device.and_then(|id| id.parse::<NodeId>().ok()) == Some(self.device)
    }

    /// The current status.
    pub fn status(&self) -> Status {
        let state = self.state.borrow();
        Status {
            online: state.online,
            syncing: state.syncing,
            pending: state.counts.pending,
            rejected: state.counts.rejected,
            last_sync_at: state.last_sync_at,
            last_error: state.last_error.clone(),
            next_retry_at: state.scheduler.retry_at().map(|at| at as f64),
            next_sync_at: state.scheduler.next_at().map(|at| at as f64),
            failures: state.scheduler.failures(),
            backoff_ceiling_ms: state.scheduler.backoff_ceiling_ms(),
            sign_in_required: state.scheduler.is_paused(),
            clock_offset_ms: state.clock_offset_ms,
            user: self.user.clone(),
        }
    }

    /// Calls every subscriber with `{kind, status, registers?}`. A throwing subscriber does not
    /// stop the others.
    fn emit(&self, kind: &str, registers: Option<&[String]>) {
        if self.closed.get() || self.subscribers.borrow().is_empty() {
            return;
        }
        let status = self.status();
        let Ok(event) = crate::store::to_js(&Event {
            kind,
            status: &status,
            registers,
        }) else {
            return;
        };
        let subscribers: Vec<Function> = self.subscribers.borrow().iter().map(|(_, f)| f.clone()).collect();
        for subscriber in subscribers {
            let _ = subscriber.call1(&JsValue::NULL, &event);
        }
    }

    /// Adds a subscriber; returns its id for [`Engine::unsubscribe`].
    pub fn subscribe(&self, callback: Function) -> u32 {
        let id = self.next_subscriber.get();
        self.next_subscriber.set(id + 1);
        self.subscribers.borrow_mut().push((id, callback));
        id
    }

    /// Removes a subscriber.
    pub fn unsubscribe(&self, id: u32) {
        self.subscribers.borrow_mut().retain(|(other, _)| *other != id);
    }

    fn tell_other_tabs(&self, registers: &[String]) {
        if let (Some(channel), Ok(message)) = (
            self.channel.borrow().as_ref(),
            crate::store::to_js(&TabMessage {
                registers: registers.to_vec(),
            }),
        ) {
            channel.post(&message);
        }
    }

    async fn reload_counts(&self) {
        let counts = self.store.counts().await;
        let sync = self.store.sync_record().await;
        let mut state = self.state.borrow_mut();
        if let Ok(counts) = counts {
            state.counts = counts;
        }
        // Another tab may have synced: the later of the two times is the last success.
        if let Ok(crate::store::SyncRecord {
            last_sync_at: Some(at), ..
        }) = sync
        {
            state.last_sync_at = Some(state.last_sync_at.map_or(at, |mine| mine.max(at)));
        }
    }

    /// Arms the one timer for the scheduler's next attempt.
    fn arm(self: &Rc<Self>) {
        if self.closed.get() || !self.options.auto_sync {
            self.timer.replace(None);
            return;
        }
        let Some(at) = self.state.borrow().scheduler.next_at() else {
            self.timer.replace(None);
            return;
        };
        let weak = Rc::downgrade(self);
        let delay = at as f64 - platform::now_ms();
        let timer = Timer::once(delay, move || {
            if let Some(engine) = weak.upgrade() {
                wasm_bindgen_futures::spawn_local(async move {
                    engine.sync().await;
                });
            }
        });
        self.timer.replace(timer);
    }

    /// The network is back, the page became visible or the server announced changes: try now (a
    /// `Retry-After` still holds).
    fn wake(self: &Rc<Self>) {
        self.state.borrow_mut().scheduler.woke(platform::now_ms() as u64);
        self.arm();
        self.emit("status", None);
    }

    /// Durably records changes to one register (see [`LocalStore::record`]), then schedules a
    /// push and tells subscribers and other tabs.
    pub async fn change(
        self: &Rc<Self>,
        register: RegisterKey,
        plan: impl FnOnce(&RegisterState) -> Result<Vec<FieldChange>>,
    ) -> Result<Vec<Op>> {
        // Boxed, so that this future and the store's are compiled once for every kind of mark.
        self.change_planned(register, Box::new(plan)).await
    }

    async fn change_planned(self: &Rc<Self>, register: RegisterKey, plan: Plan<'_>) -> Result<Vec<Op>> {
        let now = platform::now_ms();
        let ops = self.store.record(register, now, plan).await?;
        if !ops.is_empty() {
            {
                let mut state = self.state.borrow_mut();
                state.counts.pending += ops.len() as u32;
                state.scheduler.marked(now as u64);
            }
            self.arm();
            let registers = [crate::store::register_id(&register)];
            self.emit("data", Some(&registers));
            self.tell_other_tabs(&registers);
        }
        Ok(ops)
    }

    /// The cached roster.
    pub async fn roster(&self) -> Result<Roster> {
        self.store.roster().await?.ok_or(ClientError::NoRoster)
    }

    /// The cached roster as the server sent it (a JS value), for the PWA.
    pub async fn roster_js(&self) -> Result<JsValue> {
        self.store.roster_js().await?.ok_or(ClientError::NoRoster)
    }

    /// Downloads and caches the roster; answers with it as the server sent it.
    pub async fn refresh_roster(&self) -> Result<JsValue> {
        let roster = self.api.roster().await?;
        self.store.save_roster(&roster, platform::now_ms()).await?;
        Ok(roster)
    }

    /// One register as the teacher sees it.
    pub async fn register_view(&self, register: RegisterKey) -> Result<RegisterView> {
        let roster = self.roster().await?;
        let (record, ops) = self.store.register(register).await?;
        Ok(view::register_view(&roster, register, &record, &ops))
    }

    /// The user's registers on a date.
    pub async fn registers_on(&self, date: chrono::NaiveDate) -> Result<Vec<RegisterSummary>> {
        let roster = self.roster().await?;
        let keys = view::registers_on(&roster, &self.user, date);
        let records = self.store.registers(&keys).await?;
        Ok(keys
            .iter()
            .zip(records)
            .map(|(key, (record, ops))| view::summarize(&roster, &view::register_view(&roster, *key, &record, &ops)))
            .collect())
    }

    /// The rejected list.
    pub async fn rejected(&self) -> Result<Vec<OpRecord>> {
        self.store.rejected().await
    }

    /// Takes one op off the rejected list.
    pub async fn dismiss_rejected(self: &Rc<Self>, op_id: rollcall_shared::OpId) -> Result<bool> {
        let dismissed = self.store.dismiss_rejected(op_id).await?;
        if dismissed {
            self.reload_counts().await;
            self.emit("data", None);
            self.tell_other_tabs(&[]);
        }
        Ok(dismissed)
    }

    /// Signs in again after the session ended, with the same user; syncing resumes.
    pub async fn sign_in_again(self: &Rc<Self>, password: &str) -> Result<()> {
        // The api is bound to this user: a login as anyone else is refused there.
        self.api.login(&self.user.username, password).await?;
        self.state.borrow_mut().scheduler.resumed(platform::now_ms() as u64);
        self.arm();
        self.emit("status", None);
        Ok(())
    }

    /// One sync attempt now (waiting for a running one in this tab to end first).
    pub async fn sync(self: &Rc<Self>) -> SyncReport {
        while self.state.borrow().syncing {
            platform::sleep(20.0).await;
        }
        if self.closed.get() {
            return SyncReport {
                skipped: true,
                ..SyncReport::default()
            };
        }
        {
            let mut state = self.state.borrow_mut();
            state.syncing = true;
            state.scheduler.started();
        }
        self.timer.replace(None);
        self.emit("status", None);
        let lock = format!("rollcall-sync-{}", self.user.id);
        let outcome = platform::with_lock(&lock, platform::LockMode::IfAvailable, self.cycle()).await;
        let now = platform::now_ms();
        let mut report = SyncReport::default();
        let mut changed = Vec::new();
        match outcome {
            None => {
                report.skipped = true;
                self.state.borrow_mut().scheduler.deferred(now as u64);
            }
            Some(Ok(cycle)) => {
                let _ = self.store.synced_at(now).await;
                // Only now: a register settles when the server has answered for all its ops.
                let _ = self.store.forget_settled_history(now).await;
                report.ok = true;
                report.pushed = cycle.pushed;
                report.rejected = cycle.rejected;
                report.pulled = cycle.pulled;
                changed = cycle.registers;
                self.reload_counts().await;
                let mut state = self.state.borrow_mut();
                state.online = true;
                state.last_error = None;
                state.last_sync_at = Some(now);
                let pending = state.counts.pending > 0;
                state.scheduler.succeeded(now as u64, pending);
                drop(state);
                self.follow_server();
            }
            Some(Err(error)) => {
                self.reload_counts().await;
                let mut state = self.state.borrow_mut();
                match &error {
                    ClientError::AuthRequired(_) => state.scheduler.pause(),
                    // With no network at all the failure says nothing about the server: the
                    // backoff must not grow through an outage (the `online` event syncs at once).
                    _ if !platform::navigator_online() => {
                        state.online = false;
                        state.scheduler.failed_offline(now as u64);
                    }
                    _ => {
                        state.online = error != ClientError::Offline;
                        state
                            .scheduler
                            .failed(now as u64, error.retry_after_ms(), &mut platform::random_unit);
                    }
                }
                let failure = last_error(&error);
                report.error = Some(failure.clone());
                state.last_error = Some(failure);
            }
        }
        if let Ok(device) = self.store.device().await {
            self.state.borrow_mut().clock_offset_ms = device.clock_offset_ms;
        }
        self.state.borrow_mut().syncing = false;
        self.arm();
        if !changed.is_empty() {
            self.emit("data", Some(&changed));
            self.tell_other_tabs(&changed);
        }
        self.emit("status", None);
        report
    }

    /// Push everything queued, then pull everything new, then refresh a stale roster.
    async fn cycle(&self) -> Result<CycleResult> {
        let mut result = CycleResult::default();
        let mut last_server_hlc: Option<Hlc> = None;
        let mut restamped = false;
        loop {
            let batch = self.store.next_batch(self.options.push_batch, PUSH_BATCH_BYTES).await?;
            if batch.is_empty() {
                break;
            }
            let response = self.api.push(self.device, &batch).await?;
            let applied = self.store.apply_push(&batch, &response, platform::now_ms()).await?;
            let answered = applied.synced + applied.superseded + applied.rejected;
            if response.results.is_empty() {
                return Err(ClientError::BadResponse(format!(
                    "the server answered none of {} pushed ops",
                    batch.len()
                )));
            }
            result.pushed += answered;
            result.rejected += applied.rejected;
            result.registers = sorted_unique(result.registers.drain(..).chain(applied.registers));
            restamped |= applied.restamped;
            last_server_hlc = Some(response.server_hlc);
        }
        if let (true, Some(server_hlc)) = (restamped, last_server_hlc) {
            self.store.reset_clock_to(server_hlc).await?;
        }
        loop {
            let cursor = self.store.sync_record().await?.cursor;
            let page: PullPage = self.api.pull(cursor.as_deref(), PULL_PAGE).await?;
            let changes: Vec<Change> = page
                .changes
                .into_iter()
                .filter_map(|raw| match Change::try_from(raw) {
                    Ok(change) => Some(change),
                    Err(error) => {
                        web_sys_log(&format!(
                            "rollcall: skipped a pulled change this app cannot read: {error}"
                        ));
                        None
                    }
                })
                .collect();
            result.pulled += changes.len() as u32;
            let touched = self
                .store
                .apply_pull(
                    &changes,
                    &page.cursor,
                    &ServerClock {
                        hlc: page.server_hlc,
                        time: page.server_time,
                        reported_offset_ms: None,
                    },
                    platform::now_ms(),
                )
                .await?;
            result.registers = sorted_unique(result.registers.drain(..).chain(touched));
            if !page.more {
                break;
            }
        }
        let sync = self.store.sync_record().await?;
        let roster_stale = sync
            .roster_at
            .is_none_or(|at| platform::now_ms() - at > ROSTER_MAX_AGE_MS);
        if roster_stale {
            self.refresh_roster().await?;
        }
        Ok(result)
    }
}

fn web_sys_log(message: &str) {
    web_sys::console::warn_1(&JsValue::from_str(message));
}
