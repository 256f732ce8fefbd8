//! Operations: readiness, Prometheus metrics, and a separate metrics listener.

use crate::support::{PASSWORD, TestApp};

#[tokio::test]
async fn readiness_answers_200_when_the_stores_answer_and_needs_no_login() {
    let app = TestApp::spawn("session_db_auth").await;
    for path in ["/health/ready", "/health/ready/"] {
        let r = app.anon().get(path).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body, serde_json::json!({"status": "ready"}));
    }
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status_logins_and_sessions() {
    let app = TestApp::spawn("session_db_auth").await;
    let (_, bob) = app.signed_in("bob@hbtn.io", false).await;
    for _ in 0..3 {
        assert_eq!(bob.get("/users/me").await.status, 200);
    }
    app.anon().get("/users/me").await;
    app.anon().login_form("bob@hbtn.io", "wrong password").await;
    app.anon().get("/nope").await;
    let r = app
        .anon()
        .send(app.anon().http.get(format!("{}/metrics", app.base)))
        .await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let text = &r.text;
    for line in [
        "sesame_http_requests_total{route=\"/api/v1/users/{id}\",status=\"200\"} 3",
        "sesame_http_requests_total{route=\"/api/v1/users/{id}\",status=\"401\"} 1",
        "sesame_http_requests_total{route=\"/api/v1/auth_session/login\",status=\"200\"} 1",
        "sesame_http_requests_total{route=\"/api/v1/auth_session/login\",status=\"401\"} 1",
        "sesame_http_requests_total{route=\"unmatched\",status=\"404\"} 1",
        "sesame_http_request_duration_seconds_count{route=\"/api/v1/users/{id}\"} 4",
        "sesame_logins_total{outcome=\"ok\"} 1",
        "sesame_logins_total{outcome=\"failed\"} 1",
        "sesame_logins_total{outcome=\"throttled\"} 0",
        "sesame_sessions 1",
        "sesame_store_errors_total 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    assert!(!text.contains(PASSWORD));
}

#[tokio::test]
async fn metrics_move_to_metrics_addr_when_it_is_set() {
    let app = TestApp::spawn_with(|c| c.metrics_addr = Some("127.0.0.1:0".into())).await;
    let r = app
        .anon()
        .send(app.anon().http.get(format!("{}/metrics", app.base)))
        .await;
    r.assert_error(404, "Not found");
    let maddr = app.running().metrics_addr.unwrap();
    let text = reqwest::get(format!("http://{maddr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("sesame_logins_total{outcome=\"ok\"} 0"),
        "{text}"
    );
}

#[tokio::test]
async fn expired_sessions_are_swept_from_the_store_in_the_background() {
    use sesame::domain::{Session, new_id, token_digest};
    let app = TestApp::spawn_with(|c| c.session_duration = "100".into()).await;
    let store = app.running().app.stores.persistent_sessions.clone();
    for (token, created_at) in [
        ("old", crate::support::T0 - 1000),
        ("fresh", crate::support::T0),
    ] {
        let session = Session {
            id: new_id(),
            digest: token_digest(token),
            user_id: "someone".into(),
            created_at,
            last_seen_at: created_at,
            ip: None,
            user_agent: None,
        };
        store.insert(&session).await.unwrap();
    }
    // The sweeper runs at start-up and then every minute; a restart brings the next sweep now.
    let app = app.restart().await;
    let store = app.running().app.stores.persistent_sessions.clone();
    let mut left = u64::MAX;
    for _ in 0..100 {
        left = store.count().await.unwrap();
        if left == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(left, 1, "the expired session is swept, the fresh one stays");
    assert!(store.get(&token_digest("fresh")).await.unwrap().is_some());
}

#[tokio::test]
async fn a_request_in_flight_when_the_server_is_stopped_still_gets_its_answer() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut app = TestApp::spawn("session_db_auth").await;
    app.user("bob@hbtn.io", false).await;
    let addr = app.running().addr;
    let body = format!(
        "email=bob%40hbtn.io&password={}",
        PASSWORD.replace(' ', "+")
    );
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/auth_session/login HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    // Let the server take the request in (its handler now waits for the body), then stop it.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let stopping = tokio::spawn(app.take_running().stop());
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(
        !stopping.is_finished(),
        "the server waits for the request in flight"
    );
    conn.write_all(body.as_bytes()).await.unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("_my_session_id="));
    stopping.await.unwrap().unwrap();
}
