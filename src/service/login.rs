//! Authentication and sign-in: the gate's decision for each request (a session or Basic
//! credentials), password checks under throttling, login with rotation, logout.

use std::sync::Arc;

use super::error::ServiceError;
use super::factors::{SignIn, is_pending_token};
use super::types::{Authenticated, Authorization, ClientInfo, Credentials, Principal, Service};
use crate::config::AuthType;
use crate::domain::{Secret, Session, User, new_id, new_token, token_digest};
use crate::metrics::LoginOutcome;
use crate::store::JoinedUser;

/// Longest time between two recorded uses of a session: `min(60 s, idle / 4)` with an idle
/// timeout, else 60 s. Reads rarely write, and a session ends at most a quarter early.
fn touch_interval(idle: Option<i64>) -> i64 {
    idle.map_or(60, |idle| (idle / 4).clamp(1, 60))
}

impl Service {
    /// The gate: turns a request's credentials into who it runs as.
    ///
    /// 401 [`ServiceError::NoCredentials`] when there are no credentials at all, 403
    /// [`ServiceError::Forbidden`] when they do not resolve to a user, 429 when Basic credentials are
    /// throttled. A pending sign-in's token is 401 [`ServiceError::SecondFactorRequired`], and
    /// so are the Basic credentials of a user with a second factor (Basic cannot carry one).
    /// A user that `MFA_REQUIRED` covers and who has no second factor passes as
    /// [`Authenticated::enrol_only`].
    pub async fn authenticate(
        &self,
        creds: Credentials<'_>,
    ) -> Result<Authenticated, ServiceError> {
        if self.auth_type == AuthType::None {
            return Ok(Authenticated {
                principal: Principal::Anonymous,
                session: None,
                enrol_only: false,
            });
        }
        if creds.authorization.is_none() && creds.session_token.is_none() {
            return Err(ServiceError::NoCredentials);
        }
        match self.auth_type {
            AuthType::Basic => {
                let Some(Authorization::Basic { email, password }) = creds.authorization else {
                    return Err(ServiceError::Forbidden);
                };
                let ip = creds.client_ip.map(|ip| ip.to_string());
                let now = self.clock.now();
                let user = self
                    .check_password(&email, password, ip.as_deref(), now)
                    .await?
                    .ok_or(ServiceError::Forbidden)?;
                if self.has_second_factor(&user).await? {
                    return Err(ServiceError::SecondFactorRequired);
                }
                self.throttle.succeeded(&user.email).await?;
                let enrol_only = self.mfa.required.applies(user.is_admin);
                Ok(Authenticated {
                    principal: Principal::User(Arc::new(user)),
                    session: None,
                    enrol_only,
                })
            }
            AuthType::Session | AuthType::SessionExp | AuthType::SessionDb => {
                let token = creds.session_token.ok_or(ServiceError::Forbidden)?;
                if is_pending_token(token) {
                    return Err(match self.pending(token).await? {
                        Some(_) => ServiceError::SecondFactorRequired,
                        None => ServiceError::Forbidden,
                    });
                }
                let (user, session) = self
                    .resolve_session(token)
                    .await?
                    .ok_or(ServiceError::Forbidden)?;
                let enrol_only = self.enrol_only(&user).await?;
                Ok(Authenticated {
                    principal: Principal::User(user),
                    session: Some(session),
                    enrol_only,
                })
            }
            AuthType::Deny | AuthType::None => Err(ServiceError::Forbidden),
        }
    }

    /// The user behind a session token, if the session exists and has not expired. Records the
    /// use at most once per [`touch_interval`], so most reads write nothing.
    async fn resolve_session(
        &self,
        token: &str,
    ) -> Result<Option<(Arc<User>, Arc<Session>)>, ServiceError> {
        let store = self.sessions()?;
        let digest = token_digest(token);
        let Some((mut session, mut joined)) = store.get_joined(&digest).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        if session.is_expired(now, self.expiry) {
            // A cached copy may have missed another instance's touch: ask the store itself.
            match store.get_joined_uncached(&digest).await? {
                Some((s, j)) if !s.is_expired(now, self.expiry) => (session, joined) = (s, j),
                Some(_) => {
                    store.delete(&digest).await?;
                    return Ok(None);
                }
                None => return Ok(None),
            }
        }
        if now - session.last_seen_at >= touch_interval(self.expiry.idle) {
            store.touch(&digest, now).await?;
        }
        let user = match joined {
            JoinedUser::Found(user) => Some(user),
            JoinedUser::Gone => None,
            JoinedUser::NotHere => self.users.get_shared(&session.user_id).await?,
        };
        Ok(user.map(|u| (u, session)))
    }

