//! Local and pulled state meet through `shared`'s merge, in a real browser: the register view,
//! per-student sync status, rejected ops, re-stamped ops and the clock offset.

#![cfg(target_arch = "wasm32")]

mod common;

use common::*;
use rollcall_client::store::OpState;
use rollcall_client::view::{self, SyncState};
use rollcall_shared::protocol::Outcome;
use rollcall_shared::{Change, ErrorCode, Hlc, NodeId, RegisterState, Status};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const T: f64 = 1_770_000_000_000.0;

fn remote(student_n: u128, status: Status, wall_ms: u64) -> Change {
    Change {
        register: register(1),
        change: common::status(student(student_n), status),
        hlc: Hlc {
            wall_ms,
            counter: 0,
            node: NodeId(0xbeef),
        },
    }
}

#[wasm_bindgen_test]
async fn pulled_and_local_writes_merge_by_lww_and_each_student_shows_where_it_stands() {
    let db = TestDb::open("merge").await;
    let store = db.store();
    let roster = roster(4);
    let ours = store
        .record(register(1), T, |_| {
            Ok(vec![
                common::status(student(0), Status::Absent),
                common::status(student(1), Status::Late),
            ])
        })
        .await
        .expect("record");
    // Another tablet: a later write for student 0, an earlier one for student 1, and student 2.
    let theirs = vec![
        remote(0, Status::Present, T as u64 + 5_000),
        remote(1, Status::Absent, T as u64 - 5_000),
        remote(2, Status::Excused, T as u64 - 1_000),
    ];
    store
        .apply_pull(&theirs, "cursor-1", &server_clock(T as u64 + 6_000), T)
        .await
        .expect("pull");

    // What `shared` says the merged register is, whatever the order.
    let mut expected = RegisterState::default();
    for change in theirs.iter().chain(ours.iter().map(|op| &op.change)) {
        expected.apply(change.change.clone(), change.hlc);
    }
    let (record, ops) = store.register(register(1)).await.expect("register");
    assert_eq!(record.local, expected);

    let shown = view::register_view(&roster, register(1), &record, &ops);
    let row = |n: u128| {
        shown
            .students
            .iter()
            .find(|row| row.student_id == student(n))
            .expect("row")
            .clone()
    };
    assert_eq!(
        (row(0).status, row(0).sync),
        (Some(Status::Present), SyncState::Pending)
    );
    assert_eq!((row(1).status, row(1).sync), (Some(Status::Late), SyncState::Pending));
    assert_eq!((row(2).status, row(2).sync), (Some(Status::Excused), SyncState::Synced));
    assert_eq!((row(3).status, row(3).sync), (None, SyncState::None));
    assert_eq!(
        (
            shown.counts.present,
            shown.counts.late,
            shown.counts.excused,
            shown.counts.unmarked
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(shown.pending, 2);

    // The server takes both ops; ours lost student 0 to the later write.
    let batch = store.next_batch(500, usize::MAX).await.expect("batch");
    store
        .apply_push(&batch, &answer(&batch, |_| Outcome::Applied, T as u64 + 7_000), T)
        .await
        .expect("push answer");
    let (record, ops) = store.register(register(1)).await.expect("register");
    assert_eq!(record.server, expected, "the server state has both sides now");
    assert_eq!(record.local, expected);
    let shown = view::register_view(&roster, register(1), &record, &ops);
    let sync_of = |n: u128| {
        shown
            .students
            .iter()
            .find(|row| row.student_id == student(n))
            .expect("row")
            .sync
    };
    assert_eq!(sync_of(0), SyncState::Superseded);
    assert_eq!(sync_of(1), SyncState::Synced);
    assert_eq!(shown.pending, 0);

    // The same page again changes nothing (merge is idempotent).
    store
        .apply_pull(&theirs, "cursor-1", &server_clock(T as u64 + 6_000), T)
        .await
        .expect("pull again");
    assert_eq!(store.register(register(1)).await.expect("register").0.local, expected);
    assert_eq!(
        store.sync_record().await.expect("sync").cursor.as_deref(),
        Some("cursor-1")
    );

    // The page after our own push brings our acknowledged ops back: the register, which holds
    // them already, stays as it is (it is not rewritten), and the cursor moves on.
    let own: Vec<Change> = ours.iter().map(|op| op.change.clone()).collect();
    store
        .apply_pull(&own, "cursor-2", &server_clock(T as u64 + 8_000), T)
        .await
        .expect("pull of our own ops");
    let (record, _) = store.register(register(1)).await.expect("register");
    assert_eq!((record.server, record.local), (expected.clone(), expected));
    assert_eq!(
        store.sync_record().await.expect("sync").cursor.as_deref(),
        Some("cursor-2")
    );
    db.finish().await;
}

#[wasm_bindgen_test]
async fn a_rejected_op_leaves_the_queue_stays_visible_and_stops_counting() {
    let db = TestDb::open("rejected").await;
    let store = db.store();
    let roster = roster(2);
    store
        .apply_pull(
            &[remote(0, Status::Present, T as u64 - 10_000)],
            "c1",
            &server_clock(T as u64),
            T,
        )
        .await
        .expect("pull");
    store
        .record(register(1), T, |_| Ok(vec![common::status(student(0), Status::Absent)]))
        .await
        .expect("record");
    let batch = store.next_batch(500, usize::MAX).await.expect("batch");
    let applied = store
        .apply_push(&batch, &answer(&batch, |_| Outcome::Rejected, T as u64 + 1_000), T)
        .await
        .expect("answer");
    assert_eq!(applied.rejected, 1);
    let counts = store.counts().await.expect("counts");
    assert_eq!((counts.pending, counts.rejected), (0, 1));

    let (record, ops) = store.register(register(1)).await.expect("register");
    assert_eq!(
        record.local.marks[&student(0)].status(),
        Some(Status::Present),
        "the refused value no longer shows as the mark"
    );
    let shown = view::register_view(&roster, register(1), &record, &ops);
    let row = &shown.students[0];
    assert_eq!(row.sync, SyncState::Rejected);
    let rejection = row.rejection.as_ref().expect("a reason");
    assert_eq!(rejection.code, Some(ErrorCode::RegisterLocked));
    assert_eq!(rejection.value, rollcall_shared::WireValue::from("absent"));
    assert!(shown.locked);
    assert_eq!(shown.rejected, 1);

    let rejected = store.rejected().await.expect("rejected list");
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].state, OpState::Rejected);
    assert_eq!(rejected[0].op_id, common::op_of(&batch[0]).op_id);

    // The office reopens; the teacher marks again and it goes through.
    store
        .record(register(1), T + 60_000.0, |_| {
            Ok(vec![common::status(student(0), Status::Late)])
        })
        .await
        .expect("record again");
    let batch = store.next_batch(500, usize::MAX).await.expect("batch");
    store
        .apply_push(&batch, &answer(&batch, |_| Outcome::Applied, T as u64 + 61_000), T)
        .await
        .expect("answer");
    let (record, ops) = store.register(register(1)).await.expect("register");
    let shown = view::register_view(&roster, register(1), &record, &ops);
    assert_eq!(
        (shown.students[0].status, shown.students[0].sync),
        (Some(Status::Late), SyncState::Synced)
    );
    assert!(!shown.locked);
    assert_eq!(store.rejected().await.expect("list").len(), 1, "kept until dismissed");
    assert!(store.dismiss_rejected(rejected[0].op_id).await.expect("dismiss"));
    assert_eq!(store.counts().await.expect("counts").rejected, 0);
    db.finish().await;
}

