//! The basic endpoints: status, stats and the two error pages of the original API.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::error::ApiError;
use super::state::AppState;
use crate::auth::gate::Auth;
use crate::service::ServiceError;

/// `GET /status`: the process is alive.
pub async fn status() -> Json<Value> {
    Json(json!({"status": "OK"}))
}

/// `GET /stats`: how many users there are.
pub async fn stats(State(state): State<AppState>, _: Auth) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"users": state.service.count_users().await?})))
}

/// `GET /unauthorized`: always 401.
pub async fn unauthorized() -> ApiError {
    ServiceError::NoCredentials.into()
}

/// `GET /forbidden`: always 403.
pub async fn forbidden() -> ApiError {
    ServiceError::Forbidden.into()
}

/// `GET /health/ready`: 200 when every store answers, else 503 (for load balancers; `/status`
/// only says the process is alive).
pub async fn ready(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.service.ready().await?;
    Ok(Json(json!({"status": "ready"})))
}

/// `GET /metrics`: Prometheus text exposition.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let sessions = state.service.session_count().await.ok().flatten();
    let body = state.service.metrics().render(sessions);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
