//! The hardening around sessions and passwords: self-service sessions,
//! password change, throttling, CSRF, headers, hash upgrades.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use sesame::domain::User;
use sha2::Digest as _;

use crate::support::{PASSWORD, T0, TestApp};

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

#[tokio::test]
async fn my_sessions_lists_each_login_with_its_details_and_marks_the_current_one() {
    let app = TestApp::spawn_with(|c| c.session_duration = "3600".into()).await;
    app.user("bob@hbtn.io", false).await;
    let first = app.login("bob@hbtn.io", PASSWORD).await;
    app.clock.advance(10);
    let r = app
        .anon()
        .header("user-agent", "TestBrowser/1.0")
        .login_form("bob@hbtn.io", PASSWORD)
        .await;
    let second = r.cookie("_my_session_id").unwrap();
    let r = app.with_cookie(&second).get("/users/me/sessions").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let list = r.body.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let expected: BTreeSet<&str> = [
        "id",
        "created_at",
        "last_seen_at",
        "expires_at",
        "ip",
        "user_agent",
        "current",
    ]
    .into();
    assert!(list.iter().all(|s| keys(s) == expected));
    assert_eq!(list[0]["current"], false);
    assert_eq!(list[1]["current"], true);
    assert_eq!(list[0]["created_at"], "2024-01-01T00:00:00");
    assert_eq!(list[0]["expires_at"], "2024-01-01T01:00:00");
    assert_eq!(list[1]["created_at"], "2024-01-01T00:00:10");
    assert_eq!(list[1]["ip"], "127.0.0.1");
    assert_eq!(list[1]["user_agent"], "TestBrowser/1.0");
    // Never the token, nor its digest.
    for token in [&first, &second] {
        assert!(!r.text.contains(token.as_str()));
        let digest = hex::encode(sha2::Sha256::digest(token.as_bytes()));
        assert!(!r.text.contains(&digest));
    }
    assert!(r.header("cache-control") == Some("no-store"));
}

#[tokio::test]
async fn reads_record_a_session_use_at_most_once_a_minute_without_an_idle_timeout() {
    let app = TestApp::spawn("session_db_auth").await;
    app.user("bob@hbtn.io", false).await;
    let c = app.with_cookie(&app.login("bob@hbtn.io", PASSWORD).await);
    let last_seen = || async { c.get("/users/me/sessions").await.body[0]["last_seen_at"].clone() };
    app.clock.advance(59);
    assert_eq!(
        last_seen().await,
        "2024-01-01T00:00:00",
        "a read inside the interval writes nothing"
    );
    app.clock.advance(1);
    assert_eq!(
        last_seen().await,
        "2024-01-01T00:01:00",
        "a read after the interval records the use"
    );
}

#[tokio::test]
async fn revoking_one_session_by_its_id_ends_only_that_session() {
    let app = TestApp::spawn("session_db_auth").await;
    app.user("bob@hbtn.io", false).await;
    let (_, ann) = app.signed_in("ann@hbtn.io", false).await;
    let a = app.with_cookie(&app.login("bob@hbtn.io", PASSWORD).await);
    let b = app.with_cookie(&app.login("bob@hbtn.io", PASSWORD).await);
    let current_id = |c: crate::support::Client| async move {
        let list = c.get("/users/me/sessions").await.body;
        let list = list.as_array().unwrap();
        let current = list.iter().find(|s| s["current"] == true).unwrap();
        current["id"].as_str().unwrap().to_owned()
    };
    let b_id = current_id(b.clone()).await;
    // Another user cannot see or end it.
    ann.delete(&format!("/users/me/sessions/{b_id}"))
        .await
        .assert_error(404, "Not found");
    assert_eq!(b.get("/users/me").await.status, 200);
    let r = a.delete(&format!("/users/me/sessions/{b_id}")).await;
    assert_eq!((r.status, r.body.clone()), (200, json!({})));
    assert!(
        r.header("set-cookie").is_none(),
        "not the current session: the cookie stays"
    );
    b.get("/users/me").await.assert_error(403, "Forbidden");
    assert_eq!(a.get("/users/me").await.status, 200);
    a.delete(&format!("/users/me/sessions/{b_id}"))
        .await
        .assert_error(404, "Not found");
    // Ending the current session by id also expires the cookie.
    let a_id = current_id(a.clone()).await;
    let r = a.delete(&format!("/users/me/sessions/{a_id}")).await;
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
    a.get("/users/me").await.assert_error(403, "Forbidden");
}

