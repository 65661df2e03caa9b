//! The server's log: one line per event on stderr, every value escaped, as text for people or as
//! JSON for log collectors (`--log-format`); and the id of the request being served, which its
//! log lines, its error body and its `X-Request-Id` header share (docs/observability.md).
//!
//! Log lines carry what users send (a username at login, a lock's reason, a path). A value with a
//! line break could write a forged line into the log ("… INFO signed in username=admin"), and a
//! NUL or an escape sequence could hide or recolour what follows. So in text, every field, the
//! message included, is written with its control characters escaped, however the call site
//! formatted it (`%value` or `?value`): call sites cannot forget. In JSON, the encoder escapes
//! them.

use rollcall_shared::text::escape_controls;
use std::future::Future;
use tracing_subscriber::field::MakeExt;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// `2026-12-03T10:15:02.418Z  INFO request{request_id=…}: target: message field=value`
    Text,
    /// One JSON object per line: the event's fields at the top level, the request's span under
    /// `span`.
    Json,
}

impl LogFormat {
    /// The format named `text` or `json`.
    pub fn parse(name: &str) -> Option<LogFormat> {
        match name.trim() {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }
}

/// Starts logging to stderr with `filter` (e.g. `info`, `rollcall_server=debug`) in `format`.
pub fn init(filter: &str, format: LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logger = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => {
            let fields = tracing_subscriber::fmt::format::debug_fn(|writer, field, value| {
                let text = format!("{value:?}");
                let text = escape_controls(&text);
                match field.name() {
                    "message" => writer.write_str(&text),
                    name => write!(writer, "{name}={text}"),
                }
            })
            .delimited(" ");
            logger
                .fmt_fields(fields)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .try_init()
        }
        LogFormat::Json => logger
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}

tokio::task_local! {
    /// The id of the request a task is serving (set by `api::observe`).
    static REQUEST_ID: String;
}

/// Runs `serving` as the serving of the request `id`: [`request_id`] answers `id` inside it.
pub async fn scope_request_id<F: Future>(id: String, serving: F) -> F::Output {
    REQUEST_ID.scope(id, serving).await
}

/// [`scope_request_id`] for the synchronous start of serving a request.
pub fn sync_scope_request_id<R>(id: String, serving: impl FnOnce() -> R) -> R {
    REQUEST_ID.sync_scope(id, serving)
}

/// The id of the request being served, if any.
pub fn request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_the_rest_is_kept() {
        assert_eq!(
            escape_controls("admin\n2026-12-03T10:00:00Z  INFO signed in\u{0}\u{1b}[2J"),
            "admin\\n2026-12-03T10:00:00Z  INFO signed in\\u{0}\\u{1b}[2J"
        );
        assert_eq!(escape_controls("Zoë 5B"), "Zoë 5B");
    }

    #[test]
    fn the_request_id_is_known_only_while_serving() {
        assert_eq!(request_id(), None);
        let inside = sync_scope_request_id("3f2a9c1e0b7d4a66".to_owned(), request_id);
        assert_eq!(inside.as_deref(), Some("3f2a9c1e0b7d4a66"));
        assert_eq!(request_id(), None);
    }
}
