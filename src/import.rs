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
//! Running the same import twice changes nothing the second time, and the report says so. If
//! sesame is written to between the checks and the writes (a user made with an imported email),
//! strict mode stops there and says how many records were written; running it again continues.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize as _;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::app::App;
use crate::clock::SystemClock;
use crate::config::{AuthType, Settings};
use crate::domain::{Session, User, email_key, token_digest, validate_email};
use crate::password::is_legacy_sha256;
use crate::store::{SessionStore, StoreError, UserStore};

/// The original system's file of users, in the import directory.
pub const USERS_FILE: &str = ".db_User.json";
/// The original system's file of sessions, in the import directory (optional).
pub const SESSIONS_FILE: &str = ".db_UserSession.json";

/// Longest excerpt of an offending value shown in a message.
const SHOW_MAX_CHARS: usize = 60;

/// What to do with records that break the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Any invalid record refuses the whole import; nothing is written.
    #[default]
    Strict,
    /// Invalid records are skipped and listed; the rest is imported.
    SkipInvalid,
}

/// Which file a record comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// A record of `.db_User.json`.
    User,
    /// A record of `.db_UserSession.json`.
    Session,
}

impl RecordKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Session => "session",
        }
    }
}

/// One thing wrong with one field of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// The field (`email`, `created_at`, `_password`, ...; `id` for the key, `record` for the
    /// record as a whole).
    pub field: String,
    /// What is wrong with it. Never shows a password hash.
    pub reason: String,
}

/// A record that was refused (strict mode) or skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// The file it is in.
    pub file: PathBuf,
    /// Whether it is a user or a session.
    pub kind: RecordKind,
    /// The record's id (its key in the file).
    pub id: String,
    /// Everything wrong with it; never empty.
    pub problems: Vec<FieldProblem>,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}: ", self.kind.as_str(), self.id)?;
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", p.field, p.reason)?;
        }
        Ok(())
    }
}

/// How many records of one kind ended how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Written to sesame by this run.
    pub imported: u64,
    /// Left alone: sesame already had a record with this id.
    pub already_present: u64,
    /// Not imported: invalid (with [`Mode::SkipInvalid`]) or, for sessions, without a user.
    pub skipped: u64,
}

/// The outcome of an import.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    /// The users of `.db_User.json`.
    pub users: Counts,
    /// The sessions of `.db_UserSession.json`.
    pub sessions: Counts,
    /// Of `sessions.skipped`, those whose user is neither imported nor in sesame.
    pub sessions_without_user: u64,
    /// Whether `.db_UserSession.json` was there.
    pub sessions_file_found: bool,
    /// Every skipped record with its reasons, in file order (users first).
    pub skipped: Vec<Rejected>,
}

impl Report {
    /// Whether this run wrote nothing.
    pub fn nothing_imported(&self) -> bool {
        self.users.imported == 0 && self.sessions.imported == 0
    }
}

fn count_part(parts: &mut Vec<String>, users: u64, sessions: u64, what: &str) {
    match (users, sessions) {
        (0, 0) => {}
        (u, 0) => parts.push(format!("{u} user(s) {what}")),
        (0, s) => parts.push(format!("{s} session(s) {what}")),
        (u, s) => parts.push(format!("{u} user(s) and {s} session(s) {what}")),
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nothing_imported() {
            let mut parts = Vec::new();
            count_part(
                &mut parts,
                self.users.already_present,
                self.sessions.already_present,
                "already present",
            );
            count_part(
                &mut parts,
                self.users.skipped,
                self.sessions.skipped,
                "skipped",
            );
            if parts.is_empty() {
                writeln!(f, "nothing to import: the files hold no records")?;
            } else {
                writeln!(f, "nothing to import: {}", parts.join(", "))?;
            }
        }
        let c = self.users;
        writeln!(
            f,
            "users: {} imported, {} already present, {} skipped",
            c.imported, c.already_present, c.skipped
        )?;
        if self.sessions_file_found {
            let c = self.sessions;
            write!(
                f,
                "sessions: {} imported, {} already present, {} skipped",
                c.imported, c.already_present, c.skipped
            )?;
            if self.sessions_without_user > 0 {
                write!(
                    f,
                    " ({} whose user is neither imported nor in sesame)",
                    self.sessions_without_user
                )?;
            }
            writeln!(f)?;
        } else {
            writeln!(f, "sessions: none ({SESSIONS_FILE} not found)")?;
        }
        if !self.skipped.is_empty() {
            writeln!(f, "skipped:")?;
            for r in &self.skipped {
                writeln!(f, "  {r} (in {})", r.file.display())?;
            }
        }
        Ok(())
    }
}

