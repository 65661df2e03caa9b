//! Fixtures shared by the browser tests: a unique IndexedDB per test, a small roster, and
//! builders for server answers.

#![allow(dead_code)]

use chrono::{NaiveDate, NaiveTime};
use rollcall_client::store::{LocalStore, QueuedOp};
use rollcall_shared::protocol::{
    ClassInfo, EnrolmentInfo, OpResult, Outcome, PeriodInfo, PushResponse, Role, Roster, SchoolInfo, StudentInfo,
    UserInfo,
};
use rollcall_shared::{
    ClassId, ErrorCode, FieldChange, Hlc, MarkValue, NodeId, Op, RegisterKey, SchoolId, Status, StudentId, UserId,
};
use uuid::Uuid;

/// A database name no other test (or earlier run) uses.
pub fn unique_name(prefix: &str) -> String {
    let id = rollcall_client::platform::new_op_id().expect("crypto.randomUUID");
    format!("test-{prefix}-{id}")
}

/// A test's own database, deleted by [`TestDb::finish`].
pub struct TestDb {
    pub name: String,
    pub store: Option<LocalStore>,
}

impl TestDb {
    pub async fn open(prefix: &str) -> TestDb {
        let name = unique_name(prefix);
        let store = LocalStore::open(&name).await.expect("open a fresh database");
        TestDb {
            name,
            store: Some(store),
        }
    }

    pub fn store(&self) -> &LocalStore {
        self.store.as_ref().expect("store is open")
    }

    /// Closes and opens the database again, as a reload would.
    pub async fn reopen(&mut self) {
        if let Some(store) = self.store.take() {
            store.close();
        }
        self.store = Some(LocalStore::open(&self.name).await.expect("reopen"));
    }

    pub async fn finish(mut self) {
        if let Some(store) = self.store.take() {
            store.close();
        }
        LocalStore::delete(&self.name).await.expect("delete the test database");
    }
}

pub fn uuid(n: u128) -> Uuid {
    Uuid::from_u128(0x1000_0000_0000_4000_8000_0000_0000_0000 + n)
}

pub fn class_id() -> ClassId {
    ClassId(uuid(1))
}

pub fn student(n: u128) -> StudentId {
    StudentId(uuid(100 + n))
}

pub fn teacher() -> UserInfo {
    UserInfo {
        id: UserId(uuid(50)),
        username: "teacher1".into(),
        display_name: "Ada Teacher".into(),
        role: Role::Teacher,
        school_id: SchoolId(uuid(60)),
    }
}

pub fn date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 2).expect("a real date")
}

pub fn register(period: u8) -> RegisterKey {
    RegisterKey {
        class_id: class_id(),
        date: date(),
        period,
    }
}

/// One class of `students` students taught by [`teacher`], in periods 1 and 2.
pub fn roster(students: u128) -> Roster {
    let time = |h| NaiveTime::from_hms_opt(h, 0, 0).expect("a real time");
    Roster {
        school: SchoolInfo {
            id: SchoolId(uuid(60)),
            name: "Test School".into(),
        },
        periods: vec![
            PeriodInfo {
                period: 1,
                label: "Registration".into(),
                starts: time(8),
                ends: time(9),
            },
            PeriodInfo {
                period: 2,
                label: "Maths".into(),
                starts: time(9),
                ends: time(10),
            },
        ],
        classes: vec![ClassInfo {
            id: class_id(),
            name: "5B".into(),
            teacher_ids: vec![teacher().id],
        }],
        students: (0..students)
            .map(|n| StudentInfo {
                id: student(n),
                external_id: format!("S{n:03}"),
                given_name: format!("Given{n:02}"),
                family_name: format!("Family{n:02}"),
            })
            .collect(),
        enrolments: (0..students)
            .map(|n| EnrolmentInfo {
                class_id: class_id(),
                student_id: student(n),
                from: NaiveDate::from_ymd_opt(2025, 9, 1).expect("a real date"),
                until: None,
            })
            .collect(),
    }
}

pub fn status(student_id: StudentId, status: Status) -> FieldChange {
    FieldChange::Mark {
        student_id,
        value: MarkValue::Status(status),
    }
}

/// A server HLC at `wall_ms`, from another node than any device here.
pub fn server_hlc(wall_ms: u64) -> Hlc {
    Hlc {
        wall_ms,
        counter: 0,
        node: NodeId(0xffff),
    }
}

/// The clock part of a pull answer at `wall_ms`.
pub fn server_clock(wall_ms: u64) -> rollcall_client::store::ServerClock {
    rollcall_client::store::ServerClock {
        hlc: server_hlc(wall_ms),
        time: chrono::DateTime::from_timestamp_millis(wall_ms as i64).expect("a real time"),
        reported_offset_ms: None,
    }
}

/// The op a queued op's JSON carries, read as the server reads it.
pub fn op_of(queued: &QueuedOp) -> Op {
    serde_json::from_str(&queued.json).expect("a queued op's JSON is an op")
}

/// The server's answer giving every op of `batch` the outcome `outcome(i)`.
pub fn answer(batch: &[QueuedOp], outcome: impl Fn(usize) -> Outcome, server_wall_ms: u64) -> PushResponse {
    PushResponse {
        results: batch
            .iter()
            .enumerate()
            .map(|(i, record)| {
                let outcome = outcome(i);
                OpResult {
                    op_id: op_of(record).op_id,
                    outcome,
                    code: (outcome == Outcome::Rejected).then_some(ErrorCode::RegisterLocked),
                    message: (outcome == Outcome::Rejected).then(|| "register locked by the office".to_owned()),
                    detail: None,
                    restamped_hlc: None,
                }
            })
            .collect(),
        server_hlc: server_hlc(server_wall_ms),
        server_time: chrono::DateTime::from_timestamp_millis(server_wall_ms as i64).expect("a real time"),
        clock_offset_ms: None,
    }
}
