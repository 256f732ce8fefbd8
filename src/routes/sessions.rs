//! `/auth_session`: login and logout with a session cookie.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::json;

use super::{AppState, FormOrJson, UserView, required_string, session_cookie, session_set_cookie};
use crate::domain::Secret;
use crate::error::Error;
use crate::service::{Authenticated, ClientInfo};

/// `POST /auth_session/login`: a form or JSON with `email` and `password`.
pub async fn login(
    State(state): State<AppState>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    FormOrJson(body): FormOrJson,
) -> Result<Response, Error> {
    if !state.settings.auth_type.uses_sessions() {
        return Err(Error::NotFound);
    }
    let email = required_string(&body, "email")?;
    let password = Secret::new(required_string(&body, "password")?);
    let client = ClientInfo {
        ip: connect.map(|Extension(ConnectInfo(addr))| addr.ip().to_string()),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(512).collect()),
    };
    let previous = session_cookie(&headers, &state.settings.session_name);
    let (user, token) = state
        .service
        .login(&email, password, previous, client)
        .await?;
    let cookie = session_set_cookie(&state.settings, Some(token.expose()))?;
    let mut resp = Json(UserView::from(&user)).into_response();
    resp.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(resp)
}

/// `DELETE /auth_session/logout`: ends the session server-side and expires the cookie.
pub async fn logout(
    State(state): State<AppState>,
    Extension(auth): Extension<Authenticated>,
) -> Result<Response, Error> {
    state.service.logout(&auth).await?;
    let mut resp = Json(json!({})).into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        session_set_cookie(&state.settings, None)?,
    );
    Ok(resp)
}
