//! The failed-login counts: [`ThrottleStore`] for [`SqliteStore`] (never cached).

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use crate::domain::Failures;
use crate::store::error::StoreError;
use crate::store::sqlite::cache::touches_nothing;
use crate::store::sqlite::db::{SqliteStore, returning_row};
use crate::store::traits::ThrottleStore;

#[async_trait]
impl ThrottleStore for SqliteStore {
    async fn failures(&self, key: &str) -> Result<Option<Failures>, StoreError> {
        self.read(|c| {
            c.prepare_cached("SELECT failures, last_failure_at FROM login_failures WHERE key = ?1")?
                .query_row([key], |r| {
                    Ok(Failures {
                        count: r.get(0)?,
                        last_at: r.get(1)?,
                    })
                })
                .optional()
        })
    }

    async fn record_failure(
        &self,
        key: &str,
        now: i64,
        quiet: i64,
    ) -> Result<Failures, StoreError> {
        self.write(
            |c| {
                c.prepare_cached(
                    "INSERT INTO login_failures (key, failures, last_failure_at) \
                     VALUES (?1, 1, ?2) \
                     ON CONFLICT (key) DO UPDATE SET \
                       failures = CASE WHEN ?2 - last_failure_at >= ?3 THEN 1 \
                                       ELSE failures + 1 END, \
                       last_failure_at = max(last_failure_at, ?2) \
                     RETURNING failures, last_failure_at",
                )?
                .query(params![key, now, quiet])
                .and_then(|rows| {
                    returning_row(rows, |r| {
                        Ok(Failures {
                            count: r.get(0)?,
                            last_at: r.get(1)?,
                        })
                    })
                })
            },
            touches_nothing,
        )
    }

    async fn clear(&self, key: &str) -> Result<(), StoreError> {
        self.write(
            |c| {
                c.prepare_cached("DELETE FROM login_failures WHERE key = ?1")?
                    .execute([key])
                    .map(drop)
            },
            touches_nothing,
        )
    }

    async fn purge(&self, before: i64) -> Result<u64, StoreError> {
        self.write(
            |c| {
                c.prepare_cached("DELETE FROM login_failures WHERE last_failure_at <= ?1")?
                    .execute([before])
                    .map(|n| n as u64)
            },
            touches_nothing,
        )
    }
}
