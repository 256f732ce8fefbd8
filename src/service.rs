//! The rules of sesame: authentication, login and logout, session expiry, users and who may act
//! on them. No HTTP and no SQL here: handlers call in, stores are reached through their traits.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::clock::Clock;
use crate::config::{AuthType, Expiry};
use crate::domain::{
    Digest32, Secret, Session, User, new_id, new_token, token_digest, validate_email,
    validate_password,
};
use crate::error::Error;
use crate::password::Passwords;
use crate::store::{SessionStore, UserStore};

/// Who a request runs as.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A signed-in user.
    User(User),
    /// `AUTH_TYPE=none`: nobody in particular, allowed everything (development only).
    Anonymous,
}

/// A request that passed the gate.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// Who it runs as.
    pub principal: Principal,
    /// The digest of the session it came with, for session schemes.
    pub session: Option<Digest32>,
}

impl Authenticated {
    /// The user, if the request has one.
    pub fn user(&self) -> Option<&User> {
        match &self.principal {
            Principal::User(u) => Some(u),
            Principal::Anonymous => None,
        }
    }
}

/// The credentials a request carries, as raw as they came.
#[derive(Debug, Clone, Copy, Default)]
pub struct Credentials<'a> {
    /// The `Authorization` header, if any.
    pub authorization: Option<&'a [u8]>,
    /// The session cookie's value, if any.
    pub session_token: Option<&'a str>,
}

/// What a new user is made of; validated by [`Service::create_user`].
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Email address.
    pub email: String,
    /// Password in clear, hashed before it is stored.
    pub password: Secret,
    /// Optional first name.
    pub first_name: Option<String>,
    /// Optional last name.
    pub last_name: Option<String>,
    /// Whether the user is an administrator.
    pub is_admin: bool,
}

/// Where a login came from, kept with the session.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// Client address.
    pub ip: Option<String>,
    /// `User-Agent` header.
    pub user_agent: Option<String>,
}

/// The service: every rule, over the stores.
#[derive(Clone)]
pub struct Service {
    users: Arc<dyn UserStore>,
    sessions: Option<Arc<dyn SessionStore>>,
    passwords: Passwords,
    clock: Arc<dyn Clock>,
    auth_type: AuthType,
    expiry: Expiry,
}

/// Longest time between two recorded uses of a session when an idle timeout is on:
/// `min(60 s, idle / 4)`, so reads rarely write and a session ends at most a quarter early.
fn touch_interval(idle: i64) -> i64 {
    (idle / 4).clamp(1, 60)
}

fn parse_basic(header: &[u8]) -> Option<(String, Secret)> {
    let header = std::str::from_utf8(header).ok()?;
    let (scheme, encoded) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (email, password) = decoded.split_once(':')?;
    Some((email.to_owned(), Secret::new(password)))
}

impl Service {
    /// Builds the service over its stores.
    pub fn new(
        users: Arc<dyn UserStore>,
        sessions: Option<Arc<dyn SessionStore>>,
        passwords: Passwords,
        clock: Arc<dyn Clock>,
        auth_type: AuthType,
        expiry: Expiry,
    ) -> Self {
        Self {
            users,
            sessions,
            passwords,
            clock,
            auth_type,
            expiry,
        }
    }

    /// The configured scheme.
    pub fn auth_type(&self) -> AuthType {
        self.auth_type
    }

    /// The session lifetimes in force.
    pub fn expiry(&self) -> Expiry {
        self.expiry
    }

    fn sessions(&self) -> Result<&Arc<dyn SessionStore>, Error> {
        self.sessions.as_ref().ok_or(Error::NotFound)
    }

    /// The gate: turns a request's credentials into who it runs as.
    ///
    /// 401 [`Error::Unauthorized`] when there are no credentials at all, 403
    /// [`Error::Forbidden`] when they do not resolve to a user.
    pub async fn authenticate(&self, creds: Credentials<'_>) -> Result<Authenticated, Error> {
        if self.auth_type == AuthType::None {
            return Ok(Authenticated {
                principal: Principal::Anonymous,
                session: None,
            });
        }
        if creds.authorization.is_none() && creds.session_token.is_none() {
            return Err(Error::Unauthorized);
        }
        match self.auth_type {
            AuthType::Basic => {
                let (email, password) = creds
                    .authorization
                    .and_then(parse_basic)
                    .ok_or(Error::Forbidden)?;
                let user = self
                    .check_password(&email, password)
                    .await?
                    .ok_or(Error::Forbidden)?;
                Ok(Authenticated {
                    principal: Principal::User(user),
                    session: None,
                })
            }
            AuthType::Session | AuthType::SessionExp | AuthType::SessionDb => {
                let token = creds.session_token.ok_or(Error::Forbidden)?;
                let (user, digest) = self.resolve_session(token).await?.ok_or(Error::Forbidden)?;
                Ok(Authenticated {
                    principal: Principal::User(user),
                    session: Some(digest),
                })
            }
            AuthType::Deny | AuthType::None => Err(Error::Forbidden),
        }
    }

