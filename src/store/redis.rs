//! Redis: `session_db_auth` sessions in a Redis shared by every instance (`SESSION_STORE_URL`):
//! a standalone server (`redis://`) or a Redis Cluster (`redis+cluster://`), with the same
//! scripts and key layout.
//!
//! # Key layout
//!
//! Every key starts with the configured prefix `P`. Keys and values hold only digests (the
//! lowercase hex of a token's 32-byte SHA-256), never tokens. Sessions are grouped into 1024
//! buckets: the bucket `b` of a digest is its first two bytes, big-endian, mod 1024.
//!
//! | key | type | content |
//! |---|---|---|
//! | `P{b<b>}s:<digest>` | hash | the session: `id`, `user_id`, `created_at`, `last_seen_at` (decimal Unix seconds), and `ip`, `user_agent` when present (an absent field is `None`); `pending` while an insert is under way |
//! | `P{b<b>}created` | sorted set | the bucket's digests scored by `created_at` |
//! | `P{b<b>}seen` | sorted set | the bucket's digests scored by `last_seen_at` |
//! | `P{u:<user_id>}` | set | the digests of the user's sessions |
//! | `P{i:<session id>}` | string | the digest of the session with this public id (keeps ids unique) |
//!
//! No other key is written, and no write touches a key shared by all sessions.
//!
//! # Slots
//!
//! The braces are Redis Cluster hash tags: a session's hash and its bucket's two sorted sets
//! share a slot, and each user set and each id key has a slot of its own. Every script is given
//! its keys as `KEYS`, all in one slot, so the same scripts run on a standalone server and on a
//! cluster (where the 1024 buckets spread over the masters). A prefix that itself holds a hash
//! tag (`{sesame}:`) still works, with every key in one slot.
//!
//! # The hash is the truth
//!
//! A session exists when its hash exists without a `pending` field. A digest listed in an index
//! whose hash is gone is *dangling* and is never returned; dangling entries appear when a native
//! TTL (below) ends a hash or a step below is cut short, and are cleaned lazily:
//! [`SessionStore::list_for_user`] and [`SessionStore::delete_for_user`] drop them from the
//! user's set, [`SessionStore::delete`] and [`SessionStore::purge_expired`] from the sorted sets.
//!
//! Operations spanning a session and its user set or id key are several single-slot steps,
//! ordered so that the hash stays the truth:
//! - insert: (1) reserves the hash (one script: `Conflict` if the digest exists, else the hash
//!   with a `pending` marker that lapses after 30 s); (2) adds the digest to the user's set and
//!   claims the id key, side by side; (3) commits the hash (drops `pending`, sets its TTL, adds it
//!   to the bucket's sorted sets). The id claim is a compare-and-set script: an id key naming
//!   another digest whose hash exists (committed or reserved) is a `Conflict`; one naming a
//!   dangling digest is taken only if it still names that digest, so of two racing takers one
//!   wins. A reserved hash is invisible to reads, and is what tells an insert under way from a
//!   dangling entry. A step that fails undoes the earlier ones (a lapsed reservation cleans up
//!   after a crash).
//! - delete: removes the hash and its sorted-set entries (one script), then the id key (if it
//!   still names the digest) and the user-set entry.
//! - delete for a user: reads the set, deletes each member's hash if it is the user's (one script
//!   each), then removes those members and the dangling ones from the set; reserved members stay.
//!
//! # Purge and count
//!
//! [`SessionStore::purge_expired`] goes through the 1024 buckets, many at a time: in each, a
//! read finds up to 500 digests per sorted set at or past their cutoff, and one script deletes
//! those still expired by their hash's own fields; their id keys and user-set entries go after.
//! [`SessionStore::count`] sums the buckets' `created` cardinalities. Both work per bucket, so
//! per cluster node, without `SCAN`.
//!
//! # Migration
//!
//! Earlier versions kept every session in one slot's worth of keys: `Ps:<digest>` hashes,
//! `Pid:<id>` strings, `Pu:<uid>` sets and the `Pcreated` and `Pseen` sorted sets. On connecting
//! to a standalone server where `Pcreated` or `Pseen` exists, each session in them is moved to
//! the layout above (a script per batch; the hash is renamed, keeping its TTL) and its old keys
//! are deleted, then the leftover old user sets and id keys are swept; the number moved is
//! logged. A cluster URL skips this.
//!
//! # Native TTLs
//!
//! With `absolute_ttl = Some(d)`, the session hash and its id key get a TTL of `d` at insert,
//! and the user's set is kept alive at least as long as any of its members. This is only a
//! garbage-collection bound counted from insertion: whether a session has expired is always
//! decided by the caller from `created_at` and `last_seen_at` (via `purge_expired` and
//! [`Session::is_expired`](crate::domain::Session::is_expired)), never by the TTL.
//!
//! # Failures
//!
//! The connection is a [`::redis::aio::ConnectionManager`] (standalone) or a
//! [`::redis::cluster_async::ClusterConnection`], which both reconnect by themselves (the
//! cluster one follows slot moves too), with 1.5 s connection and response timeouts; every round
//! trip, and every operation as a whole (but a purge, bounded per round trip, and connecting),
//! is also bounded by a 1.5 s [`tokio::time::timeout`]. An operation cut short at any step
//! leaves the hash the truth; an insert that fails undoes its earlier steps in the background,
//! so the error is not late. Connection and I/O errors,
//! timeouts, a busy or loading server and a cluster that is down, failing over or moving slots
//! become [`StoreError::Unavailable`]; anything else (a corrupt record, a server error)
//! [`StoreError::Other`].
//!
//! Timestamps are compared as Lua and sorted-set numbers (IEEE doubles): exact for any Unix time
//! within ±2^53 seconds.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ::redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use ::redis::cluster::ClusterClient;
use ::redis::cluster_async::ClusterConnection;
use ::redis::{
    Client, Cmd, ErrorKind, FromRedisValue, IntoConnectionInfo, Pipeline, RedisError, RedisFuture,
    Script, ScriptInvocation, ServerErrorKind, Value,
};
use async_trait::async_trait;
use tokio::task::JoinSet;

