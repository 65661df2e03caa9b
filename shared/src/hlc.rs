//! The hybrid logical clock (HLC) that orders every edit.
//!
//! An HLC is (wall ms, counter, node id). It stays close to real time, never runs backwards
//! on one device even when the wall clock jumps back, and gives a total order across devices:
//! wall first, then counter, then node id. Its text form sorts exactly like that order, so a
//! database can compare HLCs as plain strings.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// The largest wall time the 13-digit text form can hold (year 2286).
pub const MAX_WALL_MS: u64 = 9_999_999_999_999;

/// A device's identity in the clock: 64 random bits, written as 16 lowercase hex digits.
/// It is also the `device_id` of a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "diesel", derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow), diesel(sql_type = diesel::sql_types::Text))]
pub struct NodeId(pub u64);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for NodeId {
    type Err = HlcParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_lower_hex(s, 16).map(NodeId).ok_or(HlcParseError::Node)
    }
}

/// One timestamp. The derived order compares wall, then counter, then node: the clock order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "diesel", derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow), diesel(sql_type = diesel::sql_types::Text))]
pub struct Hlc {
    pub wall_ms: u64,
    pub counter: u16,
    pub node: NodeId,
}

impl Hlc {
    /// The smallest HLC of a node: what a brand-new clock has seen.
    pub const fn zero(node: NodeId) -> Hlc {
        Hlc {
            wall_ms: 0,
            counter: 0,
            node,
        }
    }

    /// The HLC one tick after `self` on the given wall time and node. The counter never wraps:
    /// when it is full the wall time moves on by one millisecond instead, which keeps the
    /// clock monotonic at the cost of running a hair ahead under extreme bursts.
    fn tick(wall_ms: u64, counter: Option<u16>, node: NodeId) -> Hlc {
        match counter {
            None => Hlc {
                wall_ms,
                counter: 0,
                node,
            },
            Some(c) => match c.checked_add(1) {
                Some(next) => Hlc {
                    wall_ms,
                    counter: next,
                    node,
                },
                None => Hlc {
                    wall_ms: wall_ms + 1,
                    counter: 0,
                    node,
                },
            },
        }
    }
}

impl fmt::Display for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:013}-{:04x}-{}", self.wall_ms, self.counter, self.node)
    }
}

/// Why a text is not an HLC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HlcParseError {
    #[error("an HLC is `<13-digit ms>-<4 hex>-<16 hex>`, e.g. 1763719200000-0000-9f2c4a1b7d3e5f60")]
    Shape,
    #[error("the wall time of an HLC must be exactly 13 decimal digits")]
    Wall,
    #[error("the counter of an HLC must be exactly 4 lowercase hex digits")]
    Counter,
    #[error("a node id (device id) must be exactly 16 lowercase hex digits")]
    Node,
}

/// Parses exactly `len` lowercase hex digits. Uppercase is refused on purpose: it would sort
/// differently from lowercase and break "text order = clock order".
fn parse_lower_hex(s: &str, len: usize) -> Option<u64> {
    let canonical = s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    canonical.then(|| u64::from_str_radix(s, 16).ok()).flatten()
}

impl FromStr for Hlc {
    type Err = HlcParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split('-');
        let (Some(wall), Some(counter), Some(node), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(HlcParseError::Shape);
        };
        if wall.len() != 13 || !wall.bytes().all(|b| b.is_ascii_digit()) {
            return Err(HlcParseError::Wall);
        }
        let wall_ms = wall.parse().map_err(|_| HlcParseError::Wall)?;
        let counter = parse_lower_hex(counter, 4).ok_or(HlcParseError::Counter)? as u16;
        let node = node.parse()?;
        Ok(Hlc { wall_ms, counter, node })
    }
}

/// On the wire a node id and an HLC are their text forms: written with `Display`, read with
/// `FromStr`, so the wire refuses exactly what the text form refuses.
macro_rules! serde_as_text {
    ($($ty:ty),*) => {$(
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    )*};
}

serde_as_text!(NodeId, Hlc);

/// A device's (or the server's) clock. It is pure: the caller passes the wall time in, so the
/// same code runs on a tablet, on the server and in tests with an injected clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HlcClock {
    last: Hlc,
}

impl HlcClock {
    /// A fresh clock for a node that has never stamped anything.
    pub fn new(node: NodeId) -> Self {
        Self { last: Hlc::zero(node) }
    }

    /// A clock that continues from the last HLC it issued or saw (kept in storage across restarts).
    pub fn resume(last: Hlc) -> Self {
        Self { last }
    }

    /// This clock's node id.
    pub fn node(&self) -> NodeId {
        self.last.node
    }

    /// The latest HLC this clock has issued or seen.
    pub fn last(&self) -> Hlc {
        self.last
    }

    /// Stamps a local event. Strictly greater than anything this clock issued or saw before,
    /// whatever the wall clock did.
    pub fn send(&mut self, now_ms: u64) -> Hlc {
        let last = self.last;
        self.last = if now_ms > last.wall_ms {
            Hlc::tick(now_ms, None, last.node)
        } else {
            Hlc::tick(last.wall_ms, Some(last.counter), last.node)
        };
        self.last
    }

