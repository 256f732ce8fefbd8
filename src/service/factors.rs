//! What second factors are made of, as stored and as spoken: the configuration, a user's
//! factors, a pending sign-in, and the keys of their records (`mfa` says what each holds).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::Passkey;

use super::error::ServiceError;
use crate::config::MfaRequired;
use crate::domain::{Digest32, Secret, User};

/// The start of every pending sign-in's token.
pub const PENDING_PREFIX: &str = "mfa.";
/// Seconds a sign-in may wait for its second factor.
pub const PENDING_LIFETIME: i64 = 300;
/// Seconds between the two halves of a WebAuthn ceremony.
pub const CEREMONY_LIFETIME: i64 = 300;

/// How second factors are configured.
pub struct MfaConfig {
    /// `MFA_REQUIRED`.
    pub required: MfaRequired,
    /// `REAUTH_MAX_AGE`, in seconds.
    pub reauth_max_age: i64,
    /// The WebAuthn relying party.
    pub webauthn: webauthn_rs::Webauthn,
    /// The issuer named in `otpauth://` URIs (what authenticator apps show).
    pub issuer: String,
}

impl MfaConfig {
    /// The configuration for `MFA_REQUIRED`, `REAUTH_MAX_AGE` and the relying party
    /// `rp_id` at `origin`; an error when webauthn-rs refuses the pair.
    pub fn new(
        required: MfaRequired,
        reauth_max_age: i64,
        rp_id: &str,
        origin: &str,
    ) -> Result<Self, String> {
        let url = url::Url::parse(origin).map_err(|e| format!("{origin:?}: {e}"))?;
        let webauthn = webauthn_rs::WebauthnBuilder::new(rp_id, &url)
            .and_then(|b| {
                b.rp_name("sesame")
                    .timeout(std::time::Duration::from_secs(CEREMONY_LIFETIME as u64))
                    .build()
            })
            .map_err(|e| format!("WebAuthn relying party {rp_id} at {origin}: {e}"))?;
        Ok(Self {
            required,
            reauth_max_age,
            webauthn,
            issuer: "sesame".to_owned(),
        })
    }
}

/// A user's second factors, as stored under `factors/<user id>`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Factors {
    /// A confirmed TOTP.
    #[serde(default)]
    pub totp: Option<TotpFactor>,
    /// A TOTP enrolment waiting for its first code.
    #[serde(default)]
    pub totp_pending: Option<TotpFactor>,
    /// Hex SHA-256 digests of the unused recovery codes.
    #[serde(default)]
    pub recovery: Vec<String>,
    /// Registered passkeys.
    #[serde(default)]
    pub passkeys: Vec<StoredPasskey>,
}

/// A TOTP secret and the last step accepted with it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TotpFactor {
    /// The shared secret, base32.
    pub secret: String,
    /// The step of the last code accepted (none before the first).
    pub last_step: Option<i64>,
    /// When it was made.
    pub created_at: i64,
}

/// A registered passkey and what its owner sees of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredPasskey {
    /// Public id (a uuid).
    pub id: String,
    /// The name its owner gave it.
    pub name: String,
    /// When it was registered.
    pub created_at: i64,
    /// When it last signed in.
    pub last_used_at: Option<i64>,
    /// The credential as webauthn-rs keeps it (public key, counter, flags).
    pub passkey: Passkey,
}

impl Factors {
    /// Whether the user has a second factor (recovery codes alone are not one).
    pub fn any(&self) -> bool {
        self.totp.is_some() || !self.passkeys.is_empty()
    }

    /// The ways the user can finish a sign-in, as the login answer lists them.
    pub fn methods(&self) -> Vec<&'static str> {
        let mut m = Vec::new();
        if self.totp.is_some() {
            m.push("totp");
        }
        if !self.passkeys.is_empty() {
            m.push("passkey");
        }
        if !self.recovery.is_empty() {
            m.push("recovery_code");
        }
        m
    }
}

/// A sign-in waiting for its second factor, as stored under `pending/<digest>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    /// Who signed in.
    pub user_id: String,
    /// Where from.
    pub ip: Option<String>,
    /// With what.
    pub user_agent: Option<String>,
    /// When the password was checked.
    pub created_at: i64,
}

/// When a credential was last presented in a session, as stored under `reauth/<digest>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Reauth {
    pub(super) at: i64,
    pub(super) factors: Vec<String>,
}

/// What the second-factor step was given.
#[derive(Debug, Clone)]
pub enum SecondFactor {
    /// A TOTP code.
    Totp(String),
    /// A recovery code.
    Recovery(String),
}

/// A TOTP enrolment's start: what the user's authenticator app needs.
#[derive(Debug, Clone)]
pub struct TotpEnrolment {
    /// The secret, base32.
    pub secret: String,
    /// The `otpauth://totp/...` URI.
    pub otpauth_uri: String,
    /// The URI as a QR code, an SVG document.
    pub qr_svg: String,
}

/// How a sign-in with a right password ends.
#[derive(Debug)]
pub enum SignIn {
    /// A session: its user and token.
    Done(User, Secret),
    /// A pending sign-in: its token and the methods that can finish it.
    SecondFactor(Secret, Vec<&'static str>),
}

pub(super) fn factors_key(user_id: &str) -> String {
    format!("factors/{user_id}")
}

pub(super) fn pending_key(digest: &Digest32) -> String {
    format!("pending/{}", hex::encode(digest))
}

pub(super) fn reauth_key(digest: &Digest32) -> String {
    format!("reauth/{}", hex::encode(digest))
}

pub(super) fn json<T: Serialize>(value: &T) -> Result<String, ServiceError> {
    serde_json::to_string(value).map_err(|e| ServiceError::Internal(format!("encoding: {e}")))
}

pub(super) fn parse<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, ServiceError> {
    serde_json::from_str(text).map_err(|e| ServiceError::Internal(format!("a stored record: {e}")))
}

/// Whether `token` is a pending sign-in's.
pub fn is_pending_token(token: &str) -> bool {
    token.starts_with(PENDING_PREFIX)
}

/// The `passkey/<id>` key naming the user of a credential.
pub(super) fn credential_key(cred_id: &[u8]) -> String {
    format!("passkey/{}", URL_SAFE_NO_PAD.encode(cred_id))
}
