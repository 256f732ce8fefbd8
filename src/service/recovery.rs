//! Account recovery, e-mail verification and sign-up: what they write, and the mails they
//! cause. The mails themselves go out through the outbox (`crate::mail`).
//!
//! # Records
//!
//! - `reset/<hex digest of the token>` → the user, and `reset-latest/<user id>` → that digest:
//!   a password-reset token (256 bits from the OS, only its digest kept) for
//!   [`TOKEN_LIFETIME`] seconds. A newer token replaces the pointer, and a password change
//!   deletes it, so a token whose digest is not the latest is void. The use takes the token's
//!   record: once.
//! - `verify/<digest>` and `verify-latest/<subject>`: the same for e-mail verification, of a
//!   user (`POST /users/me/verify_email`) or of a sign-up (`signup:<email>`). A sign-up's
//!   token holds the whole account to make (email, names, password hash): the account is made
//!   only when its link is opened. Until then there is no account at all, so nothing about a
//!   sign-up, not even a login with its password, tells whether the address had one. Users made
//!   any other way (an administrator, the command line, the import, the first-run setup) are
//!   verified.
//!
//! # No enumeration, nothing lost
//!
//! A reset or sign-up request does the same work whatever the address: the sign-up's password
//! is hashed either way, and the request is written to the outbox as a job, in one write, and
//! answered 202. The worker does the rest off the request path: for a reset, finds the user (or
//! nobody, and drops the job) and writes the token's records and the mail in one transaction;
//! for a sign-up, writes the verification token (holding the account to make) and its mail in
//! one transaction, or, when the address is taken, a "you already have an account" mail. A
//! crash between a job's transaction and its end runs the job again: at worst a second mail,
//! whose token voids the first. Requests for mail are throttled per address and per email.

use serde::{Deserialize, Serialize};

use super::error::ServiceError;
use super::factors::{json, parse};
use super::types::{Authenticated, MailSettings, Service};
use super::users::check_new_password;
use crate::domain::{Secret, User, email_key, new_id, new_token, token_digest, validate_email};
use crate::store::{OutboxEntry, StoreError, Write};

/// What a link that cannot be used is told.
const BAD_LINK: &str = "the link is not valid: it was used, replaced or is too old";

/// Seconds a reset or verification link works.
pub const TOKEN_LIFETIME: i64 = 900;

/// A mail as the outbox keeps it until it is sent.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Mail {
    /// The recipient's address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body.
    pub html: String,
}

/// What a sign-up asks for.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SignupJob {
    email: String,
    first_name: Option<String>,
    last_name: Option<String>,
    password_hash: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ResetJob {
    email: String,
}

/// What a token is for, as its record keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "for", rename_all = "snake_case")]
enum TokenFor {
    /// A user: a reset of their password, or a check of their address.
    User { user_id: String },
    /// A sign-up: the account to make once the address is verified.
    Signup(SignupJob),
}

impl TokenFor {
    /// What the latest token is kept per: the user, or the address signed up.
    fn subject(&self) -> String {
        match self {
            Self::User { user_id } => user_id.clone(),
            Self::Signup(job) => format!("signup:{}", email_key(&job.email)),
        }
    }
}

/// The kind of outbox entry that is a mail to send.
pub const MAIL: &str = "mail";
const RESET_REQUEST: &str = "reset_request";
const SIGNUP_REQUEST: &str = "signup_request";

/// The two kinds of token.
#[derive(Debug, Clone, Copy)]
enum Purpose {
    Reset,
    Verify,
}

