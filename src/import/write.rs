//! The writes of an import, through the service (which logs an audit event for each record it
//! stores): the planned users, then the sessions of users that are in sesame by then, each
//! outcome counted in the report.

use std::path::Path;

use super::plan::Mode;
use super::record::{FieldProblem, RecordKind, Rejected, USERS_FILE, show};
use super::report::{ImportError, Report};
use crate::domain::{Session, User};
use crate::service::{Service, ServiceError};

/// Writes the planned `users` of `file`. A user whose id appeared in sesame since the checks is
/// counted as already present (sesame's record wins); one whose email was registered since
/// stops the import in [`Mode::Strict`] and is skipped otherwise.
pub(super) async fn write_users(
    service: &Service,
    file: &Path,
    users: Vec<User>,
    mode: Mode,
    report: &mut Report,
) -> Result<(), ImportError> {
    for user in users {
        let failed = |e: &dyn std::fmt::Display, imported| {
            ImportError::store(format!("user {:?}", user.id), e, imported, 0)
        };
        match service.import_user(&user).await {
            Ok(true) => report.users.imported += 1,
            Ok(false) => report.users.already_present += 1,
            Err(ServiceError::Conflict(_)) if mode == Mode::Strict => {
                let reason = format!(
                    "its email {} was registered in sesame during the import",
                    show(&user.email)
                );
                return Err(failed(&reason, report.users.imported));
            }
            Err(ServiceError::Conflict(_)) => {
                report.users.skipped += 1;
                report.skipped.push(Rejected::new(
                    file,
                    RecordKind::User,
                    &user.id,
                    vec![FieldProblem::new(
                        "email",
                        format!(
                            "{} was registered in sesame during the import",
                            show(&user.email)
                        ),
                    )],
                ));
            }
            Err(e) => return Err(failed(&e, report.users.imported)),
        }
    }
    Ok(())
}

/// Writes the valid `sessions` of `file`, the sessions file: one whose user is not in sesame is
/// skipped and added to `skipped` (the sessions file's records skipped so far), one already
/// stored is counted as already present. `skipped` then goes to the end of the report's list.
pub(super) async fn write_sessions(
    service: &Service,
    file: &Path,
    sessions: Vec<Session>,
    mut skipped: Vec<Rejected>,
    report: &mut Report,
) -> Result<(), ImportError> {
    for session in sessions {
        match service.import_session(&session).await {
            Ok(true) => report.sessions.imported += 1,
            Ok(false) => report.sessions.already_present += 1,
            Err(ServiceError::NotFound) => {
                report.sessions.skipped += 1;
                report.sessions_without_user += 1;
                skipped.push(without_user(file, &session));
            }
            Err(e) => {
                return Err(ImportError::store(
                    format!("session {:?}", session.id),
                    &e,
                    report.users.imported,
                    report.sessions.imported,
                ));
            }
        }
    }
    report.skipped.extend(skipped);
    Ok(())
}

/// The listing of a session of `file` whose user is neither imported nor in sesame.
fn without_user(file: &Path, session: &Session) -> Rejected {
    Rejected::new(
        file,
        RecordKind::Session,
        &session.id,
        vec![FieldProblem::new(
            "user_id",
            format!(
                "user {:?} is neither in {USERS_FILE} nor in sesame",
                session.user_id
            ),
        )],
    )
}
