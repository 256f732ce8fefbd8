//! Second factors and step-up: TOTP and recovery codes (`/users/me/totp`,
//! `/users/me/recovery_codes`), passkeys (`/users/me/passkeys`, `/auth_session/passkey`), the
//! second-factor step of a sign-in (`/auth_session/mfa`), re-authentication
//! (`/auth_session/reauth`) and an administrator's reset (`/users/{id}/mfa`).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{Field, Id, JsonBody, client_info};
use super::state::AppState;
use super::view::{Empty, UserView, empty_answer, signed_in, with_session_cookie};
use crate::auth::client::ClientIp;
use crate::auth::cookie::session_cookie;
use crate::auth::csrf::refuse_cross_site_login;
use crate::auth::gate::{Auth, Enrolling, PendingToken};
use crate::domain::{Secret, format_timestamp};
use crate::service::factors::StoredPasskey;
use crate::service::{SecondFactor, ServiceError, credential};

/// The body of the code routes: a TOTP `code` (or, in the second-factor step, a
/// `recovery_code` instead).
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = Code)]
pub struct CodeBody {
    /// A 6-digit TOTP code.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "123456")]
    code: Field,
    /// A recovery code (`xxxx-xxxx-xxxx-xxxx`), in the second-factor step only.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    recovery_code: Field,
}

/// The body of `POST /auth_session/reauth`: one credential.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = Reauth)]
pub struct ReauthBody {
    /// The password.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    password: Field,
    /// A TOTP code.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    code: Field,
    /// A passkey's answer to `POST /auth_session/reauth/passkey/start`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    credential: Option<Value>,
}

/// A browser's answer to a passkey ceremony (`PublicKeyCredential` as JSON).
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = PasskeyAnswer)]
pub struct CredentialBody {
    /// The credential, as `navigator.credentials` returned it, binary fields in base64url.
    #[serde(default)]
    #[schema(value_type = Object)]
    credential: Option<Value>,
}

/// The body of `POST /users/me/passkeys/register/finish`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = NewPasskey)]
pub struct NewPasskeyBody {
    /// A name for the passkey ("laptop", "phone"), at most 64 characters.
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 64)]
    name: Field,
    /// The credential `navigator.credentials.create()` returned, binary fields in base64url.
    #[serde(default)]
    #[schema(value_type = Object)]
    credential: Option<Value>,
}

/// The start of a TOTP enrolment.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TotpEnrolment)]
struct TotpView {
    /// The shared secret, base32 (to type into an app by hand).
    secret: String,
    /// The `otpauth://totp/...` URI.
    otpauth_uri: String,
    /// The URI as a QR code, an SVG document.
    qr_svg: String,
}

/// A new set of recovery codes, shown this once.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = RecoveryCodes)]
struct RecoveryCodesView {
    /// Ten single-use codes.
    recovery_codes: Vec<String>,
}

/// A passkey as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Passkey)]
struct PasskeyView<'a> {
    /// The passkey's id (for `DELETE /users/me/passkeys/{id}`).
    id: &'a str,
    /// Its name.
    name: &'a str,
    /// When it was registered, UTC.
    created_at: String,
    /// When it last signed in, UTC; `null`: never.
    #[schema(required = true)]
    last_used_at: Option<String>,
}

impl<'a> From<&'a StoredPasskey> for PasskeyView<'a> {
    fn from(p: &'a StoredPasskey) -> Self {
        Self {
            id: &p.id,
            name: &p.name,
            created_at: format_timestamp(p.created_at),
            last_used_at: p.last_used_at.map(format_timestamp),
        }
    }
}

/// The answer of a login whose password was right when a second factor is awaited.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SecondFactorRequired)]
pub struct MfaRequiredView {
    /// Always `true`.
    mfa_required: bool,
    /// How the sign-in can be finished: `totp`, `passkey`, `recovery_code`.
    methods: Vec<&'static str>,
}

/// When the session's credential was last presented.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Reauthenticated)]
struct ReauthView {
    /// UTC.
    authenticated_at: String,
}

/// The answer to a pending sign-in: `{"mfa_required": true, "methods"}` and its cookie.
pub fn mfa_required_response(
    state: &AppState,
    token: &Secret,
    methods: Vec<&'static str>,
) -> Result<Response, ApiError> {
    let resp = Json(MfaRequiredView {
        mfa_required: true,
        methods,
    })
    .into_response();
    with_session_cookie(&state.settings, resp, token)
}

