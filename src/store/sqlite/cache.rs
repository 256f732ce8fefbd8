//! The read cache of the SQLite hot path (a session by digest, a user by id) and the watch on
//! the WAL index that keeps it exact.
//!
//! It can never serve a revoked session or a stale user:
//! - Every commit to the file, by this or any other process or store (the command line, a
//!   second instance), changes the WAL-index header ([`WalWatch`]), which every cached read
//!   checks first; a change empties the cache. An in-memory database has no other writers.
//! - Every write through the store reports to [`ReadCache::after_write`] while it still holds
//!   the writer connection: if it changed rows, the entries it touched are updated or dropped
//!   and the generation moves on, so a read that loaded a row before the write does not put it
//!   in the cache; and if exactly its own commit moved the header, the cache follows the new
//!   header instead of being emptied.

use std::path::Path;
use std::sync::Arc;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

// hashbrown with foldhash: the cache is probed on every request, and its keys are not chosen by
// clients (digests of server-made tokens, user ids), so a fast non-keyed hash is safe here.
use hashbrown::HashMap;

use crate::domain::{Digest32, Session, User};
use crate::store::error::StoreError;

/// Bytes of one copy of the WAL-index header.
const WAL_HEADER: usize = 48;

/// A WAL-index header: what the cache's entries were read under.
pub(super) type Token = [u8; WAL_HEADER];

/// Most entries the read cache holds of each kind; past that it stops adding.
const CACHE_CAP: usize = 100_000;

/// Watches the WAL-index header (the `-shm` file) of a database in WAL mode.
///
/// Every commit, by any process or connection, rewrites the header (its change counter, frame
/// count and checksums), which SQLite keeps in two copies so a torn read can be told. Reading
/// it is one `pread` without any lock: far cheaper than the read transaction `PRAGMA
/// data_version` needs. Its layout is part of SQLite's documented file format.
struct WalWatch {
    shm: std::fs::File,
}

/// The header's transaction counter (`iChange`, bytes 8 to 11, in the host's byte order),
/// which every commit moves by one.
fn change_counter(header: &Token) -> u32 {
    u32::from_ne_bytes([header[8], header[9], header[10], header[11]])
}

impl WalWatch {
    fn open(db: &Path) -> Option<Self> {
        let mut shm = db.as_os_str().to_owned();
        shm.push("-shm");
        std::fs::File::open(shm).ok().map(|shm| Self { shm })
    }

