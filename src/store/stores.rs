//! Opening the stores a [`StoreConfig`] names: the database, and Redis for sessions if asked.

use std::sync::Arc;

use crate::config::DatabaseUrl;
use crate::store::error::StoreError;
use crate::store::postgres::PgStore;
use crate::store::redis::RedisSessionStore;
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
}

/// The four stores one database holds.
type Database = (
    Arc<dyn UserStore>,
    Arc<dyn ThrottleStore>,
    Arc<dyn SessionStore>,
    Arc<dyn RecordStore>,
);

/// Opens (creating and migrating as needed) the stores `config` names: users, throttling counts
/// and sessions in its database, or sessions in its Redis when it names one.
pub async fn open(config: &StoreConfig<'_>) -> Result<Stores, StoreError> {
    let (users, throttle, db_sessions, records) = open_database(config.database).await?;
    let persistent_sessions: Arc<dyn SessionStore> = match config.session_store_url {
        Some(url) => Arc::new(
            RedisSessionStore::connect(url, config.session_store_prefix, config.session_ttl)
                .await?,
        ),
        None => db_sessions,
    };
    Ok(Stores {
        users,
        persistent_sessions,
        throttle,
        records,
    })
}

async fn open_database(url: &DatabaseUrl) -> Result<Database, StoreError> {
    Ok(match url {
        DatabaseUrl::SqliteFile(path) => {
            let db = Arc::new(SqliteStore::open_file(path)?);
            (db.clone(), db.clone(), db.clone(), db)
        }
        DatabaseUrl::SqliteMemory => {
            let db = Arc::new(SqliteStore::open_memory()?);
            (db.clone(), db.clone(), db.clone(), db)
        }
        DatabaseUrl::Postgres(url) => {
            let db = Arc::new(PgStore::connect(url).await?);
            (db.clone(), db.clone(), db.clone(), db)
        }
    })
}
