//! `/auth_session`: login and logout with a session cookie.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use serde::Deserialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{Field, FormOrJson, Id, client_info};
use super::mfa::mfa_required_response;
use super::state::AppState;
use super::view::{Empty, UserView, empty_answer, signed_in};
use crate::auth::client::ClientIp;
use crate::auth::cookie::session_cookie;
use crate::auth::csrf::{refuse_cross_site, refuse_cross_site_login};
use crate::auth::gate::{Auth, Enrolling};
use crate::domain::{Secret, format_timestamp};
use crate::service::factors::is_pending_token;
use crate::service::{ServiceError, SignIn};

/// The body of `POST /auth_session/login`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = Login)]
pub struct LoginBody {
    /// The email address (spaces around it are not part of it).
    #[serde(default)]
    #[schema(value_type = String, min_length = 1, pattern = r"\S", required = true)]
    email: Field,
    /// The password, exactly as set.
    #[serde(default)]
    #[schema(value_type = String, min_length = 1, required = true)]
    password: Field,
}

/// `POST /auth_session/login`: a form or JSON with `email` and `password`.
#[utoipa::path(
    post,
    operation_id = "login",
    path = "/api/v1/auth_session/login",
    tag = "auth_session",
    summary = "Log in",
    description = "Starts a session and sets its cookie. A request that carries a session \
                   cookie ends that session (the token rotates). Failed logins are throttled \
                   per account, with growing delays (429); a throttled account cannot log in \
                   until the delay passes, even with the right password.",
    request_body(
        description = "`email` and `password`, as a form or as JSON",
        content(
            (LoginBody = "application/x-www-form-urlencoded"),
            (LoginBody = "multipart/form-data"),
            (LoginBody = "application/json"),
        ),
    ),
    responses(
        (status = 200, description = "Logged in (the user), or, for a user with a second \
                                      factor, `{\"mfa_required\": true, \"methods\": [...]}` \
                                      with the cookie of a pending sign-in that opens nothing \
                                      but `POST /auth_session/mfa` for 5 minutes",
            body = UserView,
            headers(("Set-Cookie" = String,
                description = "The session cookie: `_my_session_id=<token>; Path=/; HttpOnly; \
                               SameSite=Lax`, with `Max-Age` when sessions have a lifetime"))),
        (status = 400, description = "`email missing`, `password missing`, or a body that is \
                                      neither a form nor a JSON object", body = ErrorBody,
            example = json!({"error": "email missing"})),
        (status = 401, description = "Wrong email or password (one answer for both)",
            body = ErrorBody, example = json!({"error": "wrong email or password"})),
        (status = 403, description = "A login form submitted from another site, or a \
                                      cross-site request with a session cookie", body = ErrorBody),
        (status = 408, description = "The body did not arrive in time", body = ErrorBody),
        (status = 413, description = "The body is over 1 MiB", body = ErrorBody),
        (status = 429, description = "Too many failed logins for this account: try again later",
            body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait")),
            example = json!({"error": "Too many requests"})),
        (status = 503, description = "A store cannot be reached", body = ErrorBody),
    ),
)]
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
    let client = client_info(ip, &headers);
    match state
        .service
        .login(email, password, previous, client)
        .await?
    {
        SignIn::Done(user, token) => signed_in(&state.settings, &user, &token),
        SignIn::SecondFactor(token, methods) => mfa_required_response(&state, &token, methods),
    }
}

/// `DELETE /auth_session/logout`: ends the session server-side and expires the cookie.
#[utoipa::path(
    delete,
    operation_id = "logout",
    path = "/api/v1/auth_session/logout",
    tag = "auth_session",
    summary = "Log out",
    description = "Deletes the session server-side and expires the cookie. With the cookie of \
                   a sign-in waiting for its second factor, abandons that sign-in.",
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "Logged out", body = Empty,
            headers(("Set-Cookie" = String,
                description = "The session cookie, expired (`Max-Age=0`)"))),
        (status = 401, description = "No credentials", body = ErrorBody,
            example = json!({"error": "Unauthorized"})),
        (status = 403, description = "A session that does not resolve, or a cross-site request",
            body = ErrorBody, example = json!({"error": "Forbidden"})),
        (status = 503, description = "A store cannot be reached", body = ErrorBody),
    ),
)]
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    auth: Result<Enrolling, ApiError>,
) -> Result<Response, ApiError> {
    let cookie = session_cookie(&headers, &state.settings.session_name);
    if let Some(token) = cookie.filter(|t| is_pending_token(t)) {
        // A sign-in waiting for its second factor, abandoned.
        refuse_cross_site(&Method::DELETE, &headers, &state.settings)?;
        state.service.cancel_pending(token).await?;
        return empty_answer(&state.settings, true);
    }
    let Enrolling(auth) = auth?;
    state.service.logout(&auth).await?;
    empty_answer(&state.settings, true)
}

