//! The store traits every backend implements, with the guarantees each one states.

use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::{Digest32, Expiry, Failures, Session, User};
use crate::store::error::StoreError;

/// Users. Guarantees:
/// - `create` is atomic and emails are unique ignoring case, enforced by the store itself
///   (a unique index, not check-then-insert): of racing creates of one email exactly one wins and
///   the others get [`StoreError::Conflict`].
/// - Reads see every completed write, from any process sharing the store.
#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// Inserts a new user; `Conflict` if its email (ignoring case) or id is taken.
    async fn create(&self, user: &User) -> Result<(), StoreError>;
    /// The user with this id.
    async fn get(&self, id: &str) -> Result<Option<User>, StoreError>;
    /// The user with this id, shared: stores that cache users hand out their copy without
    /// cloning it.
    async fn get_shared(&self, id: &str) -> Result<Option<Arc<User>>, StoreError> {
        Ok(self.get(id).await?.map(Arc::new))
    }
    /// The user with this email, ignoring case.
    async fn get_by_email(&self, email: &str) -> Result<Option<User>, StoreError>;
    /// Every user, oldest first (by `created_at`); users created in the same second come in
    /// the order they were created.
    async fn list(&self) -> Result<Vec<User>, StoreError>;
    /// How many users there are.
    async fn count(&self) -> Result<u64, StoreError>;
    /// Replaces the names, admin flag and `updated_at` of an existing user (matched by id);
    /// `false` if there is no such user. Email, password and `created_at` are left alone.
    async fn update(&self, user: &User) -> Result<bool, StoreError>;
    /// Sets the password hash; `false` if there is no such user.
    async fn set_password(&self, id: &str, hash: &str, now: i64) -> Result<bool, StoreError>;
    /// Deletes the user; `false` if there was none.
    async fn delete(&self, id: &str) -> Result<bool, StoreError>;
    /// Checks the store answers (readiness); cheap.
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Flushes and releases what the store holds; called once at shutdown.
    fn close(&self) {}
}

/// Sessions, keyed by the SHA-256 digest of their token (the token itself is never stored).
/// Guarantees:
/// - A deleted session is never returned again, by this or any other instance on the store.
/// - `get` never writes; `touch` is the only write on the read path and callers rate-limit it.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Stores a new session; `Conflict` if one with the same digest exists. Persistent stores
    /// also refuse a taken public `id` with `Conflict` (the importer relies on it); in memory,
    /// ids are random and not checked.
    async fn insert(&self, session: &Session) -> Result<(), StoreError>;
    /// The session with this digest, expired or not (callers check expiry).
    async fn get(&self, digest: &Digest32) -> Result<Option<Session>, StoreError>;
    /// The session with this digest and, when this store holds the users too, its user read
    /// with it (one round trip instead of two). Other stores answer [`JoinedUser::NotHere`] and
    /// the caller reads the user from the user store.
    async fn get_joined(
        &self,
        digest: &Digest32,
    ) -> Result<Option<(Arc<Session>, JoinedUser)>, StoreError> {
        Ok(self
            .get(digest)
            .await?
            .map(|s| (Arc::new(s), JoinedUser::NotHere)))
    }
    /// [`SessionStore::get_joined`], never from a cache in front of the store: what decides
    /// that a session has ended, since a cached `last_seen_at` can lag another instance's
    /// touches.
    async fn get_joined_uncached(
        &self,
        digest: &Digest32,
    ) -> Result<Option<(Arc<Session>, JoinedUser)>, StoreError> {
        self.get_joined(digest).await
    }
    /// Records a use at `now` (`last_seen_at` never moves backwards).
    async fn touch(&self, digest: &Digest32, now: i64) -> Result<(), StoreError>;
    /// Deletes the session; `false` if there was none.
    async fn delete(&self, digest: &Digest32) -> Result<bool, StoreError>;
    /// Every session of a user, oldest first.
    async fn list_for_user(&self, user_id: &str) -> Result<Vec<Session>, StoreError>;
    /// Deletes every session of a user but the one with digest `except` (if given); returns how
    /// many it deleted.
    async fn delete_for_user(
        &self,
        user_id: &str,
        except: Option<&Digest32>,
    ) -> Result<u64, StoreError>;
    /// Deletes every session expired at `now` under `expiry`; returns how many.
    async fn purge_expired(&self, now: i64, expiry: Expiry) -> Result<u64, StoreError>;
    /// How many sessions the store holds (expired ones not yet purged included).
    async fn count(&self) -> Result<u64, StoreError>;
    /// Checks the store answers (readiness); cheap.
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// The user that came with a session from [`SessionStore::get_joined`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinedUser {
    /// This store does not hold users: read it from the user store.
    NotHere,
    /// The session's user.
    Found(Arc<User>),
    /// The session's user no longer exists.
    Gone,
}

