//! What the import says about one record of the original's files: which files it reads, which
//! kind a record is, and what is wrong with a refused or skipped one.

use std::fmt;
use std::path::{Path, PathBuf};

/// The original system's file of users, in the import directory.
pub const USERS_FILE: &str = ".db_User.json";
/// The original system's file of sessions, in the import directory (optional).
pub const SESSIONS_FILE: &str = ".db_UserSession.json";

/// Longest excerpt of an offending value shown in a message.
const SHOW_MAX_CHARS: usize = 60;

/// Which file a record comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// A record of `.db_User.json`.
    User,
    /// A record of `.db_UserSession.json`.
    Session,
}

impl RecordKind {
    /// The word for this kind in messages: `user` or `session`.
    pub(super) fn as_str(self) -> &'static str {
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

impl FieldProblem {
    /// A problem of `field`.
    pub(super) fn new(field: &str, reason: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
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

impl Rejected {
    /// Record `id` of `file`, rejected for `problems`.
    pub(super) fn new(
        file: &Path,
        kind: RecordKind,
        id: &str,
        problems: Vec<FieldProblem>,
    ) -> Self {
        Self {
            file: file.to_owned(),
            kind,
            id: id.to_owned(),
            problems,
        }
    }
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

/// A short, escaped excerpt of a text for a message.
pub(super) fn show(s: &str) -> String {
    let mut chars = s.chars();
    let head: String = chars.by_ref().take(SHOW_MAX_CHARS).collect();
    if chars.next().is_some() {
        format!("{head:?}...")
    } else {
        format!("{head:?}")
    }
}
