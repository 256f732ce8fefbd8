//! What clients of the original API and new users trying it notice: bodies sent with the wrong
//! type told so, `Wrong format` with a detail, multipart logins, CORS preflights asking for more
//! headers, PUT with fields it cannot change, and the Basic challenge.

use serde_json::json;

use crate::support::{PASSWORD, TestApp};

#[tokio::test]
async fn a_json_login_sent_as_a_form_says_the_body_is_not_the_declared_type() {
    let app = TestApp::spawn("session_db_auth").await;
    app.user("bob@hbtn.io", false).await;
    let body = json!({"email": "bob@hbtn.io", "password": PASSWORD}).to_string();
    app.anon()
        .raw(
            "POST",
            "/auth_session/login",
            "application/x-www-form-urlencoded",
            body.into_bytes(),
        )
        .await
        .assert_error_detail(400, "Wrong format", "Content-Type");
}

#[tokio::test]
async fn wrong_format_keeps_its_text_and_says_what_was_expected() {
    let app = TestApp::spawn("session_db_auth").await;
    let (_, admin) = app.signed_in("admin@hbtn.io", true).await;
    let cases: [(&str, &[u8], &str); 4] = [
        ("text/plain", b"{}", "Content-Type: application/json"),
        ("application/json", b"[1, 2]", "JSON object"),
        ("application/json", b"{\"email\": ", "not valid JSON"),
        (
            "application/x-www-form-urlencoded",
            b"email=a%40b.io",
            "Content-Type: application/json",
        ),
    ];
    for (ct, body, detail) in cases {
        let r = admin.raw("POST", "/users", ct, body.to_vec()).await;
        r.assert_error_detail(400, "Wrong format", detail);
    }
    // Clients of the original match on `error` alone: it is exactly the original's text.
    let r = admin
        .raw("POST", "/users", "application/json", b"[]".to_vec())
        .await;
    assert_eq!(r.body["error"], "Wrong format");
}

/// A `multipart/form-data` body with these text fields, as a browser's `FormData` or
/// `curl -F` sends it.
fn multipart(fields: &[(&str, &str)]) -> (String, Vec<u8>) {
    let boundary = "----sesame-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = String::new();
    for (name, value) in fields {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    (
        format!("multipart/form-data; boundary={boundary}"),
        body.into_bytes(),
    )
}

#[tokio::test]
async fn login_as_multipart_form_data_works_like_a_urlencoded_form() {
    let app = TestApp::spawn("session_db_auth").await;
    let bob = app.user("bob@hbtn.io", false).await;
    let c = app.anon();
    let (ct, body) = multipart(&[("email", "bob@hbtn.io"), ("password", PASSWORD)]);
    let r = c.raw("POST", "/auth_session/login", &ct, body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["id"], bob.id.as_str());
    let token = r.cookie("_my_session_id").expect("a session cookie");
    assert_eq!(app.with_cookie(&token).get("/users/me").await.status, 200);

    let (ct, body) = multipart(&[("email", "bob@hbtn.io"), ("password", "not the password")]);
    c.raw("POST", "/auth_session/login", &ct, body)
        .await
        .assert_error(401, "wrong email or password");
    let (ct, body) = multipart(&[("password", PASSWORD)]);
    c.raw("POST", "/auth_session/login", &ct, body)
        .await
        .assert_error(400, "email missing");
    c.raw(
        "POST",
        "/auth_session/login",
        "multipart/form-data; boundary=x",
        b"not multipart at all".to_vec(),
    )
    .await
    .assert_error(400, "Wrong format");
}

#[tokio::test]
async fn a_preflight_asking_for_more_headers_is_allowed_for_allowed_origins_only() {
    let app = TestApp::spawn_with(|c| c.cors_origins = "https://app.example.com".into()).await;
    let c = app.anon();
    let preflight = |origin: &'static str| {
        c.http
            .request(reqwest::Method::OPTIONS, c.url("/users/me"))
            .header("origin", origin)
            .header("access-control-request-method", "PUT")
            .header(
                "access-control-request-headers",
                "content-type, x-requested-with, x-csrf-token",
            )
    };
    let r = c.send(preflight("https://app.example.com")).await;
    assert_eq!(r.status, 200);
    let allowed = r
        .header("access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    for h in ["content-type", "x-requested-with", "x-csrf-token"] {
        assert!(allowed.contains(h), "{h} not in {allowed:?}");
    }
    let r = c.send(preflight("https://evil.example")).await;
    assert_eq!(r.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn put_with_fields_it_cannot_change_says_so_and_changes_nothing() {
    let app = TestApp::spawn("session_db_auth").await;
    let (bob, me) = app.signed_in("bob@hbtn.io", false).await;
    let path = format!("/users/{}", bob.id);
    me.put_json(&path, json!({"email": "other@hbtn.io", "first_name": "B"}))
        .await
        .assert_error(
            400,
            "email cannot be changed: PUT /users/{id} changes first_name and last_name",
        );
    // Only an administrator changes the flag.
    me.put_json(&path, json!({"is_admin": true}))
        .await
        .assert_error(403, "Forbidden");
    me.put_json(&path, json!({"password": "a new passphrase"}))
        .await
        .assert_error(
            400,
            "password cannot be changed here: use PUT /api/v1/users/me/password",
        );
    me.put_json(&path, json!({"is_admin": "yes"}))
        .await
        .assert_error(400, "is_admin must be true or false");
    let r = me.get("/users/me").await;
    assert_eq!(r.body["first_name"], serde_json::Value::Null);
    assert_eq!(r.body["email"], "bob@hbtn.io");
    assert_eq!(r.body["is_admin"], false);

    // The user as read, sent back with a new name (email in another case, the same flag): fine.
    let mut user = r.body.clone();
    user["first_name"] = json!("Bob");
    user["email"] = json!("BOB@hbtn.io");
    let r = me.put_json(&path, user).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["first_name"], "Bob");
    assert_eq!(r.body["email"], "bob@hbtn.io");
}

#[tokio::test]
async fn under_basic_auth_a_401_carries_the_basic_challenge() {
    let app = TestApp::spawn("basic_auth").await;
    let r = app.anon().get("/users/me").await;
    r.assert_error(401, "Unauthorized");
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"sesame\", charset=\"UTF-8\"")
    );
    // Session schemes have no standard challenge: none is sent.
    let app = TestApp::spawn("session_db_auth").await;
    let r = app.anon().get("/users/me").await;
    r.assert_error(401, "Unauthorized");
    assert_eq!(r.header("www-authenticate"), None);
}
