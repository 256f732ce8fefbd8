//! What the rules can refuse or fail with: no HTTP here. The HTTP layer maps each variant to a
//! status and body in one place (`routes::error`).

use std::borrow::Cow;

use crate::store::StoreError;

/// Everything an operation of the [`Service`](super::Service) can end with, other than success.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The input breaks a rule; the message says which (an email's shape, a password's length).
    #[error("{0}")]
    Invalid(Cow<'static, str>),
    /// No credentials at all.
    #[error("Unauthorized")]
    NoCredentials,
    /// Login with an unknown email or a wrong password (one answer for both).
    #[error("wrong email or password")]
    WrongCredentials,
    /// Credentials that do not resolve to a user, or a user acting out of bounds.
    #[error("Forbidden")]
    Forbidden,
    /// A password change whose `current_password` is not the user's.
    #[error("wrong current password")]
    WrongCurrentPassword,
    /// A second factor that is not the user's (a wrong or used TOTP code or recovery code, or
    /// a passkey assertion that does not verify).
    #[error("wrong code")]
    WrongCode,
    /// A pending sign-in, good only for its second-factor step.
    #[error("second factor required")]
    SecondFactorRequired,
    /// A session that opens only enrolment until its user has a second factor.
    #[error("second factor enrolment required")]
    EnrolmentRequired,
    /// A sensitive action from a session whose credential was presented too long ago.
    #[error("reauthentication required")]
    ReauthRequired,
    /// No such record.
    #[error("Not found")]
    NotFound,
    /// A uniqueness rule, with a message naming it.
    #[error("{0}")]
    Conflict(&'static str),
    /// Too many failed attempts; try again after `retry_after` seconds.
    #[error("Too many requests")]
    Throttled {
        /// Seconds to wait.
        retry_after: i64,
    },
    /// A store failed or could not be reached.
    #[error(transparent)]
    Store(StoreError),
    /// Something that should not happen (no OS randomness, a hashing failure).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    /// An [`Invalid`](Self::Invalid) with a fixed message.
    pub const fn invalid(msg: &'static str) -> Self {
        Self::Invalid(Cow::Borrowed(msg))
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => Self::Conflict("email already registered"),
            other => Self::Store(other),
        }
    }
}

impl From<crate::auth::password::HashError> for ServiceError {
    fn from(e: crate::auth::password::HashError) -> Self {
        Self::Internal(e.to_string())
    }
}
