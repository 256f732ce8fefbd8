//! Second factors and step-up: TOTP, recovery codes, the sign-in that waits for a second
//! factor, re-authentication, and the policy that requires a second factor. Passkeys, the
//! third kind of factor, are in `passkeys`.
//!
//! # What is stored, and where
//!
//! Everything here is a small record of the database's [`RecordStore`], so every instance on
//! the database sees it and it survives restarts, whatever store the sessions are in:
//!
//! - `factors/<user id>`: the user's [`Factors`] (the TOTP secret and the last step accepted, a
//!   TOTP enrolment awaiting its first code, the digests of the recovery codes, the passkeys).
//!   One record per user, changed only by compare-and-set ([`Service::update_factors`]): two
//!   requests racing with one TOTP code or one recovery code read the same version, and only
//!   one of their writes lands, so a code is accepted once.
//! - `pending/<digest of the token>`: a sign-in whose password was right and whose second
//!   factor is awaited ([`Pending`]), for [`PENDING_LIFETIME`] seconds. Its token starts with
//!   [`PENDING_PREFIX`], so the gate tells it from a session token without reading anything,
//!   and no session store ever holds it: it opens nothing but the second-factor step. The step
//!   takes the record (single use) and starts a real session with a new token.
//! - `reauth/<digest of the session's token>`: when a credential was last presented in a
//!   session (its `authenticated_at`, if later than the session's start) and which factors,
//!   for as long as it is fresh (`REAUTH_MAX_AGE`); after that it no longer matters.
//! - `passkey/<credential id>` and `ceremony/<digest of the challenge>`: see `passkeys`.
//!
//! # The rules
//!
//! - TOTP is RFC 6238 (SHA-1, 6 digits, 30-second steps) with one step of drift either way. The
//!   step of every accepted code is kept, and a code is accepted only for a later step, so a
//!   code (or an older one) is never accepted twice.
//! - Recovery codes: 10 of 80 bits each, shown once, kept as SHA-256 digests (80 random bits
//!   make a digest as good as a slow hash); one burns when used.
//! - Wrong codes count toward the account's throttle exactly like wrong passwords, and a right
//!   password no longer clears the count for a user with a second factor: only the whole
//!   sign-in does. Knowing the password therefore buys no fresh guesses at the code.
//! - A sensitive action needs the session's `authenticated_at` within `REAUTH_MAX_AGE`;
//!   `POST /auth_session/reauth` (password, code or passkey) refreshes it.

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use totp_rs::{Algorithm, TOTP};

use super::error::ServiceError;
use super::factors::{
    Factors, PENDING_LIFETIME, PENDING_PREFIX, Pending, Reauth, SecondFactor, SignIn,
    TotpEnrolment, TotpFactor, credential_key, factors_key, is_pending_token, json, parse,
    pending_key, reauth_key,
};
use super::types::{Authenticated, ClientInfo, Principal, Service};
use crate::domain::{Digest32, Secret, User, new_token, token_digest};

/// TOTP step, in seconds.
const TOTP_STEP: i64 = 30;
/// How many recovery codes a set has.
const RECOVERY_CODES: usize = 10;
/// Compare-and-set attempts before giving up on a record everybody is writing.
const CAS_ATTEMPTS: usize = 16;

fn random_bytes<const N: usize>() -> Result<[u8; N], ServiceError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| ServiceError::Internal(format!("OS random: {e}")))?;
    Ok(bytes)
}

fn totp_of(secret: &str, issuer: &str, account: &str) -> Result<TOTP, ServiceError> {
    let bytes = totp_rs::Secret::Encoded(secret.to_owned())
        .to_bytes()
        .map_err(|e| ServiceError::Internal(format!("a stored TOTP secret: {e:?}")))?;
    Ok(TOTP::new_unchecked(
        Algorithm::SHA1,
        6,
        1,
        TOTP_STEP as u64,
        bytes,
        Some(issuer.replace(':', " ")),
        account.replace(':', " "),
    ))
}

/// Logs a wrong second factor (already counted by [`Throttle::attempt`]) and returns the
/// error to answer.
///
/// [`Throttle::attempt`]: super::throttle::Throttle::attempt
pub(super) fn wrong_code(user: &User, ip: Option<&str>) -> ServiceError {
    tracing::info!(target: "audit", event = "second_factor_failed", user_id = %user.id, ip = ip.unwrap_or("-"), "wrong second factor");
    ServiceError::WrongCode
}

