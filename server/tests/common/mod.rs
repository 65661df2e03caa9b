//! The test harness: the real server, started with `rollcall_server::launch` on 127.0.0.1:0,
//! on a temporary SQLite file or, when `ROLLCALL_TEST_PG` names a PostgreSQL server, on a fresh
//! database created for the test and dropped after it. Each test runs once per backend via
//! [`backend_tests!`]; without `ROLLCALL_TEST_PG` the PostgreSQL variants say so and pass, with
//! it an unreachable PostgreSQL fails them.
#![allow(dead_code, reason = "each test file uses its own part of the harness")]

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use rollcall_server::db::backup::schedule::Backups;
use rollcall_server::db::{DbConnection, DbUrl};
use rollcall_server::security::throttle::{ManualClock, ThrottleClock};
use rollcall_server::settings::{Secret, Settings, Storage};
use rollcall_shared::protocol::{LoginResponse, Roster};
use rollcall_shared::{ClassId, HlcClock, NodeId, OpId, RawOp, StudentId};
use serde_json::{Value, json};
use std::io::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Generates, for each named `async fn NAME(server: &TestServer)` in the test file, a test
/// `sqlite::NAME` and a test `postgres::NAME`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let server = $crate::common::TestServer::start($crate::common::Backend::Sqlite).await;
                    super::$name(&server).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(server) = $crate::common::TestServer::start_postgres().await else {
                        return;
                    };
                    super::$name(&server).await;
                }
            )*
        }
    };
}

/// For tests that start their own server (or none): generates, for each named
/// `async fn NAME(backend: Backend)`, a test `sqlite::NAME` and a test `postgres::NAME`. A
/// PostgreSQL variant skips itself when [`TestDatabase::new`] or [`TestServer::start_with`] says
/// `ROLLCALL_TEST_PG` is not set.
#[macro_export]
macro_rules! per_backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Postgres).await;
                }
            )*
        }
    };
}

pub const PASSWORD: &str = "rollcall-demo";
/// One signing key for every instance of a test, so a token from one server works on another
/// (and a test can sign a token the way a thief with the key would).
pub const TEST_JWT_SECRET: &str = "test-signing-key-test-signing-key-0123";
/// Test servers close connections still open this long after a stop (the default is 30 s).
pub const TEST_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(2);
/// A test server that has not stopped this long after being told to is hung: the test fails
/// instead of hanging the run.
const STOP_DEADLINE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running server with its own database; stopped and cleaned up on drop.
pub struct TestServer {
    pub url: String,
    pub backend: Backend,
    pub db_url: String,
    pub data_dir: tempfile::TempDir,
    pub http: reqwest::Client,
    /// The server's event hub, to see how many event streams it holds open.
    pub events: rollcall_server::sync::notices::EventHub,
    /// Whether it hears the other servers on its database (PostgreSQL).
    pub relay: rollcall_server::sync::relay::Relay,
    /// Its scheduled backups, when a test turned them on (`--backup-every`).
    pub backups: Option<Backups>,
    /// The HTTPS certificate of a server started with `--tls auto` (see [`TestServer::url`]:
    /// `https://localhost:PORT`, and `http` trusts only its authority).
    pub tls: Option<std::sync::Arc<rollcall_server::security::tls::ServerTls>>,
    /// The server's metrics, e.g. to record a backup.
    pub metrics: std::sync::Arc<rollcall_server::metrics::Metrics>,
    /// Where `/metrics` is served when the server has a separate address for it
    /// (`Settings::metrics_bind`).
    pub metrics_url: Option<String>,
    /// The clock of the server's login throttle: it stands still until a test moves it, so a
    /// test sees a login wait end without waiting it out. Its siblings share it, as servers of
    /// one district agree on the time.
    pub throttle_clock: ManualClock,
    /// Stops the server, and its thread; taken by the first [`TestServer::stop`].
    running: Mutex<Option<(tokio::sync::oneshot::Sender<()>, std::thread::JoinHandle<()>)>>,
    /// The database to drop afterwards (PostgreSQL only), once the server has stopped.
    pg_database: Option<PgDatabase>,
}