fn answer<T: for<'de> Deserialize<'de>>(value: Option<Value>) -> Result<T, ApiError> {
    let value = value.ok_or_else(|| ApiError::invalid("credential missing"))?;
    Ok(credential(&value)?)
}

/// A user's second factors, as they see them.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SecondFactors)]
struct FactorsView {
    /// Whether TOTP (an authenticator app) is on.
    totp: bool,
    /// Whether a TOTP enrolment waits for its first code.
    totp_pending: bool,
    /// How many passkeys are registered.
    passkeys: usize,
    /// How many unused recovery codes are left.
    recovery_codes_left: usize,
    /// How a sign-in can be finished: `totp`, `passkey`, `recovery_code`.
    methods: Vec<&'static str>,
}

/// `GET /users/me/mfa`.
#[utoipa::path(
    get,
    operation_id = "my_second_factors",
    path = "/api/v1/users/me/mfa",
    tag = "second factors",
    summary = "One's second factors",
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "What the caller has", body = FactorsView),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 403, description = "Credentials that do not resolve", body = ErrorBody),
        (status = 503, description = "A store cannot be reached", body = ErrorBody),
    ),
)]
pub async fn my_second_factors(
    State(state): State<AppState>,
    Enrolling(auth): Enrolling,
) -> Result<Response, ApiError> {
    let f = state.service.my_factors(&auth).await?;
    Ok(Json(FactorsView {
        totp: f.totp.is_some(),
        totp_pending: f.totp_pending.is_some(),
        passkeys: f.passkeys.len(),
        recovery_codes_left: f.recovery.len(),
        methods: f.methods(),
    })
    .into_response())
}

/// `POST /users/me/totp`.
#[utoipa::path(
    post,
    operation_id = "start_totp",
    path = "/api/v1/users/me/totp",
    tag = "second factors",
    summary = "Start a TOTP enrolment",
    description = "A new TOTP secret, pending until `POST /users/me/totp/confirm` (a pending one \
                   is replaced). Needs a fresh session (`REAUTH_MAX_AGE`).",
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "The secret, its URI and QR code", body = TotpView),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 403, description = "Credentials that do not resolve, a cross-site request, \
                                      or `reauthentication required`", body = ErrorBody),
        (status = 409, description = "TOTP is already enabled", body = ErrorBody),
        (status = 503, description = "A store cannot be reached", body = ErrorBody),
    ),
)]
pub async fn start_totp(
    State(state): State<AppState>,
    Enrolling(auth): Enrolling,
) -> Result<Response, ApiError> {
    let e = state.service.start_totp(&auth).await?;
    Ok(Json(TotpView {
        secret: e.secret,
        otpauth_uri: e.otpauth_uri,
        qr_svg: e.qr_svg,
    })
    .into_response())
}

/// `POST /users/me/totp/confirm`.
#[utoipa::path(
    post,
    operation_id = "confirm_totp",
    path = "/api/v1/users/me/totp/confirm",
    tag = "second factors",
    summary = "Confirm a TOTP enrolment",
    description = "The first code from the app enables TOTP. Answers ten recovery codes, shown \
                   this once; every other session of the user ends.",
    security(("session_cookie" = [])),
    request_body(content = CodeBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Enabled", body = RecoveryCodesView),
        (status = 400, description = "`code missing`, or a body that is not a JSON object",
            body = ErrorBody),
        (status = 401, description = "No credentials, or `wrong code`", body = ErrorBody),
        (status = 403, description = "Credentials that do not resolve, a cross-site request, \
                                      or `reauthentication required`", body = ErrorBody),
        (status = 409, description = "No TOTP enrolment to confirm", body = ErrorBody),
        (status = 503, description = "A store cannot be reached", body = ErrorBody),
    ),
)]
pub async fn confirm_totp(
    State(state): State<AppState>,
    Enrolling(auth): Enrolling,
    JsonBody(body): JsonBody<CodeBody>,
) -> Result<Response, ApiError> {
    let code = body.code.required("code")?;
    let codes = state.service.confirm_totp(&auth, &code).await?;
    Ok(Json(RecoveryCodesView {
        recovery_codes: codes,
    })
    .into_response())
}