/// The answer to a push whose first answer was lost: the server says `duplicate`, with the
/// first receipt's code when it had refused the op.
#[wasm_bindgen_test]
async fn a_duplicate_of_a_refused_op_stays_rejected_and_one_of_a_stored_op_is_synced() {
    let db = TestDb::open("duplicate").await;
    let store = db.store();
    store
        .record(register(1), T, |_| {
            Ok(vec![
                common::status(student(0), Status::Absent),
                common::status(student(1), Status::Absent),
            ])
        })
        .await
        .expect("record");
    let batch = store.next_batch(500, usize::MAX).await.expect("batch");
    let mut response = answer(&batch, |_| Outcome::Duplicate, T as u64);
    response.results[0].code = Some(ErrorCode::RegisterLocked);
    let applied = store.apply_push(&batch, &response, T).await.expect("answer");
    assert_eq!((applied.rejected, applied.synced), (1, 1));
    let (record, _) = store.register(register(1)).await.expect("register");
    assert!(
        !record.server.marks.contains_key(&student(0)),
        "a refused op never counts as stored"
    );
    assert_eq!(record.server.marks[&student(1)].status(), Some(Status::Absent));
    assert_eq!(
        store.rejected().await.expect("list")[0].op_id,
        common::op_of(&batch[0]).op_id
    );
    db.finish().await;
}