static DATABASE_COUNTER: AtomicU32 = AtomicU32::new(0);

/// What the server thread hands back once the server listens.
struct Started {
    events: rollcall_server::sync::notices::EventHub,
    relay: rollcall_server::sync::relay::Relay,
    metrics: std::sync::Arc<rollcall_server::metrics::Metrics>,
    metrics_addr: Option<std::net::SocketAddr>,
    backups: Option<Backups>,
    tls: Option<std::sync::Arc<rollcall_server::security::tls::ServerTls>>,
}

impl TestServer {
    /// A server on a temporary SQLite file, seeded with the demo school and a second school.
    pub async fn start(backend: Backend) -> TestServer {
        TestServer::start_with(backend, |_| {})
            .await
            .expect("ROLLCALL_TEST_PG is not set")
    }

    /// A server on a fresh PostgreSQL database, or `None` when `ROLLCALL_TEST_PG` is not set.
    /// An unreachable PostgreSQL fails the test.
    pub async fn start_postgres() -> Option<TestServer> {
        TestServer::start_with(Backend::Postgres, |_| {}).await
    }

    /// [`TestServer::start`] with some settings changed from the tests' defaults; `None` for
    /// PostgreSQL when `ROLLCALL_TEST_PG` is not set.
    pub async fn start_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> Option<TestServer> {
        let database = TestDatabase::new(backend)?;
        Some(TestServer::boot_on(database, true, configure).await)
    }

    /// A server on a database a test has prepared (nothing is seeded).
    pub async fn serve(database: TestDatabase) -> TestServer {
        TestServer::boot_on(database, false, |_| {}).await
    }

    async fn boot_on(database: TestDatabase, seed: bool, configure: impl FnOnce(&mut Settings)) -> TestServer {
        let TestDatabase {
            backend,
            url,
            dir,
            pg_database,
        } = database;
        TestServer::boot(backend, dir, url, pg_database, seed, ManualClock::new(), configure).await
    }

    /// Another server on the same database (a district runs several behind a proxy), or this
    /// one restarted once it is stopped.
    pub async fn sibling(&self) -> TestServer {
        self.sibling_with(|_| {}).await
    }

    /// Another server on the same database, with some settings changed from the tests' defaults.
    pub async fn sibling_with(&self, configure: impl FnOnce(&mut Settings)) -> TestServer {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let clock = self.throttle_clock.clone();
        TestServer::boot(
            self.backend,
            data_dir,
            self.db_url.clone(),
            None,
            false,
            clock,
            configure,
        )
        .await
    }

