//! The push writer: one thread that owns a database connection and applies pushes with group
//! commit.
//!
//! Handlers parse and validate a push on the async workers, then queue it here and wait. The
//! writer takes every push waiting in the queue (up to a limit) and applies them all in one
//! write transaction, then commits once. A commit is one fsync however many pushes it carries,
//! so throughput grows with load instead of stalling on the disk: while one group is being
//! synced, the next one queues up.
//!
//! Each push stays atomic (see [`commit_group`]) and is answered only after the group's commit
//! returned, i.e. once it is durable.

use crate::db::marks::{self, OpLogRow, StoredRegister};
use crate::db::{Db, DbConnection, write_transaction};
use crate::error::AppError;
use crate::integrity::UnreadableRows;
use crate::metrics::Metrics;
use crate::security::AuthUser;
use crate::sync::authz::AuthzSnapshot;
use crate::sync::clock::{ServerClock, wall_ms};
use crate::sync::notices::{EventHub, SchoolNotice};
use crate::sync::relay::{self, ServerId};
use chrono::{DateTime, Utc};
use rollcall_shared::column::Stored;
use rollcall_shared::protocol::{ChangeNotice, OpResult, Outcome, PushResponse};
use rollcall_shared::{
    ClassId, ErrorCode, MergeOutcome, NodeId, Op, RawOp, RegisterKey, SchoolId, SkewCheck, StudentId,
};
use rollcall_shared::{ValidationCode, ValidationError};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Pushes that may wait in the queue before handlers wait to enqueue (backpressure).
const QUEUE_DEPTH: usize = 4096;

/// An op as received, with the verdict of `shared`'s validation.
#[derive(Debug)]
pub struct CheckedOp {
    pub raw: RawOp,
    pub checked: Result<Op, ValidationError>,
}

impl CheckedOp {
    pub fn new(raw: RawOp) -> Self {
        let checked = raw.validate();
        CheckedOp { raw, checked }
    }
}

#[derive(Debug)]
struct PushJob {
    user: AuthUser,
    device_id: NodeId,
    ops: Vec<CheckedOp>,
    reply: oneshot::Sender<Result<PushResponse, AppError>>,
}

/// What the writer's queue carries.
#[derive(Debug)]
enum Queued {
    Push(PushJob),
    /// The server has stopped: commit what is queued, refuse what comes later, and end. Handles
    /// on the queue may outlive the server (a connection its shutdown timeout cut off still
    /// holds one), so the writer cannot wait for them all to be dropped.
    Finish,
}

/// What one applied push tells the rest of the server.
struct JobOutcome {
    response: PushResponse,
    notice: Option<SchoolNotice>,
}

/// The handle handlers use to queue pushes.
#[derive(Debug, Clone)]
pub struct PushWriter {
    queue: mpsc::Sender<Queued>,
}

/// The writer's thread, for the server to stop it.
#[derive(Debug)]
pub struct WriterThread {
    queue: mpsc::Sender<Queued>,
    thread: std::thread::JoinHandle<()>,
}

impl WriterThread {
    /// Commits and answers every push already queued, then ends the thread. Pushes queued after
    /// this are refused as "shutting down".
    pub async fn finish(self) {
        // Behind every push already waiting, so those are committed first.
        let _ = self.queue.send(Queued::Finish).await;
        let thread = self.thread;
        let _ = actix_web::rt::task::spawn_blocking(move || thread.join()).await;
    }
}

/// What the writer thread needs besides its queue.
#[derive(Debug)]
pub struct WriterContext {
    pub db: Db,
    pub clock: Arc<ServerClock>,
    pub events: EventHub,
    pub max_clock_drift: Duration,
    pub group_commit_max_ops: usize,
    /// Where the authorization copy reports rows it had to skip.
    pub unreadable: UnreadableRows,
    /// Counts each group commit and its ops' outcomes.
    pub metrics: Arc<Metrics>,
    /// This server among the district's, in the notices it sends the others (`sync::relay`).
    pub server_id: ServerId,
}

