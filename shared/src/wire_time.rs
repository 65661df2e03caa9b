//! serde adapters for the protocol's dates and times: `YYYY-MM-DD` dates, `HH:MM:SS` times of
//! day and RFC 3339 UTC instants, written exactly as chrono's own serde writes them.
//!
//! Why not chrono's serde: it reads every one of these through chrono's general strftime-style
//! parser, about 17 KB of the wasm client that tablets download. These read dates with
//! [`parse_date`], instants with chrono's dedicated RFC 3339 reader, and times of day from their
//! fixed digits.

use crate::op::{format_date, parse_date};
use chrono::{DateTime, NaiveDate, NaiveTime, SecondsFormat, Timelike, Utc};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};

/// `YYYY-MM-DD`.
pub mod date {
    use super::*;

    pub fn serialize<S: Serializer>(date: &NaiveDate, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_date(*date))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NaiveDate, D::Error> {
        read(&String::deserialize(deserializer)?)
    }

    pub(super) fn read<E: serde::de::Error>(text: &str) -> Result<NaiveDate, E> {
        parse_date(text).map_err(|error| E::custom(error.message))
    }
}

/// `YYYY-MM-DD` or `null`.
pub mod optional_date {
    use super::*;

    pub fn serialize<S: Serializer>(date: &Option<NaiveDate>, serializer: S) -> Result<S::Ok, S::Error> {
        match date {
            Some(date) => super::date::serialize(date, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<NaiveDate>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| super::date::read(&text))
            .transpose()
    }
}

/// A time of day: written `HH:MM:SS`; read from `HH:MM` or `HH:MM:SS`.
pub mod time_of_day {
    use super::*;

    pub fn serialize<S: Serializer>(time: &NaiveTime, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format(*time))
    }

    /// Writes `HH:MM:SS`.
    pub fn format(time: NaiveTime) -> String {
        format!("{:02}:{:02}:{:02}", time.hour(), time.minute(), time.second())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NaiveTime, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse(&text).ok_or_else(|| D::Error::custom(format!("{text} is not a time of day in HH:MM or HH:MM:SS form")))
    }

    /// Reads `HH:MM` or `HH:MM:SS` (two digits each).
    pub fn parse(text: &str) -> Option<NaiveTime> {
        let digits = |at: usize| -> Option<u32> {
            let pair = text.get(at..at + 2)?;
            pair.bytes().all(|b| b.is_ascii_digit()).then(|| pair.parse().ok())?
        };
        let colon = |at: usize| text.as_bytes().get(at) == Some(&b':');
        let seconds = match text.len() {
            5 => 0,
            8 if colon(5) => digits(6)?,
            _ => return None,
        };
        if !colon(2) {
            return None;
        }
        NaiveTime::from_hms_opt(digits(0)?, digits(3)?, seconds)
    }
}

/// An instant: RFC 3339 with any offset on reading, UTC with `Z` on writing.
pub mod utc {
    use super::*;

    pub fn serialize<S: Serializer>(time: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&time.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(deserializer)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|time| time.with_timezone(&Utc))
            .map_err(|_| D::Error::custom(format!("{text} is not an RFC 3339 time")))
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, NaiveTime, TimeZone, Utc};
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Times {
        #[serde(with = "super::date")]
        date: NaiveDate,
        #[serde(with = "super::optional_date", default)]
        until: Option<NaiveDate>,
        #[serde(with = "super::time_of_day")]
        starts: NaiveTime,
        #[serde(with = "super::utc")]
        at: chrono::DateTime<Utc>,
    }

    /// What chrono's own serde writes for the same values: the wire form must not change.
    #[derive(Serialize)]
    struct ChronoTimes {
        date: NaiveDate,
        until: Option<NaiveDate>,
        starts: NaiveTime,
        at: chrono::DateTime<Utc>,
    }

    #[test]
    fn writes_what_chrono_wrote_and_reads_it_back() {
        let date = NaiveDate::from_ymd_opt(2026, 11, 2).expect("a real date");
        let starts = NaiveTime::from_hms_opt(8, 45, 0).expect("a real time");
        for at in [
            Utc.with_ymd_and_hms(2026, 11, 2, 8, 45, 1)
                .single()
                .expect("a real instant"),
            Utc.timestamp_millis_opt(1_790_000_000_123)
                .single()
                .expect("a real instant"),
        ] {
            for until in [None, Some(date)] {
                let ours = serde_json::to_value(Times {
                    date,
                    until,
                    starts,
                    at,
                })
                .expect("serde round trip");
                let chrono = serde_json::to_value(ChronoTimes {
                    date,
                    until,
                    starts,
                    at,
                })
                .expect("serde round trip");
                assert_eq!(ours, chrono);
                let back: Times = serde_json::from_value(ours).expect("serde round trip");
                assert_eq!(
                    back,
                    Times {
                        date,
                        until,
                        starts,
                        at
                    }
                );
            }
        }
    }

    #[test]
    fn reads_the_accepted_forms_and_refuses_others() {
        let read = |json: &str| serde_json::from_str::<Times>(json);
        let ok = read(r#"{"date":"2026-11-02","starts":"08:45","at":"2026-11-02T09:45:00+01:00"}"#)
            .expect("serde round trip");
        assert_eq!(ok.starts, NaiveTime::from_hms_opt(8, 45, 0).expect("a real time"));
        assert_eq!(
            ok.at,
            Utc.with_ymd_and_hms(2026, 11, 2, 8, 45, 0)
                .single()
                .expect("a real instant")
        );
        assert_eq!(ok.until, None);
        for bad in [
            r#"{"date":"2026-2-30","starts":"08:45","at":"2026-11-02T08:45:00Z"}"#,
            r#"{"date":"2026-11-02","starts":"8:45","at":"2026-11-02T08:45:00Z"}"#,
            r#"{"date":"2026-11-02","starts":"24:00","at":"2026-11-02T08:45:00Z"}"#,
            r#"{"date":"2026-11-02","starts":"08:45:0x","at":"2026-11-02T08:45:00Z"}"#,
            r#"{"date":"2026-11-02","starts":"08:45","at":"yesterday"}"#,
            r#"{"date":"2026-11-02","starts":"08:45","at":"2026-11-02 08:45"}"#,
        ] {
            assert!(read(bad).is_err(), "{bad}");
        }
    }
}
