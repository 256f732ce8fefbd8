//! The one error type of sesame, and the only place where a failure becomes an HTTP status.
//!
//! Every error response is `{"error": "<message>"}` with `Content-Type: application/json`.
//! 4xx messages say what was wrong; 5xx bodies stay generic and the cause is logged inside the
//! request's span.

use std::borrow::Cow;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::store::StoreError;

/// Everything that can go wrong while serving a request or running a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400 with a message naming what is wrong with the input.
    #[error("{0}")]
    BadRequest(Cow<'static, str>),
    /// 401: no credentials at all.
    #[error("Unauthorized")]
    Unauthorized,
    /// 401: login with an unknown email or a wrong password (one answer for both).
    #[error("wrong email or password")]
    WrongCredentials,
    /// 403: credentials that do not resolve to a user, or a user acting out of bounds.
    #[error("Forbidden")]
    Forbidden,
    /// 404: no such route or record.
    #[error("Not found")]
    NotFound,
    /// 405: a known route asked with the wrong method.
    #[error("Method not allowed")]
    MethodNotAllowed,
    /// 409 with a message naming the conflict.
    #[error("{0}")]
    Conflict(&'static str),
    /// 429: too many failed attempts; try again after `retry_after` seconds.
    #[error("Too many requests")]
    TooManyRequests {
        /// Seconds to wait, sent as `Retry-After`.
        retry_after: i64,
    },
    /// 408: the request body did not arrive within `BODY_READ_TIMEOUT`.
    #[error("Request timeout")]
    RequestTimeout,
    /// 413: the request body is over the limit.
    #[error("Payload too large")]
    PayloadTooLarge,
    /// 503: a store could not be reached; the cause is logged, not returned.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// 500: a bug or an unexpected store failure; the cause is logged, not returned.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// A 400 error with a fixed message.
    pub const fn bad_request(msg: &'static str) -> Self {
        Self::BadRequest(Cow::Borrowed(msg))
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized | Self::WrongCredentials => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message put in the response body.
    fn public_message(&self) -> Cow<'_, str> {
        match self {
            Self::Unavailable(_) => Cow::Borrowed("Service unavailable"),
            Self::Internal(_) => Cow::Borrowed("Internal server error"),
            other => Cow::Owned(other.to_string()),
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => Self::Conflict("email already registered"),
            StoreError::Unavailable(m) => Self::Unavailable(m),
            StoreError::Other(m) => Self::Internal(m),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match &self {
            Self::Unavailable(cause) => tracing::warn!(%cause, "store unavailable"),
            Self::Internal(cause) => tracing::error!(%cause, "internal error"),
            _ => {}
        }
        let mut resp = json_error(self.status(), &self.public_message());
        if let Self::TooManyRequests { retry_after } = self {
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(retry_after.max(1)),
            );
        }
        resp
    }
}

/// A `{"error": msg}` response with the given status.
pub fn json_error(status: StatusCode, msg: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": msg }))).into_response()
}