impl Purpose {
    fn prefix(self) -> &'static str {
        match self {
            Self::Reset => "reset",
            Self::Verify => "verify",
        }
    }

    fn key(self, digest_hex: &str) -> String {
        format!("{}/{digest_hex}", self.prefix())
    }

    fn latest(self, user_id: &str) -> String {
        format!("{}-latest/{user_id}", self.prefix())
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A mail with one link: `lead` (a sentence), the link, and how long it works.
fn link_mail(to: &str, subject: &str, lead: &str, link: &str, ignore: &str) -> Mail {
    let minutes = TOKEN_LIFETIME / 60;
    Mail {
        to: to.to_owned(),
        subject: subject.to_owned(),
        text: format!(
            "{lead}\n\n{link}\n\nThe link works once, for {minutes} minutes.\n\n{ignore}\n"
        ),
        html: format!(
            "<!doctype html><html><body style=\"font-family:sans-serif\"><p>{}</p>\
             <p><a href=\"{}\">{}</a></p><p>The link works once, for {minutes} minutes.</p>\
             <p>{}</p></body></html>",
            escape(lead),
            escape(link),
            escape(subject),
            escape(ignore)
        ),
    }
}

fn outbox_entry(kind: &str, payload: String, now: i64) -> OutboxEntry {
    OutboxEntry {
        id: new_id(),
        kind: kind.to_owned(),
        payload,
        created_at: now,
        due_at: now,
        attempts: 0,
    }
}

impl Service {
    fn mail_settings(&self) -> Result<&MailSettings, ServiceError> {
        self.mail.as_deref().ok_or(ServiceError::NotFound)
    }

    /// Counts a request for mail about `email` from `ip`; 429 while either must wait.
    async fn throttle_mail(&self, email: &str, ip: Option<&str>) -> Result<(), ServiceError> {
        self.throttle
            .mail_request(email, ip, self.clock.now())
            .await
    }

    /// Writes `writes` and wakes the outbox worker.
    async fn commit(&self, writes: &[Write<'_>]) -> Result<bool, ServiceError> {
        let done = self.records.apply(writes, self.clock.now()).await?;
        if done && let Some(mail) = &self.mail {
            mail.wake.notify_one();
        }
        Ok(done)
    }

    /// `POST /auth_session/reset_password`: the same answer, in the same time, for any email.
    pub async fn request_password_reset(
        &self,
        email: &str,
        ip: Option<&str>,
    ) -> Result<(), ServiceError> {
        self.mail_settings()?;
        self.throttle_mail(email, ip).await?;
        let job = json(&ResetJob {
            email: email.to_owned(),
        })?;
        let entry = outbox_entry(RESET_REQUEST, job, self.clock.now());
        self.commit(&[Write::Outbox(&entry)]).await?;
        Ok(())
    }

    /// Writes a new token of `purpose` for `target` (voiding the one before) and its mail, in
    /// one transaction.
    async fn new_token_mail(
        &self,
        purpose: Purpose,
        target: TokenFor,
        mail: impl FnOnce(&str) -> Mail,
    ) -> Result<(), ServiceError> {
        let settings = self.mail_settings()?;
        let now = self.clock.now();
        let token = new_token().map_err(|e| ServiceError::Internal(format!("OS random: {e}")))?;
        let digest = hex::encode(token_digest(token.expose()));
        // The web front's page for a link is named as its records are.
        let link = format!(
            "{}/{}?token={}",
            settings.public_base,
            purpose.prefix(),
            token.expose()
        );
        let mail = json(&mail(&link))?;
        let record = json(&target)?;
        let latest_key = purpose.latest(&target.subject());
        let entry = outbox_entry(MAIL, mail, now);
        let expires = Some(now + TOKEN_LIFETIME);
        for _ in 0..8 {
            let previous = self.records.get(&latest_key, now).await?;
            let old_key = previous.as_ref().map(|r| purpose.key(&r.value));
            let token_key = purpose.key(&digest);
            let mut writes = vec![
                Write::Put {
                    key: &token_key,
                    value: &record,
                    expected: None,
                    expires_at: expires,
                },
                Write::Put {
                    key: &latest_key,
                    value: &digest,
                    expected: previous.as_ref().map(|r| r.version),
                    expires_at: expires,
                },
                Write::Outbox(&entry),
            ];
            if let Some(old) = &old_key {
                writes.push(Write::Delete(old));
            }
            if self.commit(&writes).await? {
                return Ok(());
            }
        }
        Err(ServiceError::Internal("a token kept racing".into()))
    }

    /// What a live token of `purpose` is for, without using it up; 400 when it is not live or
    /// not the latest.
    async fn peek_token(&self, purpose: Purpose, token: &str) -> Result<TokenFor, ServiceError> {
        let now = self.clock.now();
        let digest = hex::encode(token_digest(token));
        let Some(record) = self.records.get(&purpose.key(&digest), now).await? else {
            return Err(ServiceError::invalid(BAD_LINK));
        };
        let target: TokenFor = parse(&record.value)?;
        let latest = self
            .records
            .get(&purpose.latest(&target.subject()), now)
            .await?;
        if latest.is_none_or(|r| r.value != digest) {
            return Err(ServiceError::invalid(BAD_LINK));
        }
        Ok(target)
    }

    /// Uses up a token of `purpose`: what it is for, if it is live, unused and the latest.
    async fn take_token(&self, purpose: Purpose, token: &str) -> Result<TokenFor, ServiceError> {
        let target = self.peek_token(purpose, token).await?;
        self.use_token(purpose, token, &target).await?;
        Ok(target)
    }

    /// Uses up a token [`Self::peek_token`] found for `target`; 400 when a racing use took it
    /// first.
    async fn use_token(
        &self,
        purpose: Purpose,
        token: &str,
        target: &TokenFor,
    ) -> Result<(), ServiceError> {
        let now = self.clock.now();
        let digest = hex::encode(token_digest(token));
        if self
            .records
            .take(&purpose.key(&digest), now)
            .await?
            .is_none()
        {
            return Err(ServiceError::invalid(BAD_LINK));
        }
        self.records
            .delete(&purpose.latest(&target.subject()))
            .await?;
        Ok(())
    }

    /// The user a token is for; 400 when it is for no (longer existing) user.
    async fn user_of(&self, target: &TokenFor) -> Result<User, ServiceError> {
        let TokenFor::User { user_id } = target else {
            return Err(ServiceError::invalid(BAD_LINK));
        };
        self.users
            .get(user_id)
            .await?
            .ok_or(ServiceError::invalid(BAD_LINK))
    }

    /// Voids the user's password-reset token, if any (a password change does).
    pub(super) async fn void_reset_token(&self, user_id: &str) -> Result<(), ServiceError> {
        self.records.delete(&Purpose::Reset.latest(user_id)).await?;
        Ok(())
    }

    /// `PUT /auth_session/reset_password`: sets the new password and ends every session of
    /// the user. A password the policy refuses leaves the link usable.
    pub async fn reset_password(&self, token: &str, password: Secret) -> Result<(), ServiceError> {
        self.mail_settings()?;
        let target = self.peek_token(Purpose::Reset, token).await?;
        let user = self.user_of(&target).await?;
        check_new_password(&user.email, &password)?;
        self.use_token(Purpose::Reset, token, &target).await?;
        let ended = self.set_password(&user.id, password).await?;
        tracing::info!(target: "audit", event = "password_reset", user_id = %user.id, sessions_ended = ended, "password reset by mail");
        Ok(())
    }

    /// `POST /users/me/verify_email`: mails the caller a verification link.
    pub async fn request_verification(
        &self,
        auth: &Authenticated,
        ip: Option<&str>,
    ) -> Result<(), ServiceError> {
        self.mail_settings()?;
        let user = auth.require_user()?;
        self.throttle_mail(&user.email, ip).await?;
        let target = TokenFor::User {
            user_id: user.id.clone(),
        };
        self.verification_mail(&user.email, target).await
    }

    async fn verification_mail(&self, to: &str, target: TokenFor) -> Result<(), ServiceError> {
        self.new_token_mail(Purpose::Verify, target, |link| {
            link_mail(
                to,
                "Verify your e-mail address",
                "Open this link to verify your e-mail address for sesame:",
                link,
                "If you did not ask for this, ignore this mail.",
            )
        })
        .await
    }

    /// `PUT /auth_session/verify_email`: the link's user, verified; for a sign-up's link, the
    /// account is made now.
    pub async fn verify_email(&self, token: &str) -> Result<User, ServiceError> {
        self.mail_settings()?;
        let user = match self.take_token(Purpose::Verify, token).await? {
            target @ TokenFor::User { .. } => self.user_of(&target).await?,
            TokenFor::Signup(job) => self.create_signed_up(job).await?,
        };
        tracing::info!(target: "audit", event = "email_verified", user_id = %user.id, "e-mail verified");
        Ok(user)
    }

    /// `POST /auth_session/signup` (with `SIGNUP=open`): the same answer, in the same time,
    /// whether or not the email is taken.
    pub async fn signup(
        &self,
        email: &str,
        password: Secret,
        names: (Option<String>, Option<String>),
        ip: Option<&str>,
    ) -> Result<(), ServiceError> {
        let settings = self.mail_settings()?;
        if !settings.signup_open {
            return Err(ServiceError::NotFound);
        }
        validate_email(email).map_err(ServiceError::invalid)?;
        check_new_password(email, &password)?;
        self.throttle_mail(email, ip).await?;
        let password_hash = self.passwords.hash(password).await?;
        let job = json(&SignupJob {
            email: email.to_owned(),
            first_name: names.0,
            last_name: names.1,
            password_hash,
        })?;
        let entry = outbox_entry(SIGNUP_REQUEST, job, self.clock.now());
        self.commit(&[Write::Outbox(&entry)]).await?;
        Ok(())
    }

    /// Does the work of an outbox job (anything but a mail); `Ok` when it is done.
    pub async fn run_job(&self, entry: &OutboxEntry) -> Result<(), ServiceError> {
        match entry.kind.as_str() {
            RESET_REQUEST => {
                let job: ResetJob = parse(&entry.payload)?;
                self.reset_mail(&job.email).await
            }
            SIGNUP_REQUEST => self.signup_mail(parse(&entry.payload)?).await,
            other => Err(ServiceError::Internal(format!(
                "an outbox entry of an unknown kind {other:?}"
            ))),
        }
    }

    async fn reset_mail(&self, email: &str) -> Result<(), ServiceError> {
        let Some(user) = self.users.get_by_email(email).await? else {
            return Ok(());
        };
        let target = TokenFor::User {
            user_id: user.id.clone(),
        };
        self.new_token_mail(Purpose::Reset, target, |link| {
            link_mail(
                &user.email,
                "Reset your password",
                "Someone (we hope you) asked to reset the password of your sesame account. \
                 Open this link to choose a new one:",
                link,
                "If it was not you, ignore this mail: your password stays as it is.",
            )
        })
        .await?;
        tracing::info!(target: "audit", event = "password_reset_mailed", user_id = %user.id, "password reset link mailed");
        Ok(())
    }

    /// A sign-up's mail: the verification link, or, for a taken address, a notice.
    async fn signup_mail(&self, job: SignupJob) -> Result<(), ServiceError> {
        if let Some(existing) = self.users.get_by_email(&job.email).await? {
            return self.already_registered_mail(&existing).await;
        }
        let to = job.email.clone();
        self.verification_mail(&to, TokenFor::Signup(job)).await
    }

    /// Makes the account of a sign-up whose address was just verified.
    async fn create_signed_up(&self, job: SignupJob) -> Result<User, ServiceError> {
        let now = self.clock.now();
        let user = User {
            id: new_id(),
            email: job.email,
            password_hash: Some(job.password_hash),
            first_name: job.first_name,
            last_name: job.last_name,
            created_at: now,
            updated_at: now,
            is_admin: false,
        };
        match self.users.create(&user).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => {
                return Err(ServiceError::invalid(
                    "this address has an account already: sign in, or ask for a password reset",
                ));
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(target: "audit", event = "user_signed_up", user_id = %user.id, "account made by sign-up");
        Ok(user)
    }

    async fn already_registered_mail(&self, user: &User) -> Result<(), ServiceError> {
        let settings = self.mail_settings()?;
        let now = self.clock.now();
        let base = &settings.public_base;
        let mail = Mail {
            to: user.email.clone(),
            subject: "You already have an account".to_owned(),
            text: format!(
                "Someone (we hope you) tried to sign up to sesame with this address, which \
                 already has an account.\n\nSign in: {base}/signin\nForgot your password? \
                 {base}/forgot\n\nIf it was not you, ignore this mail.\n"
            ),
            html: format!(
                "<!doctype html><html><body style=\"font-family:sans-serif\"><p>Someone (we \
                 hope you) tried to sign up to sesame with this address, which already has an \
                 account.</p><p><a href=\"{0}/signin\">Sign in</a> or <a \
                 href=\"{0}/forgot\">reset your password</a>.</p><p>If it was not you, ignore \
                 this mail.</p></body></html>",
                escape(base)
            ),
        };
        let entry = outbox_entry(MAIL, json(&mail)?, now);
        self.commit(&[Write::Outbox(&entry)]).await?;
        Ok(())
    }
}