use crate::config::{REDIS_CLUSTER_SCHEME, redis_cluster_seeds};
use crate::domain::{Digest32, Expiry, Session};
use crate::store::error::StoreError;
use crate::store::traits::SessionStore;

/// The bound on every round trip, and on connecting: short enough that a request needing an
/// unreachable store is answered 503 within the contract's 2 s.
const OP_TIMEOUT: Duration = Duration::from_millis(1500);

/// How many index entries one purge batch examines per sorted set, so a large purge never
/// blocks the server for long.
const PURGE_BATCH: i64 = 500;

/// How many sessions are grouped under one hash tag.
const BUCKETS: u16 = 1024;

/// How many round trips a many-key operation (purge, count, a user's sessions) keeps in flight.
const IN_FLIGHT: usize = 64;

/// How long a reserved hash waits for its insert to commit it before it lapses, in ms.
const PENDING_MS: i64 = 30_000;

/// How many old-layout sessions one migration script moves.
const MIGRATE_BATCH: i64 = 200;

/// The hash fields of a session, in the order reads ask for them, then the insert marker.
const FIELDS: [&str; 7] = [
    "id",
    "user_id",
    "created_at",
    "last_seen_at",
    "ip",
    "user_agent",
    "pending",
];

/// KEYS: hash. ARGV: marker, pending ms, then the session's field-value pairs. Reserves the
/// hash: 0 if the digest exists (reserved or not), else 1.
const RESERVE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'pending', ARGV[1], unpack(ARGV, 3))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
";

/// KEYS: hash, created, seen. ARGV: marker, ttl (0: none), digest, created_at, last_seen_at.
/// Commits a hash this insert reserved; 0 if the reservation is gone.
const COMMIT: &str = r"
if redis.call('HGET', KEYS[1], 'pending') ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[1], 'pending')
if tonumber(ARGV[2]) > 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
else
  redis.call('PERSIST', KEYS[1])
end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[3])
return 1
";

/// KEYS: hash. ARGV: marker. Deletes a hash this insert reserved.
const ABANDON: &str = r"
if redis.call('HGET', KEYS[1], 'pending') ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
";

/// KEYS: user set. ARGV: digest, ttl (0: none). Adds the digest, keeping the set alive at least
/// `ttl` seconds (or for good).
const JOIN_USER: &str = r"
local ttl = tonumber(ARGV[2])
if ttl > 0 then
  local left = redis.call('TTL', KEYS[1])
  redis.call('SADD', KEYS[1], ARGV[1])
  if left == -2 or (left >= 0 and left < ttl) then redis.call('EXPIRE', KEYS[1], ttl) end
else
  redis.call('SADD', KEYS[1], ARGV[1])
  redis.call('PERSIST', KEYS[1])
end
return 1
";

/// KEYS: id key. ARGV: digest, ttl (0: none), the dangling digest the caller may take ('' for
/// none). Returns {1, ''} once the key names the digest, or {0, holder} if another digest
/// holds it.
const CLAIM_ID: &str = r"
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] and cur ~= ARGV[3] then return {0, cur} end
if tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
return {1, ''}
";

/// KEYS: id key. ARGV: digest. Deletes the id key if it names the digest.
const RELEASE_ID: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
";

