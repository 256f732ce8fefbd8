//! Integration tests: the real server on port 0 with real stores, spoken to over HTTP, and the
//! real binary for the command line. One test binary; helpers live in `support`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod admin;
mod architecture;
mod authenticator;
mod cache;
mod clock_edges;
mod compat;
mod forward_auth;
mod gate;
mod mfa;
mod openapi;
mod operations;
mod process;
mod proxies;
mod recovery;
mod security;
mod setup;
mod smtp_sink;
mod users;

#[macro_use]
mod store_contract;

mod cli;
mod config_table;
mod import;
mod outage;
mod redis_cluster;
mod scale_out;
mod shared_cache;
mod store_postgres;
mod store_redis;