/// `DELETE /users/me/totp`.
#[utoipa::path(
    delete,
    operation_id = "remove_totp",
    path = "/api/v1/users/me/totp",
    tag = "second factors",
    summary = "Remove TOTP",
    description = "Needs a fresh session. With no second factor left, the recovery codes go too.",
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "Removed", body = Empty),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 403, description = "Credentials that do not resolve, a cross-site request, \
                                      or `reauthentication required`", body = ErrorBody),
        (status = 404, description = "TOTP is not enabled", body = ErrorBody),
        (status = 503, description = "A store cannot be reached", body = ErrorBody),
    ),
)]
pub async fn remove_totp(
    State(state): State<AppState>,
    Auth(auth): Auth,
) -> Result<Response, ApiError> {
    state.service.remove_totp(&auth).await?;
    empty_answer(&state.settings, false)
}

/// `POST /users/me/recovery_codes`.
#[utoipa::path(
    post,
    operation_id = "renew_recovery_codes",
    path = "/api/v1/users/me/recovery_codes",
    tag = "second factors",
    summary = "Make a new set of recovery codes",
    description = "Ten new single-use codes, shown this once; the old ones stop working. Needs \
                   a second factor and a fresh session.",
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "The new codes", body = RecoveryCodesView),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 403, description = "Credentials that do not resolve, a cross-site request, \
                                      or `reauthentication required`", body = ErrorBody),
        (status = 409, description = "No second factor yet", body = ErrorBody),
        (status = 503, description = "A store cannot be reached", body = ErrorBody),
    ),
)]
pub async fn renew_recovery_codes(
    State(state): State<AppState>,
    Auth(auth): Auth,
) -> Result<Response, ApiError> {
    let codes = state.service.new_recovery_codes(&auth).await?;
    Ok(Json(RecoveryCodesView {
        recovery_codes: codes,
    })
    .into_response())
}

/// `POST /users/me/passkeys/register/start`.
#[utoipa::path(
    post,
    operation_id = "start_passkey_registration",
    path = "/api/v1/users/me/passkeys/register/start",
    tag = "passkeys",
    summary = "Start registering a passkey",
    description = "Options for `navigator.credentials.create()` (binary fields in base64url). \
                   Needs a fresh session; the ceremony lasts 5 minutes.",
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "Creation options (`{\"publicKey\": {...}}`)",
            body = Object),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 403, description = "Credentials that do not resolve, a cross-site request, \
                                      or `reauthentication required`", body = ErrorBody),
        (status = 503, description = "A store cannot be reached", body = ErrorBody),
    ),
)]
pub async fn start_passkey_registration(
    State(state): State<AppState>,
    Enrolling(auth): Enrolling,
) -> Result<Response, ApiError> {
    let options = state.service.start_passkey_registration(&auth).await?;
    Ok(Json(options).into_response())
}

/// `POST /users/me/passkeys/register/finish`.
#[utoipa::path(
    post,
    operation_id = "finish_passkey_registration",
    path = "/api/v1/users/me/passkeys/register/finish",
    tag = "passkeys",
    summary = "Finish registering a passkey",
    security(("session_cookie" = [])),
    request_body(content = NewPasskeyBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Registered", body = PasskeyView),
        (status = 400, description = "`credential missing`, a credential that does not verify, \
                                      or no ceremony for it", body = ErrorBody),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 403, description = "Credentials that do not resolve, a cross-site request, \
                                      or `reauthentication required`", body = ErrorBody),
        (status = 409, description = "The passkey is registered already", body = ErrorBody),
        (status = 503, description = "A store cannot be reached", body = ErrorBody),
    ),
)]
pub async fn finish_passkey_registration(
    State(state): State<AppState>,
    Enrolling(auth): Enrolling,
    JsonBody(body): JsonBody<NewPasskeyBody>,
) -> Result<Response, ApiError> {
    let name = body.name.optional("name")?.unwrap_or_default();
    let name = name.trim();
    let name = if name.is_empty() { "passkey" } else { name };
    if name.chars().count() > 64 {
        return Err(ApiError::invalid("name too long (at most 64 characters)"));
    }
    let answer = answer(body.credential)?;
    let stored = state
        .service
        .finish_passkey_registration(&auth, name, &answer)
        .await?;
    Ok((StatusCode::CREATED, Json(PasskeyView::from(&stored))).into_response())
}

