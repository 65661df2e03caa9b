//! Change notices: after each commit the push writer publishes which classes each push changed,
//! and from which device, and every open event stream (`api::events`) hears the ones its reader
//! may see. A notice carries no marks; the client pulls them with its cursor.
//!
//! Notices come from this server's own writer and, with several servers on one PostgreSQL
//! database, from the others' through `sync::relay`.

use rollcall_shared::protocol::ChangeNotice;
use rollcall_shared::{ClassId, SchoolId};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::{broadcast, watch};

/// One committed push's notice, and the school it concerns (which is not sent to clients).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SchoolNotice {
    pub school_id: SchoolId,
    pub notice: ChangeNotice,
}

/// What every open stream hears.
#[derive(Debug, PartialEq, Eq)]
pub enum Heard {
    Notice(SchoolNotice),
    /// Notices were lost on the way (the relay from the other servers dropped): each client
    /// should pull, whatever its classes.
    Missed,
}

/// Fans notices out to every open event stream.
#[derive(Debug, Clone)]
pub struct EventHub {
    notices: broadcast::Sender<Arc<Heard>>,
    closing: Arc<watch::Sender<bool>>,
    /// How many streams are open now. Each holds a socket and a task until its client has gone.
    open: Arc<watch::Sender<usize>>,
}

impl Default for EventHub {
    fn default() -> Self {
        EventHub {
            notices: broadcast::channel(1024).0,
            closing: Arc::new(watch::channel(false).0),
            open: Arc::new(watch::channel(0).0),
        }
    }
}

impl EventHub {
    /// Tells every listener of the caller's school; nobody listening is fine.
    pub fn publish(&self, notice: SchoolNotice) {
        let _ = self.notices.send(Arc::new(Heard::Notice(notice)));
    }

    /// Tells every listener that some notices were lost, so that each pulls.
    pub fn publish_missed(&self) {
        let _ = self.notices.send(Arc::new(Heard::Missed));
    }

    /// Ends every open stream, so that a graceful shutdown does not wait for them.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// The number of open streams, to read now or to wait on (`wait_for`, `changed`). A stream
    /// counts until the server has let go of it: its client went away, or the server stops.
    pub fn open_streams(&self) -> watch::Receiver<usize> {
        self.open.subscribe()
    }

    /// The notices published from now on, for one stream.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Heard>> {
        self.notices.subscribe()
    }

    /// Turns true when the server stops: every stream ends then.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }
}

/// Counts one stream as open for as long as it lives.
#[derive(Debug)]
pub struct OpenStream(Arc<watch::Sender<usize>>);

impl OpenStream {
    pub fn new(hub: &EventHub) -> OpenStream {
        hub.open.send_modify(|open| *open += 1);
        tracing::debug!(open = *hub.open.borrow(), "event stream opened");
        OpenStream(hub.open.clone())
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.send_modify(|open| *open = open.saturating_sub(1));
        tracing::debug!(open = *self.0.borrow(), "event stream closed");
    }
}

/// Which notices one stream may see.
#[derive(Debug)]
pub struct Audience {
    pub school_id: SchoolId,
    /// `None` for admins: the whole school.
    pub classes: Option<HashSet<ClassId>>,
}

impl Audience {
    /// The classes of `notice` this stream may hear of; `None` when there are none. A push may
    /// touch classes of several teachers (an admin's correction): each hears only of theirs.
    pub fn visible(&self, published: &SchoolNotice) -> Option<ChangeNotice> {
        if published.school_id != self.school_id {
            return None;
        }
        let notice = &published.notice;
        let class_ids: Vec<ClassId> = match &self.classes {
            None => notice.class_ids.clone(),
            Some(classes) => notice
                .class_ids
                .iter()
                .copied()
                .filter(|id| classes.contains(id))
                .collect(),
        };
        (!class_ids.is_empty()).then_some(ChangeNotice {
            class_ids,
            device_id: notice.device_id,
        })
    }
}
