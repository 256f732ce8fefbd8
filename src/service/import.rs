//! Bringing in the records of the original system (`sesame import`): users and sessions stored
//! exactly as they were there, each with an audit event, and the lookups the import's checks
//! need.

use super::error::ServiceError;
use super::types::Service;
use crate::domain::{Session, User, validate_email};
use crate::store::StoreError;

impl Service {
    /// The user with this id, if any (no authorization: for the import's checks).
    pub async fn user_by_id(&self, id: &str) -> Result<Option<User>, ServiceError> {
        Ok(self.users.get(id).await?)
    }

    /// The user with this email, ignoring case, if any (no authorization: for the import's
    /// checks).
    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>, ServiceError> {
        Ok(self.users.get_by_email(email).await?)
    }

    /// Stores a user of the original system as it was there: its id, email, names, both
    /// timestamps and its legacy SHA-256 password hash (replaced by Argon2id at its next
    /// login). Imported users are never administrators.
    ///
    /// `Ok(true)` if it was stored; `Ok(false)` if a user with this id is already in sesame,
    /// whose record is left alone; [`ServiceError::Conflict`] if its email is registered,
    /// ignoring case, to another user.
    pub async fn import_user(&self, user: &User) -> Result<bool, ServiceError> {
        validate_email(&user.email).map_err(ServiceError::invalid)?;
        if user.is_admin {
            return Err(ServiceError::invalid(
                "imported users are not administrators",
            ));
        }
        match self.users.create(user).await {
            Ok(()) => {
                tracing::info!(target: "audit", event = "user_imported", user_id = %user.id, legacy_password = user.password_hash.is_some(), "user imported");
                Ok(true)
            }
            Err(StoreError::Conflict) => match self.users.get(&user.id).await? {
                Some(_) => Ok(false),
                None => Err(ServiceError::Conflict("email already registered")),
            },
            Err(e) => Err(e.into()),
        }
    }

    /// Stores a session of the original system as it was there: its public id, the digest of
    /// its token, its user and its timestamps, so it keeps working and expires as any other.
    ///
    /// `Ok(true)` if it was stored; `Ok(false)` if one with the same digest or public id is
    /// already stored; [`ServiceError::NotFound`] if its user is not in sesame.
    pub async fn import_session(&self, session: &Session) -> Result<bool, ServiceError> {
        let store = self.sessions.as_ref().ok_or(ServiceError::invalid(
            "this configuration keeps no sessions",
        ))?;
        if self.users.get(&session.user_id).await?.is_none() {
            return Err(ServiceError::NotFound);
        }
        match store.insert(session).await {
            Ok(()) => {
                tracing::info!(target: "audit", event = "session_imported", user_id = %session.user_id, session_id = %session.id, "session imported");
                Ok(true)
            }
            Err(StoreError::Conflict) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::token_digest;

    fn service() -> Service {
        Service::in_memory()
    }

    fn user(id: &str, email: &str) -> User {
        User {
            id: id.into(),
            email: email.into(),
            password_hash: Some("0".repeat(64)),
            first_name: None,
            last_name: None,
            created_at: 1,
            updated_at: 2,
            is_admin: false,
        }
    }

    #[tokio::test]
    async fn a_user_is_imported_as_given_once_and_a_taken_email_is_a_conflict() {
        let s = service();
        let zoe = user("u1", "zoe@x.io");
        assert!(s.import_user(&zoe).await.unwrap());
        assert_eq!(s.user_by_id("u1").await.unwrap(), Some(zoe.clone()));
        assert!(!s.import_user(&zoe).await.unwrap(), "already present");
        let twin = user("u2", "ZOE@x.io");
        assert!(matches!(
            s.import_user(&twin).await,
            Err(ServiceError::Conflict(_))
        ));
        let admin = User {
            is_admin: true,
            ..user("u3", "admin@x.io")
        };
        assert!(matches!(
            s.import_user(&admin).await,
            Err(ServiceError::Invalid(_))
        ));
        assert_eq!(s.count_users().await.unwrap(), 1);
    }

    #[tokio::test]
    async fn a_session_is_imported_once_and_only_for_a_user_in_sesame() {
        let s = service();
        let session = Session {
            id: "s1".into(),
            digest: token_digest("cookie"),
            user_id: "u1".into(),
            created_at: 5,
            last_seen_at: 5,
            ip: None,
            user_agent: None,
        };
        assert!(matches!(
            s.import_session(&session).await,
            Err(ServiceError::NotFound)
        ));
        s.import_user(&user("u1", "zoe@x.io")).await.unwrap();
        assert!(s.import_session(&session).await.unwrap());
        assert!(
            !s.import_session(&session).await.unwrap(),
            "already present"
        );
        assert_eq!(s.session_count().await.unwrap(), Some(1));
    }
}