    async fn boot(
        backend: Backend,
        data_dir: tempfile::TempDir,
        db_url: String,
        pg_database: Option<PgDatabase>,
        seed: bool,
        throttle_clock: ManualClock,
        configure: impl FnOnce(&mut Settings),
    ) -> TestServer {
        let mut settings = Settings {
            storage: Storage {
                data_dir: data_dir.path().to_owned(),
                database_url: Some(Secret::new(db_url.clone())),
            },
            jwt_secret: Some(Secret::new(TEST_JWT_SECRET)),
            workers: 2,
            db_pool_size: 4,
            log: "warn".to_owned(),
            shutdown_timeout: TEST_SHUTDOWN_TIMEOUT,
            ..Settings::default()
        };
        configure(&mut settings);
        if seed {
            let db = rollcall_server::db::Db::open(settings.db_url(), 1).expect("open the test database");
            let mut conn = db.connect().expect("connect to the test database");
            rollcall_server::cli::demo::seed(&mut conn, chrono::Utc::now().date_naive()).expect("seed the demo school");
            seed_other_school(&mut conn);
        }
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready, started) = std::sync::mpsc::channel::<Result<Started, String>>();
        let server_throttle_clock = ThrottleClock::Manual(throttle_clock.clone());
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = match rollcall_server::launch_with(settings, listener, server_throttle_clock) {
                    Ok(server) => server,
                    Err(e) => {
                        let _ = ready.send(Err(e.to_string()));
                        return;
                    }
                };
                let _ = ready.send(Ok(Started {
                    events: server.events(),
                    relay: server.relay(),
                    metrics: server.metrics(),
                    metrics_addr: server.metrics_addr,
                    backups: server.backups(),
                    tls: server.tls(),
                }));
                let handle = server.stop_handle();
                actix_web::rt::spawn(async move {
                    let _ = stopped.await;
                    handle.stop().await;
                });
                let _ = server.wait().await;
            });
        });
        let Started {
            events,
            relay,
            metrics,
            metrics_addr,
            backups,
            tls,
        } = started
            .recv_timeout(Duration::from_secs(60))
            .expect("the server did not start")
            .unwrap_or_else(|e| panic!("the server did not start: {e}"));
        let mut http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            // actix closes a kept-alive connection after answering a request whose body it did
            // not read (e.g. a 401 before the JSON); a pooled client can race that close and see
            // an incomplete message. A fresh connection per request keeps the tests about answers.
            .pool_max_idle_per_host(0);
        let url = match tls.as_ref().and_then(|tls| tls.authority()) {
            Some(ca) => {
                // Only the server's own authority, as a tablet that trusted it from /trust.
                let ca = reqwest::Certificate::from_der(ca.der()).expect("the authority's certificate");
                http = http
                    .tls_built_in_root_certs(false)
                    .add_root_certificate(ca)
                    .tls_info(true)
                    .resolve("localhost", addr);
                format!("https://localhost:{}", addr.port())
            }
            None => format!("http://{addr}"),
        };
        TestServer {
            url,
            backend,
            db_url,
            data_dir,
            http: http.build().expect("http client"),
            events,
            relay,
            backups,
            tls,
            metrics,
            metrics_url: metrics_addr.map(|addr| format!("http://{addr}")),
            throttle_clock,
            running: Mutex::new(Some((stop, thread))),
            pg_database,
        }
    }

    /// A direct database connection, to check what was stored.
    pub fn db(&self) -> DbConnection {
        DbUrl::parse(Some(&self.db_url), self.data_dir.path())
            .connect()
            .expect("connect to the test database")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Signs in; panics unless it works.
    pub async fn login(&self, username: &str) -> Session {
        let response = self
            .http
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"username": username, "password": PASSWORD}))
            .send()
            .await
            .expect("login request");
        assert_eq!(response.status(), StatusCode::OK, "login as {username}");
        let refresh_cookie = refresh_cookie(response.headers()).expect("a refresh cookie");
        let body: LoginResponse = response.json().await.expect("login answer");
        Session {
            token: body.access_token.clone(),
            refresh_cookie,
            login: body,
        }
    }

    /// Any request; returns status, headers and the JSON body (Null when there is none).
    pub async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        let mut request = self.http.request(method.parse().expect("method"), self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        send(request).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call("GET", path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call("POST", path, Some(token), Some(body)).await
    }

    pub async fn roster(&self, token: &str) -> Roster {
        let reply = self.get("/api/v1/roster", token).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        serde_json::from_value(reply.body).expect("roster")
    }

    /// What the token's user sees of the demo school.
    pub async fn classes(&self, token: &str) -> Classes {
        Classes {
            roster: self.roster(token).await,
        }
    }

    /// Signs in; returns the access token and what the user sees.
    pub async fn login_with_classes(&self, username: &str) -> (String, Classes) {
        let token = self.login(username).await.token;
        let classes = self.classes(&token).await;
        (token, classes)
    }

    /// A login request with any body; returns the reply, whatever it is.
    pub async fn try_login(&self, body: Value) -> Reply {
        self.call("POST", "/api/v1/auth/login", None, Some(body)).await
    }

    /// A login from a local address of the test's choosing (`127.0.0.2`, …), as another device
    /// would make it: the throttle counts by address.
    pub async fn login_from(&self, address: [u8; 4], username: &str, password: &str) -> reqwest::Response {
        let client = reqwest::Client::builder()
            .local_address(std::net::IpAddr::from(address))
            .build()
            .expect("http client");
        client
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .expect("login request")
    }

    /// Ends the sign-in of a refresh cookie (`rollcall_refresh=…`); returns the reply.
    pub async fn logout(&self, refresh_cookie: &str) -> Reply {
        send(
            self.http
                .post(self.url("/api/v1/auth/logout"))
                .header(reqwest::header::COOKIE, refresh_cookie),
        )
        .await
    }

    /// Asks for a lock (`POST /api/v1/admin/locks` with this body); returns the reply.
    pub async fn create_lock(&self, token: &str, body: Value) -> Reply {
        self.post("/api/v1/admin/locks", token, body).await
    }

    /// Reopens a lock with a reason; returns the reply.
    pub async fn reopen_lock(&self, token: &str, lock_id: impl std::fmt::Display, reason: &str) -> Reply {
        let path = format!("/api/v1/admin/locks/{lock_id}/reopen");
        self.post(&path, token, json!({"reason": reason})).await
    }

    /// Pushes ops from a device; returns the reply.
    pub async fn push(&self, token: &str, device: NodeId, ops: &[RawOp]) -> Reply {
        self.post("/api/v1/sync/push", token, json!({"device_id": device, "ops": ops}))
            .await
    }

    /// Pulls every change visible to the caller, page by page; returns them and the pages' sizes.
    pub async fn pull_all(&self, token: &str, cursor: Option<String>, limit: u32) -> (Vec<Value>, String, usize) {
        let mut cursor = cursor;
        let mut changes = Vec::new();
        let mut pages = 0;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/v1/sync/pull?cursor={c}&limit={limit}"),
                None => format!("/api/v1/sync/pull?limit={limit}"),
            };
            let reply = self.get(&path, token).await;
            assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
            pages += 1;
            let page = reply.body["changes"].as_array().expect("changes").clone();
            assert!(page.len() <= limit as usize);
            changes.extend(page);
            cursor = Some(reply.body["cursor"].as_str().expect("cursor").to_owned());
            if !reply.body["more"].as_bool().expect("more") {
                return (changes, cursor.unwrap_or_default(), pages);
            }
        }
    }

    /// Rows in the op log with these op ids, by outcome.
    pub fn op_log_outcomes(&self, op_ids: &[OpId]) -> Vec<(String, String)> {
        use rollcall_server::db::schema::op_log;
        let ids: Vec<String> = op_ids.iter().map(|id| id.to_string()).collect();
        op_log::table
            .filter(op_log::op_id.eq_any(ids))
            .order(op_log::seq.asc())
            .select((op_log::op_id, op_log::outcome))
            .load(&mut self.db())
            .expect("read the op log")
    }

    /// Stops the server as SIGTERM does and waits until its thread has ended; an error if it
    /// has not within [`STOP_DEADLINE`]. Stopping twice is a no-op.
    pub fn stop(&self) -> Result<(), String> {
        let running = self
            .running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        let Some((stop, thread)) = running else {
            return Ok(());
        };
        let asked = Instant::now();
        let _ = stop.send(());
        while !thread.is_finished() {
            if asked.elapsed() > STOP_DEADLINE {
                return Err(format!(
                    "the server at {} had not stopped {} s after being told to (its shutdown timeout is {} s)",
                    self.url,
                    STOP_DEADLINE.as_secs(),
                    TEST_SHUTDOWN_TIMEOUT.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        thread.join().map_err(|_| "the server thread panicked".to_owned())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Err(hung) = self.stop() {
            if std::thread::panicking() {
                eprintln!("{hung}");
            } else {
                panic!("{hung}");
            }
        }
        // The PostgreSQL database is dropped with the field, after this.
    }
}

/// An empty database of its own for a test (a temporary SQLite file, or a fresh PostgreSQL
/// database dropped afterwards), with a data directory; nothing is created in it.
pub struct TestDatabase {
    pub backend: Backend,
    pub url: String,
    pub dir: tempfile::TempDir,
    pg_database: Option<PgDatabase>,
}

impl TestDatabase {
    /// `None` for PostgreSQL when `ROLLCALL_TEST_PG` is not set (said on stderr); an unreachable
    /// PostgreSQL fails the test.
    pub fn new(backend: Backend) -> Option<TestDatabase> {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => Some(TestDatabase {
                backend,
                url: format!("sqlite://{}", dir.path().join("rollcall.db").display()),
                dir,
                pg_database: None,
            }),
            Backend::Postgres => {
                let pg_database = PgDatabase::create()?;
                Some(TestDatabase {
                    backend,
                    url: database_url(&pg_database.admin_url, &pg_database.name),
                    dir,
                    pg_database: Some(pg_database),
                })
            }
        }
    }

    pub fn db_url(&self) -> DbUrl {
        DbUrl::parse(Some(&self.url), self.dir.path())
    }

    /// A direct connection.
    pub fn connect(&self) -> DbConnection {
        self.db_url().connect().expect("connect to the test database")
    }
}

/// A fresh database on `ROLLCALL_TEST_PG`, dropped when this is.
struct PgDatabase {
    admin_url: String,
    name: String,
}

impl PgDatabase {
    /// `None` when `ROLLCALL_TEST_PG` is not set.
    fn create() -> Option<PgDatabase> {
        let Ok(admin_url) = std::env::var("ROLLCALL_TEST_PG") else {
            // Written to the stream itself, not with eprintln!: the test harness swallows what a
            // passing test prints, and a skip must not look like a pass.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: {}: ROLLCALL_TEST_PG is not set, so this PostgreSQL run did not happen",
                std::thread::current().name().unwrap_or("a PostgreSQL test")
            );
            return None;
        };
        let name = format!(
            "rollcall_test_{}_{}_{}",
            std::process::id(),
            DATABASE_COUNTER.fetch_add(1, Ordering::SeqCst),
            rand_suffix()
        );
        let mut admin = diesel::PgConnection::establish(&admin_url)
            .unwrap_or_else(|e| panic!("ROLLCALL_TEST_PG={admin_url} cannot be reached: {e}"));
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("cannot create the test database {name}: {e}"));
        Some(PgDatabase { admin_url, name })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Ok(mut admin) = diesel::PgConnection::establish(&self.admin_url) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

/// The real `rollcall` binary with these arguments, and no `ROLLCALL_*` variable of the test's
/// environment.
pub fn rollcall(args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_rollcall"));
    command.args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("ROLLCALL_") {
            command.env_remove(name);
        }
    }
    command
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
}

/// The admin URL with its database name replaced.
fn database_url(admin_url: &str, name: &str) -> String {
    let (base, query) = admin_url
        .split_once('?')
        .map_or((admin_url, None), |(b, q)| (b, Some(q)));
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let base = match base[after_scheme..].find('/') {
        Some(slash) => &base[..after_scheme + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

/// A second school with one teacher (`other-teacher`), one class and one student, for checks
/// that nothing crosses schools.
fn seed_other_school(conn: &mut DbConnection) {
    use rollcall_server::db::roster::{insert_class, insert_enrolment, insert_school, insert_student};
    use rollcall_server::db::users::{UserRow, insert_user};
    use rollcall_shared::protocol::{ClassInfo, EnrolmentInfo, Role, SchoolInfo, StudentInfo};
    let school = SchoolInfo {
        id: uuid::Uuid::new_v4().into(),
        name: "Hillside School".to_owned(),
    };
    let teacher = UserRow {
        id: uuid::Uuid::new_v4().into(),
        school_id: school.id,
        username: "other-teacher".to_owned(),
        display_name: "Other Teacher".to_owned(),
        role: Role::Teacher,
        password_hash: rollcall_server::security::passwords::hash(PASSWORD).expect("hash"),
        created_at: 0,
        disabled_at: None,
    };
    let class = ClassInfo {
        id: uuid::Uuid::new_v4().into(),
        name: "H1 Art".to_owned(),
        teacher_ids: vec![teacher.id],
    };
    let student = StudentInfo {
        id: uuid::Uuid::new_v4().into(),
        external_id: "H0001".to_owned(),
        given_name: "Hal".to_owned(),
        family_name: "Hill".to_owned(),
    };
    let enrolment = EnrolmentInfo {
        class_id: class.id,
        student_id: student.id,
        from: chrono::NaiveDate::from_ymd_opt(2000, 1, 1).expect("a date"),
        until: None,
    };
    insert_school(conn, &school, 0).expect("school");
    insert_user(conn, &teacher).expect("teacher");
    insert_class(conn, school.id, &class).expect("class and its teacher");
    insert_student(conn, school.id, &student).expect("student");
    insert_enrolment(conn, school.id, &enrolment).expect("enrolment");
}

/// The real binary, `rollcall serve` on 127.0.0.1:0 over an existing database, with its log
/// (stderr) read line by line: what school IT runs and reads. Killed on drop.
pub struct BinaryServer {
    /// `http://127.0.0.1:PORT`, as the server printed it.
    pub url: String,
    /// The log lines read so far.
    pub seen: Vec<String>,
    lines: std::sync::mpsc::Receiver<String>,
    child: std::process::Child,
    _data_dir: tempfile::TempDir,
}

impl BinaryServer {
    /// Starts it on `db_url` at log level info, with these `ROLLCALL_*` variables besides.
    pub fn start(db_url: &str, env: &[(&str, &str)]) -> BinaryServer {
        use std::io::{BufRead, BufReader};
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_rollcall"));
        for (name, _) in std::env::vars() {
            if name.starts_with("ROLLCALL_") {
                command.env_remove(name);
            }
        }
        let mut child = command
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env("ROLLCALL_DATA_DIR", data_dir.path())
            .env("ROLLCALL_DB", db_url)
            .env("ROLLCALL_JWT_SECRET", TEST_JWT_SECRET)
            .env("ROLLCALL_LOG", "info")
            .env("ROLLCALL_SHUTDOWN_TIMEOUT_SECS", "1")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start rollcall serve");
        let stderr = child.stderr.take().expect("stderr");
        let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).split(b'\n') {
                let Ok(line) = line else { return };
                if lines_tx.send(String::from_utf8_lossy(&line).into_owned()).is_err() {
                    return;
                }
            }
        });
        let mut first = String::new();
        let read = BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut first);
        let url = first
            .trim()
            .strip_prefix("Rollcall is running at ")
            .map(|url| url.trim_end_matches('/').to_owned());
        let mut server = BinaryServer {
            url: String::new(),
            seen: Vec::new(),
            lines,
            child,
            _data_dir: data_dir,
        };
        match (read, url) {
            (Ok(_), Some(url)) => server.url = url,
            _ => {
                let _ = server.child.kill();
                let said: Vec<String> = server.lines.try_iter().collect();
                panic!("the server did not start: {first:?}; its log: {said:#?}");
            }
        }
        server
    }

    /// The next log line holding `needle`, after the lines before it (kept in `seen`).
    pub fn wait_for(&mut self, needle: &str) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("no log line with {needle:?}; saw {:#?}", self.seen));
            self.seen.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
    }
}

