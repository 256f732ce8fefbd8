//! What responses show: the user's JSON shape (never a password or a hash) and the empty
//! answer.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ApiError;
use crate::auth::cookie::session_set_cookie;
use crate::config::Settings;
use crate::domain::{User, format_timestamp};
use crate::service::ServiceError;

/// A user as the API shows it: never a password or a hash.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = User)]
pub struct UserView<'a> {
    /// The user's id (a UUID, or the original system's id for imported users).
    id: &'a str,
    /// The email address, unique ignoring case.
    email: &'a str,
    /// First name, if any.
    #[schema(required = true)]
    first_name: Option<&'a str>,
    /// Last name, if any.
    #[schema(required = true)]
    last_name: Option<&'a str>,
    /// When the user was created, UTC.
    #[schema(
        pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}$",
        example = "2024-01-01T00:00:00"
    )]
    created_at: String,
    /// When the user was last changed, UTC.
    #[schema(
        pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}$",
        example = "2024-01-01T00:00:00"
    )]
    updated_at: String,
    /// Whether the user is an administrator.
    is_admin: bool,
}

/// The empty answer `{}`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Empty, example = json!({}))]
pub struct Empty {}

/// The empty answer `{}`; with `end_session`, it also expires the session cookie (the session
/// the request came with has just ended).
pub fn empty_answer(settings: &Settings, end_session: bool) -> Result<Response, ApiError> {
    let mut resp = axum::Json(Empty {}).into_response();
    if end_session {
        resp.headers_mut()
            .insert(header::SET_COOKIE, session_set_cookie(settings, None)?);
    }
    Ok(resp)
}

/// `resp` with the session cookie of `token` set.
pub fn with_session_cookie(
    settings: &Settings,
    mut resp: Response,
    token: &crate::domain::Secret,
) -> Result<Response, ApiError> {
    let cookie = session_set_cookie(settings, Some(token.expose()))?;
    resp.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(resp)
}

/// The user and the cookie of their new session: the answer of every way to sign in.
pub fn signed_in(
    settings: &Settings,
    user: &User,
    token: &crate::domain::Secret,
) -> Result<Response, ApiError> {
    with_session_cookie(settings, user_response(user), token)
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