/// KEYS: hash, seen. ARGV: digest, now. Moves `last_seen_at` to `now` if it is later; never
/// creates, never touches a reserved hash.
const TOUCH: &str = r"
local f = redis.call('HMGET', KEYS[1], 'last_seen_at', 'pending')
if not f[1] or f[2] then return 0 end
if tonumber(ARGV[2]) <= tonumber(f[1]) then return 0 end
redis.call('HSET', KEYS[1], 'last_seen_at', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
";

/// KEYS: hash, created, seen. ARGV: digest, owner ('' for any). Returns {status, id, user_id}:
/// 1 deleted (with the hash's id and user), 0 no hash (its sorted-set entries are dropped),
/// -1 another user's (left alone), -2 reserved by an insert under way (left alone).
const DELETE_ONE: &str = r"
local f = redis.call('HMGET', KEYS[1], 'id', 'user_id', 'pending')
if f[3] then return {-2, '', ''} end
if f[1] and ARGV[2] ~= '' and f[2] ~= ARGV[2] then return {-1, '', ''} end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
if not f[1] then return {0, '', ''} end
redis.call('DEL', KEYS[1])
return {1, f[1], f[2] or ''}
";

/// KEYS: created, seen. ARGV: created cutoff, seen cutoff ('' for a limit that is off), batch
/// size. Returns {examined in created, examined in seen, {digests at or below a cutoff}}.
const PURGE_FIND: &str = r"
local out, found, examined = {}, {}, {0, 0}
for i = 1, 2 do
  if ARGV[i] ~= '' then
    local ds = redis.call('ZRANGEBYSCORE', KEYS[i], '-inf', ARGV[i], 'LIMIT', 0, ARGV[3])
    examined[i] = #ds
    for _, d in ipairs(ds) do
      if not found[d] then
        found[d] = true
        table.insert(out, d)
      end
    end
  end
end
return {examined[1], examined[2], out}
";

/// KEYS: created, seen, then the hashes of ARGV[3..]. ARGV: created cutoff, seen cutoff, then
/// digests. Deletes each session still expired by its own fields, drops the entries of those
/// without a hash; returns {entries removed, {digest, id, user_id of each deleted session}}.
const PURGE: &str = r"
local cc, sc = tonumber(ARGV[1]), tonumber(ARGV[2])
local removed, gone = 0, {}
for i = 3, #KEYS do
  local d = ARGV[i]
  local f = redis.call('HMGET', KEYS[i], 'id', 'user_id', 'created_at', 'last_seen_at', 'pending')
  local c, s = tonumber(f[3]), tonumber(f[4])
  local dead = (cc and c and c <= cc) or (sc and s and s <= sc)
  if not f[1] or f[5] or dead then
    redis.call('ZREM', KEYS[1], d)
    redis.call('ZREM', KEYS[2], d)
    removed = removed + 1
  end
  if f[1] and not f[5] and dead then
    redis.call('DEL', KEYS[i])
    table.insert(gone, d)
    table.insert(gone, f[1])
    table.insert(gone, f[2] or '')
  end
end
return {removed, gone}
";

/// Standalone only (it names keys of several slots). ARGV: prefix, batch size, buckets. Moves
/// up to a batch of sessions of the old layout (`Pcreated`, then `Pseen`) to the bucketed one
/// and deletes their old keys; returns {moved, examined}.
const MIGRATE: &str = r"
local p, buckets = ARGV[1], tonumber(ARGV[3])
local oc, os = p .. 'created', p .. 'seen'
local ds = redis.call('ZRANGE', oc, 0, tonumber(ARGV[2]) - 1)
if #ds == 0 then ds = redis.call('ZRANGE', os, 0, tonumber(ARGV[2]) - 1) end
local moved = 0
for _, d in ipairs(ds) do
  redis.call('ZREM', oc, d)
  redis.call('ZREM', os, d)
  local oh = p .. 's:' .. d
  local f = redis.call('HMGET', oh, 'id', 'user_id', 'created_at', 'last_seen_at')
  local b = tonumber(string.sub(d, 1, 4), 16)
  if f[1] and f[2] and b then
    local tag = p .. '{b' .. (b % buckets) .. '}'
    local nh = tag .. 's:' .. d
    if redis.call('EXISTS', nh) == 0 then
      local ttl = redis.call('PTTL', oh)
      redis.call('RENAME', oh, nh)
      redis.call('ZADD', tag .. 'created', f[3], d)
      redis.call('ZADD', tag .. 'seen', f[4], d)
      local nu = p .. '{u:' .. f[2] .. '}'
      local left = redis.call('PTTL', nu)
      redis.call('SADD', nu, d)
      if ttl < 0 then
        redis.call('PERSIST', nu)
      elseif left == -2 or (left >= 0 and left < ttl) then
        redis.call('PEXPIRE', nu, ttl)
      end
      local ni = p .. '{i:' .. f[1] .. '}'
      if redis.call('SET', ni, d, 'NX') and ttl > 0 then redis.call('PEXPIRE', ni, ttl) end
      moved = moved + 1
    end
    redis.call('DEL', oh)
    local oi = p .. 'id:' .. f[1]
    if redis.call('GET', oi) == d then redis.call('DEL', oi) end
    redis.call('SREM', p .. 'u:' .. f[2], d)
  end
end
return {moved, #ds}
";

/// Standalone only. KEYS: old-layout user sets and id keys. ARGV: prefix. Drops the digests
/// whose old hash is gone (an old hash left is an old instance's session, moved at the next
/// connect); returns how many entries it dropped.
const SWEEP: &str = r"
local p, n = ARGV[1], 0
local function dangling(d)
  return type(d) == 'string' and #d == 64 and string.match(d, '^%x+$') ~= nil
    and redis.call('EXISTS', p .. 's:' .. d) == 0
end
for _, k in ipairs(KEYS) do
  local t = redis.call('TYPE', k)['ok']
  if t == 'set' then
    for _, d in ipairs(redis.call('SMEMBERS', k)) do
      if dangling(d) then n = n + redis.call('SREM', k, d) end
    end
  elseif t == 'string' then
    if dangling(redis.call('GET', k)) then n = n + redis.call('DEL', k) end
  end
end
return n
";

/// Where a `SESSION_STORE_URL` points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisTarget {
    /// A standalone server: the `redis://` URL as given.
    Single(String),
    /// A Redis Cluster: its seed nodes (the rest are discovered), each a plain
    /// `redis://[user:pass@]host:port` URL.
    Cluster(Vec<String>),
}

impl RedisTarget {
    /// Parses `redis://host[:port][/db]` (a standalone server) or
    /// `redis+cluster://[user:pass@]host:port[,host:port...]` (a cluster's seed nodes; the
    /// credentials are copied onto each node). An error never quotes the URL, which may hold a
    /// password.
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        let url = url.trim();
        match url.strip_prefix(REDIS_CLUSTER_SCHEME) {
            Some(rest) => redis_cluster_seeds(rest)
                .map(Self::Cluster)
                .map_err(url_error),
            None => {
                url.into_connection_info()
                    .map_err(|e| url_error(e.category()))?;
                Ok(Self::Single(url.to_owned()))
            }
        }
    }
}

/// `SESSION_STORE_URL` is wrong because of `why` (never the URL itself).
fn url_error(why: &str) -> StoreError {
    StoreError::other(format!("SESSION_STORE_URL: {why}"))
}

/// The connection, to a standalone server or to a cluster (which routes each command by its
/// first key). Cheap to clone: both multiplex one connection per server and reconnect by
/// themselves.
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

