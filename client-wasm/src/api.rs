//! The HTTP side: sync protocol v1 over gloo-net, with the session rule of the client core —
//! a 401 triggers one refresh (the HttpOnly cookie) and one retry, then "sign in again".
//!
//! The access token lives only in memory (never in storage), as docs/security-model.md ("On the
//! tablet") describes.

use crate::error::{ClientError, Result};
use crate::platform::{self, Timer};
use crate::store::QueuedOp;
use chrono::{DateTime, Utc};
use gloo_net::http::{Request, RequestBuilder};
use rollcall_shared::protocol::{ErrorBody, LoginRequest, LoginResponse, PushResponse, Roster, UserInfo};
use rollcall_shared::{Hlc, NodeId, RawChange, UserId};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use wasm_bindgen::JsValue;
use web_sys::RequestCredentials;

/// How long a request may take by default, answer body included, before it counts as "offline".
pub const REQUEST_TIMEOUT_MS: f64 = 30_000.0;

/// The least a refresh may take before it is given up. Refresh tokens rotate, and presenting a
/// rotated one revokes the whole sign-in: if we abandoned a refresh the server then completes,
/// its new cookie would be lost and the next refresh would sign the teacher out. So a refresh
/// waits much longer than other requests for its answer.
pub const REFRESH_TIMEOUT_MS: f64 = 120_000.0;

/// A pulled page, kept loose (`RawChange`) so that one change this client cannot read is
/// skipped with a warning instead of stalling every later pull.
#[derive(Debug, Clone, Deserialize)]
pub struct PullPage {
    pub changes: Vec<RawChange>,
    pub cursor: String,
    pub more: bool,
    pub server_hlc: Hlc,
    #[serde(with = "rollcall_shared::wire_time::utc")]
    pub server_time: DateTime<Utc>,
}

/// One server, one session.
#[derive(Debug)]
pub struct Api {
    base_url: String,
    token: RefCell<Option<String>>,
    /// The user this session belongs to. The refresh cookie is per browser, not per engine: if
    /// another user signed in meanwhile, a refresh would hand us *their* token, and this user's
    /// queue must never be pushed under it.
    user: Cell<Option<UserId>>,
    timeout_ms: Cell<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
}

/// Parses a `Retry-After` value into a wait in ms: delay seconds, or an HTTP date (a date in
/// the past means "now").
pub fn parse_retry_after(header: &str, now_ms: f64) -> Option<u64> {
    let header = header.trim();
    if let Ok(seconds) = header.parse::<u64>() {
        return Some(seconds.saturating_mul(1000));
    }
    // Every HTTP-date form ends in GMT; anything else (e.g. "-3") is not a date, however
    // leniently Date.parse would read it.
    if !header.ends_with("GMT") {
        return None;
    }
    let at = js_sys::Date::parse(header);
    (!at.is_nan()).then(|| (at - now_ms).max(0.0) as u64)
}

/// A whole answer: status, what the headers said, and the body, read before the timeout.
#[derive(Debug)]
struct Answer {
    status: u16,
    status_text: String,
    retry_after_ms: Option<u64>,
    body: String,
}

impl Answer {
    fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Turns a non-2xx answer into an error, keeping the server's code and message.
    fn failure(self) -> ClientError {
        let (status, retry_after_ms) = (self.status, self.retry_after_ms);
        match parse::<ErrorBody>(&self.body) {
            Ok(ErrorBody { error }) => ClientError::Server {
                status,
                code: Some(error.code),
                message: error.message,
                retry_after_ms,
            },
            Err(_) => ClientError::Server {
                status,
                code: None,
                message: format!("the server answered {status} {}", self.status_text),
                retry_after_ms,
            },
        }
    }

    fn parse<T: DeserializeOwned>(self) -> Result<T> {
        if self.ok() {
            parse(&self.body)
        } else {
            Err(self.failure())
        }
    }
}

/// Reads a JSON body. The browser's `JSON.parse` does the parsing, so the module carries no JSON
/// parser of its own; serde then only walks the JS value.
fn parse<T: DeserializeOwned>(body: &str) -> Result<T> {
    read_as::<T>(&parse_json(body)?)
}

/// The JS value of a JSON body.
fn parse_json(body: &str) -> Result<JsValue> {
    js_sys::JSON::parse(body).map_err(|_| ClientError::BadResponse("the answer is not JSON".into()))
}

/// Reads an answer's JS value as `T`.
fn read_as<T: DeserializeOwned>(value: &JsValue) -> Result<T> {
    serde_wasm_bindgen::from_value(value.clone()).map_err(|e| ClientError::BadResponse(e.to_string()))
}

