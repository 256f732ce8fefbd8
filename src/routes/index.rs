//! The basic endpoints: status, stats and the two error pages of the original API.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::state::AppState;
use crate::auth::gate::Auth;
use crate::service::ServiceError;

/// What `/status` and `/health/ready` answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Status)]
pub struct StatusBody {
    /// `OK` (`/status`) or `ready` (`/health/ready`).
    #[schema(example = "OK")]
    status: &'static str,
}

/// What `/stats` answers.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Stats)]
pub struct StatsBody {
    /// How many users there are.
    users: u64,
}

/// `GET /status`: the process is alive.
#[utoipa::path(
    get,
    operation_id = "get_status",
    path = "/api/v1/status",
    tag = "status",
    summary = "The process is alive",
    description = "Answers without credentials and without reaching any store.",
    responses(
        (status = 200, description = "Alive", body = StatusBody,
            example = json!({"status": "OK"})),
    ),
)]
pub async fn status() -> Json<StatusBody> {
    Json(StatusBody { status: "OK" })
}

/// `GET /stats`: how many users there are.
#[utoipa::path(
    get,
    operation_id = "get_stats",
    path = "/api/v1/stats",
    tag = "status",
    summary = "How many users there are",
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "The count", body = StatsBody,
            example = json!({"users": 3})),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 403, description = "The credentials do not resolve to a user", body = ErrorBody),
        (status = 503, description = "A store cannot be reached", body = ErrorBody),
    ),
)]
pub async fn stats(State(state): State<AppState>, _: Auth) -> Result<Json<StatsBody>, ApiError> {
    Ok(Json(StatsBody {
        users: state.service.count_users().await?,
    }))
}

/// `GET /unauthorized`: always 401.
#[utoipa::path(
    get,
    operation_id = "get_unauthorized",
    path = "/api/v1/unauthorized",
    tag = "status",
    summary = "Always 401",
    description = "The original API's page for a refused request without credentials.",
    responses(
        (status = 401, description = "Always", body = ErrorBody,
            example = json!({"error": "Unauthorized"})),
    ),
)]
pub async fn unauthorized() -> ApiError {
    ServiceError::NoCredentials.into()
}

/// `GET /forbidden`: always 403.
#[utoipa::path(
    get,
    operation_id = "get_forbidden",
    path = "/api/v1/forbidden",
    tag = "status",
    summary = "Always 403",
    description = "The original API's page for a refused request with credentials.",
    responses(
        (status = 403, description = "Always", body = ErrorBody,
            example = json!({"error": "Forbidden"})),
    ),
)]
pub async fn forbidden() -> ApiError {
    ServiceError::Forbidden.into()
}

/// `GET /health/ready`: 200 when every store answers, else 503 (for load balancers; `/status`
/// only says the process is alive).
#[utoipa::path(
    get,
    operation_id = "get_ready",
    path = "/api/v1/health/ready",
    tag = "status",
    summary = "Every store answers",
    description = "For load balancers: 200 when every store answers, else 503. \
                   `/status` only says that the process is alive.",
    responses(
        (status = 200, description = "Ready", body = StatusBody,
            example = json!({"status": "ready"})),
        (status = 503, description = "A store cannot be reached", body = ErrorBody),
    ),
)]
pub async fn ready(State(state): State<AppState>) -> Result<Json<StatusBody>, ApiError> {
    state.service.ready().await?;
    Ok(Json(StatusBody { status: "ready" }))
}

/// `GET /metrics`: Prometheus text exposition.
#[utoipa::path(
    get,
    operation_id = "get_metrics",
    path = "/metrics",
    tag = "metrics",
    summary = "Prometheus metrics",
    description = "Prometheus text exposition format 0.0.4. Served on the API port unless \
                   `METRICS_ADDR` names another address (then it is absent here).",
    responses(
        (status = 200, description = "The metrics",
            content_type = "text/plain; version=0.0.4; charset=utf-8", body = String),
    ),
)]
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
