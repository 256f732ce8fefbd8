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
