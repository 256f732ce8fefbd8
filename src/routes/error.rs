//! The only place where a failure becomes an HTTP status: [`ApiError`] holds the service's
//! refusals and the HTTP layer's own (a body that cannot be read, a wrong method), and one
//! exhaustive `match` turns each into a status and a `{"error": ...}` body.
//!
//! 4xx messages say what was wrong (and may carry a `detail`); 5xx bodies stay generic and the
//! cause is logged inside the request's span.

use std::borrow::Cow;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::service::ServiceError;
use crate::store::StoreError;

/// An answer other than success.
#[derive(Debug)]
pub enum ApiError {
    /// What the service refused or failed with.
    Service(ServiceError),
    /// 401 with a challenge (`WWW-Authenticate`) for the scheme in use.
    Challenge(&'static str),
    /// 400 for a body that cannot be read as what the route takes: `error` is the message the
    /// original's clients match on, `detail` says what was expected.
    Body {
        /// The `error` text.
        error: &'static str,
        /// The `detail` text.
        detail: Cow<'static, str>,
    },
    /// 400 for a path parameter that is not valid UTF-8.
    Path,
    /// 404 for a route that does not exist.
    NoRoute,
    /// 405 for a known route asked with another method.
    MethodNotAllowed,
    /// 408: the body did not arrive within `BODY_READ_TIMEOUT`.
    RequestTimeout,
    /// 413: the body is over the limit.
    PayloadTooLarge,
}

impl ApiError {
    /// 400 `Wrong format` with a `detail`.
    pub fn wrong_format(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::Body {
            error: "Wrong format",
            detail: detail.into(),
        }
    }

    /// 400 with this message and no detail (a field that is missing or of the wrong type).
    pub fn invalid(msg: impl Into<Cow<'static, str>>) -> Self {
        Self::Service(ServiceError::Invalid(msg.into()))
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        Self::Service(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::Service(e.into())
    }
}

/// Status, `error` text, and an optional `detail`, for every error there is.
fn parts(e: &ApiError) -> (StatusCode, Cow<'_, str>, Option<&str>) {
    use ServiceError as S;
    let plain = |status, msg: &'static str| (status, Cow::Borrowed(msg), None);
    match e {
        ApiError::Service(s) => match s {
            S::Invalid(msg) => (StatusCode::BAD_REQUEST, Cow::Borrowed(msg.as_ref()), None),
            S::NoCredentials => plain(StatusCode::UNAUTHORIZED, "Unauthorized"),
            S::WrongCredentials => plain(StatusCode::UNAUTHORIZED, "wrong email or password"),
            S::Forbidden => plain(StatusCode::FORBIDDEN, "Forbidden"),
            S::WrongCurrentPassword => plain(StatusCode::FORBIDDEN, "wrong current password"),
            S::NotFound => plain(StatusCode::NOT_FOUND, "Not found"),
            S::WrongCode => plain(StatusCode::UNAUTHORIZED, "wrong code"),
            S::SecondFactorRequired => plain(StatusCode::UNAUTHORIZED, "second factor required"),
            S::EnrolmentRequired => {
                plain(StatusCode::FORBIDDEN, "second factor enrolment required")
            }
            S::ReauthRequired => plain(StatusCode::FORBIDDEN, "reauthentication required"),
            S::Conflict(msg) => plain(StatusCode::CONFLICT, msg),
            S::Throttled { .. } => plain(StatusCode::TOO_MANY_REQUESTS, "Too many requests"),
            S::Store(StoreError::Conflict) => {
                plain(StatusCode::CONFLICT, "email already registered")
            }
            S::Store(StoreError::Unavailable(_)) => {
                plain(StatusCode::SERVICE_UNAVAILABLE, "Service unavailable")
            }
            S::Store(StoreError::Other(_)) | S::Internal(_) => {
                plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
            }
        },
        ApiError::Challenge(_) => plain(StatusCode::UNAUTHORIZED, "Unauthorized"),
        ApiError::Body { error, detail } => {
            (StatusCode::BAD_REQUEST, Cow::Borrowed(*error), Some(detail))
        }
        ApiError::Path => plain(StatusCode::BAD_REQUEST, "Invalid URL"),
        ApiError::NoRoute => plain(StatusCode::NOT_FOUND, "Not found"),
        ApiError::MethodNotAllowed => plain(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed"),
        ApiError::RequestTimeout => plain(StatusCode::REQUEST_TIMEOUT, "Request timeout"),
        ApiError::PayloadTooLarge => plain(StatusCode::PAYLOAD_TOO_LARGE, "Payload too large"),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            Self::Service(ServiceError::Store(e @ StoreError::Unavailable(_))) => {
                tracing::warn!(error = %e, "store unavailable");
            }
            Self::Service(ServiceError::Store(e)) => tracing::error!(error = %e, "store failed"),
            Self::Service(ServiceError::Internal(cause)) => {
                tracing::error!(%cause, "internal error");
            }
            _ => {}
        }
        let (status, error, detail) = parts(&self);
        let mut resp = json_error(status, &error, detail);
        match self {
            Self::Service(ServiceError::Throttled { retry_after }) => {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after.max(1)));
            }
            Self::Challenge(challenge) => {
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(challenge),
                );
            }
            _ => {}
        }
        resp
    }
}

/// The body of every error answer, whatever its status: `{"error": message}`, with a `detail`
/// when there is more to say. Clients of the original API match on `error` alone.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error, example = json!({"error": "Not found"}))]
pub struct ErrorBody<'a> {
    // `detail` comes first so that the bytes stay those of a sorted JSON object, as they
    // always were.
    /// More about what was wrong, for people (what the route expected instead).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub detail: Option<&'a str>,
    /// The message clients match on: `Unauthorized`, `Forbidden`, `Not found`, `Wrong format`,
    /// `email missing`, ...
    pub error: &'a str,
}

/// A `{"error": msg}` response (with `"detail"` when given) with the given status.
pub fn json_error(status: StatusCode, msg: &str, detail: Option<&str>) -> Response {
    let body = ErrorBody { detail, error: msg };
    (status, axum::Json(body)).into_response()
}