/// Why an import stopped. Nothing is written in every case but [`ImportError::Store`], which
/// says how far it got (running the same import again continues from there).
#[derive(Debug)]
pub enum ImportError {
    /// `.db_User.json` is not in the directory.
    MissingUsers {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file is not valid JSON, or its top level is not an object.
    Json {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What is wrong there.
        reason: String,
    },
    /// Strict mode: some records break the rules.
    Refused {
        /// Every invalid record, in file order (users first).
        rejected: Vec<Rejected>,
    },
    /// The store failed (or changed under the import) while writing.
    Store {
        /// What was being written.
        during: String,
        /// The store's error.
        reason: String,
        /// Users written before the failure.
        users_imported: u64,
        /// Sessions written before the failure.
        sessions_imported: u64,
    },
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingUsers { path } => write!(
                f,
                "{} not found: --from must name the directory where the original application \
                 wrote its {USERS_FILE}; nothing was imported",
                path.display()
            ),
            Self::Read { path, source } => {
                write!(
                    f,
                    "cannot read {}: {source}; nothing was imported",
                    path.display()
                )
            }
            Self::Json {
                path,
                line,
                column,
                reason,
            } => write!(
                f,
                "{}: invalid JSON at line {line}, column {column}: {reason}; nothing was imported",
                path.display()
            ),
            Self::Refused { rejected } => {
                let problems: usize = rejected.iter().map(|r| r.problems.len()).sum();
                writeln!(
                    f,
                    "import refused, nothing was written: {problems} problem(s) in {} record(s)",
                    rejected.len()
                )?;
                let mut file: Option<&Path> = None;
                for r in rejected {
                    if file != Some(r.file.as_path()) {
                        writeln!(f, "in {}:", r.file.display())?;
                        file = Some(r.file.as_path());
                    }
                    for p in &r.problems {
                        writeln!(
                            f,
                            "  {} {:?}: {}: {}",
                            r.kind.as_str(),
                            r.id,
                            p.field,
                            p.reason
                        )?;
                    }
                }
                write!(
                    f,
                    "fix these records, or pass --skip-invalid to import the others and skip them"
                )
            }
            Self::Store {
                during,
                reason,
                users_imported,
                sessions_imported,
            } => write!(
                f,
                "writing {during} failed: {reason}; {users_imported} user(s) and \
                 {sessions_imported} session(s) were imported before that; running the same \
                 import again leaves them alone and continues"
            ),
        }
    }
}

/// The messages carry their causes already (`{:#}` would repeat them), so no `source`.
impl std::error::Error for ImportError {}

/// A file's records in file order: (key, record). A serde visitor, so the order is kept without
/// turning on `serde_json`'s `preserve_order` for the whole crate.
struct Records(Vec<(String, Value)>);

struct RecordsVisitor;

impl<'de> Visitor<'de> for RecordsVisitor {
    type Value = Records;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object mapping record ids to records")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Records, A::Error> {
        let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0).min(4096));
        while let Some(entry) = map.next_entry::<String, Value>()? {
            out.push(entry);
        }
        Ok(Records(out))
    }
}

impl<'de> serde::Deserialize<'de> for Records {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(RecordsVisitor)
    }
}

/// Parses one file into its records, in file order. Trailing content after the object is an
/// error too.
fn parse(path: &Path, bytes: &[u8]) -> Result<Vec<(String, Value)>, ImportError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = Records::deserialize(&mut de).and_then(|r| de.end().map(|()| r));
    parsed.map(|r| r.0).map_err(|e| {
        let full = e.to_string();
        let position = format!(" at line {} column {}", e.line(), e.column());
        let reason = full
            .strip_suffix(&position)
            .map_or_else(|| full.clone(), str::to_owned);
        ImportError::Json {
            path: path.to_owned(),
            line: e.line(),
            // serde_json says column 0 for the end of the input just after a newline (or of an
            // empty input); the first column is 1.
            column: e.column().max(1),
            reason,
        }
    })
}

/// Reads a file; `Ok(None)` if it does not exist.
fn read(path: &Path) -> Result<Option<Vec<u8>>, ImportError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ImportError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// A short, escaped excerpt of a text for a message.
fn show(s: &str) -> String {
    let mut chars = s.chars();
    let head: String = chars.by_ref().take(SHOW_MAX_CHARS).collect();
    if chars.next().is_some() {
        format!("{head:?}...")
    } else {
        format!("{head:?}")
    }
}

/// What kind of JSON value this is, for a message.
fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parses the original's `YYYY-MM-DDTHH:MM:SS` (UTC, zero-padded, nothing more) into Unix
/// seconds.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    const FMT: &[time::format_description::BorrowedFormatItem<'_>] =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let shaped = s.len() == 19
        && s.bytes().enumerate().all(|(i, c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            _ => c.is_ascii_digit(),
        });
    if !shaped {
        return None;
    }
    time::PrimitiveDateTime::parse(s, FMT)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

/// Collects the problems of one record.
struct Checker<'a> {
    record: &'a Map<String, Value>,
    problems: Vec<FieldProblem>,
}

impl<'a> Checker<'a> {
    fn problem(&mut self, field: &str, reason: impl Into<String>) {
        self.problems.push(FieldProblem {
            field: field.to_owned(),
            reason: reason.into(),
        });
    }

    /// The `id` field, when present, must be the key.
    fn id_matches(&mut self, key: &str) {
        match self.record.get("id") {
            None => {}
            Some(Value::String(s)) if s == key => {}
            Some(Value::String(s)) => {
                self.problem("id", format!("{} differs from the record's key", show(s)));
            }
            Some(other) => self.problem(
                "id",
                format!("{} where the record's key was expected", kind_of(other)),
            ),
        }
    }