/// Writes a request body as JSON, `null` for `None` and objects for maps, as the protocol has it.
fn json_body<T: Serialize>(value: &T) -> Result<String> {
    let value = value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| ClientError::BadArgument(e.to_string()))?;
    js_sys::JSON::stringify(&value)
        .map(String::from)
        .map_err(|_| ClientError::BadArgument("a request body cannot be written as JSON".into()))
}

/// The body of a push: this device's `device_id`, and the queued ops' JSON spliced into `ops` as
/// stored, so that no op is decoded or encoded again on its way out. The keys are those of
/// [`rollcall_shared::protocol::PushRequest`] (the store's tests read the body back as one); a device id is 16 hex digits,
/// which need no escaping.
pub fn push_body(device_id: NodeId, ops: &[QueuedOp]) -> String {
    let mut body = format!("{{\"device_id\":\"{device_id}\",\"ops\":[");
    for (n, op) in ops.iter().enumerate() {
        if n > 0 {
            body.push(',');
        }
        body.push_str(&op.json);
    }
    body.push_str("]}");
    body
}

impl Api {
    /// A client for the server at `base_url` ("" means this page's own origin).
    pub fn new(base_url: &str) -> Api {
        Api {
            base_url: base_url.trim_end_matches('/').to_owned(),
            token: RefCell::new(None),
            user: Cell::new(None),
            timeout_ms: Cell::new(REQUEST_TIMEOUT_MS),
        }
    }

    /// A client bound to a known user (resuming): refreshes for anyone else are refused.
    pub fn for_user(base_url: &str, user: UserId) -> Api {
        let api = Api::new(base_url);
        api.user.set(Some(user));
        api
    }