    /// The current header, or `None` while a commit is rewriting it (the copies differ).
    fn token(&self) -> Option<Token> {
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

/// The cached rows, by key. Writes adjust them through [`ReadCache::after_write`].
#[derive(Default)]
pub(super) struct Entries {
    /// Sessions by digest.
    pub(super) sessions: HashMap<Digest32, Arc<Session>>,
    /// Users by id.
    pub(super) users: HashMap<String, Arc<User>>,
}

/// For writes that touch no cached row (inserts of new rows, failed-login counts).
pub(super) fn touches_nothing(_: &mut Entries) {}

/// The entries and what they were read under.
struct State {
    /// The WAL-index header the entries were read under.
    token: Token,
    /// Moves on at every write through the store that changed rows.
    generation: u64,
    entries: Entries,
}

impl State {
    fn reset(&mut self, token: Token) {
        self.entries.sessions.clear();
        self.entries.users.clear();
        self.token = token;
        self.generation += 1;
    }
}

/// The header a write saw before it ran; see [`ReadCache::after_write`].
pub(super) struct BeforeWrite(Option<Token>);

/// The read cache of one store; see the module docs for why it is exact.
pub(super) struct ReadCache {
    state: RwLock<State>,
    /// The WAL index of a file database; `None` for an in-memory one (or a file without one).
    wal: Option<WalWatch>,
    /// An in-memory database: no writer but the store, so nothing to watch.
    private: bool,
}

impl ReadCache {
    fn new(wal: Option<WalWatch>, private: bool) -> Self {
        Self {
            state: RwLock::new(State {
                token: [0; WAL_HEADER],
                generation: 0,
                entries: Entries::default(),
            }),
            wal,
            private,
        }
    }

    /// The cache of the database file at `path`, already in WAL mode. Without a WAL index to
    /// watch, nothing is cached.
    pub(super) fn for_file(path: &Path) -> Self {
        let wal = WalWatch::open(path);
        if wal.is_none() {
            tracing::warn!("no WAL index next to the database: reads are not cached");
        }
        Self::new(wal, false)
    }

    /// The cache of a private in-memory database.
    pub(super) fn for_memory() -> Self {
        Self::new(None, true)
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The WAL-index header the cache must match now, or `None` when nothing may be served
    /// from the cache (a commit is under way, or there is no WAL index to watch).
    fn current_token(&self) -> Option<Token> {
        match &self.wal {
            Some(wal) => wal.token(),
            None if self.private => Some([0; WAL_HEADER]),
            None => None,
        }
    }

    /// A read through the cache: `pick` finds the entry, `load` reads the database on a miss,
    /// `keep` stores what it read, unless a write through the store committed meanwhile (what
    /// it read may be stale then).
    pub(super) fn read_through<V: Clone>(
        &self,
        pick: impl FnOnce(&Entries) -> Option<V>,
        load: impl FnOnce() -> Result<Option<V>, StoreError>,
        keep: impl FnOnce(&mut Entries, V),
    ) -> Result<Option<V>, StoreError> {
        let Some(token) = self.current_token() else {
            return load();
        };
        let generation = {
            let state = self.read();
            if state.token == token
                && let Some(v) = pick(&state.entries)
            {
                return Ok(Some(v));
            }
            state.generation
        };
        let loaded = load()?;
        if let Some(v) = &loaded {
            let mut state = self.write();
            if state.token != token {
                state.reset(token);
            } else if state.generation != generation {
                return Ok(loaded);
            }
            if state.entries.sessions.len() < CACHE_CAP && state.entries.users.len() < CACHE_CAP {
                keep(&mut state.entries, v.clone());
            }
        }
        Ok(loaded)
    }

    /// What a write must note before it runs, holding the writer connection.
    pub(super) fn before_write(&self) -> BeforeWrite {
        BeforeWrite(self.wal.as_ref().and_then(WalWatch::token))
    }

    /// Called once a write has run, still holding the writer connection.
    ///
    /// `changed`: the write changed rows (whether or not it then reported an error), so
    /// `touched` updates or drops the entries it touched and the generation moves on.
    /// `committed`: it succeeded having changed rows. A commit changes the WAL-index header,
    /// which would empty the cache at the next read; when the header shows that exactly one
    /// transaction committed since `before` (its change counter moved by one) and the cache
    /// matched the header before, that transaction was this one, and the cache keeps its
    /// entries under the new header. Anything else (another process committed too, this write
    /// failed or changed nothing) leaves the cache to be emptied. Checkpoints copy pages without
    /// changing what a read sees: one that restarts the log rewrites the header (new salts),
    /// which empties the cache, never the reverse.
    pub(super) fn after_write(
        &self,
        before: BeforeWrite,
        changed: bool,
        committed: bool,
        touched: impl FnOnce(&mut Entries),
    ) {
        if !changed {
            return;
        }
        // Read before taking the lock: only this store's writes, serialised on the writer
        // connection, follow the header, and this one still holds it.
        let after = match (&self.wal, before.0) {
            (Some(wal), Some(before)) if committed => wal
                .token()
                .filter(|after| change_counter(after) == change_counter(&before).wrapping_add(1))
                .map(|after| (before, after)),
            _ => None,
        };
        let mut state = self.write();
        if let Some((before, after)) = after
            && state.token == before
        {
            state.token = after;
        }
        state.generation += 1;
        touched(&mut state.entries);
    }
}

#[cfg(test)]
impl ReadCache {
    /// How many sessions are cached.
    fn cached_sessions(&self) -> usize {
        self.read().entries.sessions.len()
    }

    /// The header the entries were read under, and the file's header now.
    fn tokens(&self) -> (Token, Option<Token>) {
        (self.read().token, self.current_token())
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;
    use crate::domain::token_digest;
    use crate::store::sqlite::SqliteStore;
    use crate::store::traits::{SessionStore, UserStore};

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
        store.cache.cached_sessions()
    }

    /// A store on a new file in `dir` holding user `u1` and session `a`, read once so that it
    /// is cached.
    async fn with_cached_session(dir: &tempfile::TempDir) -> (std::path::PathBuf, SqliteStore) {
        let path = dir.path().join("t.db");
        let store = SqliteStore::open_file(&path).unwrap();
        UserStore::create(&store, &user("u1")).await.unwrap();
        store.insert(&session("a", "u1")).await.unwrap();
        assert!(serves(&store, "a").await);
        assert_eq!(cached_sessions(&store), 1);
        (path, store)
    }

    /// Runs `ours` through the store's write path while another connection commits `theirs`
    /// in the middle of it.
    fn write_while_another_commits(store: &SqliteStore, path: &Path, theirs: &str, ours: &str) {
        let other = Connection::open(path).unwrap();
        store
            .write(
                |c| {
                    other.execute(theirs, [])?;
                    c.execute(ours, []).map(drop)
                },
                touches_nothing,
            )
            .unwrap();
    }

    /// Whether the store serves the session of `token`.
    async fn serves(store: &SqliteStore, token: &str) -> bool {
        store
            .get_joined(&token_digest(token))
            .await
            .unwrap()
            .is_some()
    }

    #[tokio::test]
    async fn own_writes_keep_the_cache_and_other_writers_empty_it() {
        let dir = tempfile::tempdir().unwrap();
        let (path, store) = with_cached_session(&dir).await;

        // A write through this store: the cache follows the new header and keeps its entries.
        store.insert(&session("b", "u1")).await.unwrap();
        store.touch(&token_digest("a"), 30).await.unwrap();
        let (cached, current) = store.cache.tokens();
        assert_eq!(cached, current.unwrap());
        assert_eq!(cached_sessions(&store), 1);
        let (a, _) = store.get_joined(&token_digest("a")).await.unwrap().unwrap();
        assert_eq!(a.last_seen_at, 30);

        // A write by another connection: the header moves on without the cache, which is
        // emptied at the next read and serves the other writer's change.
        let other = SqliteStore::open_file(&path).unwrap();
        SessionStore::delete(&other, &token_digest("a"))
            .await
            .unwrap();
        let (cached, current) = store.cache.tokens();
        assert_ne!(cached, current.unwrap());
        assert!(!serves(&store, "a").await);
    }

    #[tokio::test]
    async fn a_write_that_commits_nothing_while_another_writer_commits_keeps_no_stale_entry() {
        let dir = tempfile::tempdir().unwrap();
        let (path, store) = with_cached_session(&dir).await;

        // While this store's write runs (and changes nothing), another process revokes "a":
        // the header moves by exactly one commit, which is not this store's.
        write_while_another_commits(
            &store,
            &path,
            "DELETE FROM sessions",
            "DELETE FROM sessions WHERE id = 'none'",
        );
        assert!(!serves(&store, "a").await);
    }

    #[tokio::test]
    async fn a_write_that_commits_while_another_writer_commits_keeps_no_stale_entry() {
        let dir = tempfile::tempdir().unwrap();
        let (path, store) = with_cached_session(&dir).await;
        store.insert(&session("b", "u1")).await.unwrap();
        assert!(serves(&store, "a").await);
        assert_eq!(cached_sessions(&store), 1);

        // While this store's write runs (and commits a change of "b"), another process revokes
        // "a": the header moves by two commits, only one of them this store's.
        write_while_another_commits(
            &store,
            &path,
            "DELETE FROM sessions WHERE id = 'id-a'",
            "UPDATE sessions SET last_seen_at = 5 WHERE id = 'id-b'",
        );
        assert!(!serves(&store, "a").await);
    }

    #[tokio::test]
    async fn the_cache_stays_exact_through_checkpoints_and_log_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let (path, store) = with_cached_session(&dir).await;
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
        assert!(!serves(&store, "a").await);
    }
}
