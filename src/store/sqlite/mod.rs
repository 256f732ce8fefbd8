//! SQLite: users, `session_db_auth` sessions and failed-login counts in one embedded database
//! file.
//!
//! One writer connection and a few reader connections, in WAL mode so reads never wait for the
//! writer. Queries are short primary-key or index lookups with cached prepared statements, run
//! inline on the calling task: handing each to a thread would cost more than the query.
//! Writes by other processes on the same file (the command line) are seen by the next read.
//!
//! - `db`: the store type, its connections and migrations, and the one write path;
//! - `cache`: the read cache of the hot path and the WAL-index watch that keeps it exact;
//! - `users`, `sessions`, `throttle`, `records`: the queries of each table.

mod cache;
mod db;
mod records;
mod sessions;
mod throttle;
mod users;

pub use db::SqliteStore;
