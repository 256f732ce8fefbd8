//! Redis: `session_db_auth` sessions in a Redis server shared by every instance
//! (`SESSION_STORE_URL`).
//!
//! # Key layout
//!
//! Every key starts with the configured prefix `P`. Keys and values hold only digests (the
//! lowercase hex of a token's 32-byte SHA-256), never tokens.
//!
//! | key | type | content |
//! |---|---|---|
//! | `P s:{digest}` | hash | the session: `id`, `user_id`, `created_at`, `last_seen_at` (decimal Unix seconds), and `ip`, `user_agent` when present (an absent field is `None`) |
//! | `P id:{session id}` | string | the digest of the session with this public id (keeps ids unique) |
//! | `P u:{user_id}` | set | the digests of the user's sessions |
//! | `P created` | sorted set | digest scored by `created_at` |
//! | `P seen` | sorted set | digest scored by `last_seen_at` |
//!
//! The session hash is the truth: a digest listed in an index whose hash is gone is *dangling*
//! and is never returned. Dangling entries appear when a native TTL (below) ends a hash; they are
//! cleaned lazily: [`SessionStore::list_for_user`] and [`SessionStore::delete_for_user`] drop
//! them from the user's set, [`SessionStore::delete`] and [`SessionStore::purge_expired`] drop
//! them from the sorted sets. An `id:` key whose hash is gone does not block a new session with
//! that id.
//!
//! # Atomicity
//!
//! Every write that touches several keys is one Lua script, so other clients never see half a
//! session: insert (conflict check and every key), delete, delete for a user, touch (which only
//! moves `last_seen_at` forward, in the hash and in `P seen` together) and each batch of a purge.
//! The scripts name keys they derive from the prefix, so they need a standalone Redis (or a
//! cluster where the prefix holds a hash tag such as `{sesame}:`, putting every key in one slot).
//! `get` is one `HMGET`, a single round trip that never writes.
//!
//! # Native TTLs
//!
//! With `absolute_ttl = Some(d)`, the session hash and its `id:` key get `EXPIRE d` at insert,
//! and the user's set is kept alive at least as long as any of its members. This is only a
//! garbage-collection bound counted from insertion: whether a session has expired is always
//! decided by the caller from `created_at` and `last_seen_at` (via `purge_expired` and
//! [`Session::is_expired`](crate::domain::Session::is_expired)), never by the TTL.
//!
//! # Failures
//!
//! The connection is a [`::redis::aio::ConnectionManager`], which reconnects by itself, with 1.5 s
//! connection and response timeouts; every operation is also bounded by a 1.5 s
//! [`tokio::time::timeout`]. Connection and I/O errors, timeouts and a busy or loading server
//! become [`StoreError::Unavailable`]; anything else (a corrupt record, a server error)
//! [`StoreError::Other`].
//!
//! Timestamps are compared as Lua and sorted-set numbers (IEEE doubles): exact for any Unix time
//! within ±2^53 seconds.

use std::future::Future;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, ErrorKind, RedisError, Script, ServerErrorKind, Value};
use async_trait::async_trait;

use crate::domain::{Digest32, Expiry, Session};
use crate::store::error::StoreError;
use crate::store::traits::SessionStore;

/// The bound on every round trip, and on connecting: short enough that a request needing an
/// unreachable store is answered 503 within the contract's 2 s.
const OP_TIMEOUT: Duration = Duration::from_millis(1500);

/// How many index entries one purge script examines per sorted set, so a large purge never
/// blocks the server for long.
const PURGE_BATCH: i64 = 500;

/// The hash fields of a session, in the order `get` asks for them.
const FIELDS: [&str; 6] = [
    "id",
    "user_id",
    "created_at",
    "last_seen_at",
    "ip",
    "user_agent",
];

/// Lua helper shared by the deleting scripts: deletes the session hash `P s:d` and every index
/// entry of it; returns 1 if there was a session, 0 if `d` was dangling (then only its sorted-set
/// entries are removed, and its user-set entry when `uid` is known).
const DELETE_ONE: &str = r"
local function delete_one(p, d, uid_hint)
  local h = p .. 's:' .. d
  local f = redis.call('HMGET', h, 'id', 'user_id')
  redis.call('ZREM', p .. 'created', d)
  redis.call('ZREM', p .. 'seen', d)
  local uid = f[2] or uid_hint
  if uid then redis.call('SREM', p .. 'u:' .. uid, d) end
  if not f[1] then return 0 end
  redis.call('DEL', h)
  local idk = p .. 'id:' .. f[1]
  if redis.call('GET', idk) == d then redis.call('DEL', idk) end
  return 1
