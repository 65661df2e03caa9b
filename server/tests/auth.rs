//! Sign-in against the real server: login, refresh rotation, reuse detection and its grace,
//! logout, access tokens that end with their sign-in, throttling, the refresh cookie's `Secure`
//! flag behind proxies, and the 401 bodies of bad tokens.

#![allow(clippy::unwrap_used, reason = "test scenarios: a panic is how they fail")]

mod common;

use common::{PASSWORD, TEST_JWT_SECRET, TestServer, refresh_cookie};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

backend_tests!(
    login_returns_a_token_and_an_http_only_strict_refresh_cookie,
    wrong_credentials_are_refused_alike_for_known_and_unknown_users,
    refresh_rotates_and_a_reused_token_ends_the_whole_sign_in,
    logout_revokes_the_sign_in,
    failed_logins_are_throttled_without_locking_the_owner_out,
    bad_tokens_are_refused_with_401,
    a_disabled_account_cannot_push_with_a_token_it_still_holds,
    access_tokens_stop_working_when_their_sign_in_is_logged_out,
    access_tokens_stop_working_when_a_reused_refresh_token_ends_their_sign_in,
    a_sign_in_ended_on_one_server_ends_on_a_sibling_at_its_next_recheck,
    tokens_signed_with_the_real_key_cannot_outlive_fifteen_minutes_or_lack_a_sign_in,
    a_refresh_whose_answer_was_lost_gets_the_same_new_token_and_the_sign_in_lives_on,
    the_refresh_cookie_believes_forwarded_https_only_from_trusted_proxies,
);

async fn login_returns_a_token_and_an_http_only_strict_refresh_cookie(server: &TestServer) {
    let response = server
        .http
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"username": "  Teacher1 ", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["rollcall-protocol"], "1");
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/api/v1/auth", "Max-Age="] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["user"]["username"], "teacher1");
    assert_eq!(body["user"]["role"], "teacher");
    assert!(
        body.get("refresh_token").is_none(),
        "the refresh token travels only in the cookie"
    );
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(server.get("/api/v1/roster", token).await.status, StatusCode::OK);
}

async fn wrong_credentials_are_refused_alike_for_known_and_unknown_users(server: &TestServer) {
    let wrong_password = server
        .try_login(json!({"username": "teacher1", "password": "nope"}))
        .await;
    let unknown_user = server
        .try_login(json!({"username": "nobody", "password": "nope"}))
        .await;
    assert_eq!(wrong_password.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        common::without_request_id(&wrong_password.body),
        common::without_request_id(&unknown_user.body)
    );
    insta::with_settings!({prepend_module_to_snapshot => false}, {
        insta::assert_json_snapshot!("login_401_invalid_credentials", wrong_password.body, {".error.request_id" => "[request_id]"});
    });
    let missing_password = server.try_login(json!({"username": "teacher1"})).await;
    assert_eq!(missing_password.status, StatusCode::BAD_REQUEST);
    insta::with_settings!({prepend_module_to_snapshot => false}, {
        insta::assert_json_snapshot!("login_400_missing_password", missing_password.body, {".error.request_id" => "[request_id]"});
    });
}

async fn refresh(server: &TestServer, cookie: &str) -> (StatusCode, Option<String>, serde_json::Value) {
    let reply = common::send(
        server
            .http
            .post(server.url("/api/v1/auth/refresh"))
            .header("cookie", cookie),
    )
    .await;
    (reply.status, refresh_cookie(&reply.headers), reply.body)
}