    /// The user behind a session token, if the session exists and has not expired.
    async fn resolve_session(&self, token: &str) -> Result<Option<(User, Digest32)>, Error> {
        let store = self.sessions()?;
        let digest = token_digest(token);
        let Some(session) = store.get(&digest).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        if session.is_expired(now, self.expiry) {
            store.delete(&digest).await?;
            return Ok(None);
        }
        if let Some(idle) = self.expiry.idle
            && now - session.last_seen_at >= touch_interval(idle)
        {
            store.touch(&digest, now).await?;
        }
        Ok(self.users.get(&session.user_id).await?.map(|u| (u, digest)))
    }

    /// The user with this email if `password` is theirs. An unknown email costs the same time as
    /// a known one. A hash weaker than today's (or the original system's SHA-256) is replaced.
    async fn check_password(&self, email: &str, password: Secret) -> Result<Option<User>, Error> {
        let user = self.users.get_by_email(email).await?;
        let stored = user.as_ref().and_then(|u| u.password_hash.clone());
        let verified = self.passwords.verify(password.clone(), stored).await?;
        let Some(mut user) = user.filter(|_| verified.ok) else {
            return Ok(None);
        };
        if verified.needs_rehash {
            let hash = self.passwords.hash(password).await?;
            let now = self.clock.now();
            if let Err(e) = self.users.set_password(&user.id, &hash, now).await {
                tracing::warn!(user_id = %user.id, error = %e, "could not upgrade a password hash");
            } else {
                user.password_hash = Some(hash);
                tracing::info!(user_id = %user.id, "password hash upgraded to Argon2id");
            }
        }
        Ok(Some(user))
    }

    /// Logs in: checks the password, ends the session the request came with (if any) and starts
    /// a new one. Returns the user and the new session's token.
    pub async fn login(
        &self,
        email: &str,
        password: Secret,
        previous_token: Option<&str>,
        client: ClientInfo,
    ) -> Result<(User, Secret), Error> {
        let store = self.sessions()?.clone();
        let Some(user) = self.check_password(email, password).await? else {
            tracing::info!(event = "login_failed", "login failed");
            return Err(Error::WrongCredentials);
        };
        if let Some(previous) = previous_token {
            store.delete(&token_digest(previous)).await?;
        }
        let token = new_token().map_err(|e| Error::Internal(format!("OS random: {e}")))?;
        let now = self.clock.now();
        let session = Session {
            id: new_id(),
            digest: token_digest(token.expose()),
            user_id: user.id.clone(),
            created_at: now,
            last_seen_at: now,
            ip: client.ip,
            user_agent: client.user_agent,
        };
        store.insert(&session).await?;
        tracing::info!(event = "login", user_id = %user.id, session_id = %session.id, "login");
        Ok((user, token))
    }

    /// Logs out: deletes the session server-side.
    pub async fn logout(&self, auth: &Authenticated) -> Result<(), Error> {
        let store = self.sessions()?;
        let digest = auth.session.as_ref().ok_or(Error::NotFound)?;
        store.delete(digest).await?;
        if let Some(user) = auth.user() {
            tracing::info!(event = "logout", user_id = %user.id, "logout");
        }
        Ok(())
    }

    fn require_admin(actor: &Authenticated) -> Result<(), Error> {
        match &actor.principal {
            Principal::Anonymous => Ok(()),
            Principal::User(u) if u.is_admin => Ok(()),
            Principal::User(_) => Err(Error::Forbidden),
        }
    }

    /// Resolves `me` and checks that `actor` may act on user `id` (an admin, or the user itself).
    fn target<'a>(actor: &'a Authenticated, id: &'a str) -> Result<&'a str, Error> {
        match (&actor.principal, id) {
            (Principal::User(u), "me") => Ok(&u.id),
            (Principal::Anonymous, "me") => Err(Error::NotFound),
            (Principal::Anonymous, id) => Ok(id),
            (Principal::User(u), id) if u.is_admin || u.id == id => Ok(id),
            (Principal::User(_), _) => Err(Error::Forbidden),
        }
    }

    /// Validates and stores a new user (no authorization check: callers do that).
    pub async fn create_user(&self, new: NewUser) -> Result<User, Error> {
        validate_email(&new.email).map_err(Error::bad_request)?;
        validate_password(new.password.expose()).map_err(Error::bad_request)?;
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
        tracing::info!(event = "user_created", user_id = %user.id, admin = user.is_admin, "user created");
        Ok(user)
    }

    /// `POST /users`: an administrator makes a user.
    pub async fn create_user_as(&self, actor: &Authenticated, new: NewUser) -> Result<User, Error> {
        Self::require_admin(actor)?;
        self.create_user(new).await
    }

