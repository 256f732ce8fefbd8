//! In-memory stores: sessions for `session_auth` and `session_exp_auth` (gone at restart), and
//! a user store for tests and embedding.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use hashbrown::HashTable;

use crate::domain::{Digest32, Expiry, Failures, Session, User, email_key, expired};
use crate::store::error::StoreError;
use crate::store::traits::{
    OutboxEntry, Record, RecordStore, SessionStore, ThrottleStore, UserStore, Write, fresh_version,
};

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Sessions in this process's memory, packed tightly: a million sessions take about 150 bytes
/// each (see `examples/bench_memory.rs`).
///
/// Sessions sit in one dense vector; a hash table of 4-byte positions finds them by digest
/// (digests are SHA-256 outputs, so their first 8 bytes already are a good hash). User ids and
/// user agents, repeated across sessions, are shared; session ids and addresses are kept in
/// binary when they have the usual shape.
#[derive(Default)]
pub struct MemorySessionStore {
    inner: RwLock<Packed>,
}

#[derive(Default)]
struct Packed {
    entries: Vec<Entry>,
    index: HashTable<u32>,
    user_ids: Interned,
    agents: Interned,
}

/// One stored session.
struct Entry {
    digest: Digest32,
    created_at: i64,
    last_seen_at: i64,
    id: CompactText,
    user_id: Arc<str>,
    user_agent: Option<Arc<str>>,
    ip: CompactIp,
}

/// A session id: a canonical uuid in 16 bytes, anything else as text.
enum CompactText {
    Uuid([u8; 16]),
    Other(Box<str>),
}

impl CompactText {
    fn new(s: &str) -> Self {
        match uuid::Uuid::try_parse(s) {
            Ok(u) if u.hyphenated().to_string() == s => Self::Uuid(*u.as_bytes()),
            _ => Self::Other(s.into()),
        }
    }

    fn to_text(&self) -> String {
        match self {
            Self::Uuid(b) => uuid::Uuid::from_bytes(*b).hyphenated().to_string(),
            Self::Other(s) => s.to_string(),
        }
    }
}

/// A client address: an IP address in binary when it parses back to the same text.
enum CompactIp {
    None,
    V4([u8; 4]),
    V6([u8; 16]),
    Other(Box<str>),
}

impl CompactIp {
    fn new(ip: Option<&str>) -> Self {
        let Some(text) = ip else { return Self::None };
        match text.parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) if a.to_string() == text => Self::V4(a.octets()),
            Ok(IpAddr::V6(a)) if a.to_string() == text => Self::V6(a.octets()),
            _ => Self::Other(text.into()),
        }
    }

    fn to_text(&self) -> Option<String> {
        match self {
            Self::None => None,
            Self::V4(a) => Some(Ipv4Addr::from(*a).to_string()),
            Self::V6(a) => Some(Ipv6Addr::from(*a).to_string()),
            Self::Other(s) => Some(s.to_string()),
        }
    }
}

/// Shared copies of strings many sessions repeat.
#[derive(Default)]
struct Interned(HashSet<Arc<str>>);

impl Interned {
    fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.0.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        self.0.insert(a.clone());
        a
    }

    /// Forgets strings no session uses any more.
    fn collect(&mut self) {
        self.0.retain(|a| Arc::strong_count(a) > 1);
    }
}

fn slot_hash(d: &Digest32) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    u64::from_le_bytes(first)
}

impl Entry {
    fn to_session(&self) -> Session {
        Session {
            id: self.id.to_text(),
            digest: self.digest,
            user_id: self.user_id.to_string(),
            created_at: self.created_at,
            last_seen_at: self.last_seen_at,
            ip: self.ip.to_text(),
            user_agent: self.user_agent.as_deref().map(str::to_owned),
        }
    }
}

impl Packed {
    fn position(&self, digest: &Digest32) -> Option<usize> {
        let entries = &self.entries;
        self.index
            .find(slot_hash(digest), |&i| {
                entries.get(i as usize).is_some_and(|e| &e.digest == digest)
            })
            .map(|&i| i as usize)
    }

    fn insert(&mut self, s: &Session) -> Result<(), StoreError> {
        if self.position(&s.digest).is_some() {
            return Err(StoreError::Conflict);
        }
        let at = u32::try_from(self.entries.len()).map_err(|e| {
            StoreError::unavailable_because("the in-memory session store is full", e)
        })?;
        let entry = Entry {
            digest: s.digest,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            id: CompactText::new(&s.id),
            user_id: self.user_ids.get(&s.user_id),
            user_agent: s.user_agent.as_deref().map(|ua| self.agents.get(ua)),
            ip: CompactIp::new(s.ip.as_deref()),
        };
        self.entries.push(entry);
        let entries = &self.entries;
        self.index.insert_unique(slot_hash(&s.digest), at, |&i| {
            entries.get(i as usize).map_or(0, |e| slot_hash(&e.digest))
        });
        Ok(())
    }

