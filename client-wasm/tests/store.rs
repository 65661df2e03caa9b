//! The durable store in a real browser: durability across re-open, queue order and batching,
//! the schema upgrade from version 1, per-user isolation, and forgetting settled history.

#![cfg(target_arch = "wasm32")]

mod common;

use common::*;
use rexie::TransactionMode;
use rollcall_client::api::{self, Api};
use rollcall_client::engine::{Engine, Options};
use rollcall_client::error::ClientError;
use rollcall_client::store::{self, LocalStore, OpState, SCHEMA_VERSION, to_js};
use rollcall_shared::protocol::{Outcome, PushRequest};
use rollcall_shared::{FieldChange, MarkValue, NodeId, RawOp, Status, VariantArray};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn a_recorded_mark_survives_closing_and_reopening_the_database() {
    let mut db = TestDb::open("durable").await;
    let node = db.store().device().await.expect("device").node;
    let now = 1_770_000_000_000.0;
    let made = db
        .store()
        .record(register(1), now, |_| {
            Ok(vec![
                status(student(0), Status::Absent),
                status(student(1), Status::Late),
            ])
        })
        .await
        .expect("record");
    assert_eq!(made.len(), 2);
    assert!(made[0].change.hlc < made[1].change.hlc, "each op gets a later HLC");

    db.reopen().await;

    let store = db.store();
    assert_eq!(
        store.device().await.expect("device").node,
        node,
        "the device keeps its identity"
    );
    let pending = store.pending().await.expect("pending");
    assert_eq!(
        pending.iter().map(|record| record.op_id).collect::<Vec<_>>(),
        made.iter().map(|op| op.op_id).collect::<Vec<_>>()
    );
    let (record, ops) = store.register(register(1)).await.expect("register");
    assert_eq!(record.local.marks[&student(0)].status(), Some(Status::Absent));
    assert_eq!(record.local.marks[&student(1)].status(), Some(Status::Late));
    assert!(
        record.server.marks.is_empty(),
        "nothing is known to be on the server yet"
    );
    assert_eq!(ops.len(), 2);
    // The clock continues after a reload: a new op sorts after the old ones even if the wall
    // clock went back.
    let later = store
        .record(register(1), now - 60_000.0, |_| {
            Ok(vec![status(student(0), Status::Present)])
        })
        .await
        .expect("record after reopen");
    assert!(later[0].change.hlc > made[1].change.hlc);
    db.finish().await;
}

#[wasm_bindgen_test]
async fn a_failing_step_leaves_nothing_half_written() {
    let db = TestDb::open("atomic").await;
    let store = db.store();
    store
        .record(register(1), 1_770_000_000_000.0, |_| {
            Ok(vec![status(student(0), Status::Present)])
        })
        .await
        .expect("first mark");
    let before_device = store.device().await.expect("device");
    let failed = store
        .record(register(1), 1_770_000_001_000.0, |_| {
            Err(ClientError::BadArgument("the plan refuses".into()))
        })
        .await;
    assert!(failed.is_err());
    assert_eq!(store.pending().await.expect("pending").len(), 1);
    assert_eq!(
        store.device().await.expect("device"),
        before_device,
        "the clock did not move"
    );
    db.finish().await;
}

