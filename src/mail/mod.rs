//! Mail: the outbox's worker and the SMTP transport.
//!
//! # The outbox
//!
//! Whatever causes a mail writes it, in the same database transaction as the change itself
//! (a reset token and its mail are one commit: `RecordStore::apply`), as an entry of the
//! `outbox` table. Requests that must not show whether an address has an account (a password
//! reset, a sign-up) write a *job* instead, answered the same either way; the worker runs the
//! job off the request path, and the job writes the mail (see `service::recovery`). A request
//! never waits for SMTP, and an SMTP outage slows none.
//!
//! The worker ([`worker::spawn`]), in every instance, wakes when this instance writes mail
//! and once a second otherwise, and claims the entries that are due. A claim counts the
//! attempt and moves the entry's due time [`worker::LEASE`] seconds ahead in the same
//! statement (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one writer), so two instances
//! never hold one entry at once and each mail is sent by one of them. The entry is deleted once
//! the SMTP server has accepted the mail; a failure makes it due again after a delay that
//! doubles from 1 s up to 15 minutes, and an entry still failing after 3 days (or refused
//! for good by the server: a 5xx about the recipient, the sender or the content) is dropped
//! with an error in the log. A claim is one entry at a time, so its lease (120 s) outlasts the
//! one SMTP conversation (at most 20 s) it covers. An instance that dies
//! between the SMTP server's acceptance and the delete leaves the entry to be sent again when
//! its lease ends: a mail may (rarely) come twice, never not at all.
//!
//! Entries survive restarts; times are the service's clock, so tests move them with it. The
//! tokens in links are in the outbox until their mail is sent, and never in a log line.

pub mod smtp;
pub mod worker;