    /// Removes the session at `pos`, moving the last one into its place.
    fn remove_at(&mut self, pos: usize) {
        let Some(removed) = self.entries.get(pos) else {
            return;
        };
        let digest = removed.digest;
        if let Ok(slot) = self
            .index
            .find_entry(slot_hash(&digest), |&i| i as usize == pos)
        {
            slot.remove();
        }
        let last = self.entries.len() - 1;
        if pos != last {
            let moved = self.entries[last].digest;
            if let Some(slot) = self
                .index
                .find_mut(slot_hash(&moved), |&i| i as usize == last)
            {
                *slot = pos as u32;
            }
        }
        self.entries.swap_remove(pos);
    }

    /// Removes every session matching `doomed`; returns how many.
    fn remove_where(&mut self, doomed: impl Fn(&Entry) -> bool) -> u64 {
        let mut removed = 0;
        let mut pos = 0;
        while pos < self.entries.len() {
            if doomed(&self.entries[pos]) {
                self.remove_at(pos);
                removed += 1;
            } else {
                pos += 1;
            }
        }
        if removed > 0 {
            self.user_ids.collect();
            self.agents.collect();
        }
        removed
    }
}

#[async_trait]
impl SessionStore for MemorySessionStore {
    async fn insert(&self, session: &Session) -> Result<(), StoreError> {
        write(&self.inner).insert(session)
    }

    async fn get(&self, digest: &Digest32) -> Result<Option<Session>, StoreError> {
        let p = read(&self.inner);
        Ok(p.position(digest)
            .and_then(|i| p.entries.get(i))
            .map(Entry::to_session))
    }

    async fn touch(&self, digest: &Digest32, now: i64) -> Result<(), StoreError> {
        let mut p = write(&self.inner);
        if let Some(i) = p.position(digest)
            && let Some(e) = p.entries.get_mut(i)
        {
            e.last_seen_at = e.last_seen_at.max(now);
        }
        Ok(())
    }