#[wasm_bindgen_test]
async fn the_queue_is_pushed_oldest_first_in_batches_that_respect_count_and_size() {
    let db = TestDb::open("queue").await;
    let store = db.store();
    let now = 1_770_000_000_000.0;
    // 1,200 ops over three registers, recorded in a known order.
    let mut expected = Vec::new();
    let mut made = Vec::new();
    for round in 0..40u128 {
        for period in 1..=3u8 {
            let ops = store
                .record(register(period), now + round as f64, |_| {
                    Ok((0..10)
                        .map(|n| status(student(n), Status::VARIANTS[(round as usize + n as usize) % 4]))
                        .collect())
                })
                .await
                .expect("record");
            expected.extend(ops.iter().map(|op| op.op_id));
            made.extend(ops);
        }
    }
    assert_eq!(store.counts().await.expect("counts").pending, 1200);

    let first = store.next_batch(500, usize::MAX).await.expect("batch");
    assert_eq!(first.len(), 500);
    assert_eq!(
        first.iter().map(|r| op_of(r).op_id).collect::<Vec<_>>(),
        expected[..500]
    );

    // The ops go into the push as they were stored when queued, and the server reads the body
    // as the request of this device with those ops, in queue order.
    let device = NodeId(0x7f);
    let body = api::push_body(device, &first[..3]);
    let request: PushRequest = serde_json::from_str(&body).expect("the body is a push request");
    let sent: Vec<RawOp> = made[..3].iter().cloned().map(RawOp::from).collect();
    assert_eq!(
        request,
        PushRequest {
            device_id: device,
            ops: sent
        }
    );
    let empty: PushRequest = serde_json::from_str(&api::push_body(device, &[])).expect("JSON");
    assert!(empty.ops.is_empty());

    // The server answers only the first 300: the other 200 stay queued, in order.
    let response = answer(&first[..300], |_| Outcome::Applied, 1_770_000_100_000);
    let applied = store.apply_push(&first, &response, now).await.expect("apply");
    assert_eq!((applied.synced, applied.unanswered), (300, 200));
    let second = store.next_batch(500, usize::MAX).await.expect("batch");
    assert_eq!(
        second.iter().map(|r| op_of(r).op_id).collect::<Vec<_>>(),
        expected[300..800]
    );

    // A byte budget cuts a batch short, but never to nothing.
    let small = store.next_batch(500, 2_000).await.expect("batch");
    assert!(small.len() > 1 && small.len() < 20, "cut by size: {}", small.len());
    assert_eq!(op_of(&small[0]).op_id, expected[300]);
    let tiny = store.next_batch(500, 1).await.expect("batch");
    assert_eq!(tiny.len(), 1);

    // Long notes: 500 ops of 500 four-byte characters would be ~1 MB; the batch stays under 512 KiB.
    let note: String = "😀".repeat(500);
    for n in 0..300u128 {
        let note = note.clone();
        store
            .record(register(4), now + 100.0, move |_| {
                Ok(vec![FieldChange::Mark {
                    student_id: student(n % 10),
                    value: MarkValue::Note(note),
                }])
            })
            .await
            .expect("record a note");
    }
    let mut rest = Vec::new();
    loop {
        let batch = store
            .next_batch(500, rollcall_client::engine::PUSH_BATCH_BYTES)
            .await
            .expect("batch");
        if batch.is_empty() {
            break;
        }
        let bytes: usize = batch.iter().map(|record| record.json.len()).sum();
        assert!(
            bytes <= rollcall_client::engine::PUSH_BATCH_BYTES,
            "batch of {bytes} bytes"
        );
        assert!(batch.len() <= 500);
        let response = answer(&batch, |_| Outcome::Applied, 1_770_000_200_000);
        store.apply_push(&batch, &response, now).await.expect("apply");
        rest.extend(batch.iter().map(|record| op_of(record).op_id));
    }
    assert_eq!(rest[..900], expected[300..], "the whole queue went out in order");
    assert_eq!(rest.len(), 900 + 300);
    assert_eq!(store.counts().await.expect("counts").pending, 0);
    db.finish().await;
}

