//! The few browser facilities the engine needs: the wall clock, randomness, timers, event
//! listeners, server-sent events, Web Locks and BroadcastChannel. Kept in one place so the rest of the crate reads
//! as plain logic.

use crate::error::{ClientError, Result};
use js_sys::{Function, Promise, Reflect};
use rollcall_shared::{NodeId, OpId};
use std::future::Future;
use std::task::Poll;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// The device's wall clock, in ms since the epoch (uncorrected).
pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// `Math.random`, for backoff jitter (not for ids).
pub fn random_unit() -> f64 {
    js_sys::Math::random()
}

fn global_property(name: &str) -> Option<JsValue> {
    Reflect::get(&js_sys::global(), &name.into())
        .ok()
        .filter(|value| !value.is_undefined() && !value.is_null())
}

fn crypto() -> Result<web_sys::Crypto> {
    global_property("crypto")
        .map(JsCast::unchecked_into)
        .ok_or_else(|| ClientError::Storage("this browser has no crypto API; use a current browser".into()))
}

/// `N` random bytes from `crypto.getRandomValues`, which every page has, secure context or not.
fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    crypto()?
        .get_random_values_with_u8_array(&mut bytes)
        .map_err(|_| ClientError::Storage("crypto.getRandomValues failed".into()))?;
    Ok(bytes)
}

/// A fresh random op id (a version 4 UUID). Not `crypto.randomUUID`: a school LAN served over
/// plain HTTP is not a secure context, and there the browser has no `randomUUID`.
pub fn new_op_id() -> Result<OpId> {
    Ok(OpId(uuid::Builder::from_random_bytes(random_bytes()?).into_uuid()))
}

/// A fresh random HLC node id: this device's identity for one user's database.
pub fn new_node_id() -> Result<NodeId> {
    Ok(NodeId(u64::from_le_bytes(random_bytes()?)))
}

/// `navigator.onLine`; `true` where the browser does not say (it only knows "no network at all").
pub fn navigator_online() -> bool {
    global_property("navigator")
        .and_then(|navigator| Reflect::get(&navigator, &"onLine".into()).ok())
        .and_then(|online| online.as_bool())
        .unwrap_or(true)
}

/// Whether the page is visible (`document.visibilityState`); `true` outside a document.
pub fn page_visible() -> bool {
    web_sys::window()
        .and_then(|window| window.document())
        .is_none_or(|document| document.visibility_state() == web_sys::VisibilityState::Visible)
}

/// Runs two futures at once and waits for both. IndexedDB requests are issued when their future
/// is first polled, so this puts two requests in flight together: one round trip, not two.
pub async fn join2<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (std::pin::pin!(a), std::pin::pin!(b));
    let (mut a_out, mut b_out) = (None, None);
    std::future::poll_fn(|cx| {
        if a_out.is_none()
            && let Poll::Ready(out) = a.as_mut().poll(cx)
        {
            a_out = Some(out);
        }
        if b_out.is_none()
            && let Poll::Ready(out) = b.as_mut().poll(cx)
        {
            b_out = Some(out);
        }
        match (a_out.take(), b_out.take()) {
            (Some(a), Some(b)) => Poll::Ready((a, b)),
            (a, b) => {
                (a_out, b_out) = (a, b);
                Poll::Pending
            }
        }
    })
    .await
}

/// Runs many futures of one kind at once and waits for all; outputs come in input order. (See
/// [`join2`]: all the IndexedDB requests are in flight together.)
pub async fn join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => done = false,
                }
            }
        }
        if done { Poll::Ready(()) } else { Poll::Pending }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// A `setTimeout` that is cleared when dropped.
#[derive(Debug)]
pub struct Timer {
    handle: i32,
    _callback: Closure<dyn FnMut()>,
}

impl Timer {
    /// Calls `callback` once after `delay_ms`.
    pub fn once(delay_ms: f64, callback: impl FnMut() + 'static) -> Option<Timer> {
        let callback = Closure::<dyn FnMut()>::new(callback);
        let delay = delay_ms.clamp(0.0, f64::from(i32::MAX)) as i32;
        let handle = web_sys::window()?
            .set_timeout_with_callback_and_timeout_and_arguments_0(callback.as_ref().unchecked_ref(), delay)
            .ok()?;
        Some(Timer {
            handle,
            _callback: callback,
        })
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        if let Some(window) = web_sys::window() {
            window.clear_timeout_with_handle(self.handle);
        }
    }
}

/// Resolves after `ms` (used to wait for a running sync to finish).
pub async fn sleep(ms: f64) {
    let promise = Promise::new(&mut |resolve, _reject| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms.clamp(0.0, 1e9) as i32);
        }
    });
    let _ = JsFuture::from(promise).await;
}

/// An event listener that is removed when dropped.
#[derive(Debug)]
pub struct Listener {
    target: web_sys::EventTarget,
    kind: &'static str,
    callback: Closure<dyn FnMut(JsValue)>,
}

impl Listener {
    /// Listens to `kind` on `target`.
    pub fn new(
        target: web_sys::EventTarget,
        kind: &'static str,
        callback: impl FnMut(JsValue) + 'static,
    ) -> Option<Self> {
        let callback = Closure::<dyn FnMut(JsValue)>::new(callback);
        target
            .add_event_listener_with_callback(kind, callback.as_ref().unchecked_ref())
            .ok()?;
        Some(Listener { target, kind, callback })
    }