    async fn delete(&self, digest: &Digest32) -> Result<bool, StoreError> {
        let mut p = write(&self.inner);
        match p.position(digest) {
            Some(i) => {
                p.remove_at(i);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn list_for_user(&self, user_id: &str) -> Result<Vec<Session>, StoreError> {
        let mut v: Vec<Session> = read(&self.inner)
            .entries
            .iter()
            .filter(|e| &*e.user_id == user_id)
            .map(Entry::to_session)
            .collect();
        v.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(v)
    }

    async fn delete_for_user(
        &self,
        user_id: &str,
        except: Option<&Digest32>,
    ) -> Result<u64, StoreError> {
        Ok(
            write(&self.inner)
                .remove_where(|e| &*e.user_id == user_id && Some(&e.digest) != except),
        )
    }

    async fn count(&self) -> Result<u64, StoreError> {
        Ok(read(&self.inner).entries.len() as u64)
    }

    async fn purge_expired(&self, now: i64, expiry: Expiry) -> Result<u64, StoreError> {
        Ok(write(&self.inner).remove_where(|e| expired(e.created_at, e.last_seen_at, now, expiry)))
    }
}

#[derive(Default)]
struct Users {
    by_id: HashMap<String, Stored>,
    by_email: HashMap<String, String>,
    /// The `seq` of the next user created.
    next_seq: u64,
}

/// A user, and where it stands in the order of creation.
struct Stored {
    seq: u64,
    user: User,
}

/// Users in this process's memory.
#[derive(Default)]
pub struct MemoryUserStore {
    inner: RwLock<Users>,
}

#[async_trait]
impl UserStore for MemoryUserStore {
    async fn create(&self, user: &User) -> Result<(), StoreError> {
        let mut u = write(&self.inner);
        let key = email_key(&user.email);
        if u.by_email.contains_key(&key) || u.by_id.contains_key(&user.id) {
            return Err(StoreError::Conflict);
        }
        let seq = u.next_seq;
        u.next_seq += 1;
        u.by_email.insert(key, user.id.clone());
        let user = user.clone();
        u.by_id.insert(user.id.clone(), Stored { seq, user });
        Ok(())
    }

    async fn get(&self, id: &str) -> Result<Option<User>, StoreError> {
        Ok(read(&self.inner).by_id.get(id).map(|s| s.user.clone()))
    }

    async fn get_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let u = read(&self.inner);
        Ok(u.by_email
            .get(&email_key(email))
            .and_then(|id| u.by_id.get(id))
            .map(|s| s.user.clone()))
    }

    async fn list(&self) -> Result<Vec<User>, StoreError> {
        let u = read(&self.inner);
        let mut v: Vec<&Stored> = u.by_id.values().collect();
        v.sort_unstable_by_key(|s| (s.user.created_at, s.seq));
        Ok(v.into_iter().map(|s| s.user.clone()).collect())
    }

    async fn count(&self) -> Result<u64, StoreError> {
        Ok(read(&self.inner).by_id.len() as u64)
    }

    async fn update(&self, user: &User) -> Result<bool, StoreError> {
        let mut u = write(&self.inner);
        Ok(match u.by_id.get_mut(&user.id).map(|s| &mut s.user) {
            Some(stored) => {
                stored.first_name.clone_from(&user.first_name);
                stored.last_name.clone_from(&user.last_name);
                stored.is_admin = user.is_admin;
                stored.updated_at = user.updated_at;
                true
            }
            None => false,
        })
    }

    async fn set_password(&self, id: &str, hash: &str, now: i64) -> Result<bool, StoreError> {
        let mut u = write(&self.inner);
        Ok(match u.by_id.get_mut(id).map(|s| &mut s.user) {
            Some(stored) => {
                stored.password_hash = Some(hash.to_owned());
                stored.updated_at = now;
                true
            }
            None => false,
        })
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let mut u = write(&self.inner);
        match u.by_id.remove(id) {
            Some(stored) => {
                u.by_email.remove(&email_key(&stored.user.email));
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

/// Failed-login counts in this process's memory.
#[derive(Default)]
pub struct MemoryThrottleStore {
    keys: RwLock<HashMap<String, Failures>>,
}

#[async_trait]
impl ThrottleStore for MemoryThrottleStore {
    async fn failures(&self, key: &str) -> Result<Option<Failures>, StoreError> {
        Ok(read(&self.keys).get(key).copied())
    }

    async fn record_failure(
        &self,
        key: &str,
        now: i64,
        quiet: i64,
    ) -> Result<Failures, StoreError> {
        let mut keys = write(&self.keys);
        let entry = keys.entry(key.to_owned()).or_insert(Failures {
            count: 0,
            last_at: now,
        });
        if entry.count > 0 && now.saturating_sub(entry.last_at) >= quiet {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last_at = entry.last_at.max(now);
        Ok(*entry)
    }

    async fn clear(&self, key: &str) -> Result<(), StoreError> {
        write(&self.keys).remove(key);
        Ok(())
    }

    async fn purge(&self, before: i64) -> Result<u64, StoreError> {
        let mut keys = write(&self.keys);
        let n = keys.len();
        keys.retain(|_, f| f.last_at > before);
        Ok((n - keys.len()) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::token_digest;

    fn session(i: u64) -> Session {
        Session {
            id: if i % 3 == 0 {
                format!("custom-{i}")
            } else {
                uuid::Uuid::from_u128(u128::from(i) + 1).to_string()
            },
            digest: token_digest(&format!("t{i}")),
            user_id: format!("user-{}", i % 7),
            created_at: i as i64,
            last_seen_at: i as i64 + 1,
            ip: match i % 4 {
                0 => None,
                1 => Some("203.0.113.9".into()),
                2 => Some("2001:db8::1".into()),
                _ => Some("not an address".into()),
            },
            user_agent: (i % 2 == 0).then(|| "Agent/1.0".to_owned()),
        }
    }

    #[tokio::test]
    async fn the_packed_store_agrees_with_a_plain_map_through_churn() {
        let store = MemorySessionStore::default();
        let mut model: HashMap<Digest32, Session> = HashMap::new();
        let mut x: u64 = 0x9e37_79b9;
        for step in 0..5000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let i = x % 600;
            let s = session(i);
            match step % 5 {
                0..=2 => {
                    let fresh = match model.entry(s.digest) {
                        std::collections::hash_map::Entry::Occupied(_) => false,
                        std::collections::hash_map::Entry::Vacant(v) => {
                            v.insert(s.clone());
                            true
                        }
                    };
                    let result = store.insert(&s).await;
                    if fresh {
                        assert!(result.is_ok(), "{result:?}");
                    } else {
                        assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
                    }
                }
                3 => assert_eq!(
                    store.delete(&s.digest).await.unwrap(),
                    model.remove(&s.digest).is_some()
                ),
                _ => {
                    let n = store.delete_for_user("user-3", None).await.unwrap();
                    let before = model.len();
                    model.retain(|_, s| s.user_id != "user-3");
                    assert_eq!(n as usize, before - model.len());
                }
            }
        }
        assert_eq!(store.count().await.unwrap() as usize, model.len());
        for (d, s) in &model {
            assert_eq!(store.get(d).await.unwrap().as_ref(), Some(s));
        }
        assert!(read(&store.inner).user_ids.0.len() <= 7);
    }
}

/// Records and the outbox in this process's memory, for tests and embedding.
#[derive(Default)]
pub struct MemoryRecordStore {
    inner: RwLock<Records>,
}

#[derive(Default)]
struct Records {
    records: HashMap<String, Record>,
    outbox: HashMap<String, OutboxEntry>,
}

fn live(r: &Record, now: i64) -> bool {
    r.expires_at.is_none_or(|at| at > now)
}

impl Records {
    fn version(&self, key: &str, now: i64) -> Option<i64> {
        self.records
            .get(key)
            .filter(|r| live(r, now))
            .map(|r| r.version)
    }

    fn put(&mut self, key: &str, value: &str, expected: Option<i64>, expires_at: Option<i64>) {
        self.records.insert(
            key.to_owned(),
            Record {
                value: value.to_owned(),
                version: expected.map_or_else(fresh_version, |v| v + 1),
                expires_at,
            },
        );
    }
}

#[async_trait]
impl RecordStore for MemoryRecordStore {
    async fn get(&self, key: &str, now: i64) -> Result<Option<Record>, StoreError> {
        Ok(read(&self.inner)
            .records
            .get(key)
            .filter(|r| live(r, now))
            .cloned())
    }

    async fn put(
        &self,
        key: &str,
        value: &str,
        expected: Option<i64>,
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut inner = write(&self.inner);
        if inner.version(key, now) != expected {
            return Ok(false);
        }
        inner.put(key, value, expected, expires_at);
        Ok(true)
    }

    async fn take(&self, key: &str, now: i64) -> Result<Option<Record>, StoreError> {
        Ok(write(&self.inner)
            .records
            .remove(key)
            .filter(|r| live(r, now)))
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        Ok(write(&self.inner).records.remove(key).is_some())
    }

    async fn purge(&self, now: i64) -> Result<u64, StoreError> {
        let mut inner = write(&self.inner);
        let before = inner.records.len();
        inner.records.retain(|_, r| live(r, now));
        Ok((before - inner.records.len()) as u64)
    }

    async fn apply(&self, writes: &[Write<'_>], now: i64) -> Result<bool, StoreError> {
        let mut inner = write(&self.inner);
        // In order, as the databases do, on a copy that replaces the state only when every
        // write matched: a later put sees the earlier writes of its own batch.
        let mut next = Records {
            records: inner.records.clone(),
            outbox: inner.outbox.clone(),
        };
        for w in writes {
            match *w {
                Write::Put {
                    key,
                    value,
                    expected,
                    expires_at,
                } => {
                    if next.version(key, now) != expected {
                        return Ok(false);
                    }
                    next.put(key, value, expected, expires_at);
                }
                Write::Delete(key) => {
                    next.records.remove(key);
                }
                Write::Outbox(entry) => {
                    if next.outbox.contains_key(&entry.id) {
                        // As the databases' primary key refuses it.
                        return Err(StoreError::Conflict);
                    }
                    next.outbox.insert(entry.id.clone(), entry.clone());
                }
            }
        }
        *inner = next;
        Ok(true)
    }

    async fn claim_outbox(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut inner = write(&self.inner);
        let mut due: Vec<&mut OutboxEntry> = inner
            .outbox
            .values_mut()
            .filter(|e| e.due_at <= now)
            .collect();
        due.sort_by_key(|e| e.due_at);
        Ok(due
            .into_iter()
            .take(limit as usize)
            .map(|e| {
                e.due_at = lease_until;
                e.attempts += 1;
                e.clone()
            })
            .collect())
    }

    async fn finish_outbox(&self, id: &str) -> Result<(), StoreError> {
        write(&self.inner).outbox.remove(id);
        Ok(())
    }

    async fn retry_outbox(&self, id: &str, due_at: i64, _error: &str) -> Result<(), StoreError> {
        if let Some(e) = write(&self.inner).outbox.get_mut(id) {
            e.due_at = due_at;
        }
        Ok(())
    }

    async fn outbox_len(&self) -> Result<u64, StoreError> {
        Ok(read(&self.inner).outbox.len() as u64)
    }
}
