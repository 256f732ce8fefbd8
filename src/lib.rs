//! sesame: a small, fast, safe session-authentication server.
//!
//! The library owns everything; the `sesame` binary only parses the command line and calls in,
//! so the integration tests run exactly the application the binary serves.

/// Builds the router, binds, serves and shuts down gracefully.
pub mod app;