impl Conn {
    /// Connects to `target` within [`OP_TIMEOUT`].
    async fn open(target: &RedisTarget) -> Result<Self, StoreError> {
        // Only the category of a URL that does not parse is kept, not the error: its details
        // may quote parts of the URL, password included.
        match target {
            RedisTarget::Single(url) => {
                let client = Client::open(url.as_str()).map_err(|e| url_error(e.category()))?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(OP_TIMEOUT))
                    .set_response_timeout(Some(OP_TIMEOUT))
                    .set_number_of_retries(3)
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(Duration::from_millis(500));
                let conn = bounded(ConnectionManager::new_with_config(client, config)).await?;
                Ok(Self::Single(conn))
            }
            RedisTarget::Cluster(nodes) => {
                let client = ClusterClient::builder(nodes.iter().map(String::as_str))
                    .connection_timeout(OP_TIMEOUT)
                    .response_timeout(OP_TIMEOUT)
                    .retries(3)
                    .min_retry_wait(50)
                    .max_retry_wait(500)
                    .build()
                    .map_err(|e| url_error(e.category()))?;
                Ok(Self::Cluster(bounded(client.get_async_connection()).await?))
            }
        }
    }
}

/// The key names under one prefix (see the module docs).
struct Keys {
    prefix: String,
}

/// The keys of one session: its digest in hex, its hash and its bucket's sorted sets.
struct At {
    hex: String,
    hash: String,
    created: String,
    seen: String,
}

impl Keys {
    /// The bucket of a digest: its first two bytes, big-endian, mod [`BUCKETS`].
    fn bucket(digest: &Digest32) -> u16 {
        u16::from_be_bytes([digest[0], digest[1]]) % BUCKETS
    }

    fn hash(&self, bucket: u16, hex: &str) -> String {
        format!("{}{{b{bucket}}}s:{hex}", self.prefix)
    }

    fn created(&self, bucket: u16) -> String {
        format!("{}{{b{bucket}}}created", self.prefix)
    }

    fn seen(&self, bucket: u16) -> String {
        format!("{}{{b{bucket}}}seen", self.prefix)
    }

    fn user(&self, user_id: &str) -> String {
        format!("{}{{u:{user_id}}}", self.prefix)
    }

    fn id(&self, id: &str) -> String {
        format!("{}{{i:{id}}}", self.prefix)
    }

