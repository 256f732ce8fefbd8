//! Passkeys (WebAuthn, discoverable credentials) through webauthn-rs: registration, listing
//! and removal, passwordless sign-in, and a passkey as the second factor of a pending sign-in
//! or as the credential of a re-authentication.
//!
//! # Ceremonies
//!
//! Every ceremony has two halves, `start` (options for the browser) and `finish` (the
//! browser's signed answer). webauthn-rs hands back, with the options, the state the finish
//! needs (its `danger-allow-state-serialisation` feature makes that state serialisable); it is
//! kept server side, never sent to the browser:
//!
//! - under `ceremony/<hex SHA-256 of the challenge>`, a record of the database, so any instance
//!   can finish what another started, and a restart loses nothing;
//! - for [`CEREMONY_LIFETIME`] seconds, and taken (read and deleted in one step) by the finish,
//!   so a state serves once: a replayed answer finds nothing;
//! - with what it is for ([`Ceremony`]): the user and session that registered, the pending
//!   sign-in it finishes. A finish checks that the request comes from the same.
//!
//! The key is the challenge itself: 32 random bytes webauthn-rs draws, which the browser
//! echoes inside the signed `clientDataJSON`. The finish reads the challenge from there to find
//! its state, and webauthn-rs then checks it against the state's own copy. No cookie or handle
//! is needed, and guessing a key is guessing the challenge.
//!
//! # Credentials
//!
//! A passkey lives in its user's `factors/<user id>` record (with its name and dates), and
//! `passkey/<base64url credential id>` names its user, written only if absent, so one credential
//! id belongs to one account. webauthn-rs refuses an assertion whose signature counter did not
//! grow (a cloned authenticator) and one from another origin; the counter it reports is saved.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use webauthn_rs::prelude::{
    CreationChallengeResponse, DiscoverableAuthentication, DiscoverableKey, Passkey,
    PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, Uuid,
};
use webauthn_rs_proto::ResidentKeyRequirement;

use super::error::ServiceError;
use super::factors::{CEREMONY_LIFETIME, Factors, StoredPasskey, credential_key, parse};
use super::mfa::wrong_code;
use super::types::{Authenticated, ClientInfo, Service};
use crate::domain::{Digest32, Secret, User, new_id, token_digest};

/// What a ceremony's state is for, as stored under `ceremony/<digest of the challenge>`.
#[derive(Serialize, Deserialize)]
enum Ceremony {
    /// Registering a passkey for a user, from one of their sessions.
    Register {
        user_id: String,
        session: String,
        state: PasskeyRegistration,
    },
    /// Signing in with any discoverable passkey.
    SignIn { state: DiscoverableAuthentication },
    /// Finishing a pending sign-in, or re-authenticating a session (`session`: the hex digest
    /// of the pending token or of the session token).
    Assert {
        user_id: String,
        session: String,
        state: PasskeyAuthentication,
    },
}

fn ceremony_key(challenge: &[u8]) -> String {
    format!("ceremony/{}", hex::encode(Sha256::digest(challenge)))
}

fn internal(what: &str, e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(format!("{what}: {e}"))
}

/// The challenge a browser signed, read from its `clientDataJSON`.
fn signed_challenge(client_data_json: &[u8]) -> Result<Vec<u8>, ServiceError> {
    #[derive(Deserialize)]
    struct ClientData {
        challenge: String,
    }
    let data: ClientData = serde_json::from_slice(client_data_json)
        .map_err(|_| ServiceError::invalid("credential: clientDataJSON is not valid"))?;
    URL_SAFE_NO_PAD
        .decode(data.challenge.trim_end_matches('='))
        .map_err(|_| ServiceError::invalid("credential: the challenge is not base64url"))
}