    /// `GET /users`: every user, for administrators.
    pub async fn list_users(&self, actor: &Authenticated) -> Result<Vec<User>, Error> {
        Self::require_admin(actor)?;
        Ok(self.users.list().await?)
    }

    /// Every user, for the command line.
    pub async fn all_users(&self) -> Result<Vec<User>, Error> {
        Ok(self.users.list().await?)
    }

    /// How many users there are.
    pub async fn count_users(&self) -> Result<u64, Error> {
        Ok(self.users.count().await?)
    }

    /// `GET /users/{id}`.
    pub async fn get_user(&self, actor: &Authenticated, id: &str) -> Result<User, Error> {
        let id = Self::target(actor, id)?;
        self.users.get(id).await?.ok_or(Error::NotFound)
    }

    /// `PUT /users/{id}`: sets the names given (`None` leaves a name as it is).
    pub async fn update_user(
        &self,
        actor: &Authenticated,
        id: &str,
        first_name: Option<String>,
        last_name: Option<String>,
    ) -> Result<User, Error> {
        let id = Self::target(actor, id)?;
        let mut user = self.users.get(id).await?.ok_or(Error::NotFound)?;
        if first_name.is_some() {
            user.first_name = first_name;
        }
        if last_name.is_some() {
            user.last_name = last_name;
        }
        user.updated_at = self.clock.now();
        if !self.users.update(&user).await? {
            return Err(Error::NotFound);
        }
        Ok(user)
    }

    /// `DELETE /users/{id}`: deletes the user and ends their sessions. Returns the deleted id.
    pub async fn delete_user_as(&self, actor: &Authenticated, id: &str) -> Result<String, Error> {
        let id = Self::target(actor, id)?.to_owned();
        self.delete_user(&id).await?;
        Ok(id)
    }

    /// Deletes a user and ends their sessions; [`Error::NotFound`] if there is none.
    pub async fn delete_user(&self, id: &str) -> Result<(), Error> {
        if !self.users.delete(id).await? {
            return Err(Error::NotFound);
        }
        let ended = self.revoke_sessions_of(id).await?;
        tracing::info!(event = "user_deleted", user_id = %id, sessions_ended = ended, "user deleted");
        Ok(())
    }

    /// Ends every session of a user; returns how many.
    pub async fn revoke_sessions_of(&self, user_id: &str) -> Result<u64, Error> {
        let Some(store) = &self.sessions else {
            return Ok(0);
        };
        let n = store.delete_for_user(user_id, None).await?;
        if n > 0 {
            tracing::info!(event = "sessions_revoked", user_id = %user_id, count = n, "sessions revoked");
        }
        Ok(n)
    }

    /// Finds a user by id, or else by email (ignoring case).
    pub async fn find_user(&self, id_or_email: &str) -> Result<User, Error> {
        if let Some(u) = self.users.get(id_or_email).await? {
            return Ok(u);
        }
        self.users
            .get_by_email(id_or_email)
            .await?
            .ok_or(Error::NotFound)
    }

    /// Grants or withdraws administrator rights.
    pub async fn set_admin(&self, id: &str, admin: bool) -> Result<User, Error> {
        let mut user = self.users.get(id).await?.ok_or(Error::NotFound)?;
        user.is_admin = admin;
        user.updated_at = self.clock.now();
        if !self.users.update(&user).await? {
            return Err(Error::NotFound);
        }
        Ok(user)
    }

    /// Sets a new password (checked against the policy) and ends every session of the user.
    pub async fn set_password(&self, id: &str, password: Secret) -> Result<u64, Error> {
        validate_password(password.expose()).map_err(Error::bad_request)?;
        let hash = self.passwords.hash(password).await?;
        if !self.users.set_password(id, &hash, self.clock.now()).await? {
            return Err(Error::NotFound);
        }
        tracing::info!(event = "password_changed", user_id = %id, "password changed");
        self.revoke_sessions_of(id).await
    }

    /// Deletes every expired session; returns how many.
    pub async fn purge_expired(&self) -> Result<u64, Error> {
        let Some(store) = &self.sessions else {
            return Ok(0);
        };
        if self.expiry == Expiry::default() {
            return Ok(0);
        }
        Ok(store.purge_expired(self.clock.now(), self.expiry).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_split_on_the_first_colon() {
        let h = format!("Basic {}", STANDARD.encode("bob@x.io:pa:ss"));
        let (email, pw) = parse_basic(h.as_bytes()).unwrap();
        assert_eq!(email, "bob@x.io");
        assert_eq!(pw.expose(), "pa:ss");
        assert!(parse_basic(b"Basic test").is_none());
        assert!(parse_basic(b"Bearer abc").is_none());
    }

    #[test]
    fn touch_interval_is_a_quarter_of_idle_at_most_a_minute() {
        assert_eq!(touch_interval(40), 10);
        assert_eq!(touch_interval(3600), 60);
        assert_eq!(touch_interval(2), 1);
    }
}
