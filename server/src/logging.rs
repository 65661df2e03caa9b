//! The server's log: one line per event on stderr, every value escaped.
//!
//! Log lines carry what users send (a username at login, a lock's reason, a path). A value with a
//! line break could write a forged line into the log ("… INFO signed in username=admin"), and a
//! NUL or an escape sequence could hide or recolour what follows. So every field, the message
//! included, is written with its control characters escaped, however the call site formatted it
//! (`%value` or `?value`): call sites cannot forget.

use rollcall_shared::text::escape_controls;
use tracing_subscriber::field::MakeExt;

/// Starts logging to stderr with `filter` (e.g. `info`, `rollcall_server=debug`).
pub fn init(filter: &str) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let fields = tracing_subscriber::fmt::format::debug_fn(|writer, field, value| {
        let text = format!("{value:?}");
        let text = escape_controls(&text);
        match field.name() {
            "message" => writer.write_str(&text),
            name => write!(writer, "{name}={text}"),
        }
    })
    .delimited(" ");
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .fmt_fields(fields)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
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
}