/// `GET /users/me/passkeys`.
#[utoipa::path(
    get,
    operation_id = "list_passkeys",
    path = "/api/v1/users/me/passkeys",
    tag = "passkeys",
    summary = "List one's passkeys",
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "The passkeys, oldest first", body = [PasskeyView]),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 403, description = "Credentials that do not resolve", body = ErrorBody),
        (status = 503, description = "A store cannot be reached", body = ErrorBody),
    ),
)]
pub async fn list_passkeys(
    State(state): State<AppState>,
    Enrolling(auth): Enrolling,
) -> Result<Response, ApiError> {
    let list = state.service.my_passkeys(&auth).await?;
    let views: Vec<PasskeyView<'_>> = list.iter().map(PasskeyView::from).collect();
    Ok(Json(views).into_response())
}

/// `DELETE /users/me/passkeys/{id}`.
#[utoipa::path(
    delete,
    operation_id = "remove_passkey",
    path = "/api/v1/users/me/passkeys/{id}",
    tag = "passkeys",
    summary = "Remove a passkey",
    description = "Needs a fresh session.",
    params(("id" = String, Path, description = "The passkey's id")),
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "Removed", body = Empty),
        (status = 400, description = "The id is not valid UTF-8", body = ErrorBody),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 403, description = "Credentials that do not resolve, a cross-site request, \
                                      or `reauthentication required`", body = ErrorBody),
        (status = 404, description = "No such passkey of the caller", body = ErrorBody),
        (status = 503, description = "A store cannot be reached", body = ErrorBody),
    ),
)]
pub async fn remove_passkey(
    State(state): State<AppState>,
    Auth(auth): Auth,
    Id(id): Id,
) -> Result<Response, ApiError> {
    state.service.remove_passkey(&auth, &id).await?;
    empty_answer(&state.settings, false)
}

/// `POST /auth_session/passkey/start`.
#[utoipa::path(
    post,
    operation_id = "start_passkey_sign_in",
    path = "/api/v1/auth_session/passkey/start",
    tag = "auth_session",
    summary = "Start signing in with a passkey",
    description = "Options for `navigator.credentials.get()`; any passkey of any user may \
                   answer (discoverable credentials). The ceremony lasts 5 minutes.",
    responses(
        (status = 200, description = "Request options (`{\"publicKey\": {...}}`)", body = Object),
        (status = 404, description = "This `AUTH_TYPE` has no sessions", body = ErrorBody),
        (status = 429, description = "Too many ceremonies started from this address",
            body = ErrorBody),
        (status = 503, description = "A store cannot be reached", body = ErrorBody),
    ),
)]
pub async fn start_passkey_sign_in(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
) -> Result<Response, ApiError> {
    if !state.settings.auth_type.uses_sessions() {
        return Err(ServiceError::NotFound.into());
    }
    let ip = ip.map(|ip| ip.to_string());
    let options = state.service.start_passkey_sign_in(ip.as_deref()).await?;
    Ok(Json(options).into_response())
}

/// `POST /auth_session/passkey/finish`.
#[utoipa::path(
    post,
    operation_id = "finish_passkey_sign_in",
    path = "/api/v1/auth_session/passkey/finish",
    tag = "auth_session",
    summary = "Sign in with a passkey",
    description = "A passkey's answer starts a session and sets its cookie (a passkey with its \
                   PIN or biometric is two factors). A cookie sent with it ends that session.",
    request_body(content = CredentialBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Signed in", body = UserView,
            headers(("Set-Cookie" = String, description = "The session cookie"))),
        (status = 400, description = "`credential missing`, or no ceremony for it",
            body = ErrorBody),
        (status = 401, description = "`wrong code`: the passkey is unknown or did not verify",
            body = ErrorBody),
        (status = 403, description = "A cross-site request", body = ErrorBody),
        (status = 404, description = "This `AUTH_TYPE` has no sessions", body = ErrorBody),
        (status = 429, description = "Too many failures for this account", body = ErrorBody),
        (status = 503, description = "A store cannot be reached", body = ErrorBody),
    ),
)]
pub async fn finish_passkey_sign_in(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    JsonBody(body): JsonBody<CredentialBody>,
) -> Result<Response, ApiError> {
    if !state.settings.auth_type.uses_sessions() {
        return Err(ServiceError::NotFound.into());
    }
    let previous = session_cookie(&headers, &state.settings.session_name);
    refuse_cross_site_login(&headers, &state.settings, previous.is_some())?;
    let answer = answer(body.credential)?;
    let client = client_info(ip, &headers);
    let (user, token) = state
        .service
        .finish_passkey_sign_in(&answer, previous, client)
        .await?;
    signed_in(&state.settings, &user, &token)
}

