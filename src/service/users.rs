//! Users: creation, reading, changes, deletion, administrator rights and passwords, with who
//! may do what (an administrator anything, a user their own record).

use std::sync::Arc;

use super::error::ServiceError;
use super::types::{Authenticated, NewUser, Page, Principal, Service, UserChanges};
use crate::domain::{Secret, User, email_key, new_id, validate_email, validate_password};

/// The password policy for a user's new password: length, and not the email itself.
pub(super) fn check_new_password(email: &str, password: &Secret) -> Result<(), ServiceError> {
    validate_password(password.expose()).map_err(ServiceError::invalid)?;
    if email_key(password.expose().trim()) == email_key(email) {
        return Err(ServiceError::invalid(
            "password must not be the email address",
        ));
    }
    Ok(())
}

impl Service {
    /// `PUT /users/me/password`: checks the current password (a wrong one counts as a failed
    /// login), applies the policy, and ends every other session of the user.
    pub async fn change_my_password(
        &self,
        auth: &Authenticated,
        current: Secret,
        new: Secret,
        ip: Option<&str>,
    ) -> Result<u64, ServiceError> {
        let user = auth.require_user()?;
        check_new_password(&user.email, &new)?;
        let now = self.clock.now();
        if self
            .check_password(&user.email, current, ip, now)
            .await?
            .is_none_or(|u| u.id != user.id)
        {
            tracing::info!(target: "audit", event = "password_change_refused", user_id = %user.id, "wrong current password");
            return Err(ServiceError::WrongCurrentPassword);
        }
        self.password_succeeded(user).await?;
        let hash = self.passwords.hash(new).await?;
        if !self.users.set_password(&user.id, &hash, now).await? {
            return Err(ServiceError::NotFound);
        }
        self.void_reset_token(&user.id).await?;
        let ended = match &self.sessions {
            Some(store) => store.delete_for_user(&user.id, auth.digest()).await?,
            None => 0,
        };
        tracing::info!(target: "audit", event = "password_changed", user_id = %user.id, sessions_ended = ended, "password changed");
        Ok(ended)
    }

    /// Validates and stores a new user (no authorization check: callers do that).
    pub async fn create_user(&self, new: NewUser) -> Result<User, ServiceError> {
        validate_email(&new.email).map_err(ServiceError::invalid)?;
        check_new_password(&new.email, &new.password)?;
        let hash = self.passwords.hash(new.password).await?;
        let now = self.clock.now();
        let user = User {
            id: new_id(),
            email: new.email,
            password_hash: Some(hash),
            first_name: new.first_name,
            last_name: new.last_name,
            created_at: now,
            updated_at: now,
            is_admin: new.is_admin,
        };
        self.users.create(&user).await?;
        tracing::info!(target: "audit", event = "user_created", user_id = %user.id, admin = user.is_admin, "user created");
        Ok(user)
    }

    /// `POST /users`: an administrator makes a user.
    pub async fn create_user_as(
        &self,
        actor: &Authenticated,
        new: NewUser,
    ) -> Result<User, ServiceError> {
        Self::require_admin(actor)?;
        self.create_user(new).await
    }

    /// `GET /users`: every user, for administrators.
    pub async fn list_users(&self, actor: &Authenticated) -> Result<Vec<User>, ServiceError> {
        Self::require_admin(actor)?;
        Ok(self.users.list().await?)
    }

    /// `GET /users?q=&page=&per_page=`: the users matching `search` (a substring of the email
    /// or a name, ignoring case), in the store's order, one page of them, and how many match.
    /// Users are filtered here rather than in the store: the teams sesame serves count their
    /// users in thousands, which one read of the list answers in well under a millisecond.
    pub async fn find_users(
        &self,
        actor: &Authenticated,
        search: &str,
        page: Page,
    ) -> Result<(Vec<User>, usize), ServiceError> {
        Self::require_admin(actor)?;
        let needle = search.trim().to_lowercase();
        let matches = |u: &User| {
            needle.is_empty()
                || [Some(&u.email), u.first_name.as_ref(), u.last_name.as_ref()]
                    .into_iter()
                    .flatten()
                    .any(|s| s.to_lowercase().contains(&needle))
        };
        let found: Vec<User> = self
            .users
            .list()
            .await?
            .into_iter()
            .filter(matches)
            .collect();
        let total = found.len();
        let skip = page.number.saturating_sub(1).saturating_mul(page.size);
        Ok((
            found.into_iter().skip(skip).take(page.size).collect(),
            total,
        ))
    }

    /// Every user, for the command line.
    pub async fn all_users(&self) -> Result<Vec<User>, ServiceError> {
        Ok(self.users.list().await?)
    }

    /// How many users there are.
    pub async fn count_users(&self) -> Result<u64, ServiceError> {
        Ok(self.users.count().await?)
    }

