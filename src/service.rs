//! The rules of sesame: authentication, login and logout, session expiry and rotation,
//! throttling, users and who may act on them. No HTTP and no SQL here: handlers call in, stores
//! are reached through their traits.
//!
//! Audit events (`login`, `login_failed`, `login_throttled`, `logout`, `sessions_revoked`,
//! `password_changed`, ...) are log lines with target `audit` and an `event` field.

use std::net::IpAddr;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::clock::Clock;
use crate::config::{AuthType, Expiry};
use crate::domain::{
    Digest32, Secret, Session, User, email_key, new_id, new_token, token_digest, validate_email,
    validate_password,
};
use crate::error::Error;
use crate::metrics::{LoginOutcome, Metrics};
use crate::password::Passwords;
use crate::store::{JoinedUser, SessionStore, UserStore};
use crate::throttle::Throttle;

/// Who a request runs as.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A signed-in user.
    User(Arc<User>),
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

    /// The user, or 404 when there is none (`AUTH_TYPE=none`).
    fn require_user(&self) -> Result<&User, Error> {
        self.user().ok_or(Error::NotFound)
    }
}

/// The credentials a request carries, as raw as they came.
#[derive(Debug, Clone, Copy, Default)]
pub struct Credentials<'a> {
    /// The `Authorization` header, if any.
    pub authorization: Option<&'a [u8]>,
    /// The session cookie's value, if any.
    pub session_token: Option<&'a str>,
    /// The client's address, for throttling.
    pub client_ip: Option<IpAddr>,
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

/// A session as its owner sees it.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// The stored session.
    pub session: Session,
    /// When it ends at the latest (absolute or idle limit), if it has a limit.
    pub expires_at: Option<i64>,
    /// Whether the request came with this session.
    pub current: bool,
}

/// The service: every rule, over the stores. Built by `app` from the configuration.
#[derive(Clone)]
pub struct Service {
    /// Where users live.
    pub users: Arc<dyn UserStore>,
    /// Where sessions live, if `AUTH_TYPE` keeps any.
    pub sessions: Option<Arc<dyn SessionStore>>,
    /// Failed-login throttling.
    pub throttle: Throttle,
    /// Password hashing.
    pub passwords: Passwords,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// `AUTH_TYPE`.
    pub auth_type: AuthType,
    /// Session lifetimes.
    pub expiry: Expiry,
    /// Counters.
    pub metrics: Arc<Metrics>,
}

