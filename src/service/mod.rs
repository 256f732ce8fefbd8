//! The rules of sesame: authentication, login and logout, session expiry and rotation,
//! throttling, users and who may act on them. No HTTP and no SQL here: handlers call in, stores
//! are reached through their traits. This file only wires the parts:
//!
//! - `types`: the [`Service`] and the shapes it speaks in;
//! - `login`: the gate's decision, password checks, login and logout;
//! - `sessions`: listing and revoking sessions, sweeping expired ones;
//! - `users`: users and passwords;
//! - `setup`: the first-run setup link and the unattended first administrator;
//! - `throttle`: growing delays after failed attempts;
//! - `error`: [`ServiceError`].
//!
//! Audit events (`login`, `login_failed`, `login_throttled`, `logout`, `sessions_revoked`,
//! `password_changed`, ...) are log lines with target `audit` and an `event` field.

mod error;
mod import;
mod login;
mod sessions;
mod setup;
mod setup_link;
pub mod throttle;
mod types;
mod users;

pub use error::ServiceError;
pub use setup::SetupDone;
pub use setup_link::SetupLink;
pub use types::{
    Authenticated, Authorization, ClientInfo, Credentials, NewUser, Page, Principal, Service,
    SessionInfo, UserChanges,
};