impl PushWriter {
    /// Starts the writer thread. It ends after [`WriterThread::finish`], or once the
    /// `WriterThread` and every `PushWriter` clone are dropped; either way after committing what
    /// was queued.
    pub fn start(context: WriterContext) -> std::io::Result<(PushWriter, WriterThread)> {
        let (queue, receiver) = mpsc::channel(QUEUE_DEPTH);
        // Read the rules before serving, so that rows they cannot read show in /healthz from
        // the first request. Not fatal: the first group commit connects and reads them again.
        let mut snapshot = AuthzSnapshot::default();
        let conn = match context.db.connect_writer() {
            Ok(mut connection) => {
                if let Err(e) = snapshot.refresh(&mut connection, &context.unreadable) {
                    tracing::warn!(error = %e, "cannot read who may write what yet; will retry at the first push");
                }
                Some(connection)
            }
            Err(e) => {
                tracing::warn!(error = %e, "the push writer cannot reach the database yet; will retry");
                None
            }
        };
        let thread = std::thread::Builder::new()
            .name("rollcall-writer".to_owned())
            .spawn(move || run(receiver, context, conn, snapshot))?;
        Ok((PushWriter { queue: queue.clone() }, WriterThread { queue, thread }))
    }

    /// Queues a push and waits until it is committed.
    pub async fn push(&self, user: AuthUser, device_id: NodeId, ops: Vec<CheckedOp>) -> Result<PushResponse, AppError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Queued::Push(PushJob {
                user,
                device_id,
                ops,
                reply,
            }))
            .await
            .map_err(|_| AppError::Unavailable("the server is shutting down; retry in a moment".to_owned()))?;
        answer
            .await
            .map_err(|_| AppError::Internal("the push writer stopped before answering".to_owned()))?
    }
}

fn run(
    mut queue: mpsc::Receiver<Queued>,
    context: WriterContext,
    mut conn: Option<DbConnection>,
    mut snapshot: AuthzSnapshot,
) {
    // After `close`, the queue still hands out what it holds, then ends the loop.
    while let Some(queued) = queue.blocking_recv() {
        let Queued::Push(first) = queued else {
            queue.close();
            continue;
        };
        let mut ops = first.ops.len();
        let mut group = vec![first];
        while ops < context.group_commit_max_ops {
            match queue.try_recv() {
                Ok(Queued::Push(job)) => {
                    ops += job.ops.len();
                    group.push(job);
                }
                Ok(Queued::Finish) => queue.close(),
                Err(_) => break,
            }
        }
        let connection = match &mut conn {
            Some(connection) => connection,
            None => match context.db.connect_writer() {
                Ok(connection) => conn.insert(connection),
                Err(e) => {
                    tracing::error!(error = %e, "the push writer cannot reach the database");
                    answer_all(group, || {
                        AppError::Unavailable(format!("the database cannot be reached ({e}); retry later"))
                    });
                    std::thread::sleep(Duration::from_millis(500));
                    continue;
                }
            },
        };
        let started = std::time::Instant::now();
        // A bug must not take the writer down with it: every later push would hang. The group's
        // transaction is rolled back by the connection being dropped below.
        let committed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            commit_group(connection, &mut snapshot, &group, &context)
        }))
        .unwrap_or_else(|_| Err(AppError::Internal("the push writer panicked; see the log".to_owned())));
        match committed {
            Ok((outcomes, applied_in)) => {
                let took = started.elapsed();
                tracing::debug!(
                    pushes = group.len(),
                    ops,
                    apply_ms = applied_in.as_secs_f64() * 1000.0,
                    total_ms = took.as_secs_f64() * 1000.0,
                    "group committed"
                );
                let answered = outcomes.iter().filter_map(|outcome| outcome.as_ref().ok());
                context
                    .metrics
                    .group_committed(answered.map(|done| done.response.results.as_slice()), took);
                for (job, outcome) in group.into_iter().zip(outcomes) {
                    let answer = outcome.map(|JobOutcome { response, notice }| {
                        if let Some(notice) = notice {
                            context.events.publish(notice);
                        }
                        response
                    });
                    // The tablet may have given up waiting; its ops are committed all the same
                    // and it will get `duplicate` when it retries.
                    let _ = job.reply.send(answer);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, pushes = group.len(), "a group commit failed; nothing in it was saved");
                // Start the next group on a fresh connection and a fresh copy of the rules.
                conn = None;
                snapshot = AuthzSnapshot::default();
                answer_all(group, || match &e {
                    AppError::Unavailable(message) => AppError::Unavailable(message.clone()),
                    _ => AppError::Unavailable(
                        "the server could not save this push; nothing was changed: retry".to_owned(),
                    ),
                });
            }
        }
    }
    tracing::debug!("the push writer stopped");
}

