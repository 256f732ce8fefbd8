//! `/auth_session`: login and logout with a session cookie.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use serde::Deserialize;

use super::error::ApiError;
use super::extract::{Field, FormOrJson, Id};
use super::state::AppState;
use super::view::{empty_answer, user_response};
use crate::auth::client::ClientIp;
use crate::auth::cookie::{session_cookie, session_set_cookie};
use crate::auth::csrf::refuse_cross_site_login;
use crate::auth::gate::Auth;
use crate::domain::{Secret, format_timestamp};
use crate::service::{ClientInfo, ServiceError};

/// The body of `POST /auth_session/login`.
#[derive(Debug, Deserialize)]
pub struct LoginBody {
    #[serde(default)]
    email: Field,
    #[serde(default)]
    password: Field,
}

/// `POST /auth_session/login`: a form or JSON with `email` and `password`.
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    FormOrJson(body): FormOrJson<LoginBody>,
) -> Result<Response, ApiError> {
    if !state.settings.auth_type.uses_sessions() {
        return Err(ServiceError::NotFound.into());
    }
    let previous = session_cookie(&headers, &state.settings.session_name);
    refuse_cross_site_login(&headers, &state.settings, previous.is_some())?;
    // Spaces around the email (a form filled by hand) are not part of it; the password is
    // taken exactly as sent.
    let email = body.email.required("email")?;
    let email = email.trim();
    if email.is_empty() {
        return Err(ApiError::invalid("email missing"));
    }
    let password = Secret::new(body.password.required("password")?);
    let client = ClientInfo {
        ip: ip.map(|ip| ip.to_string()),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(512).collect()),
    };
    let (user, token) = state
        .service
        .login(email, password, previous, client)
        .await?;
    let cookie = session_set_cookie(&state.settings, Some(token.expose()))?;
    let mut resp = user_response(&user);
    resp.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(resp)
}

/// `DELETE /auth_session/logout`: ends the session server-side and expires the cookie.
pub async fn logout(State(state): State<AppState>, Auth(auth): Auth) -> Result<Response, ApiError> {
    state.service.logout(&auth).await?;
    empty_answer(&state.settings, true)
}

/// A session as `GET /users/me/sessions` shows it: a public handle, never the token or digest.
#[derive(Debug, Serialize)]
struct SessionView<'a> {
    id: &'a str,
    created_at: String,
    last_seen_at: String,
    expires_at: Option<String>,
    ip: Option<&'a str>,
    user_agent: Option<&'a str>,
    current: bool,
}

/// `GET /users/me/sessions`: the caller's live sessions, oldest first.
pub async fn list_mine(
    State(state): State<AppState>,
    Auth(auth): Auth,
) -> Result<Response, ApiError> {
    let list = state.service.my_sessions(&auth).await?;
    let views: Vec<SessionView<'_>> = list
        .iter()
        .map(|i| SessionView {
            id: &i.session.id,
            created_at: format_timestamp(i.session.created_at),
            last_seen_at: format_timestamp(i.session.last_seen_at),
            expires_at: i.expires_at.map(format_timestamp),
            ip: i.session.ip.as_deref(),
            user_agent: i.session.user_agent.as_deref(),
            current: i.current,
        })
        .collect();
    Ok(Json(views).into_response())
}

/// `DELETE /users/me/sessions/{id}`: ends one of the caller's sessions (and expires the cookie
/// when it is the current one).
pub async fn revoke_mine(
    State(state): State<AppState>,
    Auth(auth): Auth,
    Id(id): Id,
) -> Result<Response, ApiError> {
    let was_current = state.service.revoke_my_session(&auth, &id).await?;
    empty_answer(&state.settings, was_current)
}

/// `DELETE /users/me/sessions`: ends every session of the caller but the current one.
pub async fn revoke_my_others(
    State(state): State<AppState>,
    Auth(auth): Auth,
) -> Result<Response, ApiError> {
    state.service.revoke_my_other_sessions(&auth).await?;
    empty_answer(&state.settings, false)
}

/// `DELETE /users/{id}/sessions`: an administrator ends every session of a user.
pub async fn revoke_all_of_user(
    State(state): State<AppState>,
    Auth(auth): Auth,
    Id(id): Id,
) -> Result<Response, ApiError> {
    state.service.revoke_sessions_as(&auth, &id).await?;
    empty_answer(&state.settings, false)
}
