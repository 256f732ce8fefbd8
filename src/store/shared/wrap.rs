//! The store traits with a [`SharedCache`] in front: reads of the hot path served from it,
//! writes that end sessions or change users revoked through it.

use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::{Digest32, Expiry, Session, User};
use crate::store::error::StoreError;
use crate::store::shared::cache::SharedCache;
use crate::store::traits::{JoinedUser, SessionStore, UserStore};

/// A session store whose session checks ([`SessionStore::get_joined`]) go through a cache.
pub struct CachedSessions {
    inner: Arc<dyn SessionStore>,
    cache: Arc<SharedCache>,
}

impl CachedSessions {
    /// `inner` behind `cache`.
    pub fn new(inner: Arc<dyn SessionStore>, cache: Arc<SharedCache>) -> Self {
        Self { inner, cache }
    }
}

#[async_trait]
impl SessionStore for CachedSessions {
    async fn insert(&self, session: &Session) -> Result<(), StoreError> {
        self.inner.insert(session).await
    }

    async fn get(&self, digest: &Digest32) -> Result<Option<Session>, StoreError> {
        self.inner.get(digest).await
    }

    /// From the cache when this instance holds its lease; otherwise from the store, filling the
    /// cache. A session whose user is gone is not cached.
    async fn get_joined(
        &self,
        digest: &Digest32,
    ) -> Result<Option<(Arc<Session>, JoinedUser)>, StoreError> {
        if let Some(hit) = self.cache.session(digest) {
            return Ok(Some(hit));
        }
        let ticket = self.cache.ticket();
        let found = self.inner.get_joined(digest).await?;
        if let Some((session, user)) = &found
            && *user != JoinedUser::Gone
        {
            self.cache
                .fill_session(ticket, session.clone(), user.clone());
        }
        Ok(found)
    }

    /// Always from the store: a cached copy's `last_seen_at` may lag another instance's
    /// touches, and this read decides whether a session has gone idle.
    async fn get_joined_uncached(
        &self,
        digest: &Digest32,
    ) -> Result<Option<(Arc<Session>, JoinedUser)>, StoreError> {
        self.inner.get_joined(digest).await
    }

    async fn touch(&self, digest: &Digest32, now: i64) -> Result<(), StoreError> {
        self.inner.touch(digest, now).await?;
        self.cache.touched(digest, now);
        Ok(())
    }

    async fn delete(&self, digest: &Digest32) -> Result<bool, StoreError> {
        let deleted = self.inner.delete(digest).await?;
        if deleted {
            self.cache.revoke(&[*digest], &[]).await?;
        }
        Ok(deleted)
    }

    async fn list_for_user(&self, user_id: &str) -> Result<Vec<Session>, StoreError> {
        self.inner.list_for_user(user_id).await
    }

    /// Revokes every cached session of the user, the one kept included (it is read again).
    async fn delete_for_user(
        &self,
        user_id: &str,
        except: Option<&Digest32>,
    ) -> Result<u64, StoreError> {
        let n = self.inner.delete_for_user(user_id, except).await?;
        if n > 0 {
            self.cache.revoke(&[], &[user_id.to_owned()]).await?;
        }
        Ok(n)
    }

    /// Purged sessions were expired: no instance accepts them, cached or not.
    async fn purge_expired(&self, now: i64, expiry: Expiry) -> Result<u64, StoreError> {
        self.inner.purge_expired(now, expiry).await
    }

    async fn count(&self) -> Result<u64, StoreError> {
        self.inner.count().await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}

/// A user store whose reads by id ([`UserStore::get_shared`]) go through a cache.
pub struct CachedUsers {
    inner: Arc<dyn UserStore>,
    cache: Arc<SharedCache>,
}

impl CachedUsers {
    /// `inner` behind `cache`.
    pub fn new(inner: Arc<dyn UserStore>, cache: Arc<SharedCache>) -> Self {
        Self { inner, cache }
    }

    async fn revoked(&self, changed: bool, id: &str) -> Result<bool, StoreError> {
        if changed {
            self.cache.revoke(&[], &[id.to_owned()]).await?;
        }
        Ok(changed)
    }
}

#[async_trait]
impl UserStore for CachedUsers {
    async fn create(&self, user: &User) -> Result<(), StoreError> {
        self.inner.create(user).await
    }

    async fn get(&self, id: &str) -> Result<Option<User>, StoreError> {
        self.inner.get(id).await
    }

    async fn get_shared(&self, id: &str) -> Result<Option<Arc<User>>, StoreError> {
        if let Some(hit) = self.cache.user(id) {
            return Ok(Some(hit));
        }
        let ticket = self.cache.ticket();
        let found = self.inner.get_shared(id).await?;
        if let Some(user) = &found {
            self.cache.fill_user(ticket, user.clone());
        }
        Ok(found)
    }

    async fn get_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        self.inner.get_by_email(email).await
    }

    async fn list(&self) -> Result<Vec<User>, StoreError> {
        self.inner.list().await
    }

    async fn count(&self) -> Result<u64, StoreError> {
        self.inner.count().await
    }

    async fn update(&self, user: &User) -> Result<bool, StoreError> {
        let changed = self.inner.update(user).await?;
        self.revoked(changed, &user.id).await
    }

    async fn set_password(&self, id: &str, hash: &str, now: i64) -> Result<bool, StoreError> {
        let changed = self.inner.set_password(id, hash, now).await?;
        self.revoked(changed, id).await
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let changed = self.inner.delete(id).await?;
        self.revoked(changed, id).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    fn close(&self) {
        self.inner.close();
    }
}
