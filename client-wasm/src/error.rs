//! The one error type of the client core. Every variant carries a stable `code` (the string a
//! JS caller matches on) and a message that tells the teacher what to do next.

use rollcall_shared::{ErrorCode, ValidationError};
use wasm_bindgen::JsValue;

/// Everything that can go wrong in the client core.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClientError {
    /// The network or the server is unreachable. Marks stay safe on the tablet.
    #[error("the Rollcall server cannot be reached; marks are kept on this tablet and sent when it is back")]
    Offline,
    /// The session is gone (refresh refused). The queue is kept for when the user signs in again.
    #[error("sign in again to send your marks: {0}")]
    AuthRequired(String),
    /// The server answered with an error body (or at least a status).
    #[error("{message}")]
    Server {
        status: u16,
        code: Option<ErrorCode>,
        message: String,
        /// From `Retry-After`, for 429 and 503.
        retry_after_ms: Option<u64>,
    },
    /// A value the caller passed breaks a rule of `shared` (nothing was stored).
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    /// The caller passed something that is not a valid id or option (nothing was stored).
    #[error("{0}")]
    BadArgument(String),
    /// No signed-in user was found to resume; sign in while online once.
    #[error("nobody has signed in on this tablet yet: sign in while connected to the school network")]
    NoSession,
    /// The roster has not been downloaded yet, so the register cannot be built.
    #[error("the class list has not been downloaded yet: connect to the school network once and sync")]
    NoRoster,
    /// IndexedDB failed. Nothing was half-written: the transaction was aborted.
    #[error("this tablet's storage failed ({0}); free some space or reload the page, then try again")]
    Storage(String),
    /// The server sent something this client cannot read (a version mismatch or a bug).
    #[error("the server sent an answer this app cannot read ({0}); update the app or tell school IT")]
    BadResponse(String),
}

/// The crate's result type.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

impl ClientError {
    /// The stable code a JS caller matches on. Server codes are passed through unchanged.
    pub fn code(&self) -> &'static str {
        match self {
            ClientError::Offline => "OFFLINE",
            ClientError::AuthRequired(_) => "AUTH_REQUIRED",
            ClientError::Server { code: Some(code), .. } => code.as_str(),
            ClientError::Server { .. } => "SERVER_ERROR",
            ClientError::Invalid(_) => ErrorCode::Validation.as_str(),
            ClientError::BadArgument(_) => "BAD_ARGUMENT",
            ClientError::NoSession => "NO_SESSION",
            ClientError::NoRoster => "NO_ROSTER",
            ClientError::Storage(_) => "STORAGE",
            ClientError::BadResponse(_) => "BAD_RESPONSE",
        }
    }

    /// How long the server asked us to wait, if it did.
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            ClientError::Server { retry_after_ms, .. } => *retry_after_ms,
            _ => None,
        }
    }

    /// Whether trying again later can help (as opposed to a bug or bad input).
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Offline => true,
            ClientError::Server { status, .. } => *status == 408 || *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

impl From<rexie::Error> for ClientError {
    fn from(error: rexie::Error) -> Self {
        ClientError::Storage(match &error {
            rexie::Error::IdbError(inner) => inner.to_string(),
            other => other.to_string(),
        })
    }
}

impl From<ClientError> for JsValue {
    /// A JS `Error` whose `code` property is [`ClientError::code`], so a UI can branch on it.
    fn from(error: ClientError) -> Self {
        let js_error = js_sys::Error::new(&error.to_string());
        let _ = js_sys::Reflect::set(&js_error, &"code".into(), &error.code().into());
        if let ClientError::Server { status, .. } = &error {
            let _ = js_sys::Reflect::set(&js_error, &"status".into(), &JsValue::from(*status));
        }
        js_error.into()
    }
}
