//! Opening the stores a [`StoreConfig`] names: the database, and Redis for sessions if asked.

use std::sync::Arc;

use crate::config::DatabaseUrl;
use crate::store::error::StoreError;
use crate::store::postgres::PgStore;
use crate::store::redis::RedisSessionStore;
use crate::store::shared::bus::Bus;
use crate::store::shared::pg::PgBus;
use crate::store::shared::redis::RedisBus;
use crate::store::shared::{CachedSessions, CachedUsers, SharedCache};
use crate::store::sqlite::SqliteStore;
use crate::store::traits::{RecordStore, SessionStore, ThrottleStore, UserStore};

/// Where each store lives: what [`open`] opens.
#[derive(Debug, Clone, Copy)]
pub struct StoreConfig<'a> {
    /// The database of users and throttling counts, and of sessions unless
    /// `session_store_url` is set.
    pub database: &'a DatabaseUrl,
    /// A Redis URL (`redis://host[:port][/db]`) to keep sessions in instead of `database`.
    pub session_store_url: Option<&'a str>,
    /// The prefix of every Redis key written.
    pub session_store_prefix: &'a str,
    /// A native Redis TTL in seconds for each session, a garbage-collection bound only (see
    /// [`RedisSessionStore::connect`]); `None`: none.
    pub session_ttl: Option<i64>,
    /// Whether a server on stores shared by several instances (PostgreSQL, Redis) answers
    /// from the per-instance cache of [`crate::store::shared`]. Either way it joins the
    /// cache's bus, so its writes reach the caches of the instances that do.
    pub cache: bool,
}

/// The stores [`open`] opened.
#[derive(Clone)]
pub struct Stores {
    /// Where users live.
    pub users: Arc<dyn UserStore>,
    /// Where sessions persist: the Redis of `session_store_url` if set, else the database.
    pub persistent_sessions: Arc<dyn SessionStore>,
    /// Failed-login counts, in the database so every instance sees them.
    pub throttle: Arc<dyn ThrottleStore>,
    /// Second factors, ceremonies and pending sign-ins, in the database too.
    pub records: Arc<dyn RecordStore>,
    /// The per-instance cache in front of a shared store, if any: a server calls
    /// [`SharedCache::serve`] once it serves (a no-op when the cache is off), and
    /// [`SharedCache::leave`] when it stops.
    pub cache: Option<Arc<SharedCache>>,
}

/// The four stores one database holds, and the PostgreSQL store when it is one.
type Database = (
    Arc<dyn UserStore>,
    Arc<dyn ThrottleStore>,
    Arc<dyn SessionStore>,
    Arc<dyn RecordStore>,
    Option<Arc<PgStore>>,
);

/// Opens (creating and migrating as needed) the stores `config` names: users, throttling counts
/// and sessions in its database, or sessions in its Redis when it names one. Shared stores are
/// put behind the per-instance cache, which serves only with `config.cache`.
pub async fn open(config: &StoreConfig<'_>) -> Result<Stores, StoreError> {
    let (mut users, throttle, db_sessions, records, pg) = open_database(config.database).await?;
    let mut persistent_sessions: Arc<dyn SessionStore> = match config.session_store_url {
        Some(url) => Arc::new(
            RedisSessionStore::connect(url, config.session_store_prefix, config.session_ttl)
                .await?,
        ),
        None => db_sessions,
    };
    // Every process on a shared store joins its bus, whether or not it serves from a cache
    // (`SESSION_CACHE=off`, the command line): its writes must reach the caches of those that
    // do. Users are cached with the sessions whatever database holds them: every sesame
    // process writing them is on the same bus (see the module docs of `store::shared`).
    let bus: Option<Arc<dyn Bus>> = match (config.session_store_url, &pg) {
        (Some(url), _) => Some(Arc::new(RedisBus::new(url, config.session_store_prefix)?)),
        (None, Some(pg)) => Some(Arc::new(PgBus::new(pg.clone()))),
        (None, None) => None,
    };
    let cache = bus.map(|bus| SharedCache::join(bus, config.cache));
    if let Some(cache) = &cache {
        persistent_sessions = Arc::new(CachedSessions::new(persistent_sessions, cache.clone()));
        users = Arc::new(CachedUsers::new(users, cache.clone()));
    }
    Ok(Stores {
        users,
        persistent_sessions,
        throttle,
        records,
        cache,
    })
}

async fn open_database(url: &DatabaseUrl) -> Result<Database, StoreError> {
    Ok(match url {
        DatabaseUrl::SqliteFile(path) => {
            let db = Arc::new(SqliteStore::open_file(path)?);
            (db.clone(), db.clone(), db.clone(), db, None)
        }
        DatabaseUrl::SqliteMemory => {
            let db = Arc::new(SqliteStore::open_memory()?);
            (db.clone(), db.clone(), db.clone(), db, None)
        }
        DatabaseUrl::Postgres(url) => {
            let db = Arc::new(PgStore::connect(url).await?);
            (db.clone(), db.clone(), db.clone(), db.clone(), Some(db))
        }
    })
}
