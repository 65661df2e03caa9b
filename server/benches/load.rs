//! The push load generator (a benchmark, not a test).
//!
//! `cargo bench -p rollcall-server --bench load` builds the release `rollcall` binary, seeds the
//! demo school into a temporary data directory, starts `rollcall serve` on it, signs 32 sessions
//! in (8 per demo teacher) and has each push batches of 30 new marks in a closed loop for 10 s.
//! It prints marks/s, p50 and p99 push latency and the server's peak RSS (VmHWM).
//!
//! Knobs (environment): ROLLCALL_LOAD_CLIENTS (32), ROLLCALL_LOAD_BATCH (30),
//! ROLLCALL_LOAD_SECS (10), ROLLCALL_LOAD_DB (a postgres:// URL to measure PostgreSQL instead),
//! ROLLCALL_LOAD_SERVER_LOG (the server's log filter, e.g. `rollcall_server::sync::writer=debug`),
//! ROLLCALL_LOAD_TLS (`off`, the default: plain HTTP; `on`: HTTPS with `--tls auto`, the clients
//! trusting only the generated authority; `both`: plain HTTP, then HTTPS, each against a fresh
//! server, and what HTTPS costs, from the same run), ROLLCALL_LOAD_ROUNDS (1: with `both`, how
//! many times to alternate the two; the medians are printed, as a shared machine is noisy).