    /// A required non-empty string.
    fn string(&mut self, field: &str) -> Option<&'a str> {
        match self.record.get(field) {
            Some(Value::String(s)) if !s.is_empty() => Some(s),
            Some(Value::String(_)) => {
                self.problem(field, "empty");
                None
            }
            None => {
                self.problem(field, "missing");
                None
            }
            Some(other) => {
                self.problem(
                    field,
                    format!("{} where a string was expected", kind_of(other)),
                );
                None
            }
        }
    }

    /// A required email address.
    fn email(&mut self) -> Option<&'a str> {
        match self.record.get("email") {
            Some(Value::String(s)) => match validate_email(s) {
                Ok(()) => Some(s),
                Err(_) => {
                    self.problem("email", format!("{} is not an email address", show(s)));
                    None
                }
            },
            None => {
                self.problem("email", "missing");
                None
            }
            Some(Value::Null) => {
                self.problem("email", "null: sesame needs an email to identify a user");
                None
            }
            Some(other) => {
                self.problem(
                    "email",
                    format!("{} where a string was expected", kind_of(other)),
                );
                None
            }
        }
    }

    /// A required timestamp (`optional`: may also be missing or `null`).
    fn timestamp(&mut self, field: &str, optional: bool) -> Option<i64> {
        match self.record.get(field) {
            Some(Value::String(s)) => {
                let t = parse_timestamp(s);
                if t.is_none() {
                    self.problem(
                        field,
                        format!("{} is not a UTC timestamp YYYY-MM-DDTHH:MM:SS", show(s)),
                    );
                }
                t
            }
            None | Some(Value::Null) if optional => None,
            None => {
                self.problem(field, "missing");
                None
            }
            Some(other) => {
                self.problem(
                    field,
                    format!(
                        "{} where a timestamp YYYY-MM-DDTHH:MM:SS was expected",
                        kind_of(other)
                    ),
                );
                None
            }
        }
    }

    /// An optional string: missing or `null` is `None`.
    fn name(&mut self, field: &str) -> Option<String> {
        match self.record.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                self.problem(
                    field,
                    format!("{} where a string or null was expected", kind_of(other)),
                );
                None
            }
        }
    }

    /// `_password`: `null`, missing, or 64 hex digits (returned lowercased). The value itself
    /// never appears in a message.
    fn password(&mut self) -> Option<String> {
        match self.record.get("_password") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if is_legacy_sha256(s) => Some(s.to_ascii_lowercase()),
            Some(Value::String(s)) => {
                self.problem(
                    "_password",
                    format!(
                        "neither null nor a SHA-256 of 64 hexadecimal digits (a string of {} \
                         characters)",
                        s.chars().count()
                    ),
                );
                None
            }
            Some(other) => {
                self.problem(
                    "_password",
                    format!(
                        "{} where null or 64 hexadecimal digits were expected",
                        kind_of(other)
                    ),
                );
                None
            }
        }
    }
}

/// Checks the key of a record (non-empty, first time in the file) and that the record is an
/// object. Returns the record's fields if both hold, with the problems found so far.
fn open_record<'a>(
    key: &str,
    value: &'a Value,
    seen: &mut HashSet<String>,
) -> (Option<&'a Map<String, Value>>, Vec<FieldProblem>) {
    let mut problems = Vec::new();
    if key.is_empty() {
        problems.push(FieldProblem {
            field: "id".into(),
            reason: "the record's key is empty".into(),
        });
    } else if !seen.insert(key.to_owned()) {
        problems.push(FieldProblem {
            field: "id".into(),
            reason: "appears more than once in the file; the first is kept".into(),
        });
    }
    match value {
        Value::Object(map) if problems.is_empty() => (Some(map), problems),
        Value::Object(_) => (None, problems),
        other => {
            problems.push(FieldProblem {
                field: "record".into(),
                reason: format!("{} where a JSON object was expected", kind_of(other)),
            });
            (None, problems)
        }
    }
}

fn rejected(file: &Path, kind: RecordKind, id: &str, problems: Vec<FieldProblem>) -> Rejected {
    Rejected {
        file: file.to_owned(),
        kind,
        id: id.to_owned(),
        problems,
    }
}

fn store_error(
    during: String,
    e: &StoreError,
    users_imported: u64,
    sessions_imported: u64,
) -> ImportError {
    ImportError::Store {
        during,
        reason: e.to_string(),
        users_imported,
        sessions_imported,
    }
}

/// What the checks of the users file decided.
#[derive(Default)]
struct UserPlan {
    new: Vec<User>,
    present: HashSet<String>,
    rejected: Vec<Rejected>,
}

async fn plan_users(
    file: &Path,
    records: &[(String, Value)],
    users: &dyn UserStore,
) -> Result<UserPlan, ImportError> {
    let lookup = |id: &str, e: &StoreError| store_error(format!("looking up user {id:?}"), e, 0, 0);
    let mut plan = UserPlan::default();
    let mut keys = HashSet::new();
    // email key -> the id of the first record in file order with that email.
    let mut emails: HashMap<String, String> = HashMap::new();
    for (key, value) in records {
        let (record, mut problems) = open_record(key, value, &mut keys);
        let Some(record) = record else {
            plan.rejected
                .push(rejected(file, RecordKind::User, key, problems));
            continue;
        };
        let mut c = Checker {
            record,
            problems: Vec::new(),
        };
        c.id_matches(key);
        let email = c.email();
        let created_at = c.timestamp("created_at", false);
        let updated_at = c.timestamp("updated_at", false);
        let password_hash = c.password();
        let first_name = c.name("first_name");
        let last_name = c.name("last_name");
        problems.append(&mut c.problems);
        let existing = users.get(key).await.map_err(|e| lookup(key, &e))?;
        if let Some(email) = email {
            let ekey = email_key(email);
            if let Some(first) = emails.get(&ekey) {
                problems.push(FieldProblem {
                    field: "email".into(),
                    reason: format!(
                        "{} equals ignoring case the email of user {first:?}, earlier in the file",
                        show(email)
                    ),
                });
            } else {
                emails.insert(ekey, key.clone());
                if existing.is_none()
                    && let Some(other) = users
                        .get_by_email(email)
                        .await
                        .map_err(|e| lookup(key, &e))?
                    && other.id != *key
                {
                    problems.push(FieldProblem {
                        field: "email".into(),
                        reason: format!(
                            "{} is already registered in sesame, ignoring case, to user {:?}",
                            show(email),
                            other.id
                        ),
                    });
                }
            }
        }
        match (email, created_at, updated_at) {
            (Some(email), Some(created_at), Some(updated_at)) if problems.is_empty() => {
                if existing.is_some() {
                    plan.present.insert(key.clone());
                } else {
                    plan.new.push(User {
                        id: key.clone(),
                        email: email.to_owned(),
                        password_hash,
                        first_name,
                        last_name,
                        created_at,
                        updated_at,
                        is_admin: false,
                    });
                }
            }
            _ => plan
                .rejected
                .push(rejected(file, RecordKind::User, key, problems)),
        }
    }
    Ok(plan)
}

