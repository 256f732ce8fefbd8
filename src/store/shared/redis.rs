//! The cache bus on Redis: the channel is pub/sub on `P{bus}`, the leases the sorted set
//! `P{bus}leases` (holder scored by when its lease ends, in milliseconds by the server's
//! `TIME`). Both live on one server: a standalone Redis, or in a cluster the master that owns
//! the slot of the hash tag `{bus}`. Every publish, ping and acknowledgement goes to that
//! server, so one server orders every message. After a failure the node is looked up again
//! from the seeds.

use std::sync::Mutex;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, Script};
use async_trait::async_trait;
use futures_util::StreamExt as _;
use tokio::sync::mpsc;

use crate::config::redis_node_url;
use crate::store::error::StoreError;
use crate::store::redis::RedisTarget;
use crate::store::shared::bus::{Bus, Subscription};

/// The bound on every round trip of the bus, and on connecting.
const OP_TIMEOUT: Duration = Duration::from_millis(1500);

/// The server's clock in milliseconds, in Lua.
const NOW_MS: &str = "local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
";

/// KEYS: the leases. ARGV: holder, lease (ms). Returns 1 if it extended a live lease.
const RENEW: &str = "local cur = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 3600000)
if cur and tonumber(cur) > now then return 1 end
return 0
";

/// KEYS: the leases. ARGV: channel, message ('' for none). Publishes, then returns the live
/// leases as holder, milliseconds left, ...
const PUBLISH_AND_LIVE: &str = "if ARGV[2] ~= '' then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
local r = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'WITHSCORES')
local out = {}
for i = 1, #r, 2 do
  table.insert(out, r[i])
  table.insert(out, tostring(math.floor(tonumber(r[i + 1]) - now)))
end
return out
";

/// The bus of one Redis deployment.
pub struct RedisBus {
    target: RedisTarget,
    channel: String,
    leases: String,
    renew: Script,
    publish_and_live: Script,
    /// The bus server and a connection to it, once found.
    node: Mutex<Option<(Client, ConnectionManager)>>,
}

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::unavailable_because("redis cache bus", e)
}

async fn bounded<T, E>(fut: impl Future<Output = Result<T, E>>) -> Result<T, StoreError>
where
    E: std::error::Error + Send + Sync + 'static,
{
    match tokio::time::timeout(OP_TIMEOUT, fut).await {
        Ok(r) => r.map_err(unavailable),
        Err(e) => Err(StoreError::unavailable_because(
            "redis cache bus: timed out",
            e,
        )),
    }
}

impl RedisBus {
    /// The bus of the Redis at `url` (a `SESSION_STORE_URL`), its keys under `prefix`.
    pub fn new(url: &str, prefix: &str) -> Result<Self, StoreError> {
        Ok(Self {
            target: RedisTarget::parse(url)?,
            channel: format!("{prefix}{{bus}}"),
            leases: format!("{prefix}{{bus}}leases"),
            renew: Script::new(&format!("{NOW_MS}{RENEW}")),
            publish_and_live: Script::new(&format!("{NOW_MS}{PUBLISH_AND_LIVE}")),
            node: Mutex::new(None),
        })
    }

