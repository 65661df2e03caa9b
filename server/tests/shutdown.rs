//! Stopping the server (SIGTERM, Ctrl-C): it stops even while a tablet's connection hangs
//! mid-request, and what was pushed before the stop is kept.

#![allow(clippy::unwrap_used, reason = "test scenarios: a panic is how they fail")]

mod common;

use common::{Device, TestServer, school_day};
use reqwest::StatusCode;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

backend_tests!(a_tablet_stuck_mid_upload_does_not_keep_the_server_from_stopping);

/// A push whose body never finishes arriving, as from a tablet that lost the Wi-Fi mid-upload
/// without its connection being closed. Returns once the server is reading the body.
fn start_a_push_that_never_finishes(server: &TestServer, token: &str) -> TcpStream {
    let address = server.url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        stream,
        "POST /api/v1/sync/push HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n"
    )
    .unwrap();
    // The server says "100 Continue" once a worker holds the request: the stop below is then
    // sure to find it open, not still waiting to be accepted.
    let mut interim = [0u8; 25];
    stream.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(br#"{"device_id": "#).unwrap();
    stream
}

async fn a_tablet_stuck_mid_upload_does_not_keep_the_server_from_stopping(server: &TestServer) {
    let session = server.login("teacher1").await;
    let classes = server.classes(&session.token).await;
    let class = classes.class(0);
    let student = classes.students(class)[0];
    let mut device = Device::new(0x5d);
    let mark = device.mark(class, &school_day(4), 1, student, "late");
    let pushed = server
        .push(&session.token, device.id, std::slice::from_ref(&mark))
        .await;
    assert_eq!(pushed.status, StatusCode::OK, "{:?}", pushed.body);
    assert_eq!(pushed.outcomes(), ["applied"]);

    let _stuck = start_a_push_that_never_finishes(server, &session.token);
    server.stop().unwrap();

    // The mark pushed before the stop is in the database.
    assert_eq!(
        server.op_log_outcomes(&[mark.op_id]),
        [(mark.op_id.to_string(), "applied".to_owned())]
    );
}