    /// Listens on `window`.
    pub fn on_window(kind: &'static str, callback: impl FnMut(JsValue) + 'static) -> Option<Self> {
        Listener::new(web_sys::window()?.into(), kind, callback)
    }

    /// Listens on `document`.
    pub fn on_document(kind: &'static str, callback: impl FnMut(JsValue) + 'static) -> Option<Self> {
        Listener::new(web_sys::window()?.document()?.into(), kind, callback)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self
            .target
            .remove_event_listener_with_callback(self.kind, self.callback.as_ref().unchecked_ref());
    }
}

/// A BroadcastChannel to the other tabs of the same user, closed when dropped.
#[derive(Debug)]
pub struct Channel {
    channel: web_sys::BroadcastChannel,
    _callback: Closure<dyn FnMut(web_sys::MessageEvent)>,
}

impl Channel {
    /// Opens `name` and calls `on_message` with each message's data.
    pub fn open(name: &str, mut on_message: impl FnMut(JsValue) + 'static) -> Option<Channel> {
        let channel = web_sys::BroadcastChannel::new(name).ok()?;
        let callback = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
            on_message(event.data())
        });
        channel.set_onmessage(Some(callback.as_ref().unchecked_ref()));
        Some(Channel {
            channel,
            _callback: callback,
        })
    }

    /// Tells the other tabs. A failure only costs them a refresh, so it is ignored.
    pub fn post(&self, message: &JsValue) {
        let _ = self.channel.post_message(message);
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.channel.set_onmessage(None);
        self.channel.close();
    }
}

/// A server-sent event stream (`EventSource`), closed when dropped.
#[derive(Debug)]
pub struct EventStream {
    source: web_sys::EventSource,
    _listeners: Vec<Listener>,
}

impl EventStream {
    /// Opens `url` and calls `on_event` with the data of each event named `kind`. The browser reconnects by itself
    /// after a dropped connection; `on_refused` is called when it gives up instead (the server refused
    /// the stream, e.g. an expired token in the URL).
    pub fn open(
        url: &str,
        kind: &'static str,
        mut on_event: impl FnMut(JsValue) + 'static,
        mut on_refused: impl FnMut() + 'static,
    ) -> Option<EventStream> {
        let source = web_sys::EventSource::new(url).ok()?;
        let watched = source.clone();
        let listeners = [
            Listener::new(source.clone().into(), kind, move |event| {
                on_event(Reflect::get(&event, &"data".into()).unwrap_or_default())
            }),
            Listener::new(source.clone().into(), "error", move |_| {
                if watched.ready_state() == web_sys::EventSource::CLOSED {
                    on_refused();
                }
            }),
        ];
        Some(EventStream {
            source,
            _listeners: listeners.into_iter().flatten().collect(),
        })
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.source.close();
    }
}

/// A promise and the function that resolves it.
fn promise_pair() -> (Promise, Function) {
    let mut resolver = None;
    let promise = Promise::new(&mut |resolve, _reject| resolver = Some(resolve));
    // The executor runs synchronously inside `new Promise`, so the resolver is always set.
    (promise, resolver.unwrap_or_else(Function::default))
}

/// How to ask for a Web Lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Give up at once when another tab holds it.
    IfAvailable,
    /// Wait for it.
    Wait,
}

/// Runs `work` while holding the Web Lock `name`. With [`LockMode::IfAvailable`] it returns
/// `None` without running `work` when another tab holds the lock. Browsers without Web Locks
/// just run it.
pub async fn with_lock<T>(name: &str, mode: LockMode, work: impl Future<Output = T>) -> Option<T> {
    let request = global_property("navigator")
        .and_then(|navigator| Reflect::get(&navigator, &"locks".into()).ok())
        .filter(|locks| !locks.is_undefined() && !locks.is_null())
        .and_then(|locks| {
            let request = Reflect::get(&locks, &"request".into())
                .ok()?
                .dyn_into::<Function>()
                .ok()?;
            Some((locks, request))
        });
    let Some((locks, request)) = request else {
        return Some(work.await);
    };
    let (granted, grant) = promise_pair();
    let (released, release) = promise_pair();
    // The lock lives as long as the promise the callback returns; we resolve it after `work`.
    let callback = Closure::once_into_js(move |lock: JsValue| -> JsValue {
        let _ = grant.call1(&JsValue::NULL, &JsValue::from_bool(!lock.is_null()));
        released.into()
    });
    let options = js_sys::Object::new();
    let _ = Reflect::set(
        &options,
        &"ifAvailable".into(),
        &JsValue::from_bool(mode == LockMode::IfAvailable),
    );
    if request.call3(&locks, &name.into(), &options, &callback).is_err() {
        return Some(work.await);
    }
    let acquired = JsFuture::from(granted)
        .await
        .ok()
        .and_then(|value| value.as_bool())
        .unwrap_or(false);
    let result = if acquired { Some(work.await) } else { None };
    let _ = release.call0(&JsValue::NULL);
    result
}
