//! Change notices across the servers of a district that share one PostgreSQL database, so that a
//! tablet connected to server A hears at once of a mark pushed through server B
//! (docs/sync-protocol.md, "Several servers on one database").
//!
//! - Sending: the push writer hands its group's notices to [`announce`] inside the group's write
//!   transaction. `pg_notify` delivers them when, and only if, that transaction commits, so a
//!   notice never names a change another server cannot pull yet.
//! - Hearing: every server keeps one connection `LISTEN`ing ([`start`]) and passes on to its own
//!   event streams what the other servers sent. Its own notices it already published itself.
//! - A dropped connection loses what was sent meanwhile: after reconnecting, every stream is told
//!   that it missed some ([`EventHub::publish_missed`]), and its client pulls.
//!
//! SQLite has one server per database: [`announce`] does nothing there and nothing listens.

use crate::db::DbConnection;
use crate::sync::notices::{EventHub, SchoolNotice};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::sync::watch;
use uuid::Uuid;

/// The PostgreSQL notification channel the servers share.
pub const CHANNEL: &str = "rollcall_changes";
/// PostgreSQL refuses a payload of 8000 bytes or more; a group's notices are split to stay under.
const PAYLOAD_LIMIT: usize = 7_000;
/// Classes named per entry, so that one admin push over a whole school still fits the limit.
const CLASSES_PER_ENTRY: usize = 100;
/// Waits between tries to reach the database again, doubling from the first to the last.
const RECONNECT_FIRST: Duration = Duration::from_secs(1);
const RECONNECT_MAX: Duration = Duration::from_secs(30);

/// Which server process sent a notification: a server ignores its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerId(Uuid);

impl ServerId {
    /// A new id for this run of the server.
    pub fn new() -> Self {
        ServerId(Uuid::new_v4())
    }
}

impl Default for ServerId {
    fn default() -> Self {
        ServerId::new()
    }
}

/// One notification's payload.
#[derive(Debug, Serialize, Deserialize)]
struct Relayed {
    from: ServerId,
    notices: Vec<SchoolNotice>,
}

/// Splits a group's notices into payloads under PostgreSQL's limit.
fn payloads(from: ServerId, notices: &[&SchoolNotice]) -> Vec<String> {
    let entries = notices.iter().flat_map(|published| {
        published
            .notice
            .class_ids
            .chunks(CLASSES_PER_ENTRY)
            .map(|class_ids| SchoolNotice {
                school_id: published.school_id,
                notice: rollcall_shared::protocol::ChangeNotice {
                    class_ids: class_ids.to_vec(),
                    device_id: published.notice.device_id,
                },
            })
    });
    let encode = |notices: Vec<SchoolNotice>| {
        serde_json::to_string(&Relayed { from, notices }).expect("notices always serialize")
    };
    let empty_len = encode(Vec::new()).len();
    let (mut done, mut batch, mut batch_len) = (Vec::new(), Vec::new(), empty_len);
    for entry in entries {
        // The entry and the comma before it.
        let len = serde_json::to_string(&entry).map_or(0, |text| text.len()) + 1;
        if !batch.is_empty() && batch_len + len > PAYLOAD_LIMIT {
            done.push(encode(std::mem::take(&mut batch)));
            batch_len = empty_len;
        }
        batch.push(entry);
        batch_len += len;
    }
    if !batch.is_empty() {
        done.push(encode(batch));
    }
    done
}

/// Sends a group's notices to the other servers, delivered when the caller's transaction
/// commits. One statement however many payloads. Nothing to do on SQLite.
pub fn announce(conn: &mut DbConnection, from: ServerId, notices: &[&SchoolNotice]) -> diesel::QueryResult<()> {
    match conn {
        #[cfg(feature = "postgres")]
        DbConnection::Pg(pg) if !notices.is_empty() => {
            use diesel::RunQueryDsl;
            use diesel::sql_types::{Array, Text};
            diesel::sql_query("SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload")
                .bind::<Text, _>(CHANNEL)
                .bind::<Array<Text>, _>(payloads(from, notices))
                .execute(pg)
                .map(|_| ())
        }
        _ => Ok(()),
    }
}

/// Whether this server hears the other servers' notices now (shown by `/healthz`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RelayStatus {
    /// SQLite: this server is the only one.
    NotUsed,
    /// Connecting to the database to listen, or waiting to try again.
    Connecting,
    /// Listening: a change through another server reaches this server's streams at once.
    Listening,
}

/// The status of this server's relay, to read or to wait on.
#[derive(Debug, Clone)]
pub struct Relay {
    status: watch::Receiver<RelayStatus>,
}

impl Relay {
    /// The relay of a server that is alone on its database.
    pub fn not_used() -> Self {
        Relay {
            status: watch::channel(RelayStatus::NotUsed).1,
        }
    }

    pub fn status(&self) -> RelayStatus {
        *self.status.borrow()
    }

    /// Waits until the status is `wanted` (at once if it is). Never returns if it does not come.
    pub async fn wait_for(&self, wanted: RelayStatus) {
        let mut status = self.status.clone();
        if status.wait_for(|now| *now == wanted).await.is_err() {
            // The relay ended with the server: the status will not change again.
            std::future::pending::<()>().await;
        }
    }
}

