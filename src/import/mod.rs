//! `sesame import --from DIR`: brings in the users and sessions of the original Python system
//! from the JSON files it wrote.
//!
//! What it reads:
//! - `DIR/.db_User.json` (required) and `DIR/.db_UserSession.json` (optional). Each is one JSON
//!   object mapping a record id to the record, read in file order.
//!
//! What it checks, before anything is written:
//! - the file is valid JSON whose top level is an object (else the import stops, naming the file,
//!   the line and column, and the reason, whatever the mode);
//! - every user record: `email` present, a string and an email address; emails unique ignoring
//!   case in the file (the first record in file order keeps the email, even if it is skipped for
//!   another reason: which of two accounts is the real one cannot be told from the file) and
//!   against every user already in sesame under another id (not checked for a record whose id is
//!   already in sesame: it is left alone anyway); `created_at` and `updated_at` UTC timestamps
//!   `YYYY-MM-DDTHH:MM:SS`; `_password` `null`, missing or 64 hexadecimal digits (stored
//!   lowercased, and upgraded to Argon2id at the user's next successful login); `first_name` and
//!   `last_name` strings, `null` or missing; `id`, when present, equal to the record's key;
//! - every session record: `session_id` and `user_id` non-empty strings, `created_at` a
//!   timestamp (and `updated_at` too unless missing or `null`: sesame does not use it), `id`
//!   equal to the key when present, and no two records with the same `session_id` (the first in
//!   file order wins).
//!
//! Any key that appears twice in one file, or a record that is not a JSON object, is a problem of
//! that record too. Extra fields are ignored.
//!
//! Strict by default: one problem refuses the whole import and nothing is written; the error names
//! every problem with its file, record id and field. With [`Mode::SkipInvalid`] the valid records
//! are imported and each skipped one is listed in the [`Report`] with its reasons.
//!
//! What it writes:
//! - users keep their id, email, names and both timestamps; none is an administrator. A user
//!   whose id is already in sesame is left alone (sesame's record wins) and counted as already
//!   present;
//! - a session is stored like every other: its digest is the SHA-256 of `session_id` (the cookie
//!   value; the record's key becomes the session's public id), `last_seen_at` is its
//!   `created_at`, so `SESSION_DURATION` and the idle timeout count from then. A session whose
//!   user is neither imported nor already in sesame is skipped and counted; one already stored
//!   (same id or same cookie value) is counted as already present.
//!
//! Every write goes through the service, which logs an audit event (`user_imported`,
//! `session_imported`) for each record it stores.
//!
//! Running the same import twice changes nothing the second time, and the report says so. If
//! sesame is written to between the checks and the writes (a user made with an imported email),
//! strict mode stops there and says how many records were written; running it again continues.
//!
//! The parts, one job each: `read` (the files, in file order), `check` (one record on its
//! own), `plan` (the rules across records and against sesame), `write` (through the service),
//! `report` (the counts and the errors), `run` (one import, and the command); `record` holds
//! what they share.

mod check;
mod plan;
mod read;
mod record;
mod report;
mod run;
mod write;

pub use check::parse_timestamp;
pub use plan::Mode;
pub use record::{FieldProblem, RecordKind, Rejected, SESSIONS_FILE, USERS_FILE};
pub use report::{Counts, ImportError, Report};
pub use run::{command, import_dir};

#[cfg(test)]
mod samples;
