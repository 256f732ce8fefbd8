//! What the checks decide before anything is written: which users are new, already in sesame
//! or invalid, which sessions are valid, with the rules across records (emails and cookie
//! values unique in a file, emails not registered in sesame to another user).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde_json::Value;

use super::check::{UserFields, open_record, session_fields, user_fields};
use super::record::{FieldProblem, RecordKind, Rejected, show};
use super::report::ImportError;
use crate::domain::{Session, User, email_key, token_digest};
use crate::service::{Service, ServiceError};

/// What to do with records that break the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Any invalid record refuses the whole import; nothing is written.
    #[default]
    Strict,
    /// Invalid records are skipped and listed; the rest is imported.
    SkipInvalid,
}

/// What the checks of the users file decided.
#[derive(Default)]
pub(super) struct UserPlan {
    /// Valid users whose id is not in sesame, in file order.
    pub(super) new: Vec<User>,
    /// The ids of valid records whose id is already in sesame.
    pub(super) present: HashSet<String>,
    /// The invalid records, in file order.
    pub(super) rejected: Vec<Rejected>,
}

impl UserPlan {
    /// Files user record `key` under new, present or rejected.
    fn decide(
        &mut self,
        file: &Path,
        key: &str,
        fields: UserFields<'_>,
        existing: bool,
        problems: Vec<FieldProblem>,
    ) {
        match (fields.email, fields.created_at, fields.updated_at) {
            (Some(email), Some(created_at), Some(updated_at)) if problems.is_empty() => {
                if existing {
                    self.present.insert(key.to_owned());
                } else {
                    self.new.push(User {
                        id: key.to_owned(),
                        email: email.to_owned(),
                        password_hash: fields.password_hash,
                        first_name: fields.first_name,
                        last_name: fields.last_name,
                        created_at,
                        updated_at,
                        is_admin: false,
                    });
                }
            }
            _ => self
                .rejected
                .push(Rejected::new(file, RecordKind::User, key, problems)),
        }
    }
}

/// A lookup of the checks that failed (nothing is written yet).
fn lookup_failed(id: &str, e: &ServiceError) -> ImportError {
    ImportError::store(format!("looking up user {id:?}"), e, 0, 0)
}

/// The emails met so far in the users file: email key (ignoring case) to the id of the first
/// record in file order with it.
#[derive(Default)]
struct Emails(HashMap<String, String>);

impl Emails {
    /// What is wrong with `email` of user record `key`, if anything: an earlier record has it
    /// (that one keeps it, even if it is skipped for another reason), or sesame has it under
    /// another id (not asked when the record's id is already in sesame: it is left alone).
    async fn problem(
        &mut self,
        key: &str,
        email: &str,
        existing: bool,
        service: &Service,
    ) -> Result<Option<FieldProblem>, ImportError> {
        let ekey = email_key(email);
        if let Some(first) = self.0.get(&ekey) {
            return Ok(Some(FieldProblem::new(
                "email",
                format!(
                    "{} equals ignoring case the email of user {first:?}, earlier in the file",
                    show(email)
                ),
            )));
        }
        self.0.insert(ekey, key.to_owned());
        if existing {
            return Ok(None);
        }
        let other = service
            .user_by_email(email)
            .await
            .map_err(|e| lookup_failed(key, &e))?;
        Ok(other.filter(|o| o.id != key).map(|o| {
            FieldProblem::new(
                "email",
                format!(
                    "{} is already registered in sesame, ignoring case, to user {:?}",
                    show(email),
                    o.id
                ),
            )
        }))
    }
}

/// Checks the users file against itself and against the users `service` already has.
pub(super) async fn plan_users(
    file: &Path,
    records: &[(String, Value)],
    service: &Service,
) -> Result<UserPlan, ImportError> {
    let mut plan = UserPlan::default();
    let mut keys = HashSet::new();
    let mut emails = Emails::default();
    for (key, value) in records {
        let (record, mut problems) = open_record(key, value, &mut keys);
        let Some(record) = record else {
            plan.rejected
                .push(Rejected::new(file, RecordKind::User, key, problems));
            continue;
        };
        let fields = user_fields(key, record, &mut problems);
        let existing = service
            .user_by_id(key)
            .await
            .map_err(|e| lookup_failed(key, &e))?
            .is_some();
        if let Some(email) = fields.email {
            problems.extend(emails.problem(key, email, existing, service).await?);
        }
        plan.decide(file, key, fields, existing, problems);
    }
    Ok(plan)
}

/// Checks the sessions file; returns the valid sessions and the rejected records. A session is
/// stored under the digest of its `session_id` (the cookie value), with the record's key as its
/// public id and its `created_at` as its last use.
pub(super) fn plan_sessions(
    file: &Path,
    records: &[(String, Value)],
) -> (Vec<Session>, Vec<Rejected>) {
    let mut valid = Vec::new();
    let mut bad = Vec::new();
    let mut keys = HashSet::new();
    // session_id -> the key of the first record in file order with it.
    let mut tokens: HashMap<&str, &str> = HashMap::new();
    for (key, value) in records {
        let (record, mut problems) = open_record(key, value, &mut keys);
        let Some(record) = record else {
            bad.push(Rejected::new(file, RecordKind::Session, key, problems));
            continue;
        };
        let fields = session_fields(key, record, &mut problems);
        if let Some(token) = fields.session_id {
            if let Some(first) = tokens.get(token) {
                problems.push(FieldProblem::new(
                    "session_id",
                    format!("the same as that of session {first:?}, earlier in the file"),
                ));
            } else {
                tokens.insert(token, key);
            }
        }
        match (fields.session_id, fields.user_id, fields.created_at) {
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
            _ => bad.push(Rejected::new(file, RecordKind::Session, key, problems)),
        }
    }
    (valid, bad)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::auth::password::is_legacy_sha256;
    use crate::domain::validate_email;
    use crate::import::read::parse;
    use crate::import::record::{SESSIONS_FILE, USERS_FILE};
    use crate::import::samples::{memory_service, odd_records, py_dump, run, valid_py_users};

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
    fn service_with_one_user() -> Service {
        let service = memory_service();
        run(service.users.create(&User {
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
        service
    }

    proptest! {
        #[test]
        fn valid_users_written_as_python_writes_them_are_all_planned_with_their_fields(
            users in valid_py_users(),
        ) {
            let text = py_dump(&users.iter().map(|(u, _, _)| u.clone()).collect::<Vec<_>>());
            let path = Path::new(USERS_FILE);
            let records = parse(path, text.as_bytes()).unwrap();
            let service = memory_service();
            let plan = run(plan_users(path, &records, &service)).unwrap();
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
            let service = service_with_one_user();
            let plan = run(plan_users(path, &records, &service)).unwrap();
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