    /// A key of the old layout (`created`, `seen`).
    fn old(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn at(&self, digest: &Digest32) -> At {
        let bucket = Self::bucket(digest);
        let hex = hex::encode(digest);
        At {
            hash: self.hash(bucket, &hex),
            created: self.created(bucket),
            seen: self.seen(bucket),
            hex,
        }
    }
}

/// The scripts, each loaded by the server at its first use.
struct Scripts {
    reserve: Script,
    commit: Script,
    abandon: Script,
    join_user: Script,
    claim_id: Script,
    release_id: Script,
    touch: Script,
    delete_one: Script,
    purge_find: Script,
    purge: Script,
    migrate: Script,
    sweep: Script,
}

impl Scripts {
    fn new() -> Self {
        Self {
            reserve: Script::new(RESERVE),
            commit: Script::new(COMMIT),
            abandon: Script::new(ABANDON),
            join_user: Script::new(JOIN_USER),
            claim_id: Script::new(CLAIM_ID),
            release_id: Script::new(RELEASE_ID),
            touch: Script::new(TOUCH),
            delete_one: Script::new(DELETE_ONE),
            purge_find: Script::new(PURGE_FIND),
            purge: Script::new(PURGE),
            migrate: Script::new(MIGRATE),
            sweep: Script::new(SWEEP),
        }
    }
}

/// What the hash of a digest holds.
enum Found {
    /// A session.
    Live(Session),
    /// A session an insert under way has reserved: not there yet.
    Reserved,
    /// Nothing.
    Absent,
}

/// A deleted session whose id key and user-set entry are still to go.
struct Gone {
    hex: String,
    id: String,
    user_id: String,
}

/// What an insert wrote besides its reservation, for undoing it.
struct Undo {
    at: At,
    marker: String,
    user_key: String,
    id_key: String,
}

/// What [`DELETE_ONE`] answers: its status, and the deleted session's id and user.
type Deleted = (i64, String, String);

/// The session store in Redis. Cheap to share: one multiplexed connection (per cluster node)
/// that reconnects by itself.
pub struct RedisSessionStore {
    inner: Arc<Inner>,
}

/// What the store's operations (and the tasks they spread over buckets) share.
struct Inner {
    conn: Conn,
    keys: Keys,
    /// The native TTL of sessions in seconds; 0: none.
    ttl: i64,
    scripts: Scripts,
}

impl RedisSessionStore {
    /// Connects to the Redis at `url`: `redis://host[:port][/db]` for a standalone server, or
    /// `redis+cluster://[user:pass@]host:port[,host:port...]` for a cluster's seed nodes, with
    /// every key under `prefix` (for example `sesame:`), and checks that it answers `PING`. On a
    /// standalone server, sessions kept in the old key layout are moved first (see the module
    /// docs).
    ///
    /// `absolute_ttl`: `Some(d)` with `d > 0` sets a native TTL of `d` seconds on each session
    /// at insert, a garbage-collection bound only (see the module docs); `None` (or `d <= 0`)
    /// keeps sessions until deleted or purged.
    ///
    /// A URL that does not parse is [`StoreError::Other`]; a server that cannot be reached or
    /// does not answer within 1.5 seconds is [`StoreError::Unavailable`].
    pub async fn connect(
        url: &str,
        prefix: &str,
        absolute_ttl: Option<i64>,
    ) -> Result<Self, StoreError> {
        let target = RedisTarget::parse(url)?;
        let inner = Arc::new(Inner {
            conn: Conn::open(&target).await?,
            keys: Keys {
                prefix: prefix.to_owned(),
            },
            ttl: absolute_ttl.filter(|d| *d > 0).unwrap_or(0),
            scripts: Scripts::new(),
        });
        let pong: String = inner.query(&::redis::cmd("PING")).await?;
        if pong != "PONG" {
            return Err(StoreError::other(format!(
                "redis: unexpected answer to PING: {pong:?}"
            )));
        }
        if let RedisTarget::Single(_) = target {
            inner.migrate_old_layout().await?;
        }
        Ok(Self { inner })
    }
}

/// Runs one Redis round trip under [`OP_TIMEOUT`], mapping its errors.
async fn bounded<T>(fut: impl Future<Output = Result<T, RedisError>>) -> Result<T, StoreError> {
    match tokio::time::timeout(OP_TIMEOUT, fut).await {
        Ok(r) => r.map_err(store_error),
        Err(elapsed) => Err(StoreError::unavailable_because("redis: timed out", elapsed)),
    }
}

/// Runs one whole operation (of one or several round trips) under [`OP_TIMEOUT`]. Every
/// operation is written so that being cut short at any step leaves the hash the truth.
async fn whole<T>(fut: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
    match tokio::time::timeout(OP_TIMEOUT, fut).await {
        Ok(r) => r,
        Err(elapsed) => Err(StoreError::unavailable_because("redis: timed out", elapsed)),
    }
}

/// Connection, I/O and timeout failures, a busy or loading server, and a cluster that is down,
/// failing over or moving slots, are worth retrying (`Unavailable`); anything else is `Other`.
fn store_error(e: RedisError) -> StoreError {
    let retryable = e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || matches!(
            e.kind(),
            ErrorKind::ClusterConnectionNotFound
                | ErrorKind::Server(
                    ServerErrorKind::BusyLoading
                        | ServerErrorKind::TryAgain
                        | ServerErrorKind::MasterDown
                        | ServerErrorKind::ClusterDown
                        | ServerErrorKind::Moved
                        | ServerErrorKind::Ask
                        | ServerErrorKind::ReadOnly
                )
        );
    if retryable {
        StoreError::unavailable_because("redis", e)
    } else {
        StoreError::other_because("redis", e)
    }
}

/// Runs `f` on every item, up to [`IN_FLIGHT`] at a time, each as a task of its own; the
/// results come in no particular order. The first error ends the others.
async fn concurrently<I, T, F, Fut>(items: I, mut f: F) -> Result<Vec<T>, StoreError>
where
    I: IntoIterator,
    F: FnMut(I::Item) -> Fut,
    Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    T: Send + 'static,
{
    let mut items = items.into_iter();
    let mut running = JoinSet::new();
    let mut out = Vec::new();
    loop {
        while running.len() < IN_FLIGHT {
            let Some(item) = items.next() else { break };
            running.spawn(f(item));
        }
        match running.join_next().await {
            None => return Ok(out),
            Some(Ok(result)) => out.push(result?),
            Some(Err(e)) => return Err(StoreError::other_because("redis: a task failed", e)),
        }
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::other(format!("redis: corrupt session record ({what})"))
}

fn parse_time(v: Option<String>, what: &str) -> Result<i64, StoreError> {
    v.and_then(|s| s.parse().ok()).ok_or_else(|| corrupt(what))
}

fn parse_digest(hex_digest: &str) -> Result<Digest32, StoreError> {
    let mut d = [0u8; 32];
    hex::decode_to_slice(hex_digest, &mut d).map_err(|_| corrupt("digest"))?;
    Ok(d)
}

/// Builds a session from the first six [`FIELDS`]; `None` if the hash does not exist.
fn session_from_fields(
    digest: Digest32,
    fields: Vec<Option<String>>,
) -> Result<Option<Session>, StoreError> {
    let Ok([id, user_id, created_at, last_seen_at, ip, user_agent]) =
        <[Option<String>; 6]>::try_from(fields)
    else {
        return Err(corrupt("field count"));
    };
    let Some(id) = id else {
        return Ok(None);
    };
    Ok(Some(Session {
        id,
        digest,
        user_id: user_id.ok_or_else(|| corrupt("user_id"))?,
        created_at: parse_time(created_at, "created_at")?,
        last_seen_at: parse_time(last_seen_at, "last_seen_at")?,
        ip,
        user_agent,
    }))
}

/// The `(digest, id, user_id)` triples of a flat list.
fn gone_from_flat(flat: Vec<String>) -> Vec<Gone> {
    let mut out = Vec::with_capacity(flat.len() / 3);
    let mut it = flat.into_iter();
    while let (Some(hex), Some(id), Some(user_id)) = (it.next(), it.next(), it.next()) {
        out.push(Gone { hex, id, user_id });
    }
    out
}

/// `text` as a `SCAN MATCH` pattern matching itself only.
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn as_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl Inner {
    /// Runs a script, bounded.
    async fn run<T: FromRedisValue>(&self, inv: &ScriptInvocation<'_>) -> Result<T, StoreError> {
        let mut conn = self.conn.clone();
        bounded(inv.invoke_async(&mut conn)).await
    }

    /// Runs a command, bounded.
    async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        let mut conn = self.conn.clone();
        bounded(cmd.query_async(&mut conn)).await
    }

    /// The hash of `digest`, in one `HMGET` that never writes.
    async fn read(&self, digest: &Digest32) -> Result<Found, StoreError> {
        let mut cmd = ::redis::cmd("HMGET");
        cmd.arg(self.keys.at(digest).hash).arg(&FIELDS[..]);
        let mut fields: Vec<Option<String>> = self.query(&cmd).await?;
        if fields.pop().flatten().is_some() {
            return Ok(Found::Reserved);
        }
        Ok(match session_from_fields(*digest, fields)? {
            Some(s) => Found::Live(s),
            None => Found::Absent,
        })
    }

    /// [`Inner::read`] of a user-set member (one that is not a digest is [`Found::Absent`]).
    async fn read_member(&self, member: &str) -> Result<Found, StoreError> {
        match parse_digest(member) {
            Ok(digest) => self.read(&digest).await,
            Err(_) => Ok(Found::Absent),
        }
    }

    /// Steps (1) to (3) of an insert (see the module docs).
    async fn insert(self: &Arc<Self>, s: &Session) -> Result<(), StoreError> {
        let at = self.keys.at(&s.digest);
        let marker = uuid::Uuid::new_v4().simple().to_string();
        if !self.reserve(&at, s, &marker).await? {
            return Err(StoreError::Conflict);
        }
        let undo = Undo {
            at,
            marker,
            user_key: self.keys.user(&s.user_id),
            id_key: self.keys.id(&s.id),
        };
        let (joined, claimed) = tokio::join!(
            self.join_user(&undo.user_key, &undo.at.hex),
            self.claim_id(&undo.id_key, &undo.at.hex)
        );
        match joined.and(claimed) {
            Ok(()) => {}
            Err(StoreError::Conflict) => {
                self.undo_insert(&undo).await;
                return Err(StoreError::Conflict);
            }
            Err(e) => {
                // The server is failing: undo in the background, so the answer is not late.
                let inner = Arc::clone(self);
                tokio::spawn(async move { inner.undo_insert(&undo).await });
                return Err(e);
            }
        }
        let at = &undo.at;
        let mut commit = self.scripts.commit.prepare_invoke();
        commit
            .key(&at.hash)
            .key(&at.created)
            .key(&at.seen)
            .arg(&undo.marker)
            .arg(self.ttl)
            .arg(&at.hex)
            .arg(s.created_at)
            .arg(s.last_seen_at);
        // A commit that fails is not undone: it may have landed, and then the session is whole.
        // If it did not, the reservation lapses and the rest dangles.
        let committed: i64 = self.run(&commit).await?;
        if committed == 1 {
            return Ok(());
        }
        self.undo_insert(&undo).await;
        Err(StoreError::unavailable(
            "redis: the session's reservation lapsed before its insert committed",
        ))
    }

    /// Reserves the hash of `s`; `false` if its digest is taken.
    async fn reserve(&self, at: &At, s: &Session, marker: &str) -> Result<bool, StoreError> {
        let mut inv = self.scripts.reserve.prepare_invoke();
        inv.key(&at.hash)
            .arg(marker)
            .arg(PENDING_MS)
            .arg("id")
            .arg(&s.id)
            .arg("user_id")
            .arg(&s.user_id)
            .arg("created_at")
            .arg(s.created_at)
            .arg("last_seen_at")
            .arg(s.last_seen_at);
        if let Some(ip) = &s.ip {
            inv.arg("ip").arg(ip);
        }
        if let Some(user_agent) = &s.user_agent {
            inv.arg("user_agent").arg(user_agent);
        }
        let reserved: i64 = self.run(&inv).await?;
        Ok(reserved == 1)
    }

    /// Adds `hex` to the user's set.
    async fn join_user(&self, user_key: &str, hex: &str) -> Result<(), StoreError> {
        let mut inv = self.scripts.join_user.prepare_invoke();
        inv.key(user_key).arg(hex).arg(self.ttl);
        let _: i64 = self.run(&inv).await?;
        Ok(())
    }

    /// Makes the id key name `hex`: `Conflict` if it names another digest whose hash exists
    /// (a session, or one being inserted), or if another insert takes it first.
    async fn claim_id(&self, id_key: &str, hex: &str) -> Result<(), StoreError> {
        let mut claim = self.scripts.claim_id.prepare_invoke();
        claim.key(id_key).arg(hex).arg(self.ttl).arg("");
        let (claimed, holder): (i64, String) = self.run(&claim).await?;
        if claimed == 1 {
            return Ok(());
        }
        if let Ok(other) = parse_digest(&holder) {
            let mut exists = ::redis::cmd("EXISTS");
            exists.arg(self.keys.at(&other).hash);
            let live: bool = self.query(&exists).await?;
            if live {
                return Err(StoreError::Conflict);
            }
        }
        // Dangling: take it if it still names the same digest.
        let mut take = self.scripts.claim_id.prepare_invoke();
        take.key(id_key).arg(hex).arg(self.ttl).arg(&holder);
        let (taken, _): (i64, String) = self.run(&take).await?;
        if taken == 1 {
            Ok(())
        } else {
            Err(StoreError::Conflict)
        }
    }

    /// Best effort: takes back what an insert that will not commit wrote. It holds the
    /// reservation, so no other session can have this digest; whatever is left dangles, and the
    /// reservation lapses by itself.
    async fn undo_insert(&self, undo: &Undo) {
        let mut leave = ::redis::cmd("SREM");
        leave.arg(&undo.user_key).arg(&undo.at.hex);
        let mut release = self.scripts.release_id.prepare_invoke();
        release.key(&undo.id_key).arg(&undo.at.hex);
        let (left, released) = tokio::join!(self.query::<i64>(&leave), self.run::<i64>(&release));
        let mut abandon = self.scripts.abandon.prepare_invoke();
        abandon.key(&undo.at.hash).arg(&undo.marker);
        let abandoned = self.run::<i64>(&abandon).await;
        if let Err(e) = left.and(released).and(abandoned) {
            tracing::debug!(error = %e, "redis: undoing an insert failed; what is left lapses or dangles");
        }
    }

    async fn touch(&self, digest: &Digest32, now: i64) -> Result<(), StoreError> {
        let at = self.keys.at(digest);
        let mut inv = self.scripts.touch.prepare_invoke();
        inv.key(&at.hash).key(&at.seen).arg(&at.hex).arg(now);
        let _moved: i64 = self.run(&inv).await?;
        Ok(())
    }

    /// Deletes the hash of `at` and its sorted-set entries if it is `owner`'s ('': anyone's).
    async fn delete_one(&self, at: &At, owner: &str) -> Result<Deleted, StoreError> {
        let mut inv = self.scripts.delete_one.prepare_invoke();
        inv.key(&at.hash)
            .key(&at.created)
            .key(&at.seen)
            .arg(&at.hex)
            .arg(owner);
        self.run(&inv).await
    }

    /// [`Inner::delete_one`] of a user-set member (one that is not a digest has no hash).
    async fn delete_member(&self, member: &str, owner: &str) -> Result<Deleted, StoreError> {
        match parse_digest(member) {
            Ok(digest) => self.delete_one(&self.keys.at(&digest), owner).await,
            Err(_) => Ok((0, String::new(), String::new())),
        }
    }

    async fn delete(self: &Arc<Self>, digest: &Digest32) -> Result<bool, StoreError> {
        let at = self.keys.at(digest);
        let (status, id, user_id) = self.delete_one(&at, "").await?;
        if status != 1 {
            return Ok(false);
        }
        self.unindex(vec![Gone {
            hex: at.hex,
            id,
            user_id,
        }])
        .await;
        Ok(true)
    }

    /// Removes the id keys and user-set entries of deleted sessions. Best effort: the hashes
    /// are gone, so what a failure leaves is dangling.
    async fn unindex(self: &Arc<Self>, gone: Vec<Gone>) {
        let unindexed = concurrently(gone, |g| {
            let inner = Arc::clone(self);
            async move {
                let mut release = inner.scripts.release_id.prepare_invoke();
                release.key(inner.keys.id(&g.id)).arg(&g.hex);
                let mut leave = ::redis::cmd("SREM");
                leave.arg(inner.keys.user(&g.user_id)).arg(&g.hex);
                let (released, left) =
                    tokio::join!(inner.run::<i64>(&release), inner.query::<i64>(&leave));
                released.and(left).map(drop)
            }
        })
        .await;
        if let Err(e) = unindexed {
            tracing::warn!(error = %e, "redis: index entries of deleted sessions are left dangling");
        }
    }

    /// Removes `members` from the user's set.
    async fn leave_user(&self, user_key: &str, members: &[String]) -> Result<(), StoreError> {
        if members.is_empty() {
            return Ok(());
        }
        let mut cmd = ::redis::cmd("SREM");
        cmd.arg(user_key).arg(members);
        let _: i64 = self.query(&cmd).await?;
        Ok(())
    }

    /// The user's set.
    async fn members(&self, user_key: &str) -> Result<Vec<String>, StoreError> {
        let mut cmd = ::redis::cmd("SMEMBERS");
        cmd.arg(user_key);
        self.query(&cmd).await
    }

    async fn list_for_user(self: &Arc<Self>, user_id: &str) -> Result<Vec<Session>, StoreError> {
        let user_key = self.keys.user(user_id);
        let members = self.members(&user_key).await?;
        let found = concurrently(members, |member| {
            let inner = Arc::clone(self);
            async move {
                let found = inner.read_member(&member).await?;
                Ok((member, found))
            }
        })
        .await?;
        let mut out = Vec::with_capacity(found.len());
        let mut dangling = Vec::new();
        for (member, found) in found {
            match found {
                Found::Live(s) if s.user_id == user_id => out.push(s),
                Found::Reserved => {}
                Found::Live(_) | Found::Absent => dangling.push(member),
            }
        }
        self.leave_user(&user_key, &dangling).await?;
        out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(out)
    }

    async fn delete_for_user(
        self: &Arc<Self>,
        user_id: &str,
        except: Option<&Digest32>,
    ) -> Result<u64, StoreError> {
        let user_key = self.keys.user(user_id);
        let except = except.map(hex::encode);
        let mut members = self.members(&user_key).await?;
        members.retain(|m| Some(m) != except.as_ref());
        let owner: Arc<str> = Arc::from(user_id);
        let results = concurrently(members, |member| {
            let inner = Arc::clone(self);
            let owner = Arc::clone(&owner);
            async move {
                let deleted = inner.delete_member(&member, &owner).await?;
                Ok((member, deleted))
            }
        })
        .await?;
        let mut gone = Vec::new();
        let mut dangling = Vec::new();
        for (hex, (status, id, user_id)) in results {
            match status {
                1 => gone.push(Gone { hex, id, user_id }),
                -2 => {}
                _ => dangling.push(hex),
            }
        }
        let n = as_u64(gone.len());
        self.leave_user(&user_key, &dangling).await?;
        self.unindex(gone).await;
        Ok(n)
    }

    async fn purge_expired(self: &Arc<Self>, now: i64, expiry: Expiry) -> Result<u64, StoreError> {
        let created_cutoff = expiry
            .absolute
            .map(|d| now.saturating_sub(d).to_string())
            .unwrap_or_default();
        let seen_cutoff = expiry
            .idle
            .map(|i| now.saturating_sub(i).to_string())
            .unwrap_or_default();
        if created_cutoff.is_empty() && seen_cutoff.is_empty() {
            return Ok(0);
        }
        let cutoffs = Arc::new((created_cutoff, seen_cutoff));
        let purged = concurrently(0..BUCKETS, |bucket| {
            let inner = Arc::clone(self);
            let cutoffs = Arc::clone(&cutoffs);
            async move { inner.purge_bucket(bucket, &cutoffs.0, &cutoffs.1).await }
        })
        .await?;
        Ok(purged.into_iter().sum())
    }

    /// Purges one bucket, a batch at a time: a read finds the candidates, one script deletes
    /// those still expired, then their other entries go.
    async fn purge_bucket(
        self: &Arc<Self>,
        bucket: u16,
        created_cutoff: &str,
        seen_cutoff: &str,
    ) -> Result<u64, StoreError> {
        let (created, seen) = (self.keys.created(bucket), self.keys.seen(bucket));
        let mut total = 0u64;
        loop {
            let mut find = self.scripts.purge_find.prepare_invoke();
            find.key(&created)
                .key(&seen)
                .arg(created_cutoff)
                .arg(seen_cutoff)
                .arg(PURGE_BATCH);
            let (by_created, by_seen, found): (i64, i64, Vec<String>) = self.run(&find).await?;
            if found.is_empty() {
                return Ok(total);
            }
            let mut purge = self.scripts.purge.prepare_invoke();
            purge
                .key(&created)
                .key(&seen)
                .arg(created_cutoff)
                .arg(seen_cutoff);
            for hex in &found {
                purge.key(self.keys.hash(bucket, hex)).arg(hex);
            }
            let (removed, gone): (i64, Vec<String>) = self.run(&purge).await?;
            let gone = gone_from_flat(gone);
            total = total.saturating_add(as_u64(gone.len()));
            self.unindex(gone).await;
            // Nothing removed: what is left in range was touched meanwhile (or is corrupt).
            if removed == 0 || (by_created < PURGE_BATCH && by_seen < PURGE_BATCH) {
                return Ok(total);
            }
        }
    }

    async fn count(self: &Arc<Self>) -> Result<u64, StoreError> {
        let counts = concurrently(0..BUCKETS, |bucket| {
            let inner = Arc::clone(self);
            async move {
                let mut cmd = ::redis::cmd("ZCARD");
                cmd.arg(inner.keys.created(bucket));
                inner.query::<u64>(&cmd).await
            }
        })
        .await?;
        Ok(counts.into_iter().sum())
    }

    /// Moves the sessions of the old layout, if any, to the bucketed one (standalone only).
    async fn migrate_old_layout(&self) -> Result<(), StoreError> {
        let mut exists = ::redis::cmd("EXISTS");
        exists
            .arg(self.keys.old("created"))
            .arg(self.keys.old("seen"));
        let old: i64 = self.query(&exists).await?;
        if old == 0 {
            return Ok(());
        }
        let mut moved = 0i64;
        loop {
            let mut inv = self.scripts.migrate.prepare_invoke();
            inv.arg(&self.keys.prefix).arg(MIGRATE_BATCH).arg(BUCKETS);
            let (n, examined): (i64, i64) = self.run(&inv).await?;
            moved = moved.saturating_add(n);
            if examined == 0 {
                break;
            }
        }
        let swept = self.sweep_old_layout().await?;
        tracing::info!(
            moved,
            swept,
            "redis: moved sessions from the old key layout to the bucketed one"
        );
        Ok(())
    }

    /// Drops the dangling entries of old-layout user sets and id keys; returns how many.
    async fn sweep_old_layout(&self) -> Result<i64, StoreError> {
        let prefix = glob_escape(&self.keys.prefix);
        let mut swept = 0i64;
        for family in ["u:*", "id:*"] {
            let pattern = format!("{prefix}{family}");
            let mut cursor = 0u64;
            loop {
                let mut scan = ::redis::cmd("SCAN");
                scan.arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000);
                let (next, keys): (u64, Vec<String>) = self.query(&scan).await?;
                if !keys.is_empty() {
                    let mut sweep = self.scripts.sweep.prepare_invoke();
                    for key in &keys {
                        sweep.key(key);
                    }
                    sweep.arg(&self.keys.prefix);
                    swept = swept.saturating_add(self.run::<i64>(&sweep).await?);
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(swept)
    }
}

#[async_trait]
impl SessionStore for RedisSessionStore {
    /// Reserves the hash, adds the user-set entry and claims the id, then commits the hash
    /// (see the module docs); `Conflict` if a session (or an insert under way) has the same
    /// digest or the same public `id`.
    async fn insert(&self, s: &Session) -> Result<(), StoreError> {
        whole(self.inner.insert(s)).await
    }

    /// One `HMGET` of the session hash; never writes.
    async fn get(&self, digest: &Digest32) -> Result<Option<Session>, StoreError> {
        Ok(match whole(self.inner.read(digest)).await? {
            Found::Live(s) => Some(s),
            Found::Reserved | Found::Absent => None,
        })
    }

    /// Moves `last_seen_at` (in the hash and in its bucket's `seen` index) to `now` if that is
    /// later; an unknown digest is left alone (nothing is created).
    async fn touch(&self, digest: &Digest32, now: i64) -> Result<(), StoreError> {
        whole(self.inner.touch(digest, now)).await
    }

    /// Deletes the session and its sorted-set entries in one script, then its id key and
    /// user-set entry; `false` if there was none.
    async fn delete(&self, digest: &Digest32) -> Result<bool, StoreError> {
        whole(self.inner.delete(digest)).await
    }

    /// The user's sessions from their set, oldest first (then by id); drops dangling members.
    async fn list_for_user(&self, user_id: &str) -> Result<Vec<Session>, StoreError> {
        whole(self.inner.list_for_user(user_id)).await
    }

    /// Deletes every session in the user's set but `except`, each in one script; returns how
    /// many.
    async fn delete_for_user(
        &self,
        user_id: &str,
        except: Option<&Digest32>,
    ) -> Result<u64, StoreError> {
        whole(self.inner.delete_for_user(user_id, except)).await
    }

    /// Deletes every session with `created_at + absolute <= now` or `last_seen_at + idle <= now`
    /// (the boundaries of [`Session::is_expired`]), found through each bucket's sorted sets
    /// without a scan, in batches of at most 500 per index; each round trip is under its own
    /// 1.5 s bound. Dangling index entries in range are dropped without being counted.
    async fn purge_expired(&self, now: i64, expiry: Expiry) -> Result<u64, StoreError> {
        self.inner.purge_expired(now, expiry).await
    }

    /// The sum of the buckets' `created` cardinalities.
    async fn count(&self) -> Result<u64, StoreError> {
        whole(self.inner.count()).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let _: String = self.inner.query(&::redis::cmd("PING")).await?;
        Ok(())
    }
}
