//! The SQLite store itself: its connections, the schema's migrations, and the two ways in,
//! [`SqliteStore::read`] and [`SqliteStore::write`] (the one path of every write, which tells
//! the read cache what it touched).

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, ErrorCode, OpenFlags, Row};

use crate::store::error::StoreError;
use crate::store::sqlite::cache::{Entries, ReadCache};

/// The schema, one step per entry; `PRAGMA user_version` records how many are applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/sqlite_001.sql"),
    include_str!("../migrations/sqlite_002.sql"),
    include_str!("../migrations/sqlite_003.sql"),
    include_str!("../migrations/sqlite_004.sql"),
];

/// How many reader connections a file database keeps.
const READERS: usize = 4;

/// The size the write-ahead log is cut back to after a checkpoint empties it.
const WAL_SIZE_LIMIT: i64 = 8 * 1024 * 1024;

/// An SQLite database holding users, sessions and failed-login counts.
pub struct SqliteStore {
    writer: Mutex<Connection>,
    /// Empty for an in-memory database, which has only the one connection.
    readers: Vec<Mutex<Connection>>,
    next: AtomicUsize,
    /// The read cache of the hot path (a session by digest, a user by id).
    pub(super) cache: ReadCache,
}

fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Maps a query's error, kept as the cause: constraint violations are conflicts, a busy, locked,
/// unopenable, read-only or full database is unavailability.
pub(super) fn map_err(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::ConstraintViolation) => StoreError::Conflict,
        Some(
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::CannotOpen
            | ErrorCode::ReadOnly
            | ErrorCode::DiskFull,
        ) => StoreError::unavailable(e),
        _ => StoreError::other(e),
    }
}

/// The first row of an `INSERT ... RETURNING`, stepping the statement to its end.
///
/// SQLite runs a commit's WAL hook, and with it the automatic checkpoint, only when a
/// statement steps to its end; a statement reset after its first row still commits, but
/// never checkpoints, and the write-ahead log then grows without bound.
pub(super) fn returning_row<T>(
    mut rows: rusqlite::Rows<'_>,
    f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    let first = match rows.next()? {
        Some(row) => f(row)?,
        None => return Err(rusqlite::Error::QueryReturnedNoRows),
    };
    while rows.next()?.is_some() {}
    Ok(first)
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(2))?;
    // Checkpoints run as writes go (every 1000 pages, SQLite's default), and the log file
    // shrinks back to this limit once a checkpoint has emptied it.
    conn.pragma_update(None, "wal_autocheckpoint", 1000)?;
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    // IMMEDIATE takes the write lock first, so two processes starting at once migrate in turn.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let applied = usize::try_from(version).unwrap_or(0);
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
    }
    tx.commit()
}

impl SqliteStore {
    /// Opens (creating and migrating) the database file at `path`.
    pub fn open_file(path: &Path) -> Result<Self, StoreError> {
        let open = || -> rusqlite::Result<Connection> {
            let conn = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_WRITE
                    | OpenFlags::SQLITE_OPEN_CREATE
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            configure(&conn)?;
            Ok(conn)
        };
        let mut writer = open().map_err(|e| {
            StoreError::unavailable_because(format!("cannot open {}", path.display()), e)
        })?;
        let mode: String = writer
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(map_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(%mode, "SQLite could not switch to WAL mode");
        }
        migrate(&mut writer).map_err(map_err)?;
        let readers = (0..READERS)
            .map(|_| open().map(Mutex::new))
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(map_err)?;
        Ok(Self {
            writer: Mutex::new(writer),
            readers,
            next: AtomicUsize::new(0),
            cache: ReadCache::for_file(path),
        })
    }

    /// Opens a private in-memory database.
    pub fn open_memory() -> Result<Self, StoreError> {
        let mut conn = Connection::open_in_memory().map_err(map_err)?;
        configure(&conn).map_err(map_err)?;
        migrate(&mut conn).map_err(map_err)?;
        Ok(Self {
            writer: Mutex::new(conn),
            readers: Vec::new(),
            next: AtomicUsize::new(0),
            cache: ReadCache::for_memory(),
        })
    }

    /// Runs a read on one of the reader connections (the writer's, in memory).
    pub(super) fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let conn = if self.readers.is_empty() {
            &self.writer
        } else {
            let i = self.next.fetch_add(1, Ordering::Relaxed) % self.readers.len();
            &self.readers[i]
        };
        f(&lock(conn)).map_err(map_err)
    }

    /// Runs a write (one transaction) on the writer connection, then tells the read cache what
    /// it touched: if it changed rows, `touched` updates or drops the cached entries of those
    /// rows (see [`ReadCache::after_write`]). Every write of the store goes through here.
    pub(super) fn write<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
        touched: impl FnOnce(&mut Entries),
    ) -> Result<T, StoreError> {
        let conn = lock(&self.writer);
        let before = self.cache.before_write();
        let changes = conn.total_changes();
        let result = f(&conn).map_err(map_err);
        let changed = conn.total_changes() > changes;
        self.cache
            .after_write(before, changed, changed && result.is_ok(), touched);
        result
    }

    /// Folds the write-ahead log into the database file; called at shutdown.
    pub fn checkpoint(&self) {
        if !self.readers.is_empty()
            && let Err(e) = lock(&self.writer)
                .execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA optimize;")
        {
            tracing::warn!(error = %e, "SQLite checkpoint at shutdown failed");
        }
    }
}