/// The WebAuthn user handle of a user: their id when it is a uuid (every user sesame makes),
/// else a uuid derived from it (imported ids).
fn user_handle(user: &User) -> Uuid {
    Uuid::parse_str(&user.id).unwrap_or_else(|_| {
        let digest = Sha256::digest(format!("sesame user {}", user.id).as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    })
}

/// Parses a browser's credential JSON as `T`; 400 `credential: ...` when it is not one.
pub fn credential<T: for<'de> Deserialize<'de>>(
    value: &serde_json::Value,
) -> Result<T, ServiceError> {
    T::deserialize(value).map_err(|e| ServiceError::Invalid(format!("credential: {e}").into()))
}

impl Service {
    async fn keep_ceremony(
        &self,
        challenge: &[u8],
        ceremony: &Ceremony,
    ) -> Result<(), ServiceError> {
        let now = self.clock.now();
        let text = serde_json::to_string(ceremony).map_err(|e| internal("ceremony", e))?;
        let written = self
            .records
            .put(
                &ceremony_key(challenge),
                &text,
                None,
                Some(now + CEREMONY_LIFETIME),
                now,
            )
            .await?;
        if !written {
            return Err(ServiceError::Internal("a challenge came twice".into()));
        }
        Ok(())
    }

    /// Takes the ceremony a browser's answer belongs to; 400 when there is none (it ended, was
    /// finished already, or never was).
    async fn take_ceremony(&self, client_data_json: &[u8]) -> Result<Ceremony, ServiceError> {
        let challenge = signed_challenge(client_data_json)?;
        let now = self.clock.now();
        match self.records.take(&ceremony_key(&challenge), now).await? {
            Some(r) => parse(&r.value),
            None => Err(ServiceError::invalid(
                "no passkey ceremony for this answer: it ended or was used; start again",
            )),
        }
    }

    /// `POST /users/me/passkeys/register/start`: creation options for a new passkey.
    pub async fn start_passkey_registration(
        &self,
        auth: &Authenticated,
    ) -> Result<CreationChallengeResponse, ServiceError> {
        let user = auth.require_user()?;
        let digest = auth.digest().ok_or(ServiceError::NotFound)?;
        self.require_fresh(auth).await?;
        let (factors, _) = self.factors(&user.id).await?;
        let exclude = factors
            .passkeys
            .iter()
            .map(|p| p.passkey.cred_id().clone())
            .collect::<Vec<_>>();
        let (mut options, state) = self
            .mfa
            .webauthn
            .start_passkey_registration(
                user_handle(user),
                &user.email,
                &display_name(user),
                Some(exclude),
            )
            .map_err(|e| internal("passkey registration", e))?;
        // Sign-in without a password needs the credential on the authenticator (discoverable).
        if let Some(sel) = options.public_key.authenticator_selection.as_mut() {
            sel.resident_key = Some(ResidentKeyRequirement::Required);
            sel.require_resident_key = true;
        }
        let ceremony = Ceremony::Register {
            user_id: user.id.clone(),
            session: hex::encode(digest),
            state,
        };
        self.keep_ceremony(&options.public_key.challenge, &ceremony)
            .await?;
        Ok(options)
    }

    /// `POST /users/me/passkeys/register/finish`: verifies the new credential and keeps it
    /// under `name`.
    pub async fn finish_passkey_registration(
        &self,
        auth: &Authenticated,
        name: &str,
        answer: &RegisterPublicKeyCredential,
    ) -> Result<StoredPasskey, ServiceError> {
        let user = auth.require_user()?;
        let digest = auth.digest().ok_or(ServiceError::NotFound)?;
        self.require_fresh(auth).await?;
        let Ceremony::Register {
            user_id,
            session,
            state,
        } = self
            .take_ceremony(&answer.response.client_data_json)
            .await?
        else {
            return Err(ServiceError::invalid(
                "this answer is not for a registration",
            ));
        };
        if user_id != user.id || session != hex::encode(digest) {
            return Err(ServiceError::invalid(
                "this registration was started elsewhere",
            ));
        }
        let passkey = self
            .mfa
            .webauthn
            .finish_passkey_registration(answer, &state)
            .map_err(|e| ServiceError::Invalid(format!("credential refused: {e}").into()))?;
        let now = self.clock.now();
        let key = credential_key(passkey.cred_id());
        if !self.records.put(&key, &user.id, None, None, now).await? {
            return Err(ServiceError::Conflict("this passkey is already registered"));
        }
        let stored = StoredPasskey {
            id: new_id(),
            name: name.to_owned(),
            created_at: now,
            last_used_at: None,
            passkey,
        };
        let added = stored.clone();
        let result = self
            .update_factors(&user.id, |f| {
                f.passkeys.push(added.clone());
                Ok(())
            })
            .await;
        if let Err(e) = result {
            self.records.delete(&key).await?;
            return Err(e);
        }
        tracing::info!(target: "audit", event = "second_factor_enrolled", user_id = %user.id, factor = "passkey", passkey_id = %stored.id, "passkey registered");
        Ok(stored)
    }

    /// `GET /users/me/passkeys`.
    pub async fn my_passkeys(
        &self,
        auth: &Authenticated,
    ) -> Result<Vec<StoredPasskey>, ServiceError> {
        let user = auth.require_user()?;
        Ok(self.factors(&user.id).await?.0.passkeys)
    }

    /// `DELETE /users/me/passkeys/{id}`.
    pub async fn remove_passkey(&self, auth: &Authenticated, id: &str) -> Result<(), ServiceError> {
        let user = auth.require_user()?;
        self.require_fresh(auth).await?;
        let removed = self
            .update_factors(&user.id, |f| {
                let at = f
                    .passkeys
                    .iter()
                    .position(|p| p.id == id)
                    .ok_or(ServiceError::NotFound)?;
                let removed = f.passkeys.remove(at);
                if !f.any() {
                    f.recovery.clear();
                }
                Ok(removed)
            })
            .await?;
        self.records
            .delete(&credential_key(removed.passkey.cred_id()))
            .await?;
        tracing::info!(target: "audit", event = "second_factor_removed", user_id = %user.id, factor = "passkey", passkey_id = %id, "passkey removed");
        Ok(())
    }

    /// `POST /auth_session/passkey/start`: request options for signing in with any passkey.
    /// Throttled per client address: each start keeps a ceremony for 5 minutes.
    pub async fn start_passkey_sign_in(
        &self,
        ip: Option<&str>,
    ) -> Result<RequestChallengeResponse, ServiceError> {
        self.throttle.stateful_request(ip, self.clock.now()).await?;
        let (mut options, state) = self
            .mfa
            .webauthn
            .start_discoverable_authentication()
            .map_err(|e| internal("passkey sign-in", e))?;
        // A button press, not the autofill of conditional mediation.
        options.mediation = None;
        self.keep_ceremony(&options.public_key.challenge, &Ceremony::SignIn { state })
            .await?;
        Ok(options)
    }

    /// `POST /auth_session/passkey/finish`: a passkey answer signs its user in (a passkey is
    /// two factors: the device and its PIN or biometric). Ends `previous` (rotation).
    pub async fn finish_passkey_sign_in(
        &self,
        answer: &PublicKeyCredential,
        previous: Option<&str>,
        client: ClientInfo,
    ) -> Result<(User, Secret), ServiceError> {
        let Ceremony::SignIn { state } = self
            .take_ceremony(&answer.response.client_data_json)
            .await?
        else {
            return Err(ServiceError::invalid("this answer is not for a sign-in"));
        };
        let now = self.clock.now();
        let owner = self
            .records
            .get(&credential_key(answer.raw_id.as_ref()), now)
            .await?
            .ok_or(ServiceError::WrongCode)?
            .value;
        let user = self
            .users
            .get(&owner)
            .await?
            .ok_or(ServiceError::WrongCode)?;
        let (handle, _) = self
            .mfa
            .webauthn
            .identify_discoverable_authentication(answer)
            .map_err(|_| ServiceError::WrongCode)?;
        if handle != user_handle(&user) {
            return Err(ServiceError::WrongCode);
        }
        self.verify_assertion(&user, answer, |webauthn, passkey| {
            webauthn.finish_discoverable_authentication(
                answer,
                state.clone(),
                &[DiscoverableKey::from(passkey)],
            )
        })
        .await?;
        if let (Some(previous), Some(store)) = (previous, &self.sessions) {
            store.delete(&token_digest(previous)).await?;
        }
        let token = self.start_session(&user, client, now).await?;
        self.mark_authenticated(&token_digest(token.expose()), &["passkey"])
            .await?;
        Ok((user, token))
    }

    /// Checks an assertion against the user's passkey it names with `finish`, then saves the
    /// counter and the time of use. A refused assertion counts toward the account's throttle.
    async fn verify_assertion(
        &self,
        user: &User,
        answer: &PublicKeyCredential,
        finish: impl Fn(
            &webauthn_rs::Webauthn,
            &Passkey,
        ) -> webauthn_rs::prelude::WebauthnResult<
            webauthn_rs::prelude::AuthenticationResult,
        >,
    ) -> Result<(), ServiceError> {
        let now = self.clock.now();
        self.throttle.attempt(&user.email, None, now).await?;
        let (factors, _) = self.factors(&user.id).await?;
        let passkey = find_passkey(&factors, answer.raw_id.as_ref())?;
        let result = match finish(&self.mfa.webauthn, &passkey.passkey) {
            Ok(result) => result,
            Err(e) => {
                tracing::info!(user_id = %user.id, error = %e, "passkey assertion refused");
                return Err(wrong_code(user, None));
            }
        };
        let id = passkey.id.clone();
        // The credential the assertion was checked against must still be the stored one: two
        // assertions racing (a cloned authenticator used twice at once) were both checked
        // against the same counter, and only the first to save may pass.
        let checked = serde_json::to_value(&passkey.passkey).map_err(|e| internal("passkey", e))?;
        self.update_factors(&user.id, |f| {
            let p = f
                .passkeys
                .iter_mut()
                .find(|p| p.id == id)
                .ok_or(ServiceError::WrongCode)?;
            if serde_json::to_value(&p.passkey).ok().as_ref() != Some(&checked) {
                return Err(ServiceError::WrongCode);
            }
            p.passkey.update_credential(&result);
            p.last_used_at = Some(now);
            Ok(())
        })
        .await?;
        self.throttle.succeeded(&user.email).await?;
        tracing::info!(target: "audit", event = "passkey_used", user_id = %user.id, passkey_id = %id, "passkey used");
        Ok(())
    }

    /// `POST /auth_session/mfa/passkey/start` (a pending sign-in) and
    /// `POST /auth_session/reauth/passkey/start` (a session): request options for the user's
    /// own passkeys, for the pending sign-in or session whose token has `digest`.
    async fn start_passkey_assertion(
        &self,
        user: &User,
        digest: &Digest32,
    ) -> Result<RequestChallengeResponse, ServiceError> {
        let (factors, _) = self.factors(&user.id).await?;
        let passkeys: Vec<Passkey> = factors.passkeys.iter().map(|p| p.passkey.clone()).collect();
        if passkeys.is_empty() {
            return Err(ServiceError::Conflict("no passkey registered"));
        }
        let (options, state) = self
            .mfa
            .webauthn
            .start_passkey_authentication(&passkeys)
            .map_err(|e| internal("passkey assertion", e))?;
        let ceremony = Ceremony::Assert {
            user_id: user.id.clone(),
            session: hex::encode(digest),
            state,
        };
        self.keep_ceremony(&options.public_key.challenge, &ceremony)
            .await?;
        Ok(options)
    }

    /// Checks a passkey answer to [`Self::start_passkey_assertion`] from the same token.
    async fn finish_passkey_assertion(
        &self,
        user: &User,
        digest: &Digest32,
        answer: &PublicKeyCredential,
    ) -> Result<(), ServiceError> {
        let Ceremony::Assert {
            user_id,
            session,
            state,
        } = self
            .take_ceremony(&answer.response.client_data_json)
            .await?
        else {
            return Err(ServiceError::invalid("this answer is not for this step"));
        };
        if user_id != user.id || session != hex::encode(digest) {
            return Err(ServiceError::invalid(
                "this passkey step was started elsewhere",
            ));
        }
        self.verify_assertion(user, answer, |webauthn, _| {
            webauthn.finish_passkey_authentication(answer, &state)
        })
        .await
    }

    /// `POST /auth_session/mfa/passkey/start`: options for the pending sign-in of `token`.
    pub async fn start_second_factor_passkey(
        &self,
        token: &str,
    ) -> Result<RequestChallengeResponse, ServiceError> {
        let (_, user) = self.pending_user(token).await?;
        self.start_passkey_assertion(&user, &token_digest(token))
            .await
    }

    /// `POST /auth_session/mfa/passkey/finish`: a passkey finishes the pending sign-in.
    pub async fn finish_second_factor_passkey(
        &self,
        token: &str,
        answer: &PublicKeyCredential,
    ) -> Result<(User, Secret), ServiceError> {
        let (_, user) = self.pending_user(token).await?;
        self.finish_passkey_assertion(&user, &token_digest(token), answer)
            .await?;
        self.complete_sign_in(token, &user, "passkey").await
    }

    /// `POST /auth_session/reauth/passkey/start`: options to re-authenticate the session.
    pub async fn start_reauth_passkey(
        &self,
        auth: &Authenticated,
    ) -> Result<RequestChallengeResponse, ServiceError> {
        let user = auth.require_user()?;
        let digest = auth.digest().ok_or(ServiceError::NotFound)?;
        self.start_passkey_assertion(user, digest).await
    }

    /// `POST /auth_session/reauth` with a passkey answer: refreshes `authenticated_at`.
    pub async fn reauthenticate_with_passkey(
        &self,
        auth: &Authenticated,
        answer: &PublicKeyCredential,
    ) -> Result<i64, ServiceError> {
        let user = auth.require_user()?;
        let digest = auth.digest().ok_or(ServiceError::NotFound)?;
        self.finish_passkey_assertion(user, digest, answer).await?;
        self.mark_authenticated(digest, &["passkey"]).await?;
        tracing::info!(target: "audit", event = "reauthenticated", user_id = %user.id, factor = "passkey", "re-authenticated");
        Ok(self.clock.now())
    }
}

fn find_passkey<'a>(
    factors: &'a Factors,
    cred_id: &[u8],
) -> Result<&'a StoredPasskey, ServiceError> {
    factors
        .passkeys
        .iter()
        .find(|p| p.passkey.cred_id().as_slice() == cred_id)
        .ok_or(ServiceError::WrongCode)
}

fn display_name(user: &User) -> String {
    match (&user.first_name, &user.last_name) {
        (Some(f), Some(l)) => format!("{f} {l}"),
        (Some(n), None) | (None, Some(n)) => n.clone(),
        (None, None) => user.email.clone(),
    }
}
