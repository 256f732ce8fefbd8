//! Turning a request into who it runs as: the gate extractor, the session cookie (one parser,
//! one writer), HTTP Basic, the cross-site check, the client address, and passwords.
//!
//! The gate sits above the service (it asks it to resolve credentials); the parsers and the
//! password hasher sit below it (the service hashes with [`password`]).

pub mod basic;
pub mod client;
pub mod cookie;
pub mod csrf;
pub mod gate;
pub mod password;
pub mod redirect;
pub mod verify;
