//! The login throttle's counts live in the database (docs/security-model.md, "Login
//! throttling"): servers sharing a database count the same failures, so an attacker spreading
//! guesses over them gets no more tries; a restart forgives nothing; the owner's own tablet still
//! gets in while an attacker waits, whichever server either reaches; and servers counting
//! failures for one account at the same moment lose none. Without its counts, no login goes
//! through unthrottled.

#![allow(clippy::unwrap_used, reason = "test scenarios: a panic is how they fail")]

mod common;

use common::{PASSWORD, TestServer};
use reqwest::StatusCode;
use rollcall_server::db::login_throttle::{self, Subject};
use rollcall_server::db::{Db, DbUrl};
use rollcall_server::security::throttle::{LoginThrottle, ManualClock, ThrottleClock};
use rollcall_server::settings::Settings;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

backend_tests!(
    failures_spread_over_two_servers_add_up_and_both_refuse,
    a_restart_forgives_no_failure_and_no_trust,
    the_owners_tablet_gets_in_on_any_server_while_an_attacker_waits,
    no_password_is_tried_when_the_counts_cannot_be_read,
    failures_counted_at_the_same_moment_on_two_servers_are_all_kept,
);

const HOME: [u8; 4] = [127, 0, 0, 1];
const ATTACKER: [u8; 4] = [127, 0, 0, 2];
const ELSEWHERE: [u8; 4] = [127, 0, 0, 3];

/// Asserts a login is refused by the throttle, and returns its `Retry-After`.
async fn refused(response: reqwest::Response) -> String {
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().unwrap().to_owned());
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "RATE_LIMITED");
    retry_after.expect("a Retry-After header")
}

/// Six wrong passwords for teacher4 from the attacker's address, alternating between the
/// servers: five are free, the sixth starts a one-second wait.
async fn six_failures(servers: [&TestServer; 2]) {
    for i in 0..6 {
        let response = servers[i % 2].login_from(ATTACKER, "teacher4", "guess").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "failure {i}");
    }
}

async fn failures_spread_over_two_servers_add_up_and_both_refuse(server: &TestServer) {
    let sibling = server.sibling().await;
    // Three failures on each: counted in memory per server, neither would have made anyone wait.
    six_failures([server, &sibling]).await;
    for one in [server, &sibling] {
        let retry_after = refused(one.login_from(ATTACKER, "Teacher4", PASSWORD).await).await;
        assert_eq!(retry_after, "1");
        // The account waits, not only the address.
        assert_eq!(
            refused(one.login_from(ELSEWHERE, "teacher4", PASSWORD).await).await,
            "1"
        );
    }
    // The wait ends on both at once (they share the clock, as NTP makes servers do).
    server.throttle_clock.advance(Duration::from_secs(1));
    assert_eq!(
        sibling.login_from(ATTACKER, "teacher4", PASSWORD).await.status(),
        StatusCode::OK
    );
}

async fn a_restart_forgives_no_failure_and_no_trust(server: &TestServer) {
    assert_eq!(
        server.login_from(HOME, "teacher4", PASSWORD).await.status(),
        StatusCode::OK
    );
    six_failures([server, server]).await;
    assert_eq!(
        refused(server.login_from(ATTACKER, "teacher4", PASSWORD).await).await,
        "1"
    );

    server.stop().unwrap();
    let restarted = server.sibling().await;
    assert_eq!(
        refused(restarted.login_from(ATTACKER, "teacher4", PASSWORD).await).await,
        "1",
        "the restart forgave the failures"
    );
    assert_eq!(
        restarted.login_from(HOME, "teacher4", PASSWORD).await.status(),
        StatusCode::OK,
        "the restart forgot the owner's tablet"
    );
}