    /// The URL of the server the bus lives on.
    async fn locate(&self) -> Result<String, StoreError> {
        let seeds = match &self.target {
            RedisTarget::Single(url) => return Ok(url.clone()),
            RedisTarget::Cluster(seeds) => seeds,
        };
        let mut last = StoreError::unavailable("no cluster seed node answered");
        for seed in seeds {
            match self.master_of_bus(seed).await {
                Ok(url) => return Ok(url),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Asks the cluster node at `seed` which master owns the bus's slot.
    async fn master_of_bus(&self, seed: &str) -> Result<String, StoreError> {
        let client = Client::open(seed).map_err(unavailable)?;
        let mut conn = bounded(client.get_multiplexed_async_connection()).await?;
        let slot: i64 = bounded(
            ::redis::cmd("CLUSTER")
                .arg("KEYSLOT")
                .arg(&self.leases)
                .query_async(&mut conn),
        )
        .await?;
        let ranges: Vec<::redis::Value> =
            bounded(::redis::cmd("CLUSTER").arg("SLOTS").query_async(&mut conn)).await?;
        // Each range is [start, end, [host, port, id, ...], replicas...] (Redis 7 adds fields).
        for range in ranges {
            let ::redis::Value::Array(parts) = range else {
                continue;
            };
            let mut parts = parts.into_iter();
            let (Some(start), Some(end), Some(::redis::Value::Array(master))) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let (Ok(start), Ok(end)) = (
                ::redis::from_redis_value::<i64>(start),
                ::redis::from_redis_value::<i64>(end),
            ) else {
                continue;
            };
            let mut master = master.into_iter();
            let (Some(Ok(host)), Some(Ok(port))) = (
                master.next().map(::redis::from_redis_value::<String>),
                master.next().map(::redis::from_redis_value::<i64>),
            ) else {
                continue;
            };
            if (start..=end).contains(&slot) {
                return Ok(with_address(seed, &host, port));
            }
        }
        Err(StoreError::unavailable(
            "no master owns the cache bus's slot",
        ))
    }

    /// A connection to the bus server.
    async fn conn(&self) -> Result<ConnectionManager, StoreError> {
        if let Some((_, conn)) = self.node.lock().map_or(None, |n| n.clone()) {
            return Ok(conn);
        }
        let url = self.locate().await?;
        let client = Client::open(url.as_str()).map_err(unavailable)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(OP_TIMEOUT))
            .set_response_timeout(Some(OP_TIMEOUT))
            .set_number_of_retries(1);
        let conn = bounded(ConnectionManager::new_with_config(client.clone(), config)).await?;
        if let Ok(mut node) = self.node.lock() {
            *node = Some((client, conn.clone()));
        }
        Ok(conn)
    }

    /// Runs `f` on the bus connection; forgets the connection if it fails, so the next call
    /// looks the server up again.
    async fn run<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = Result<T, ::redis::RedisError>>,
    {
        let conn = self.conn().await?;
        let r = bounded(f(conn)).await;
        if r.is_err()
            && let Ok(mut node) = self.node.lock()
        {
            *node = None;
        }
        r
    }

    async fn leases_after(&self, message: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let flat: Vec<String> = self
            .run(|mut c| async move {
                let mut inv = self.publish_and_live.prepare_invoke();
                inv.key(&self.leases).arg(&self.channel).arg(message);
                inv.invoke_async(&mut c).await
            })
            .await?;
        Ok(flat
            .chunks_exact(2)
            .map(|p| (p[0].clone(), p[1].parse::<u64>().unwrap_or(0)))
            .collect())
    }
}

/// `seed` (`redis://[auth@]host:port`) with its address replaced by `host:port`.
fn with_address(seed: &str, host: &str, port: i64) -> String {
    let rest = seed.strip_prefix("redis://").unwrap_or(seed);
    redis_node_url(rest.rsplit_once('@').map(|(a, _)| a), host, port)
}

#[async_trait]
impl Bus for RedisBus {
    async fn subscribe(&self) -> Result<Subscription, StoreError> {
        let url = self.locate().await?;
        let client = Client::open(url.as_str()).map_err(unavailable)?;
        let mut pubsub = bounded(client.get_async_pubsub()).await?;
        bounded(pubsub.subscribe(&self.channel)).await?;
        let (tx, rx) = mpsc::channel(1024);
        let mut messages = pubsub.into_on_message();
        tokio::spawn(async move {
            while let Some(m) = messages.next().await {
                let Ok(payload) = m.get_payload::<String>() else {
                    continue;
                };
                if tx.send(payload).await.is_err() {
                    return;
                }
            }
        });
        Ok(Subscription::new(rx, Box::new(())))
    }

    async fn publish(&self, message: &str) -> Result<(), StoreError> {
        self.run(|mut c| async move {
            ::redis::cmd("PUBLISH")
                .arg(&self.channel)
                .arg(message)
                .query_async::<i64>(&mut c)
                .await
        })
        .await
        .map(drop)
    }

    async fn publish_and_live(&self, message: &str) -> Result<Vec<(String, u64)>, StoreError> {
        self.leases_after(message).await
    }

    async fn live(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.leases_after("").await
    }

    async fn renew(&self, holder: &str, lease: Duration) -> Result<bool, StoreError> {
        let lease = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX);
        let extended: i64 = self
            .run(|mut c| async move {
                let mut inv = self.renew.prepare_invoke();
                inv.key(&self.leases).arg(holder).arg(lease);
                inv.invoke_async(&mut c).await
            })
            .await?;
        Ok(extended == 1)
    }

    async fn release(&self, holder: &str) -> Result<(), StoreError> {
        self.run(|mut c| async move {
            ::redis::cmd("ZREM")
                .arg(&self.leases)
                .arg(holder)
                .query_async::<i64>(&mut c)
                .await
        })
        .await
        .map(drop)
    }
}
