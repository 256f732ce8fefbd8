//! An exact per-instance cache for the stores several instances share (PostgreSQL, Redis): the
//! session checks of the hot path, and the users they read, answered from memory without serving
//! a session that any instance has already answered as logged out, revoked, expired or
//! password-changed.
//!
//! Invalidation messages alone (LISTEN/NOTIFY, pub/sub, client tracking) cannot promise that:
//! a message can be late, and a connection can die silently. The cache therefore works under
//! *leases*, in the manner of Chubby and of the leases of Gray and Cheriton.
//!
//! # The protocol
//!
//! Every process that opens a shared store (a server or a command) is a *node* with a random
//! id, and joins a *bus* in that store ([`bus::Bus`]): one channel every node subscribes to,
//! and a table of leases (PostgreSQL: a table and `NOTIFY`; Redis: a sorted set and
//! `PUBLISH`, both on one node of a cluster so that one server orders every message).
//!
//! Every such process joins, whatever its `SESSION_CACHE`: a node that does not serve from a
//! cache (`off`, or a command) still revokes through the bus, so that its writes reach the
//! nodes that do.
//!
//! **Holders.** A serving instance holds a lease and answers from its cache only while
//! - its subscription to the channel is connected, and
//! - its local lease has not run out.
//!
//! Every `LEASE / 4` it renews. It publishes a *ping* of its own on the channel and waits to
//! receive it back; the channel is one ordered queue, so receiving the ping proves that every
//! message published before it has been received and applied too. Only then does it ask the
//! store to extend its lease to the store's `now + LEASE`. The store answers whether the lease
//! it extended was still live. If it had run out, the holder empties its cache first, since it
//! may have missed messages that nobody waited for. Its local lease then ends at
//! `t0 + LEASE × 0.85` on its own monotonic clock, `t0` being when it sent the ping (before the
//! store's clock started the lease). A holder whose subscription drops empties its cache and
//! stops serving from it at once; so does one that cannot renew, when its local lease runs out.
//!
//! **Revokers.** A write that ends sessions or changes a user (a logout, a revocation, a
//! password change, an update or deletion of a user) is made in the store first. Then the
//! writing node drops the entries from its own cache and publishes an *invalidation* with a
//! random message id. In the same round trip it reads the live leases and how long each has
//! left by the store's clock. It answers its client only when every live holder has either
//! - acknowledged the message (a holder acknowledges after it has dropped the entries), or
//! - lost its lease: the revoker waits `left × 1.15` on its own monotonic clock, then reads
//!   the leases again. A holder that renewed in the meantime must have received the message
//!   first, as its renewal ping came after it. So it either acknowledges soon or stops
//!   renewing.
//!
//! If the holders have done neither within `3 × LEASE`, the revoker fails with
//! [`StoreError::Unavailable`] (the API answers 503). Its write stands, and the message has
//! been published.
//!
//! A lease is named after the node and its subscription's connection. A node whose
//! subscription reconnects may have missed messages, so it empties its cache and renews under a
//! new name. Its old lease runs out by itself, and a revoker waiting for it waits at most that
//! long.
//!
//! **Reads.** A read that misses the cache takes a *ticket* (the cache's generation) before it
//! asks the store, and fills the cache only if no invalidation or emptying happened meanwhile
//! and the subscription is connected. So a row read before a revocation never enters the cache
//! after the revocation's message.
//!
//! # Assumptions
//! - **Clock rates.** The clocks of the holders, the revokers and the store run at rates within
//!   5% of each other over a lease. Wall clocks need not agree: every comparison is either on
//!   the store's clock or a duration on one node's monotonic clock.
//! - **One ordered queue.** The channel delivers messages in one order to every subscriber.
//!   PostgreSQL delivers notifications in commit order; Redis delivers pub/sub in execution
//!   order on one server. In a cluster, the bus lives on the master owning the slot of its hash
//!   tag, and a failover of that master drops every subscription, which empties every cache.
//! - **Writers are nodes.** Every write to sessions and users goes through a sesame process
//!   on the bus. That includes users kept in SQLite next to sessions in Redis: the processes
//!   sharing that Redis are the ones writing the file, and a command run without
//!   `SESSION_STORE_URL` would not reach the Redis sessions either. A row changed behind
//!   sesame's back (SQL typed into the database) is seen once its entry is [`ENTRY_MAX_AGE`]
//!   old.
//! - **Linearizable store.** A read that starts after a write has been acknowledged sees it.
//!   Redis replication is asynchronous: a failover can lose acknowledged writes, revocations
//!   included. That holds with or without the cache.
//!
//! # Partitions and crashes
//! - **A holder cut off from the store** (its connections frozen) stops serving from the cache
//!   within `LEASE × 0.85`. Its reads then go to the store and fail within the store's
//!   operation timeout: 503. Revokers meanwhile wait up to its remaining lease, at most `LEASE`.
//! - **A holder that dies** without releasing its lease makes revocations wait for that lease,
//!   at most `LEASE`. An instance that stops cleanly releases its lease.
//! - **A revoker that dies between its write and its publish** never answered its client. Other
//!   holders keep the entry until it is [`ENTRY_MAX_AGE`] old; no entry lives longer.
//!
//! # Cost
//! A hit is one read lock, one hash probe and one clock read. A revocation adds a round trip to
//! the store, plus the holders' acknowledgements, to the write. The cache holds at most
//! [`CAPACITY`] sessions and as many users; past that it stops adding. Invalidating a user
//! scans the cached sessions for theirs, which is rare next to reads.

pub mod bus;
mod cache;
pub mod pg;
pub mod redis;
mod wrap;

pub use cache::{CAPACITY, ENTRY_MAX_AGE, LEASE, SharedCache, Ticket};
pub use wrap::{CachedSessions, CachedUsers};