/// Checks the sessions file; returns the valid sessions and the rejected records.
fn plan_sessions(file: &Path, records: &[(String, Value)]) -> (Vec<Session>, Vec<Rejected>) {
    let mut valid = Vec::new();
    let mut bad = Vec::new();
    let mut keys = HashSet::new();
    // session_id -> the key of the first record in file order with it.
    let mut tokens: HashMap<&str, &str> = HashMap::new();
    for (key, value) in records {
        let (record, mut problems) = open_record(key, value, &mut keys);
        let Some(record) = record else {
            bad.push(rejected(file, RecordKind::Session, key, problems));
            continue;
        };
        let mut c = Checker {
            record,
            problems: Vec::new(),
        };
        c.id_matches(key);
        let session_id = c.string("session_id");
        let user_id = c.string("user_id");
        let created_at = c.timestamp("created_at", false);
        c.timestamp("updated_at", true);
        problems.append(&mut c.problems);
        if let Some(token) = session_id {
            if let Some(first) = tokens.get(token) {
                problems.push(FieldProblem {
                    field: "session_id".into(),
                    reason: format!("the same as that of session {first:?}, earlier in the file"),
                });
            } else {
                tokens.insert(token, key);
            }
        }
        match (session_id, user_id, created_at) {
            (Some(token), Some(user_id), Some(created_at)) if problems.is_empty() => {
                valid.push(Session {
                    id: key.clone(),
                    digest: token_digest(token),
                    user_id: user_id.to_owned(),
                    created_at,
                    last_seen_at: created_at,
                    ip: None,
                    user_agent: None,
                });
            }
            _ => bad.push(rejected(file, RecordKind::Session, key, problems)),
        }
    }
    (valid, bad)
}

/// Imports `dir`'s files into `users` and `sessions` (see the module documentation for the rules).
///
/// Every check runs before the first write: in [`Mode::Strict`] an invalid record returns
/// [`ImportError::Refused`] with nothing written.
pub async fn import_dir(
    dir: &Path,
    users: &dyn UserStore,
    sessions: &dyn SessionStore,
    mode: Mode,
) -> Result<Report, ImportError> {
    let users_path = dir.join(USERS_FILE);
    let sessions_path = dir.join(SESSIONS_FILE);
    let Some(user_bytes) = read(&users_path)? else {
        return Err(ImportError::MissingUsers { path: users_path });
    };
    let session_bytes = read(&sessions_path)?;
    let user_records = parse(&users_path, &user_bytes)?;
    let session_records = match &session_bytes {
        Some(bytes) => parse(&sessions_path, bytes)?,
        None => Vec::new(),
    };

    let plan = plan_users(&users_path, &user_records, users).await?;
    let (valid_sessions, bad_sessions) = plan_sessions(&sessions_path, &session_records);
    if mode == Mode::Strict && !(plan.rejected.is_empty() && bad_sessions.is_empty()) {
        let mut rejected = plan.rejected;
        rejected.extend(bad_sessions);
        return Err(ImportError::Refused { rejected });
    }

    let mut report = Report {
        sessions_file_found: session_bytes.is_some(),
        ..Report::default()
    };
    report.users.already_present = plan.present.len() as u64;
    report.users.skipped = plan.rejected.len() as u64;
    report.sessions.skipped = bad_sessions.len() as u64;
    report.skipped = plan.rejected;
    let mut skipped_sessions = bad_sessions;

    // Users: everyone present afterwards may own sessions.
    let mut known: HashSet<String> = plan.present;
    for user in plan.new {
        match users.create(&user).await {
            Ok(()) => {
                report.users.imported += 1;
                known.insert(user.id);
            }
            Err(StoreError::Conflict) => {
                // Someone wrote to sesame since the checks: the same id (sesame's record wins) or
                // the same email under another id.
                let now = users.get(&user.id).await.map_err(|e| {
                    store_error(format!("user {:?}", user.id), &e, report.users.imported, 0)
                })?;
                if now.is_some() {
                    report.users.already_present += 1;
                    known.insert(user.id);
                } else if mode == Mode::Strict {
                    return Err(store_error(
                        format!("user {:?}", user.id),
                        &StoreError::Other(format!(
                            "its email {} was registered in sesame during the import",
                            show(&user.email)
                        )),
                        report.users.imported,
                        0,
                    ));
                } else {
                    report.users.skipped += 1;
                    report.skipped.push(rejected(
                        &users_path,
                        RecordKind::User,
                        &user.id,
                        vec![FieldProblem {
                            field: "email".into(),
                            reason: format!(
                                "{} was registered in sesame during the import",
                                show(&user.email)
                            ),
                        }],
                    ));
                }
            }
            Err(e) => {
                return Err(store_error(
                    format!("user {:?}", user.id),
                    &e,
                    report.users.imported,
                    0,
                ));
            }
        }
    }

    // Sessions: only for users that are in sesame now.
    let mut in_sesame: HashMap<String, bool> = HashMap::new();
    for session in valid_sessions {
        let owned = if known.contains(&session.user_id) {
            true
        } else if let Some(found) = in_sesame.get(&session.user_id) {
            *found
        } else {
            let found = users
                .get(&session.user_id)
                .await
                .map_err(|e| {
                    store_error(
                        format!("session {:?}", session.id),
                        &e,
                        report.users.imported,
                        report.sessions.imported,
                    )
                })?
                .is_some();
            in_sesame.insert(session.user_id.clone(), found);
            found
        };
        if !owned {
            report.sessions.skipped += 1;
            report.sessions_without_user += 1;
            skipped_sessions.push(rejected(
                &sessions_path,
                RecordKind::Session,
                &session.id,
                vec![FieldProblem {
                    field: "user_id".into(),
                    reason: format!(
                        "user {:?} is neither in {USERS_FILE} nor in sesame",
                        session.user_id
                    ),
                }],
            ));
            continue;
        }
        match sessions.insert(&session).await {
            Ok(()) => report.sessions.imported += 1,
            Err(StoreError::Conflict) => report.sessions.already_present += 1,
            Err(e) => {
                return Err(store_error(
                    format!("session {:?}", session.id),
                    &e,
                    report.users.imported,
                    report.sessions.imported,
                ));
            }
        }
    }
    report.skipped.extend(skipped_sessions);
    Ok(report)
}

