//! The domain types: users, sessions, tokens and the rules for emails and passwords.
//! Types that parse, never half-valid; secrets never show in `Debug`.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// A user record as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// Public id (a uuid4 string for users made by sesame; imported ids are kept).
    pub id: String,
    /// Email as given; unique ignoring case.
    pub email: String,
    /// PHC string (Argon2id) or a legacy 64-hex SHA-256; `None`: cannot log in.
    pub password_hash: Option<String>,
    /// Optional first name.
    pub first_name: Option<String>,
    /// Optional last name.
    pub last_name: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
    /// Administrators may act on every user.
    pub is_admin: bool,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("is_admin", &self.is_admin)
            .finish_non_exhaustive()
    }
}

/// The key that makes emails unique ignoring case.
pub fn email_key(email: &str) -> String {
    email.to_lowercase()
}

/// Checks the shape of an email address; the error is the message for the client.
pub fn validate_email(email: &str) -> Result<(), &'static str> {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return Err("invalid email");
    };
    let ok = !local.is_empty()
        && local.len() <= 64
        && !domain.is_empty()
        && email.len() <= 254
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !domain.contains('@')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok { Ok(()) } else { Err("invalid email") }
}

/// Fewest characters a new password may have (NIST SP 800-63B).
pub const PASSWORD_MIN_CHARS: usize = 8;
/// Most bytes a password may have (bounds the hashing work an attacker can ask for).
pub const PASSWORD_MAX_BYTES: usize = 1024;

/// Checks a new password against the policy; the error is the message for the client.
pub fn validate_password(password: &str) -> Result<(), &'static str> {
    if password.len() > PASSWORD_MAX_BYTES {
        return Err("password too long (at most 1024 bytes)");
    }
    if password.chars().count() < PASSWORD_MIN_CHARS {
        return Err("password too short (at least 8 characters)");
    }
    Ok(())
}

/// A secret that never shows in `Debug` or logs: passwords and session tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret itself; call only where it is used.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

/// SHA-256 digest of a session token: all any store ever keeps.
pub type Digest32 = [u8; 32];

/// SHA-256 of a token as presented in the cookie.
pub fn token_digest(token: &str) -> Digest32 {
    Sha256::digest(token.as_bytes()).into()
}

/// Makes a new session token: 256 bits from the OS CSPRNG, base64url without padding.
pub fn new_token() -> Result<Secret, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(Secret(URL_SAFE_NO_PAD.encode(bytes)))
}

/// A new random uuid4 string, for user ids and session handles.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A server-side session.
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    /// Public handle (never the token).
    pub id: String,
    /// SHA-256 of the token.
    pub digest: Digest32,
    /// The user it authenticates.
    pub user_id: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds of the last recorded use.
    pub last_seen_at: i64,
    /// Client address at login.
    pub ip: Option<String>,
    /// Client `User-Agent` at login.
    pub user_agent: Option<String>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("created_at", &self.created_at)
            .field("last_seen_at", &self.last_seen_at)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Whether the session has ended at `now` under `expiry`.
    pub fn is_expired(&self, now: i64, expiry: Expiry) -> bool {
        expired(self.created_at, self.last_seen_at, now, expiry)
    }
}

