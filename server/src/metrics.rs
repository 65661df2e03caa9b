//! The server's metrics: what `/metrics` shows, in the Prometheus text format (version 0.0.4).
//! Every metric, its labels and how to scrape it: docs/observability.md.
//!
//! One [`Metrics`] per running server, built by `launch` and shared through `AppState` (tests
//! run several servers in one process, so nothing here is global). Counters and histograms move
//! as things happen: requests (`api::observe`), push outcomes and group commits
//! (`sync::writer`). What is a state rather than an event (open event streams, the database
//! pool, the last backup's time) is read when scraped and handed to
//! [`Metrics::render`].
//!
//! Labels never carry ids or raw paths: a route is its pattern from the route table
//! (`/api/v1/admin/locks/{id}/reopen`), so the number of series stays fixed however many
//! requests come.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry};
use rollcall_shared::protocol::{OpResult, Outcome};
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use strum::VariantArray;

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Request durations, in seconds: a push answers in milliseconds, a login (password hashing) in
/// a few hundred.
const REQUEST_SECONDS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Ops in one group commit: one tablet's push is up to 1000, a busy morning's group up to
/// `--group-commit-max-ops` (20,000 by default).
const GROUP_OPS: [f64; 10] = [
    1.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, 10_000.0, 20_000.0, 50_000.0,
];
/// Pushes in one group commit.
const GROUP_PUSHES: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
/// Seconds one group commit takes, its fsync included.
const COMMIT_SECONDS: [f64; 11] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

/// One series of the request counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: &'static str,
    /// The route's pattern, never the raw path.
    pub route: String,
    pub status: u16,
}

/// One series of the request duration histogram.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PoolLabel {
    state: &'static str,
}

