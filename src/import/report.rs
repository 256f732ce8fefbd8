//! What an import tells the operator: the counts and skipped records of a run ([`Report`]),
//! and why a run stopped ([`ImportError`]).

use std::fmt;
use std::path::{Path, PathBuf};

use super::record::{Rejected, SESSIONS_FILE, USERS_FILE};

/// How many records of one kind ended how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Written to sesame by this run.
    pub imported: u64,
    /// Left alone: sesame already had a record with this id.
    pub already_present: u64,
    /// Not imported: invalid (with [`Mode::SkipInvalid`](crate::import::Mode::SkipInvalid)) or, for sessions, without a user.
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

/// Adds to `parts` how many users and sessions ended as `what`, if any did.
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
            Self::Refused { rejected } => write_refused(f, rejected),
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

/// The refusal of a strict import: how many problems in how many records, then each problem
/// under its file, then what to do.
fn write_refused(f: &mut fmt::Formatter<'_>, rejected: &[Rejected]) -> fmt::Result {
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

/// The messages carry their causes already (`{:#}` would repeat them), so no `source`.
impl std::error::Error for ImportError {}

impl ImportError {
    /// A failed write (or a lookup of the checks, with no record written yet): `during` says
    /// what was being done, `reason` why it failed.
    pub(super) fn store(
        during: String,
        reason: impl fmt::Display,
        users_imported: u64,
        sessions_imported: u64,
    ) -> Self {
        Self::Store {
            during,
            reason: reason.to_string(),
            users_imported,
            sessions_imported,
        }
    }
}
