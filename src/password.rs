//! Password hashing: Argon2id for every new hash, the original system's unsalted SHA-256 accepted
//! for verification only, and a dummy verify so an unknown email costs the same as a known one.
//!
//! Hashing runs on the blocking pool behind a semaphore, so a storm of logins queues there and
//! never starves the async workers serving authenticated reads.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use crate::domain::Secret;
use crate::error::Error;

/// Argon2id memory cost in KiB (OWASP's minimum configuration).
pub const M_COST: u32 = 19_456;
/// Argon2id iterations.
pub const T_COST: u32 = 2;
/// Argon2id lanes.
pub const P_COST: u32 = 1;

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The password matches.
    pub ok: bool,
    /// The stored hash is weaker than today's parameters (or legacy) and should be replaced.
    pub needs_rehash: bool,
}

/// Hashes and verifies passwords off the async workers.
#[derive(Clone)]
pub struct Passwords {
    inner: Arc<Inner>,
}

struct Inner {
    permits: Semaphore,
    dummy: String,
}

fn argon2() -> Result<Argon2<'static>, Error> {
    let params = Params::new(M_COST, T_COST, P_COST, None)
        .map_err(|e| Error::Internal(format!("argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn hash_blocking(password: &str) -> Result<String, Error> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| Error::Internal(format!("OS random: {e}")))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::Internal(e.to_string()))?;
    argon2()?
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(format!("argon2: {e}")))
}

/// Whether `stored` is the original system's unsalted SHA-256 (64 hex digits).
pub fn is_legacy_sha256(stored: &str) -> bool {
    stored.len() == 64 && stored.bytes().all(|b| b.is_ascii_hexdigit())
}

fn verify_blocking(password: &str, stored: &str, dummy: &str) -> Verified {
    if is_legacy_sha256(stored) {
        let mine = hex::encode(Sha256::digest(password.as_bytes()));
        let ok: bool = mine
            .as_bytes()
            .ct_eq(stored.to_ascii_lowercase().as_bytes())
            .into();
        // Spend what an Argon2 verify costs, so a legacy account does not stand out by timing.
        let _ = verify_argon2(password, dummy);
        return Verified {
            ok,
            needs_rehash: true,
        };
    }
    verify_argon2(password, stored)
}

fn verify_argon2(password: &str, stored: &str) -> Verified {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return Verified {
            ok: false,
            needs_rehash: false,
        };
    };
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    let weaker = parsed.algorithm.as_str() != "argon2id"
        || Params::try_from(&parsed).map_or(true, |p| {
            p.m_cost() < M_COST || p.t_cost() < T_COST || p.p_cost() < P_COST
        });
    Verified {
        ok,
        needs_rehash: weaker,
    }
}

impl Passwords {
    /// Makes the hasher with at most `parallel` hashes at once (at least one).
    pub fn new(parallel: usize) -> Result<Self, Error> {
        let dummy = hash_blocking("sesame dummy password, never matches")?;
        Ok(Self {
            inner: Arc::new(Inner {
                permits: Semaphore::new(parallel.max(1)),
                dummy,
            }),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> T + Send + 'static,
    ) -> Result<T, Error> {
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|e| Error::Internal(format!("password semaphore: {e}")))?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| Error::Internal(format!("password task: {e}")))
    }

    /// A new Argon2id PHC string for `password`.
    pub async fn hash(&self, password: Secret) -> Result<String, Error> {
        self.run(move |_| hash_blocking(password.expose())).await?
    }

    /// Checks `password` against `stored`; with no stored hash (unknown user, or one who may not
    /// log in) it still spends one verify against a dummy hash and answers no.
    pub async fn verify(
        &self,
        password: Secret,
        stored: Option<String>,
    ) -> Result<Verified, Error> {
        self.run(move |inner| match stored {
            Some(stored) => verify_blocking(password.expose(), &stored, &inner.dummy),
            None => {
                let _ = verify_argon2(password.expose(), &inner.dummy);
                Verified {
                    ok: false,
                    needs_rehash: false,
                }
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_are_argon2id_with_owasp_parameters() {
        let p = Passwords::new(1).unwrap();
        let h = p.hash(Secret::new("correct horse")).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(
            p.verify(Secret::new("correct horse"), Some(h.clone()))
                .await
                .unwrap()
                .ok
        );
        assert!(
            !p.verify(Secret::new("wrong horse"), Some(h))
                .await
                .unwrap()
                .ok
        );
        assert!(!p.verify(Secret::new("x"), None).await.unwrap().ok);
    }

    #[tokio::test]
    async fn legacy_sha256_verifies_and_asks_for_rehash() {
        let p = Passwords::new(1).unwrap();
        let legacy = hex::encode(Sha256::digest(b"pwd"));
        let v = p
            .verify(Secret::new("pwd"), Some(legacy.clone()))
            .await
            .unwrap();
        assert_eq!(
            v,
            Verified {
                ok: true,
                needs_rehash: true
            }
        );
        assert!(
            !p.verify(Secret::new("pwd2"), Some(legacy))
                .await
                .unwrap()
                .ok
        );
    }
}