/// Counts failed logins per key, shared by every instance on the store so throttling holds
/// across instances. Guarantees:
/// - `record_failure` is atomic: of `n` racing calls on one key, the counts returned are
///   `1..=n` in some order (starting over from 1 if the last failure is `quiet` seconds old or
///   more).
/// - A key never written or cleared reads as `None`.
#[async_trait]
pub trait ThrottleStore: Send + Sync + 'static {
    /// The failures recorded for `key`, if any.
    async fn failures(&self, key: &str) -> Result<Option<Failures>, StoreError>;
    /// Records a failure at `now` and returns the new state. A previous run of failures whose
    /// last one is at least `quiet` seconds old is forgotten first.
    async fn record_failure(&self, key: &str, now: i64, quiet: i64)
    -> Result<Failures, StoreError>;
    /// Forgets the failures of `key` (after a success).
    async fn clear(&self, key: &str) -> Result<(), StoreError>;
    /// Forgets every run of failures whose last one is at or before `before`; returns how many.
    async fn purge(&self, before: i64) -> Result<u64, StoreError>;
}

/// A small record kept by [`RecordStore`]: its text, its version and when it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Random when the record is made, and one more with every write; what
    /// [`RecordStore::put`] compares. Random, not 1: a record deleted and made again must not
    /// take a version a writer read before the delete, or its stale compare-and-set would
    /// land (the ABA problem).
    pub version: i64,
    /// The record's contents (JSON, for every record sesame writes).
    pub value: String,
    /// Unix seconds from which the record no longer exists; `None`: it lasts until deleted.
    pub expires_at: Option<i64>,
}

/// Small records by key, with versions and lifetimes: a user's second factors, WebAuthn
/// ceremonies between their start and finish, sign-ins waiting for a second factor, and when a
/// session last presented a credential. They live in the database, so every instance on it
/// sees them and they survive restarts. Guarantees:
/// - A record whose `expires_at` is at or before `now` reads as absent, and a write may take
///   its key as if it were free.
/// - `put` is a compare-and-set: of racing writes that expect the same version, exactly one
///   succeeds.
/// - `take` is atomic: of racing takes of one key, at most one gets the record.
#[async_trait]
pub trait RecordStore: Send + Sync + 'static {
    /// The live record under `key`.
    async fn get(&self, key: &str, now: i64) -> Result<Option<Record>, StoreError>;
    /// Writes `value` under `key` if the live record there has version `expected` (`None`:
    /// if there is no live record). Returns whether it wrote.
    async fn put(
        &self,
        key: &str,
        value: &str,
        expected: Option<i64>,
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// Deletes the record under `key` and returns it if it was live.
    async fn take(&self, key: &str, now: i64) -> Result<Option<Record>, StoreError>;
    /// Deletes the record under `key`; whether there was one (live or not).
    async fn delete(&self, key: &str) -> Result<bool, StoreError>;
    /// Deletes every record that has ended at `now`; returns how many.
    async fn purge(&self, now: i64) -> Result<u64, StoreError>;
    /// Applies `writes` in one transaction: all of them, or (when a put's expected version
    /// does not match) none. Returns whether it wrote.
    async fn apply(&self, writes: &[Write<'_>], now: i64) -> Result<bool, StoreError>;
    /// Claims up to `limit` outbox entries due at `now`, oldest due first: each claimed entry
    /// has its attempts counted and is not due again before `lease_until`, so another instance
    /// claiming at the same time gets others. Returns them as they are after the claim.
    async fn claim_outbox(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>, StoreError>;
    /// Deletes the outbox entry `id` (its work is done).
    async fn finish_outbox(&self, id: &str) -> Result<(), StoreError>;
    /// Makes the outbox entry `id` due again at `due_at`, keeping why the attempt failed.
    async fn retry_outbox(&self, id: &str, due_at: i64, error: &str) -> Result<(), StoreError>;
    /// How many entries the outbox holds.
    async fn outbox_len(&self) -> Result<u64, StoreError>;
}

/// The version of a new record: 62 random bits (see [`Record::version`]).
pub fn fresh_version() -> i64 {
    let (high, _) = uuid::Uuid::new_v4().as_u64_pair();
    i64::try_from(high >> 2).unwrap_or(1)
}

/// One write of a [`RecordStore::apply`] batch.
#[derive(Debug, Clone, Copy)]
pub enum Write<'a> {
    /// [`RecordStore::put`]: `value` under `key` if the live record there has version
    /// `expected` (`None`: if there is none).
    Put {
        /// The key.
        key: &'a str,
        /// The new contents.
        value: &'a str,
        /// The version the live record must have.
        expected: Option<i64>,
        /// When the record ends.
        expires_at: Option<i64>,
    },
    /// Deletes the record under `key`, if any.
    Delete(&'a str),
    /// Adds an entry to the outbox.
    Outbox(&'a OutboxEntry),
}

/// Work for the outbox's worker, kept until it is done: a mail to send, or a request whose
/// mail the worker makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Random id.
    pub id: String,
    /// What it is (`mail`, `reset_request`, ...).
    pub kind: String,
    /// Its contents, JSON.
    pub payload: String,
    /// Unix seconds when it was written.
    pub created_at: i64,
    /// Unix seconds from which it is due.
    pub due_at: i64,
    /// How many times it was claimed.
    pub attempts: i64,
}
