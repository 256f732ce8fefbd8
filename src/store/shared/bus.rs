//! What a shared store offers the cache protocol ([`Bus`]), and the messages on its channel.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::store::error::StoreError;

/// A message on the cache channel. Every node receives every message and keeps those meant for
/// it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Message {
    /// `from` ended these sessions (hex digests) or changed these users: drop them, then
    /// acknowledge `id` to `from`.
    Invalidate {
        /// The revoking node.
        from: String,
        /// The message id.
        id: String,
        /// Hex SHA-256 digests of ended sessions.
        sessions: Vec<String>,
        /// Ids of users changed or deleted (their sessions are dropped too).
        users: Vec<String>,
    },
    /// `from` has applied the invalidation `id` of `to`.
    Ack {
        /// The revoking node.
        to: String,
        /// The message id.
        id: String,
        /// The acknowledging node.
        from: String,
    },
    /// A renewal's proof that the channel delivers: `from` waits to receive it.
    Ping {
        /// The renewing node.
        from: String,
        /// A nonce.
        id: String,
    },
}

impl Message {
    /// The message as sent on the channel (JSON).
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A message received; `None` if it is not one.
    pub fn decode(raw: &str) -> Option<Self> {
        serde_json::from_str(raw).ok()
    }
}

/// A connected subscription: the messages received, in order, until the connection ends.
pub struct Subscription {
    rx: mpsc::Receiver<String>,
    /// Whatever must live as long as the subscription (a connection's client half).
    _keep: Box<dyn Send + Sync>,
}

impl Subscription {
    /// A subscription fed through `rx`, keeping `keep` alive.
    pub fn new(rx: mpsc::Receiver<String>, keep: Box<dyn Send + Sync>) -> Self {
        Self { rx, _keep: keep }
    }

    /// The next message; `None` once the connection has ended.
    pub async fn next(&mut self) -> Option<String> {
        self.rx.recv().await
    }
}

/// The channel and the leases of the cache protocol, in a shared store. Lease times are the
/// store's clock, in milliseconds.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Subscribes to the channel; returns once the subscription is confirmed, so every message
    /// published after that is delivered to it.
    async fn subscribe(&self) -> Result<Subscription, StoreError>;
    /// Publishes `message` on the channel.
    async fn publish(&self, message: &str) -> Result<(), StoreError>;
    /// Publishes `message` and returns the live leases, each with how long it has left, in one
    /// round trip.
    async fn publish_and_live(&self, message: &str) -> Result<Vec<(String, u64)>, StoreError>;
    /// The live leases, each with how long it has left.
    async fn live(&self) -> Result<Vec<(String, u64)>, StoreError>;
    /// Sets `holder`'s lease to end `lease` from the store's now; whether it extended a lease
    /// that was still live (`false`: it had run out, or there was none).
    async fn renew(&self, holder: &str, lease: std::time::Duration) -> Result<bool, StoreError>;
    /// Ends `holder`'s lease.
    async fn release(&self, holder: &str) -> Result<(), StoreError>;
}