/// Version 1 of the schema had no `reg` on ops. A tablet upgraded with marks in its queue must
/// keep them, in order, and find them per register.
#[wasm_bindgen_test]
async fn a_version_1_database_is_upgraded_with_its_queue_intact() {
    let name = common::unique_name("upgrade");
    // Build version 1 with the current code's records, then strip `reg` as version 1 wrote them.
    let ops = {
        let current = LocalStore::open(&name).await.expect("open");
        let ops = current
            .record(register(2), 1_770_000_000_000.0, |_| {
                Ok(vec![
                    status(student(0), Status::Absent),
                    status(student(1), Status::Present),
                ])
            })
            .await
            .expect("record");
        current.close();
        LocalStore::delete(&name).await.expect("delete");
        ops
    };
    {
        let v1 = store::schema(&name, 1).build().await.expect("create version 1");
        assert_eq!(v1.version(), Ok(1));
        assert!(!v1.store_names().is_empty());
        let tx = v1
            .transaction(&["ops", "meta"], TransactionMode::ReadWrite)
            .expect("transaction");
        let op_store = tx.store("ops").expect("ops");
        for op in &ops {
            let value = serde_json::json!({
                "op_id": op.op_id,
                "op": op,
                "state": "pending",
                "queued": 1,
            });
            op_store
                .add(&store::to_js(&value).expect("js"), None)
                .await
                .expect("add");
        }
        let device = serde_json::json!({
            "node": "00000000000000aa",
            "last_hlc": ops[1].change.hlc.to_string(),
        });
        tx.store("meta")
            .expect("meta")
            .put(&store::to_js(&device).expect("js"), Some(&JsValue::from_str("device")))
            .await
            .expect("put device");
        tx.done().await.expect("commit");
        v1.close();
    }

    let upgraded = LocalStore::open(&name).await.expect("open upgrades");
    assert_eq!(upgraded.version().expect("version"), SCHEMA_VERSION);
    let pending = upgraded.pending().await.expect("pending");
    assert_eq!(
        pending.iter().map(|r| r.op_id).collect::<Vec<_>>(),
        ops.iter().map(|op| op.op_id).collect::<Vec<_>>()
    );
    assert!(pending.iter().all(|r| r.reg == store::register_id(&register(2))));
    // Queued by an earlier version, they go into a push as they were stored.
    let queued = upgraded.next_batch(500, usize::MAX).await.expect("batch");
    assert_eq!(queued.iter().map(op_of).collect::<Vec<_>>(), ops);
    let (_, by_register) = upgraded
        .register(register(2))
        .await
        .expect("register lookup by the new index");
    assert_eq!(by_register.len(), 2);
    assert!(by_register.iter().all(|r| r.state == OpState::Pending));
    let device = upgraded.device().await.expect("device");
    assert_eq!(
        device.node.to_string(),
        "00000000000000aa",
        "the device identity survives"
    );
    assert_eq!(
        device.clock_offset_ms, 0,
        "a field version 1 did not have gets its default"
    );
    // Opening again is a no-op.
    upgraded.close();
    let again = LocalStore::open(&name).await.expect("open again");
    assert_eq!(again.pending().await.expect("pending").len(), 2);
    again.close();
    LocalStore::delete(&name).await.expect("delete");
}

#[wasm_bindgen_test]
async fn two_users_on_one_tablet_never_share_a_queue_or_a_register() {
    // Fresh user ids, so that no earlier run's databases are in the way.
    let fresh_id = || rollcall_shared::UserId(rollcall_client::platform::new_op_id().expect("uuid").as_uuid());
    let first = teacher();
    let first = rollcall_shared::protocol::UserInfo {
        id: fresh_id(),
        ..first
    };
    let mut second = teacher();
    second.id = fresh_id();
    second.username = "teacher2".into();
    assert_ne!(
        store::database_name(&first.id.to_string()),
        store::database_name(&second.id.to_string())
    );
    // Nothing listens on port 9: these engines never reach a server.
    let options = Options {
        auto_sync: false,
        ..Options::default()
    };
    let engine_a = Engine::open(Api::new("http://127.0.0.1:9"), first.clone(), options)
        .await
        .expect("open a");
    let engine_b = Engine::open(Api::new("http://127.0.0.1:9"), second.clone(), options)
        .await
        .expect("open b");
    engine_a
        .store
        .save_roster(&to_js(&roster(3)).expect("a roster encodes"), 0.0)
        .await
        .expect("roster a");
    engine_b
        .store
        .save_roster(&to_js(&roster(3)).expect("a roster encodes"), 0.0)
        .await
        .expect("roster b");
    engine_a
        .change(register(1), |_| Ok(vec![status(student(0), Status::Absent)]))
        .await
        .expect("a marks");
    assert_eq!(engine_a.status().pending, 1);
    assert_eq!(engine_b.status().pending, 0);
    assert!(engine_b.store.pending().await.expect("pending").is_empty());
    let seen_by_b = engine_b.register_view(register(1)).await.expect("view");
    assert!(seen_by_b.students.iter().all(|row| row.status.is_none()));
    let seen_by_a = engine_a.register_view(register(1)).await.expect("view");
    assert_eq!(seen_by_a.students[0].status, Some(Status::Absent));
    assert_ne!(
        engine_a.store.device().await.expect("device").node,
        engine_b.store.device().await.expect("device").node,
        "each user's database has its own clock node"
    );
    // A sync attempt for B with nothing reachable fails and keeps A's queue untouched.
    let report = engine_b.sync().await;
    assert!(!report.ok);
    assert_eq!(report.error.as_ref().map(|e| e.code.as_str()), Some("OFFLINE"));
    assert_eq!(engine_a.store.pending().await.expect("pending").len(), 1);
    engine_a.close();
    engine_b.close();
    for user in [first, second] {
        LocalStore::delete(&store::database_name(&user.id.to_string()))
            .await
            .expect("delete");
    }
}

