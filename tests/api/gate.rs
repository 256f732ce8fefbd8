//! The authentication gate and every AUTH_TYPE.

use serde_json::json;

use crate::support::{PASSWORD, TestApp};

const PROTECTED: &str = "/users/me";

#[tokio::test]
async fn public_paths_need_no_credentials_with_or_without_trailing_slash() {
    let app = TestApp::spawn("session_db_auth").await;
    let c = app.anon();
    for p in ["/status", "/status/"] {
        let r = c.get(p).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body, json!({"status": "OK"}));
    }
    for p in ["/unauthorized", "/unauthorized/"] {
        c.get(p).await.assert_error(401, "Unauthorized");
    }
    for p in ["/forbidden", "/forbidden/"] {
        c.get(p).await.assert_error(403, "Forbidden");
    }
    // The login route is reached without credentials (it answers about the body, not the gate).
    for p in ["/auth_session/login", "/auth_session/login/"] {
        c.post_json(p, json!({}))
            .await
            .assert_error(400, "email missing");
    }
}

#[tokio::test]
async fn protected_routes_without_credentials_are_401_under_every_checking_auth_type() {
    for auth in [
        "auth",
        "basic_auth",
        "session_auth",
        "session_exp_auth",
        "session_db_auth",
    ] {
        let app = TestApp::spawn(auth).await;
        for p in [PROTECTED, "/users", "/stats", "/users/me/"] {
            app.anon().get(p).await.assert_error(401, "Unauthorized");
        }
        app.anon()
            .delete("/auth_session/logout")
            .await
            .assert_error(401, "Unauthorized");
    }
}

#[tokio::test]
async fn an_empty_authorization_header_is_no_credentials_and_answers_401() {
    for auth in ["basic_auth", "session_db_auth"] {
        let app = TestApp::spawn(auth).await;
        for value in ["", " ", "  \t"] {
            app.anon()
                .header("authorization", value)
                .get(PROTECTED)
                .await
                .assert_error(401, "Unauthorized");
        }
        // Beside a session cookie it is simply ignored: the cookie decides.
        app.anon()
            .header("authorization", "")
            .header("cookie", "_my_session_id=unknown")
            .get(PROTECTED)
            .await
            .assert_error(403, "Forbidden");
    }
}

#[tokio::test]
async fn auth_type_auth_resolves_no_credentials_at_all() {
    let app = TestApp::spawn("auth").await;
    app.user("bob@hbtn.io", true).await;
    app.anon()
        .basic("bob@hbtn.io", PASSWORD)
        .get(PROTECTED)
        .await
        .assert_error(403, "Forbidden");
    app.with_cookie("anything")
        .get(PROTECTED)
        .await
        .assert_error(403, "Forbidden");
}

#[tokio::test]
async fn basic_auth_runs_the_request_as_the_user() {
    let app = TestApp::spawn("basic_auth").await;
    let bob = app.user("bob@hbtn.io", false).await;
    let r = app
        .anon()
        .basic("bob@hbtn.io", PASSWORD)
        .get(PROTECTED)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["id"], bob.id);
    // The email is matched ignoring case.
    assert_eq!(
        app.anon()
            .basic("BOB@hbtn.io", PASSWORD)
            .get(PROTECTED)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn basic_auth_with_a_colon_in_the_password_splits_on_the_first_colon() {
    let app = TestApp::spawn("basic_auth").await;
    let service = &app.running().app.service;
    service
        .create_user(sesame::service::NewUser {
            email: "colon@hbtn.io".into(),
            password: sesame::domain::Secret::new("pa:ss:word"),
            first_name: None,
            last_name: None,
            is_admin: false,
        })
        .await
        .unwrap();
    let r = app
        .anon()
        .basic("colon@hbtn.io", "pa:ss:word")
        .get(PROTECTED)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["email"], "colon@hbtn.io");
}

#[tokio::test]
async fn basic_auth_refuses_bad_credentials_with_403() {
    let app = TestApp::spawn("basic_auth").await;
    app.user("bob@hbtn.io", false).await;
    let cases = [
        "Basic test".to_owned(),
        "Basic".to_owned(),
        "Bearer abc".to_owned(),
        "Basic !!!notbase64".to_owned(),
        format!("Basic {}", base64_of("no-colon-here")),
        format!("Basic {}", base64_of("bob@hbtn.io:wrong password")),
        format!("Basic {}", base64_of("nobody@hbtn.io:whatever1")),
    ];
    for header in cases {
        let r = app
            .anon()
            .header("authorization", &header)
            .get(PROTECTED)
            .await;
        r.assert_error(403, "Forbidden");
    }
    // A cookie is not a Basic credential.
    app.with_cookie("abc")
        .get(PROTECTED)
        .await
        .assert_error(403, "Forbidden");
}