/// `POST /auth_session/mfa`.
#[utoipa::path(
    post,
    operation_id = "second_factor",
    path = "/api/v1/auth_session/mfa",
    tag = "auth_session",
    summary = "Finish a sign-in with a second factor",
    description = "With the cookie of a login that answered `mfa_required`: a TOTP `code` or a \
                   `recovery_code` (which then burns). Success ends the pending sign-in and \
                   starts a session with a new token. Wrong codes are throttled per account \
                   like wrong passwords; the pending sign-in lasts 5 minutes.",
    security(("session_cookie" = [])),
    request_body(content = CodeBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Signed in", body = UserView,
            headers(("Set-Cookie" = String, description = "The new session cookie"))),
        (status = 400, description = "`code missing`", body = ErrorBody),
        (status = 401, description = "No pending sign-in cookie, or `wrong code`",
            body = ErrorBody),
        (status = 403, description = "A cookie that is not a live pending sign-in, or a \
                                      cross-site request", body = ErrorBody),
        (status = 429, description = "Too many wrong codes for this account", body = ErrorBody),
        (status = 503, description = "A store cannot be reached", body = ErrorBody),
    ),
)]
pub async fn second_factor(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    PendingToken(token): PendingToken,
    JsonBody(body): JsonBody<CodeBody>,
) -> Result<Response, ApiError> {
    let factor = match (
        body.code.optional("code")?,
        body.recovery_code.optional("recovery_code")?,
    ) {
        (Some(code), _) if !code.is_empty() => SecondFactor::Totp(code),
        (_, Some(code)) if !code.is_empty() => SecondFactor::Recovery(code),
        _ => return Err(ApiError::invalid("code missing")),
    };
    let ip = ip.map(|ip| ip.to_string());
    let (user, token) = state
        .service
        .finish_sign_in(&token, factor, ip.as_deref())
        .await?;
    signed_in(&state.settings, &user, &token)
}

/// `POST /auth_session/mfa/passkey/start`.
#[utoipa::path(
    post,
    operation_id = "start_second_factor_passkey",
    path = "/api/v1/auth_session/mfa/passkey/start",
    tag = "auth_session",
    summary = "Start the second factor with a passkey",
    description = "Options for `navigator.credentials.get()` limited to the user's passkeys, \
                   for the pending sign-in of the cookie.",
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "Request options", body = Object),
        (status = 401, description = "No pending sign-in cookie", body = ErrorBody),
        (status = 403, description = "A cookie that is not a live pending sign-in",
            body = ErrorBody),
        (status = 409, description = "The user has no passkey", body = ErrorBody),
        (status = 503, description = "A store cannot be reached", body = ErrorBody),
    ),
)]
pub async fn start_second_factor_passkey(
    State(state): State<AppState>,
    PendingToken(token): PendingToken,
) -> Result<Response, ApiError> {
    let options = state.service.start_second_factor_passkey(&token).await?;
    Ok(Json(options).into_response())
}

/// `POST /auth_session/mfa/passkey/finish`.
#[utoipa::path(
    post,
    operation_id = "finish_second_factor_passkey",
    path = "/api/v1/auth_session/mfa/passkey/finish",
    tag = "auth_session",
    summary = "Finish a sign-in with a passkey as the second factor",
    security(("session_cookie" = [])),
    request_body(content = CredentialBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Signed in", body = UserView,
            headers(("Set-Cookie" = String, description = "The new session cookie"))),
        (status = 400, description = "`credential missing`, or no ceremony for it",
            body = ErrorBody),
        (status = 401, description = "No pending sign-in cookie, or `wrong code`",
            body = ErrorBody),
        (status = 403, description = "A cookie that is not a live pending sign-in",
            body = ErrorBody),
        (status = 429, description = "Too many failures for this account", body = ErrorBody),
        (status = 503, description = "A store cannot be reached", body = ErrorBody),
    ),
)]
pub async fn finish_second_factor_passkey(
    State(state): State<AppState>,
    PendingToken(token): PendingToken,
    JsonBody(body): JsonBody<CredentialBody>,
) -> Result<Response, ApiError> {
    let answer = answer(body.credential)?;
    let (user, token) = state
        .service
        .finish_second_factor_passkey(&token, &answer)
        .await?;
    signed_in(&state.settings, &user, &token)
}

