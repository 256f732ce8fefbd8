//! First run: making the first administrator.
//!
//! While the user store holds no administrator, start-up opens a one-time setup link
//! ([`Service::open_setup`]): a 256-bit random token, given once to the caller (who logs it as
//! the link) and kept here only as its SHA-256 digest, in memory. A new start replaces it.
//! `POST /api/v1/setup` with the token creates the first administrator
//! ([`Service::complete_setup`]); the link closes on that success, or as soon as any
//! administrator is found to exist (made by the command line, say), and is never shown again.
//!
//! Setups run one at a time (a lock held across check and create), so two racing requests with
//! the right token make one administrator: the second finds the link closed. A request whose
//! input is refused (a bad email, a short password) leaves the link open, so the person at the
//! setup page can correct it. A wrong token is refused with 403 and an audit line. It is not
//! throttled: a 256-bit token cannot be guessed, and a throttle shared by every caller would
//! let anyone lock the rightful administrator out of their own setup page.
//!
//! For unattended installs, [`Service::bootstrap_admin`] makes the administrator from
//! `SESAME_ADMIN_EMAIL` and the password in `SESAME_ADMIN_PASSWORD_FILE` instead.

use super::error::ServiceError;
use super::types::{ClientInfo, NewUser, Service};
use crate::domain::{Secret, User, token_digest};

/// What `POST /api/v1/setup` made: the administrator, and the token of their new session
/// when `AUTH_TYPE` keeps sessions.
pub struct SetupDone {
    /// The first administrator.
    pub user: User,
    /// Their session's token, if sessions are used.
    pub token: Option<Secret>,
}

impl Service {
    /// Whether any administrator exists.
    pub async fn has_admin(&self) -> Result<bool, ServiceError> {
        Ok(self.users.list().await?.iter().any(|u| u.is_admin))
    }

    /// Opens the setup link when there is no administrator: returns its token, to be shown
    /// once. `None` when an administrator exists (the link stays closed).
    pub async fn open_setup(&self) -> Result<Option<Secret>, ServiceError> {
        if self.has_admin().await? {
            self.setup.close();
            return Ok(None);
        }
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| ServiceError::Internal(format!("OS random: {e}")))?;
        let token = Secret::new(hex::encode(bytes));
        self.setup.open(token_digest(token.expose()));
        Ok(Some(token))
    }

    /// `POST /api/v1/setup`: the first administrator, made with the setup link's token.
    pub async fn complete_setup(
        &self,
        token: &str,
        mut new: NewUser,
        client: ClientInfo,
    ) -> Result<SetupDone, ServiceError> {
        let _one_at_a_time = self.setup.busy.lock().await;
        let now = self.clock.now();
        let ip = client.ip.as_deref();
        if !self.setup.matches(token) {
            tracing::warn!(target: "audit", event = "setup_refused", ip = ip.unwrap_or("-"), "setup refused: wrong or used token");
            return Err(ServiceError::Forbidden);
        }
        if self.has_admin().await? {
            self.setup.close();
            tracing::warn!(target: "audit", event = "setup_refused", ip = ip.unwrap_or("-"), "setup refused: an administrator exists");
            return Err(ServiceError::Forbidden);
        }
        new.is_admin = true;
        let user = self.create_user(new).await?;
        self.setup.close();
        tracing::info!(target: "audit", event = "setup_completed", user_id = %user.id, ip = ip.unwrap_or("-"), "first administrator created");
        let token = if self.auth_type.uses_sessions() {
            Some(self.start_session(&user, client, now).await?)
        } else {
            None
        };
        Ok(SetupDone { user, token })
    }

    /// Unattended installs: makes `email` the first administrator with `password` when no
    /// administrator exists. Returns the user made, or `None` when an administrator exists
    /// already (restarts are no-ops). An existing user with that email who is not an
    /// administrator is refused: promoting them is a decision for `sesame user set-admin`.
    pub async fn bootstrap_admin(
        &self,
        email: &str,
        password: Secret,
    ) -> Result<Option<User>, ServiceError> {
        if self.has_admin().await? {
            self.setup.close();
            return Ok(None);
        }
        if self.users.get_by_email(email.trim()).await?.is_some() {
            return Err(ServiceError::Invalid(
                format!("{email} is already a user but not an administrator; use `sesame user set-admin`")
                    .into(),
            ));
        }
        let user = self
            .create_user(NewUser {
                email: email.trim().to_owned(),
                password,
                first_name: None,
                last_name: None,
                is_admin: true,
            })
            .await?;
        self.setup.close();
        tracing::info!(target: "audit", event = "admin_bootstrapped", user_id = %user.id, "first administrator created from SESAME_ADMIN_EMAIL");
        Ok(Some(user))
    }
}
