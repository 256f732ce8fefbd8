//! PostgreSQL: users, `session_db_auth` sessions and failed-login counts in a database shared by
//! every instance.
//!
//! A pool of connections (deadpool-postgres, no TLS) runs cached prepared statements. Every
//! operation, including waiting for a free connection, has two seconds: past that it fails with
//! [`StoreError::Unavailable`] (so the API answers 503 promptly instead of hanging), the query is
//! cancelled on the server and its connection is thrown away rather than reused. The schema is
//! created and migrated by [`PgStore::connect`]; instances starting at once migrate in turn under
//! an advisory lock, so each step runs exactly once.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime,
};
use tokio::time::{Instant, error::Elapsed};
use tokio_postgres::error::SqlState;
use tokio_postgres::{NoTls, Row};

use crate::domain::{Digest32, Expiry, Failures, Session, User, email_key};
use crate::store::error::StoreError;
use crate::store::traits::{
    JoinedUser, OutboxEntry, Record, RecordStore, SessionStore, ThrottleStore, UserStore, Write,
    fresh_version,
};

/// The schema, one step per entry; step `i` (from 1) is recorded in `sesame_schema_migrations`
/// once applied.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/postgres_001.sql"),
    include_str!("migrations/postgres_002.sql"),
    include_str!("migrations/postgres_003.sql"),
    include_str!("migrations/postgres_004.sql"),
    include_str!("migrations/postgres_005.sql"),
];

/// The schema version this build migrates a database to: the number of migration steps.
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// The key of the transaction-scoped advisory lock held while migrating ("sesame" in ASCII, then
/// 1), so instances starting at once migrate one after the other.
const MIGRATION_LOCK: i64 = 0x7365_7361_6d65_0001;

/// How long any one store operation may take, waiting for a connection included: short enough
/// that a request needing an unreachable store is answered 503 within the contract's 2 s.
const OP_TIMEOUT: Duration = Duration::from_millis(1500);

/// How long migrating at start-up may take, waiting for another instance's migration included.
const MIGRATION_TIMEOUT: Duration = Duration::from_secs(60);

/// A PostgreSQL database holding users, sessions and failed-login counts.
///
/// Reads see every committed write, by this or any other instance on the same database.
pub struct PgStore {
    pool: Pool,
    config: tokio_postgres::Config,
}

/// Whether `e` is the server being out of reach or too busy, rather than a wrong request.
fn is_transient(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(code) = e.code() {
        let code = code.code();
        // 08: connection exception; 53: insufficient resources; 57: operator intervention
        // (shutdown, cancelled); 58: system error; 40001/40P01: serialization failure and
        // deadlock; 55P03: lock not available.
        return ["08", "53", "57", "58"]
            .iter()
            .any(|class| code.starts_with(class))
            || matches!(code, "40001" | "40P01" | "55P03");
    }
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        if c.is::<std::io::Error>() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// Maps a query's error: unique violations are conflicts, connection trouble is unavailability.
/// The error is kept as the cause (its own source holds the server's message).
fn map_err(e: tokio_postgres::Error) -> StoreError {
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        StoreError::Conflict
    } else if is_transient(&e) {
        StoreError::unavailable(e)
    } else {
        StoreError::other(e)
    }
}

/// Maps a failure to get a pooled connection: all of them mean the database is out of reach.
fn map_pool_err(e: PoolError) -> StoreError {
    match e {
        PoolError::Timeout(kind) => StoreError::unavailable_because(
            format!("PostgreSQL connection pool timed out ({kind:?})"),
            e,
        ),
        PoolError::Backend(e) => StoreError::unavailable_because("cannot connect to PostgreSQL", e),
        PoolError::Closed => StoreError::unavailable("the PostgreSQL pool is closed"),
        other => StoreError::other(other),
    }
}

