//! What a pull asks for: the opaque cursor (a position in the change feed) and how many
//! changes. The endpoint is `api::sync::pull_changes`; the feed query is `db::marks`.

use crate::error::AppError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use rollcall_shared::protocol::{DEFAULT_PULL_LIMIT, MAX_PULL_LIMIT};

/// Cursor text: the feed position in decimal (see [`rollcall_shared::protocol::CURSOR_PATTERN`]). Clients pass it back as
/// they got it.
pub fn encode_cursor(seq: i64) -> String {
    seq.to_string()
}

/// The feed position after which to pull: 0 without a cursor. Also takes the base64 `v1:<seq>`
/// cursors of earlier servers, so a tablet that saved one before an upgrade keeps pulling from
/// where it was.
pub fn decode_cursor(cursor: Option<&str>) -> Result<i64, AppError> {
    let Some(cursor) = cursor else {
        return Ok(0);
    };
    let decimal = || {
        (1..=18)
            .contains(&cursor.len())
            .then_some(cursor)
            .filter(|digits| digits.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|digits| digits.parse::<i64>().ok())
    };
    let legacy = || {
        URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| text.strip_prefix("v1:").and_then(|seq| seq.parse::<i64>().ok()))
            .filter(|seq| *seq >= 0)
    };
    decimal().or_else(legacy).ok_or_else(|| {
        AppError::BadRequest(
            "the cursor is not one this server gave out; pull without a cursor to start over".to_owned(),
        )
    })
}

/// The number of changes to pull: [`DEFAULT_PULL_LIMIT`] when absent, else 1 to
/// [`MAX_PULL_LIMIT`]. Anything else is refused, not clamped, as the document says.
pub fn pull_limit(limit: Option<u32>) -> Result<u32, AppError> {
    match limit {
        None => Ok(DEFAULT_PULL_LIMIT),
        Some(limit) if (1..=MAX_PULL_LIMIT).contains(&limit) => Ok(limit),
        Some(limit) => Err(AppError::BadRequest(format!(
            "limit must be between 1 and {MAX_PULL_LIMIT}, not {limit}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_decimal_feed_positions_and_old_ones_still_work() {
        assert_eq!(encode_cursor(42), "42");
        assert_eq!(decode_cursor(Some(&encode_cursor(42))).unwrap(), 42);
        assert_eq!(decode_cursor(Some(&encode_cursor(0))).unwrap(), 0);
        assert_eq!(decode_cursor(None).unwrap(), 0);
        // Every value of the documented pattern is taken, leading zeros and the largest too.
        assert_eq!(decode_cursor(Some("007")).unwrap(), 7);
        assert_eq!(
            decode_cursor(Some("999999999999999999")).unwrap(),
            999_999_999_999_999_999
        );
        // What earlier servers gave out.
        assert_eq!(decode_cursor(Some(&URL_SAFE_NO_PAD.encode("v1:42"))).unwrap(), 42);
        for bad in [
            "",
            "-3",
            "+3",
            " 3",
            "1234567890123456789",
            "!!",
            "v1:3",
            &URL_SAFE_NO_PAD.encode("v1:-3"),
            &URL_SAFE_NO_PAD.encode("v2:3"),
        ] {
            assert!(decode_cursor(Some(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_pull_limit_is_one_to_a_thousand_and_nothing_else() {
        assert_eq!(pull_limit(None).unwrap(), DEFAULT_PULL_LIMIT);
        assert_eq!(pull_limit(Some(1)).unwrap(), 1);
        assert_eq!(pull_limit(Some(1000)).unwrap(), 1000);
        for bad in [0, 1001, u32::MAX] {
            let error = pull_limit(Some(bad)).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("limit must be between 1 and 1000, not {bad}")
            );
        }
    }
}