    /// Sets how long a request may take before it counts as "offline".
    pub fn set_timeout_ms(&self, timeout_ms: f64) {
        self.timeout_ms.set(timeout_ms);
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Whether an access token is held.
    pub fn has_token(&self) -> bool {
        self.token.borrow().is_some()
    }

    /// Forgets the access token.
    pub fn forget_token(&self) {
        self.token.replace(None);
    }

    fn builder(&self, method: Method, path: &str) -> RequestBuilder {
        let url = format!("{}{path}", self.base_url);
        let builder = match method {
            Method::Get => Request::get(&url),
            Method::Post => Request::post(&url),
        };
        // The refresh cookie is HttpOnly and SameSite=Strict: it must go along to our own origin.
        builder.credentials(RequestCredentials::SameOrigin)
    }

    /// Sends one request and reads the whole answer. No answer at all within the timeout
    /// ([`REQUEST_TIMEOUT_MS`] by default: a dead link, a hung server) counts as offline, so a sync attempt
    /// can never hang and block the ones after it.
    async fn send(&self, method: Method, path: &str, body: Option<&str>, authorized: bool) -> Result<Answer> {
        self.send_within(method, path, body, authorized, self.timeout_ms.get())
            .await
    }

    /// [`Api::send`] with its own timeout.
    async fn send_within(
        &self,
        method: Method,
        path: &str,
        body: Option<&str>,
        authorized: bool,
        timeout_ms: f64,
    ) -> Result<Answer> {
        let mut builder = self.builder(method, path);
        if authorized && let Some(token) = self.token.borrow().as_deref() {
            builder = builder.header("Authorization", &format!("Bearer {token}"));
        }
        let controller = web_sys::AbortController::new().ok();
        let signal = controller.as_ref().map(web_sys::AbortController::signal);
        builder = builder.abort_signal(signal.as_ref());
        // Dropping the timer clears it: it only fires if the answer is not read in time.
        let _deadline = controller.and_then(|controller| Timer::once(timeout_ms, move || controller.abort()));
        let request = match body {
            Some(body) => builder
                .header("Content-Type", "application/json")
                .body(body)
                .map_err(|e| ClientError::BadArgument(e.to_string()))?,
            None => builder.build().map_err(|e| ClientError::BadArgument(e.to_string()))?,
        };
        // fetch() only rejects when no answer came: offline, refused, DNS, CORS, or our timeout.
        let response = request.send().await.map_err(|_| ClientError::Offline)?;
        let retry_after_ms = response
            .headers()
            .get("Retry-After")
            .and_then(|header| parse_retry_after(&header, js_sys::Date::now()));
        Ok(Answer {
            status: response.status(),
            status_text: response.status_text(),
            retry_after_ms,
            body: response.text().await.map_err(|_| ClientError::Offline)?,
        })
    }

    /// Sends an authorized request: a 401 (or no token yet) triggers one refresh and one retry;
    /// a second refusal is `AuthRequired`.
    async fn authorized(&self, method: Method, path: &str, body: Option<&str>) -> Result<String> {
        if !self.has_token() {
            self.refresh().await?;
        }
        let mut refreshed = false;
        loop {
            let answer = self.send(method, path, body, true).await?;
            if answer.status == 401 {
                if refreshed {
                    self.forget_token();
                    return Err(ClientError::AuthRequired(
                        "the server refused the renewed session".into(),
                    ));
                }
                self.refresh().await?;
                refreshed = true;
                continue;
            }
            return if answer.ok() {
                Ok(answer.body)
            } else {
                Err(answer.failure())
            };
        }
    }

    /// Signs in; keeps the access token in memory (the refresh token arrives as a cookie).
    pub async fn login(&self, username: &str, password: &str) -> Result<UserInfo> {
        let body = json_body(&LoginRequest {
            username: username.to_owned(),
            password: password.to_owned(),
        })?;
        let login: LoginResponse = self
            .send(Method::Post, "/api/v1/auth/login", Some(&body), false)
            .await?
            .parse()?;
        if self.user.get().is_some_and(|user| user != login.user.id) {
            return Err(ClientError::BadArgument(format!(
                "{} is a different account: sign out first",
                login.user.username
            )));
        }
        self.token.replace(Some(login.access_token));
        self.user.set(Some(login.user.id));
        Ok(login.user)
    }

    /// Renews the access token with the refresh cookie. A refused refresh means the session is
    /// over: `AuthRequired`. Network and server trouble stay what they are, so they back off.
    pub async fn refresh(&self) -> Result<UserInfo> {
        // Refresh tokens rotate and a reused one revokes the whole sign-in: two tabs (or two
        // calls in one tab) refreshing at once with the same cookie would sign everyone out.
        // The lock makes them take turns; each then presents the cookie the last one received.
        platform::with_lock("rollcall-refresh", platform::LockMode::Wait, self.refresh_now())
            .await
            .unwrap_or(Err(ClientError::Offline))
    }

    async fn refresh_now(&self) -> Result<UserInfo> {
        let timeout_ms = self.timeout_ms.get().max(REFRESH_TIMEOUT_MS);
        let answer = self
            .send_within(Method::Post, "/api/v1/auth/refresh", None, false, timeout_ms)
            .await?;
        if answer.status == 401 || answer.status == 403 {
            self.forget_token();
            let reason = match answer.failure() {
                ClientError::Server { message, .. } => message,
                other => other.to_string(),
            };
            return Err(ClientError::AuthRequired(reason));
        }
        let login: LoginResponse = answer.parse()?;
        if self.user.get().is_some_and(|user| user != login.user.id) {
            return Err(ClientError::AuthRequired(format!(
                "{} signed in on this browser since; sign in again",
                login.user.username
            )));
        }
        self.token.replace(Some(login.access_token));
        Ok(login.user)
    }

    /// Ends the session on the server (revokes the refresh token) and forgets the access token.
    pub async fn logout(&self) -> Result<()> {
        let answer = self.send(Method::Post, "/api/v1/auth/logout", None, true).await;
        self.forget_token();
        match answer? {
            answer if answer.ok() || answer.status == 401 => Ok(()),
            answer => Err(answer.failure()),
        }
    }

    /// The address of `GET /api/v1/events`, the server's change notices, with the access token in it:
    /// `EventSource` cannot send an Authorization header. `None` without a token.
    pub fn events_url(&self) -> Option<String> {
        let token = self.token.borrow();
        let token = js_sys::encode_uri_component(token.as_deref()?);
        Some(format!("{}/api/v1/events?access_token={token}", self.base_url))
    }

    /// `GET /api/v1/roster`, as the JS value of the server's JSON, once it is known to read as a
    /// [`Roster`]. It is cached and handed to the PWA as it came: serializing a `Roster` again
    /// would cost the module that code.
    pub async fn roster(&self) -> Result<JsValue> {
        let roster = parse_json(&self.authorized(Method::Get, "/api/v1/roster", None).await?)?;
        read_as::<Roster>(&roster)?;
        Ok(roster)
    }

    /// `POST /api/v1/sync/push` of queued ops (see [`push_body`]), as [`rollcall_shared::protocol::PushRequest`] has it.
    pub async fn push(&self, device_id: NodeId, ops: &[QueuedOp]) -> Result<PushResponse> {
        let body = push_body(device_id, ops);
        parse(&self.authorized(Method::Post, "/api/v1/sync/push", Some(&body)).await?)
    }

    /// `GET /api/v1/sync/pull`.
    pub async fn pull(&self, cursor: Option<&str>, limit: u32) -> Result<PullPage> {
        let mut path = format!("/api/v1/sync/pull?limit={limit}");
        if let Some(cursor) = cursor {
            path.push_str("&cursor=");
            path.push_str(&String::from(js_sys::encode_uri_component(cursor)));
        }
        parse(&self.authorized(Method::Get, &path, None).await?)
    }
}