impl Drop for BinaryServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A signed-in user.
#[derive(Debug, Clone)]
pub struct Session {
    pub token: String,
    /// `rollcall_refresh=…` as the browser would send it back.
    pub refresh_cookie: String,
    pub login: LoginResponse,
}

/// The `name=value` of the refresh cookie in a response, if one was set.
pub fn refresh_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with("rollcall_refresh="))
        .map(|value| value.split(';').next().unwrap_or_default().to_owned())
}

/// An error body without its `request_id`, which differs from answer to answer: to check that
/// two answers say the same.
pub fn without_request_id(body: &Value) -> Value {
    let mut body = body.clone();
    if let Some(error) = body.get_mut("error").and_then(Value::as_object_mut) {
        error.remove("request_id");
    }
    body
}

/// A response, read.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

/// Sends a request (one built by hand for raw bodies or headers, or by [`TestServer::call`]) and
/// reads the answer: the JSON body, Null when there is none, the text when it is not JSON.
pub async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("request");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Reply { status, headers, body }
}

impl Reply {
    /// The outcomes of a push reply, in order.
    pub fn outcomes(&self) -> Vec<String> {
        self.body["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| r["outcome"].as_str().expect("outcome").to_owned())
            .collect()
    }
}

/// The demo school as a teacher sees it: their classes and each class's students.
#[derive(Debug, Clone)]
pub struct Classes {
    pub roster: Roster,
}

impl Classes {
    pub fn class(&self, index: usize) -> ClassId {
        self.roster.classes[index].id
    }