end
";

/// KEYS: none. ARGV: prefix, digest, id, user_id, created_at, last_seen_at, ttl (0: none),
/// has_ip, ip, has_user_agent, user_agent. Returns 1 if stored, 0 on a conflict.
const INSERT: &str = r"
local p, d = ARGV[1], ARGV[2]
local h = p .. 's:' .. d
if redis.call('EXISTS', h) == 1 then return 0 end
local idk = p .. 'id:' .. ARGV[3]
local other = redis.call('GET', idk)
if other and redis.call('EXISTS', p .. 's:' .. other) == 1 then return 0 end
local fields = {'id', ARGV[3], 'user_id', ARGV[4], 'created_at', ARGV[5], 'last_seen_at', ARGV[6]}
if ARGV[8] == '1' then table.insert(fields, 'ip'); table.insert(fields, ARGV[9]) end
if ARGV[10] == '1' then table.insert(fields, 'user_agent'); table.insert(fields, ARGV[11]) end
redis.call('HSET', h, unpack(fields))
local uk = p .. 'u:' .. ARGV[4]
local ttl = tonumber(ARGV[7])
if ttl > 0 then
  redis.call('EXPIRE', h, ttl)
  redis.call('SET', idk, d, 'EX', ttl)
  local left = redis.call('TTL', uk)
  redis.call('SADD', uk, d)
  if left == -2 or (left >= 0 and left < ttl) then redis.call('EXPIRE', uk, ttl) end
else
  redis.call('SET', idk, d)
  redis.call('SADD', uk, d)
  redis.call('PERSIST', uk)
end
redis.call('ZADD', p .. 'created', ARGV[5], d)
redis.call('ZADD', p .. 'seen', ARGV[6], d)
return 1
";

/// ARGV: prefix, digest, now. Moves `last_seen_at` to `now` if it is later; never creates.
const TOUCH: &str = r"
local p, d = ARGV[1], ARGV[2]
local h = p .. 's:' .. d
local cur = redis.call('HGET', h, 'last_seen_at')
if not cur then return 0 end
if tonumber(ARGV[3]) <= tonumber(cur) then return 0 end
redis.call('HSET', h, 'last_seen_at', ARGV[3])
redis.call('ZADD', p .. 'seen', ARGV[3], d)
return 1
";

/// ARGV: prefix, digest. Returns 1 if a session was deleted.
const DELETE: &str = r"
return delete_one(ARGV[1], ARGV[2], nil)
";

/// ARGV: prefix, user_id, except digest ('' for none). Returns how many sessions it deleted.
const DELETE_FOR_USER: &str = r"
local p, uid, except = ARGV[1], ARGV[2], ARGV[3]
local uk = p .. 'u:' .. uid
local n = 0
for _, d in ipairs(redis.call('SMEMBERS', uk)) do
  if d ~= except then
    local owner = redis.call('HGET', p .. 's:' .. d, 'user_id')
    if owner and owner ~= uid then
      redis.call('SREM', uk, d)
    else
      n = n + delete_one(p, d, uid)
    end
  end
end
return n
";

/// ARGV: prefix, user_id. Returns, for each live session of the user, its digest followed by
/// its six fields (absent ones as nil); removes dangling members from the user's set.
const LIST_FOR_USER: &str = r"
local p, uid = ARGV[1], ARGV[2]
local uk = p .. 'u:' .. uid
local out = {}
for _, d in ipairs(redis.call('SMEMBERS', uk)) do
  local f = redis.call('HMGET', p .. 's:' .. d,
    'id', 'user_id', 'created_at', 'last_seen_at', 'ip', 'user_agent')
  if f[1] and f[2] == uid then
    table.insert(out, d)
    for i = 1, 6 do table.insert(out, f[i]) end
  else
    redis.call('SREM', uk, d)
  end
end
return out
";

/// ARGV: prefix, created cutoff, last-seen cutoff ('' for a limit that is off), batch size.
/// Deletes up to a batch of sessions per index with a score at or below its cutoff; returns
/// {deleted, examined in created, examined in seen}.
const PURGE: &str = r"
local p, batch = ARGV[1], tonumber(ARGV[4])
local seen_now = {}
local n = 0
local examined = {0, 0}
local sets = {p .. 'created', p .. 'seen'}
for i = 1, 2 do
  local cutoff = ARGV[i + 1]
  if cutoff ~= '' then
    local ds = redis.call('ZRANGEBYSCORE', sets[i], '-inf', cutoff, 'LIMIT', 0, batch)
    examined[i] = #ds
    for _, d in ipairs(ds) do
      if not seen_now[d] then
        seen_now[d] = true
        n = n + delete_one(p, d, nil)
      end
    end
  end
