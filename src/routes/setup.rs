//! `/setup`: the first administrator, made with the one-time setup link's token (first run).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{Field, JsonBody, client_info};
use super::state::AppState;
use super::view::{UserView, user_response, with_session_cookie};
use crate::auth::client::ClientIp;
use crate::auth::csrf::refuse_cross_site_login;
use crate::domain::Secret;
use crate::service::{NewUser, SetupDone};

/// The body of `POST /setup`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = Setup)]
pub struct SetupBody {
    /// The token of the one-time setup link (`/setup?token=...`) that `sesame serve` logs.
    #[serde(default)]
    #[schema(value_type = String, min_length = 1, required = true)]
    token: Field,
    /// The administrator's email address.
    #[serde(default)]
    #[schema(value_type = String, format = Email, max_length = 254, required = true)]
    email: Field,
    /// The administrator's password: at least 8 characters, at most 1024 bytes, not the email
    /// address.
    #[serde(default)]
    #[schema(value_type = String, min_length = 8, max_length = 1024, required = true)]
    password: Field,
    /// First name.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    first_name: Field,
    /// Last name.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    last_name: Field,
}

/// `POST /setup`: `token` from the setup link, and the administrator's `email`, `password` and
/// optional names. 201 with the user and, when sessions are used, a session cookie; 403 for a
/// wrong or used token, or once any administrator exists.
#[utoipa::path(
    post,
    operation_id = "create_first_admin",
    path = "/api/v1/setup",
    tag = "setup",
    summary = "Create the first administrator",
    description = "First run: with the token of the one-time setup link that `sesame serve` \
                   logs while no administrator exists, creates that administrator and signs \
                   them in.",
    request_body(content = SetupBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The administrator, signed in", body = UserView,
            headers(("Set-Cookie" = String, description = "The new session's cookie"))),
        (status = 400, description = "`Wrong format`, a field missing, or what the email or \
                                      the password breaks", body = ErrorBody),
        (status = 403, description = "A wrong or used token, an administrator exists already, \
                                      or a form submitted from another site", body = ErrorBody,
            example = json!({"error": "Forbidden"})),
        (status = 408, description = "The body did not arrive in time", body = ErrorBody),
        (status = 409, description = "The email is already registered", body = ErrorBody),
        (status = 413, description = "The body is over 1 MiB", body = ErrorBody),
        (status = 503, description = "A store cannot be reached", body = ErrorBody),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    JsonBody(body): JsonBody<SetupBody>,
) -> Result<Response, ApiError> {
    refuse_cross_site_login(&headers, &state.settings, false)?;
    let token = body.token.required("token")?;
    let new = NewUser {
        email: body.email.required("email")?,
        password: Secret::new(body.password.required("password")?),
        first_name: body.first_name.optional("first_name")?,
        last_name: body.last_name.optional("last_name")?,
        is_admin: true,
    };
    let SetupDone { user, token } = state
        .service
        .complete_setup(&token, new, client_info(ip, &headers))
        .await?;
    let resp = (StatusCode::CREATED, user_response(&user)).into_response();
    match token {
        Some(token) => with_session_cookie(&state.settings, resp, &token),
        None => Ok(resp),
    }
}
