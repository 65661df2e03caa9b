//! The server's hybrid logical clock: what stamps re-stamped ops, locks and responses.

use chrono::{DateTime, Utc};
use rollcall_shared::{Hlc, HlcClock, NodeId};
use std::sync::Mutex;

/// The server's hybrid logical clock. Its node id is random per process, so several servers on
/// one database (or one server across restarts) never issue the same HLC.
#[derive(Debug)]
pub struct ServerClock {
    clock: Mutex<HlcClock>,
}

impl Default for ServerClock {
    fn default() -> Self {
        ServerClock {
            clock: Mutex::new(HlcClock::new(NodeId(rand::random()))),
        }
    }
}

impl ServerClock {
    fn with<T>(&self, f: impl FnOnce(&mut HlcClock) -> T) -> T {
        let mut clock = self.clock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut clock)
    }

    /// Stamps a server event (a re-stamped op, a lock, a response's `server_hlc`).
    pub fn stamp(&self, now: DateTime<Utc>) -> Hlc {
        self.with(|clock| clock.send(wall_ms(now)))
    }

    /// Takes in a device's HLC, so that later server stamps order after it.
    pub fn observe(&self, remote: Hlc, now: DateTime<Utc>) {
        self.with(|clock| clock.receive(remote, wall_ms(now)));
    }
}

/// Wall milliseconds for the HLC; times before 1970 do not occur on a working server.
pub fn wall_ms(now: DateTime<Utc>) -> u64 {
    u64::try_from(now.timestamp_millis()).unwrap_or(0)
}
