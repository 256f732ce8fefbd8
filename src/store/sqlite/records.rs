//! Small records by key and the outbox: [`RecordStore`] for [`SqliteStore`] (never cached).

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use crate::store::error::StoreError;
use crate::store::sqlite::cache::touches_nothing;
use crate::store::sqlite::db::SqliteStore;
use crate::store::traits::{OutboxEntry, Record, RecordStore, Write, fresh_version};

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

/// [`RecordStore::put`] on `c`; whether it wrote.
fn put(
    c: &Connection,
    key: &str,
    value: &str,
    expected: Option<i64>,
    expires_at: Option<i64>,
    now: i64,
) -> rusqlite::Result<bool> {
    let n = match expected {
        // Absent, or present but ended: either way the key is free.
        None => c
            .prepare_cached(
                "INSERT INTO records (key, value, version, expires_at) \
                 VALUES (?1, ?2, ?5, ?3) \
                 ON CONFLICT (key) DO UPDATE SET \
                   value = excluded.value, version = excluded.version, \
                   expires_at = excluded.expires_at \
                 WHERE records.expires_at IS NOT NULL AND records.expires_at <= ?4",
            )?
            .execute(params![key, value, expires_at, now, fresh_version()])?,
        Some(version) => c
            .prepare_cached(
                "UPDATE records SET value = ?2, version = version + 1, expires_at = ?3 \
                 WHERE key = ?1 AND version = ?4 AND (expires_at IS NULL OR expires_at > ?5)",
            )?
            .execute(params![key, value, expires_at, version, now])?,
    };
    Ok(n == 1)
}

/// Every write of a batch on `c`, in order; stops at the first put that does not match.
fn apply_all(c: &Connection, writes: &[Write<'_>], now: i64) -> rusqlite::Result<bool> {
    for w in writes {
        let ok = match *w {
            Write::Put {
                key,
                value,
                expected,
                expires_at,
            } => put(c, key, value, expected, expires_at, now)?,
            Write::Delete(key) => {
                c.prepare_cached("DELETE FROM records WHERE key = ?1")?
                    .execute([key])?;
                true
            }
            Write::Outbox(e) => {
                c.prepare_cached(
                    "INSERT INTO outbox (id, kind, payload, created_at, due_at, attempts) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![
                    e.id,
                    e.kind,
                    e.payload,
                    e.created_at,
                    e.due_at,
                    e.attempts
                ])?;
                true
            }
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn outbox_entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxEntry> {
    Ok(OutboxEntry {
        id: r.get(0)?,
        kind: r.get(1)?,
        payload: r.get(2)?,
        created_at: r.get(3)?,
        due_at: r.get(4)?,
        attempts: r.get(5)?,
    })
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
            |c| put(c, key, value, expected, expires_at, now),
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

    async fn apply(&self, writes: &[Write<'_>], now: i64) -> Result<bool, StoreError> {
        self.write(
            |c| {
                let tx = c.unchecked_transaction()?;
                if apply_all(&tx, writes, now)? {
                    tx.commit()?;
                    Ok(true)
                } else {
                    tx.rollback()?;
                    Ok(false)
                }
            },
            touches_nothing,
        )
    }

    async fn claim_outbox(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        // One writer: the select and the update cannot interleave with another claim.
        self.write(
            |c| {
                let tx = c.unchecked_transaction()?;
                let claimed = tx
                    .prepare_cached(
                        "UPDATE outbox SET due_at = ?2, attempts = attempts + 1 \
                         WHERE id IN (SELECT id FROM outbox WHERE due_at <= ?1 \
                                      ORDER BY due_at LIMIT ?3) \
                         RETURNING id, kind, payload, created_at, due_at, attempts",
                    )?
                    .query_map(params![now, lease_until, limit], outbox_entry)?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                tx.commit()?;
                Ok(claimed)
            },
            touches_nothing,
        )
    }

    async fn finish_outbox(&self, id: &str) -> Result<(), StoreError> {
        self.write(
            |c| {
                c.prepare_cached("DELETE FROM outbox WHERE id = ?1")?
                    .execute([id])
                    .map(drop)
            },
            touches_nothing,
        )
    }

    async fn retry_outbox(&self, id: &str, due_at: i64, error: &str) -> Result<(), StoreError> {
        self.write(
            |c| {
                c.prepare_cached("UPDATE outbox SET due_at = ?2, last_error = ?3 WHERE id = ?1")?
                    .execute(params![id, due_at, error])
                    .map(drop)
            },
            touches_nothing,
        )
    }

    async fn outbox_len(&self) -> Result<u64, StoreError> {
        self.read(|c| {
            c.prepare_cached("SELECT count(*) FROM outbox")?
                .query_row([], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
        })
    }
}
