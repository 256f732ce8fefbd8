//! Persistence only, behind small object-safe traits (users, sessions, failed-login counts).
//! Every backend runs the same contract test suite (`tests/api/store_contract.rs`).
//!
//! Stores open what they are told ([`StoreConfig`]) and know nothing of `AUTH_TYPE`: which
//! session store a configuration uses is the application's choice.

pub mod error;
pub mod memory;
pub mod postgres;
pub mod redis;
pub mod shared;
pub mod sqlite;
pub mod stores;
pub mod traits;

pub use crate::domain::Failures;
pub use error::{Cause, StoreError};
pub use stores::{StoreConfig, Stores, open};
pub use traits::{
    JoinedUser, OutboxEntry, Record, RecordStore, SessionStore, ThrottleStore, UserStore, Write,
};