/// `sesame import --from DIR [--skip-invalid]`: imports into the stores of `settings` (users, and
/// sessions into the persistent session store whatever `AUTH_TYPE` is) and prints the report.
pub async fn command(settings: Settings, from: &Path, skip_invalid: bool) -> anyhow::Result<()> {
    if settings.auth_type != AuthType::SessionDb {
        eprintln!(
            "note: AUTH_TYPE={} does not use the sessions kept in the database; imported \
             sessions take effect under session_db_auth",
            settings.auth_type.as_str()
        );
    }
    if !from.is_dir() {
        anyhow::bail!(
            "--from {}: not a directory; nothing was imported",
            from.display()
        );
    }
    let app = App::build(settings, Arc::new(SystemClock)).await?;
    let mode = if skip_invalid {
        Mode::SkipInvalid
    } else {
        Mode::Strict
    };
    let result = import_dir(
        from,
        app.stores.users.as_ref(),
        app.stores.persistent_sessions.as_ref(),
        mode,
    )
    .await;
    app.stores.users.close();
    let report = result?;
    print!("{report}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::{MemorySessionStore, MemoryUserStore};

    #[test]
    fn timestamps_are_the_originals_format_only() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00"), Some(0));
        assert_eq!(parse_timestamp("2023-11-14T22:13:20"), Some(1_700_000_000));
        for bad in [
            "2023-11-14 22:13:20",
            "2023-11-14T22:13:20Z",
            "2023-11-14T22:13:20.5",
            "2023-13-14T22:13:20",
            "2023-02-30T00:00:00",
            "2023-1-14T22:13:20",
            "+023-11-14T22:13:20",
            "",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn legacy_hashes_are_stored_lowercased_and_never_shown() {
        let upper = "066AC92A32F07AE3E9C16D52FF6B276F36CDF2D3E41D582071BDE86CE8CB401F";
        let record = serde_json::json!({ "_password": upper });
        let mut c = Checker {
            record: record.as_object().unwrap(),
            problems: Vec::new(),
        };
        assert_eq!(c.password(), Some(upper.to_ascii_lowercase()));
        let record = serde_json::json!({ "_password": "secret-ish" });
        let mut c = Checker {
            record: record.as_object().unwrap(),
            problems: Vec::new(),
        };
        assert_eq!(c.password(), None);
        assert!(!c.problems[0].reason.contains("secret-ish"));
    }

    #[test]
    fn records_keep_file_order_and_json_errors_have_a_position() {
        let path = Path::new("f.json");
        let recs = parse(path, br#"{"b": {}, "a": 1, "c": null, "a": 2}"#).unwrap();
        let keys: Vec<&str> = recs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "a", "c", "a"]);
        match parse(path, b"{\"a\": {}\n, \"b\" {}}") {
            Err(ImportError::Json { line, column, .. }) => assert_eq!((line, column), (2, 7)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse(path, b"[1]"), Err(ImportError::Json { .. })));
        assert!(matches!(
            parse(path, b"{} {}"),
            Err(ImportError::Json { .. })
        ));
    }

    #[tokio::test]
    async fn strict_refuses_and_skip_keeps_the_first_of_two_equal_emails() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(USERS_FILE),
            r#"{"u1": {"id": "u1", "created_at": "2020-01-01T00:00:00", "updated_at": "2020-01-01T00:00:00", "email": "A@x.io", "_password": null, "first_name": null, "last_name": null}, "u2": {"id": "u2", "created_at": "2020-01-01T00:00:00", "updated_at": "2020-01-01T00:00:00", "email": "a@X.io", "_password": null, "first_name": null, "last_name": null}}"#,
        )
        .unwrap();
        let users = MemoryUserStore::default();
        let sessions = MemorySessionStore::default();
        let err = import_dir(dir.path(), &users, &sessions, Mode::Strict)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("user \"u2\": email"), "{err}");
        assert_eq!(users.count().await.unwrap(), 0);
        let report = import_dir(dir.path(), &users, &sessions, Mode::SkipInvalid)
            .await
            .unwrap();
        assert_eq!(report.users.imported, 1);
        assert_eq!(report.users.skipped, 1);
        assert!(users.get("u1").await.unwrap().is_some());
        let again = import_dir(dir.path(), &users, &sessions, Mode::SkipInvalid)
            .await
            .unwrap();
        assert!(again.nothing_imported());
        assert_eq!(again.users.already_present, 1);
        assert!(again.to_string().starts_with("nothing to import: "));
    }
}

#[cfg(test)]
mod properties {
    use std::fmt::Write as _;

    use proptest::prelude::*;
    use serde_json::json;
    use time::{Date, Month, PrimitiveDateTime, Time};

    use super::*;
    use crate::store::memory::MemoryUserStore;

    fn run<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    // ---- the original's files, as Python's `json.dump` writes them ----

