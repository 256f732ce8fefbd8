//! The cache bus on PostgreSQL: the channel is `LISTEN`/`NOTIFY` on `sesame_cache` (one
//! queue in commit order for the whole database), the leases a table, timed by the database's
//! `clock_timestamp()`.

use std::future::poll_fn;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls, Row};

use crate::store::error::StoreError;
use crate::store::postgres::PgStore;
use crate::store::shared::bus::{Bus, Subscription};

/// The notification channel.
const CHANNEL: &str = "sesame_cache";

/// Milliseconds since the epoch by the database's clock, in SQL.
const NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

/// The bus of one database.
pub struct PgBus {
    store: Arc<PgStore>,
}

impl PgBus {
    /// The bus on `store`'s database.
    pub fn new(store: Arc<PgStore>) -> Self {
        Self { store }
    }
}

fn leases_from(rows: &[Row]) -> Result<Vec<(String, u64)>, StoreError> {
    rows.iter()
        .map(|r| {
            let holder: String = r.try_get(0).map_err(pg_other)?;
            let left: i64 = r.try_get(1).map_err(pg_other)?;
            Ok((holder, u64::try_from(left).unwrap_or(0)))
        })
        .collect()
}

fn pg_other(e: tokio_postgres::Error) -> StoreError {
    StoreError::other_because("PostgreSQL cache bus", e)
}

fn pg_unavailable(e: tokio_postgres::Error) -> StoreError {
    StoreError::unavailable_because("PostgreSQL cache channel", e)
}

#[async_trait]
impl Bus for PgBus {
    /// A connection of its own that `LISTEN`s; a task forwards its notifications until it
    /// closes or fails.
    async fn subscribe(&self) -> Result<Subscription, StoreError> {
        let connecting = self.store.config().connect(NoTls);
        let (client, mut connection) =
            tokio::time::timeout(Duration::from_millis(1500), connecting)
                .await
                .map_err(|e| StoreError::unavailable_because("PostgreSQL cache channel", e))?
                .map_err(pg_unavailable)?;
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(async move {
            while let Some(Ok(m)) = poll_fn(|cx| connection.poll_message(cx)).await {
                if let AsyncMessage::Notification(n) = m
                    && n.channel() == CHANNEL
                    && tx.send(n.payload().to_owned()).await.is_err()
                {
                    return;
                }
            }
        });
        let sql = format!("LISTEN {CHANNEL}");
        let listen = client.batch_execute(&sql);
        tokio::time::timeout(Duration::from_millis(1500), listen)
            .await
            .map_err(|e| StoreError::unavailable_because("PostgreSQL LISTEN", e))?
            .map_err(pg_unavailable)?;
        Ok(Subscription::new(rx, Box::new(client)))
    }

    async fn publish(&self, message: &str) -> Result<(), StoreError> {
        self.store
            .rows("SELECT pg_notify($1, $2)::text", &[&CHANNEL, &message])
            .await
            .map(drop)
    }

    async fn publish_and_live(&self, message: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let sql = format!(
            "WITH n AS MATERIALIZED (SELECT pg_notify($1, $2)::text AS done, {NOW_MS} AS t) \
             SELECT l.holder, l.expires_at - n.t FROM n \
             LEFT JOIN cache_leases l ON l.expires_at > n.t"
        );
        let rows = self.store.rows(&sql, &[&CHANNEL, &message]).await?;
        let live: Vec<Row> = rows
            .into_iter()
            .filter(|r| matches!(r.try_get::<_, Option<String>>(0), Ok(Some(_))))
            .collect();
        leases_from(&live)
    }

    async fn live(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let sql = format!(
            "SELECT holder, expires_at - {NOW_MS} FROM cache_leases WHERE expires_at > {NOW_MS}"
        );
        leases_from(&self.store.rows(&sql, &[]).await?)
    }

    async fn renew(&self, holder: &str, lease: Duration) -> Result<bool, StoreError> {
        let lease = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        // `old` reads the row as it was before this statement's upsert. Leases dead for an
        // hour (instances that died) are cleared on the way.
        let sql = format!(
            "WITH t AS MATERIALIZED (SELECT {NOW_MS} AS now), \
             old AS (SELECT expires_at FROM cache_leases WHERE holder = $1), \
             gone AS (DELETE FROM cache_leases WHERE expires_at < (SELECT now FROM t) - 3600000 \
                      AND holder <> $1 RETURNING 1), \
             up AS (INSERT INTO cache_leases (holder, expires_at) \
                    SELECT $1, now + $2 FROM t \
                    ON CONFLICT (holder) DO UPDATE SET expires_at = EXCLUDED.expires_at \
                    RETURNING 1) \
             SELECT COALESCE((SELECT expires_at FROM old) > (SELECT now FROM t), false), \
                    (SELECT count(*) FROM up), (SELECT count(*) FROM gone)"
        );
        let rows = self.store.rows(&sql, &[&holder, &lease]).await?;
        let row = rows
            .first()
            .ok_or_else(|| StoreError::other("renewing a cache lease returned no row"))?;
        row.try_get(0).map_err(pg_other)
    }

    async fn release(&self, holder: &str) -> Result<(), StoreError> {
        self.store
            .rows(
                "DELETE FROM cache_leases WHERE holder = $1 RETURNING holder",
                &[&holder],
            )
            .await
            .map(drop)
    }
}
