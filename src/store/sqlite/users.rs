//! The users table: [`UserStore`] for [`SqliteStore`], reads of a user by id through the cache.

use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, params};

use crate::domain::{User, email_key};
use crate::store::error::StoreError;
use crate::store::sqlite::cache::touches_nothing;
use crate::store::sqlite::db::SqliteStore;
use crate::store::traits::UserStore;

/// The columns [`user_from_row_at`] reads, in order.
macro_rules! user_cols {
    () => {
        "id, email, password_hash, first_name, last_name, created_at, updated_at, is_admin"
    };
}

fn user_from_row(r: &Row<'_>) -> rusqlite::Result<User> {
    user_from_row_at(r, 0)
}

/// A user from the columns of `user_cols!` starting at column `at`.
pub(super) fn user_from_row_at(r: &Row<'_>, at: usize) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(at)?,
        email: r.get(at + 1)?,
        password_hash: r.get(at + 2)?,
        first_name: r.get(at + 3)?,
        last_name: r.get(at + 4)?,
        created_at: r.get(at + 5)?,
        updated_at: r.get(at + 6)?,
        is_admin: r.get(at + 7)?,
    })
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn create(&self, u: &User) -> Result<(), StoreError> {
        self.write(
            |c| {
                c.prepare_cached(
                    "INSERT INTO users (id, email, email_key, password_hash, first_name, \
                     last_name, created_at, updated_at, is_admin) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )?
                .execute(params![
                    u.id,
                    u.email,
                    email_key(&u.email),
                    u.password_hash,
                    u.first_name,
                    u.last_name,
                    u.created_at,
                    u.updated_at,
                    u.is_admin
                ])
                .map(drop)
            },
            touches_nothing,
        )
    }

    async fn get(&self, id: &str) -> Result<Option<User>, StoreError> {
        Ok(self.get_shared(id).await?.map(|u| User::clone(&u)))
    }

    async fn get_shared(&self, id: &str) -> Result<Option<Arc<User>>, StoreError> {
        self.cache.read_through(
            |c| c.users.get(id).cloned(),
            || {
                self.read(|c| {
                    c.prepare_cached(concat!(
                        "SELECT ",
                        user_cols!(),
                        " FROM users WHERE id = ?1"
                    ))?
                    .query_row([id], user_from_row)
                    .optional()
                })
                .map(|u| u.map(Arc::new))
            },
            |c, u| {
                c.users.insert(u.id.clone(), u);
            },
        )
    }

    async fn get_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        self.read(|c| {
            c.prepare_cached(concat!(
                "SELECT ",
                user_cols!(),
                " FROM users WHERE email_key = ?1"
            ))?
            .query_row([email_key(email)], user_from_row)
            .optional()
        })
    }

    /// Ties on `created_at` are broken by the rowid, which follows insertion (a new row gets
    /// one more than the largest there is).
    async fn list(&self) -> Result<Vec<User>, StoreError> {
        self.read(|c| {
            c.prepare_cached(concat!(
                "SELECT ",
                user_cols!(),
                " FROM users ORDER BY created_at, rowid"
            ))?
            .query_map([], user_from_row)?
            .collect()
        })
    }

    async fn count(&self) -> Result<u64, StoreError> {
        self.read(|c| {
            c.prepare_cached("SELECT count(*) FROM users")?
                .query_row([], |r| r.get(0))
        })
    }

    async fn update(&self, u: &User) -> Result<bool, StoreError> {
        self.write(
            |c| {
                c.prepare_cached(
                    "UPDATE users SET first_name = ?2, last_name = ?3, is_admin = ?4, \
                     updated_at = ?5 WHERE id = ?1",
                )?
                .execute(params![
                    u.id,
                    u.first_name,
                    u.last_name,
                    u.is_admin,
                    u.updated_at
                ])
                .map(|n| n > 0)
            },
            |c| {
                c.users.remove(&u.id);
            },
        )
    }

    async fn set_password(&self, id: &str, hash: &str, now: i64) -> Result<bool, StoreError> {
        self.write(
            |c| {
                c.prepare_cached(
                    "UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE id = ?1",
                )?
                .execute(params![id, hash, now])
                .map(|n| n > 0)
            },
            |c| {
                c.users.remove(id);
            },
        )
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        self.write(
            |c| {
                c.prepare_cached("DELETE FROM users WHERE id = ?1")?
                    .execute([id])
                    .map(|n| n > 0)
            },
            |c| {
                c.users.remove(id);
            },
        )
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|c| c.prepare_cached("SELECT 1")?.query_row([], |_| Ok(())))
    }

    fn close(&self) {
        self.checkpoint();
    }
}
