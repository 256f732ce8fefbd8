//! Integration tests: the real server on port 0, spoken to over HTTP.

#[tokio::test]
async fn status_answers_ok() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, sesame::app::router()).await });
    let resp = reqwest::get(format!("http://{addr}/api/v1/status"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"status": "OK"}));
}