#[tokio::test]
async fn revoking_my_other_sessions_keeps_the_current_one() {
    let app = TestApp::spawn("session_db_auth").await;
    app.user("bob@hbtn.io", false).await;
    let (_, ann) = app.signed_in("ann@hbtn.io", false).await;
    let clients: Vec<_> = futures_join(&app, "bob@hbtn.io", 3).await;
    let r = clients[0].delete("/users/me/sessions").await;
    assert_eq!((r.status, r.body.clone()), (200, json!({})));
    assert_eq!(clients[0].get("/users/me").await.status, 200);
    for c in &clients[1..] {
        c.get("/users/me").await.assert_error(403, "Forbidden");
    }
    assert_eq!(
        clients[0]
            .get("/users/me/sessions")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        ann.get("/users/me").await.status,
        200,
        "other users keep their sessions"
    );
}

async fn futures_join(app: &TestApp, email: &str, n: usize) -> Vec<crate::support::Client> {
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(app.with_cookie(&app.login(email, PASSWORD).await));
    }
    v
}

#[tokio::test]
async fn an_admin_ends_every_session_of_a_user() {
    let app = TestApp::spawn("session_db_auth").await;
    let (_, admin) = app.signed_in("admin@hbtn.io", true).await;
    let bob = app.user("bob@hbtn.io", false).await;
    let (_, ann) = app.signed_in("ann@hbtn.io", false).await;
    let bobs = futures_join(&app, "bob@hbtn.io", 2).await;
    ann.delete(&format!("/users/{}/sessions", bob.id))
        .await
        .assert_error(403, "Forbidden");
    assert_eq!(bobs[0].get("/users/me").await.status, 200);
    let r = admin.delete(&format!("/users/{}/sessions", bob.id)).await;
    assert_eq!((r.status, r.body.clone()), (200, json!({})));
    for c in &bobs {
        c.get("/users/me").await.assert_error(403, "Forbidden");
    }
    assert_eq!(admin.get("/users/me").await.status, 200);
    admin
        .delete("/users/nope/sessions")
        .await
        .assert_error(404, "Not found");
}

