//! HTTPS (docs/tls.md), as a tablet and as IT meet it: the real binary with `--tls auto` fetched
//! with only its own authority trusted, by every name it was given; its plain-HTTP port; its
//! files in the data directory; a restart; a renewal while serving; a school's own certificate
//! replaced on disk; and the refusals that tell IT what to fix.

#![allow(clippy::unwrap_used, reason = "test scenarios: a panic is how they fail")]

mod common;

use common::{Device, TestServer, school_day};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HOST, LOCATION, SET_COOKIE, STRICT_TRANSPORT_SECURITY};
use rollcall_server::security::tls::{CA_CERT_FILE, CA_KEY_FILE, Refresh, Reissue, SERVER_CERT_FILE, SERVER_KEY_FILE};
use rollcall_server::settings::TlsMode;
use serde_json::json;
use sha2::Digest;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

backend_tests!(a_renewal_while_serving_keeps_the_authority_and_sign_ins_work_over_https);

/// How long a test waits for something the server will do soon (a reload, a log line).
const DEADLINE: Duration = Duration::from_secs(30);

/// `rollcall serve` with `args`, started and read up to the lines it prints at start.
struct Served {
    child: Child,
    /// The lines printed on stdout at start: "Rollcall is running at …" first.
    printed: Vec<String>,
    /// Every line the server logs (stderr), as it logs it.
    log: Receiver<String>,
}

impl Served {
    fn start(data_dir: &Path, args: &[&str]) -> Served {
        let mut command = rollcall(data_dir);
        command
            .arg("serve")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let (log_lines, log) = std::sync::mpsc::channel();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let _ = log_lines.send(line);
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        assert!(
            first.starts_with("Rollcall is running at https://"),
            "the server did not start over HTTPS: {first:?}; it logged:\n{}",
            log.try_iter().collect::<Vec<_>>().join("\n")
        );
        let mut printed = vec![first.trim().to_owned()];
        // With --tls auto two more lines follow: the trust page and the fingerprint.
        let more = if args.contains(&"auto") { 2 } else { 1 };
        for _ in 0..more {
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            printed.push(line.trim().to_owned());
        }
        Served { child, printed, log }
    }

    fn url(&self) -> &str {
        self.printed[0]
            .trim_start_matches("Rollcall is running at ")
            .trim_end_matches('/')
    }

    fn port(&self) -> u16 {
        self.url().rsplit(':').next().unwrap().parse().unwrap()
    }

    fn line(&self, prefix: &str) -> &str {
        self.printed
            .iter()
            .find_map(|line| line.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no line starting with {prefix:?} in {:?}", self.printed))
    }

    /// Waits until the server logs a line holding all of `words`; returns it.
    fn wait_for_log(&self, words: &[&str]) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .log
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("the server did not log {words:?} within {DEADLINE:?}"));
            if words.iter().all(|word| line.contains(word)) {
                return line;
            }
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary with only `ROLLCALL_LOG` of the `ROLLCALL_*` variables, on `data_dir`.
fn rollcall(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rollcall"));
    for (name, _) in std::env::vars() {
        if name.starts_with("ROLLCALL_") {
            command.env_remove(name);
        }
    }
    command.env("ROLLCALL_DATA_DIR", data_dir).env("ROLLCALL_LOG", "info");
    command
}

/// A client that trusts only `authority` (DER), with `names` resolved to `addr`. It never
/// resumes a TLS session, so every request sees the certificate served at that moment.
fn client_trusting(authority: Option<&[u8]>, names: &[&str], addr: SocketAddr) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(authority) = authority {
        roots.add(authority.to_vec().into()).unwrap();
    }
    let mut tls =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    tls.resumption = rustls::client::Resumption::disabled();
    let mut builder = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .tls_info(true)
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30));
    for name in names {
        builder = builder.resolve(name, addr);
    }
    builder.build().unwrap()
}

/// The DER of the first certificate in a PEM file.
fn pem_certificate(path: &Path) -> Vec<u8> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_file(path).unwrap().to_vec()
}