/// The step of `code` at `now` (one step of drift either way), if it is later than `after`.
fn matching_step(totp: &TOTP, code: &str, now: i64, after: Option<i64>) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = now.div_euclid(TOTP_STEP);
    (current - 1..=current + 1)
        .filter(|step| *step >= 0 && after.is_none_or(|a| *step > a))
        .find(|step| {
            let expected = totp.generate((*step * TOTP_STEP) as u64);
            bool::from(expected.as_bytes().ct_eq(code.as_bytes()))
        })
}

/// A recovery code as the user types it, normalised: lower case, no spaces or dashes.
fn normalise_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn code_digest(code: &str) -> String {
    hex::encode(Sha256::digest(normalise_code(code).as_bytes()))
}

/// Ten new recovery codes (`xxxx-xxxx-xxxx-xxxx`, 80 bits each) and their digests.
fn new_recovery_codes() -> Result<(Vec<String>, Vec<String>), ServiceError> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let bytes = random_bytes::<16>()?;
        let chars: Vec<u8> = bytes
            .iter()
            .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()])
            .collect();
        let groups: Vec<&str> = chars
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap_or_default())
            .collect();
        codes.push(groups.join("-"));
    }
    let digests = codes.iter().map(|c| code_digest(c)).collect();
    Ok((codes, digests))
}

impl Service {
    /// The user's second factors and the version of their record (`None`: no record).
    pub(super) async fn factors(
        &self,
        user_id: &str,
    ) -> Result<(Factors, Option<i64>), ServiceError> {
        let now = self.clock.now();
        match self.records.get(&factors_key(user_id), now).await? {
            Some(r) => Ok((parse(&r.value)?, Some(r.version))),
            None => Ok((Factors::default(), None)),
        }
    }

    /// Changes the user's factors with `change`, by compare-and-set: read, change, write if
    /// nobody wrote in between, else again from the read. An error from `change` writes
    /// nothing.
    pub(super) async fn update_factors<T>(
        &self,
        user_id: &str,
        mut change: impl FnMut(&mut Factors) -> Result<T, ServiceError>,
    ) -> Result<T, ServiceError> {
        let key = factors_key(user_id);
        for _ in 0..CAS_ATTEMPTS {
            let (mut factors, version) = self.factors(user_id).await?;
            let out = change(&mut factors)?;
            let now = self.clock.now();
            if self
                .records
                .put(&key, &json(&factors)?, version, None, now)
                .await?
            {
                return Ok(out);
            }
        }
        Err(ServiceError::Internal(format!(
            "the factors of {user_id} kept changing"
        )))
    }

    /// `GET /users/me/mfa`: the caller's factors.
    pub async fn my_factors(&self, auth: &Authenticated) -> Result<Factors, ServiceError> {
        let user = auth.require_user()?;
        Ok(self.factors(&user.id).await?.0)
    }

    /// After a right password from a signed-in user: clears the account's failed attempts,
    /// unless the user has a second factor (then only a whole sign-in, second factor included,
    /// does: a known password must not buy fresh guesses at the code).
    pub(super) async fn password_succeeded(&self, user: &User) -> Result<(), ServiceError> {
        if !self.has_second_factor(user).await? {
            self.throttle.succeeded(&user.email).await?;
        }
        Ok(())
    }

    /// Whether `user` has a second factor.
    pub async fn has_second_factor(&self, user: &User) -> Result<bool, ServiceError> {
        Ok(self.factors(&user.id).await?.0.any())
    }

    /// Whether a session of `user` opens only enrolment: `MFA_REQUIRED` covers them and they
    /// have no second factor yet.
    pub(super) async fn enrol_only(&self, user: &User) -> Result<bool, ServiceError> {
        if !self.mfa.required.applies(user.is_admin) {
            return Ok(false);
        }
        Ok(!self.has_second_factor(user).await?)
    }