    /// The user with this email if `password` is theirs, under throttling: a throttled account
    /// or address is refused (429) before any check, a failure is counted. An unknown email
    /// costs the same time as a known one. A success does not clear the account's count: the
    /// caller does, once the whole sign-in (a second factor included) has succeeded. A hash
    /// weaker than today's (or the original system's SHA-256) is replaced.
    pub(super) async fn check_password(
        &self,
        email: &str,
        password: Secret,
        ip: Option<&str>,
        now: i64,
    ) -> Result<Option<User>, ServiceError> {
        if let Err(e) = self.throttle.check(email, ip, now).await {
            if matches!(e, ServiceError::Throttled { .. }) {
                self.metrics.login(LoginOutcome::Throttled);
            }
            return Err(e);
        }
        let user = self.users.get_by_email(email).await?;
        let stored = user.as_ref().and_then(|u| u.password_hash.clone());
        let verified = self.passwords.verify(password.clone(), stored).await?;
        let Some(mut user) = user.filter(|_| verified.ok) else {
            self.metrics.login(LoginOutcome::Failed);
            self.throttle.failed(email, ip, now).await?;
            tracing::info!(target: "audit", event = "login_failed", ip = ip.unwrap_or("-"), "wrong email or password");
            return Ok(None);
        };
        self.metrics.login(LoginOutcome::Ok);
        if verified.needs_rehash {
            let hash = self.passwords.hash(password).await?;
            if let Err(e) = self
                .users
                .set_password(&user.id, &hash, user.updated_at)
                .await
            {
                tracing::warn!(user_id = %user.id, error = %e, "could not upgrade a password hash");
            } else {
                user.password_hash = Some(hash);
                tracing::info!(target: "audit", event = "password_rehashed", user_id = %user.id, "password hash upgraded to Argon2id");
            }
        }
        Ok(Some(user))
    }

    /// Logs in: checks the password (throttled), ends the session the request came with (if
    /// any: no fixation) and starts a new one, or a pending sign-in when the user has a second
    /// factor. Returns the user and the new session's token, or the pending sign-in.
    pub async fn login(
        &self,
        email: &str,
        password: Secret,
        previous_token: Option<&str>,
        client: ClientInfo,
    ) -> Result<SignIn, ServiceError> {
        let store = self.sessions()?.clone();
        let now = self.clock.now();
        let Some(user) = self
            .check_password(email, password, client.ip.as_deref(), now)
            .await?
        else {
            return Err(ServiceError::WrongCredentials);
        };
        if let Some(previous) = previous_token {
            store.delete(&token_digest(previous)).await?;
        }
        self.after_password(user, client, now).await
    }

    /// Starts a new session for `user` (whose credentials were checked) and returns its token.
    pub(super) async fn start_session(
        &self,
        user: &User,
        client: ClientInfo,
        now: i64,
    ) -> Result<Secret, ServiceError> {
        let token = new_token().map_err(|e| ServiceError::Internal(format!("OS random: {e}")))?;
        let session = Session {
            id: new_id(),
            digest: token_digest(token.expose()),
            user_id: user.id.clone(),
            created_at: now,
            last_seen_at: now,
            ip: client.ip,
            user_agent: client.user_agent,
        };
        self.sessions()?.insert(&session).await?;
        tracing::info!(target: "audit", event = "login", user_id = %user.id, session_id = %session.id, "login");
        Ok(token)
    }

    /// Logs out: deletes the session server-side.
    pub async fn logout(&self, auth: &Authenticated) -> Result<(), ServiceError> {
        let store = self.sessions()?;
        let digest = auth.digest().ok_or(ServiceError::NotFound)?;
        store.delete(digest).await?;
        if let Some(user) = auth.user() {
            tracing::info!(target: "audit", event = "logout", user_id = %user.id, "logout");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touch_interval_is_a_quarter_of_idle_at_most_a_minute() {
        assert_eq!(touch_interval(Some(40)), 10);
        assert_eq!(touch_interval(Some(3600)), 60);
        assert_eq!(touch_interval(Some(2)), 1);
        assert_eq!(touch_interval(None), 60);
    }
}
