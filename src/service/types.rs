//! What the service is and what it speaks in: the service itself, who a request runs as, the
//! credentials it brings, and the shapes of new and changed users and of sessions.

use std::net::IpAddr;
use std::sync::Arc;

use super::error::ServiceError;
use super::factors::MfaConfig;
use super::setup_link::SetupLink;
use super::throttle::Throttle;
use crate::auth::password::Passwords;
use crate::clock::Clock;
use crate::config::AuthType;
use crate::domain::{Digest32, Expiry, Secret, Session, User};
use crate::metrics::Metrics;
use crate::store::{RecordStore, SessionStore, UserStore};

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
    /// The session it came with, as stored, for session schemes.
    pub session: Option<Arc<Session>>,
    /// Whether it may only enrol a second factor (`MFA_REQUIRED` covers its user, who has
    /// none yet).
    pub enrol_only: bool,
}

impl Authenticated {
    /// The digest of the session the request came with, if any.
    pub fn digest(&self) -> Option<&Digest32> {
        self.session.as_ref().map(|s| &s.digest)
    }

    /// The user, if the request has one.
    pub fn user(&self) -> Option<&User> {
        match &self.principal {
            Principal::User(u) => Some(u),
            Principal::Anonymous => None,
        }
    }

    /// The user, or 404 when there is none (`AUTH_TYPE=none`).
    pub fn require_user(&self) -> Result<&User, ServiceError> {
        self.user().ok_or(ServiceError::NotFound)
    }
}

/// The `Authorization` header of a request, as the gate read it.
#[derive(Debug, Clone)]
pub enum Authorization {
    /// `Basic` credentials (read only under `basic_auth`).
    Basic {
        /// The email part.
        email: String,
        /// The password part.
        password: Secret,
    },
    /// A header that is not Basic credentials, or not read under this `AUTH_TYPE`.
    Other,
}

/// The credentials a request carries.
#[derive(Debug, Clone, Default)]
pub struct Credentials<'a> {
    /// The `Authorization` header, if any (an empty one counts as none).
    pub authorization: Option<Authorization>,
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

/// What `PUT /users/{id}` asks to change: the names, and the fields it may not change, sent
/// back unchanged by clients that PUT the user they read.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    /// A new first name, if given.
    pub first_name: Option<String>,
    /// A new last name, if given.
    pub last_name: Option<String>,
    /// The email, if sent: it must be the user's own.
    pub email: Option<String>,
    /// The admin flag, if sent: it must be the user's own.
    pub is_admin: Option<bool>,
}

/// One page of a list: its number (from 1) and how many items a page holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Which page, from 1.
    pub number: usize,
    /// Items per page.
    pub size: usize,
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
    /// The first-run setup link, while one is open.
    pub setup: Arc<SetupLink>,
    /// Second factors, ceremonies and pending sign-ins.
    pub records: Arc<dyn RecordStore>,
    /// How second factors are configured.
    pub mfa: Arc<MfaConfig>,
    /// Mail, when `SMTP_URL` is set.
    pub mail: Option<Arc<MailSettings>>,
}

/// What the mail-sending rules need to know.
#[derive(Debug, Default)]
pub struct MailSettings {
    /// `PUBLIC_URL` (or its default), without a trailing slash: the base of links.
    pub public_base: String,
    /// `SIGNUP=open`.
    pub signup_open: bool,
    /// Woken when mail is written, so the outbox worker sends it at once.
    pub wake: tokio::sync::Notify,
}

impl Service {
    /// The counters this service reports to.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Readiness: every store this service uses answers.
    pub async fn ready(&self) -> Result<(), ServiceError> {
        self.users.ping().await?;
        if let Some(store) = &self.sessions {
            store.ping().await?;
        }
        Ok(())
    }

    /// How many sessions the session store holds, if there is one.
    pub async fn session_count(&self) -> Result<Option<u64>, ServiceError> {
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

    pub(super) fn sessions(&self) -> Result<&Arc<dyn SessionStore>, ServiceError> {
        self.sessions.as_ref().ok_or(ServiceError::NotFound)
    }

    pub(super) fn require_admin(actor: &Authenticated) -> Result<(), ServiceError> {
        match &actor.principal {
            Principal::Anonymous => Ok(()),
            Principal::User(u) if u.is_admin => Ok(()),
            Principal::User(_) => Err(ServiceError::Forbidden),
        }
    }

    /// Resolves `me` and checks that `actor` may act on user `id` (an admin, or the user itself).
    pub(super) fn target<'a>(
        actor: &'a Authenticated,
        id: &'a str,
    ) -> Result<&'a str, ServiceError> {
        match (&actor.principal, id) {
            (Principal::User(u), "me") => Ok(&u.id),
            (Principal::Anonymous, "me") => Err(ServiceError::NotFound),
            (Principal::Anonymous, id) => Ok(id),
            (Principal::User(u), id) if u.is_admin || u.id == id => Ok(id),
            (Principal::User(_), _) => Err(ServiceError::Forbidden),
        }
    }
}

#[cfg(test)]
impl Service {
    /// A service over empty memory stores, with its clock at 0, for unit tests. The password
    /// hasher (which makes a dummy hash when built) is shared by every test.
    pub(crate) fn in_memory() -> Self {
        use crate::clock::ManualClock;
        use crate::domain::Policy;
        use crate::store::memory::{
            MemoryRecordStore, MemorySessionStore, MemoryThrottleStore, MemoryUserStore,
        };
        static PASSWORDS: std::sync::OnceLock<Passwords> = std::sync::OnceLock::new();
        let passwords = PASSWORDS.get_or_init(|| Passwords::new(1).unwrap());
        Self {
            users: Arc::new(MemoryUserStore::default()),
            sessions: Some(Arc::new(MemorySessionStore::default())),
            throttle: Throttle::new(
                Arc::new(MemoryThrottleStore::default()),
                Policy::ACCOUNT,
                None,
            ),
            passwords: passwords.clone(),
            clock: Arc::new(ManualClock::new(0)),
            auth_type: AuthType::SessionDb,
            expiry: Expiry::default(),
            metrics: Arc::new(Metrics::default()),
            setup: Arc::default(),
            records: Arc::new(MemoryRecordStore::default()),
            mail: None,
            mfa: Arc::new(
                MfaConfig::new(
                    crate::config::MfaRequired::Off,
                    600,
                    "localhost",
                    "http://localhost:5000",
                )
                .unwrap(),
            ),
        }
    }
}
