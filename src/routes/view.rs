//! What responses show: the user's JSON shape (never a password or a hash) and the empty
//! answer.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::ApiError;
use crate::auth::cookie::session_set_cookie;
use crate::config::Settings;
use crate::domain::{User, format_timestamp};
use crate::service::ServiceError;

/// A user as the API shows it: never a password or a hash.
#[derive(Debug, Serialize)]
pub struct UserView<'a> {
    id: &'a str,
    email: &'a str,
    first_name: Option<&'a str>,
    last_name: Option<&'a str>,
    created_at: String,
    updated_at: String,
    is_admin: bool,
}

/// The empty answer `{}`; with `end_session`, it also expires the session cookie (the session
/// the request came with has just ended).
pub fn empty_answer(settings: &Settings, end_session: bool) -> Result<Response, ApiError> {
    let mut resp = axum::Json(serde_json::json!({})).into_response();
    if end_session {
        resp.headers_mut()
            .insert(header::SET_COOKIE, session_set_cookie(settings, None)?);
    }
    Ok(resp)
}

/// A user as a JSON response, written into a buffer sized for it at once.
pub fn user_response(user: &User) -> Response {
    let mut body = Vec::with_capacity(256);
    match serde_json::to_writer(&mut body, &UserView::from(user)) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        Err(e) => ApiError::from(ServiceError::Internal(format!("serializing a user: {e}")))
            .into_response(),
    }
}

impl<'a> From<&'a User> for UserView<'a> {
    fn from(u: &'a User) -> Self {
        Self {
            id: &u.id,
            email: &u.email,
            first_name: u.first_name.as_deref(),
            last_name: u.last_name.as_deref(),
            created_at: format_timestamp(u.created_at),
            updated_at: format_timestamp(u.updated_at),
            is_admin: u.is_admin,
        }
    }
}