#[wasm_bindgen_test]
async fn a_clock_running_ahead_is_restamped_then_corrected() {
    let db = TestDb::open("clock").await;
    let store = db.store();
    let hour = 3_600_000.0;
    // The tablet's clock is an hour ahead of the server's.
    let ahead = store
        .record(register(1), T + hour, |_| {
            Ok(vec![common::status(student(0), Status::Absent)])
        })
        .await
        .expect("record");
    assert_eq!(ahead[0].change.hlc.wall_ms, (T + hour) as u64);
    let batch = store.next_batch(500, usize::MAX).await.expect("batch");
    let restamp = server_hlc(T as u64);
    let mut response = answer(&batch, |_| Outcome::Applied, T as u64);
    response.results[0].restamped_hlc = Some(restamp);
    response.clock_offset_ms = Some(hour as i64);
    let applied = store.apply_push(&batch, &response, T + hour).await.expect("answer");
    assert!(applied.restamped);
    let (record, ops) = store.register(register(1)).await.expect("register");
    let stored = record.server.marks[&student(0)].status.clone().expect("stored");
    assert_eq!(
        stored.hlc, restamp,
        "the server state holds the op under the server's stamp"
    );
    assert_eq!(
        record.local, record.server,
        "local is rebuilt from the re-stamped value"
    );
    assert_eq!(ops[0].stored_hlc, Some(restamp));
    let roster = roster(1);
    let shown = view::register_view(&roster, register(1), &record, &ops);
    assert_eq!(shown.students[0].sync, SyncState::Synced);

    assert!(store.reset_clock_to(response.server_hlc).await.expect("reset"));
    let device = store.device().await.expect("device");
    assert_eq!(device.clock_offset_ms, hour as i64);
    // The next tap, still on the fast device clock, is stamped on the server's time.
    let corrected = store
        .record(register(1), T + hour + 1_000.0, |_| {
            Ok(vec![common::status(student(0), Status::Present)])
        })
        .await
        .expect("record");
    assert_eq!(corrected[0].change.hlc.wall_ms, T as u64 + 1_000);
    assert_eq!(corrected[0].change.hlc.node, device.node);

    // Answers without a report still measure the offset from the server's time...
    store
        .apply_pull(&[], "c2", &server_clock(T as u64 + 2_000), T + hour + 2_000.0)
        .await
        .expect("pull");
    assert_eq!(store.device().await.expect("device").clock_offset_ms, hour as i64);
    // ...so once someone fixes the tablet's clock, the correction goes away.
    store
        .apply_pull(&[], "c3", &server_clock(T as u64 + 3_000), T + 3_500.0)
        .await
        .expect("pull");
    assert_eq!(
        store.device().await.expect("device").clock_offset_ms,
        0,
        "within the dead band"
    );
    db.finish().await;
}

#[wasm_bindgen_test]
async fn mark_all_and_status_changes_follow_the_register() {
    let db = TestDb::open("markall").await;
    let store = db.store();
    let roster = roster(5);
    store
        .record(register(1), T, |_| {
            Ok(vec![
                common::status(student(0), Status::Absent),
                common::status(student(1), Status::Late),
                rollcall_shared::FieldChange::Mark {
                    student_id: student(1),
                    value: rollcall_shared::MarkValue::MinutesLate(Some(7)),
                },
            ])
        })
        .await
        .expect("record");
    let (record, _) = store.register(register(1)).await.expect("register");
    let only_unmarked = view::mark_all_changes(&roster, register(1), &record.local, Status::Present, true);
    assert_eq!(only_unmarked.len(), 3, "students 2, 3 and 4");
    let everyone = view::mark_all_changes(&roster, register(1), &record.local, Status::Present, false);
    // Five statuses, plus clearing student 1's minutes late.
    assert_eq!(everyone.len(), 6);
    store
        .record(register(1), T + 1_000.0, |_| Ok(everyone))
        .await
        .expect("mark all");
    let (record, ops) = store.register(register(1)).await.expect("register");
    let shown = view::register_view(&roster, register(1), &record, &ops);
    assert_eq!(shown.counts.present, 5);
    assert!(shown.students.iter().all(|row| row.minutes_late.is_none()));
    let again = view::mark_all_changes(&roster, register(1), &record.local, Status::Present, false);
    assert!(again.is_empty(), "nothing left to change");
    db.finish().await;
}