#[tokio::test]
async fn changing_my_password_needs_the_current_one_and_ends_my_other_sessions() {
    let app = TestApp::spawn("session_db_auth").await;
    app.user("bob@hbtn.io", false).await;
    let bobs = futures_join(&app, "bob@hbtn.io", 2).await;
    let (me, other) = (&bobs[0], &bobs[1]);
    me.put_json(
        "/users/me/password",
        json!({"current_password": "wrong one!", "new_password": "a new passphrase"}),
    )
    .await
    .assert_error(403, "wrong current password");
    me.put_json(
        "/users/me/password",
        json!({"new_password": "a new passphrase"}),
    )
    .await
    .assert_error(400, "current_password missing");
    me.put_json("/users/me/password", json!({"current_password": PASSWORD}))
        .await
        .assert_error(400, "new_password missing");
    me.put_json(
        "/users/me/password",
        json!({"current_password": PASSWORD, "new_password": "short"}),
    )
    .await
    .assert_error(400, "password too short (at least 8 characters)");
    me.put_json(
        "/users/me/password",
        json!({"current_password": PASSWORD, "new_password": "x".repeat(1025)}),
    )
    .await
    .assert_error(400, "password too long (at most 1024 bytes)");
    me.put_json(
        "/users/me/password",
        json!({"current_password": PASSWORD, "new_password": "Bob@Hbtn.io"}),
    )
    .await
    .assert_error(400, "password must not be the email address");
    assert_eq!(
        other.get("/users/me").await.status,
        200,
        "failed changes end nothing"
    );

    let r = me
        .put_json(
            "/users/me/password",
            json!({"current_password": PASSWORD, "new_password": "a new passphrase"}),
        )
        .await;
    assert_eq!((r.status, r.body.clone()), (200, json!({})));
    assert_eq!(
        me.get("/users/me").await.status,
        200,
        "the current session stays"
    );
    other.get("/users/me").await.assert_error(403, "Forbidden");
    app.anon()
        .login_form("bob@hbtn.io", PASSWORD)
        .await
        .assert_error(401, "wrong email or password");
    assert_eq!(
        app.anon()
            .login_form("bob@hbtn.io", "a new passphrase")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn basic_auth_users_change_their_password_too() {
    let app = TestApp::spawn("basic_auth").await;
    app.user("bob@hbtn.io", false).await;
    let r = app
        .anon()
        .basic("bob@hbtn.io", PASSWORD)
        .put_json(
            "/users/me/password",
            json!({"current_password": PASSWORD, "new_password": "a new passphrase"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.anon()
        .basic("bob@hbtn.io", PASSWORD)
        .get("/users/me")
        .await
        .assert_error(403, "Forbidden");
    assert_eq!(
        app.anon()
            .basic("bob@hbtn.io", "a new passphrase")
            .get("/users/me")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn failed_logins_are_throttled_per_account_with_growing_delays() {
    let app = TestApp::spawn("session_db_auth").await;
    app.user("bob@hbtn.io", false).await;
    app.user("ann@hbtn.io", false).await;
    let c = app.anon();
    for _ in 0..5 {
        c.login_form("bob@hbtn.io", "wrong password")
            .await
            .assert_error(401, "wrong email or password");
    }
    // Throttled now: even the right password is refused until the delay passes.
    let r = c.login_form("bob@hbtn.io", PASSWORD).await;
    r.assert_error(429, "Too many requests");
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(r.header("set-cookie").is_none());
    // Other accounts are not affected.
    assert_eq!(c.login_form("ann@hbtn.io", PASSWORD).await.status, 200);
    // The delay doubles with each further failure: 1 s, 2 s, 4 s.
    for expected in ["2", "4"] {
        app.clock.advance(60);
        c.login_form("bob@hbtn.io", "wrong password")
            .await
            .assert_error(401, "wrong email or password");
        assert_eq!(
            c.login_form("bob@hbtn.io", PASSWORD)
                .await
                .header("retry-after"),
            Some(expected)
        );
    }
    app.clock.advance(3);
    assert_eq!(c.login_form("bob@hbtn.io", PASSWORD).await.status, 429);
    app.clock.advance(1);
    assert_eq!(c.login_form("bob@hbtn.io", PASSWORD).await.status, 200);
    // A success forgets the failures: the next wrong password is free again.
    c.login_form("bob@hbtn.io", "wrong password")
        .await
        .assert_error(401, "wrong email or password");
    assert_eq!(c.login_form("bob@hbtn.io", PASSWORD).await.status, 200);
}

#[tokio::test]
async fn the_delay_is_capped_at_fifteen_minutes() {
    let app = TestApp::spawn("session_db_auth").await;
    app.user("bob@hbtn.io", false).await;
    let c = app.anon();
    for _ in 0..16 {
        app.clock.advance(1000);
        c.login_form("bob@hbtn.io", "wrong password")
            .await
            .assert_error(401, "wrong email or password");
    }
    assert_eq!(
        c.login_form("bob@hbtn.io", PASSWORD)
            .await
            .header("retry-after"),
        Some("900")
    );
    app.clock.advance(900);
    assert_eq!(c.login_form("bob@hbtn.io", PASSWORD).await.status, 200);
}

#[tokio::test]
async fn unknown_emails_are_throttled_like_known_ones() {
    let app = TestApp::spawn("session_db_auth").await;
    let c = app.anon();
    for _ in 0..5 {
        c.login_form("ghost@hbtn.io", "whatever1")
            .await
            .assert_error(401, "wrong email or password");
    }
    c.login_form("ghost@hbtn.io", "whatever1")
        .await
        .assert_error(429, "Too many requests");
}

#[tokio::test]
async fn failed_basic_credentials_are_throttled_too() {
    let app = TestApp::spawn("basic_auth").await;
    app.user("bob@hbtn.io", false).await;
    for _ in 0..5 {
        app.anon()
            .basic("bob@hbtn.io", "wrong password")
            .get("/users/me")
            .await
            .assert_error(403, "Forbidden");
    }
    let r = app
        .anon()
        .basic("bob@hbtn.io", PASSWORD)
        .get("/users/me")
        .await;
    r.assert_error(429, "Too many requests");
    assert_eq!(r.header("retry-after"), Some("1"));
    app.clock.advance(1);
    assert_eq!(
        app.anon()
            .basic("bob@hbtn.io", PASSWORD)
            .get("/users/me")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn throttling_holds_across_instances_on_the_same_store() {
    let one = TestApp::spawn("session_db_auth").await;
    let two = one.another_instance().await;
    one.user("bob@hbtn.io", false).await;
    for _ in 0..5 {
        one.anon()
            .login_form("bob@hbtn.io", "wrong password")
            .await
            .assert_error(401, "wrong email or password");
    }
    two.anon()
        .login_form("bob@hbtn.io", PASSWORD)
        .await
        .assert_error(429, "Too many requests");
}

#[tokio::test]
async fn one_address_failing_on_many_accounts_is_throttled_past_its_limit() {
    let app = TestApp::spawn_with(|c| c.throttle_address_free = "100".into()).await;
    app.user("victim@hbtn.io", false).await;
    let c = app.anon();
    for i in 0..100 {
        // Four tries per account: no single account is throttled.
        c.login_form(&format!("user{}@hbtn.io", i / 4), "guess1234")
            .await
            .assert_error(401, "wrong email or password");
    }
    let r = c.login_form("victim@hbtn.io", PASSWORD).await;
    r.assert_error(429, "Too many requests");
    app.clock.advance(1);
    assert_eq!(c.login_form("victim@hbtn.io", PASSWORD).await.status, 200);
}

#[tokio::test]
async fn cross_site_state_changes_through_the_cookie_are_refused() {
    let app = TestApp::spawn("session_db_auth").await;
    let (_, bob) = app.signed_in("bob@hbtn.io", false).await;
    let body = json!({"first_name": "Mallory"});
    bob.clone()
        .header("sec-fetch-site", "cross-site")
        .put_json("/users/me", body.clone())
        .await
        .assert_error(403, "Forbidden");
    bob.clone()
        .header("origin", "https://evil.example")
        .put_json("/users/me", body.clone())
        .await
        .assert_error(403, "Forbidden");
    bob.clone()
        .header("origin", "null")
        .delete("/auth_session/logout")
        .await
        .assert_error(403, "Forbidden");
    assert_eq!(
        bob.get("/users/me").await.body["first_name"],
        Value::Null,
        "nothing changed"
    );
    // Reads are not state changes.
    assert_eq!(
        bob.clone()
            .header("sec-fetch-site", "cross-site")
            .get("/users/me")
            .await
            .status,
        200
    );
    // Same origin, same site, and clients that send neither header pass.
    let same = bob
        .clone()
        .header("origin", &app.origin())
        .header("sec-fetch-site", "same-origin");
    assert_eq!(
        same.put_json("/users/me", json!({"first_name": "Bob"}))
            .await
            .status,
        200
    );
    assert_eq!(
        bob.clone()
            .header("sec-fetch-site", "same-site")
            .put_json("/users/me", body.clone())
            .await
            .status,
        200
    );
    assert_eq!(
        bob.put_json("/users/me", json!({"first_name": "Bob"}))
            .await
            .status,
        200
    );
    // A login cannot be forced by another site's form either (login CSRF)...
    app.anon()
        .header("origin", "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .header("sec-fetch-mode", "navigate")
        .login_form("bob@hbtn.io", PASSWORD)
        .await
        .assert_error(403, "Forbidden");
    // ...nor rotate a session the browser holds; a script's login without a cookie is CORS's
    // business and passes.
    bob.clone()
        .header("origin", "https://evil.example")
        .login_form("bob@hbtn.io", PASSWORD)
        .await
        .assert_error(403, "Forbidden");
    let r = app
        .anon()
        .header("origin", "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .header("sec-fetch-mode", "cors")
        .login_form("bob@hbtn.io", PASSWORD)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn origins_named_in_cors_origins_may_change_state_and_the_wildcard_names_no_one() {
    let app = TestApp::spawn_with(|c| c.cors_origins = "https://app.example.com".into()).await;
    let (_, bob) = app.signed_in("bob@hbtn.io", false).await;
    let r = bob
        .clone()
        .header("origin", "https://app.example.com")
        .put_json("/users/me", json!({"first_name": "B"}))
        .await;
    assert_eq!(r.status, 200);
    bob.header("origin", "https://other.example.com")
        .put_json("/users/me", json!({"first_name": "B"}))
        .await
        .assert_error(403, "Forbidden");

    let any = TestApp::spawn("session_db_auth").await;
    let (_, bob) = any.signed_in("bob@hbtn.io", false).await;
    bob.header("origin", "https://app.example.com")
        .put_json("/users/me", json!({"first_name": "B"}))
        .await
        .assert_error(403, "Forbidden");
}

#[tokio::test]
async fn basic_auth_requests_are_not_subject_to_the_cookie_csrf_rule() {
    let app = TestApp::spawn("basic_auth").await;
    app.user("bob@hbtn.io", false).await;
    let r = app
        .anon()
        .basic("bob@hbtn.io", PASSWORD)
        .header("origin", "https://elsewhere.example")
        .put_json("/users/me", json!({"first_name": "Bob"}))
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn every_response_says_nosniff_and_no_store() {
    let app = TestApp::spawn("session_db_auth").await;
    let (_, bob) = app.signed_in("bob@hbtn.io", false).await;
    for r in [
        bob.get("/users/me").await,
        app.anon().get("/status").await,
        app.anon().get("/nope").await,
        app.anon().get("/users").await,
    ] {
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }
}

async fn legacy_user(app: &TestApp, email: &str, hash: String) -> User {
    let user = User {
        id: "7c9e6679-7425-40de-944b-e07fc1f90ae7".into(),
        email: email.into(),
        password_hash: Some(hash),
        first_name: None,
        last_name: None,
        created_at: T0,
        updated_at: T0,
        is_admin: false,
    };
    app.running().app.stores.users.create(&user).await.unwrap();
    user
}

#[tokio::test]
async fn an_original_sha256_hash_logs_in_once_and_is_replaced_by_argon2id() {
    let app = TestApp::spawn("session_db_auth").await;
    let legacy = hex::encode(sha2::Sha256::digest(b"old secret 1"));
    let user = legacy_user(&app, "old@hbtn.io", legacy.clone()).await;
    app.anon()
        .login_form("old@hbtn.io", "wrong")
        .await
        .assert_error(401, "wrong email or password");
    assert_eq!(
        app.anon()
            .login_form("old@hbtn.io", "old secret 1")
            .await
            .status,
        200
    );
    let stored = app
        .running()
        .app
        .stores
        .users
        .get(&user.id)
        .await
        .unwrap()
        .unwrap();
    let hash = stored.password_hash.unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert_eq!(
        stored.updated_at, T0,
        "an upgrade is not an edit of the user"
    );
    assert_eq!(
        app.anon()
            .login_form("old@hbtn.io", "old secret 1")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_weaker_argon2_hash_is_rehashed_at_login() {
    use argon2::password_hash::{PasswordHasher as _, SaltString};
    let app = TestApp::spawn("session_db_auth").await;
    let weak = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(4096, 1, 1, None).unwrap(),
    )
    .hash_password(
        b"a fine passphrase",
        &SaltString::encode_b64(b"0123456789abcdef").unwrap(),
    )
    .unwrap()
    .to_string();
    let user = legacy_user(&app, "weak@hbtn.io", weak).await;
    assert_eq!(
        app.anon()
            .login_form("weak@hbtn.io", "a fine passphrase")
            .await
            .status,
        200
    );
    let hash = app
        .running()
        .app
        .stores
        .users
        .get(&user.id)
        .await
        .unwrap()
        .unwrap()
        .password_hash
        .unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
}

#[tokio::test]
async fn throttling_is_tuned_by_configuration() {
    let app = TestApp::spawn_with(|c| {
        c.throttle_account_free = "2".into();
        c.throttle_max_delay = "3".into();
        c.throttle_address_free = "0".into();
    })
    .await;
    app.user("bob@hbtn.io", false).await;
    let c = app.anon();
    for _ in 0..2 {
        c.login_form("bob@hbtn.io", "wrong password")
            .await
            .assert_error(401, "wrong email or password");
    }
    assert_eq!(
        c.login_form("bob@hbtn.io", PASSWORD)
            .await
            .header("retry-after"),
        Some("1")
    );
    for _ in 0..5 {
        app.clock.advance(10);
        c.login_form("bob@hbtn.io", "wrong password")
            .await
            .assert_error(401, "wrong email or password");
    }
    assert_eq!(
        c.login_form("bob@hbtn.io", PASSWORD)
            .await
            .header("retry-after"),
        Some("3")
    );
    // With the per-address limit off, many failures from one address on many accounts pass.
    for i in 0..150 {
        c.login_form(&format!("u{}@hbtn.io", i % 50), "guess1234")
            .await;
    }
    app.user("ann@hbtn.io", false).await;
    assert_eq!(c.login_form("ann@hbtn.io", PASSWORD).await.status, 200);
}

#[tokio::test]
async fn the_client_address_comes_from_x_forwarded_for_only_when_trusted() {
    for (trust, expected) in [("false", "127.0.0.1"), ("true", "203.0.113.7")] {
        let app = TestApp::spawn_with(|c| c.trust_x_forwarded_for = trust.into()).await;
        app.user("bob@hbtn.io", false).await;
        let r = app
            .anon()
            .header("x-forwarded-for", "198.51.100.1, 203.0.113.7")
            .login_form("bob@hbtn.io", PASSWORD)
            .await;
        let c = app.with_cookie(&r.cookie("_my_session_id").unwrap());
        assert_eq!(
            c.get("/users/me/sessions").await.body[0]["ip"],
            expected,
            "trust={trust}"
        );
    }
}

#[tokio::test]
async fn by_default_many_failures_from_one_address_leave_other_accounts_alone() {
    let app = TestApp::spawn("session_db_auth").await;
    app.user("ann@hbtn.io", false).await;
    let c = app.anon();
    for i in 0..150 {
        c.login_form(&format!("user{}@hbtn.io", i / 4), "guess1234")
            .await
            .assert_error(401, "wrong email or password");
    }
    assert_eq!(c.login_form("ann@hbtn.io", PASSWORD).await.status, 200);
}
