//! The users API: every route, status and error body; admin-or-self authorization; bad input.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::support::{PASSWORD, T0, TestApp};

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

const USER_KEYS: [&str; 7] = [
    "created_at",
    "email",
    "first_name",
    "id",
    "is_admin",
    "last_name",
    "updated_at",
];

#[tokio::test]
async fn stats_counts_users_for_any_signed_in_user() {
    let app = TestApp::spawn("session_db_auth").await;
    let (_, bob) = app.signed_in("bob@hbtn.io", false).await;
    app.user("ann@hbtn.io", false).await;
    let r = bob.get("/stats").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!({"users": 2}));
}

#[tokio::test]
async fn an_admin_creates_a_user_and_gets_it_back_without_any_password() {
    let app = TestApp::spawn("session_db_auth").await;
    let (_, admin) = app.signed_in("admin@hbtn.io", true).await;
    let r = admin
        .post_json(
            "/users",
            json!({"email": "bob@hbtn.io", "password": "H0lberton!", "first_name": "Bob", "last_name": "Dylan"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(keys(&r.body), USER_KEYS.into_iter().collect());
    assert_eq!(r.body["email"], "bob@hbtn.io");
    assert_eq!(r.body["first_name"], "Bob");
    assert_eq!(r.body["last_name"], "Dylan");
    assert_eq!(r.body["is_admin"], false);
    assert_eq!(r.body["created_at"], "2024-01-01T00:00:00");
    assert_eq!(r.body["updated_at"], "2024-01-01T00:00:00");
    assert!(!r.text.contains("H0lberton!") && !r.text.contains("argon2"));
    // The new user can log in with that password.
    let login = app.anon().login_form("bob@hbtn.io", "H0lberton!").await;
    assert_eq!(login.status, 200);
    assert_eq!(login.body, r.body);
}

#[tokio::test]
async fn optional_names_default_to_null() {
    let app = TestApp::spawn("session_db_auth").await;
    let (_, admin) = app.signed_in("admin@hbtn.io", true).await;
    let r = admin
        .post_json(
            "/users",
            json!({"email": "b@hbtn.io", "password": "pw123456"}),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["first_name"], Value::Null);
    assert_eq!(r.body["last_name"], Value::Null);
}

#[tokio::test]
async fn creating_users_rejects_bad_input_with_400_and_a_message() {
    let app = TestApp::spawn("session_db_auth").await;
    let (_, admin) = app.signed_in("admin@hbtn.io", true).await;
    let cases: [(Value, &str); 9] = [
        (json!({}), "email missing"),
        (json!({"email": ""}), "email missing"),
        (
            json!({"email": null, "password": "pw123456"}),
            "email missing",
        ),
        (json!({"email": "b@hbtn.io"}), "password missing"),
        (
            json!({"email": "b@hbtn.io", "password": ""}),
            "password missing",
        ),
        (
            json!({"email": "not-an-email", "password": "pw123456"}),
            "invalid email",
        ),
        (
            json!({"email": "b@hbtn.io", "password": "short"}),
            "password too short (at least 8 characters)",
        ),
        (
            json!({"email": 42, "password": "pw123456"}),
            "email must be a string",
        ),
        (
            json!({"email": "b@hbtn.io", "password": "pw123456", "first_name": 7}),
            "first_name must be a string",
        ),
    ];
    for (body, msg) in cases {
        admin.post_json("/users", body).await.assert_error(400, msg);
    }
    let long = "x".repeat(1025);
    admin
        .post_json("/users", json!({"email": "b@hbtn.io", "password": long}))
        .await
        .assert_error(400, "password too long (at most 1024 bytes)");
    assert_eq!(admin.get("/stats").await.body, json!({"users": 1}));
}

#[tokio::test]
async fn bodies_that_are_not_a_json_object_are_400_wrong_format() {
    let app = TestApp::spawn("session_db_auth").await;
    let (admin_user, admin) = app.signed_in("admin@hbtn.io", true).await;
    let bodies: [(&str, &[u8]); 6] = [
        ("application/json", b"[1, 2]"),
        ("application/json", b"\"a string\""),
        ("application/json", b"{\"email\": "),
        ("application/json", b""),
        (
            "application/json",
            b"{\"email\": \"\xff\xfe@x.io\", \"password\": \"pw123456\"}",
        ),
        (
            "application/x-www-form-urlencoded",
            b"email=b%40hbtn.io&password=pw123456",
        ),
    ];
    for (ct, body) in bodies {
        admin
            .raw("POST", "/users", ct, body.to_vec())
            .await
            .assert_error(400, "Wrong format");
        let path = format!("/users/{}", admin_user.id);
        admin
            .raw("PUT", &path, ct, body.to_vec())
            .await
            .assert_error(400, "Wrong format");
    }
}

#[tokio::test]
async fn emails_are_unique_ignoring_case_409() {
    let app = TestApp::spawn("session_db_auth").await;
    let (_, admin) = app.signed_in("admin@hbtn.io", true).await;
    let body = json!({"email": "Bob@Hbtn.io", "password": "pw123456"});
    assert_eq!(admin.post_json("/users", body).await.status, 201);
    admin
        .post_json(
            "/users",
            json!({"email": "bob@hbtn.IO", "password": "pw654321"}),
        )
        .await
        .assert_error(409, "email already registered");
    admin
        .post_json(
            "/users",
            json!({"email": "ADMIN@hbtn.io", "password": "pw654321"}),
        )
        .await
        .assert_error(409, "email already registered");
}

#[tokio::test]
async fn only_admins_list_and_create_users() {
    let app = TestApp::spawn("session_db_auth").await;
    let (_, admin) = app.signed_in("admin@hbtn.io", true).await;
    let (_, bob) = app.signed_in("bob@hbtn.io", false).await;
    let r = admin.get("/users").await;
    assert_eq!(r.status, 200);
    let list = r.body.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert!(
        list.iter()
            .all(|u| keys(u) == USER_KEYS.into_iter().collect())
    );
    bob.get("/users").await.assert_error(403, "Forbidden");
    bob.post_json(
        "/users",
        json!({"email": "c@hbtn.io", "password": "pw123456"}),
    )
    .await
    .assert_error(403, "Forbidden");
}

#[tokio::test]
async fn admin_or_self_may_read_update_and_delete_a_user() {
    let app = TestApp::spawn("session_db_auth").await;
    let (_, admin) = app.signed_in("admin@hbtn.io", true).await;
    let (bob, bob_c) = app.signed_in("bob@hbtn.io", false).await;
    let (ann, ann_c) = app.signed_in("ann@hbtn.io", false).await;
    let bob_path = format!("/users/{}", bob.id);

    // Read: admin and self yes, another user no.
    assert_eq!(admin.get(&bob_path).await.body["email"], "bob@hbtn.io");
    assert_eq!(bob_c.get(&bob_path).await.body["email"], "bob@hbtn.io");
    assert_eq!(bob_c.get("/users/me").await.body["id"], bob.id.as_str());
    ann_c.get(&bob_path).await.assert_error(403, "Forbidden");

    // Update: the same matrix.
    ann_c
        .put_json(&bob_path, json!({"first_name": "Evil"}))
        .await
        .assert_error(403, "Forbidden");
    let r = bob_c
        .put_json(&bob_path, json!({"first_name": "Bob"}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["first_name"], "Bob");
    let r = admin
        .put_json(&bob_path, json!({"last_name": "Dylan"}))
        .await;
    assert_eq!(
        (r.body["first_name"].as_str(), r.body["last_name"].as_str()),
        (Some("Bob"), Some("Dylan"))
    );

    // Delete: another user no; admin yes.
    ann_c.delete(&bob_path).await.assert_error(403, "Forbidden");
    let r = admin.delete(&bob_path).await;
    assert_eq!((r.status, r.body.clone()), (200, json!({})));
    admin.get(&bob_path).await.assert_error(404, "Not found");
    // Bob's session ended with him.
    bob_c.get("/users/me").await.assert_error(403, "Forbidden");
    // Ann is untouched.
    assert_eq!(ann_c.get("/users/me").await.body["id"], ann.id.as_str());
}

#[tokio::test]
async fn me_works_for_get_put_and_delete() {
    let app = TestApp::spawn("session_db_auth").await;
    let (bob, bob_c) = app.signed_in("bob@hbtn.io", false).await;
    app.clock.advance(61);
    let r = bob_c
        .put_json(
            "/users/me",
            json!({"first_name": "Bobby", "last_name": null}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["id"], bob.id.as_str());
    assert_eq!(r.body["first_name"], "Bobby");
    assert_eq!(r.body["created_at"], "2024-01-01T00:00:00");
    assert_eq!(r.body["updated_at"], "2024-01-01T00:01:01");
    assert_eq!(bob_c.get("/users/me/").await.body["first_name"], "Bobby");
    let r = bob_c.delete("/users/me").await;
    assert_eq!((r.status, r.body.clone()), (200, json!({})));
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
    bob_c.get("/users/me").await.assert_error(403, "Forbidden");
    app.anon()
        .login_form("bob@hbtn.io", PASSWORD)
        .await
        .assert_error(401, "wrong email or password");
}

#[tokio::test]
async fn unknown_user_ids_are_404_for_admins_and_403_for_others() {
    let app = TestApp::spawn("session_db_auth").await;
    let (_, admin) = app.signed_in("admin@hbtn.io", true).await;
    let (_, bob) = app.signed_in("bob@hbtn.io", false).await;
    admin
        .get("/users/nope")
        .await
        .assert_error(404, "Not found");
    admin
        .put_json("/users/nope", json!({"first_name": "x"}))
        .await
        .assert_error(404, "Not found");
    admin
        .delete("/users/nope")
        .await
        .assert_error(404, "Not found");
    bob.get("/users/nope").await.assert_error(403, "Forbidden");
}

#[tokio::test]
async fn login_accepts_a_form_or_json() {
    let app = TestApp::spawn("session_db_auth").await;
    let bob = app.user("bob@hbtn.io", false).await;
    let r = app.anon().login_form("bob@hbtn.io", PASSWORD).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["id"], bob.id.as_str());
    assert_eq!(keys(&r.body), USER_KEYS.into_iter().collect());
    let r = app
        .anon()
        .post_json(
            "/auth_session/login",
            json!({"email": "bob@hbtn.io", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.cookie("_my_session_id").is_some());
}

#[tokio::test]
async fn spaces_around_the_login_email_are_trimmed_but_never_around_the_password() {
    let app = TestApp::spawn("session_db_auth").await;
    app.user("bob@hbtn.io", false).await;
    let c = app.anon();
    let r = c.login_form("  bob@hbtn.io \t", PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["email"], "bob@hbtn.io");
    let r = c
        .post_json(
            "/auth_session/login",
            json!({"email": " bob@hbtn.io", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    c.login_form("bob@hbtn.io", &format!(" {PASSWORD}"))
        .await
        .assert_error(401, "wrong email or password");
    c.login_form("   ", PASSWORD)
        .await
        .assert_error(400, "email missing");
}

#[tokio::test]
async fn login_errors_do_not_tell_which_part_was_wrong() {
    let app = TestApp::spawn("session_db_auth").await;
    app.user("bob@hbtn.io", false).await;
    let c = app.anon();
    let wrong_pw = c.login_form("bob@hbtn.io", "not the password").await;
    let unknown = c.login_form("nobody@hbtn.io", PASSWORD).await;
    wrong_pw.assert_error(401, "wrong email or password");
    unknown.assert_error(401, "wrong email or password");
    assert_eq!(wrong_pw.text, unknown.text);
    assert!(wrong_pw.header("set-cookie").is_none());
    c.raw(
        "POST",
        "/auth_session/login",
        "application/x-www-form-urlencoded",
        b"password=x".to_vec(),
    )
    .await
    .assert_error(400, "email missing");
    c.raw(
        "POST",
        "/auth_session/login",
        "application/x-www-form-urlencoded",
        b"email=bob%40hbtn.io".to_vec(),
    )
    .await
    .assert_error(400, "password missing");
    c.post_json("/auth_session/login", json!({"email": "bob@hbtn.io"}))
        .await
        .assert_error(400, "password missing");
    c.raw(
        "POST",
        "/auth_session/login",
        "application/json",
        b"{oops".to_vec(),
    )
    .await
    .assert_error(400, "Wrong format");
}

#[tokio::test]
async fn every_login_issues_a_fresh_token_and_logging_in_again_ends_the_old_session() {
    let app = TestApp::spawn("session_db_auth").await;
    app.user("bob@hbtn.io", false).await;
    let a = app.login("bob@hbtn.io", PASSWORD).await;
    let b = app.login("bob@hbtn.io", PASSWORD).await;
    assert_ne!(a, b);
    // Two independent logins both live.
    assert_eq!(app.with_cookie(&a).get("/users/me").await.status, 200);
    assert_eq!(app.with_cookie(&b).get("/users/me").await.status, 200);
    // A login carrying a session cookie ends that session (no fixation).
    let r = app
        .with_cookie(&a)
        .login_form("bob@hbtn.io", PASSWORD)
        .await;
    let c = r.cookie("_my_session_id").unwrap();
    assert_ne!(c, a);
    app.with_cookie(&a)
        .get("/users/me")
        .await
        .assert_error(403, "Forbidden");
    assert_eq!(app.with_cookie(&c).get("/users/me").await.status, 200);
}

#[tokio::test]
async fn logout_deletes_the_session_on_the_server_and_expires_the_cookie() {
    for auth in ["session_auth", "session_exp_auth", "session_db_auth"] {
        let app = TestApp::spawn(auth).await;
        app.user("bob@hbtn.io", false).await;
        let token = app.login("bob@hbtn.io", PASSWORD).await;
        let c = app.with_cookie(&token);
        let r = c.delete("/auth_session/logout").await;
        assert_eq!((r.status, r.body.clone()), (200, json!({})), "{auth}");
        assert_eq!(
            r.header("set-cookie").unwrap(),
            "_my_session_id=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"
        );
        // Replaying the old cookie does not work: the session is gone server-side.
        c.get("/users/me").await.assert_error(403, "Forbidden");
        c.delete("/auth_session/logout")
            .await
            .assert_error(403, "Forbidden");
    }
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405_in_json() {
    let app = TestApp::spawn("session_db_auth").await;
    let c = app.anon();
    c.get("/nope").await.assert_error(404, "Not found");
    let r = c.send(c.http.get(format!("{}/elsewhere", c.base))).await;
    r.assert_error(404, "Not found");
    c.delete("/status")
        .await
        .assert_error(405, "Method not allowed");
    c.post_json("/users/me", json!({}))
        .await
        .assert_error(405, "Method not allowed");
    c.get("/auth_session/login")
        .await
        .assert_error(405, "Method not allowed");
}

#[tokio::test]
async fn bodies_over_one_mebibyte_are_413() {
    let app = TestApp::spawn("session_db_auth").await;
    let (_, admin) = app.signed_in("admin@hbtn.io", true).await;
    let mut big = br#"{"email": "b@hbtn.io", "password": "pw123456", "pad": ""#.to_vec();
    big.extend(std::iter::repeat_n(b'x', 1024 * 1024));
    big.extend(br#""}"#);
    admin
        .raw("POST", "/users", "application/json", big.clone())
        .await
        .assert_error(413, "Payload too large");
    app.anon()
        .raw("POST", "/auth_session/login", "application/json", big)
        .await
        .assert_error(413, "Payload too large");
}

#[tokio::test]
async fn forty_concurrent_creates_lose_nothing() {
    let app = TestApp::spawn("session_db_auth").await;
    let (_, admin) = app.signed_in("admin@hbtn.io", true).await;
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let admin = admin.clone();
            tokio::spawn(async move {
                admin
                    .post_json(
                        "/users",
                        json!({"email": format!("u{i}@hbtn.io"), "password": "pw123456"}),
                    )
                    .await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().status, 201);
    }
    let list = admin.get("/users").await.body;
    let emails: BTreeSet<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(emails.len(), 41);
    assert!((0..40).all(|i| emails.contains(&format!("u{i}@hbtn.io"))));
}

#[tokio::test]
async fn twelve_racing_creates_of_one_email_make_one_user() {
    let app = TestApp::spawn("session_db_auth").await;
    let (_, admin) = app.signed_in("admin@hbtn.io", true).await;
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let admin = admin.clone();
            let email = if i % 2 == 0 {
                "race@hbtn.io"
            } else {
                "RACE@hbtn.io"
            };
            tokio::spawn(async move {
                admin
                    .post_json("/users", json!({"email": email, "password": "pw123456"}))
                    .await
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap().status);
    }
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [201].into_iter().chain([409; 11]).collect::<Vec<_>>()
    );
    assert_eq!(admin.get("/stats").await.body, json!({"users": 2}));
}

#[tokio::test]
async fn cors_preflights_need_no_login_and_credentials_go_only_to_named_origins() {
    let app = TestApp::spawn_with(|c| c.cors_origins = "https://app.example.com".into()).await;
    let c = app.anon();
    let preflight = |origin: &'static str| {
        c.http
            .request(reqwest::Method::OPTIONS, c.url("/users/me"))
            .header("origin", origin)
            .header("access-control-request-method", "PUT")
    };
    let r = c.send(preflight("https://app.example.com")).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    let r = c.send(preflight("https://evil.example")).await;
    assert_eq!(r.header("access-control-allow-origin"), None);

    let any = TestApp::spawn("session_db_auth").await;
    let c = any.anon();
    let r = c
        .send(
            c.http
                .request(reqwest::Method::OPTIONS, c.url("/users"))
                .header("origin", "https://x.io")
                .header("access-control-request-method", "GET"),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("access-control-allow-credentials"), None);
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn("session_db_auth").await;
    let c = app.anon();
    let a = c.get("/status").await;
    let b = c.get("/users").await;
    let (a, b) = (
        a.header("x-request-id").unwrap(),
        b.header("x-request-id").unwrap(),
    );
    assert_ne!(a, b);
    // A caller's own id is kept.
    let r = c
        .clone()
        .header("x-request-id", "trace-123")
        .get("/status")
        .await;
    assert_eq!(r.header("x-request-id"), Some("trace-123"));
}

#[tokio::test]
async fn timestamps_are_utc_in_the_original_format() {
    let app = TestApp::spawn("session_db_auth").await;
    app.clock.set(T0 + 3 * 86400 + 3661);
    let (_, bob) = app.signed_in("bob@hbtn.io", false).await;
    assert_eq!(
        bob.get("/users/me").await.body["created_at"],
        "2024-01-04T01:01:01"
    );
}

#[tokio::test]
async fn an_id_that_is_not_utf8_is_a_json_400() {
    let app = TestApp::spawn("session_db_auth").await;
    let (_, admin) = app.signed_in("admin@hbtn.io", true).await;
    for (method, path) in [
        ("GET", "/users/%ff"),
        ("DELETE", "/users/%C0/sessions"),
        ("DELETE", "/users/me/sessions/%ff"),
    ] {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        admin
            .send(admin.http.request(m, admin.url(path)))
            .await
            .assert_error(400, "Invalid URL");
    }
}
