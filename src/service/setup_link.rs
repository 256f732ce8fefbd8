//! The first-run setup link's state: the digest of its token while it is open (see `setup`).

use std::sync::Mutex;

use subtle::ConstantTimeEq as _;

use crate::domain::{Digest32, token_digest};

/// The open setup link, if any: the digest of its token.
#[derive(Default)]
pub struct SetupLink {
    digest: Mutex<Option<Digest32>>,
    pub(super) busy: tokio::sync::Mutex<()>,
}

impl SetupLink {
    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Digest32>> {
        // A panic while holding this lock cannot leave the digest half-written.
        self.digest.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn matches(&self, token: &str) -> bool {
        let given = token_digest(token);
        self.slot()
            .as_ref()
            .is_some_and(|d| bool::from(d.ct_eq(&given)))
    }

    pub(super) fn open(&self, digest: Digest32) {
        *self.slot() = Some(digest);
    }

    pub(super) fn close(&self) {
        *self.slot() = None;
    }

    /// Whether a setup link is open.
    pub fn is_open(&self) -> bool {
        self.slot().is_some()
    }
}