/// A month on, the ops of settled registers go; registers with an op still queued or on the
/// rejected list keep everything, and the marks themselves are never touched.
#[wasm_bindgen_test]
async fn settled_history_is_forgotten_a_month_on_and_unsettled_history_is_kept() {
    let db = TestDb::open("history").await;
    let store = db.store();
    let at = |date: chrono::NaiveDate, hour: u32| {
        date.and_hms_opt(hour, 0, 0)
            .expect("a real time")
            .and_utc()
            .timestamp_millis() as f64
    };
    let marked_at = at(date(), 9);
    let recent = rollcall_shared::RegisterKey {
        date: date() + chrono::Days::new(31),
        ..register(1)
    };
    let month_on = at(recent.date, 12);
    let mark = async |key, students: &[u128]| {
        let changes: Vec<_> = students.iter().map(|&n| status(student(n), Status::Present)).collect();
        store
            .record(key, marked_at, move |_| Ok(changes))
            .await
            .expect("record")
    };
    mark(register(1), &[0, 1]).await; // synced
    mark(register(2), &[0]).await; // synced…
    let still_queued = mark(register(2), &[1]).await; // …and one the server has not answered
    mark(register(3), &[0]).await; // rejected, on the rejected list
    let dismissed = mark(register(4), &[0]).await; // rejected, dismissed by the teacher
    mark(recent, &[0]).await; // synced, but recent

    let batch = store.next_batch(500, usize::MAX).await.expect("batch");
    let answered: Vec<_> = batch
        .iter()
        .filter(|record| op_of(record).op_id != still_queued[0].op_id)
        .cloned()
        .collect();
    let outcome = |i: usize| match op_of(&answered[i]).change.register {
        key if (key.period == 3 || key.period == 4) && key.date == date() => Outcome::Rejected,
        _ => Outcome::Applied,
    };
    let response = answer(&answered, outcome, marked_at as u64);
    store.apply_push(&batch, &response, marked_at).await.expect("apply");
    assert!(store.dismiss_rejected(dismissed[0].op_id).await.expect("dismiss"));

    assert_eq!(store.forget_settled_history(month_on).await.expect("forget"), 3);

    let ops_of = async |key| store.register(key).await.expect("register").1.len();
    assert_eq!(ops_of(register(1)).await, 0, "settled: forgotten");
    assert_eq!(ops_of(register(2)).await, 2, "an op still queued: kept whole");
    assert_eq!(ops_of(register(3)).await, 1, "on the rejected list: kept");
    assert_eq!(ops_of(register(4)).await, 0, "its rejection was dismissed: settled");
    assert_eq!(ops_of(recent).await, 1, "recent: kept");
    assert_eq!(store.counts().await.expect("counts").rejected, 1);

    // The marks stay, and with no op left the teacher sees them as synced.
    let (record, ops) = store.register(register(1)).await.expect("register");
    let view = rollcall_client::view::register_view(&roster(2), register(1), &record, &ops);
    for row in &view.students {
        assert_eq!(row.status, Some(Status::Present), "{}", row.given_name);
        assert_eq!(row.sync, rollcall_client::view::SyncState::Synced, "{}", row.given_name);
    }

    // Once a day at most: register 2 settles, but its history waits for the next day.
    let queued = store.next_batch(500, usize::MAX).await.expect("batch");
    let response = answer(&queued, |_| Outcome::Applied, month_on as u64);
    store.apply_push(&queued, &response, month_on).await.expect("apply");
    let hour = 3_600_000.0;
    assert_eq!(store.forget_settled_history(month_on + hour).await.expect("forget"), 0);
    assert_eq!(
        store
            .forget_settled_history(month_on + 25.0 * hour)
            .await
            .expect("forget"),
        2
    );
    assert_eq!(ops_of(register(2)).await, 0);
    db.finish().await;
}
