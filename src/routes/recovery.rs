//! Account recovery, e-mail verification and sign-up (`SMTP_URL` set; sign-up with
//! `SIGNUP=open`): `/auth_session/reset_password`, `/auth_session/verify_email`,
//! `/users/me/verify_email`, `/auth_session/signup`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{Field, JsonBody};
use super::state::AppState;
use super::view::{Empty, UserView, empty_answer, user_response};
use crate::auth::client::ClientIp;
use crate::auth::csrf::refuse_cross_site_login;
use crate::auth::gate::Auth;
use crate::domain::Secret;

/// The body of `POST /auth_session/reset_password`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = ResetRequest)]
pub struct ResetRequestBody {
    /// The account's email address.
    #[serde(default)]
    #[schema(value_type = String, min_length = 1, pattern = r"\S", required = true)]
    email: Field,
}

/// The body of `PUT /auth_session/reset_password`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = PasswordReset)]
pub struct ResetBody {
    /// The token of the mailed link.
    #[serde(default)]
    #[schema(value_type = String, min_length = 1, required = true)]
    token: Field,
    /// The new password: at least 8 characters, at most 1024 bytes, not the email.
    #[serde(default)]
    #[schema(value_type = String, min_length = 8, max_length = 1024, required = true)]
    new_password: Field,
}

/// The body of `PUT /auth_session/verify_email`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = EmailVerification)]
pub struct VerifyBody {
    /// The token of the mailed link.
    #[serde(default)]
    #[schema(value_type = String, min_length = 1, required = true)]
    token: Field,
}

/// The body of `POST /auth_session/signup`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = Signup)]
pub struct SignupBody {
    /// The email address.
    #[serde(default)]
    #[schema(value_type = String, format = Email, max_length = 254, required = true)]
    email: Field,
    /// The password: at least 8 characters, at most 1024 bytes, not the email.
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

fn accepted() -> Response {
    (StatusCode::ACCEPTED, Json(Empty {})).into_response()
}

/// `POST /auth_session/reset_password`.
#[utoipa::path(
    post,
    operation_id = "request_password_reset",
    path = "/api/v1/auth_session/reset_password",
    tag = "recovery",
    summary = "Ask for a password-reset link",
    description = "Mails `PUBLIC_URL/reset?token=...` to the account, if there is one: the answer \
                   is the same, in the same time, either way. The link works once, for 15 \
                   minutes; a newer one or a password change voids it. Requests are throttled \
                   per email and per client address.",
    request_body(content = ResetRequestBody, content_type = "application/json"),
    responses(
        (status = 202, description = "Accepted (whatever the email)", body = Empty),
        (status = 400, description = "`email missing`", body = ErrorBody),
        (status = 403, description = "A form submitted from another site", body = ErrorBody),
        (status = 404, description = "No mail: `SMTP_URL` is not set", body = ErrorBody),
        (status = 429, description = "Too many requests for this email or address",
            body = ErrorBody),
        (status = 503, description = "A store cannot be reached", body = ErrorBody),
    ),
)]
pub async fn request_password_reset(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    JsonBody(body): JsonBody<ResetRequestBody>,
) -> Result<Response, ApiError> {
    refuse_cross_site_login(&headers, &state.settings, false)?;
    let email = body.email.required("email")?;
    let email = email.trim();
    if email.is_empty() {
        return Err(ApiError::invalid("email missing"));
    }
    let ip = ip.map(|ip| ip.to_string());
    state
        .service
        .request_password_reset(email, ip.as_deref())
        .await?;
    Ok(accepted())
}

