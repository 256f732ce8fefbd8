//! SQLite: users and `session_db_auth` sessions in one embedded database file.
//!
//! One writer connection and a few reader connections, in WAL mode so reads never wait for the
//! writer. Queries are short primary-key or index lookups with cached prepared statements, run
//! inline on the calling task: handing each to a thread would cost more than the query.
//! Writes by other processes on the same file (the command line) are seen by the next read.

// hashbrown with foldhash: the cache is probed on every request, and its keys are not chosen by
// clients (digests of server-made tokens, user ids), so a fast non-keyed hash is safe here.
use hashbrown::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, Row, params};

use super::{Failures, JoinedUser, SessionStore, StoreError, ThrottleStore, UserStore};
use crate::config::Expiry;
use crate::domain::{Digest32, Session, User, email_key};

/// The schema, one step per entry; `PRAGMA user_version` records how many are applied.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/sqlite_001.sql"),
    include_str!("migrations/sqlite_002.sql"),
];

/// How many reader connections a file database keeps.
const READERS: usize = 4;

/// An SQLite database holding users and sessions.
pub struct SqliteStore {
    writer: Mutex<Connection>,
    /// Empty for an in-memory database, which has only the one connection.
    readers: Vec<Mutex<Connection>>,
    next: AtomicUsize,
    cache: RwLock<Cache>,
    /// The WAL-index of a file database, watched for commits by anyone.
    wal: Option<WalWatch>,
}

/// Watches the WAL-index header (the `-shm` file) of a database in WAL mode.
///
/// Every commit, by any process or connection, rewrites the header (its change counter, frame
/// count and checksums), which SQLite keeps in two copies so a torn read can be told. Reading
/// it is one `pread` without any lock: far cheaper than the read transaction `PRAGMA
/// data_version` needs. Its layout is part of SQLite's documented file format.
struct WalWatch {
    shm: std::fs::File,
}

/// Bytes of one copy of the WAL-index header.
const WAL_HEADER: usize = 48;

/// The header's transaction counter (`iChange`, bytes 8 to 11, in the host's byte order),
/// which every commit moves by one.
fn change_counter(header: &[u8; WAL_HEADER]) -> u32 {
    u32::from_ne_bytes([header[8], header[9], header[10], header[11]])
}

impl WalWatch {
    fn open(db: &Path) -> Option<Self> {
        let mut shm = db.as_os_str().to_owned();
        shm.push("-shm");
        std::fs::File::open(shm).ok().map(|shm| Self { shm })
    }

    /// The current header, or `None` while a commit is rewriting it (the copies differ).
    fn token(&self) -> Option<[u8; WAL_HEADER]> {
        use std::os::unix::fs::FileExt as _;
        let mut buf = [0u8; 2 * WAL_HEADER];
        self.shm.read_exact_at(&mut buf, 0).ok()?;
        let (a, b) = buf.split_at(WAL_HEADER);
        if a != b {
            return None;
        }
        a.try_into().ok()
    }
}

/// Most entries the read cache holds of each kind; past that it starts over.
const CACHE_CAP: usize = 100_000;

/// The read cache of the hot path (a session by digest, a user by id).
///
/// It can never serve a revoked session or a stale user:
/// - Every commit to the file, by this or any other process or store (the command line, a
///   second instance), changes the WAL-index header ([`WalWatch`]), which every cached read
///   checks first; a change empties the cache. An in-memory database has no other writers.
/// - Writes through this store update or drop the entries they touch after they commit, and
///   bump `generation`; a read that loaded a row before such a write (its generation is older)
///   does not put it in the cache.
struct Cache {
    /// The WAL-index header the entries were read under.
    token: [u8; WAL_HEADER],
    generation: u64,
    sessions: HashMap<Digest32, Arc<Session>>,
    users: HashMap<String, Arc<User>>,
}

impl Default for Cache {
    fn default() -> Self {
        Self {
            token: [0; WAL_HEADER],
            generation: 0,
            sessions: HashMap::new(),
            users: HashMap::new(),
        }
    }
}

impl Cache {
    fn reset(&mut self, token: [u8; WAL_HEADER]) {
        self.sessions.clear();
        self.users.clear();
        self.token = token;
        self.generation += 1;
    }
}

