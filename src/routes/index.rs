//! The basic endpoints: status, stats and the two error pages of the original API.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::AppState;
use crate::error::Error;

/// `GET /status`: the process is alive.
pub async fn status() -> Json<Value> {
    Json(json!({"status": "OK"}))
}

/// `GET /stats`: how many users there are.
pub async fn stats(State(state): State<AppState>) -> Result<Json<Value>, Error> {
    Ok(Json(json!({"users": state.service.count_users().await?})))
}

/// `GET /unauthorized`: always 401.
pub async fn unauthorized() -> Error {
    Error::Unauthorized
}

/// `GET /forbidden`: always 403.
pub async fn forbidden() -> Error {
    Error::Forbidden
}
