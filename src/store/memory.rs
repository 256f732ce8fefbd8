//! In-memory stores: sessions for `session_auth` and `session_exp_auth` (gone at restart), and
//! a user store for tests and embedding.

use std::collections::HashMap;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;

use super::{Failures, SessionStore, StoreError, ThrottleStore, UserStore};
use crate::config::Expiry;
use crate::domain::{Digest32, Session, User, email_key};

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Sessions in this process's memory.
#[derive(Default)]
pub struct MemorySessionStore {
    sessions: RwLock<HashMap<Digest32, Session>>,
}

#[async_trait]
impl SessionStore for MemorySessionStore {
    async fn insert(&self, session: &Session) -> Result<(), StoreError> {
        let mut map = write(&self.sessions);
        if map.contains_key(&session.digest) {
            return Err(StoreError::Conflict);
        }
        map.insert(session.digest, session.clone());
        Ok(())
    }

    async fn get(&self, digest: &Digest32) -> Result<Option<Session>, StoreError> {
        Ok(read(&self.sessions).get(digest).cloned())
    }

    async fn touch(&self, digest: &Digest32, now: i64) -> Result<(), StoreError> {
        if let Some(s) = write(&self.sessions).get_mut(digest) {
            s.last_seen_at = s.last_seen_at.max(now);
        }
        Ok(())
    }

    async fn delete(&self, digest: &Digest32) -> Result<bool, StoreError> {
        Ok(write(&self.sessions).remove(digest).is_some())
    }

    async fn list_for_user(&self, user_id: &str) -> Result<Vec<Session>, StoreError> {
        let mut v: Vec<Session> = read(&self.sessions)
            .values()
            .filter(|s| s.user_id == user_id)
            .cloned()
            .collect();
        v.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(v)
    }

    async fn delete_for_user(
        &self,
        user_id: &str,
        except: Option<&Digest32>,
    ) -> Result<u64, StoreError> {
        let mut map = write(&self.sessions);
        let before = map.len();
        map.retain(|d, s| s.user_id != user_id || Some(d) == except);
        Ok((before - map.len()) as u64)
    }

    async fn count(&self) -> Result<u64, StoreError> {
        Ok(read(&self.sessions).len() as u64)
    }

    async fn purge_expired(&self, now: i64, expiry: Expiry) -> Result<u64, StoreError> {
        let mut map = write(&self.sessions);
        let before = map.len();
        map.retain(|_, s| !s.is_expired(now, expiry));
        Ok((before - map.len()) as u64)
    }
}

#[derive(Default)]
struct Users {
    by_id: HashMap<String, User>,
    by_email: HashMap<String, String>,
}

/// Users in this process's memory.
#[derive(Default)]
pub struct MemoryUserStore {
    inner: RwLock<Users>,
}

#[async_trait]
impl UserStore for MemoryUserStore {
    async fn create(&self, user: &User) -> Result<(), StoreError> {
        let mut u = write(&self.inner);
        let key = email_key(&user.email);
        if u.by_email.contains_key(&key) || u.by_id.contains_key(&user.id) {
            return Err(StoreError::Conflict);
        }
        u.by_email.insert(key, user.id.clone());
        u.by_id.insert(user.id.clone(), user.clone());
        Ok(())
    }

    async fn get(&self, id: &str) -> Result<Option<User>, StoreError> {
        Ok(read(&self.inner).by_id.get(id).cloned())
    }

    async fn get_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let u = read(&self.inner);
        Ok(u.by_email
            .get(&email_key(email))
            .and_then(|id| u.by_id.get(id))
            .cloned())
    }

    async fn list(&self) -> Result<Vec<User>, StoreError> {
        let mut v: Vec<User> = read(&self.inner).by_id.values().cloned().collect();
        v.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(v)
    }

    async fn count(&self) -> Result<u64, StoreError> {
        Ok(read(&self.inner).by_id.len() as u64)
    }

    async fn update(&self, user: &User) -> Result<bool, StoreError> {
        let mut u = write(&self.inner);
        Ok(match u.by_id.get_mut(&user.id) {
            Some(stored) => {
                stored.first_name.clone_from(&user.first_name);
                stored.last_name.clone_from(&user.last_name);
                stored.is_admin = user.is_admin;
                stored.updated_at = user.updated_at;
                true
            }
            None => false,
        })
    }

    async fn set_password(&self, id: &str, hash: &str, now: i64) -> Result<bool, StoreError> {
        let mut u = write(&self.inner);
        Ok(match u.by_id.get_mut(id) {
            Some(stored) => {
                stored.password_hash = Some(hash.to_owned());
                stored.updated_at = now;
                true
            }
            None => false,
        })
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let mut u = write(&self.inner);
        match u.by_id.remove(id) {
            Some(user) => {
                u.by_email.remove(&email_key(&user.email));
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

/// Failed-login counts in this process's memory.
#[derive(Default)]
pub struct MemoryThrottleStore {
    keys: RwLock<HashMap<String, Failures>>,
}

#[async_trait]
impl ThrottleStore for MemoryThrottleStore {
    async fn failures(&self, key: &str) -> Result<Option<Failures>, StoreError> {
        Ok(read(&self.keys).get(key).copied())
    }

    async fn record_failure(
        &self,
        key: &str,
        now: i64,
        quiet: i64,
    ) -> Result<Failures, StoreError> {
        let mut keys = write(&self.keys);
        let entry = keys.entry(key.to_owned()).or_insert(Failures {
            count: 0,
            last_at: now,
        });
        if entry.count > 0 && now.saturating_sub(entry.last_at) >= quiet {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last_at = entry.last_at.max(now);
        Ok(*entry)
    }

    async fn clear(&self, key: &str) -> Result<(), StoreError> {
        write(&self.keys).remove(key);
        Ok(())
    }

    async fn purge(&self, before: i64) -> Result<u64, StoreError> {
        let mut keys = write(&self.keys);
        let n = keys.len();
        keys.retain(|_, f| f.last_at > before);
        Ok((n - keys.len()) as u64)
    }
}
