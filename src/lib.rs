//! sesame: a small, fast, safe session-authentication server.
//!
//! The library owns everything; the `sesame` binary only parses the command line and calls in,
//! so the integration tests run exactly the application the binary serves.

/// Builds the stores, service and router; binds, serves and shuts down gracefully.
pub mod app;
/// The subcommands: serve, user, sessions, import, check-config.
pub mod cli;
/// Injected time.
pub mod clock;
/// The only reader of the environment: typed, validated settings.
pub mod config;
/// Users, sessions, tokens, and the rules for emails and passwords.
pub mod domain;
/// Request ids, security headers and metrics around every request.
pub mod edge;
/// The one error type and its mapping to HTTP statuses.
pub mod error;
/// Import of the original system's JSON files.
pub mod import;
/// Prometheus counters and histograms, lock-free.
pub mod metrics;
/// Argon2id hashing off the async workers; legacy SHA-256 verification.
pub mod password;
/// Thin HTTP handlers and the authentication gate.
pub mod routes;
/// HTTP/1.1 connections with timeouts, a connection cap and a shutdown deadline.
pub mod serve;
/// The rules: login, logout, expiry, throttling, authorization.
pub mod service;
/// Persistence behind small traits: memory, SQLite, PostgreSQL, Redis.
pub mod store;
/// Structured logging.
pub mod telemetry;
/// Growing delays after failed logins, per account and per address.
pub mod throttle;