fn answer_all(group: Vec<PushJob>, error: impl Fn() -> AppError) {
    for job in group {
        let _ = job.reply.send(Err(error()));
    }
}

/// Applies a group in one transaction. Also returns how long applying took, before the commit
/// (the rest is the commit's fsync), for the debug log.
///
/// The fast path batches the whole group: one dedupe query, one load per register, multi-row
/// inserts for every push's log rows and marks. Each push stays atomic because a database
/// error rolls the whole group back; the pushes are then retried one transaction each, so only
/// the push that really fails is refused.
fn commit_group(
    conn: &mut DbConnection,
    snapshot: &mut AuthzSnapshot,
    group: &[PushJob],
    context: &WriterContext,
) -> Result<(Vec<Result<JobOutcome, AppError>>, Duration), AppError> {
    let started = std::time::Instant::now();
    let mut apply = |conn: &mut DbConnection, jobs: &[PushJob]| {
        let now = Utc::now();
        write_transaction(conn, |conn| {
            snapshot.refresh(conn, &context.unreadable)?;
            let outcomes = apply_pushes(conn, snapshot, jobs, now, context)?;
            let notices: Vec<&SchoolNotice> = outcomes
                .iter()
                .filter_map(|outcome| outcome.as_ref().ok()?.notice.as_ref())
                .collect();
            relay::announce(conn, context.server_id, &notices)?;
            Ok::<_, AppError>((outcomes, started.elapsed()))
        })
    };
    match apply(conn, group) {
        Ok(done) => Ok(done),
        Err(e) if group.len() > 1 => {
            tracing::warn!(error = %e, pushes = group.len(), "a group commit failed; retrying its pushes one by one");
            let mut outcomes = Vec::with_capacity(group.len());
            for job in group {
                outcomes.push(match apply(conn, std::slice::from_ref(job)) {
                    Ok((mut one, _)) => one
                        .pop()
                        .unwrap_or_else(|| Err(AppError::Internal("a push had no outcome".to_owned()))),
                    Err(e @ AppError::Unavailable(_)) => return Err(e),
                    Err(e) => Err(e),
                });
            }
            Ok((outcomes, started.elapsed()))
        }
        Err(e) => Err(e),
    }
}

/// The register state being merged into, with what changed.
struct Touched {
    school_id: SchoolId,
    stored: StoredRegister,
    students: BTreeSet<StudentId>,
    submission: bool,
}

