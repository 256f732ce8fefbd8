//! The rules of sesame: authentication, login and logout, session expiry and rotation,
//! throttling, users and who may act on them. No HTTP and no SQL here: handlers call in, stores
//! are reached through their traits. This file only wires the parts:
//!
//! - `types`: the [`Service`] and the shapes it speaks in;
//! - `login`: the gate's decision, password checks, login and logout;
//! - `sessions`: listing and revoking sessions, sweeping expired ones;
//! - `users`: users and passwords;
//! - `factors`: what second factors are made of, as stored;
//! - `mfa`: second factors (TOTP, recovery codes), the sign-in that waits for one,
//!   re-authentication and `MFA_REQUIRED`;
//! - `passkeys`: WebAuthn registration, passwordless sign-in and passkey assertions;
//! - `recovery`: password reset, e-mail verification and sign-up, and the mails they cause;
//! - `setup`: the first-run setup link and the unattended first administrator;
//! - `throttle`: growing delays after failed attempts;
//! - `error`: [`ServiceError`].
//!
//! Audit events (`login`, `login_failed`, `login_throttled`, `logout`, `sessions_revoked`,
//! `password_changed`, `second_factor_enrolled`, `second_factor_removed`, `second_factor_used`,
//! `second_factor_failed`, `recovery_code_used`, `second_factors_reset`, `reauthenticated`, ...) are log lines with target `audit` and an `event` field.

mod error;
pub mod factors;
mod import;
mod login;
mod mfa;
mod passkeys;
pub mod recovery;
mod sessions;
mod setup;
mod setup_link;
pub mod throttle;
mod types;
mod users;

pub use error::ServiceError;
pub use factors::{MfaConfig, SecondFactor, SignIn};
pub use passkeys::credential;
pub use setup::SetupDone;
pub use setup_link::SetupLink;
pub use types::{
    Authenticated, Authorization, ClientInfo, Credentials, MailSettings, NewUser, Page, Principal,
    Service, SessionInfo, UserChanges,
};
