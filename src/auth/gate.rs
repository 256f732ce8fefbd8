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
/// throttled.
pub struct Auth(pub Authenticated);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, ApiError> {
        let settings = &state.settings;
        let creds = credentials(parts, settings);
        if creds.session_token.is_some() {
            refuse_cross_site(&parts.method, &parts.headers, settings)?;
        }
        match state.service.authenticate(creds).await {
            Ok(auth) => Ok(Self(auth)),
            Err(ServiceError::NoCredentials) if settings.auth_type == AuthType::Basic => {
                Err(ApiError::Challenge(BASIC_CHALLENGE))
            }
            Err(e) => Err(e.into()),
        }
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