/// `POST /auth_session/reauth`.
#[utoipa::path(
    post,
    operation_id = "reauthenticate",
    path = "/api/v1/auth_session/reauth",
    tag = "auth_session",
    summary = "Re-authenticate the session",
    description = "Presents a credential again (`password`, a TOTP `code`, or a passkey \
                   `credential` answering `POST /auth_session/reauth/passkey/start`), so that \
                   sensitive actions are allowed for `REAUTH_MAX_AGE` seconds.",
    security(("session_cookie" = [])),
    request_body(content = ReauthBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Refreshed", body = ReauthView),
        (status = 400, description = "`password or code missing`", body = ErrorBody),
        (status = 401, description = "No credentials, or `wrong code`", body = ErrorBody),
        (status = 403, description = "`wrong current password`, credentials that do not \
                                      resolve, or a cross-site request", body = ErrorBody),
        (status = 429, description = "Too many failures for this account", body = ErrorBody),
        (status = 503, description = "A store cannot be reached", body = ErrorBody),
    ),
)]
pub async fn reauthenticate(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Enrolling(auth): Enrolling,
    JsonBody(body): JsonBody<ReauthBody>,
) -> Result<Response, ApiError> {
    let at = if let Some(value) = body.credential {
        let answer = credential(&value)?;
        state
            .service
            .reauthenticate_with_passkey(&auth, &answer)
            .await?
    } else {
        let password = body.password.optional("password")?.map(Secret::new);
        let code = body.code.optional("code")?;
        let ip = ip.map(|ip| ip.to_string());
        state
            .service
            .reauthenticate(&auth, password, code.as_deref(), ip.as_deref())
            .await?
    };
    Ok(Json(ReauthView {
        authenticated_at: format_timestamp(at),
    })
    .into_response())
}

/// `POST /auth_session/reauth/passkey/start`.
#[utoipa::path(
    post,
    operation_id = "start_reauth_passkey",
    path = "/api/v1/auth_session/reauth/passkey/start",
    tag = "auth_session",
    summary = "Start re-authenticating with a passkey",
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "Request options", body = Object),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 403, description = "Credentials that do not resolve", body = ErrorBody),
        (status = 409, description = "The user has no passkey", body = ErrorBody),
        (status = 503, description = "A store cannot be reached", body = ErrorBody),
    ),
)]
pub async fn start_reauth_passkey(
    State(state): State<AppState>,
    Enrolling(auth): Enrolling,
) -> Result<Response, ApiError> {
    let options = state.service.start_reauth_passkey(&auth).await?;
    Ok(Json(options).into_response())
}

/// `DELETE /users/{id}/mfa`.
#[utoipa::path(
    delete,
    operation_id = "reset_user_mfa",
    path = "/api/v1/users/{id}/mfa",
    tag = "second factors",
    summary = "Remove a user's second factors (administrators)",
    description = "Removes the user's TOTP, passkeys and recovery codes and ends their \
                   sessions. Needs a fresh session.",
    params(("id" = String, Path, description = "A user's id")),
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "Reset", body = Empty),
        (status = 400, description = "The id is not valid UTF-8", body = ErrorBody),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 403, description = "Not an administrator, credentials that do not resolve, \
                                      a cross-site request, or `reauthentication required`",
            body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 503, description = "A store cannot be reached", body = ErrorBody),
    ),
)]
pub async fn reset_user_mfa(
    State(state): State<AppState>,
    Auth(auth): Auth,
    Id(id): Id,
) -> Result<Response, ApiError> {
    state.service.reset_mfa_as(&auth, &id).await?;
    empty_answer(&state.settings, false)
}