use chrono::{Duration as Days, NaiveDate, Utc};
use rollcall_shared::protocol::{LoginRequest, LoginResponse, Outcome, PushRequest, PushResponse, Roster};
use rollcall_shared::{ClassId, HlcClock, NodeId, OpId, RawOp, StudentId};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The server process; killed if the benchmark panics.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(data_dir: &std::path::Path, db: Option<&str>, tls: bool) -> Server {
    let binary = env!("CARGO_BIN_EXE_rollcall");
    let mut demo = Command::new(binary);
    demo.arg("demo").arg("--data-dir").arg(data_dir);
    if let Some(db) = db {
        demo.arg("--db").arg(db);
    }
    let status = demo.status().expect("run rollcall demo");
    assert!(status.success(), "rollcall demo failed");
    let mut serve = Command::new(binary);
    serve
        .arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--bind")
        .arg("127.0.0.1:0")
        .env(
            "ROLLCALL_LOG",
            std::env::var("ROLLCALL_LOAD_SERVER_LOG").unwrap_or_else(|_| "warn".to_owned()),
        )
        .stdout(Stdio::piped());
    if let Some(db) = db {
        serve.arg("--db").arg(db);
    }
    if tls {
        serve.args(["--tls", "auto", "--tls-hosts", "127.0.0.1"]);
    }
    let mut child = serve.spawn().expect("start rollcall serve");
    let mut stdout = BufReader::new(child.stdout.take().expect("server stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("read the server's address");
    // The lines after the first (with HTTPS: the trust page, the fingerprint) are not needed.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let url = line
        .trim()
        .strip_prefix("Rollcall is running at ")
        .unwrap_or_else(|| panic!("unexpected first line from the server: {line:?}"))
        .trim_end_matches('/')
        .to_owned();
    Server { child, url }
}

/// Peak resident set size of a process, in KiB, from /proc.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time a process has used so far (user + system), from /proc.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields after it are space-separated.
    let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // Linux reports in USER_HZ, which is 100 on every mainstream configuration.
    Some(ticks as f64 / 100.0)
}

/// One register a client fills: class, date, period, and its enrolled students.
#[derive(Clone)]
struct Register {
    class_id: ClassId,
    students: Vec<StudentId>,
}

/// A client's endless supply of new marks: it walks its own dates so no two clients ever
/// write the same mark.
struct MarkSource {
    registers: Vec<Register>,
    first_date: NaiveDate,
    client: u64,
    clients_per_teacher: u64,
    /// (day step, register index, period, student index)
    position: (u64, usize, u8, usize),
}

impl MarkSource {
    fn next(&mut self) -> (ClassId, NaiveDate, u8, StudentId) {
        loop {
            let (step, register, period, student) = self.position;
            let date = self.first_date + Days::days((step * self.clients_per_teacher + self.client) as i64);
            let reg = &self.registers[register];
            if student < reg.students.len() {
                self.position.3 += 1;
                return (reg.class_id, date, period, reg.students[student]);
            }
            // Next register: next period, then next class, then the client's next date.
            self.position = if period < 6 {
                (step, register, period + 1, 0)
            } else if register + 1 < self.registers.len() {
                (step, register + 1, 1, 0)
            } else {
                (step + 1, 0, 1, 0)
            };
        }
    }
}

struct ClientResult {
    latencies_us: Vec<u64>,
    marks: u64,
    failures: u64,
}

async fn run_client(
    http: reqwest::Client,
    url: String,
    token: String,
    mut source: MarkSource,
    batch: usize,
    device: NodeId,
    until: Instant,
) -> ClientResult {
    let mut clock = HlcClock::new(device);
    let statuses = ["present", "present", "present", "late", "absent"];
    let mut result = ClientResult {
        latencies_us: Vec::new(),
        marks: 0,
        failures: 0,
    };
    let mut counter = 0usize;
    while Instant::now() < until {
        let now = Utc::now();
        let ops: Vec<RawOp> = (0..batch)
            .map(|_| {
                let (class_id, date, period, student_id) = source.next();
                counter += 1;
                RawOp {
                    op_id: OpId(uuid::Uuid::new_v4()),
                    hlc: clock.send(now.timestamp_millis() as u64).to_string(),
                    device_time: now,
                    class_id,
                    date: date.format("%Y-%m-%d").to_string(),
                    period: i64::from(period),
                    student_id: Some(student_id),
                    field: "status".to_owned(),
                    value: statuses[counter % statuses.len()].into(),
                }
            })
            .collect();
        let body = serde_json::to_vec(&PushRequest { device_id: device, ops }).expect("encode push");
        let started = Instant::now();
        let response = http
            .post(format!("{url}/api/v1/sync/push"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await;
        let answer = match response {
            Ok(response) if response.status().is_success() => response.json::<PushResponse>().await.ok(),
            Ok(response) => {
                eprintln!(
                    "push failed: {} {}",
                    response.status(),
                    response.text().await.unwrap_or_default()
                );
                None
            }
            Err(e) => {
                eprintln!("push failed: {e}");
                None
            }
        };
        result.latencies_us.push(started.elapsed().as_micros() as u64);
        match answer {
            Some(answer) => {
                let applied = answer.results.iter().filter(|r| r.outcome == Outcome::Applied).count();
                result.marks += applied as u64;
                result.failures += (answer.results.len() - applied) as u64;
            }
            None => result.failures += batch as u64,
        }
    }
    result
}

/// Sends a request of the set-up and reads its JSON answer; the bench cannot go on without it.
async fn json_answer<T: serde::de::DeserializeOwned>(request: reqwest::RequestBuilder, what: &str) -> T {
    request
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .unwrap_or_else(|e| panic!("{what}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{what} answer: {e}"))
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The figures of one measured run.
struct Measured {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    failures: u64,
}

/// The load's shape, from the environment.
struct Load {
    clients: usize,
    batch: usize,
    secs: u64,
    db: Option<String>,
}

fn main() {
    // `cargo bench` passes `--bench`; this harness takes no arguments.
    let load = Load {
        clients: env_number("ROLLCALL_LOAD_CLIENTS", 32) as usize,
        batch: env_number("ROLLCALL_LOAD_BATCH", 30) as usize,
        secs: env_number("ROLLCALL_LOAD_SECS", 10),
        db: std::env::var("ROLLCALL_LOAD_DB").ok(),
    };
    let schemes: &[bool] = match std::env::var("ROLLCALL_LOAD_TLS").as_deref() {
        Ok("on") => &[true],
        Ok("both") => &[false, true],
        Ok("off") | Err(_) => &[false],
        Ok(other) => panic!("ROLLCALL_LOAD_TLS={other:?}: expected off, on or both"),
    };
    let rounds = if schemes.len() == 2 {
        env_number("ROLLCALL_LOAD_ROUNDS", 1).max(1)
    } else {
        1
    };
    let mut runs: Vec<(bool, Measured)> = Vec::new();
    let mut ratios = Vec::new();
    for _ in 0..rounds {
        let round: Vec<(bool, Measured)> = schemes.iter().map(|&tls| (tls, measure(&load, tls))).collect();
        if let [(false, plain), (true, https)] = round.as_slice() {
            ratios.push(https.rate / plain.rate);
            println!(
                "HTTPS / HTTP:  marks/s {:.2} ({:.0} / {:.0}), p50 {:.1} / {:.1} ms, p99 {:.1} / {:.1} ms",
                https.rate / plain.rate,
                https.rate,
                plain.rate,
                https.p50_ms,
                plain.p50_ms,
                https.p99_ms,
                plain.p99_ms
            );
        }
        runs.extend(round);
    }
    if rounds > 1 {
        let median = |mut values: Vec<f64>| {
            values.sort_by(f64::total_cmp);
            values[values.len() / 2]
        };
        let rates = |tls: bool| {
            median(
                runs.iter()
                    .filter(|(t, _)| *t == tls)
                    .map(|(_, run)| run.rate)
                    .collect(),
            )
        };
        let p99s = |tls: bool| {
            median(
                runs.iter()
                    .filter(|(t, _)| *t == tls)
                    .map(|(_, run)| run.p99_ms)
                    .collect(),
            )
        };
        println!(
            "over {rounds} rounds, medians: HTTPS / HTTP marks/s {:.2} ({:.0} / {:.0}), p99 {:.1} / {:.1} ms",
            median(ratios),
            rates(true),
            rates(false),
            p99s(true),
            p99s(false)
        );
    }
    if runs.iter().any(|(_, run)| run.failures > 0) {
        eprintln!("some marks were not applied: see the errors above");
        std::process::exit(1);
    }
}

/// Starts a fresh server (HTTPS with `--tls auto` when `tls`), runs the load against it and
/// prints what it measured.
fn measure(load: &Load, tls: bool) -> Measured {
    let Load {
        clients,
        batch,
        secs,
        ref db,
    } = *load;
    let db = db.clone();
    let data_dir = tempfile::tempdir().expect("temp dir");
    let server = start_server(data_dir.path(), db.as_deref(), tls);
    // A tablet that trusted the server's own authority from /trust, and nothing else.
    let authority = tls.then(|| {
        let pem = std::fs::read(data_dir.path().join("tls").join("ca.crt")).expect("the generated authority");
        reqwest::Certificate::from_pem(&pem).expect("the authority's certificate")
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let url = server.url.clone();
    let server_pid = server.child.id();
    let results = runtime.block_on(async move {
        let mut http = reqwest::Client::builder().pool_max_idle_per_host(clients);
        if let Some(authority) = authority {
            http = http.tls_built_in_root_certs(false).add_root_certificate(authority);
        }
        let http = http.build().expect("http client");
        let teachers = ["teacher1", "teacher2", "teacher3", "teacher4"];
        let per_teacher = clients.div_ceil(teachers.len()) as u64;
        let mut sessions = Vec::new();
        for index in 0..clients {
            let username = teachers[index % teachers.len()];
            let login: LoginResponse = json_answer(
                http.post(format!("{url}/api/v1/auth/login")).json(&LoginRequest {
                    username: username.to_owned(),
                    password: "rollcall-demo".to_owned(),
                }),
                "login",
            )
            .await;
            let roster: Roster = json_answer(
                http.get(format!("{url}/api/v1/roster"))
                    .bearer_auth(&login.access_token),
                "roster",
            )
            .await;
            let registers: Vec<Register> = roster
                .classes
                .iter()
                .map(|class| Register {
                    class_id: class.id,
                    students: roster
                        .enrolments
                        .iter()
                        .filter(|e| e.class_id == class.id)
                        .map(|e| e.student_id)
                        .collect(),
                })
                .collect();
            let first_date = roster.enrolments.iter().map(|e| e.from).max().expect("enrolments");
            sessions.push((
                login.access_token,
                MarkSource {
                    registers,
                    first_date,
                    client: (index / teachers.len()) as u64,
                    clients_per_teacher: per_teacher,
                    position: (0, 0, 1, 0),
                },
            ));
        }
        println!(
            "load: {clients} clients x {batch} marks per push for {secs} s against {url} ({}, {})",
            if db.is_some() { "PostgreSQL" } else { "SQLite" },
            if tls { "HTTPS" } else { "HTTP" }
        );
        let cpu_before = cpu_seconds(server_pid);
        let started = Instant::now();
        let until = started + Duration::from_secs(secs);
        let tasks: Vec<_> = sessions
            .into_iter()
            .enumerate()
            .map(|(index, (token, source))| {
                tokio::spawn(run_client(
                    http.clone(),
                    url.clone(),
                    token,
                    source,
                    batch,
                    NodeId(0x1000 + index as u64),
                    until,
                ))
            })
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.expect("client task"));
        }
        let cpu_used = cpu_seconds(server_pid)
            .zip(cpu_before)
            .map(|(after, before)| after - before);
        (results, started.elapsed(), cpu_used)
    });
    let (results, elapsed, cpu_used) = results;
    let peak_kib = peak_rss_kib(server.child.id());
    let mut latencies: Vec<u64> = results.iter().flat_map(|r| r.latencies_us.iter().copied()).collect();
    latencies.sort_unstable();
    let marks: u64 = results.iter().map(|r| r.marks).sum();
    let failures: u64 = results.iter().map(|r| r.failures).sum();
    let rate = marks as f64 / elapsed.as_secs_f64();
    println!("pushes:        {}", latencies.len());
    println!("marks applied: {marks} ({failures} not applied)");
    println!("marks/s:       {rate:.0}");
    println!("latency p50:   {:.1} ms", percentile(&latencies, 50.0) as f64 / 1000.0);
    println!("latency p99:   {:.1} ms", percentile(&latencies, 99.0) as f64 / 1000.0);
    println!(
        "latency max:   {:.1} ms",
        latencies.last().copied().unwrap_or(0) as f64 / 1000.0
    );
    if let Some(cpu) = cpu_used {
        println!(
            "server CPU:    {cpu:.1} s ({:.1} µs per mark, {:.0}% of one core)",
            cpu * 1e6 / marks.max(1) as f64,
            cpu * 100.0 / elapsed.as_secs_f64()
        );
    }
    match peak_kib {
        Some(kib) => println!("server peak RSS (VmHWM): {:.1} MiB", kib as f64 / 1024.0),
        None => println!("server peak RSS: unavailable (no /proc)"),
    }
    drop(server);
    Measured {
        rate,
        p50_ms: percentile(&latencies, 50.0) as f64 / 1000.0,
        p99_ms: percentile(&latencies, 99.0) as f64 / 1000.0,
        failures,
    }
}