    /// After a right password: a session if the user has no second factor, else a pending
    /// sign-in that waits for one.
    pub(super) async fn after_password(
        &self,
        user: User,
        client: ClientInfo,
        now: i64,
    ) -> Result<SignIn, ServiceError> {
        let (factors, _) = self.factors(&user.id).await?;
        if !factors.any() {
            self.throttle.succeeded(&user.email).await?;
            let token = self.start_session(&user, client, now).await?;
            return Ok(SignIn::Done(user, token));
        }
        let token = new_token().map_err(|e| ServiceError::Internal(format!("OS random: {e}")))?;
        let token = Secret::new(format!("{PENDING_PREFIX}{}", token.expose()));
        let pending = Pending {
            user_id: user.id.clone(),
            ip: client.ip,
            user_agent: client.user_agent,
            created_at: now,
        };
        let key = pending_key(&token_digest(token.expose()));
        self.records
            .put(
                &key,
                &json(&pending)?,
                None,
                Some(now + PENDING_LIFETIME),
                now,
            )
            .await?;
        tracing::info!(target: "audit", event = "second_factor_awaited", user_id = %user.id, "password accepted, second factor awaited");
        Ok(SignIn::SecondFactor(token, factors.methods()))
    }

    /// The pending sign-in of `token`, if it is live; 401 `second factor required` is what
    /// every other route answers it.
    pub async fn pending(&self, token: &str) -> Result<Option<Pending>, ServiceError> {
        if !is_pending_token(token) {
            return Ok(None);
        }
        let now = self.clock.now();
        match self
            .records
            .get(&pending_key(&token_digest(token)), now)
            .await?
        {
            Some(r) => Ok(Some(parse(&r.value)?)),
            None => Ok(None),
        }
    }

    /// Abandons the pending sign-in of `token` (a logout before the second factor).
    pub async fn cancel_pending(&self, token: &str) -> Result<(), ServiceError> {
        self.records
            .delete(&pending_key(&token_digest(token)))
            .await?;
        Ok(())
    }

    /// The pending sign-in of `token` and its user, or 403 when there is none (it ended, or it
    /// never was).
    pub(super) async fn pending_user(&self, token: &str) -> Result<(Pending, User), ServiceError> {
        let pending = self.pending(token).await?.ok_or(ServiceError::Forbidden)?;
        let user = self
            .users
            .get(&pending.user_id)
            .await?
            .ok_or(ServiceError::Forbidden)?;
        Ok((pending, user))
    }

    /// `POST /auth_session/mfa`: finishes a pending sign-in with a TOTP or recovery code,
    /// under the account's throttle. Success ends the pending sign-in and starts a session
    /// with a new token.
    pub async fn finish_sign_in(
        &self,
        token: &str,
        factor: SecondFactor,
        ip: Option<&str>,
    ) -> Result<(User, Secret), ServiceError> {
        let (_, user) = self.pending_user(token).await?;
        let now = self.clock.now();
        self.throttle.attempt(&user.email, ip, now).await?;
        let used = match &factor {
            SecondFactor::Totp(code) => self.use_totp(&user, code).await?,
            SecondFactor::Recovery(code) => self.use_recovery_code(&user, code).await?,
        };
        let Some(kind) = used else {
            return Err(wrong_code(&user, ip));
        };
        self.complete_sign_in(token, &user, kind).await
    }

    /// Ends a pending sign-in whose second factor was right: takes its record (so of two racing
    /// finishes one wins) and starts the session.
    pub(super) async fn complete_sign_in(
        &self,
        token: &str,
        user: &User,
        factor: &'static str,
    ) -> Result<(User, Secret), ServiceError> {
        let now = self.clock.now();
        let key = pending_key(&token_digest(token));
        let pending: Pending = match self.records.take(&key, now).await? {
            Some(r) => parse(&r.value)?,
            None => return Err(ServiceError::Forbidden),
        };
        // A password changed (or reset) since the password step ends the pending sign-in.
        if user.updated_at > pending.created_at {
            return Err(ServiceError::Forbidden);
        }
        self.throttle.succeeded(&user.email).await?;
        let client = ClientInfo {
            ip: pending.ip,
            user_agent: pending.user_agent,
        };
        let session_token = self.start_session(user, client, now).await?;
        self.mark_authenticated(&token_digest(session_token.expose()), &["password", factor])
            .await?;
        tracing::info!(target: "audit", event = "second_factor_used", user_id = %user.id, factor, "second factor accepted");
        Ok((user.clone(), session_token))
    }