    /// `GET /users/{id}`.
    ///
    /// The caller's own record is the one authentication just read: it is answered without
    /// reading the store again.
    pub async fn get_user(
        &self,
        actor: &Authenticated,
        id: &str,
    ) -> Result<Arc<User>, ServiceError> {
        if let Principal::User(me) = &actor.principal
            && (id == "me" || id == me.id)
        {
            return Ok(me.clone());
        }
        let id = Self::target(actor, id)?;
        self.users
            .get(id)
            .await?
            .map(Arc::new)
            .ok_or(ServiceError::NotFound)
    }

    /// `PUT /users/{id}`: sets the names given (`None` leaves a name as it is).
    pub async fn update_user(
        &self,
        actor: &Authenticated,
        id: &str,
        changes: UserChanges,
    ) -> Result<User, ServiceError> {
        let id = Self::target(actor, id)?;
        let mut user = self.users.get(id).await?.ok_or(ServiceError::NotFound)?;
        // The email and the admin flag may be sent back as they are (a client that PUTs the
        // user it read); a request to change them is refused, not ignored.
        if changes
            .email
            .as_deref()
            .is_some_and(|e| email_key(e.trim()) != email_key(&user.email))
        {
            return Err(ServiceError::invalid(
                "email cannot be changed: PUT /users/{id} changes first_name and last_name",
            ));
        }
        if let Some(admin) = changes.is_admin.filter(|a| *a != user.is_admin) {
            // Only an administrator changes the flag; the last one cannot drop it (nobody
            // could make administrators again without the command line).
            Self::require_admin(actor)?;
            if !admin
                && !self
                    .users
                    .list()
                    .await?
                    .iter()
                    .any(|u| u.is_admin && u.id != user.id)
            {
                return Err(ServiceError::Conflict(
                    "at least one administrator must remain",
                ));
            }
            user.is_admin = admin;
            tracing::info!(target: "audit", event = "admin_changed", user_id = %user.id, admin, by = actor.user().map_or("-", |u| u.id.as_str()), "admin flag changed");
        }
        if changes.first_name.is_some() {
            user.first_name = changes.first_name;
        }
        if changes.last_name.is_some() {
            user.last_name = changes.last_name;
        }
        user.updated_at = self.clock.now();
        if !self.users.update(&user).await? {
            return Err(ServiceError::NotFound);
        }
        Ok(user)
    }

    /// `DELETE /users/{id}`: deletes the user and ends their sessions, from a session whose
    /// credential is fresh (`REAUTH_MAX_AGE`). Returns the deleted id.
    pub async fn delete_user_as(
        &self,
        actor: &Authenticated,
        id: &str,
    ) -> Result<String, ServiceError> {
        let id = Self::target(actor, id)?.to_owned();
        self.require_fresh(actor).await?;
        self.delete_user(&id).await?;
        Ok(id)
    }

    /// Deletes a user and ends their sessions; [`ServiceError::NotFound`] if there is none.
    pub async fn delete_user(&self, id: &str) -> Result<(), ServiceError> {
        if !self.users.delete(id).await? {
            return Err(ServiceError::NotFound);
        }
        let ended = self.revoke_sessions_of(id).await?;
        self.forget_factors(id).await?;
        tracing::info!(target: "audit", event = "user_deleted", user_id = %id, sessions_ended = ended, "user deleted");
        Ok(())
    }

    /// Finds a user by id, or else by email (ignoring case).
    pub async fn find_user(&self, id_or_email: &str) -> Result<User, ServiceError> {
        if let Some(u) = self.users.get(id_or_email).await? {
            return Ok(u);
        }
        self.users
            .get_by_email(id_or_email)
            .await?
            .ok_or(ServiceError::NotFound)
    }

    /// Grants or withdraws administrator rights.
    pub async fn set_admin(&self, id: &str, admin: bool) -> Result<User, ServiceError> {
        let mut user = self.users.get(id).await?.ok_or(ServiceError::NotFound)?;
        user.is_admin = admin;
        user.updated_at = self.clock.now();
        if !self.users.update(&user).await? {
            return Err(ServiceError::NotFound);
        }
        tracing::info!(target: "audit", event = "admin_changed", user_id = %id, admin, "administrator rights changed");
        Ok(user)
    }

    /// Sets a new password (checked against the policy) and ends every session of the user.
    pub async fn set_password(&self, id: &str, password: Secret) -> Result<u64, ServiceError> {
        let user = self.users.get(id).await?.ok_or(ServiceError::NotFound)?;
        check_new_password(&user.email, &password)?;
        let hash = self.passwords.hash(password).await?;
        if !self.users.set_password(id, &hash, self.clock.now()).await? {
            return Err(ServiceError::NotFound);
        }
        self.void_reset_token(id).await?;
        let ended = self.revoke_sessions_of(id).await?;
        tracing::info!(target: "audit", event = "password_changed", user_id = %id, sessions_ended = ended, "password set");
        Ok(ended)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_password_may_not_be_the_email() {
        assert!(check_new_password("bob@hbtn.io", &Secret::new("BOB@hbtn.io")).is_err());
        assert!(check_new_password("bob@hbtn.io", &Secret::new("bob@hbtn.io2")).is_ok());
    }
}