fn colon_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// The certificate the server presented for `url`.
async fn served_certificate(http: &reqwest::Client, url: &str) -> Vec<u8> {
    let response = http.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let info = response.extensions().get::<reqwest::tls::TlsInfo>().unwrap();
    info.peer_certificate().unwrap().to_vec()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_auto_is_trusted_by_every_name_through_its_own_authority_only() {
    let data_dir = tempfile::tempdir().unwrap();
    let seeded = rollcall(data_dir.path()).arg("demo").output().unwrap();
    assert!(seeded.status.success(), "{seeded:?}");
    let names = "rollcall.school.lan,localhost,127.0.0.1";
    let args = [
        "--tls",
        "auto",
        "--tls-hosts",
        names,
        "--bind",
        "127.0.0.1:0",
        "--http-bind",
        "127.0.0.1:0",
    ];
    let served = Served::start(data_dir.path(), &args);
    let port = served.port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    assert_eq!(served.url(), format!("https://127.0.0.1:{port}"));

    // The files: the authority and the server certificate, keys for the owner only.
    let tls = data_dir.path().join("tls");
    let authority = pem_certificate(&tls.join(CA_CERT_FILE));
    #[cfg(unix)]
    {
        assert_eq!(mode(&tls.join(CA_KEY_FILE)), 0o600);
        assert_eq!(mode(&tls.join(SERVER_KEY_FILE)), 0o600);
        assert_eq!(mode(&tls), 0o700);
    }
    // The fingerprint printed is the authority's, as `sha256sum rollcall-ca.crt` shows it.
    let fingerprint = colon_hex(&sha2::Sha256::digest(&authority));
    assert_eq!(served.line("Certificate authority SHA-256 fingerprint: "), fingerprint);

    // Every name given works with the authority trusted, and nothing else does.
    let trusting = client_trusting(
        Some(&authority),
        &["rollcall.school.lan", "localhost", "other.school.lan"],
        addr,
    );
    for name in ["rollcall.school.lan", "localhost", "127.0.0.1"] {
        let response = trusting
            .get(format!("https://{name}:{port}/healthz"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("https://{name}:{port}/ with the authority trusted: {e:?}"));
        assert_eq!(response.status(), StatusCode::OK, "{name}");
        assert_eq!(
            response.headers()[STRICT_TRANSPORT_SECURITY],
            "max-age=31536000",
            "{name}"
        );
        assert!(response.headers().contains_key("content-security-policy"), "{name}");
    }
    let unnamed = trusting
        .get(format!("https://other.school.lan:{port}/healthz"))
        .send()
        .await;
    assert!(unnamed.is_err(), "a name the certificate does not carry was accepted");
    let trusting_nothing = client_trusting(None, &[], addr);
    let untrusted = trusting_nothing
        .get(format!("https://127.0.0.1:{port}/healthz"))
        .send()
        .await;
    assert!(untrusted.is_err(), "a client that trusts no authority got an answer");

    // A sign-in over HTTPS gets a Secure refresh cookie.
    let login = trusting
        .post(format!("https://rollcall.school.lan:{port}/api/v1/auth/login"))
        .json(&json!({"username": "teacher1", "password": common::PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let cookie = login.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("Secure"), "{cookie}");

    // The plain-HTTP port: the trust page, the certificate, and a redirect for the rest.
    let trust_url = served.line("Tablets trust its certificate authority at ");
    let http_port: u16 = trust_url
        .trim_end_matches("/trust")
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(trust_url, format!("http://127.0.0.1:{http_port}/trust"));
    let plain = format!("http://127.0.0.1:{http_port}");
    let page = trusting.get(trust_url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.headers().get(STRICT_TRANSPORT_SECURITY).is_none(),
        "HSTS over plain HTTP"
    );
    assert!(page.headers().contains_key("content-security-policy"));
    assert_eq!(page.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
    let page = page.text().await.unwrap().replace("<wbr>", "");
    assert!(page.contains(&fingerprint), "{page}");
    assert!(page.contains(&format!("https://127.0.0.1:{port}/")), "{page}");
    let download = trusting.get(format!("{plain}/rollcall-ca.crt")).send().await.unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    assert_eq!(download.headers()[CONTENT_TYPE], "application/x-x509-ca-cert");
    assert_eq!(download.bytes().await.unwrap().as_ref(), authority.as_slice());
    let pem = trusting.get(format!("{plain}/rollcall-ca.pem")).send().await.unwrap();
    assert_eq!(
        pem.text().await.unwrap(),
        std::fs::read_to_string(tls.join(CA_CERT_FILE)).unwrap()
    );
    let css = trusting.get(format!("{plain}/app.css")).send().await.unwrap();
    assert_eq!(css.status(), StatusCode::OK, "the trust page's stylesheet");
    for (method, path, host) in [
        ("GET", "/", None),
        ("GET", "/api/v1/roster?x=1", None),
        ("POST", "/api/v1/auth/login", None),
        ("GET", "/healthz", Some("rollcall.school.lan:80")),
    ] {
        let mut request = trusting.request(method.parse().unwrap(), format!("{plain}{path}"));
        if let Some(host) = host {
            request = request.header(HOST, host);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT, "{method} {path}");
        let named = host.map_or("127.0.0.1", |host| host.trim_end_matches(":80"));
        assert_eq!(
            response.headers()[LOCATION],
            format!("https://{named}:{port}{path}").as_str(),
            "{method} {path}"
        );
    }
    let server_certificate = std::fs::read(tls.join(SERVER_CERT_FILE)).unwrap();
    drop(served);

    // A restart keeps the authority and the certificate.
    let served = Served::start(data_dir.path(), &args);
    assert_eq!(served.line("Certificate authority SHA-256 fingerprint: "), fingerprint);
    assert_eq!(std::fs::read(tls.join(SERVER_CERT_FILE)).unwrap(), server_certificate);
    drop(served);

    // A new name: a new certificate from the same authority, which the same tablets trust.
    let args = [
        "--tls",
        "auto",
        "--tls-hosts",
        "rollcall2.school.lan",
        "--bind",
        "127.0.0.1:0",
    ];
    let served = Served::start(data_dir.path(), &args);
    let port = served.port();
    assert_eq!(served.url(), format!("https://rollcall2.school.lan:{port}"));
    assert_eq!(served.line("Certificate authority SHA-256 fingerprint: "), fingerprint);
    assert_ne!(std::fs::read(tls.join(SERVER_CERT_FILE)).unwrap(), server_certificate);
    served.wait_for_log(&["issued a new server certificate", "the host names changed"]);
    let trusting = client_trusting(
        Some(&authority),
        &["rollcall2.school.lan"],
        ([127, 0, 0, 1], port).into(),
    );
    let response = trusting
        .get(format!("https://rollcall2.school.lan:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// A renewal while the server serves (the daily check, with the threshold moved so that the
/// certificate is due): the next connection gets the new certificate, from the same authority.
async fn a_renewal_while_serving_keeps_the_authority_and_sign_ins_work_over_https(server: &TestServer) {
    let https = server.sibling_with(|settings| settings.tls = TlsMode::Auto).await;
    assert!(https.url.starts_with("https://localhost:"), "{}", https.url);
    let tls = https.tls.clone().unwrap();
    let ca_file = https.data_dir.path().join("tls").join(CA_CERT_FILE);
    let authority = std::fs::read(&ca_file).unwrap();
    let port: u16 = https.url.rsplit(':').next().unwrap().parse().unwrap();
    let tablet = client_trusting(
        Some(&pem_certificate(&ca_file)),
        &["localhost"],
        ([127, 0, 0, 1], port).into(),
    );
    let healthz = https.url("/healthz");
    let before = served_certificate(&tablet, &healthz).await;

    // Not due with a month's threshold: nothing changes.
    assert_eq!(
        tls.refresh(Duration::from_secs(30 * 24 * 3600)).unwrap(),
        Refresh::Unchanged
    );
    assert_eq!(served_certificate(&tablet, &healthz).await, before);

    // Due with a threshold longer than its life.
    let renewed = tls.refresh(Duration::from_secs(400 * 24 * 3600)).unwrap();
    assert!(
        matches!(renewed, Refresh::Reissued(Reissue::Expiring { days_left }) if (390..=397).contains(&days_left)),
        "{renewed:?}"
    );
    // The tablet trusts only the authority: the new certificate is from the same one.
    let after = served_certificate(&tablet, &healthz).await;
    assert_ne!(after, before, "the renewed certificate is served without a restart");
    assert_eq!(
        std::fs::read(&ca_file).unwrap(),
        authority,
        "the authority did not change"
    );
    assert_eq!(
        tls.refresh(Duration::from_secs(30 * 24 * 3600)).unwrap(),
        Refresh::Unchanged
    );

    // Signing in and pushing a mark over HTTPS work as over HTTP, on this backend.
    let session = https.login("teacher1").await;
    let classes = https.classes(&session.token).await;
    let class = classes.class(0);
    let student = classes.students(class)[0];
    let mut device = Device::new(0x7a);
    let mark = device.mark(class, &school_day(2), 1, student, "present");
    let pushed = https.push(&session.token, device.id, &[mark]).await;
    assert_eq!(pushed.status, StatusCode::OK, "{:?}", pushed.body);
    assert_eq!(pushed.outcomes(), ["applied"]);
}

/// A school's own authority and certificates it signs, as files IT would be given.
struct SchoolAuthority {
    issuer: Issuer<'static, KeyPair>,
    der: Vec<u8>,
}

impl SchoolAuthority {
    fn new() -> SchoolAuthority {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        SchoolAuthority {
            der: cert.der().to_vec(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A certificate for localhost and 127.0.0.1: (certificate PEM, key PEM, certificate DER).
    fn issue(&self) -> (String, String, Vec<u8>) {
        let params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem(), cert.der().to_vec())
    }
}

/// Replaces a file whole, as certbot and most tools do (write beside it, rename over it).
fn replace(path: &Path, text: &str) {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, text).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_school_certificate_is_reloaded_when_its_files_change_and_a_bad_one_is_not() {
    let data_dir = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let (cert_path, key_path): (PathBuf, PathBuf) =
        (files.path().join("rollcall.pem"), files.path().join("rollcall.key"));
    let school = SchoolAuthority::new();
    let (cert, key, first) = school.issue();
    std::fs::write(&cert_path, cert).unwrap();
    std::fs::write(&key_path, key).unwrap();
    let args = [
        "--tls-cert",
        cert_path.to_str().unwrap(),
        "--tls-key",
        key_path.to_str().unwrap(),
        "--bind",
        "127.0.0.1:0",
    ];
    let served = Served::start(data_dir.path(), &args);
    let port = served.port();
    assert_eq!(served.url(), format!("https://127.0.0.1:{port}"));
    assert!(
        served
            .line("HTTPS certificate for ")
            .starts_with("localhost, 127.0.0.1, valid until "),
        "{:?}",
        served.printed
    );
    let http = client_trusting(Some(&school.der), &[], ([127, 0, 0, 1], port).into());
    let url = format!("https://127.0.0.1:{port}/healthz");
    assert_eq!(served_certificate(&http, &url).await, first);
    // No authority of the box's own to download.
    let download = http
        .get(format!("https://127.0.0.1:{port}/rollcall-ca.crt"))
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), StatusCode::NOT_FOUND);

    // IT puts the renewed certificate and key in place: served without a restart.
    let (cert, key, second) = school.issue();
    replace(&key_path, &key);
    replace(&cert_path, &cert);
    // The server says when it has swapped in a new pair (it looks at the files every two seconds).
    served.wait_for_log(&["loaded the new HTTPS certificate"]);
    assert_eq!(served_certificate(&http, &url).await, second);

    // A key that is not PEM: the server says what to fix and keeps serving the good one.
    std::fs::write(&key_path, "not a key").unwrap();
    served.wait_for_log(&[
        "kept serving the previous HTTPS certificate",
        &format!("{} does not hold a PEM private key", key_path.display()),
    ]);
    assert_eq!(served_certificate(&http, &url).await, second);
    // A key of another certificate: the same.
    let (_, other_key, _) = school.issue();
    replace(&key_path, &other_key);
    served.wait_for_log(&[
        "kept serving the previous HTTPS certificate",
        "the key does not belong to the certificate",
    ]);
    assert_eq!(served_certificate(&http, &url).await, second);

    // Fixed: the next good pair is served.
    let (cert, key, third) = school.issue();
    replace(&key_path, &key);
    replace(&cert_path, &cert);
    served.wait_for_log(&["loaded the new HTTPS certificate"]);
    assert_eq!(served_certificate(&http, &url).await, third);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_http_server_says_so_on_its_trust_page_and_sends_no_hsts() {
    let server = TestServer::start(common::Backend::Sqlite).await;
    let page = server.http.get(server.url("/trust")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers().get(STRICT_TRANSPORT_SECURITY).is_none());
    let page = page.text().await.unwrap();
    assert!(
        page.contains("speaks plain HTTP") && page.contains("--tls auto"),
        "{page}"
    );
    let download = server.http.get(server.url("/rollcall-ca.crt")).send().await.unwrap();
    assert_eq!(download.status(), StatusCode::NOT_FOUND);
    // Everything else is as it always was: no redirect, no HSTS.
    let health = server.http.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert!(health.headers().get(STRICT_TRANSPORT_SECURITY).is_none());
}

/// Runs `rollcall serve` that must refuse to start; returns what it said.
fn refusal(data_dir: &Path, args: &[&str]) -> String {
    let output = rollcall(data_dir).arg("serve").args(args).output().unwrap();
    assert!(!output.status.success(), "it started with {args:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn refusals_say_what_to_fix() {
    let data_dir = tempfile::tempdir().unwrap();
    let dir = data_dir.path();
    let said = refusal(
        dir,
        &[
            "--tls",
            "auto",
            "--tls-hosts",
            "rollcall school",
            "--bind",
            "127.0.0.1:0",
        ],
    );
    assert!(
        said.contains(r#"--tls-hosts="rollcall school" is not valid: expected host names or IP addresses"#),
        "{said}"
    );
    let said = refusal(dir, &["--http-bind", "127.0.0.1:0", "--bind", "127.0.0.1:0"]);
    assert!(
        said.contains("ROLLCALL_HTTP_BIND") && said.contains("turn HTTPS on"),
        "{said}"
    );
    let said = refusal(
        dir,
        &[
            "--tls-cert",
            "/nowhere/rollcall.pem",
            "--tls-key",
            "/nowhere/rollcall.key",
        ],
    );
    assert!(
        said.contains("cannot read the certificate /nowhere/rollcall.pem") && said.contains("No such file"),
        "{said}"
    );
    // The key of another certificate.
    let school = SchoolAuthority::new();
    let (cert, _, _) = school.issue();
    let (_, other_key, _) = school.issue();
    std::fs::write(dir.join("cert.pem"), cert).unwrap();
    std::fs::write(dir.join("key.pem"), other_key).unwrap();
    let (cert_arg, key_arg) = (dir.join("cert.pem"), dir.join("key.pem"));
    let said = refusal(
        dir,
        &[
            "--tls-cert",
            cert_arg.to_str().unwrap(),
            "--tls-key",
            key_arg.to_str().unwrap(),
            "--bind",
            "127.0.0.1:0",
        ],
    );
    assert!(said.contains("the key does not belong to the certificate"), "{said}");
    // The plain-HTTP port taken by another program.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().unwrap().to_string();
    let said = refusal(
        dir,
        &["--tls", "auto", "--bind", "127.0.0.1:0", "--http-bind", taken.as_str()],
    );
    assert!(
        said.contains(&format!("cannot listen on {taken}")) && said.contains("pick another port with --http-bind"),
        "{said}"
    );
    // The authority's key lost, its certificate still there: no silent new authority.
    std::fs::remove_file(dir.join("tls").join(CA_KEY_FILE)).unwrap();
    let said = refusal(dir, &["--tls", "auto", "--bind", "127.0.0.1:0"]);
    assert!(
        said.contains("ca.key is missing") && said.contains("restore it from a backup"),
        "{said}"
    );
}