fn base64_of(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test]
async fn session_schemes_refuse_unknown_cookies_and_lone_authorization_headers_with_403() {
    for auth in ["session_auth", "session_exp_auth", "session_db_auth"] {
        let app = TestApp::spawn(auth).await;
        app.user("bob@hbtn.io", false).await;
        app.with_cookie("not-a-session")
            .get(PROTECTED)
            .await
            .assert_error(403, "Forbidden");
        app.anon()
            .basic("bob@hbtn.io", PASSWORD)
            .get(PROTECTED)
            .await
            .assert_error(403, "Forbidden");
        let token = app.login("bob@hbtn.io", PASSWORD).await;
        assert_eq!(
            app.with_cookie(&token).get(PROTECTED).await.status,
            200,
            "{auth}"
        );
    }
}

#[tokio::test]
async fn auth_type_none_checks_nothing_and_has_no_me() {
    let app = TestApp::spawn("none").await;
    app.user("bob@hbtn.io", false).await;
    let r = app.anon().get("/users").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    assert_eq!(app.anon().get("/stats").await.body, json!({"users": 1}));
    app.anon()
        .get("/users/me")
        .await
        .assert_error(404, "Not found");
}

#[tokio::test]
async fn schemes_without_sessions_have_no_login_route() {
    for auth in ["auth", "basic_auth", "none"] {
        let app = TestApp::spawn(auth).await;
        app.user("bob@hbtn.io", false).await;
        app.anon()
            .login_form("bob@hbtn.io", PASSWORD)
            .await
            .assert_error(404, "Not found");
    }
}

#[tokio::test]
async fn session_auth_sessions_live_in_memory_and_end_at_restart() {
    let app = TestApp::spawn("session_auth").await;
    app.user("bob@hbtn.io", false).await;
    let token = app.login("bob@hbtn.io", PASSWORD).await;
    assert_eq!(app.with_cookie(&token).get(PROTECTED).await.status, 200);
    // No expiry for session_auth, however long.
    app.clock.advance(10 * 365 * 86400);
    assert_eq!(app.with_cookie(&token).get(PROTECTED).await.status, 200);
    let app = app.restart().await;
    app.with_cookie(&token)
        .get(PROTECTED)
        .await
        .assert_error(403, "Forbidden");
    // The user itself is in the database and survives.
    assert_eq!(
        app.anon().login_form("bob@hbtn.io", PASSWORD).await.status,
        200
    );
}

#[tokio::test]
async fn session_db_auth_sessions_survive_a_restart() {
    let app = TestApp::spawn("session_db_auth").await;
    app.user("bob@hbtn.io", false).await;
    let token = app.login("bob@hbtn.io", PASSWORD).await;
    let app = app.restart().await;
    let r = app.with_cookie(&token).get(PROTECTED).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["email"], "bob@hbtn.io");
}

#[tokio::test]
async fn absolute_lifetime_ends_a_session_exactly_at_session_duration() {
    for auth in ["session_exp_auth", "session_db_auth"] {
        let app = TestApp::spawn_with(|c| {
            c.auth_type = auth.into();
            c.session_duration = "100".into();
        })
        .await;
        app.user("bob@hbtn.io", false).await;
        let token = app.login("bob@hbtn.io", PASSWORD).await;
        app.clock.advance(99);
        assert_eq!(
            app.with_cookie(&token).get(PROTECTED).await.status,
            200,
            "{auth}"
        );
        app.clock.advance(1);
        app.with_cookie(&token)
            .get(PROTECTED)
            .await
            .assert_error(403, "Forbidden");
        // And it stays ended even if the clock were to go back: the session is gone.
        app.clock.advance(-50);
        app.with_cookie(&token)
            .get(PROTECTED)
            .await
            .assert_error(403, "Forbidden");
    }
}

#[tokio::test]
async fn activity_never_extends_the_absolute_lifetime() {
    let app = TestApp::spawn_with(|c| {
        c.session_duration = "100".into();
        c.session_idle_timeout = "40".into();
    })
    .await;
    app.user("bob@hbtn.io", false).await;
    let token = app.login("bob@hbtn.io", PASSWORD).await;
    for _ in 0..3 {
        app.clock.advance(30);
        assert_eq!(app.with_cookie(&token).get(PROTECTED).await.status, 200);
    }
    app.clock.advance(10); // 100 s after login
    app.with_cookie(&token)
        .get(PROTECTED)
        .await
        .assert_error(403, "Forbidden");
}