    /// A JSON string as Python's `json.dumps(s)` (`ensure_ascii=True`) writes it.
    fn py_str(out: &mut String, s: &str) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                ' '..='~' => out.push(c),
                c => {
                    let mut units = [0u16; 2];
                    for u in c.encode_utf16(&mut units) {
                        write!(out, "\\u{u:04x}").unwrap();
                    }
                }
            }
        }
        out.push('"');
    }

    fn py_opt_str(out: &mut String, s: Option<&str>) {
        match s {
            Some(s) => py_str(out, s),
            None => out.push_str("null"),
        }
    }

    /// A user record of the original system, its fields in the order it wrote them.
    #[derive(Debug, Clone)]
    struct PyUser {
        id: String,
        created_at: String,
        updated_at: String,
        email: String,
        password: Option<String>,
        first_name: Option<String>,
        last_name: Option<String>,
    }

    impl PyUser {
        fn value(&self) -> Value {
            json!({
                "id": self.id,
                "created_at": self.created_at,
                "updated_at": self.updated_at,
                "email": self.email,
                "_password": self.password,
                "first_name": self.first_name,
                "last_name": self.last_name,
            })
        }
    }

    /// `.db_User.json` as `json.dump(records, f)` writes it: one line, `", "` and `": "`.
    fn py_dump(users: &[PyUser]) -> String {
        let mut out = String::from("{");
        for (i, u) in users.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            py_str(&mut out, &u.id);
            out.push_str(": {\"id\": ");
            py_str(&mut out, &u.id);
            out.push_str(", \"created_at\": ");
            py_str(&mut out, &u.created_at);
            out.push_str(", \"updated_at\": ");
            py_str(&mut out, &u.updated_at);
            out.push_str(", \"email\": ");
            py_str(&mut out, &u.email);
            out.push_str(", \"_password\": ");
            py_opt_str(&mut out, u.password.as_deref());
            out.push_str(", \"first_name\": ");
            py_opt_str(&mut out, u.first_name.as_deref());
            out.push_str(", \"last_name\": ");
            py_opt_str(&mut out, u.last_name.as_deref());
            out.push('}');
        }
        out.push('}');
        out
    }

    #[test]
    fn the_python_serializer_writes_what_python_writes() {
        // `json.dumps({"k": {"id": "é😀\"\n\x7f"}})` in CPython.
        let mut out = String::new();
        py_str(&mut out, "é😀\"\n\u{7f}");
        assert_eq!(out, r#""\u00e9\ud83d\ude00\"\n\u007f""#);
    }

    #[test]
    fn an_error_at_the_end_of_an_empty_or_newline_ended_file_is_in_column_1() {
        for (bytes, line) in [(&b""[..], 1), (b"{\n", 2), (b"{\"a\": {}\n", 2)] {
            match parse(Path::new(USERS_FILE), bytes) {
                Err(ImportError::Json {
                    line: l, column, ..
                }) => assert_eq!((l, column), (line, 1), "{bytes:?}"),
                other => panic!("{other:?}"),
            }
        }
    }

    // ---- date-times ----

    /// A date-time of years 0000 to 9999, and its text `YYYY-MM-DDTHH:MM:SS`.
    fn date_time() -> impl Strategy<Value = (PrimitiveDateTime, String)> {
        let first = Date::from_calendar_date(0, Month::January, 1)
            .unwrap()
            .to_julian_day();
        let last = Date::from_calendar_date(9999, Month::December, 31)
            .unwrap()
            .to_julian_day();
        (first..=last, 0u8..24, 0u8..60, 0u8..60).prop_map(|(jd, h, m, s)| {
            let date = Date::from_julian_day(jd).unwrap();
            let t = PrimitiveDateTime::new(date, Time::from_hms(h, m, s).unwrap());
            let text = format!(
                "{:04}-{:02}-{:02}T{h:02}:{m:02}:{s:02}",
                date.year(),
                u8::from(date.month()),
                date.day()
            );
            (t, text)
        })
    }

    /// The text of Unix time `t` as `YYYY-MM-DDTHH:MM:SS`, if it is in years 0000 to 9999.
    fn text_of(t: i64) -> Option<String> {
        let t = time::OffsetDateTime::from_unix_timestamp(t).ok()?;
        (0..=9999).contains(&t.year()).then(|| {
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        })
    }

    // ---- odd records, for the checker ----

    /// Values of every kind the checker meets, valid or not.
    fn odd_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            Just(json!([])),
            Just(json!({"a": 1})),
            Just(json!("")),
            any::<String>().prop_map(Value::String),
            date_time().prop_map(|(_, s)| Value::String(s)),
            "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}".prop_map(Value::String),
            "[a-zA-Z0-9.]{1,8}@[a-z]{1,5}\\.[a-z]{2}".prop_map(Value::String),
            proptest::sample::select(vec![
                "taken@x.io",
                "TAKEN@X.IO",
                "a@b",
                "@b",
                "a@",
                "a@.b",
                "a b@c",
                "u1",
                "k1",
                "tok",
            ])
            .prop_map(|s| Value::String(s.to_owned())),
            // Passwords: 64 hex digits (valid), or close to it; never written in a message.
            "[0-9a-fA-F]{64}".prop_map(Value::String),
            "PW[0-9a-f]{62,63}".prop_map(Value::String),
        ]
    }

    const FIELDS: &[&str] = &[
        "id",
        "email",
        "created_at",
        "updated_at",
        "_password",
        "first_name",
        "last_name",
        "session_id",
        "user_id",
        "extra",
    ];

    fn odd_record() -> impl Strategy<Value = Value> {
        let object = proptest::collection::btree_map(
            proptest::sample::select(FIELDS.to_vec()).prop_map(str::to_owned),
            odd_value(),
            0..10,
        )
        .prop_map(|m| Value::Object(m.into_iter().collect()));
        prop_oneof![1 => odd_value(), 4 => object]
    }

    fn odd_records() -> impl Strategy<Value = Vec<(String, Value)>> {
        let key = prop_oneof![
            proptest::sample::select(vec!["", "u1", "k1", "k2", "tok"]).prop_map(str::to_owned),
            any::<String>(),
        ];
        proptest::collection::vec((key, odd_record()), 0..8)
    }

    /// The password-like strings of `records`, which no message may show.
    fn secrets(records: &[(String, Value)]) -> Vec<String> {
        records
            .iter()
            .filter_map(|(_, r)| r.get("_password")?.as_str())
            .filter(|s| s.len() >= 64)
            .map(str::to_ascii_lowercase)
            .collect()
    }

    fn assert_well_formed(
        rejected: &[Rejected],
        records: &[(String, Value)],
        kind: RecordKind,
    ) -> Result<(), TestCaseError> {
        let secrets = secrets(records);
        for r in rejected {
            prop_assert_eq!(r.kind, kind);
            prop_assert!(!r.problems.is_empty(), "{r:?} has no problem");
            prop_assert!(records.iter().any(|(k, _)| *k == r.id));
            let shown = r.to_string().to_ascii_lowercase();
            for s in &secrets {
                prop_assert!(!shown.contains(s.as_str()), "{shown} shows a password");
            }
        }
        Ok(())
    }

    /// A sesame that already has one user.
    fn store_with_one_user() -> MemoryUserStore {
        let users = MemoryUserStore::default();
        run(users.create(&User {
            id: "u1".into(),
            email: "taken@x.io".into(),
            password_hash: None,
            first_name: None,
            last_name: None,
            created_at: 0,
            updated_at: 0,
            is_admin: false,
        }))
        .unwrap();
        users
    }

    /// Error positions must point into the input: a line it has, a column on that line.
    fn assert_position_in(bytes: &[u8], line: usize, column: usize) -> Result<(), TestCaseError> {
        let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
        prop_assert!(
            (1..=lines.len()).contains(&line),
            "line {line} of {}",
            lines.len()
        );
        let len = lines[line - 1].len();
        prop_assert!(
            (1..=len + 1).contains(&column),
            "column {column} of line {line}, {len} bytes long"
        );
        Ok(())
    }

    /// Input for `parse`: random bytes, JSON-ish token soup, or a real file cut short or with a
    /// byte changed.
    fn file_bytes() -> impl Strategy<Value = Vec<u8>> {
        let soup = proptest::collection::vec(
            proptest::sample::select(vec![
                "{", "}", "[", "]", "\"", ":", ", ", " ", "\n", "\r\n", "\t", "1", "-0.5e3",
                "1e999", "true", "null", "\"a\"", "\"k\": ", "\\u00e9", "\\ud800", "\\", "é",
                "\u{0}", "\u{feff}",
            ]),
            0..24,
        )
        .prop_map(|parts| parts.concat().into_bytes());
        let damaged = (
            proptest::collection::vec(py_user(), 0..3),
            any::<prop::sample::Index>(),
            any::<u8>(),
            0u8..3,
        )
            .prop_map(|(users, at, byte, how)| {
                let mut bytes = py_dump(&users).into_bytes();
                let at = at.index(bytes.len() + 1);
                match how {
                    0 => bytes.truncate(at),
                    1 => bytes.insert(at, byte),
                    _ => bytes.insert(at, b'\n'),
                }
                bytes
            });
        prop_oneof![proptest::collection::vec(any::<u8>(), 0..64), soup, damaged]
    }

    /// A record as the original wrote it: any text in every string field.
    fn py_user() -> impl Strategy<Value = PyUser> {
        (
            any::<String>(),
            date_time(),
            date_time(),
            any::<String>(),
            proptest::option::of("[0-9a-f]{64}"),
            proptest::option::of(any::<String>()),
            proptest::option::of(any::<String>()),
        )
            .prop_map(
                |(id, (_, c), (_, u), email, password, first, last)| PyUser {
                    id,
                    created_at: c,
                    updated_at: u,
                    email,
                    password,
                    first_name: first,
                    last_name: last,
                },
            )
    }

    /// Valid users, with ids and emails (ignoring case) all different.
    fn valid_py_users() -> impl Strategy<Value = Vec<(PyUser, i64, i64)>> {
        proptest::collection::vec(
            (
                py_user(),
                // At most 64 bytes in the local part, as an email address may have.
                "[\\p{L}0-9._+-]{1,12}",
                "[a-z0-9-]{1,10}(\\.[a-z0-9-]{1,10}){0,2}",
                date_time(),
                date_time(),
                "[0-9a-fA-F]{64}",
            ),
            0..6,
        )
        .prop_map(|users| {
            users
                .into_iter()
                .enumerate()
                .map(|(i, (mut u, local, domain, (c, ct), (d, dt), hash))| {
                    u.id = format!("{i}-{}", u.id);
                    u.email = format!("u{i}.{local}@{domain}");
                    u.created_at = ct;
                    u.updated_at = dt;
                    u.password = u.password.map(|_| hash);
                    let created = c.assume_utc().unix_timestamp();
                    let updated = d.assume_utc().unix_timestamp();
                    (u, created, updated)
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_give_records_or_a_json_error_with_a_position_in_the_file(
            bytes in file_bytes(),
        ) {
            let path = Path::new(".db_User.json");
            let oracle = serde_json::from_slice::<Map<String, Value>>(&bytes);
            match parse(path, &bytes) {
                Ok(records) => {
                    // The same as serde_json's own reading, where a repeated key keeps its last
                    // record.
                    let last_wins: Map<String, Value> = records.into_iter().collect();
                    prop_assert_eq!(Some(last_wins), oracle.ok());
                }
                Err(ImportError::Json { path: p, line, column, reason }) => {
                    prop_assert!(oracle.is_err(), "{reason}");
                    prop_assert_eq!(p, path);
                    assert_position_in(&bytes, line, column)?;
                    // The position is said once, in the fields, not again in the reason.
                    let number = |n: &str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
                    let repeats_position = reason
                        .rsplit_once(" at line ")
                        .and_then(|(_, p)| p.split_once(" column "))
                        .is_some_and(|(l, c)| number(l) && number(c));
                    prop_assert!(!reason.is_empty() && !repeats_position, "{reason}");
                }
                Err(other) => prop_assert!(false, "{other:?}"),
            }
        }

        #[test]
        fn users_written_as_python_writes_them_parse_back_in_file_order(
            users in proptest::collection::vec(py_user(), 0..6),
        ) {
            let text = py_dump(&users);
            prop_assert!(text.is_ascii() && !text.contains('\n'));
            let records = parse(Path::new(USERS_FILE), text.as_bytes()).unwrap();
            let expected: Vec<(String, Value)> =
                users.iter().map(|u| (u.id.clone(), u.value())).collect();
            prop_assert_eq!(records, expected);
        }

        #[test]
        fn valid_users_written_as_python_writes_them_are_all_planned_with_their_fields(
            users in valid_py_users(),
        ) {
            let text = py_dump(&users.iter().map(|(u, _, _)| u.clone()).collect::<Vec<_>>());
            let path = Path::new(USERS_FILE);
            let records = parse(path, text.as_bytes()).unwrap();
            let store = MemoryUserStore::default();
            let plan = run(plan_users(path, &records, &store)).unwrap();
            prop_assert!(plan.rejected.is_empty(), "{:?}", plan.rejected);
            prop_assert!(plan.present.is_empty());
            prop_assert_eq!(plan.new.len(), users.len());
            for (got, (u, created, updated)) in plan.new.iter().zip(&users) {
                prop_assert_eq!(&got.id, &u.id);
                prop_assert_eq!(&got.email, &u.email);
                prop_assert_eq!(got.created_at, *created);
                prop_assert_eq!(got.updated_at, *updated);
                let lowercased = u.password.as_ref().map(|p| p.to_ascii_lowercase());
                prop_assert_eq!(&got.password_hash, &lowercased);
                prop_assert_eq!(&got.first_name, &u.first_name);
                prop_assert_eq!(&got.last_name, &u.last_name);
                prop_assert!(!got.is_admin);
            }
        }

        #[test]
        fn arbitrary_strings_never_panic_parse_timestamp_and_what_parses_is_canonical(
            s in prop_oneof![
                any::<String>(),
                "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}",
                "[0-9+-]{4,6}-[0-9]{1,2}-[0-9]{1,2}[T ][0-9]{1,2}:[0-9]{2}:[0-9]{2}[Z.0-9]{0,2}",
            ],
        ) {
            if let Some(t) = parse_timestamp(&s) {
                prop_assert_eq!(text_of(t), Some(s));
            }
        }

        #[test]
        fn a_timestamp_of_the_right_shape_parses_exactly_when_it_is_a_real_date_time(
            (y, mo, d) in (0i32..10_000, 0u8..100, 0u8..100),
            (h, mi, s) in (0u8..100, 0u8..100, 0u8..100),
        ) {
            let text = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
            let real = Month::try_from(mo)
                .ok()
                .and_then(|m| Date::from_calendar_date(y, m, d).ok())
                .zip(Time::from_hms(h, mi, s).ok())
                .map(|(date, time)| {
                    PrimitiveDateTime::new(date, time)
                        .assume_utc()
                        .unix_timestamp()
                });
            prop_assert_eq!(parse_timestamp(&text), real, "{}", text);
        }

        #[test]
        fn every_date_time_of_years_0000_to_9999_round_trips_to_its_unix_seconds(
            (t, text) in date_time(),
        ) {
            prop_assert_eq!(parse_timestamp(&text), Some(t.assume_utc().unix_timestamp()));
        }

        #[test]
        fn the_session_checker_never_panics_and_accounts_for_every_record(
            records in odd_records(),
        ) {
            let path = Path::new(SESSIONS_FILE);
            let (valid, bad) = plan_sessions(path, &records);
            prop_assert_eq!(valid.len() + bad.len(), records.len());
            assert_well_formed(&bad, &records, RecordKind::Session)?;
            let mut ids = HashSet::new();
            let mut digests = HashSet::new();
            for s in &valid {
                prop_assert!(ids.insert(s.id.clone()), "session {:?} twice", s.id);
                prop_assert!(digests.insert(s.digest), "one cookie for two sessions");
                prop_assert!(!s.user_id.is_empty());
                prop_assert_eq!(s.last_seen_at, s.created_at);
            }
            let _ = ImportError::Refused { rejected: bad }.to_string();
        }

        #[test]
        fn the_user_checker_never_panics_and_accounts_for_every_record(
            records in odd_records(),
        ) {
            let path = Path::new(USERS_FILE);
            let store = store_with_one_user();
            let plan = run(plan_users(path, &records, &store)).unwrap();
            prop_assert_eq!(
                plan.new.len() + plan.present.len() + plan.rejected.len(),
                records.len()
            );
            assert_well_formed(&plan.rejected, &records, RecordKind::User)?;
            let mut ids = HashSet::new();
            let mut emails = HashSet::new();
            for u in &plan.new {
                prop_assert!(ids.insert(u.id.clone()), "user {:?} twice", u.id);
                prop_assert!(u.id != "u1", "a user already in sesame is planned again");
                prop_assert!(emails.insert(email_key(&u.email)), "email {:?} twice", u.email);
                prop_assert!(email_key(&u.email) != "taken@x.io");
                prop_assert!(validate_email(&u.email).is_ok());
                let hash_ok = u
                    .password_hash
                    .as_deref()
                    .is_none_or(|h| is_legacy_sha256(h) && h == h.to_ascii_lowercase());
                prop_assert!(hash_ok, "a stored hash that is not 64 lowercase hex digits");
                prop_assert!(!u.is_admin);
            }
            let _ = ImportError::Refused { rejected: plan.rejected }.to_string();
        }
    }
}
