//! The sessions table: [`SessionStore`] for [`SqliteStore`], the session check (a session and
//! its user in one read) served through the cache.

use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, params};

use crate::domain::{Digest32, Expiry, Session};
use crate::store::error::StoreError;
use crate::store::sqlite::cache::touches_nothing;
use crate::store::sqlite::db::SqliteStore;
use crate::store::sqlite::users::user_from_row_at;
use crate::store::traits::{JoinedUser, SessionStore};

/// The columns [`session_from_row`] reads, in order.
macro_rules! session_cols {
    () => {
        "id, digest, user_id, created_at, last_seen_at, ip, user_agent"
    };
}

fn session_from_row(r: &Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        id: r.get(0)?,
        digest: r.get(1)?,
        user_id: r.get(2)?,
        created_at: r.get(3)?,
        last_seen_at: r.get(4)?,
        ip: r.get(5)?,
        user_agent: r.get(6)?,
    })
}

impl SqliteStore {
    /// A session and its user, read together from the database.
    fn load_joined(
        &self,
        digest: &Digest32,
    ) -> Result<Option<(Arc<Session>, JoinedUser)>, StoreError> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT s.id, s.digest, s.user_id, s.created_at, s.last_seen_at, s.ip, \
                 s.user_agent, u.id, u.email, u.password_hash, u.first_name, u.last_name, \
                 u.created_at, u.updated_at, u.is_admin \
                 FROM sessions s LEFT JOIN users u ON u.id = s.user_id WHERE s.digest = ?1",
            )?
            .query_row([digest], |r| {
                let session = session_from_row(r)?;
                let user = match r.get::<_, Option<String>>(7)? {
                    Some(_) => JoinedUser::Found(Arc::new(user_from_row_at(r, 7)?)),
                    None => JoinedUser::Gone,
                };
                Ok((Arc::new(session), user))
            })
            .optional()
        })
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn insert(&self, s: &Session) -> Result<(), StoreError> {
        self.write(
            |c| {
                c.prepare_cached(
                    "INSERT INTO sessions (id, digest, user_id, created_at, last_seen_at, ip, \
                     user_agent) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![
                    s.id,
                    s.digest,
                    s.user_id,
                    s.created_at,
                    s.last_seen_at,
                    s.ip,
                    s.user_agent
                ])
                .map(drop)
            },
            touches_nothing,
        )
    }

    async fn get(&self, digest: &Digest32) -> Result<Option<Session>, StoreError> {
        let session = self.cache.read_through(
            |c| c.sessions.get(digest).cloned(),
            || {
                self.read(|c| {
                    c.prepare_cached(concat!(
                        "SELECT ",
                        session_cols!(),
                        " FROM sessions WHERE digest = ?1"
                    ))?
                    .query_row([digest], session_from_row)
                    .optional()
                })
                .map(|s| s.map(Arc::new))
            },
            |c, s| {
                c.sessions.insert(s.digest, s);
            },
        )?;
        Ok(session.map(|s| Session::clone(&s)))
    }

    /// Served from the cache when both the session and its user are there; a session whose
    /// user is gone is never cached.
    async fn get_joined(
        &self,
        digest: &Digest32,
    ) -> Result<Option<(Arc<Session>, JoinedUser)>, StoreError> {
        self.cache.read_through(
            |c| {
                let s = c.sessions.get(digest)?;
                let u = c.users.get(&s.user_id)?;
                Some((s.clone(), JoinedUser::Found(u.clone())))
            },
            || self.load_joined(digest),
            |c, (s, user)| {
                if let JoinedUser::Found(u) = user {
                    c.sessions.insert(s.digest, s);
                    c.users.insert(u.id.clone(), u);
                }
            },
        )
    }

    async fn touch(&self, digest: &Digest32, now: i64) -> Result<(), StoreError> {
        self.write(
            |c| {
                c.prepare_cached(
                    "UPDATE sessions SET last_seen_at = ?2 \
                     WHERE digest = ?1 AND last_seen_at < ?2",
                )?
                .execute(params![digest, now])
                .map(drop)
            },
            |c| {
                if let Some(cached) = c.sessions.get_mut(digest) {
                    Arc::make_mut(cached).last_seen_at = cached.last_seen_at.max(now);
                }
            },
        )
    }

    async fn delete(&self, digest: &Digest32) -> Result<bool, StoreError> {
        self.write(
            |c| {
                c.prepare_cached("DELETE FROM sessions WHERE digest = ?1")?
                    .execute([digest])
                    .map(|n| n > 0)
            },
            |c| {
                c.sessions.remove(digest);
            },
        )
    }

    async fn list_for_user(&self, user_id: &str) -> Result<Vec<Session>, StoreError> {
        self.read(|c| {
            c.prepare_cached(concat!(
                "SELECT ",
                session_cols!(),
                " FROM sessions WHERE user_id = ?1 ORDER BY created_at, id"
            ))?
            .query_map([user_id], session_from_row)?
            .collect()
        })
    }

    async fn delete_for_user(
        &self,
        user_id: &str,
        except: Option<&Digest32>,
    ) -> Result<u64, StoreError> {
        self.write(
            |c| {
                c.prepare_cached("DELETE FROM sessions WHERE user_id = ?1 AND digest IS NOT ?2")?
                    .execute(params![user_id, except])
                    .map(|n| n as u64)
            },
            |c| {
                c.sessions
                    .retain(|d, s| s.user_id != user_id || Some(d) == except);
            },
        )
    }

    async fn count(&self) -> Result<u64, StoreError> {
        self.read(|c| {
            c.prepare_cached("SELECT count(*) FROM sessions")?
                .query_row([], |r| r.get(0))
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|c| c.prepare_cached("SELECT 1")?.query_row([], |_| Ok(())))
    }

    async fn purge_expired(&self, now: i64, expiry: Expiry) -> Result<u64, StoreError> {
        // A limit that is off is NULL, and matches nothing.
        let created_before = expiry.absolute.map(|d| now.saturating_sub(d));
        let seen_before = expiry.idle.map(|i| now.saturating_sub(i));
        self.write(
            |c| {
                c.prepare_cached(
                    "DELETE FROM sessions WHERE created_at <= ?1 OR last_seen_at <= ?2",
                )?
                .execute(params![created_before, seen_before])
                .map(|n| n as u64)
            },
            |c| c.sessions.retain(|_, s| !s.is_expired(now, expiry)),
        )
    }
}