#[tokio::test]
async fn idle_timeout_ends_an_unused_session_and_use_keeps_it_alive() {
    for auth in ["session_exp_auth", "session_db_auth"] {
        let app = TestApp::spawn_with(|c| {
            c.auth_type = auth.into();
            c.session_duration = "0".into();
            c.session_idle_timeout = "40".into();
        })
        .await;
        app.user("bob@hbtn.io", false).await;
        let token = app.login("bob@hbtn.io", PASSWORD).await;
        // Used every 30 s: alive well past 40 s after login.
        for _ in 0..5 {
            app.clock.advance(30);
            assert_eq!(
                app.with_cookie(&token).get(PROTECTED).await.status,
                200,
                "{auth}"
            );
        }
        app.clock.advance(40);
        app.with_cookie(&token)
            .get(PROTECTED)
            .await
            .assert_error(403, "Forbidden");
    }
}

#[tokio::test]
async fn non_positive_session_duration_means_no_absolute_expiry() {
    let app = TestApp::spawn_with(|c| c.session_duration = "0".into()).await;
    app.user("bob@hbtn.io", false).await;
    let r = app.anon().login_form("bob@hbtn.io", PASSWORD).await;
    let set_cookie = r.header("set-cookie").unwrap().to_owned();
    assert!(!set_cookie.contains("Max-Age"), "{set_cookie}");
    let token = r.cookie("_my_session_id").unwrap();
    app.clock.advance(10 * 365 * 86400);
    assert_eq!(app.with_cookie(&token).get(PROTECTED).await.status, 200);
}

#[tokio::test]
async fn the_session_cookie_is_httponly_samesite_lax_path_root_with_max_age() {
    let app = TestApp::spawn_with(|c| c.session_duration = "3600".into()).await;
    app.user("bob@hbtn.io", false).await;
    let r = app.anon().login_form("bob@hbtn.io", PASSWORD).await;
    let set_cookie = r.header("set-cookie").unwrap();
    let token = r.cookie("_my_session_id").unwrap();
    assert_eq!(
        set_cookie,
        format!("_my_session_id={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=3600")
    );
    // 256 bits, base64url without padding.
    assert_eq!(token.len(), 43);
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
}

#[tokio::test]
async fn session_auth_cookies_have_no_max_age_and_secure_is_added_when_configured() {
    let app = TestApp::spawn_with(|c| {
        c.auth_type = "session_auth".into();
        c.session_cookie_secure = "true".into();
        c.session_name = "sid".into();
    })
    .await;
    app.user("bob@hbtn.io", false).await;
    let r = app.anon().login_form("bob@hbtn.io", PASSWORD).await;
    let token = r.cookie("sid").unwrap();
    assert_eq!(
        r.header("set-cookie").unwrap(),
        format!("sid={token}; Path=/; HttpOnly; SameSite=Lax; Secure")
    );
    assert_eq!(app.with_cookie(&token).get(PROTECTED).await.status, 200);
    // The default name is not looked at.
    let wrong = app
        .anon()
        .header("cookie", &format!("_my_session_id={token}"));
    wrong.get(PROTECTED).await.assert_error(401, "Unauthorized");
}

#[tokio::test]
async fn the_database_keeps_only_a_digest_of_the_token() {
    let app = TestApp::spawn("session_db_auth").await;
    app.user("bob@hbtn.io", false).await;
    let token = app.login("bob@hbtn.io", PASSWORD).await;
    let db = app.dir.path().join("sesame.db");
    let app = app.restart().await; // checkpoints the WAL into the file
    let mut bytes = std::fs::read(&db).unwrap();
    if let Ok(wal) = std::fs::read(db.with_extension("db-wal")) {
        bytes.extend(wal);
    }
    let needle = token.as_bytes();
    assert!(
        !bytes.windows(needle.len()).any(|w| w == needle),
        "the token is stored in clear"
    );
    assert!(
        !bytes
            .windows(PASSWORD.len())
            .any(|w| w == PASSWORD.as_bytes()),
        "the password is stored in clear"
    );
    assert_eq!(app.with_cookie(&token).get(PROTECTED).await.status, 200);
}

#[tokio::test]
async fn the_session_cookie_is_found_beside_cookies_with_non_ascii_bytes() {
    let app = TestApp::spawn("session_db_auth").await;
    app.user("bob@hbtn.io", false).await;
    let token = app.login("bob@hbtn.io", PASSWORD).await;
    let value = reqwest::header::HeaderValue::from_bytes(
        format!("theme=caf\u{e9}; _my_session_id={token}; other=\u{263a}").as_bytes(),
    )
    .unwrap();
    let mut c = app.anon();
    c.headers.insert("cookie", value);
    let r = c.get(PROTECTED).await;
    assert_eq!(r.status, 200, "{}", r.text);
}
