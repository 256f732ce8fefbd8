//! sesame: a small, fast, safe session-authentication server.
//!
//! The library owns everything; the `sesame` binary only parses the command line and calls in,
//! so the integration tests run exactly the application the binary serves.

/// Builds the stores, service and router; binds, serves and shuts down gracefully.
pub mod app;
/// Request -> current user: the gate, the session cookie, Basic, cross-site checks, the client
/// address, passwords.
pub mod auth;
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
/// Import of the original system's JSON files.
pub mod import;
/// The outbox's worker and the SMTP transport.
pub mod mail;
/// Prometheus counters and histograms, lock-free.
pub mod metrics;
/// The router, thin handlers, typed request bodies, views, and the mapping of errors to HTTP.
pub mod routes;
/// HTTP/1.1 connections with timeouts, a connection cap and a shutdown deadline.
pub mod serve;
/// The rules: login, logout, expiry, throttling, authorization.
pub mod service;
/// Persistence behind small traits: memory, SQLite, PostgreSQL, Redis.
pub mod store;
/// Structured logging.
pub mod telemetry;
/// The embedded web front and the API's description.
pub mod web;