end
return {n, examined[1], examined[2]}
";

/// The session store in Redis. Cheap to share: one multiplexed connection that reconnects by
/// itself.
pub struct RedisSessionStore {
    conn: ConnectionManager,
    prefix: String,
    absolute_ttl: Option<i64>,
    insert: Script,
    touch: Script,
    delete: Script,
    delete_for_user: Script,
    list_for_user: Script,
    purge: Script,
}

impl RedisSessionStore {
    /// Connects to the Redis at `url` (`redis://host[:port][/db]`), with every key under
    /// `prefix` (for example `sesame:`), and checks that the server answers `PING`.
    ///
    /// `absolute_ttl`: `Some(d)` with `d > 0` sets a native TTL of `d` seconds on each session
    /// at insert, a garbage-collection bound only (see the module docs); `None` (or `d <= 0`)
    /// keeps sessions until deleted or purged.
    ///
    /// A URL that does not parse is [`StoreError::Other`]; a server that cannot be reached or
    /// does not answer within 2 seconds is [`StoreError::Unavailable`].
    pub async fn connect(
        url: &str,
        prefix: &str,
        absolute_ttl: Option<i64>,
    ) -> Result<Self, StoreError> {
        // Only the category of a URL that does not parse is kept, not the error: its details
        // may quote parts of the URL, password included.
        let client = Client::open(url)
            .map_err(|e| StoreError::other(format!("SESSION_STORE_URL: {}", e.category())))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(OP_TIMEOUT))
            .set_response_timeout(Some(OP_TIMEOUT))
            .set_number_of_retries(3)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let mut conn = bounded(ConnectionManager::new_with_config(client, config)).await?;
        let pong: String = bounded(::redis::cmd("PING").query_async(&mut conn)).await?;
        if pong != "PONG" {
            return Err(StoreError::other(format!(
                "redis: unexpected answer to PING: {pong:?}"
            )));
        }
        let with_helper = |body: &str| Script::new(&format!("{DELETE_ONE}{body}"));
        Ok(Self {
            conn,
            prefix: prefix.to_owned(),
            absolute_ttl: absolute_ttl.filter(|d| *d > 0),
            insert: Script::new(INSERT),
            touch: Script::new(TOUCH),
            delete: with_helper(DELETE),
            delete_for_user: with_helper(DELETE_FOR_USER),
            list_for_user: Script::new(LIST_FOR_USER),
            purge: with_helper(PURGE),
        })
    }

    /// The key of the session hash for `digest`.
    fn session_key(&self, digest: &Digest32) -> String {
        format!("{}s:{}", self.prefix, hex::encode(digest))
    }
}

/// Runs one Redis round trip under [`OP_TIMEOUT`], mapping its errors.
async fn bounded<T>(fut: impl Future<Output = Result<T, RedisError>>) -> Result<T, StoreError> {
    match tokio::time::timeout(OP_TIMEOUT, fut).await {
        Ok(r) => r.map_err(store_error),
        Err(elapsed) => Err(StoreError::unavailable_because("redis: timed out", elapsed)),
    }
}