/// A session as `GET /users/me/sessions` shows it: a public handle, never the token or digest.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Session)]
struct SessionView<'a> {
    /// The session's public handle (for `DELETE /users/me/sessions/{id}`), never its token.
    id: &'a str,
    /// When the session started, UTC.
    #[schema(
        pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}$",
        example = "2024-01-01T00:00:00"
    )]
    created_at: String,
    /// When the session was last used, UTC (recorded at most once a minute).
    #[schema(
        pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}$",
        example = "2024-01-01T00:00:00"
    )]
    last_seen_at: String,
    /// When the session ends if nothing else ends it first, UTC; `null`: no expiry.
    #[schema(
        required = true,
        pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}$",
        example = "2024-01-02T00:00:00"
    )]
    expires_at: Option<String>,
    /// The client address that started the session.
    #[schema(required = true)]
    ip: Option<&'a str>,
    /// The client's `User-Agent` when the session started (at most 512 characters).
    #[schema(required = true)]
    user_agent: Option<&'a str>,
    /// Whether this is the session of the request.
    current: bool,
}

/// `GET /users/me/sessions`: the caller's live sessions, oldest first.
#[utoipa::path(
    get,
    operation_id = "list_my_sessions",
    path = "/api/v1/users/me/sessions",
    tag = "sessions",
    summary = "List one's own sessions",
    description = "The caller's live sessions, oldest first, the current one marked.",
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "The sessions", body = [SessionView]),
        (status = 401, description = "No credentials", body = ErrorBody,
            example = json!({"error": "Unauthorized"})),
        (status = 403, description = "A session that does not resolve", body = ErrorBody),
        (status = 503, description = "A store cannot be reached", body = ErrorBody),
    ),
)]
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
#[utoipa::path(
    delete,
    operation_id = "revoke_my_session",
    path = "/api/v1/users/me/sessions/{id}",
    tag = "sessions",
    summary = "End one of one's own sessions",
    params(("id" = String, Path, description = "The session's public handle (its `id`)")),
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "Ended", body = Empty,
            headers(("Set-Cookie" = String,
                description = "The session cookie, expired (`Max-Age=0`), when the session \
                               ended is the current one"))),
        (status = 400, description = "The id is not valid UTF-8", body = ErrorBody),
        (status = 401, description = "No credentials", body = ErrorBody,
            example = json!({"error": "Unauthorized"})),
        (status = 403, description = "A session that does not resolve, or a cross-site request",
            body = ErrorBody),
        (status = 404, description = "No such session of the caller", body = ErrorBody),
        (status = 503, description = "A store cannot be reached", body = ErrorBody),
    ),
)]
pub async fn revoke_mine(
    State(state): State<AppState>,
    Auth(auth): Auth,
    Id(id): Id,
) -> Result<Response, ApiError> {
    let was_current = state.service.revoke_my_session(&auth, &id).await?;
    empty_answer(&state.settings, was_current)
}

/// `DELETE /users/me/sessions`: ends every session of the caller but the current one.
#[utoipa::path(
    delete,
    operation_id = "revoke_my_other_sessions",
    path = "/api/v1/users/me/sessions",
    tag = "sessions",
    summary = "End all one's other sessions",
    description = "Every session of the caller but the current one ends.",
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "Ended", body = Empty),
        (status = 401, description = "No credentials", body = ErrorBody,
            example = json!({"error": "Unauthorized"})),
        (status = 403, description = "A session that does not resolve, or a cross-site request",
            body = ErrorBody),
        (status = 503, description = "A store cannot be reached", body = ErrorBody),
    ),
)]
pub async fn revoke_my_others(
    State(state): State<AppState>,
    Auth(auth): Auth,
) -> Result<Response, ApiError> {
    state.service.revoke_my_other_sessions(&auth).await?;
    empty_answer(&state.settings, false)
}

/// `DELETE /users/{id}/sessions`: an administrator ends every session of a user.
#[utoipa::path(
    delete,
    operation_id = "revoke_user_sessions",
    path = "/api/v1/users/{id}/sessions",
    tag = "sessions",
    summary = "End all of a user's sessions (administrators)",
    params(("id" = String, Path, description = "A user's id")),
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "Ended", body = Empty),
        (status = 400, description = "The id is not valid UTF-8", body = ErrorBody),
        (status = 401, description = "No credentials", body = ErrorBody,
            example = json!({"error": "Unauthorized"})),
        (status = 403, description = "Not an administrator, credentials that do not resolve, \
                                      or a cross-site request", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 503, description = "A store cannot be reached", body = ErrorBody),
    ),
)]
pub async fn revoke_all_of_user(
    State(state): State<AppState>,
    Auth(auth): Auth,
    Id(id): Id,
) -> Result<Response, ApiError> {
    state.service.revoke_sessions_as(&auth, &id).await?;
    empty_answer(&state.settings, false)
}
