//! The gate, as an extractor: turns a request's credentials into who it runs as.

use axum::extract::FromRequestParts;
use axum::http::{HeaderValue, header};

use super::basic::parse_basic;
use super::client::client_ip_of;
use super::cookie::session_cookie;
use super::csrf::refuse_cross_site;
use crate::config::AuthType;
use crate::routes::error::ApiError;
use crate::routes::state::AppState;
use crate::service::{Authenticated, Authorization, Credentials, ServiceError};

/// The gate, as an extractor: the user a protected request runs as.
///
/// First, a state-changing request that a browser marks as cross-site and that would act
/// through the session cookie is refused (403). Then the credentials must resolve to a user:
/// 401 with none at all, 403 when they do not resolve, 429 while Basic credentials are
/// throttled, 401 `second factor required` for a sign-in still waiting for its second factor,
/// and 403 `second factor enrolment required` for a session that may only enrol one
/// (`MFA_REQUIRED`).
pub struct Auth(pub Authenticated);

/// The gate of the routes that enrol a second factor (and logout): like [`Auth`], but a
/// session that may only enrol passes.
pub struct Enrolling(pub Authenticated);

async fn gate(
    parts: &axum::http::request::Parts,
    state: &AppState,
) -> Result<Authenticated, ApiError> {
    let settings = &state.settings;
    let creds = credentials(parts, settings);
    if creds.session_token.is_some() {
        refuse_cross_site(&parts.method, &parts.headers, settings)?;
    }
    match state.service.authenticate(creds).await {
        Ok(auth) => Ok(auth),
        Err(ServiceError::NoCredentials) if settings.auth_type == AuthType::Basic => {
            Err(ApiError::Challenge(BASIC_CHALLENGE))
        }
        Err(e) => Err(e.into()),
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, ApiError> {
        let auth = gate(parts, state).await?;
        if auth.enrol_only {
            return Err(ServiceError::EnrolmentRequired.into());
        }
        Ok(Self(auth))
    }
}

impl FromRequestParts<AppState> for Enrolling {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, ApiError> {
        gate(parts, state).await.map(Self)
    }
}

/// The token of a sign-in waiting for its second factor, from the session cookie (the only
/// credential `POST /auth_session/mfa` takes): 401 without one, 403 for any other token.
pub struct PendingToken(pub String);

impl FromRequestParts<AppState> for PendingToken {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, ApiError> {
        let settings = &state.settings;
        let Some(token) = session_cookie(&parts.headers, &settings.session_name) else {
            return Err(ServiceError::NoCredentials.into());
        };
        refuse_cross_site(&parts.method, &parts.headers, settings)?;
        if !crate::service::factors::is_pending_token(token) {
            return Err(ServiceError::Forbidden.into());
        }
        Ok(Self(token.to_owned()))
    }
}

/// The credentials a request carries, as `AUTH_TYPE` reads them.
pub fn credentials<'a>(
    parts: &'a axum::http::request::Parts,
    settings: &crate::config::Settings,
) -> Credentials<'a> {
    Credentials {
        authorization: authorization(parts, settings.auth_type),
        session_token: session_cookie(&parts.headers, &settings.session_name),
        client_ip: client_ip_of(parts, settings),
    }
}

/// The challenge a 401 carries under `basic_auth` (RFC 7617).
pub const BASIC_CHALLENGE: &str = "Basic realm=\"sesame\", charset=\"UTF-8\"";

/// The `Authorization` header as the service takes it: read as Basic credentials under
/// `basic_auth` only. An empty header is no credentials at all (401), as the original answers.
fn authorization(parts: &axum::http::request::Parts, auth_type: AuthType) -> Option<Authorization> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes)
        .filter(|v| !v.trim_ascii().is_empty())?;
    if auth_type != AuthType::Basic {
        return Some(Authorization::Other);
    }
    Some(match parse_basic(value) {
        Some((email, password)) => Authorization::Basic { email, password },
        None => Authorization::Other,
    })
}