fn read_lock(c: &RwLock<Cache>) -> RwLockReadGuard<'_, Cache> {
    c.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write_lock(c: &RwLock<Cache>) -> RwLockWriteGuard<'_, Cache> {
    c.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn map_err(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::ConstraintViolation) => StoreError::Conflict,
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            StoreError::Unavailable(e.to_string())
        }
        Some(ErrorCode::CannotOpen | ErrorCode::ReadOnly | ErrorCode::DiskFull) => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Other(e.to_string()),
    }
}

/// The first row of an `INSERT ... RETURNING`, stepping the statement to its end.
///
/// SQLite runs a commit's WAL hook, and with it the automatic checkpoint, only when a
/// statement steps to its end; a statement reset after its first row still commits, but
/// never checkpoints, and the write-ahead log then grows without bound.
fn returning_row<T>(
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

/// The size the write-ahead log is cut back to after a checkpoint empties it.
const WAL_SIZE_LIMIT: i64 = 8 * 1024 * 1024;

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
        let mut writer = open()
            .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
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
        let wal = WalWatch::open(path);
        if wal.is_none() {
            tracing::warn!("no WAL index next to the database: reads are not cached");
        }
        Ok(Self {
            writer: Mutex::new(writer),
            readers,
            next: AtomicUsize::new(0),
            cache: RwLock::default(),
            wal,
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
            cache: RwLock::default(),
            wal: None,
        })
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        let conn = if self.readers.is_empty() {
            &self.writer
        } else {
            let i = self.next.fetch_add(1, Ordering::Relaxed) % self.readers.len();
            &self.readers[i]
        };
        f(&lock(conn)).map_err(map_err)
    }

    /// Runs a write (one transaction) on the writer connection.
    ///
    /// A commit changes the WAL-index header, which would empty the read cache at the next
    /// read. When the header shows that exactly one transaction committed meanwhile (its change
    /// counter moved by one) and the cache matched the header before, that transaction was this
    /// one: the cache keeps its entries under the new header, and the caller adjusts the
    /// entries the write touched ([`Self::invalidate`]). Anything else (another process
    /// committed too, this write failed or changed nothing) leaves the cache to be emptied.
    /// Checkpoints copy pages without changing what a read sees: one that restarts the log
    /// rewrites the header (new salts), which empties the cache, never the reverse.
    fn write<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let conn = lock(&self.writer);
        let before = self.wal.as_ref().and_then(WalWatch::token);
        let changes = conn.total_changes();
        let result = f(&conn).map_err(map_err);
        // Only a write that committed changes can be the one transaction counted: a failed or
        // empty one commits nothing, and a move of one is then another writer's commit.
        if result.is_ok()
            && conn.total_changes() > changes
            && let (Some(wal), Some(before)) = (&self.wal, before)
            && let Some(after) = wal.token()
            && change_counter(&after) == change_counter(&before).wrapping_add(1)
        {
            let mut cache = write_lock(&self.cache);
            if cache.token == before {
                cache.token = after;
            }
        }
        result
    }

    /// The WAL-index header the cache must match now, or `None` when nothing may be served
    /// from the cache (a commit is under way, or there is no WAL index to watch).
    fn current_token(&self) -> Option<[u8; WAL_HEADER]> {
        match &self.wal {
            Some(wal) => wal.token(),
            // An in-memory database has no writer but this store.
            None if self.readers.is_empty() => Some([0; WAL_HEADER]),
            None => None,
        }
    }

    /// Stores what a read loaded under `token` at `generation`, unless a write through this
    /// store has committed since (it may be stale then).
    fn keep(&self, token: [u8; WAL_HEADER], generation: u64, f: impl FnOnce(&mut Cache)) {
        let mut cache = write_lock(&self.cache);
        if cache.token != token {
            cache.reset(token);
        } else if cache.generation != generation {
            return;
        }
        if cache.sessions.len() < CACHE_CAP && cache.users.len() < CACHE_CAP {
            f(&mut cache);
        }
    }

    /// A read through the cache: `pick` finds the entry, `load` reads the database on a miss,
    /// `keep` stores what it read.
    fn cached<V>(
        &self,
        pick: impl Fn(&Cache) -> Option<&Arc<V>>,
        load: impl FnOnce() -> Result<Option<V>, StoreError>,
        keep: impl FnOnce(&mut Cache, Arc<V>),
    ) -> Result<Option<Arc<V>>, StoreError> {
        let Some(token) = self.current_token() else {
            return Ok(load()?.map(Arc::new));
        };
        let generation = {
            let cache = read_lock(&self.cache);
            if cache.token == token
                && let Some(v) = pick(&cache)
            {
                return Ok(Some(v.clone()));
            }
            cache.generation
        };
        let loaded = load()?.map(Arc::new);
        if let Some(v) = &loaded {
            let v = v.clone();
            self.keep(token, generation, |c| keep(c, v));
        }
        Ok(loaded)
    }

    /// A session and its user, read together from the database.
    fn load_joined(
        &self,
        digest: &Digest32,
    ) -> Result<Option<(Arc<Session>, JoinedUser)>, StoreError> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT s.id, s.digest, s.user_id, s.created_at, s.last_seen_at, s.ip, \
                 s.user_agent, u.id, u.email, u.password_hash, u.first_name, u.last_name, \
                 u.created_at, u.updated_at, u.is_admin \
                 FROM sessions s LEFT JOIN users u ON u.id = s.user_id WHERE s.digest = ?1",
            )?
            .query_row([digest], |r| {
                let session = session_from_row(r)?;
                let user = match r.get::<_, Option<String>>(7)? {
                    Some(_) => JoinedUser::Found(Arc::new(user_from_row_at(r, 7)?)),
                    None => JoinedUser::Gone,
                };
                Ok((Arc::new(session), user))
            })
            .optional()
        })
    }

    /// After a committed write through this store: adjusts the entries it touched.
    fn invalidate(&self, f: impl FnOnce(&mut Cache)) {
        let mut cache = write_lock(&self.cache);
        cache.generation += 1;
        f(&mut cache);
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

macro_rules! user_cols {
    () => {
        "id, email, password_hash, first_name, last_name, created_at, updated_at, is_admin"
    };
}

fn user_from_row(r: &Row<'_>) -> rusqlite::Result<User> {
    user_from_row_at(r, 0)
}

/// A user from the columns of `user_cols!` starting at column `at`.
fn user_from_row_at(r: &Row<'_>, at: usize) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(at)?,
        email: r.get(at + 1)?,
        password_hash: r.get(at + 2)?,
        first_name: r.get(at + 3)?,
        last_name: r.get(at + 4)?,
        created_at: r.get(at + 5)?,
        updated_at: r.get(at + 6)?,
        is_admin: r.get(at + 7)?,
    })
}