/// What is read from the server when it is scraped.
#[derive(Debug, Clone, Copy)]
pub struct Readings {
    /// Event streams (`/api/v1/events`) the server holds open.
    pub open_streams: usize,
    /// Pooled database connections open now (busy or idle).
    pub pool_connections: u32,
    /// Of those, the idle ones.
    pub pool_idle: u32,
    /// The most the pool opens (`--db-pool-size`).
    pub pool_max: u32,
    /// When the last backup this server made finished (`AppState::last_backup`).
    pub last_backup: Option<chrono::DateTime<chrono::Utc>>,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Every metric of one server, and the registry that prints them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: HistogramFamily<RouteLabels>,
    /// One counter per push outcome, in the order of [`Outcome::VARIANTS`].
    push_ops: Vec<Counter>,
    group_ops: Histogram,
    group_pushes: Histogram,
    commit_seconds: Histogram,
    open_streams: Gauge,
    pool_connections: Family<PoolLabel, Gauge>,
    pool_max: Gauge,
    last_backup: Gauge<f64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("rollcall");
        let requests = register(
            &mut registry,
            "http_requests",
            "HTTP requests answered, by method, route pattern and status",
            Family::<RequestLabels, Counter>::default(),
        );
        let request_seconds = register(
            &mut registry,
            "http_request_duration_seconds",
            "Seconds from a request's arrival to its answer's head (for the event stream: until it opened), by method \
             and route pattern",
            HistogramFamily::<RouteLabels>::new_with_constructor(|| Histogram::new(REQUEST_SECONDS)),
        );
        let outcomes = register(
            &mut registry,
            "push_ops",
            "Pushed ops committed, by outcome (applied, superseded, duplicate, rejected)",
            Family::<OutcomeLabel, Counter>::default(),
        );
        // Every outcome shows from the start (a rate needs its zero), and the writer counts
        // without a map lookup.
        let push_ops = Outcome::VARIANTS
            .iter()
            .map(|outcome| {
                outcomes.get_or_create_owned(&OutcomeLabel {
                    outcome: outcome.as_str(),
                })
            })
            .collect();
        Metrics {
            requests,
            request_seconds,
            push_ops,
            group_ops: register(
                &mut registry,
                "group_commit_ops",
                "Ops committed in each group commit of the push writer",
                Histogram::new(GROUP_OPS),
            ),
            group_pushes: register(
                &mut registry,
                "group_commit_pushes",
                "Pushes answered by each group commit of the push writer",
                Histogram::new(GROUP_PUSHES),
            ),
            commit_seconds: register(
                &mut registry,
                "group_commit_duration_seconds",
                "Seconds each group commit of the push writer took, the disk's sync included",
                Histogram::new(COMMIT_SECONDS),
            ),
            open_streams: register(
                &mut registry,
                "event_streams_open",
                "Event streams (/api/v1/events) open now",
                Gauge::default(),
            ),
            pool_connections: register(
                &mut registry,
                "db_pool_connections",
                "Pooled database connections open now, by state (in_use, idle); the push writer's own connection is \
                 not pooled",
                Family::default(),
            ),
            pool_max: register(
                &mut registry,
                "db_pool_max_connections",
                "The most connections the database pool opens (--db-pool-size)",
                Gauge::default(),
            ),
            last_backup: register(
                &mut registry,
                "last_backup_timestamp_seconds",
                "When this server last finished a backup, in seconds since 1970-01-01 UTC; 0 until it has",
                Gauge::default(),
            ),
            registry,
        }
    }

    /// Counts one answered request, and how long it took to answer.
    pub fn request_answered(&self, labels: RequestLabels, took: Duration) {
        self.request_seconds
            .get_or_create(&RouteLabels {
                method: labels.method,
                route: labels.route.clone(),
            })
            .observe(took.as_secs_f64());
        self.requests.get_or_create(&labels).inc();
    }

    /// Counts one committed group of the push writer: its pushes' op results, and its size and
    /// duration.
    pub fn group_committed<'a>(&self, results: impl IntoIterator<Item = &'a [OpResult]>, took: Duration) {
        let mut counts = [0u64; Outcome::VARIANTS.len()];
        let mut pushes = 0u64;
        for push in results {
            pushes += 1;
            for result in push {
                counts[outcome_index(result.outcome)] += 1;
            }
        }
        for (counter, count) in self.push_ops.iter().zip(counts) {
            if count > 0 {
                counter.inc_by(count);
            }
        }
        self.group_pushes.observe(pushes as f64);
        self.group_ops.observe(counts.iter().sum::<u64>() as f64);
        self.commit_seconds.observe(took.as_secs_f64());
    }

    /// The text `/metrics` answers, with the readings taken for this scrape.
    pub fn render(&self, readings: Readings) -> String {
        self.open_streams
            .set(i64::try_from(readings.open_streams).unwrap_or(i64::MAX));
        let in_use = readings.pool_connections.saturating_sub(readings.pool_idle);
        self.pool_connections
            .get_or_create(&PoolLabel { state: "in_use" })
            .set(i64::from(in_use));
        self.pool_connections
            .get_or_create(&PoolLabel { state: "idle" })
            .set(i64::from(readings.pool_idle));
        self.pool_max.set(i64::from(readings.pool_max));
        if let Some(at) = readings.last_backup {
            self.last_backup.set(at.timestamp_millis() as f64 / 1000.0);
        }
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry);
        text
    }
}

/// Registers `metric` under `name` and returns the handle that moves it.
fn register<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M {
    registry.register(name, help, metric.clone());
    metric
}

fn outcome_index(outcome: Outcome) -> usize {
    Outcome::VARIANTS
        .iter()
        .position(|variant| *variant == outcome)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrape_time_readings_and_the_last_backup_show() {
        let metrics = Metrics::new();
        let text = metrics.render(Readings {
            open_streams: 2,
            pool_connections: 3,
            pool_idle: 1,
            pool_max: 8,
            last_backup: chrono::DateTime::from_timestamp(1_764_000_000, 0),
        });
        for line in [
            "rollcall_event_streams_open 2",
            "rollcall_db_pool_connections{state=\"in_use\"} 2",
            "rollcall_db_pool_connections{state=\"idle\"} 1",
            "rollcall_db_pool_max_connections 8",
            "rollcall_last_backup_timestamp_seconds 1764000000.0",
            "rollcall_push_ops_total{outcome=\"rejected\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} is missing from:\n{text}");
        }
    }
}
