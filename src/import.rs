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
            column: e.column(),
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