    /// Merges a remote HLC (e.g. the server's) and stamps the receipt. The result is greater
    /// than both the remote HLC and anything this clock issued before.
    ///
    /// It never refuses: a remote clock far ahead is the caller's business (see [`SkewCheck`]);
    /// the server re-stamps such ops instead of merging them.
    pub fn receive(&mut self, remote: Hlc, now_ms: u64) -> Hlc {
        let last = self.last;
        let wall = now_ms.max(last.wall_ms).max(remote.wall_ms);
        let counter = match (wall == last.wall_ms, wall == remote.wall_ms) {
            (true, true) => Some(last.counter.max(remote.counter)),
            (true, false) => Some(last.counter),
            (false, true) => Some(remote.counter),
            (false, false) => None,
        };
        self.last = Hlc::tick(wall, counter, last.node);
        self.last
    }
}

/// How far a device's HLC is from the receiver's wall clock.
///
/// The server never refuses an op for its clock (docs/merge-rules.md, "Clock skew"): an op whose
/// HLC is more than `max_drift_ms` ahead is re-stamped with the server's HLC, flagged in the op
/// log, and the device is told `offset_ms` so it can correct its own clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkewCheck {
    /// Remote wall time minus local wall time, in ms: positive when the device runs ahead.
    pub offset_ms: i64,
    /// True when the remote HLC is further ahead than the allowed drift.
    pub ahead: bool,
}

impl SkewCheck {
    /// Compares a remote HLC with the local wall clock.
    pub fn check(remote: Hlc, now_ms: u64, max_drift_ms: u64) -> SkewCheck {
        let offset_ms = remote.wall_ms as i128 - now_ms as i128;
        let offset_ms = offset_ms.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
        SkewCheck {
            offset_ms,
            ahead: offset_ms > 0 && offset_ms as u64 > max_drift_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODE: NodeId = NodeId(0x9f2c_4a1b_7d3e_5f60);

    #[test]
    fn text_form_matches_the_design_example() {
        let hlc = Hlc {
            wall_ms: 1_763_719_200_000,
            counter: 0,
            node: NODE,
        };
        assert_eq!(hlc.to_string(), "1763719200000-0000-9f2c4a1b7d3e5f60");
        assert_eq!("1763719200000-0000-9f2c4a1b7d3e5f60".parse::<Hlc>(), Ok(hlc));
    }

    #[test]
    fn malformed_text_is_refused_with_a_reason() {
        for (text, error) in [
            ("", HlcParseError::Shape),
            ("1763719200000-0000", HlcParseError::Shape),
            ("1763719200000-0000-9f2c4a1b7d3e5f60-1", HlcParseError::Shape),
            ("176371920000-0000-9f2c4a1b7d3e5f60", HlcParseError::Wall),
            ("+763719200000-0000-9f2c4a1b7d3e5f60", HlcParseError::Wall),
            ("1763719200000-000g-9f2c4a1b7d3e5f60", HlcParseError::Counter),
            ("1763719200000-00A0-9f2c4a1b7d3e5f60", HlcParseError::Counter),
            ("1763719200000-0000-9F2C4A1B7D3E5F60", HlcParseError::Node),
            ("1763719200000-0000-9f2c4a1b7d3e5f6", HlcParseError::Node),
        ] {
            assert_eq!(text.parse::<Hlc>(), Err(error), "{text:?}");
        }
    }

    #[test]
    fn counter_overflow_moves_the_wall_on_instead_of_wrapping() {
        let mut clock = HlcClock::resume(Hlc {
            wall_ms: 1000,
            counter: u16::MAX,
            node: NODE,
        });
        let next = clock.send(1000);
        assert_eq!(
            next,
            Hlc {
                wall_ms: 1001,
                counter: 0,
                node: NODE
            }
        );
        let mut clock = HlcClock::resume(Hlc {
            wall_ms: 1000,
            counter: u16::MAX - 1,
            node: NODE,
        });
        let remote = Hlc {
            wall_ms: 1000,
            counter: u16::MAX,
            node: NodeId(1),
        };
        assert_eq!(
            clock.receive(remote, 5),
            Hlc {
                wall_ms: 1001,
                counter: 0,
                node: NODE
            }
        );
    }

    #[test]
    fn skew_reports_the_offset_and_flags_only_beyond_the_drift() {
        let remote = Hlc {
            wall_ms: 70_000,
            counter: 0,
            node: NODE,
        };
        assert_eq!(
            SkewCheck::check(remote, 10_000, 60_000),
            SkewCheck {
                offset_ms: 60_000,
                ahead: false
            }
        );
        assert_eq!(
            SkewCheck::check(remote, 9_999, 60_000),
            SkewCheck {
                offset_ms: 60_001,
                ahead: true
            }
        );
        assert_eq!(
            SkewCheck::check(remote, 80_000, 60_000),
            SkewCheck {
                offset_ms: -10_000,
                ahead: false
            }
        );
    }
}