    pub fn students(&self, class: ClassId) -> Vec<StudentId> {
        self.roster
            .enrolments
            .iter()
            .filter(|e| e.class_id == class)
            .map(|e| e.student_id)
            .collect()
    }

    pub fn class_named(&self, name: &str) -> ClassId {
        self.roster
            .classes
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no class {name}"))
            .id
    }
}

/// Makes ops the way a tablet does: fresh op ids, HLCs from the device's own clock.
pub struct Device {
    pub id: NodeId,
    pub clock: HlcClock,
}

impl Device {
    pub fn new(id: u64) -> Device {
        Device {
            id: NodeId(id),
            clock: HlcClock::new(NodeId(id)),
        }
    }

    /// An op stamped now (plus `ahead_ms`).
    pub fn op(
        &mut self,
        class_id: ClassId,
        date: &str,
        period: i64,
        student_id: Option<StudentId>,
        field: &str,
        value: Value,
    ) -> RawOp {
        self.op_at(0, class_id, date, period, student_id, field, value)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn op_at(
        &mut self,
        ahead_ms: i64,
        class_id: ClassId,
        date: &str,
        period: i64,
        student_id: Option<StudentId>,
        field: &str,
        value: Value,
    ) -> RawOp {
        let now = chrono::Utc::now() + chrono::Duration::milliseconds(ahead_ms);
        RawOp {
            op_id: OpId(uuid::Uuid::new_v4()),
            hlc: self.clock.send(now.timestamp_millis() as u64).to_string(),
            device_time: now,
            class_id,
            date: date.to_owned(),
            period,
            student_id,
            field: field.to_owned(),
            value: serde_json::from_value(value).expect("a test op's value is a JSON scalar"),
        }
    }

    /// A status op for one student.
    pub fn mark(&mut self, class_id: ClassId, date: &str, period: i64, student: StudentId, status: &str) -> RawOp {
        self.op(class_id, date, period, Some(student), "status", json!(status))
    }
}

/// A date inside the demo school year (enrolments start on its first day).
pub fn school_day(offset_days: i64) -> String {
    let start = rollcall_server::cli::demo::school_year_start(chrono::Utc::now().date_naive());
    (start + chrono::Duration::days(offset_days))
        .format("%Y-%m-%d")
        .to_string()
}

/// Reads an event stream until `until` holds for what arrived, or it ends; what arrived, and
/// whether it ended. Waits at most a minute: that is a failure, not a timing.
pub async fn read_events(response: &mut reqwest::Response, until: impl Fn(&str) -> bool) -> (String, bool) {
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        match tokio::time::timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(chunk))) => {
                text.push_str(&String::from_utf8_lossy(&chunk));
                if until(&text) {
                    return (text, false);
                }
            }
            Ok(_) => return (text, true),
            Err(_) => panic!("nothing more on the stream within a minute; so far: {text:?}"),
        }
    }
}

/// Pulls everything as `token` and fold it into field → (value, hlc), the client's view.
pub async fn pulled_state(server: &TestServer, token: &str) -> std::collections::BTreeMap<String, (Value, String)> {
    let (changes, _, _) = server.pull_all(token, None, 1000).await;
    let mut state: std::collections::BTreeMap<String, (Value, String)> = std::collections::BTreeMap::new();
    for change in changes {
        let key = format!(
            "{}/{}/{}/{}/{}",
            change["class_id"], change["date"], change["period"], change["student_id"], change["field"]
        );
        let hlc = change["hlc"].as_str().unwrap().to_owned();
        if state.get(&key).is_none_or(|(_, stored)| *stored < hlc) {
            state.insert(key, (change["value"].clone(), hlc));
        }
    }
    state
}