async fn refresh_rotates_and_a_reused_token_ends_the_whole_sign_in(server: &TestServer) {
    // Without a reuse grace, so that the immediate reuse below counts as a copy (with the
    // default grace it would be taken for a lost answer).
    let server = &server
        .sibling_with(|settings| settings.refresh_reuse_grace = Duration::ZERO)
        .await;
    let session = server.login("teacher2").await;
    let (status, second, body) = refresh(server, &session.refresh_cookie).await;
    assert_eq!(status, StatusCode::OK);
    let second = second.expect("a new refresh cookie");
    assert_ne!(second, session.refresh_cookie, "the refresh token rotates");
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(server.get("/api/v1/roster", token).await.status, StatusCode::OK);

    let (status, third, _) = refresh(server, &second).await;
    assert_eq!(status, StatusCode::OK);
    let third = third.unwrap();

    // The first token comes back: someone copied it. The whole sign-in ends.
    let (status, _, body) = refresh(server, &session.refresh_cookie).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    insta::with_settings!({prepend_module_to_snapshot => false}, {
        insta::assert_json_snapshot!("refresh_401_reused", body, {".error.request_id" => "[request_id]"});
    });
    let (status, _, body) = refresh(server, &third).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the newest token died with its family"
    );
    assert_eq!(body["error"]["code"], "INVALID_REFRESH_TOKEN");

    // Another sign-in of the same user is its own family and lives on.
    let other = server.login("teacher2").await;
    assert_eq!(refresh(server, &other.refresh_cookie).await.0, StatusCode::OK);
    let (status, _, body) = refresh(server, "rollcall_refresh=made-up").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("INVALID_REFRESH_TOKEN"))
    );
}

