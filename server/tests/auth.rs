//! Sign-in against the real server: login, refresh rotation, reuse detection, logout,
//! throttling, and the 401 bodies of bad tokens.

#![allow(clippy::unwrap_used, reason = "test scenarios: a panic is how they fail")]

mod common;

use common::{PASSWORD, TestServer, refresh_cookie};
use reqwest::StatusCode;
use serde_json::json;

backend_tests!(
    login_returns_a_token_and_an_http_only_strict_refresh_cookie,
    wrong_credentials_are_refused_alike_for_known_and_unknown_users,
    refresh_rotates_and_a_reused_token_ends_the_whole_sign_in,
    logout_revokes_the_sign_in,
    failed_logins_are_throttled_without_locking_the_owner_out,
    bad_tokens_are_refused_with_401,
    a_disabled_account_cannot_push_with_a_token_it_still_holds,
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
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "teacher1", "password": "nope"})),
        )
        .await;
    let unknown_user = server
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "nobody", "password": "nope"})),
        )
        .await;
    assert_eq!(wrong_password.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_password.body, unknown_user.body);
    insta::with_settings!({prepend_module_to_snapshot => false}, {
        insta::assert_json_snapshot!("login_401_invalid_credentials", wrong_password.body);
    });
    let missing_password = server
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "teacher1"})),
        )
        .await;
    assert_eq!(missing_password.status, StatusCode::BAD_REQUEST);
    insta::with_settings!({prepend_module_to_snapshot => false}, {
        insta::assert_json_snapshot!("login_400_missing_password", missing_password.body);
    });
}

async fn refresh(server: &TestServer, cookie: &str) -> (StatusCode, Option<String>, serde_json::Value) {
    let response = server
        .http
        .post(server.url("/api/v1/auth/refresh"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let next = refresh_cookie(response.headers());
    (status, next, response.json().await.unwrap_or_default())
}

async fn refresh_rotates_and_a_reused_token_ends_the_whole_sign_in(server: &TestServer) {
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
        insta::assert_json_snapshot!("refresh_401_reused", body);
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
    let response = server
        .http
        .post(server.url("/api/v1/auth/logout"))
        .header("cookie", &session.refresh_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let cleared = response.headers()["set-cookie"].to_str().unwrap();
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

async fn login_from(address: [u8; 4], server: &TestServer, username: &str, password: &str) -> reqwest::Response {
    let client = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from(address))
        .build()
        .unwrap();
    client
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
}

async fn failed_logins_are_throttled_without_locking_the_owner_out(server: &TestServer) {
    const HOME: [u8; 4] = [127, 0, 0, 1];
    const ELSEWHERE: [u8; 4] = [127, 0, 0, 2];
    // teacher4 signs in from their own tablet once.
    assert_eq!(
        login_from(HOME, server, "teacher4", PASSWORD).await.status(),
        StatusCode::OK
    );
    // Someone elsewhere guesses. Five failures are free; then each try must wait.
    for _ in 0..5 {
        let response = login_from(ELSEWHERE, server, "teacher4", "guess").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        login_from(ELSEWHERE, server, "teacher4", "guess").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let throttled = login_from(ELSEWHERE, server, "teacher4", PASSWORD).await;
    assert_eq!(
        throttled.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    let retry_after: u64 = throttled.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=300).contains(&retry_after), "{retry_after}");
    let body: serde_json::Value = throttled.json().await.unwrap();
    insta::with_settings!({prepend_module_to_snapshot => false}, {
        insta::assert_json_snapshot!("login_429_throttled", body, {".error.message" => "[wait]"});
    });
    // The owner's own tablet is not held back by the stranger's failures.
    assert_eq!(
        login_from(HOME, server, "teacher4", PASSWORD).await.status(),
        StatusCode::OK
    );
    // And the wait ends.
    tokio::time::sleep(std::time::Duration::from_secs(retry_after)).await;
    assert_eq!(
        login_from(ELSEWHERE, server, "teacher4", PASSWORD).await.status(),
        StatusCode::OK
    );
}

async fn bad_tokens_are_refused_with_401(server: &TestServer) {
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
    let session = server.login("teacher1").await;
    let no_token = server.call("GET", "/api/v1/roster", None, None).await;
    assert_eq!(no_token.status, StatusCode::UNAUTHORIZED);
    insta::with_settings!({prepend_module_to_snapshot => false}, {
        insta::assert_json_snapshot!("roster_401_no_token", no_token.body);
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
    let basic = server
        .http
        .get(server.url("/api/v1/roster"))
        .header("authorization", "Basic dGVhY2hlcjE6cm9sbGNhbGwtZGVtbw==")
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
}

async fn a_disabled_account_cannot_push_with_a_token_it_still_holds(server: &TestServer) {
    use diesel::prelude::*;
    use rollcall_server::schema::users;
    let session = server.login("teacher1").await;
    let roster = server.roster(&session.token).await;
    let classes = common::Classes { roster };
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
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "teacher1", "password": PASSWORD})),
        )
        .await;
    assert_eq!(login.status, StatusCode::FORBIDDEN);
    assert_eq!(
        refresh(server, &session.refresh_cookie).await.0,
        StatusCode::UNAUTHORIZED
    );
}
