//! Small records by key: [`RecordStore`] for [`SqliteStore`] (never cached).

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use crate::store::error::StoreError;
use crate::store::sqlite::cache::touches_nothing;
use crate::store::sqlite::db::SqliteStore;
use crate::store::traits::{Record, RecordStore};

fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<Record> {
    Ok(Record {
        value: r.get(0)?,
        version: r.get(1)?,
        expires_at: r.get(2)?,
    })
}

fn live(r: Record, now: i64) -> Option<Record> {
    r.expires_at.is_none_or(|at| at > now).then_some(r)
}

#[async_trait]
impl RecordStore for SqliteStore {
    async fn get(&self, key: &str, now: i64) -> Result<Option<Record>, StoreError> {
        let found = self.read(|c| {
            c.prepare_cached("SELECT value, version, expires_at FROM records WHERE key = ?1")?
                .query_row([key], record)
                .optional()
        })?;
        Ok(found.and_then(|r| live(r, now)))
    }

    async fn put(
        &self,
        key: &str,
        value: &str,
        expected: Option<i64>,
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.write(
            |c| {
                let n = match expected {
                    // Absent, or present but ended: either way the key is free.
                    None => c
                        .prepare_cached(
                            "INSERT INTO records (key, value, version, expires_at) \
                             VALUES (?1, ?2, 1, ?3) \
                             ON CONFLICT (key) DO UPDATE SET \
                               value = excluded.value, version = 1, \
                               expires_at = excluded.expires_at \
                             WHERE records.expires_at IS NOT NULL AND records.expires_at <= ?4",
                        )?
                        .execute(params![key, value, expires_at, now])?,
                    Some(version) => c
                        .prepare_cached(
                            "UPDATE records SET value = ?2, version = version + 1, \
                               expires_at = ?3 \
                             WHERE key = ?1 AND version = ?4 \
                               AND (expires_at IS NULL OR expires_at > ?5)",
                        )?
                        .execute(params![key, value, expires_at, version, now])?,
                };
                Ok(n == 1)
            },
            touches_nothing,
        )
    }

    async fn take(&self, key: &str, now: i64) -> Result<Option<Record>, StoreError> {
        let taken = self.write(
            |c| {
                let mut st = c.prepare_cached(
                    "DELETE FROM records WHERE key = ?1 RETURNING value, version, expires_at",
                )?;
                let mut rows = st.query([key])?;
                let first = rows.next()?.map(record).transpose()?;
                // Stepped to the end, so the commit's checkpoint runs (see `returning_row`).
                while rows.next()?.is_some() {}
                Ok(first)
            },
            touches_nothing,
        )?;
        Ok(taken.and_then(|r| live(r, now)))
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        self.write(
            |c| {
                c.prepare_cached("DELETE FROM records WHERE key = ?1")?
                    .execute([key])
                    .map(|n| n > 0)
            },
            touches_nothing,
        )
    }

    async fn purge(&self, now: i64) -> Result<u64, StoreError> {
        self.write(
            |c| {
                c.prepare_cached(
                    "DELETE FROM records WHERE expires_at IS NOT NULL AND expires_at <= ?1",
                )?
                .execute([now])
                .map(|n| n as u64)
            },
            touches_nothing,
        )
    }
}
