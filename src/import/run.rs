//! One run of an import, from the directory to the report: read, check every record, refuse
//! (strict mode) or write through the service; and `sesame import`, which runs it on the
//! configured stores and prints the report.

use std::path::Path;
use std::sync::Arc;

use super::plan::{Mode, plan_sessions, plan_users};
use super::read::read_dir;
use super::report::{ImportError, Report};
use super::write::{write_sessions, write_users};
use crate::app::App;
use crate::clock::{Clock, SystemClock};
use crate::config::{AuthType, Settings};
use crate::service::Service;

/// Imports `dir`'s files through `service`, whose session store receives the sessions (see the
/// module documentation for the rules).
///
/// Every check runs before the first write: in [`Mode::Strict`] an invalid record returns
/// [`ImportError::Refused`] with nothing written.
pub async fn import_dir(dir: &Path, service: &Service, mode: Mode) -> Result<Report, ImportError> {
    let files = read_dir(dir)?;
    let plan = plan_users(&files.users_path, &files.users, service).await?;
    let (valid_sessions, bad_sessions) = plan_sessions(&files.sessions_path, &files.sessions);
    if mode == Mode::Strict && !(plan.rejected.is_empty() && bad_sessions.is_empty()) {
        let mut rejected = plan.rejected;
        rejected.extend(bad_sessions);
        return Err(ImportError::Refused { rejected });
    }

    let mut report = Report {
        sessions_file_found: files.sessions_found,
        ..Report::default()
    };
    report.users.already_present = plan.present.len() as u64;
    report.users.skipped = plan.rejected.len() as u64;
    report.sessions.skipped = bad_sessions.len() as u64;
    report.skipped = plan.rejected;
    write_users(service, &files.users_path, plan.new, mode, &mut report).await?;
    write_sessions(
        service,
        &files.sessions_path,
        valid_sessions,
        bad_sessions,
        &mut report,
    )
    .await?;
    Ok(report)
}

/// `sesame import --from DIR [--skip-invalid]`: imports into the stores of `settings` (users, and
/// sessions into the persistent session store whatever `AUTH_TYPE` is) through the service the
/// command line uses, and prints the report.
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
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let app = App::build(settings, clock.clone()).await?;
    let mode = if skip_invalid {
        Mode::SkipInvalid
    } else {
        Mode::Strict
    };
    let result = match app.offline_service(clock) {
        Ok(service) => import_dir(from, &service, mode).await.map_err(Into::into),
        Err(e) => Err(e),
    };
    app.stores.users.close();
    let report = result?;
    print!("{report}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::record::USERS_FILE;
    use crate::import::samples::memory_service;

    #[tokio::test]
    async fn strict_refuses_and_skip_keeps_the_first_of_two_equal_emails() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(USERS_FILE),
            r#"{"u1": {"id": "u1", "created_at": "2020-01-01T00:00:00", "updated_at": "2020-01-01T00:00:00", "email": "A@x.io", "_password": null, "first_name": null, "last_name": null}, "u2": {"id": "u2", "created_at": "2020-01-01T00:00:00", "updated_at": "2020-01-01T00:00:00", "email": "a@X.io", "_password": null, "first_name": null, "last_name": null}}"#,
        )
        .unwrap();
        let service = memory_service();
        let users = service.users.clone();
        let err = import_dir(dir.path(), &service, Mode::Strict)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("user \"u2\": email"), "{err}");
        assert_eq!(users.count().await.unwrap(), 0);
        let report = import_dir(dir.path(), &service, Mode::SkipInvalid)
            .await
            .unwrap();
        assert_eq!(report.users.imported, 1);
        assert_eq!(report.users.skipped, 1);
        assert!(users.get("u1").await.unwrap().is_some());
        let again = import_dir(dir.path(), &service, Mode::SkipInvalid)
            .await
            .unwrap();
        assert!(again.nothing_imported());
        assert_eq!(again.users.already_present, 1);
        assert!(again.to_string().starts_with("nothing to import: "));
    }
}