/// Whether a session made at `created_at` and last used at `last_seen_at` has ended at `now`.
pub fn expired(created_at: i64, last_seen_at: i64, now: i64, expiry: Expiry) -> bool {
    expiry
        .absolute
        .is_some_and(|d| now >= created_at.saturating_add(d))
        || expiry
            .idle
            .is_some_and(|i| now >= last_seen_at.saturating_add(i))
}

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SS` in UTC, the original API's format.
///
/// Every response with a user formats two of these, so years 0 to 9999 are done by hand
/// (Hinnant's days-to-civil algorithm) rather than through a general formatter.
pub fn format_timestamp(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let in_day = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if !(0..=9999).contains(&year) {
        return format_timestamp_slow(secs);
    }
    let fields = [
        (year, 4),
        (month, 2),
        (day, 2),
        (in_day / 3600, 2),
        (in_day / 60 % 60, 2),
        (in_day % 60, 2),
    ];
    let mut out = [0u8; 19];
    let mut at = 0;
    for (i, (value, width)) in fields.into_iter().enumerate() {
        let mut v = value;
        for k in (0..width).rev() {
            out[at + k] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        at += width;
        if let Some(sep) = [b'-', b'-', b'T', b':', b':'].get(i) {
            out[at] = *sep;
            at += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn format_timestamp_slow(secs: i64) -> String {
    const FMT: &[time::format_description::BorrowedFormatItem<'_>] =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(FMT).ok())
        .unwrap_or_default()
}

/// Session lifetimes: `None` means no limit of that kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Expiry {
    /// Absolute lifetime in seconds, counted from the session's creation.
    pub absolute: Option<i64>,
    /// Idle timeout in seconds, counted from the session's last use.
    pub idle: Option<i64>,
}

/// Failed-login bookkeeping for one key (an account or a client address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failures {
    /// Failures in a row, since the last success or quiet period.
    pub count: u32,
    /// Unix seconds of the last failure.
    pub last_at: i64,
}

/// One throttling rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Failures in a row allowed without any delay.
    pub free: u32,
    /// Longest delay, in seconds.
    pub max_delay: i64,
    /// A run of failures is forgotten after this many quiet seconds.
    pub quiet: i64,
}

impl Policy {
    /// Per account: 5 free failures, then 1 s, 2 s, 4 s, ... up to 15 minutes; forgotten after
    /// a day without failures or at the next success.
    pub const ACCOUNT: Self = Self {
        free: 5,
        max_delay: 900,
        quiet: 86_400,
    };
    /// Per client address: 1000 free failures (any accounts), then the same growing delays;
    /// forgotten after 15 quiet minutes, not by a success. Generous on purpose: many people may
    /// share one address, and one account's failures must not lock out the others.
    pub const ADDRESS: Self = Self {
        free: 1000,
        max_delay: 900,
        quiet: 900,
    };

    /// Seconds to wait after `count` failures in a row (0 while they are free).
    pub fn delay(&self, count: u32) -> i64 {
        if count < self.free {
            return 0;
        }
        let doublings = (count - self.free).min(62);
        1_i64
            .checked_shl(doublings)
            .unwrap_or(i64::MAX)
            .min(self.max_delay)
    }

    /// Seconds left before another attempt is allowed at `now` (0: allowed).
    pub fn wait(&self, failures: Option<Failures>, now: i64) -> i64 {
        match failures {
            Some(f) if now.saturating_sub(f.last_at) < self.quiet => {
                let delay = self.delay(f.count);
                // A clock set back puts the last failure in the future: the wait never grows
                // past the delay itself.
                (f.last_at.saturating_add(delay) - now).clamp(0, delay)
            }
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_url_safe_and_distinct() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_eq!(a.expose().len(), 43);
        assert!(
            a.expose()
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(a, b);
        assert_eq!(format!("{a:?}"), "Secret([REDACTED])");
    }

    #[test]
    fn the_fast_formatter_agrees_with_the_general_one() {
        let mut t: i64 = -62_135_596_800; // 0001-01-01
        while t < 253_402_300_799 {
            assert_eq!(format_timestamp(t), format_timestamp_slow(t), "{t}");
            t += 7_919_993; // a prime stride over every month, day and time of day
        }
        for t in [0, 59, 86_399, 951_782_400, 1_709_164_800, 4_107_542_399] {
            assert_eq!(format_timestamp(t), format_timestamp_slow(t), "{t}");
        }
    }

    #[test]
    fn timestamps_use_the_original_format() {
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00");
        assert_eq!(format_timestamp(1_700_000_000), "2023-11-14T22:13:20");
    }

    #[test]
    fn email_and_password_rules() {
        assert!(validate_email("bob@hbtn.io").is_ok());
        assert!(validate_email("bob").is_err());
        assert!(validate_email("@x.io").is_err());
        assert!(validate_email("a b@x.io").is_err());
        assert!(validate_password("short").is_err());
        assert!(validate_password("long enough").is_ok());
        assert!(validate_password(&"x".repeat(1025)).is_err());
    }
}