/// Connection, I/O and timeout failures, and a busy or loading server, are worth retrying
/// (`Unavailable`); anything else is `Other`.
fn store_error(e: RedisError) -> StoreError {
    let retryable = e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || matches!(
            e.kind(),
            ErrorKind::Server(
                ServerErrorKind::BusyLoading
                    | ServerErrorKind::TryAgain
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::ClusterDown
            )
        );
    if retryable {
        StoreError::unavailable_because("redis", e)
    } else {
        StoreError::other_because("redis", e)
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

/// Builds a session from the six [`FIELDS`]; `None` if the hash does not exist.
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

/// A reply element as an optional string (nil is `None`).
fn opt_string(v: Value) -> Result<Option<String>, StoreError> {
    match v {
        Value::Nil => Ok(None),
        other => ::redis::from_redis_value(other)
            .map(Some)
            .map_err(|e| StoreError::other_because("redis", e)),
    }
}

fn as_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

#[async_trait]
impl SessionStore for RedisSessionStore {
    /// Stores the session and every index entry in one script; `Conflict` if a live session
    /// has the same digest or the same public `id`.
    async fn insert(&self, s: &Session) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let mut inv = self.insert.prepare_invoke();
        inv.arg(&self.prefix)
            .arg(hex::encode(s.digest))
            .arg(&s.id)
            .arg(&s.user_id)
            .arg(s.created_at)
            .arg(s.last_seen_at)
            .arg(self.absolute_ttl.unwrap_or(0))
            .arg(if s.ip.is_some() { "1" } else { "0" })
            .arg(s.ip.as_deref().unwrap_or(""))
            .arg(if s.user_agent.is_some() { "1" } else { "0" })
            .arg(s.user_agent.as_deref().unwrap_or(""));
        let stored: i64 = bounded(inv.invoke_async(&mut conn)).await?;
        if stored == 1 {
            Ok(())
        } else {
            Err(StoreError::Conflict)
        }
    }

    /// One `HMGET` of the session hash; never writes.
    async fn get(&self, digest: &Digest32) -> Result<Option<Session>, StoreError> {
        let mut conn = self.conn.clone();
        let mut cmd = ::redis::cmd("HMGET");
        cmd.arg(self.session_key(digest)).arg(&FIELDS[..]);
        let fields: Vec<Option<String>> = bounded(cmd.query_async(&mut conn)).await?;
        session_from_fields(*digest, fields)
    }

    /// Moves `last_seen_at` (in the hash and in the `seen` index) to `now` if that is later;
    /// an unknown digest is left alone (nothing is created).
    async fn touch(&self, digest: &Digest32, now: i64) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let mut inv = self.touch.prepare_invoke();
        inv.arg(&self.prefix).arg(hex::encode(digest)).arg(now);
        let _moved: i64 = bounded(inv.invoke_async(&mut conn)).await?;
        Ok(())
    }

    /// Deletes the session and its index entries in one script; `false` if there was none.
    async fn delete(&self, digest: &Digest32) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let mut inv = self.delete.prepare_invoke();
        inv.arg(&self.prefix).arg(hex::encode(digest));
        let n: i64 = bounded(inv.invoke_async(&mut conn)).await?;
        Ok(n > 0)
    }

    /// The user's sessions from their set, oldest first (then by id), in one script that also
    /// drops dangling members.
    async fn list_for_user(&self, user_id: &str) -> Result<Vec<Session>, StoreError> {
        let mut conn = self.conn.clone();
        let mut inv = self.list_for_user.prepare_invoke();
        inv.arg(&self.prefix).arg(user_id);
        let flat: Vec<Value> = bounded(inv.invoke_async(&mut conn)).await?;
        let mut out = Vec::with_capacity(flat.len() / 7);
        let mut it = flat.into_iter();
        while let Some(d) = it.next() {
            let digest = parse_digest(&opt_string(d)?.ok_or_else(|| corrupt("digest"))?)?;
            let fields = it
                .by_ref()
                .take(FIELDS.len())
                .map(opt_string)
                .collect::<Result<Vec<_>, _>>()?;
            if let Some(s) = session_from_fields(digest, fields)? {
                out.push(s);
            }
        }
        out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(out)
    }

    /// Deletes, in one script, every session in the user's set but `except`; returns how many.
    async fn delete_for_user(
        &self,
        user_id: &str,
        except: Option<&Digest32>,
    ) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        let mut inv = self.delete_for_user.prepare_invoke();
        inv.arg(&self.prefix)
            .arg(user_id)
            .arg(except.map(hex::encode).unwrap_or_default());
        let n: i64 = bounded(inv.invoke_async(&mut conn)).await?;
        Ok(as_u64(n))
    }

    /// Deletes every session with `created_at + absolute <= now` or `last_seen_at + idle <= now`
    /// (the boundaries of [`Session::is_expired`]), found through the sorted sets without a
    /// scan, in batches of at most 500 per index; each batch is one atomic script under its own
    /// 1.5 s bound. Dangling index entries in range are dropped without being counted.
    async fn count(&self) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        let mut cmd = ::redis::cmd("ZCARD");
        cmd.arg(format!("{}created", self.prefix));
        bounded(cmd.query_async(&mut conn)).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _: String = bounded(::redis::cmd("PING").query_async(&mut conn)).await?;
        Ok(())
    }

    async fn purge_expired(&self, now: i64, expiry: Expiry) -> Result<u64, StoreError> {
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
        let mut conn = self.conn.clone();
        let mut total = 0u64;
        loop {
            let mut inv = self.purge.prepare_invoke();
            inv.arg(&self.prefix)
                .arg(&created_cutoff)
                .arg(&seen_cutoff)
                .arg(PURGE_BATCH);
            let (deleted, by_created, by_seen): (i64, i64, i64) =
                bounded(inv.invoke_async(&mut conn)).await?;
            total = total.saturating_add(as_u64(deleted));
            if by_created < PURGE_BATCH && by_seen < PURGE_BATCH {
                return Ok(total);
            }
        }
    }
}
