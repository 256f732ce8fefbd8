//! The SQLite read cache never serves a revoked session or a stale user: writes by another
//! process (the command line) or another instance on the same file are seen by the next
//! request.

use serde_json::json;

use crate::support::{PASSWORD, TestApp};

fn cli(app: &TestApp, args: &[&str]) {
    let out = crate::support::sesame_command()
        .args(args)
        .env("DATABASE_URL", &app.raw.database_url)
        .env("AUTH_TYPE", "session_db_auth")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_revocation_by_the_command_line_is_refused_at_the_next_request() {
    let app = TestApp::spawn("session_db_auth").await;
    let (_, bob) = app.signed_in("bob@hbtn.io", false).await;
    for _ in 0..3 {
        assert_eq!(bob.get("/users/me").await.status, 200);
    }
    cli(&app, &["sessions", "revoke", "--user", "bob@hbtn.io"]);
    bob.get("/users/me").await.assert_error(403, "Forbidden");
}

#[tokio::test]
async fn a_user_changed_by_the_command_line_is_seen_at_the_next_request() {
    let app = TestApp::spawn("session_db_auth").await;
    let (_, bob) = app.signed_in("bob@hbtn.io", false).await;
    assert_eq!(bob.get("/users/me").await.body["is_admin"], false);
    cli(&app, &["user", "set-admin", "bob@hbtn.io"]);
    assert_eq!(bob.get("/users/me").await.body["is_admin"], true);
    assert_eq!(bob.get("/users").await.status, 200, "now an admin");
}

#[tokio::test]
async fn a_logout_on_another_instance_on_the_same_file_is_refused_here_at_once() {
    let one = TestApp::spawn("session_db_auth").await;
    let two = one.another_instance().await;
    one.user("bob@hbtn.io", false).await;
    let token = one.login("bob@hbtn.io", PASSWORD).await;
    assert_eq!(one.with_cookie(&token).get("/users/me").await.status, 200);
    assert_eq!(two.with_cookie(&token).get("/users/me").await.status, 200);
    let r = two.with_cookie(&token).delete("/auth_session/logout").await;
    assert_eq!(r.status, 200);
    one.with_cookie(&token)
        .get("/users/me")
        .await
        .assert_error(403, "Forbidden");
}

#[tokio::test]
async fn changes_through_this_instance_are_seen_at_the_next_request() {
    let app = TestApp::spawn("session_db_auth").await;
    let (_, admin) = app.signed_in("admin@hbtn.io", true).await;
    let (bob_user, bob) = app.signed_in("bob@hbtn.io", false).await;
    assert_eq!(
        bob.get("/users/me").await.body["first_name"],
        serde_json::Value::Null
    );
    let path = format!("/users/{}", bob_user.id);
    assert_eq!(
        admin
            .put_json(&path, json!({"first_name": "Bob"}))
            .await
            .status,
        200
    );
    assert_eq!(bob.get("/users/me").await.body["first_name"], "Bob");
    assert_eq!(admin.delete(&format!("{path}/sessions")).await.status, 200);
    bob.get("/users/me").await.assert_error(403, "Forbidden");
}

#[tokio::test]
async fn a_session_whose_user_is_gone_is_refused() {
    use sesame::domain::{Session, new_id, token_digest};
    let app = TestApp::spawn("session_db_auth").await;
    let store = &app.running().app.stores.persistent_sessions;
    let session = Session {
        id: new_id(),
        digest: token_digest("orphan-token"),
        user_id: "no-such-user".into(),
        created_at: crate::support::T0,
        last_seen_at: crate::support::T0,
        ip: None,
        user_agent: None,
    };
    store.insert(&session).await.unwrap();
    for _ in 0..2 {
        app.with_cookie("orphan-token")
            .get("/users/me")
            .await
            .assert_error(403, "Forbidden");
    }
}