/// Ends an operation run on `client`. If it ran out of time, its query is cancelled on the
/// server and the connection is closed instead of going back to the pool, where the next
/// operation would queue behind the stuck one.
fn settle<T>(
    client: Object,
    outcome: Result<Result<T, tokio_postgres::Error>, Elapsed>,
    limit: Duration,
) -> Result<T, StoreError> {
    match outcome {
        Ok(result) => result.map_err(map_err),
        Err(elapsed) => {
            let cancel = client.cancel_token();
            drop(Object::take(client));
            tokio::spawn(async move {
                if let Ok(Err(e)) =
                    tokio::time::timeout(OP_TIMEOUT, cancel.cancel_query(NoTls)).await
                {
                    tracing::debug!(error = %e, "cancelling a timed-out PostgreSQL query failed");
                }
            });
            Err(StoreError::unavailable_because(
                format!("PostgreSQL did not answer within {} ms", limit.as_millis()),
                elapsed,
            ))
        }
    }
}

/// Runs `$body` (an expression of type `Result<T, tokio_postgres::Error>` using the pooled
/// connection `$c`) with [`OP_TIMEOUT`] for the whole operation, connection wait included.
macro_rules! op {
    ($store:expr, |$c:ident| $body:expr) => {{
        let deadline = Instant::now() + OP_TIMEOUT;
        let $c = $store.client(deadline).await?;
        let outcome = tokio::time::timeout_at(deadline, async { $body }).await;
        settle($c, outcome, OP_TIMEOUT)
    }};
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user[:password]@host[:port]/db`, or any
    /// form tokio-postgres accepts; no TLS), checks that it answers, and creates or migrates the
    /// schema.
    ///
    /// The pool holds up to twice as many connections as there are cores (at least 4).
    /// [`StoreError::Unavailable`] if the server cannot be reached within two seconds (or the
    /// migration does not finish within a minute); [`StoreError::Other`] if the URL is invalid or lacks a user or host.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::other_because("not a valid PostgreSQL URL", e))?;
        if config.get_user().is_none() || config.get_hosts().is_empty() {
            return Err(StoreError::other(
                "the PostgreSQL URL must name a user and a host",
            ));
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(OP_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("sesame");
        }
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let size = std::thread::available_parallelism()
            .map_or(1, NonZeroUsize::get)
            .saturating_mul(2)
            .max(4);
        let pool = Pool::builder(manager)
            .max_size(size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(OP_TIMEOUT))
            .create_timeout(Some(OP_TIMEOUT))
            .recycle_timeout(Some(OP_TIMEOUT))
            .build()
            .map_err(|e| StoreError::other_because("cannot build the PostgreSQL pool", e))?;
        let store = Self { pool, config };
        store.migrate().await?;
        Ok(store)
    }

    /// A pooled connection, waiting no later than `deadline`.
    async fn client(&self, deadline: Instant) -> Result<Object, StoreError> {
        match tokio::time::timeout_at(deadline, self.pool.get()).await {
            Ok(Ok(client)) => Ok(client),
            Ok(Err(e)) => Err(map_pool_err(e)),
            Err(elapsed) => Err(StoreError::unavailable_because(
                format!(
                    "no PostgreSQL connection within {} ms",
                    OP_TIMEOUT.as_millis()
                ),
                elapsed,
            )),
        }
    }

    /// Applies the migration steps the database lacks, in one transaction under the advisory
    /// lock: another instance migrating at the same time waits, then finds nothing left to do.
    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.client(Instant::now() + OP_TIMEOUT).await?;
        let outcome = tokio::time::timeout(MIGRATION_TIMEOUT, async {
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .await?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS sesame_schema_migrations (\
                     version    INTEGER PRIMARY KEY, \
                     applied_at BIGINT NOT NULL)",
            )
            .await?;
            let applied: i32 = tx
                .query_one(
                    "SELECT COALESCE(max(version), 0) FROM sesame_schema_migrations",
                    &[],
                )
                .await?
                .try_get(0)?;
            if applied > SCHEMA_VERSION {
                tracing::warn!(
                    applied,
                    known = SCHEMA_VERSION,
                    "the PostgreSQL schema is newer than this build"
                );
            }
            let mut version = applied;
            for sql in MIGRATIONS
                .iter()
                .skip(usize::try_from(applied).unwrap_or(0))
            {
                version += 1;
                tx.batch_execute(sql).await?;
                tx.execute(
                    "INSERT INTO sesame_schema_migrations (version, applied_at) \
                     VALUES ($1, extract(epoch FROM now())::bigint)",
                    &[&version],
                )
                .await?;
                tracing::info!(version, "applied PostgreSQL migration");
            }
            tx.commit().await
        })
        .await;
        settle(client, outcome, MIGRATION_TIMEOUT)
    }
}

/// What the cache bus on this database ([`crate::store::shared::pg`]) needs of the store.
impl PgStore {
    /// The rows of `sql` with `params`, under the same time limit as every operation.
    pub(crate) async fn rows(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        op!(self, |c| {
            let st = c.prepare_cached(sql).await?;
            c.query(&st, params).await
        })
    }

    /// The connection settings, for a connection of its own (`LISTEN`).
    pub(crate) fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }
}

fn count_of(n: i64) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|e| StoreError::other_because(format!("negative count {n}"), e))
}

/// The columns [`user_from_row`] reads, in order (a macro, so queries are string constants).
macro_rules! user_cols {
    () => {
        "id, email, password_hash, first_name, last_name, created_at, updated_at, is_admin"
    };
}

fn user_from_row(r: &Row) -> Result<User, StoreError> {
    user_from_row_at(r, 0)
}

/// A user from the columns of [`user_cols`] starting at column `at`.
fn user_from_row_at(r: &Row, at: usize) -> Result<User, StoreError> {
    Ok(User {
        id: r.try_get(at).map_err(map_err)?,
        email: r.try_get(at + 1).map_err(map_err)?,
        password_hash: r.try_get(at + 2).map_err(map_err)?,
        first_name: r.try_get(at + 3).map_err(map_err)?,
        last_name: r.try_get(at + 4).map_err(map_err)?,
        created_at: r.try_get(at + 5).map_err(map_err)?,
        updated_at: r.try_get(at + 6).map_err(map_err)?,
        is_admin: r.try_get(at + 7).map_err(map_err)?,
    })
}

/// The columns [`session_from_row`] reads, in order.
macro_rules! session_cols {
    () => {
        "id, digest, user_id, created_at, last_seen_at, ip, user_agent"
    };
}

fn session_from_row(r: &Row) -> Result<Session, StoreError> {
    let digest: &[u8] = r.try_get(1).map_err(map_err)?;
    // The schema admits only 32-byte digests; anything else is a damaged row.
    let digest = Digest32::try_from(digest).map_err(|e| {
        StoreError::other_because(
            format!("a stored session digest has {} bytes, not 32", digest.len()),
            e,
        )
    })?;
    Ok(Session {
        id: r.try_get(0).map_err(map_err)?,
        digest,
        user_id: r.try_get(2).map_err(map_err)?,
        created_at: r.try_get(3).map_err(map_err)?,
        last_seen_at: r.try_get(4).map_err(map_err)?,
        ip: r.try_get(5).map_err(map_err)?,
        user_agent: r.try_get(6).map_err(map_err)?,
    })
}

fn failures_from_row(r: &Row) -> Result<Failures, StoreError> {
    let count: i32 = r.try_get(0).map_err(map_err)?;
    Ok(Failures {
        count: u32::try_from(count)
            .map_err(|e| StoreError::other_because(format!("negative failure count {count}"), e))?,
        last_at: r.try_get(1).map_err(map_err)?,
    })
}

#[async_trait]
impl UserStore for PgStore {
    async fn create(&self, u: &User) -> Result<(), StoreError> {
        let key = email_key(&u.email);
        op!(self, |c| {
            let st = c
                .prepare_cached(
                    "INSERT INTO users (id, email, email_key, password_hash, first_name, \
                     last_name, created_at, updated_at, is_admin) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .await?;
            c.execute(
                &st,
                &[
                    &u.id,
                    &u.email,
                    &key,
                    &u.password_hash,
                    &u.first_name,
                    &u.last_name,
                    &u.created_at,
                    &u.updated_at,
                    &u.is_admin,
                ],
            )
            .await
        })
        .map(drop)
    }

    async fn get(&self, id: &str) -> Result<Option<User>, StoreError> {
        let row = op!(self, |c| {
            let st = c
                .prepare_cached(concat!(
                    "SELECT ",
                    user_cols!(),
                    " FROM users WHERE id = $1"
                ))
                .await?;
            c.query_opt(&st, &[&id]).await
        })?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn get_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let key = email_key(email);
        let row = op!(self, |c| {
            let st = c
                .prepare_cached(concat!(
                    "SELECT ",
                    user_cols!(),
                    " FROM users WHERE email_key = $1"
                ))
                .await?;
            c.query_opt(&st, &[&key]).await
        })?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn list(&self) -> Result<Vec<User>, StoreError> {
        let rows = op!(self, |c| {
            let st = c
                .prepare_cached(concat!(
                    "SELECT ",
                    user_cols!(),
                    " FROM users ORDER BY created_at, seq"
                ))
                .await?;
            c.query(&st, &[]).await
        })?;
        rows.iter().map(user_from_row).collect()
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let n: i64 = op!(self, |c| {
            let st = c.prepare_cached("SELECT count(*) FROM users").await?;
            c.query_one(&st, &[]).await?.try_get(0)
        })?;
        count_of(n)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        op!(self, |c| c.simple_query("SELECT 1").await.map(drop))
    }

    async fn update(&self, u: &User) -> Result<bool, StoreError> {
        op!(self, |c| {
            let st = c
                .prepare_cached(
                    "UPDATE users SET first_name = $2, last_name = $3, is_admin = $4, \
                     updated_at = $5 WHERE id = $1",
                )
                .await?;
            c.execute(
                &st,
                &[
                    &u.id,
                    &u.first_name,
                    &u.last_name,
                    &u.is_admin,
                    &u.updated_at,
                ],
            )
            .await
        })
        .map(|n| n > 0)
    }

    async fn set_password(&self, id: &str, hash: &str, now: i64) -> Result<bool, StoreError> {
        op!(self, |c| {
            let st = c
                .prepare_cached(
                    "UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1",
                )
                .await?;
            c.execute(&st, &[&id, &hash, &now]).await
        })
        .map(|n| n > 0)
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        op!(self, |c| {
            let st = c.prepare_cached("DELETE FROM users WHERE id = $1").await?;
            c.execute(&st, &[&id]).await
        })
        .map(|n| n > 0)
    }

    /// Closes the pool: connections are dropped as they come back, and every later operation
    /// fails with [`StoreError::Unavailable`].
    fn close(&self) {
        self.pool.close();
    }
}

#[async_trait]
impl SessionStore for PgStore {
    async fn insert(&self, s: &Session) -> Result<(), StoreError> {
        op!(self, |c| {
            let st = c
                .prepare_cached(
                    "INSERT INTO sessions (id, digest, user_id, created_at, last_seen_at, ip, \
                     user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .await?;
            c.execute(
                &st,
                &[
                    &s.id,
                    &&s.digest[..],
                    &s.user_id,
                    &s.created_at,
                    &s.last_seen_at,
                    &s.ip,
                    &s.user_agent,
                ],
            )
            .await
        })
        .map(drop)
    }

    async fn get(&self, digest: &Digest32) -> Result<Option<Session>, StoreError> {
        let row = op!(self, |c| {
            let st = c
                .prepare_cached(concat!(
                    "SELECT ",
                    session_cols!(),
                    " FROM sessions WHERE digest = $1"
                ))
                .await?;
            c.query_opt(&st, &[&&digest[..]]).await
        })?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn get_joined(
        &self,
        digest: &Digest32,
    ) -> Result<Option<(Arc<Session>, JoinedUser)>, StoreError> {
        let row = op!(self, |c| {
            let st = c
                .prepare_cached(
                    "SELECT s.id, s.digest, s.user_id, s.created_at, s.last_seen_at, s.ip, \
                     s.user_agent, u.id, u.email, u.password_hash, u.first_name, u.last_name, \
                     u.created_at, u.updated_at, u.is_admin \
                     FROM sessions s LEFT JOIN users u ON u.id = s.user_id WHERE s.digest = $1",
                )
                .await?;
            c.query_opt(&st, &[&&digest[..]]).await
        })?;
        let Some(row) = row else { return Ok(None) };
        let session = session_from_row(&row)?;
        let user_id: Option<&str> = row.try_get(7).map_err(map_err)?;
        let user = match user_id {
            Some(_) => JoinedUser::Found(Arc::new(user_from_row_at(&row, 7)?)),
            None => JoinedUser::Gone,
        };
        Ok(Some((Arc::new(session), user)))
    }

    async fn touch(&self, digest: &Digest32, now: i64) -> Result<(), StoreError> {
        op!(self, |c| {
            let st = c
                .prepare_cached(
                    "UPDATE sessions SET last_seen_at = $2 \
                     WHERE digest = $1 AND last_seen_at < $2",
                )
                .await?;
            c.execute(&st, &[&&digest[..], &now]).await
        })
        .map(drop)
    }

    async fn delete(&self, digest: &Digest32) -> Result<bool, StoreError> {
        op!(self, |c| {
            let st = c
                .prepare_cached("DELETE FROM sessions WHERE digest = $1")
                .await?;
            c.execute(&st, &[&&digest[..]]).await
        })
        .map(|n| n > 0)
    }

    async fn list_for_user(&self, user_id: &str) -> Result<Vec<Session>, StoreError> {
        let rows = op!(self, |c| {
            let st = c
                .prepare_cached(concat!(
                    "SELECT ",
                    session_cols!(),
                    " FROM sessions WHERE user_id = $1 ORDER BY created_at, id"
                ))
                .await?;
            c.query(&st, &[&user_id]).await
        })?;
        rows.iter().map(session_from_row).collect()
    }

    async fn delete_for_user(
        &self,
        user_id: &str,
        except: Option<&Digest32>,
    ) -> Result<u64, StoreError> {
        let except = except.map(|d| &d[..]);
        op!(self, |c| {
            let st = c
                .prepare_cached(
                    "DELETE FROM sessions WHERE user_id = $1 AND digest IS DISTINCT FROM $2",
                )
                .await?;
            c.execute(&st, &[&user_id, &except]).await
        })
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let n: i64 = op!(self, |c| {
            let st = c.prepare_cached("SELECT count(*) FROM sessions").await?;
            c.query_one(&st, &[]).await?.try_get(0)
        })?;
        count_of(n)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        op!(self, |c| c.simple_query("SELECT 1").await.map(drop))
    }

    async fn purge_expired(&self, now: i64, expiry: Expiry) -> Result<u64, StoreError> {
        // A limit that is off is NULL, and matches nothing.
        let created_before = expiry.absolute.map(|d| now.saturating_sub(d));
        let seen_before = expiry.idle.map(|i| now.saturating_sub(i));
        op!(self, |c| {
            let st = c
                .prepare_cached("DELETE FROM sessions WHERE created_at <= $1 OR last_seen_at <= $2")
                .await?;
            c.execute(&st, &[&created_before, &seen_before]).await
        })
    }
}

#[async_trait]
impl ThrottleStore for PgStore {
    async fn failures(&self, key: &str) -> Result<Option<Failures>, StoreError> {
        let row = op!(self, |c| {
            let st = c
                .prepare_cached(
                    "SELECT failures, last_failure_at FROM login_failures WHERE key = $1",
                )
                .await?;
            c.query_opt(&st, &[&key]).await
        })?;
        row.as_ref().map(failures_from_row).transpose()
    }

    async fn record_failure(
        &self,
        key: &str,
        now: i64,
        quiet: i64,
    ) -> Result<Failures, StoreError> {
        // The run starts over if its last failure is at least `quiet` seconds before `now`, that
        // is at or before `now - quiet` (computed here, where it cannot overflow).
        let forget_at_or_before = now.saturating_sub(quiet);
        let row = op!(self, |c| {
            let st = c
                .prepare_cached(
                    "INSERT INTO login_failures AS f (key, failures, last_failure_at) \
                     VALUES ($1, 1, $2) \
                     ON CONFLICT (key) DO UPDATE SET \
                       failures = CASE WHEN f.last_failure_at <= $3 THEN 1 \
                                       ELSE LEAST(f.failures, 2147483646) + 1 END, \
                       last_failure_at = GREATEST(f.last_failure_at, $2) \
                     RETURNING failures, last_failure_at",
                )
                .await?;
            c.query_one(&st, &[&key, &now, &forget_at_or_before]).await
        })?;
        failures_from_row(&row)
    }

    async fn clear(&self, key: &str) -> Result<(), StoreError> {
        op!(self, |c| {
            let st = c
                .prepare_cached("DELETE FROM login_failures WHERE key = $1")
                .await?;
            c.execute(&st, &[&key]).await
        })
        .map(drop)
    }

    async fn purge(&self, before: i64) -> Result<u64, StoreError> {
        op!(self, |c| {
            let st = c
                .prepare_cached("DELETE FROM login_failures WHERE last_failure_at <= $1")
                .await?;
            c.execute(&st, &[&before]).await
        })
    }
}

fn record_from_row(r: &Row, now: i64) -> Result<Option<Record>, StoreError> {
    let record = Record {
        value: r.try_get(0).map_err(map_err)?,
        version: r.try_get(1).map_err(map_err)?,
        expires_at: r.try_get(2).map_err(map_err)?,
    };
    Ok(record
        .expires_at
        .is_none_or(|at| at > now)
        .then_some(record))
}

/// SQL of [`RecordStore::put`]: `$1` key, `$2` value, `$3` expires_at, then `$4` now and `$5`
/// a fresh version (if absent), or `$4` version and `$5` now (compare-and-set).
const PUT_IF_ABSENT: &str = "INSERT INTO records AS r (key, value, version, expires_at) \
     VALUES ($1, $2, $5, $3) \
     ON CONFLICT (key) DO UPDATE SET \
       value = excluded.value, version = excluded.version, expires_at = excluded.expires_at \
     WHERE r.expires_at IS NOT NULL AND r.expires_at <= $4";
const PUT_IF_VERSION: &str = "UPDATE records SET value = $2, version = version + 1, expires_at = $3 \
     WHERE key = $1 AND version = $4 AND (expires_at IS NULL OR expires_at > $5)";

fn outbox_from_row(r: &Row) -> Result<OutboxEntry, tokio_postgres::Error> {
    Ok(OutboxEntry {
        id: r.try_get(0)?,
        kind: r.try_get(1)?,
        payload: r.try_get(2)?,
        created_at: r.try_get(3)?,
        due_at: r.try_get(4)?,
        attempts: r.try_get(5)?,
    })
}

/// Every write of a batch in `tx`, in order; `false` at the first put that does not match
/// (the caller then rolls back).
async fn apply_in(
    tx: &deadpool_postgres::Transaction<'_>,
    writes: &[Write<'_>],
    now: i64,
) -> Result<bool, tokio_postgres::Error> {
    for w in writes {
        let n = match *w {
            Write::Put {
                key,
                value,
                expected: None,
                expires_at,
            } => {
                let st = tx.prepare_cached(PUT_IF_ABSENT).await?;
                tx.execute(&st, &[&key, &value, &expires_at, &now, &fresh_version()])
                    .await?
            }
            Write::Put {
                key,
                value,
                expected: Some(version),
                expires_at,
            } => {
                let st = tx.prepare_cached(PUT_IF_VERSION).await?;
                tx.execute(&st, &[&key, &value, &expires_at, &version, &now])
                    .await?
            }
            Write::Delete(key) => {
                let st = tx
                    .prepare_cached("DELETE FROM records WHERE key = $1")
                    .await?;
                tx.execute(&st, &[&key]).await?;
                1
            }
            Write::Outbox(e) => {
                let st = tx
                    .prepare_cached(
                        "INSERT INTO outbox (id, kind, payload, created_at, due_at, attempts) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .await?;
                tx.execute(
                    &st,
                    &[
                        &e.id,
                        &e.kind,
                        &e.payload,
                        &e.created_at,
                        &e.due_at,
                        &e.attempts,
                    ],
                )
                .await?
            }
        };
        if n != 1 {
            return Ok(false);
        }
    }
    Ok(true)
}

#[async_trait]
impl RecordStore for PgStore {
    async fn get(&self, key: &str, now: i64) -> Result<Option<Record>, StoreError> {
        let row = op!(self, |c| {
            let st = c
                .prepare_cached("SELECT value, version, expires_at FROM records WHERE key = $1")
                .await?;
            c.query_opt(&st, &[&key]).await
        })?;
        Ok(row.map(|r| record_from_row(&r, now)).transpose()?.flatten())
    }

    async fn put(
        &self,
        key: &str,
        value: &str,
        expected: Option<i64>,
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let n = match expected {
            // Absent, or present but ended: either way the key is free.
            None => op!(self, |c| {
                let st = c.prepare_cached(PUT_IF_ABSENT).await?;
                c.execute(&st, &[&key, &value, &expires_at, &now, &fresh_version()])
                    .await
            })?,
            Some(version) => op!(self, |c| {
                let st = c.prepare_cached(PUT_IF_VERSION).await?;
                c.execute(&st, &[&key, &value, &expires_at, &version, &now])
                    .await
            })?,
        };
        Ok(n == 1)
    }

    async fn take(&self, key: &str, now: i64) -> Result<Option<Record>, StoreError> {
        let row = op!(self, |c| {
            let st = c
                .prepare_cached(
                    "DELETE FROM records WHERE key = $1 RETURNING value, version, expires_at",
                )
                .await?;
            c.query_opt(&st, &[&key]).await
        })?;
        Ok(row.map(|r| record_from_row(&r, now)).transpose()?.flatten())
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let n = op!(self, |c| {
            let st = c
                .prepare_cached("DELETE FROM records WHERE key = $1")
                .await?;
            c.execute(&st, &[&key]).await
        })?;
        Ok(n > 0)
    }

    async fn purge(&self, now: i64) -> Result<u64, StoreError> {
        op!(self, |c| {
            let st = c
                .prepare_cached(
                    "DELETE FROM records WHERE expires_at IS NOT NULL AND expires_at <= $1",
                )
                .await?;
            c.execute(&st, &[&now]).await
        })
    }

    async fn apply(&self, writes: &[Write<'_>], now: i64) -> Result<bool, StoreError> {
        let deadline = Instant::now() + OP_TIMEOUT;
        let mut client = self.client(deadline).await?;
        let outcome = tokio::time::timeout_at(deadline, async {
            let tx = client.transaction().await?;
            if apply_in(&tx, writes, now).await? {
                tx.commit().await?;
                Ok(true)
            } else {
                tx.rollback().await?;
                Ok(false)
            }
        })
        .await;
        settle(client, outcome, OP_TIMEOUT)
    }

    async fn claim_outbox(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let limit = i64::from(limit);
        // SKIP LOCKED: instances claiming at once each get other entries, never the same.
        let rows = op!(self, |c| {
            let st = c
                .prepare_cached(
                    "UPDATE outbox SET due_at = $2, attempts = attempts + 1 \
                     WHERE id IN (SELECT id FROM outbox WHERE due_at <= $1 \
                                  ORDER BY due_at LIMIT $3 FOR UPDATE SKIP LOCKED) \
                     RETURNING id, kind, payload, created_at, due_at, attempts",
                )
                .await?;
            c.query(&st, &[&now, &lease_until, &limit]).await
        })?;
        rows.iter()
            .map(|r| outbox_from_row(r).map_err(map_err))
            .collect()
    }

    async fn finish_outbox(&self, id: &str) -> Result<(), StoreError> {
        op!(self, |c| {
            let st = c.prepare_cached("DELETE FROM outbox WHERE id = $1").await?;
            c.execute(&st, &[&id]).await
        })
        .map(drop)
    }

    async fn retry_outbox(&self, id: &str, due_at: i64, error: &str) -> Result<(), StoreError> {
        op!(self, |c| {
            let st = c
                .prepare_cached("UPDATE outbox SET due_at = $2, last_error = $3 WHERE id = $1")
                .await?;
            c.execute(&st, &[&id, &due_at, &error]).await
        })
        .map(drop)
    }

    async fn outbox_len(&self) -> Result<u64, StoreError> {
        let row = op!(self, |c| {
            let st = c.prepare_cached("SELECT count(*) FROM outbox").await?;
            c.query_one(&st, &[]).await
        })?;
        count_of(row.try_get(0).map_err(map_err)?)
    }
}