/// Longest time between two recorded uses of a session: `min(60 s, idle / 4)` with an idle
/// timeout, else 60 s. Reads rarely write, and a session ends at most a quarter early.
fn touch_interval(idle: Option<i64>) -> i64 {
    idle.map_or(60, |idle| (idle / 4).clamp(1, 60))
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

/// The password policy for a user's new password: length, and not the email itself.
fn check_new_password(email: &str, password: &Secret) -> Result<(), Error> {
    validate_password(password.expose()).map_err(Error::bad_request)?;
    if email_key(password.expose().trim()) == email_key(email) {
        return Err(Error::bad_request("password must not be the email address"));
    }
    Ok(())
}

impl Service {
    /// The counters this service reports to.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Readiness: every store this service uses answers.
    pub async fn ready(&self) -> Result<(), Error> {
        self.users.ping().await?;
        if let Some(store) = &self.sessions {
            store.ping().await?;
        }
        Ok(())
    }

    /// How many sessions the session store holds, if there is one.
    pub async fn session_count(&self) -> Result<Option<u64>, Error> {
        match &self.sessions {
            Some(store) => Ok(Some(store.count().await?)),
            None => Ok(None),
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
    /// [`Error::Forbidden`] when they do not resolve to a user, 429 when Basic credentials are
    /// throttled.
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
                let ip = creds.client_ip.map(|ip| ip.to_string());
                let user = self
                    .check_password(&email, password, ip.as_deref())
                    .await?
                    .ok_or(Error::Forbidden)?;
                Ok(Authenticated {
                    principal: Principal::User(Arc::new(user)),
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

    /// The user behind a session token, if the session exists and has not expired. Records the
    /// use at most once per [`touch_interval`], so most reads write nothing.
    async fn resolve_session(&self, token: &str) -> Result<Option<(Arc<User>, Digest32)>, Error> {
        let store = self.sessions()?;
        let digest = token_digest(token);
        let Some((session, joined)) = store.get_joined(&digest).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        if session.is_expired(now, self.expiry) {
            store.delete(&digest).await?;
            return Ok(None);
        }
        if now - session.last_seen_at >= touch_interval(self.expiry.idle) {
            store.touch(&digest, now).await?;
        }
        let user = match joined {
            JoinedUser::Found(user) => Some(user),
            JoinedUser::Gone => None,
            JoinedUser::NotHere => self.users.get_shared(&session.user_id).await?,
        };
        Ok(user.map(|u| (u, digest)))
    }

    /// The user with this email if `password` is theirs, under throttling: a throttled account
    /// or address is refused (429) before any check, a failure is counted. An unknown email
    /// costs the same time as a known one. A hash weaker than today's (or the original
    /// system's SHA-256) is replaced.
    async fn check_password(
        &self,
        email: &str,
        password: Secret,
        ip: Option<&str>,
    ) -> Result<Option<User>, Error> {
        if let Err(e) = self.throttle.check(email, ip, self.clock.now()).await {
            if matches!(e, Error::TooManyRequests { .. }) {
                self.metrics.login(LoginOutcome::Throttled);
            }
            return Err(e);
        }
        let user = self.users.get_by_email(email).await?;
        let stored = user.as_ref().and_then(|u| u.password_hash.clone());
        let verified = self.passwords.verify(password.clone(), stored).await?;
        let Some(mut user) = user.filter(|_| verified.ok) else {
            self.metrics.login(LoginOutcome::Failed);
            self.throttle.failed(email, ip, self.clock.now()).await?;
            tracing::info!(target: "audit", event = "login_failed", ip = ip.unwrap_or("-"), "wrong email or password");
            return Ok(None);
        };
        self.metrics.login(LoginOutcome::Ok);
        self.throttle.succeeded(email).await?;
        if verified.needs_rehash {
            let hash = self.passwords.hash(password).await?;
            if let Err(e) = self
                .users
                .set_password(&user.id, &hash, user.updated_at)
                .await
            {
                tracing::warn!(user_id = %user.id, error = %e, "could not upgrade a password hash");
            } else {
                user.password_hash = Some(hash);
                tracing::info!(target: "audit", event = "password_rehashed", user_id = %user.id, "password hash upgraded to Argon2id");
            }
        }
        Ok(Some(user))
    }

    /// Logs in: checks the password (throttled), ends the session the request came with (if
    /// any: no fixation) and starts a new one. Returns the user and the new session's token.
    pub async fn login(
        &self,
        email: &str,
        password: Secret,
        previous_token: Option<&str>,
        client: ClientInfo,
    ) -> Result<(User, Secret), Error> {
        let store = self.sessions()?.clone();
        let Some(user) = self
            .check_password(email, password, client.ip.as_deref())
            .await?
        else {
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
        tracing::info!(target: "audit", event = "login", user_id = %user.id, session_id = %session.id, "login");
        Ok((user, token))
    }

    /// Logs out: deletes the session server-side.
    pub async fn logout(&self, auth: &Authenticated) -> Result<(), Error> {
        let store = self.sessions()?;
        let digest = auth.session.as_ref().ok_or(Error::NotFound)?;
        store.delete(digest).await?;
        if let Some(user) = auth.user() {
            tracing::info!(target: "audit", event = "logout", user_id = %user.id, "logout");
        }
        Ok(())
    }

    /// `GET /users/me/sessions`: the caller's sessions, oldest first, the current one marked.
    pub async fn my_sessions(&self, auth: &Authenticated) -> Result<Vec<SessionInfo>, Error> {
        let store = self.sessions()?;
        let user = auth.require_user()?;
        let now = self.clock.now();
        let list = store.list_for_user(&user.id).await?;
        Ok(list
            .into_iter()
            .filter(|s| !s.is_expired(now, self.expiry))
            .map(|session| {
                let absolute = self
                    .expiry
                    .absolute
                    .map(|d| session.created_at.saturating_add(d));
                let idle = self
                    .expiry
                    .idle
                    .map(|i| session.last_seen_at.saturating_add(i));
                let expires_at = match (absolute, idle) {
                    (Some(a), Some(i)) => Some(a.min(i)),
                    (a, i) => a.or(i),
                };
                let current = auth.session == Some(session.digest);
                SessionInfo {
                    session,
                    expires_at,
                    current,
                }
            })
            .collect())
    }

    /// `DELETE /users/me/sessions/{id}`: ends one of the caller's sessions by its public id.
    /// Returns whether it was the current one.
    pub async fn revoke_my_session(&self, auth: &Authenticated, id: &str) -> Result<bool, Error> {
        let store = self.sessions()?;
        let user = auth.require_user()?;
        let session = store
            .list_for_user(&user.id)
            .await?
            .into_iter()
            .find(|s| s.id == id)
            .ok_or(Error::NotFound)?;
        store.delete(&session.digest).await?;
        tracing::info!(target: "audit", event = "session_revoked", user_id = %user.id, session_id = %id, "session revoked");
        Ok(auth.session == Some(session.digest))
    }

    /// `DELETE /users/me/sessions`: ends every session of the caller but the current one.
    pub async fn revoke_my_other_sessions(&self, auth: &Authenticated) -> Result<u64, Error> {
        let store = self.sessions()?;
        let user = auth.require_user()?;
        let n = store
            .delete_for_user(&user.id, auth.session.as_ref())
            .await?;
        tracing::info!(target: "audit", event = "sessions_revoked", user_id = %user.id, count = n, scope = "others", "other sessions revoked");
        Ok(n)
    }

    /// `DELETE /users/{id}/sessions`: an administrator ends every session of a user.
    pub async fn revoke_sessions_as(&self, actor: &Authenticated, id: &str) -> Result<u64, Error> {
        Self::require_admin(actor)?;
        self.sessions()?;
        let id = Self::target(actor, id)?;
        let user = self.users.get(id).await?.ok_or(Error::NotFound)?;
        self.revoke_sessions_of(&user.id).await
    }

    /// `PUT /users/me/password`: checks the current password (a wrong one counts as a failed
    /// login), applies the policy, and ends every other session of the user.
    pub async fn change_my_password(
        &self,
        auth: &Authenticated,
        current: Secret,
        new: Secret,
        ip: Option<&str>,
    ) -> Result<u64, Error> {
        let user = auth.require_user()?;
        check_new_password(&user.email, &new)?;
        if self
            .check_password(&user.email, current, ip)
            .await?
            .is_none_or(|u| u.id != user.id)
        {
            return Err(Error::Forbidden);
        }
        let hash = self.passwords.hash(new).await?;
        if !self
            .users
            .set_password(&user.id, &hash, self.clock.now())
            .await?
        {
            return Err(Error::NotFound);
        }
        let ended = match &self.sessions {
            Some(store) => {
                store
                    .delete_for_user(&user.id, auth.session.as_ref())
                    .await?
            }
            None => 0,
        };
        tracing::info!(target: "audit", event = "password_changed", user_id = %user.id, sessions_ended = ended, "password changed");
        Ok(ended)
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
    ///
    /// The caller's own record is the one authentication just read: it is answered without
    /// reading the store again.
    pub async fn get_user(&self, actor: &Authenticated, id: &str) -> Result<Arc<User>, Error> {
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
            .ok_or(Error::NotFound)
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
        tracing::info!(target: "audit", event = "user_deleted", user_id = %id, sessions_ended = ended, "user deleted");
        Ok(())
    }

    /// Ends every session of a user; returns how many.
    pub async fn revoke_sessions_of(&self, user_id: &str) -> Result<u64, Error> {
        let Some(store) = &self.sessions else {
            return Ok(0);
        };
        let n = store.delete_for_user(user_id, None).await?;
        tracing::info!(target: "audit", event = "sessions_revoked", user_id = %user_id, count = n, scope = "all", "sessions revoked");
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
        tracing::info!(target: "audit", event = "admin_changed", user_id = %id, admin, "administrator rights changed");
        Ok(user)
    }

    /// Sets a new password (checked against the policy) and ends every session of the user.
    pub async fn set_password(&self, id: &str, password: Secret) -> Result<u64, Error> {
        let user = self.users.get(id).await?.ok_or(Error::NotFound)?;
        check_new_password(&user.email, &password)?;
        let hash = self.passwords.hash(password).await?;
        if !self.users.set_password(id, &hash, self.clock.now()).await? {
            return Err(Error::NotFound);
        }
        let ended = self.revoke_sessions_of(id).await?;
        tracing::info!(target: "audit", event = "password_changed", user_id = %id, sessions_ended = ended, "password set");
        Ok(ended)
    }

    /// Deletes every expired session and forgotten throttling state; returns how many sessions.
    pub async fn purge_expired(&self) -> Result<u64, Error> {
        let now = self.clock.now();
        self.throttle.purge(now).await?;
        let Some(store) = &self.sessions else {
            return Ok(0);
        };
        if self.expiry == Expiry::default() {
            return Ok(0);
        }
        Ok(store.purge_expired(now, self.expiry).await?)
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
        assert_eq!(touch_interval(Some(40)), 10);
        assert_eq!(touch_interval(Some(3600)), 60);
        assert_eq!(touch_interval(Some(2)), 1);
        assert_eq!(touch_interval(None), 60);
    }

    #[test]
    fn a_new_password_may_not_be_the_email() {
        assert!(check_new_password("bob@hbtn.io", &Secret::new("BOB@hbtn.io")).is_err());
        assert!(check_new_password("bob@hbtn.io", &Secret::new("bob@hbtn.io2")).is_ok());
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// `basic` with each letter's case chosen by `upper`.
    fn scheme_in_case(upper: &[bool]) -> String {
        "basic"
            .chars()
            .zip(upper)
            .map(|(c, &u)| if u { c.to_ascii_uppercase() } else { c })
            .collect()
    }

    /// Header bytes that sometimes look like Basic credentials, mostly not.
    fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
        let prefix = prop_oneof![
            Just(Vec::new()),
            Just(b"Basic ".to_vec()),
            Just(b"bAsIc  ".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..8),
        ];
        let rest = prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64),
            proptest::collection::vec(any::<u8>(), 0..48)
                .prop_map(|b| STANDARD.encode(b).into_bytes()),
            "[A-Za-z0-9+/=: \t]{0,40}".prop_map(String::into_bytes),
            (any::<String>(), any::<String>(), "[ \t]{0,2}").prop_map(|(a, b, pad)| format!(
                "{}{pad}",
                STANDARD.encode(format!("{a}:{b}"))
            )
            .into_bytes()),
        ];
        (prefix, rest).prop_map(|(mut p, r)| {
            p.extend(r);
            p
        })
    }

    proptest! {
        #[test]
        fn arbitrary_header_bytes_never_panic_and_only_a_canonical_basic_header_gives_credentials(
            header in header_bytes(),
        ) {
            if let Some((email, password)) = parse_basic(&header) {
                // What came out must be exactly what the header encodes: the scheme is `basic`
                // in some case, and the rest is the canonical base64 of `email:password`.
                let text = std::str::from_utf8(&header).unwrap();
                let (scheme, encoded) = text.split_once(' ').unwrap();
                prop_assert!(scheme.eq_ignore_ascii_case("basic"));
                prop_assert!(!email.contains(':'));
                prop_assert_eq!(
                    encoded.trim(),
                    STANDARD.encode(format!("{email}:{}", password.expose()))
                );
            }
        }

        #[test]
        fn a_basic_header_with_any_email_without_a_colon_and_any_password_round_trips(
            email in "[^:]*",
            password in prop_oneof![any::<String>(), "(:|\\PC){0,20}"],
            upper in proptest::collection::vec(any::<bool>(), 5),
            spaces in 0usize..3,
        ) {
            let header = format!(
                "{} {}{}",
                scheme_in_case(&upper),
                " ".repeat(spaces),
                STANDARD.encode(format!("{email}:{password}"))
            );
            let (got_email, got_password) = parse_basic(header.as_bytes()).unwrap();
            prop_assert_eq!(got_email, email);
            prop_assert_eq!(got_password.expose(), password);
        }

        #[test]
        fn a_header_with_another_scheme_gives_no_credentials(
            scheme in prop_oneof![
                "[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,12}",
                Just("Basic1".to_owned()),
                Just("basi".to_owned()),
                Just("Bearer".to_owned()),
                Just("Digest".to_owned()),
                Just("xbasic".to_owned()),
            ]
            .prop_filter("not basic", |s| !s.eq_ignore_ascii_case("basic")),
            email in "[^:]*",
            password in any::<String>(),
        ) {
            let header = format!("{scheme} {}", STANDARD.encode(format!("{email}:{password}")));
            prop_assert!(parse_basic(header.as_bytes()).is_none());
        }

        #[test]
        fn decoded_credentials_without_a_colon_give_none(
            text in "[^:]*",
            upper in proptest::collection::vec(any::<bool>(), 5),
        ) {
            let header = format!("{} {}", scheme_in_case(&upper), STANDARD.encode(&text));
            prop_assert!(parse_basic(header.as_bytes()).is_none());
        }
    }
}