/// Decides every op of every push in order, then writes the log rows and changed marks.
fn apply_pushes(
    conn: &mut DbConnection,
    snapshot: &AuthzSnapshot,
    jobs: &[PushJob],
    now: DateTime<Utc>,
    context: &WriterContext,
) -> Result<Vec<Result<JobOutcome, AppError>>, AppError> {
    let now_ms = wall_ms(now);
    let max_drift_ms = u64::try_from(context.max_clock_drift.as_millis()).unwrap_or(u64::MAX);
    let op_keys: Vec<Vec<marks::OpKey>> = jobs
        .iter()
        .map(|job| {
            job.ops
                .iter()
                .map(|op| (stored_text(&op.raw.hlc), op.raw.op_id.to_string()))
                .collect()
        })
        .collect();
    let all_keys: Vec<marks::OpKey> = op_keys.iter().flatten().cloned().collect();
    let mut seen = marks::first_receipts(conn, &all_keys)?;
    let wanted: BTreeSet<RegisterKey> = jobs
        .iter()
        .flat_map(|job| &job.ops)
        .filter_map(|op| Some(op.checked.as_ref().ok()?.change.register))
        .collect();
    let mut stored_registers = marks::load_registers(conn, &wanted)?;
    let mut registers: BTreeMap<RegisterKey, Touched> = BTreeMap::new();
    let mut log = Vec::with_capacity(all_keys.len());
    let mut outcomes = Vec::with_capacity(jobs.len());

    for (job, keys) in jobs.iter().zip(&op_keys) {
        if !snapshot.account_is_current(&job.user) {
            outcomes.push(Err(AppError::Unauthorized(
                "your account was changed or disabled after you signed in: sign in again".to_owned(),
            )));
            continue;
        }
        let mut results = Vec::with_capacity(job.ops.len());
        let mut clock_offset_ms: Option<i64> = None;
        let mut touched_classes = BTreeSet::<ClassId>::new();
        for (op, op_key) in job.ops.iter().zip(keys) {
            let mut entry = LogEntry::new(job, op, now);
            let first = seen.get(op_key);
            if first.is_some_and(|first| first.identity != marks::OpIdentity::of(&entry.row)) {
                // Another op under an id already received (from another user or device, or with
                // other content): refused on its own, and nothing about the first one is told.
                entry.reject(
                    ErrorCode::OpIdReused,
                    None,
                    "this op id was already used for a different op; the app must send this change under a \
                     new op id (update the app if this persists)"
                        .to_owned(),
                );
            } else if let Some(first) = first {
                // A duplicate of a refused op carries the refusal's code and detail, so a
                // tablet that lost the first answer still learns why (and keeps it visible).
                entry.outcome = Outcome::Duplicate;
                entry.code = first.code.clone().and_then(Stored::ok);
                entry.detail = first.detail.clone().and_then(Stored::ok);
                entry.message = Some(match &first.code {
                    Some(code) => format!("already received; it was {} ({code})", first.outcome),
                    None => format!("already received; it was {}", first.outcome),
                });
            } else {
                match &op.checked {
                    Err(invalid) => entry.reject(ErrorCode::Validation, Some(invalid.code), invalid.message.clone()),
                    Ok(valid) => match snapshot.check(&job.user, valid) {
                        Err(denied) => entry.reject(denied.code, None, denied.message),
                        Ok(()) => {
                            let skew = SkewCheck::check(valid.change.hlc, now_ms, max_drift_ms);
                            let hlc = if skew.ahead {
                                // docs/merge-rules.md, "Clock skew": never refuse, re-stamp at
                                // receipt, flag it, and tell the device how far ahead it runs.
                                clock_offset_ms =
                                    Some(clock_offset_ms.map_or(skew.offset_ms, |o| o.max(skew.offset_ms)));
                                let restamped = context.clock.stamp(now);
                                entry.restamped = Some(restamped);
                                restamped
                            } else {
                                context.clock.observe(valid.change.hlc, now);
                                valid.change.hlc
                            };
                            let key = valid.change.register;
                            let touched = match registers.get_mut(&key) {
                                Some(touched) => touched,
                                None => registers.entry(key).or_insert(Touched {
                                    school_id: job.user.school_id,
                                    stored: stored_registers.remove(&key).unwrap_or_default(),
                                    students: BTreeSet::new(),
                                    submission: false,
                                }),
                            };
                            if valid.change.change.student_id().is_none() {
                                marks::load_submission(conn, &key, &mut touched.stored)?;
                            }
                            let merged = touched.stored.state.apply(valid.change.change.clone(), hlc);
                            entry.hlc = Some(hlc);
                            entry.outcome = match merged {
                                // The very same write was already stored: it is the field's value.
                                MergeOutcome::Applied | MergeOutcome::Unchanged => Outcome::Applied,
                                MergeOutcome::Superseded => Outcome::Superseded,
                            };
                            if merged == MergeOutcome::Applied {
                                match valid.change.change.student_id() {
                                    Some(student_id) => {
                                        touched.students.insert(student_id);
                                    }
                                    None => touched.submission = true,
                                }
                            }
                            if entry.outcome == Outcome::Applied {
                                touched_classes.insert(key.class_id);
                            }
                        }
                    },
                }
                seen.insert(
                    op_key.clone(),
                    marks::FirstReceipt {
                        outcome: Stored::new(entry.outcome),
                        code: entry.code.map(Stored::new),
                        detail: entry.detail.map(Stored::new),
                        identity: marks::OpIdentity::of(&entry.row),
                    },
                );
            }
            results.push(entry.result(op));
            log.push(entry.into_row());
        }
        let notice = (!touched_classes.is_empty()).then(|| SchoolNotice {
            school_id: job.user.school_id,
            notice: ChangeNotice {
                class_ids: touched_classes.into_iter().collect(),
                device_id: job.device_id,
            },
        });
        outcomes.push(Ok(JobOutcome {
            response: PushResponse {
                results,
                server_hlc: context.clock.stamp(now),
                server_time: now,
                clock_offset_ms,
            },
            notice,
        }));
    }

    // The log first: on PostgreSQL this takes the ops' feed positions (seq) early in the
    // transaction, which is safe only because writers hold the advisory lock until commit (see
    // db::write_transaction); the late-commit pull test would catch a change that broke that.
    marks::append_op_log(conn, &log)?;
    let mut changed = marks::ChangedRows::default();
    for (key, touched) in &registers {
        changed.add(
            touched.school_id,
            key,
            &touched.stored,
            &touched.students,
            touched.submission,
        );
    }
    marks::save_changes(conn, &changed)?;
    Ok(outcomes)
}