    /// Accepts a TOTP code of `user` once: `Some("totp")` if it is right and of a step later
    /// than the last one accepted (which it then becomes).
    pub(super) async fn use_totp(
        &self,
        user: &User,
        code: &str,
    ) -> Result<Option<&'static str>, ServiceError> {
        let now = self.clock.now();
        let issuer = self.mfa.issuer.clone();
        self.update_factors(&user.id, |f| {
            // No TOTP is a wrong code too, and an error writes nothing.
            let totp = f.totp.as_mut().ok_or(ServiceError::WrongCode)?;
            let t = totp_of(&totp.secret, &issuer, &user.email)?;
            match matching_step(&t, code, now, totp.last_step) {
                Some(step) => {
                    totp.last_step = Some(step);
                    Ok(Some("totp"))
                }
                None => Err(ServiceError::WrongCode),
            }
        })
        .await
        .or_else(|e| match e {
            ServiceError::WrongCode => Ok(None),
            e => Err(e),
        })
    }

    /// Burns one recovery code of `user`: `Some("recovery_code")` if it was one.
    async fn use_recovery_code(
        &self,
        user: &User,
        code: &str,
    ) -> Result<Option<&'static str>, ServiceError> {
        let digest = code_digest(code);
        let used = self
            .update_factors(&user.id, |f| {
                let at = f
                    .recovery
                    .iter()
                    .position(|d| bool::from(d.as_bytes().ct_eq(digest.as_bytes())))
                    .ok_or(ServiceError::WrongCode)?;
                f.recovery.remove(at);
                Ok(f.recovery.len())
            })
            .await;
        match used {
            Ok(left) => {
                tracing::info!(target: "audit", event = "recovery_code_used", user_id = %user.id, left, "recovery code used");
                Ok(Some("recovery_code"))
            }
            Err(ServiceError::WrongCode) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Records that a credential was presented in the session of `digest` now.
    pub(super) async fn mark_authenticated(
        &self,
        digest: &Digest32,
        factors: &[&str],
    ) -> Result<(), ServiceError> {
        let now = self.clock.now();
        let key = reauth_key(digest);
        let record = json(&Reauth {
            at: now,
            factors: factors.iter().map(|f| (*f).to_owned()).collect(),
        })?;
        let expires = Some(now + self.mfa.reauth_max_age);
        for _ in 0..CAS_ATTEMPTS {
            let version = self.records.get(&key, now).await?.map(|r| r.version);
            if self
                .records
                .put(&key, &record, version, expires, now)
                .await?
            {
                return Ok(());
            }
        }
        Err(ServiceError::Internal(
            "a re-authentication kept racing".into(),
        ))
    }

    /// When a credential was last presented in the request's session: its start, or the last
    /// re-authentication. Basic credentials are presented with every request.
    pub async fn authenticated_at(&self, auth: &Authenticated) -> Result<i64, ServiceError> {
        let now = self.clock.now();
        let Some(session) = &auth.session else {
            return Ok(now);
        };
        let reauth = self.records.get(&reauth_key(&session.digest), now).await?;
        let later = match reauth {
            Some(r) => parse::<Reauth>(&r.value)?.at,
            None => i64::MIN,
        };
        Ok(session.created_at.max(later))
    }

    /// 403 `reauthentication required` unless a credential was presented in the request's
    /// session within `REAUTH_MAX_AGE`.
    pub async fn require_fresh(&self, auth: &Authenticated) -> Result<(), ServiceError> {
        if matches!(auth.principal, Principal::Anonymous) {
            return Ok(());
        }
        let at = self.authenticated_at(auth).await?;
        if self.clock.now() - at > self.mfa.reauth_max_age {
            return Err(ServiceError::ReauthRequired);
        }
        Ok(())
    }

    /// `POST /auth_session/reauth` with a password or a TOTP code: refreshes the session's
    /// `authenticated_at`. Wrong ones count toward the account's throttle.
    pub async fn reauthenticate(
        &self,
        auth: &Authenticated,
        password: Option<Secret>,
        code: Option<&str>,
        ip: Option<&str>,
    ) -> Result<i64, ServiceError> {
        let user = auth.require_user()?;
        let digest = auth.digest().ok_or(ServiceError::NotFound)?;
        let now = self.clock.now();
        let factor = match (password, code) {
            (Some(password), _) => {
                self.check_password(&user.email, password, ip, now)
                    .await?
                    .filter(|u| u.id == user.id)
                    .ok_or(ServiceError::WrongCurrentPassword)?;
                self.password_succeeded(user).await?;
                "password"
            }
            (None, Some(code)) => {
                self.throttle.attempt(&user.email, ip, now).await?;
                match self.use_totp(user, code).await? {
                    Some(kind) => {
                        self.throttle.succeeded(&user.email).await?;
                        kind
                    }
                    None => return Err(wrong_code(user, ip)),
                }
            }
            (None, None) => return Err(ServiceError::invalid("password or code missing")),
        };
        self.mark_authenticated(digest, &[factor]).await?;
        tracing::info!(target: "audit", event = "reauthenticated", user_id = %user.id, factor, "re-authenticated");
        Ok(now)
    }

    /// `POST /users/me/totp`: starts a TOTP enrolment (replacing one not yet confirmed).
    pub async fn start_totp(&self, auth: &Authenticated) -> Result<TotpEnrolment, ServiceError> {
        let user = auth.require_user()?;
        self.require_fresh(auth).await?;
        let secret = totp_rs::Secret::Raw(random_bytes::<20>()?.to_vec()).to_encoded();
        let secret = secret.to_string();
        let now = self.clock.now();
        let pending = secret.clone();
        self.update_factors(&user.id, |f| {
            if f.totp.is_some() {
                return Err(ServiceError::Conflict("TOTP is already enabled"));
            }
            f.totp_pending = Some(TotpFactor {
                secret: pending.clone(),
                last_step: None,
                created_at: now,
            });
            Ok(())
        })
        .await?;
        let uri = totp_of(&secret, &self.mfa.issuer, &user.email)?.get_url();
        let qr = qrcode::QrCode::new(uri.as_bytes())
            .map_err(|e| ServiceError::Internal(format!("QR code: {e}")))?;
        let qr_svg = qr
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build();
        Ok(TotpEnrolment {
            secret,
            otpauth_uri: uri,
            qr_svg,
        })
    }

    /// `POST /users/me/totp/confirm`: the first code confirms the enrolment. Returns a new set
    /// of recovery codes; every other session of the user ends.
    pub async fn confirm_totp(
        &self,
        auth: &Authenticated,
        code: &str,
    ) -> Result<Vec<String>, ServiceError> {
        let user = auth.require_user()?;
        self.require_fresh(auth).await?;
        let now = self.clock.now();
        let issuer = self.mfa.issuer.clone();
        let (codes, digests) = new_recovery_codes()?;
        self.update_factors(&user.id, |f| {
            let pending = f
                .totp_pending
                .as_ref()
                .ok_or(ServiceError::Conflict("no TOTP enrolment to confirm"))?;
            let t = totp_of(&pending.secret, &issuer, &user.email)?;
            let step = matching_step(&t, code, now, None).ok_or(ServiceError::WrongCode)?;
            f.totp = Some(TotpFactor {
                secret: pending.secret.clone(),
                last_step: Some(step),
                created_at: now,
            });
            f.totp_pending = None;
            f.recovery.clone_from(&digests);
            Ok(())
        })
        .await?;
        let ended = self.end_other_sessions(auth, &user.id).await?;
        tracing::info!(target: "audit", event = "second_factor_enrolled", user_id = %user.id, factor = "totp", sessions_ended = ended, "TOTP enabled");
        Ok(codes)
    }

    /// Ends every session of `user_id` but the request's.
    pub(super) async fn end_other_sessions(
        &self,
        auth: &Authenticated,
        user_id: &str,
    ) -> Result<u64, ServiceError> {
        match &self.sessions {
            Some(store) => Ok(store.delete_for_user(user_id, auth.digest()).await?),
            None => Ok(0),
        }
    }

    /// `DELETE /users/me/totp`: removes TOTP (and the recovery codes, when no factor is left).
    pub async fn remove_totp(&self, auth: &Authenticated) -> Result<(), ServiceError> {
        let user = auth.require_user()?;
        self.require_fresh(auth).await?;
        self.update_factors(&user.id, |f| {
            if f.totp.take().is_none() && f.totp_pending.take().is_none() {
                return Err(ServiceError::NotFound);
            }
            if !f.any() {
                f.recovery.clear();
            }
            Ok(())
        })
        .await?;
        tracing::info!(target: "audit", event = "second_factor_removed", user_id = %user.id, factor = "totp", "TOTP removed");
        Ok(())
    }

    /// `POST /users/me/recovery_codes`: a new set of recovery codes; the old set is void.
    pub async fn new_recovery_codes(
        &self,
        auth: &Authenticated,
    ) -> Result<Vec<String>, ServiceError> {
        let user = auth.require_user()?;
        self.require_fresh(auth).await?;
        let (codes, digests) = new_recovery_codes()?;
        self.update_factors(&user.id, |f| {
            if !f.any() {
                return Err(ServiceError::Conflict(
                    "recovery codes need a second factor first",
                ));
            }
            f.recovery.clone_from(&digests);
            Ok(())
        })
        .await?;
        tracing::info!(target: "audit", event = "recovery_codes_renewed", user_id = %user.id, "recovery codes renewed");
        Ok(codes)
    }

    /// `DELETE /users/{id}/mfa`: an administrator (whose session is fresh) removes a user's
    /// second factors and ends their sessions.
    pub async fn reset_mfa_as(&self, actor: &Authenticated, id: &str) -> Result<(), ServiceError> {
        Self::require_admin(actor)?;
        self.require_fresh(actor).await?;
        let user = self.users.get(id).await?.ok_or(ServiceError::NotFound)?;
        self.reset_mfa(&user).await?;
        Ok(())
    }

    /// Removes every second factor of `user` and ends their sessions (the command line's
    /// `sesame user reset-mfa`); returns how many sessions ended.
    pub async fn reset_mfa(&self, user: &User) -> Result<u64, ServiceError> {
        // Sessions first: none of them can enrol anew between the two.
        let ended = self.revoke_sessions_of(&user.id).await?;
        self.forget_factors(&user.id).await?;
        tracing::info!(target: "audit", event = "second_factors_reset", user_id = %user.id, sessions_ended = ended, "second factors reset by an administrator");
        Ok(ended)
    }

    /// Deletes the factors record of a user and the index entries of their passkeys.
    pub(super) async fn forget_factors(&self, user_id: &str) -> Result<(), ServiceError> {
        let now = self.clock.now();
        if let Some(r) = self.records.take(&factors_key(user_id), now).await? {
            let factors: Factors = parse(&r.value)?;
            for p in &factors.passkeys {
                self.records
                    .delete(&credential_key(p.passkey.cred_id()))
                    .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totp() -> TOTP {
        totp_of("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "sesame", "a@b.c").unwrap()
    }

    #[test]
    fn a_code_matches_its_step_and_one_step_of_drift_either_way_only() {
        let t = totp();
        let now = 1_000_000_020;
        let step = now / TOTP_STEP;
        for (offset, accepted) in [(-2, false), (-1, true), (0, true), (1, true), (2, false)] {
            let code = t.generate(((step + offset) * TOTP_STEP) as u64);
            let got = matching_step(&t, &code, now, None);
            if accepted {
                assert_eq!(got, Some(step + offset), "offset {offset}");
            } else if let Some(s) = got {
                // A code of another step may collide with a nearby one (1 in 10^6).
                assert!((s - step).abs() <= 1);
            }
        }
    }

    #[test]
    fn a_code_of_a_step_already_used_or_older_is_refused() {
        let t = totp();
        let now = 1_000_000_020;
        let step = now / TOTP_STEP;
        let code = t.generate((step * TOTP_STEP) as u64);
        assert_eq!(matching_step(&t, &code, now, Some(step - 1)), Some(step));
        assert_eq!(matching_step(&t, &code, now, Some(step)), None);
        assert_eq!(matching_step(&t, "12345", now, None), None);
        assert_eq!(matching_step(&t, "abcdef", now, None), None);
    }

    #[test]
    fn recovery_codes_are_distinct_and_typed_loosely() {
        let (codes, digests) = new_recovery_codes().unwrap();
        assert_eq!(codes.len(), 10);
        let unique: std::collections::HashSet<_> = digests.iter().collect();
        assert_eq!(unique.len(), 10);
        assert_eq!(codes[0].len(), 19);
        assert_eq!(
            code_digest(&codes[0].to_uppercase().replace('-', " ")),
            digests[0]
        );
    }
}