macro_rules! session_cols {
    () => {
        "id, digest, user_id, created_at, last_seen_at, ip, user_agent"
    };
}

fn session_from_row(r: &Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        id: r.get(0)?,
        digest: r.get(1)?,
        user_id: r.get(2)?,
        created_at: r.get(3)?,
        last_seen_at: r.get(4)?,
        ip: r.get(5)?,
        user_agent: r.get(6)?,
    })
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn create(&self, u: &User) -> Result<(), StoreError> {
        self.write(|c| {
            c.prepare_cached(
                "INSERT INTO users (id, email, email_key, password_hash, first_name, last_name, \
                 created_at, updated_at, is_admin) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                u.id,
                u.email,
                email_key(&u.email),
                u.password_hash,
                u.first_name,
                u.last_name,
                u.created_at,
                u.updated_at,
                u.is_admin
            ])
            .map(drop)
        })
    }

    async fn get(&self, id: &str) -> Result<Option<User>, StoreError> {
        Ok(self.get_shared(id).await?.map(|u| User::clone(&u)))
    }

    async fn get_shared(&self, id: &str) -> Result<Option<Arc<User>>, StoreError> {
        self.cached(
            |c| c.users.get(id),
            || {
                self.read(|c| {
                    c.prepare_cached(concat!(
                        "SELECT ",
                        user_cols!(),
                        " FROM users WHERE id = ?1"
                    ))?
                    .query_row([id], user_from_row)
                    .optional()
                })
            },
            |c, u| {
                c.users.insert(u.id.clone(), u);
            },
        )
    }

    async fn get_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        self.read(|c| {
            c.prepare_cached(concat!(
                "SELECT ",
                user_cols!(),
                " FROM users WHERE email_key = ?1"
            ))?
            .query_row([email_key(email)], user_from_row)
            .optional()
        })
    }

    async fn list(&self) -> Result<Vec<User>, StoreError> {
        self.read(|c| {
            c.prepare_cached(concat!(
                "SELECT ",
                user_cols!(),
                " FROM users ORDER BY created_at, id"
            ))?
            .query_map([], user_from_row)?
            .collect()
        })
    }

    async fn count(&self) -> Result<u64, StoreError> {
        self.read(|c| {
            c.prepare_cached("SELECT count(*) FROM users")?
                .query_row([], |r| r.get(0))
        })
    }

    async fn update(&self, u: &User) -> Result<bool, StoreError> {
        let result = self.write(|c| {
            c.prepare_cached(
                "UPDATE users SET first_name = ?2, last_name = ?3, is_admin = ?4, updated_at = ?5 \
                 WHERE id = ?1",
            )?
            .execute(params![
                u.id,
                u.first_name,
                u.last_name,
                u.is_admin,
                u.updated_at
            ])
            .map(|n| n > 0)
        });
        if let Ok(true) = result {
            self.invalidate(|c| {
                c.users.remove(&u.id);
            });
        }
        result
    }

    async fn set_password(&self, id: &str, hash: &str, now: i64) -> Result<bool, StoreError> {
        let result = self.write(|c| {
            c.prepare_cached("UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE id = ?1")?
                .execute(params![id, hash, now])
                .map(|n| n > 0)
        });
        if let Ok(true) = result {
            self.invalidate(|c| {
                c.users.remove(id);
            });
        }
        result
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let result = self.write(|c| {
            c.prepare_cached("DELETE FROM users WHERE id = ?1")?
                .execute([id])
                .map(|n| n > 0)
        });
        if let Ok(true) = result {
            self.invalidate(|c| {
                c.users.remove(id);
            });
        }
        result
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|c| c.prepare_cached("SELECT 1")?.query_row([], |_| Ok(())))
    }

    fn close(&self) {
        self.checkpoint();
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn insert(&self, s: &Session) -> Result<(), StoreError> {
        self.write(|c| {
            c.prepare_cached(
                "INSERT INTO sessions (id, digest, user_id, created_at, last_seen_at, ip, user_agent) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![s.id, s.digest, s.user_id, s.created_at, s.last_seen_at, s.ip, s.user_agent])
            .map(drop)
        })
    }

    async fn get(&self, digest: &Digest32) -> Result<Option<Session>, StoreError> {
        Ok(self
            .cached(
                |c| c.sessions.get(digest),
                || {
                    self.read(|c| {
                        c.prepare_cached(concat!(
                            "SELECT ",
                            session_cols!(),
                            " FROM sessions WHERE digest = ?1"
                        ))?
                        .query_row([digest], session_from_row)
                        .optional()
                    })
                },
                |c, s| {
                    c.sessions.insert(s.digest, s);
                },
            )?
            .map(|s| Session::clone(&s)))
    }

    async fn get_joined(
        &self,
        digest: &Digest32,
    ) -> Result<Option<(Arc<Session>, JoinedUser)>, StoreError> {
        let Some(token) = self.current_token() else {
            return self.load_joined(digest);
        };
        let generation = {
            let cache = read_lock(&self.cache);
            if cache.token == token
                && let Some(s) = cache.sessions.get(digest)
                && let Some(u) = cache.users.get(&s.user_id)
            {
                return Ok(Some((s.clone(), JoinedUser::Found(u.clone()))));
            }
            cache.generation
        };
        let loaded = self.load_joined(digest)?;
        if let Some((s, JoinedUser::Found(u))) = &loaded {
            let (s, u) = (s.clone(), u.clone());
            self.keep(token, generation, |c| {
                c.sessions.insert(s.digest, s);
                c.users.insert(u.id.clone(), u);
            });
        }
        Ok(loaded)
    }

    async fn touch(&self, digest: &Digest32, now: i64) -> Result<(), StoreError> {
        let result = self.write(|c| {
            c.prepare_cached(
                "UPDATE sessions SET last_seen_at = ?2 WHERE digest = ?1 AND last_seen_at < ?2",
            )?
            .execute(params![digest, now])
            .map(drop)
        });
        if result.is_ok() {
            self.invalidate(|c| {
                if let Some(cached) = c.sessions.get_mut(digest) {
                    Arc::make_mut(cached).last_seen_at = cached.last_seen_at.max(now);
                }
            });
        }
        result
    }

    async fn delete(&self, digest: &Digest32) -> Result<bool, StoreError> {
        let result = self.write(|c| {
            c.prepare_cached("DELETE FROM sessions WHERE digest = ?1")?
                .execute([digest])
                .map(|n| n > 0)
        });
        if let Ok(true) = result {
            self.invalidate(|c| {
                c.sessions.remove(digest);
            });
        }
        result
    }

    async fn list_for_user(&self, user_id: &str) -> Result<Vec<Session>, StoreError> {
        self.read(|c| {
            c.prepare_cached(concat!(
                "SELECT ",
                session_cols!(),
                " FROM sessions WHERE user_id = ?1 ORDER BY created_at, id"
            ))?
            .query_map([user_id], session_from_row)?
            .collect()
        })
    }

    async fn delete_for_user(
        &self,
        user_id: &str,
        except: Option<&Digest32>,
    ) -> Result<u64, StoreError> {
        let result = self.write(|c| {
            c.prepare_cached("DELETE FROM sessions WHERE user_id = ?1 AND digest IS NOT ?2")?
                .execute(params![user_id, except])
                .map(|n| n as u64)
        });
        if let Ok(n) = result
            && n > 0
        {
            self.invalidate(|c| {
                c.sessions
                    .retain(|d, s| s.user_id != user_id || Some(d) == except);
            });
        }
        result
    }

    async fn count(&self) -> Result<u64, StoreError> {
        self.read(|c| {
            c.prepare_cached("SELECT count(*) FROM sessions")?
                .query_row([], |r| r.get(0))
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|c| c.prepare_cached("SELECT 1")?.query_row([], |_| Ok(())))
    }

    async fn purge_expired(&self, now: i64, expiry: Expiry) -> Result<u64, StoreError> {
        // A limit that is off is NULL, and matches nothing.
        let created_before = expiry.absolute.map(|d| now.saturating_sub(d));
        let seen_before = expiry.idle.map(|i| now.saturating_sub(i));
        let result = self.write(|c| {
            c.prepare_cached("DELETE FROM sessions WHERE created_at <= ?1 OR last_seen_at <= ?2")?
                .execute(params![created_before, seen_before])
                .map(|n| n as u64)
        });
        if let Ok(n) = result
            && n > 0
        {
            self.invalidate(|c| c.sessions.retain(|_, s| !s.is_expired(now, expiry)));
        }
        result
    }
}

#[async_trait]
impl ThrottleStore for SqliteStore {
    async fn failures(&self, key: &str) -> Result<Option<Failures>, StoreError> {
        self.read(|c| {
            c.prepare_cached("SELECT failures, last_failure_at FROM login_failures WHERE key = ?1")?
                .query_row([key], |r| {
                    Ok(Failures {
                        count: r.get(0)?,
                        last_at: r.get(1)?,
                    })
                })
                .optional()
        })
    }

    async fn record_failure(
        &self,
        key: &str,
        now: i64,
        quiet: i64,
    ) -> Result<Failures, StoreError> {
        self.write(|c| {
            c.prepare_cached(
                "INSERT INTO login_failures (key, failures, last_failure_at) VALUES (?1, 1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET \
                   failures = CASE WHEN ?2 - last_failure_at >= ?3 THEN 1 ELSE failures + 1 END, \
                   last_failure_at = max(last_failure_at, ?2) \
                 RETURNING failures, last_failure_at",
            )?
            .query(params![key, now, quiet])
            .and_then(|rows| {
                returning_row(rows, |r| {
                    Ok(Failures {
                        count: r.get(0)?,
                        last_at: r.get(1)?,
                    })
                })
            })
        })
    }

    async fn clear(&self, key: &str) -> Result<(), StoreError> {
        self.write(|c| {
            c.prepare_cached("DELETE FROM login_failures WHERE key = ?1")?
                .execute([key])
                .map(drop)
        })
    }

    async fn purge(&self, before: i64) -> Result<u64, StoreError> {
        self.write(|c| {
            c.prepare_cached("DELETE FROM login_failures WHERE last_failure_at <= ?1")?
                .execute([before])
                .map(|n| n as u64)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::token_digest;

    fn user(id: &str) -> User {
        User {
            id: id.into(),
            email: format!("{id}@example.com"),
            password_hash: None,
            first_name: None,
            last_name: None,
            created_at: 0,
            updated_at: 0,
            is_admin: false,
        }
    }

    fn session(token: &str, user_id: &str) -> Session {
        Session {
            id: format!("id-{token}"),
            digest: token_digest(token),
            user_id: user_id.into(),
            created_at: 0,
            last_seen_at: 0,
            ip: None,
            user_agent: None,
        }
    }

    fn cached_sessions(store: &SqliteStore) -> usize {
        read_lock(&store.cache).sessions.len()
    }

    #[tokio::test]
    async fn own_writes_keep_the_cache_and_other_writers_empty_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let store = SqliteStore::open_file(&path).unwrap();
        UserStore::create(&store, &user("u1")).await.unwrap();
        store.insert(&session("a", "u1")).await.unwrap();
        assert!(
            store
                .get_joined(&token_digest("a"))
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(cached_sessions(&store), 1);

        // A write through this store: the cache follows the new header and keeps its entries.
        store.insert(&session("b", "u1")).await.unwrap();
        store.touch(&token_digest("a"), 30).await.unwrap();
        assert_eq!(
            read_lock(&store.cache).token,
            store.current_token().unwrap()
        );
        assert_eq!(cached_sessions(&store), 1);
        let (a, _) = store.get_joined(&token_digest("a")).await.unwrap().unwrap();
        assert_eq!(a.last_seen_at, 30);

        // A write by another connection: the header moves on without the cache, which is
        // emptied at the next read and serves the other writer's change.
        let other = SqliteStore::open_file(&path).unwrap();
        SessionStore::delete(&other, &token_digest("a"))
            .await
            .unwrap();
        assert_ne!(
            read_lock(&store.cache).token,
            store.current_token().unwrap()
        );
        assert!(
            store
                .get_joined(&token_digest("a"))
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_write_that_commits_nothing_while_another_writer_commits_keeps_no_stale_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let store = SqliteStore::open_file(&path).unwrap();
        UserStore::create(&store, &user("u1")).await.unwrap();
        store.insert(&session("a", "u1")).await.unwrap();
        assert!(
            store
                .get_joined(&token_digest("a"))
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(cached_sessions(&store), 1);

        // While this store's write runs (and changes nothing), another process revokes "a":
        // the header moves by exactly one commit, which is not this store's.
        let other = Connection::open(&path).unwrap();
        store
            .write(|c| {
                other.execute("DELETE FROM sessions", [])?;
                c.execute("DELETE FROM sessions WHERE id = 'none'", [])
                    .map(drop)
            })
            .unwrap();
        assert!(
            store
                .get_joined(&token_digest("a"))
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn the_cache_stays_exact_through_checkpoints_and_log_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let store = SqliteStore::open_file(&path).unwrap();
        UserStore::create(&store, &user("u1")).await.unwrap();
        store.insert(&session("a", "u1")).await.unwrap();
        let wal_len = || {
            std::fs::metadata(dir.path().join("t.db-wal"))
                .unwrap()
                .len()
        };
        // Enough writes of this store's own for automatic checkpoints to run and the log to
        // start over; the cached session is served throughout, and a revoked one never.
        let mut largest = 0;
        for i in 0..2500 {
            store
                .insert(&session(&format!("s{i}"), "u1"))
                .await
                .unwrap();
            if i % 100 == 0 {
                SessionStore::delete(&store, &token_digest(&format!("s{i}")))
                    .await
                    .unwrap();
                assert!(
                    store
                        .get_joined(&token_digest(&format!("s{i}")))
                        .await
                        .unwrap()
                        .is_none()
                );
            }
            assert!(
                store
                    .get_joined(&token_digest("a"))
                    .await
                    .unwrap()
                    .is_some()
            );
            largest = largest.max(wal_len());
        }
        let db_len = std::fs::metadata(&path).unwrap().len();
        assert!(
            db_len > 100_000,
            "no checkpoint copied pages: {db_len} bytes"
        );
        assert!(largest < 8 * 1024 * 1024, "the log reached {largest} bytes");

        // Another process revokes "a" and truncates the log: the next read does not serve it.
        let other = Connection::open(&path).unwrap();
        other
            .execute("DELETE FROM sessions WHERE user_id = 'u1'", [])
            .unwrap();
        other
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            })
            .unwrap();
        assert_eq!(wal_len(), 0);
        assert!(
            store
                .get_joined(&token_digest("a"))
                .await
                .unwrap()
                .is_none()
        );
    }
}
