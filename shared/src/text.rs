//! Text someone sent, as Rollcall repeats it: in messages, in the log, in a database column.
//! No dependencies within the crate, so every other module (names, ops, codes) can use it.

/// Longest stretch of a sent value that a message repeats.
const QUOTED_CHARS: usize = 40;

/// A sent value as a message repeats it: in quotes, cut after [`QUOTED_CHARS`] characters, with
/// control characters escaped. A 100 KB bad value must not make a 100 KB message, nor put a
/// line break into a log.
pub fn quote(text: &str) -> String {
    let cut: String = text.chars().take(QUOTED_CHARS).collect();
    let ellipsis = if cut.len() < text.len() { "…" } else { "" };
    format!("\"{}{ellipsis}\"", escape_controls(&cut))
}

/// `text` with every control character (line break, NUL, escape…) written as an escape (`\n`,
/// `\u{0}`): what a log line, a message or a database column that cannot hold NUL (PostgreSQL
/// text) keeps of text someone sent. Other text is returned as it is.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            escaped.extend(c.escape_default());
        } else {
            escaped.push(c);
        }
    }
    std::borrow::Cow::Owned(escaped)
}