/// `PUT /auth_session/reset_password`.
#[utoipa::path(
    put,
    operation_id = "reset_password",
    path = "/api/v1/auth_session/reset_password",
    tag = "recovery",
    summary = "Set a new password with a mailed link",
    description = "Every session of the user ends; a second factor is still asked for at the \
                   next sign-in.",
    request_body(content = ResetBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The password is changed", body = Empty),
        (status = 400, description = "A link that was used, replaced or is too old, or a \
                                      password the policy refuses", body = ErrorBody),
        (status = 403, description = "A form submitted from another site", body = ErrorBody),
        (status = 404, description = "No mail: `SMTP_URL` is not set", body = ErrorBody),
        (status = 503, description = "A store cannot be reached", body = ErrorBody),
    ),
)]
pub async fn reset_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<ResetBody>,
) -> Result<Response, ApiError> {
    refuse_cross_site_login(&headers, &state.settings, false)?;
    let token = body.token.required("token")?;
    let password = Secret::new(body.new_password.required("new_password")?);
    state.service.reset_password(&token, password).await?;
    empty_answer(&state.settings, false)
}

/// `POST /users/me/verify_email`.
#[utoipa::path(
    post,
    operation_id = "request_email_verification",
    path = "/api/v1/users/me/verify_email",
    tag = "recovery",
    summary = "Mail oneself a verification link",
    security(("session_cookie" = [])),
    responses(
        (status = 202, description = "The link is on its way", body = Empty),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 403, description = "Credentials that do not resolve, or a cross-site request",
            body = ErrorBody),
        (status = 404, description = "No mail: `SMTP_URL` is not set", body = ErrorBody),
        (status = 429, description = "Too many requests", body = ErrorBody),
        (status = 503, description = "A store cannot be reached", body = ErrorBody),
    ),
)]
pub async fn request_email_verification(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Auth(auth): Auth,
) -> Result<Response, ApiError> {
    let ip = ip.map(|ip| ip.to_string());
    state
        .service
        .request_verification(&auth, ip.as_deref())
        .await?;
    Ok(accepted())
}

/// `PUT /auth_session/verify_email`.
#[utoipa::path(
    put,
    operation_id = "verify_email",
    path = "/api/v1/auth_session/verify_email",
    tag = "recovery",
    summary = "Verify an e-mail address with a mailed link",
    description = "An account made by sign-up signs in once this is done.",
    request_body(content = VerifyBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Verified: the user", body = UserView),
        (status = 400, description = "A link that was used, replaced or is too old",
            body = ErrorBody),
        (status = 404, description = "No mail: `SMTP_URL` is not set", body = ErrorBody),
        (status = 503, description = "A store cannot be reached", body = ErrorBody),
    ),
)]
pub async fn verify_email(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<VerifyBody>,
) -> Result<Response, ApiError> {
    let token = body.token.required("token")?;
    let user = state.service.verify_email(&token).await?;
    Ok(user_response(&user))
}

/// `POST /auth_session/signup`.
#[utoipa::path(
    post,
    operation_id = "signup",
    path = "/api/v1/auth_session/signup",
    tag = "recovery",
    summary = "Create an account (SIGNUP=open)",
    description = "Answers the same, in the same time, whether or not the email is taken: a new \
                   address gets a verification link, a taken one a \"you already have an \
                   account\" mail. The account signs in once its address is verified.",
    request_body(content = SignupBody, content_type = "application/json"),
    responses(
        (status = 202, description = "Accepted (whatever the email)", body = Empty),
        (status = 400, description = "`email missing`, `invalid email`, or a password the \
                                      policy refuses", body = ErrorBody),
        (status = 403, description = "A form submitted from another site", body = ErrorBody),
        (status = 404, description = "Sign-up is off (`SIGNUP`), or there is no mail",
            body = ErrorBody),
        (status = 429, description = "Too many requests for this email or address",
            body = ErrorBody),
        (status = 503, description = "A store cannot be reached", body = ErrorBody),
    ),
)]
pub async fn signup(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    JsonBody(body): JsonBody<SignupBody>,
) -> Result<Response, ApiError> {
    refuse_cross_site_login(&headers, &state.settings, false)?;
    let email = body.email.required("email")?;
    let password = Secret::new(body.password.required("password")?);
    let names = (
        body.first_name.optional("first_name")?,
        body.last_name.optional("last_name")?,
    );
    let ip = ip.map(|ip| ip.to_string());
    state
        .service
        .signup(email.trim(), password, names, ip.as_deref())
        .await?;
    Ok(accepted())
}
