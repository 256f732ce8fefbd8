//! Opening the stores a [`StoreConfig`] names: the database, and Redis for sessions if asked.

use std::sync::Arc;

use crate::config::DatabaseUrl;
use crate::store::error::StoreError;
use crate::store::postgres::PgStore;
use crate::store::redis::RedisSessionStore;
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
    /// Whether stores shared by several instances (PostgreSQL, Redis) get the per-instance
    /// cache of [`crate::store::shared`].
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
    /// [`SharedCache::serve`] once it serves, and [`SharedCache::leave`] when it stops.
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
/// and sessions in its database, or sessions in its Redis when it names one. With
/// `config.cache`, shared stores are put behind the per-instance cache.
pub async fn open(config: &StoreConfig<'_>) -> Result<Stores, StoreError> {
    let (mut users, throttle, db_sessions, records, pg) = open_database(config.database).await?;
    let mut persistent_sessions: Arc<dyn SessionStore> = match config.session_store_url {
        Some(url) => Arc::new(
            RedisSessionStore::connect(url, config.session_store_prefix, config.session_ttl)
                .await?,
        ),
        None => db_sessions,
    };
    let shared_sessions = config.session_store_url.is_some() || pg.is_some();
    let cache = if config.cache && shared_sessions {
        let bus: Arc<dyn crate::store::shared::bus::Bus> = match (config.session_store_url, &pg) {
            (Some(url), _) => Arc::new(RedisBus::new(url, config.session_store_prefix)?),
            (None, Some(pg)) => Arc::new(PgBus::new(pg.clone())),
            (None, None) => return Err(StoreError::other("no shared store to cache")),
        };
        let cache = SharedCache::join(bus);
        persistent_sessions = Arc::new(CachedSessions::new(persistent_sessions, cache.clone()));
        if pg.is_some() {
            users = Arc::new(CachedUsers::new(users, cache.clone()));
        }
        Some(cache)
    } else {
        None
    };
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