async fn logout_revokes_the_sign_in(server: &TestServer) {
    let session = server.login("teacher3").await;
    let response = server.logout(&session.refresh_cookie).await;
    assert_eq!(response.status, StatusCode::NO_CONTENT);
    let cleared = response.headers["set-cookie"].to_str().unwrap();
    assert!(
        cleared.starts_with("rollcall_refresh=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert_eq!(
        refresh(server, &session.refresh_cookie).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Logging out twice, or without a cookie, is harmless.
    let again = server.call("POST", "/api/v1/auth/logout", None, None).await;
    assert_eq!(again.status, StatusCode::NO_CONTENT);
}

async fn failed_logins_are_throttled_without_locking_the_owner_out(server: &TestServer) {
    const HOME: [u8; 4] = [127, 0, 0, 1];
    const ELSEWHERE: [u8; 4] = [127, 0, 0, 2];
    // teacher4 signs in from their own tablet once.
    assert_eq!(
        server.login_from(HOME, "teacher4", PASSWORD).await.status(),
        StatusCode::OK
    );
    // Someone elsewhere guesses. Five failures are free; then each try must wait.
    for _ in 0..5 {
        let response = server.login_from(ELSEWHERE, "teacher4", "guess").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        server.login_from(ELSEWHERE, "teacher4", "guess").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let throttled = server.login_from(ELSEWHERE, "teacher4", PASSWORD).await;
    assert_eq!(
        throttled.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    let retry_after: u64 = throttled.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=300).contains(&retry_after), "{retry_after}");
    let body: serde_json::Value = throttled.json().await.unwrap();
    insta::with_settings!({prepend_module_to_snapshot => false}, {
        insta::assert_json_snapshot!("login_429_throttled", body, {".error.message" => "[wait]", ".error.request_id" => "[request_id]"});
    });
    // The wait ends when Retry-After says, not before (the throttle's clock stands still until
    // moved here). A try a moment early is refused without being counted; one on time is judged.
    server
        .throttle_clock
        .advance(Duration::from_secs(retry_after) - Duration::from_millis(1));
    let early = server.login_from(ELSEWHERE, "teacher4", PASSWORD).await;
    assert_eq!(early.status(), StatusCode::TOO_MANY_REQUESTS, "a moment early");
    assert_eq!(early.headers()["retry-after"], "1");
    server.throttle_clock.advance(Duration::from_millis(1));
    assert_eq!(
        server.login_from(ELSEWHERE, "teacher4", "guess").await.status(),
        StatusCode::UNAUTHORIZED,
        "on time, the try is judged"
    );
    // That failure doubled the wait.
    let again = server.login_from(ELSEWHERE, "teacher4", PASSWORD).await;
    assert_eq!(again.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(again.headers()["retry-after"], (2 * retry_after).to_string().as_str());
    // The owner's own tablet is not held back by the stranger's failures, and its sign-in
    // forgives the account's failures.
    assert_eq!(
        server.login_from(HOME, "teacher4", PASSWORD).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        server.login_from(ELSEWHERE, "teacher4", PASSWORD).await.status(),
        StatusCode::OK
    );
}

async fn bad_tokens_are_refused_with_401(server: &TestServer) {
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
    let session = server.login("teacher1").await;
    let no_token = server.call("GET", "/api/v1/roster", None, None).await;
    assert_eq!(no_token.status, StatusCode::UNAUTHORIZED);
    insta::with_settings!({prepend_module_to_snapshot => false}, {
        insta::assert_json_snapshot!("roster_401_no_token", no_token.body, {".error.request_id" => "[request_id]"});
    });

    let now = jsonwebtoken::get_current_timestamp();
    let claims = |aud: &str, exp: u64| {
        json!({
            "sub": session.login.user.id, "sch": session.login.user.school_id, "role": "admin",
            "aud": aud, "iat": now, "exp": exp,
        })
    };
    let wrong_key = EncodingKey::from_secret(b"not-the-server-key-not-the-server-key");
    let forged = encode(
        &Header::new(Algorithm::HS256),
        &claims("rollcall-api", now + 600),
        &wrong_key,
    )
    .unwrap();
    // An unsigned token ("alg": "none") with the same claims.
    let unsigned = {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.",
            b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
            b64.encode(claims("rollcall-api", now + 600).to_string())
        )
    };
    let mut tampered = session.token.clone();
    tampered.insert(tampered.len() / 2, 'x');
    for (name, token) in [
        ("forged", forged),
        ("unsigned", unsigned),
        ("tampered", tampered),
        ("garbage", "abc".into()),
    ] {
        let reply = server.get("/api/v1/roster", &token).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{name}");
        assert_eq!(reply.body["error"]["code"], "UNAUTHORIZED", "{name}");
    }
    let basic = common::send(
        server
            .http
            .get(server.url("/api/v1/roster"))
            .header("authorization", "Basic dGVhY2hlcjE6cm9sbGNhbGwtZGVtbw=="),
    )
    .await;
    assert_eq!(basic.status, StatusCode::UNAUTHORIZED);
}

async fn a_disabled_account_cannot_push_with_a_token_it_still_holds(server: &TestServer) {
    use diesel::prelude::*;
    use rollcall_server::db::schema::users;
    let session = server.login("teacher1").await;
    let classes = server.classes(&session.token).await;
    let class = classes.class(0);
    let student = classes.students(class)[0];
    diesel::update(users::table.filter(users::username.eq("teacher1")))
        .set(users::disabled_at.eq(Some(1i64)))
        .execute(&mut server.db())
        .unwrap();
    let mut device = common::Device::new(0xdead);
    let op = device.mark(class, &common::school_day(1), 1, student, "present");
    let reply = server.push(&session.token, device.id, &[op]).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{:?}", reply.body);
    let login = server
        .try_login(json!({"username": "teacher1", "password": PASSWORD}))
        .await;
    assert_eq!(login.status, StatusCode::FORBIDDEN);
    assert_eq!(
        refresh(server, &session.refresh_cookie).await.0,
        StatusCode::UNAUTHORIZED
    );
}

/// The message every request with an access token of an ended sign-in gets.
const ENDED: &str = "this sign-in was ended: sign in again";

async fn logout(server: &TestServer, cookie: &str) {
    assert_eq!(server.logout(cookie).await.status, StatusCode::NO_CONTENT);
}

/// One mark by `session`'s teacher, for checking whether push takes their token.
async fn push_one_mark(server: &TestServer, token: &str, classes: &common::Classes) -> common::Reply {
    let class = classes.class(0);
    let student = classes.students(class)[0];
    let mut device = common::Device::new(0xa11ce);
    let op = device.mark(class, &common::school_day(2), 1, student, "late");
    server.push(token, device.id, &[op]).await
}

/// Asserts that roster, pull, push and the event stream (token in the query, as `EventSource`
/// sends it) all refuse `token` because its sign-in ended.
async fn assert_sign_in_ended(server: &TestServer, token: &str, classes: &common::Classes) {
    let roster = server.get("/api/v1/roster", token).await;
    let pull = server.get("/api/v1/sync/pull", token).await;
    let push = push_one_mark(server, token, classes).await;
    for (name, reply) in [("roster", roster), ("pull", pull), ("push", push)] {
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{name}: {:?}", reply.body);
        assert_eq!(reply.body["error"]["code"], "UNAUTHORIZED", "{name}");
        assert_eq!(reply.body["error"]["message"], ENDED, "{name}");
    }
    // Only the status: a stream that was (wrongly) opened would never end.
    let events = server
        .http
        .get(server.url(&format!("/api/v1/events?access_token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), StatusCode::UNAUTHORIZED, "events");
}

async fn access_tokens_stop_working_when_their_sign_in_is_logged_out(server: &TestServer) {
    let session = server.login("teacher1").await;
    let classes = server.classes(&session.token).await;
    let pushed = push_one_mark(server, &session.token, &classes).await;
    assert_eq!(pushed.status, StatusCode::OK, "{:?}", pushed.body);
    // The same teacher on a second tablet: a sign-in of its own, which logging out the first
    // must not end.
    let other_tablet = server.login("teacher1").await;

    logout(server, &session.refresh_cookie).await;
    assert_sign_in_ended(server, &session.token, &classes).await;
    assert_eq!(
        server.get("/api/v1/roster", &other_tablet.token).await.status,
        StatusCode::OK
    );
    let pushed = push_one_mark(server, &other_tablet.token, &classes).await;
    assert_eq!(pushed.status, StatusCode::OK, "{:?}", pushed.body);
}

async fn access_tokens_stop_working_when_a_reused_refresh_token_ends_their_sign_in(server: &TestServer) {
    let server = &server
        .sibling_with(|settings| settings.refresh_reuse_grace = Duration::ZERO)
        .await;
    let session = server.login("teacher1").await;
    let classes = server.classes(&session.token).await;
    let (status, _, body) = refresh(server, &session.refresh_cookie).await;
    assert_eq!(status, StatusCode::OK);
    let refreshed = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(server.get("/api/v1/sync/pull", &refreshed).await.status, StatusCode::OK);

    // The first refresh token comes back: copied. Every access token of the sign-in ends with it,
    // the one the thief may hold as much as the owner's.
    assert_eq!(
        refresh(server, &session.refresh_cookie).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_sign_in_ended(server, &session.token, &classes).await;
    assert_sign_in_ended(server, &refreshed, &classes).await;
}

async fn a_sign_in_ended_on_one_server_ends_on_a_sibling_at_its_next_recheck(server: &TestServer) {
    // A sibling that asks the database on every request, and one that believes a "still on"
    // answer for a minute (the default is 2 s; a minute keeps a slow test run from crossing it).
    let asks_every_time = server
        .sibling_with(|settings| settings.session_recheck = Duration::ZERO)
        .await;
    let remembers = server
        .sibling_with(|settings| settings.session_recheck = Duration::from_secs(60))
        .await;
    let session = server.login("teacher2").await;
    for sibling in [&asks_every_time, &remembers] {
        assert_eq!(
            sibling.get("/api/v1/roster", &session.token).await.status,
            StatusCode::OK
        );
    }
    logout(server, &session.refresh_cookie).await;
    assert_eq!(
        server.get("/api/v1/roster", &session.token).await.status,
        StatusCode::UNAUTHORIZED,
        "the server that ended it knows at once"
    );
    let refused = asks_every_time.get("/api/v1/roster", &session.token).await;
    assert_eq!(
        (refused.status, &refused.body["error"]["message"]),
        (StatusCode::UNAUTHORIZED, &json!(ENDED)),
        "a sibling that asks the database learns it at the next request"
    );
    assert_eq!(
        remembers.get("/api/v1/roster", &session.token).await.status,
        StatusCode::OK,
        "a sibling believes its last answer until its recheck time is up"
    );
}

/// The claims of a token the server issued (the middle part of the JWT).
fn claims_of(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Signs `claims` with the test servers' own key: what someone who stole the key could do.
fn sign_with_the_real_key(claims: &Value) -> String {
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(TEST_JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

async fn tokens_signed_with_the_real_key_cannot_outlive_fifteen_minutes_or_lack_a_sign_in(server: &TestServer) {
    let session = server.login("teacher3").await;
    let real = claims_of(&session.token);
    let now = jsonwebtoken::get_current_timestamp();
    let with = |changes: &[(&str, Value)]| {
        let mut claims = real.clone();
        for (name, value) in changes {
            claims[*name] = value.clone();
        }
        claims
    };
    // The control: the server's own claims, signed here, are taken. So each refusal below is
    // for the claim changed, not for how the test signs.
    let resigned = sign_with_the_real_key(&real);
    assert_eq!(server.get("/api/v1/roster", &resigned).await.status, StatusCode::OK);

    let year_2100 = 4_102_444_800u64;
    let mut without_iat = real.clone();
    without_iat.as_object_mut().unwrap().remove("iat");
    let mut without_sid = with(&[("exp", json!(now + 600))]);
    without_sid.as_object_mut().unwrap().remove("sid");
    for (name, claims) in [
        ("exp in 2100", with(&[("exp", json!(year_2100))])),
        (
            "lives 16 minutes",
            with(&[("iat", json!(now)), ("exp", json!(now + 960))]),
        ),
        (
            "issued in the future",
            with(&[("iat", json!(now + 3600)), ("exp", json!(now + 3900))]),
        ),
        ("no iat", without_iat),
        ("no sign-in", without_sid),
    ] {
        let reply = server.get("/api/v1/roster", &sign_with_the_real_key(&claims)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{name}");
        assert_eq!(reply.body["error"]["code"], "UNAUTHORIZED", "{name}");
    }
}

async fn a_refresh_whose_answer_was_lost_gets_the_same_new_token_and_the_sign_in_lives_on(server: &TestServer) {
    let session = server.login("teacher4").await;
    let (status, successor, _) = refresh(server, &session.refresh_cookie).await;
    assert_eq!(status, StatusCode::OK);
    let successor = successor.unwrap();
    // That answer never reached the tablet, which tries again with the token it still has.
    let (status, again, body) = refresh(server, &session.refresh_cookie).await;
    assert_eq!(status, StatusCode::OK, "{body:?}");
    assert_eq!(
        again.as_deref(),
        Some(successor.as_str()),
        "the same new token, not a third one"
    );
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(server.get("/api/v1/roster", token).await.status, StatusCode::OK);
    assert_eq!(
        server.get("/api/v1/roster", &session.token).await.status,
        StatusCode::OK
    );

    // The sign-in lives on: the successor still refreshes.
    let (status, next, _) = refresh(server, &successor).await;
    assert_eq!(status, StatusCode::OK);
    let next = next.unwrap();
    assert_ne!(next, successor);
    // A late copy of the first answer's request: the successor was swapped too, so the chain is
    // followed to the newest token rather than handing out one that is already used.
    let (status, late, _) = refresh(server, &session.refresh_cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(late.as_deref(), Some(next.as_str()));
    let (status, _, _) = refresh(server, &next).await;
    assert_eq!(status, StatusCode::OK, "the newest token still refreshes");
    assert_eq!(
        server.get("/api/v1/roster", &session.token).await.status,
        StatusCode::OK
    );
}

/// Whether a login answer's refresh cookie carries the `Secure` attribute.
async fn login_cookie_is_secure(server: &TestServer, headers: &[(&str, &str)]) -> bool {
    let mut request = server
        .http
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"username": "teacher1", "password": PASSWORD}));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .find(|value| value.starts_with("rollcall_refresh="))
        .unwrap();
    cookie
        .split(';')
        .any(|attribute| attribute.trim().eq_ignore_ascii_case("secure"))
}

async fn the_refresh_cookie_believes_forwarded_https_only_from_trusted_proxies(server: &TestServer) {
    let claims_https: [&[(&str, &str)]; 2] = [
        &[("x-forwarded-proto", "https")],
        &[("forwarded", "for=192.0.2.7;proto=https")],
    ];
    // The tests talk plain HTTP from 127.0.0.1, which nobody configured as a proxy: whatever the
    // request claims, the cookie must work over the plain connection it came on.
    assert!(!login_cookie_is_secure(server, &[]).await);
    for headers in claims_https {
        assert!(!login_cookie_is_secure(server, headers).await, "{headers:?}");
    }
    let behind_proxy = server
        .sibling_with(|settings| settings.trusted_proxies = vec!["127.0.0.1".parse().unwrap()])
        .await;
    for headers in claims_https {
        assert!(login_cookie_is_secure(&behind_proxy, headers).await, "{headers:?}");
    }
    assert!(
        !login_cookie_is_secure(&behind_proxy, &[("x-forwarded-proto", "http")]).await,
        "the proxy says the tablet used plain HTTP"
    );
}
