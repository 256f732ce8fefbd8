//! Reliability tests: sesame under hostile clients, crashes, sustained load and long runs of
//! writes, through the real binary. Their figures and the commands to rerun the long versions
//! are in docs/RELIABILITY.md.
//!
//! The tests that measure time or resources take [`exclusive`] so that they do not measure
//! each other; the rest run alongside.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../api/support.rs"]
mod support;

#[path = "../api/smtp_sink.rs"]
mod smtp_sink;

mod crash;
mod limits;
mod outbox;
mod server;
mod soak;
mod wal;

/// One timing-sensitive test at a time in this binary.
pub async fn exclusive() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// A whole number from the environment variable `name`, or `default`.
pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