/// Text of an op as the op log keeps it: as sent, but with control characters escaped. A
/// rejected op may carry anything in its text fields, and PostgreSQL cannot store a NUL: one
/// such op would otherwise fail its whole push, again at every retry, and stall the tablet.
fn stored_text(sent: &str) -> String {
    rollcall_shared::text::escape_controls(sent).into_owned()
}

/// What becomes of one op: its answer to the device and its op log row.
struct LogEntry {
    row: OpLogRow,
    outcome: Outcome,
    code: Option<ErrorCode>,
    detail: Option<ValidationCode>,
    message: Option<String>,
    hlc: Option<rollcall_shared::Hlc>,
    restamped: Option<rollcall_shared::Hlc>,
}

impl LogEntry {
    fn new(job: &PushJob, op: &CheckedOp, now: DateTime<Utc>) -> Self {
        let raw = &op.raw;
        LogEntry {
            row: OpLogRow {
                op_id: raw.op_id,
                school_id: job.user.school_id,
                user_id: job.user.id,
                device_id: job.device_id,
                device_time: raw.device_time.timestamp_millis(),
                device_hlc: stored_text(&raw.hlc),
                hlc: None,
                received_at: now.timestamp_millis(),
                class_id: raw.class_id,
                date: stored_text(&raw.date),
                period: raw.period,
                student_id: raw.student_id,
                field: stored_text(&raw.field),
                // Only a non-finite number fails to print, and no JSON push can carry one.
                value: serde_json::to_string(&raw.value).unwrap_or_else(|_| "null".to_owned()),
                outcome: Outcome::Rejected,
                code: None,
                detail: None,
                message: None,
                clock_skewed: 0,
            },
            outcome: Outcome::Rejected,
            code: None,
            detail: None,
            message: None,
            hlc: None,
            restamped: None,
        }
    }

    fn reject(&mut self, code: ErrorCode, detail: Option<ValidationCode>, message: String) {
        self.outcome = Outcome::Rejected;
        self.code = Some(code);
        self.detail = detail;
        self.message = Some(message);
    }

    fn result(&self, op: &CheckedOp) -> OpResult {
        OpResult {
            op_id: op.raw.op_id,
            outcome: self.outcome,
            code: self.code,
            message: self.message.clone(),
            detail: self.detail,
            restamped_hlc: self.restamped,
        }
    }

    fn into_row(self) -> OpLogRow {
        OpLogRow {
            hlc: self.hlc,
            outcome: self.outcome,
            code: self.code,
            detail: self.detail,
            message: self.message.filter(|_| self.outcome == Outcome::Rejected),
            clock_skewed: i32::from(self.restamped.is_some()),
            ..self.row
        }
    }
}