async fn the_owners_tablet_gets_in_on_any_server_while_an_attacker_waits(server: &TestServer) {
    let sibling = server.sibling().await;
    // teacher4's tablet signed in through one server; the attacker guesses through the other.
    assert_eq!(
        server.login_from(HOME, "teacher4", PASSWORD).await.status(),
        StatusCode::OK
    );
    for i in 0..8 {
        if i > 0 {
            // Each failure past the free ones makes the attacker wait; once that is waited out,
            // the next guess is judged.
            server.throttle_clock.advance(Duration::from_secs(300));
        }
        let servers = [server, &sibling];
        let response = servers[i % 2].login_from(ATTACKER, "teacher4", "guess").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "failure {i}");
    }
    // After eight failures the attacker waits 4 s, on both servers...
    for one in [server, &sibling] {
        assert_eq!(refused(one.login_from(ATTACKER, "teacher4", PASSWORD).await).await, "4");
    }
    // ...and the tablet gets in through either server during that wait.
    for one in [&sibling, server] {
        assert_eq!(
            one.login_from(HOME, "teacher4", PASSWORD).await.status(),
            StatusCode::OK
        );
    }
}

/// Two servers' throttles on one database (the test server's), each with its own pool,
/// counting 25 failures each for one account at the same moment: all 50 are counted.
async fn failures_counted_at_the_same_moment_on_two_servers_are_all_kept(server: &TestServer) {
    let clock = ManualClock::new();
    let settings = Settings::default();
    let instances: Vec<LoginThrottle> = (0..2)
        .map(|_| {
            let db = Db::open(DbUrl::parse(Some(&server.db_url), server.data_dir.path()), 4).unwrap();
            LoginThrottle::new(&settings, db, ThrottleClock::Manual(clock.clone()))
        })
        .collect();
    let address = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9));
    let mut failures = Vec::new();
    for instance in &instances {
        for _ in 0..25 {
            let instance = instance.clone();
            failures.push(tokio::spawn(async move {
                instance.record_failure("teacher4", address).await.unwrap();
            }));
        }
    }
    for failure in failures {
        failure.await.unwrap();
    }
    let mut conn = server.db();
    let account = login_throttle::failures(&mut conn, Subject::Account("teacher4")).unwrap();
    let by_address = login_throttle::failures(&mut conn, Subject::Address(address)).unwrap();
    assert_eq!((account.count, by_address.count), (50, 50));
}

/// The throttle's table is missing (renamed away before any login, so no server holds a
/// prepared statement for it): the right password is refused, not let through unthrottled.
async fn no_password_is_tried_when_the_counts_cannot_be_read(server: &TestServer) {
    use diesel::connection::SimpleConnection;
    server
        .db()
        .batch_execute("ALTER TABLE login_failures RENAME TO login_failures_away")
        .unwrap();
    let response = server.login_from(HOME, "teacher4", PASSWORD).await;
    assert!(response.status().is_server_error(), "{}", response.status());
    assert!(common::refresh_cookie(response.headers()).is_none());
    server
        .db()
        .batch_execute("ALTER TABLE login_failures_away RENAME TO login_failures")
        .unwrap();
    assert_eq!(
        server.login_from(HOME, "teacher4", PASSWORD).await.status(),
        StatusCode::OK
    );
}

/// PostgreSQL stops taking connections to the database: a login is refused with 503
/// UNAVAILABLE and a message saying what to check, once the pool gives up (10 s); when the
/// database is back, logins work again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_is_refused_with_503_while_postgres_is_unreachable() {
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, PgConnection};
    let Some(server) = TestServer::start_postgres().await else {
        return;
    };
    let name = server
        .db_url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let mut admin = PgConnection::establish(&std::env::var("ROLLCALL_TEST_PG").unwrap()).unwrap();
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {name} ALLOW_CONNECTIONS false;
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}';"
        ))
        .unwrap();
    let reply = server
        .try_login(serde_json::json!({"username": "teacher4", "password": PASSWORD}))
        .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{}", reply.body);
    assert_eq!(reply.body["error"]["code"], "UNAVAILABLE");
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("is reachable"), "{message}");
    assert!(common::refresh_cookie(&reply.headers).is_none());

    admin
        .batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .unwrap();
    assert_eq!(
        server.login_from(HOME, "teacher4", PASSWORD).await.status(),
        StatusCode::OK
    );
}