/// Starts listening for the other servers' notices on PostgreSQL at `url`, and keeps at it
/// until the server stops (`EventHub::closing`). Must run inside the server's runtime.
#[cfg(feature = "postgres")]
pub fn start(url: &str, events: EventHub, me: ServerId) -> Relay {
    let (status, watching) = watch::channel(RelayStatus::Connecting);
    let url = url.to_owned();
    actix_web::rt::spawn(async move {
        let mut closing = events.closing();
        let mut wait = RECONNECT_FIRST;
        let mut reconnected = false;
        loop {
            let heard = tokio::select! {
                heard = listen(&url, &events, me, &status, reconnected) => heard,
                _ = closing.wait_for(|closing| *closing) => return,
            };
            if status.send_replace(RelayStatus::Connecting) == RelayStatus::Listening {
                wait = RECONNECT_FIRST;
            }
            tracing::warn!(
                error = %heard,
                retry_in_s = wait.as_secs(),
                "not hearing changes made through the district's other Rollcall servers; tablets \
                 connected here get them at their next sync until this reconnects. Check that \
                 the database is reachable"
            );
            reconnected = true;
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = closing.wait_for(|closing| *closing) => return,
            }
            wait = (wait * 2).min(RECONNECT_MAX);
        }
    });
    Relay { status: watching }
}

/// One connection's life: `LISTEN`, then pass notices on until the connection fails. Returns
/// why it ended.
#[cfg(feature = "postgres")]
async fn listen(
    url: &str,
    events: &EventHub,
    me: ServerId,
    status: &watch::Sender<RelayStatus>,
    reconnected: bool,
) -> String {
    use futures_util::StreamExt;
    use tokio_postgres::AsyncMessage;
    let mut config: tokio_postgres::Config = match url.parse() {
        Ok(config) => config,
        Err(e) => return format!("cannot read the database URL: {e}"),
    };
    // Names the connection in pg_stat_activity, for the district's database admin.
    config.application_name("rollcall-relay");
    let (client, mut connection) = match config.connect(tokio_postgres::NoTls).await {
        Ok(pair) => pair,
        Err(e) => return format!("cannot connect to listen: {e}"),
    };
    // The connection does the I/O for the client and yields what the server sends unasked.
    let (heard, mut notifications) = tokio::sync::mpsc::unbounded_channel();
    actix_web::rt::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            let ended = message.is_err();
            let forwarded = match message {
                Ok(AsyncMessage::Notification(notification)) => heard.send(Ok(notification)),
                Ok(_) => Ok(()),
                Err(e) => heard.send(Err(e)),
            };
            if ended || forwarded.is_err() {
                break;
            }
        }
    });
    if let Err(e) = client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
        return format!("cannot listen: {e}");
    }
    if reconnected {
        // What was sent while this server was not listening is lost: every client pulls.
        events.publish_missed();
    }
    status.send_replace(RelayStatus::Listening);
    tracing::info!("hearing changes made through the district's other Rollcall servers");
    while let Some(notification) = notifications.recv().await {
        let notification = match notification {
            Ok(notification) => notification,
            Err(e) => return format!("the listening connection failed: {e}"),
        };
        match serde_json::from_str::<Relayed>(notification.payload()) {
            Ok(relayed) if relayed.from == me => {}
            Ok(relayed) => relayed.notices.into_iter().for_each(|notice| events.publish(notice)),
            // Another version of Rollcall on the same database, mid-upgrade: its clients pull.
            Err(e) => {
                tracing::debug!(error = %e, "a change notice this server cannot read");
                events.publish_missed();
            }
        }
    }
    drop(client);
    "the listening connection closed".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollcall_shared::protocol::ChangeNotice;
    use rollcall_shared::{ClassId, NodeId, SchoolId};

    fn notice(classes: usize) -> SchoolNotice {
        SchoolNotice {
            school_id: SchoolId::from(Uuid::from_u128(1)),
            notice: ChangeNotice {
                class_ids: (0..classes as u128)
                    .map(|n| ClassId::from(Uuid::from_u128(n)))
                    .collect(),
                device_id: NodeId(9),
            },
        }
    }

    fn decoded(payloads: &[String]) -> Vec<SchoolNotice> {
        payloads
            .iter()
            .flat_map(|payload| serde_json::from_str::<Relayed>(payload).unwrap().notices)
            .collect()
    }

    #[test]
    fn a_school_wide_push_is_split_under_postgresql_s_payload_limit_and_loses_no_class() {
        let (big, small) = (notice(1_000), notice(3));
        let sent = payloads(ServerId::new(), &[&big, &small]);
        assert!(sent.len() > 1);
        assert!(
            sent.iter().all(|payload| payload.len() < PAYLOAD_LIMIT),
            "{:?}",
            sent.iter().map(String::len).collect::<Vec<_>>()
        );
        let classes: Vec<ClassId> = decoded(&sent).into_iter().flat_map(|n| n.notice.class_ids).collect();
        let expected: Vec<ClassId> = big
            .notice
            .class_ids
            .iter()
            .chain(&small.notice.class_ids)
            .copied()
            .collect();
        assert_eq!(classes, expected);
    }

    #[test]
    fn a_few_notices_go_in_one_payload() {
        let notices = [notice(2), notice(1), notice(4)];
        let sent = payloads(ServerId::new(), &notices.iter().collect::<Vec<_>>());
        assert_eq!(sent.len(), 1);
        assert_eq!(decoded(&sent), notices);
    }
}
