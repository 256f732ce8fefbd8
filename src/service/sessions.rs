//! A user's sessions: listing, revoking one, all others or all of a user, and sweeping the
//! expired ones.

use super::error::ServiceError;
use super::types::{Authenticated, Service, SessionInfo};
use crate::domain::Expiry;

impl Service {
    /// `GET /users/me/sessions`: the caller's sessions, oldest first, the current one marked.
    pub async fn my_sessions(
        &self,
        auth: &Authenticated,
    ) -> Result<Vec<SessionInfo>, ServiceError> {
        let store = self.sessions()?;
        let user = auth.require_user()?;
        let now = self.clock.now();
        let list = store.list_for_user(&user.id).await?;
        Ok(list
            .into_iter()
            .filter(|s| !s.is_expired(now, self.expiry))
            .map(|session| {
                let absolute = self
                    .expiry
                    .absolute
                    .map(|d| session.created_at.saturating_add(d));
                let idle = self
                    .expiry
                    .idle
                    .map(|i| session.last_seen_at.saturating_add(i));
                let expires_at = match (absolute, idle) {
                    (Some(a), Some(i)) => Some(a.min(i)),
                    (a, i) => a.or(i),
                };
                let current = auth.digest() == Some(&session.digest);
                SessionInfo {
                    session,
                    expires_at,
                    current,
                }
            })
            .collect())
    }

    /// `DELETE /users/me/sessions/{id}`: ends one of the caller's sessions by its public id.
    /// Returns whether it was the current one.
    pub async fn revoke_my_session(
        &self,
        auth: &Authenticated,
        id: &str,
    ) -> Result<bool, ServiceError> {
        let store = self.sessions()?;
        let user = auth.require_user()?;
        let session = store
            .list_for_user(&user.id)
            .await?
            .into_iter()
            .find(|s| s.id == id)
            .ok_or(ServiceError::NotFound)?;
        store.delete(&session.digest).await?;
        tracing::info!(target: "audit", event = "session_revoked", user_id = %user.id, session_id = %id, "session revoked");
        Ok(auth.digest() == Some(&session.digest))
    }

    /// `DELETE /users/me/sessions`: ends every session of the caller but the current one.
    pub async fn revoke_my_other_sessions(
        &self,
        auth: &Authenticated,
    ) -> Result<u64, ServiceError> {
        let store = self.sessions()?;
        let user = auth.require_user()?;
        let n = store.delete_for_user(&user.id, auth.digest()).await?;
        tracing::info!(target: "audit", event = "sessions_revoked", user_id = %user.id, count = n, scope = "others", "other sessions revoked");
        Ok(n)
    }

    /// `DELETE /users/{id}/sessions`: an administrator ends every session of a user.
    pub async fn revoke_sessions_as(
        &self,
        actor: &Authenticated,
        id: &str,
    ) -> Result<u64, ServiceError> {
        Self::require_admin(actor)?;
        self.sessions()?;
        let id = Self::target(actor, id)?;
        let user = self.users.get(id).await?.ok_or(ServiceError::NotFound)?;
        self.revoke_sessions_of(&user.id).await
    }

    /// Ends every session of a user; returns how many.
    pub async fn revoke_sessions_of(&self, user_id: &str) -> Result<u64, ServiceError> {
        let Some(store) = &self.sessions else {
            return Ok(0);
        };
        let n = store.delete_for_user(user_id, None).await?;
        tracing::info!(target: "audit", event = "sessions_revoked", user_id = %user_id, count = n, scope = "all", "sessions revoked");
        Ok(n)
    }

    /// Deletes every expired session, forgotten throttling state and ended record (ceremonies,
    /// pending sign-ins); returns how many sessions.
    pub async fn purge_expired(&self) -> Result<u64, ServiceError> {
        let now = self.clock.now();
        self.throttle.purge(now).await?;
        self.records.purge(now).await?;
        let Some(store) = &self.sessions else {
            return Ok(0);
        };
        if self.expiry == Expiry::default() {
            return Ok(0);
        }
        Ok(store.purge_expired(now, self.expiry).await?)
    }
}
