//! Password hashing: Argon2id for every new hash, the original system's unsalted SHA-256 accepted
//! for verification only, and a dummy verify so an unknown email costs the same as a known one.
//!
//! Hashing runs on the blocking pool behind a semaphore, so a storm of logins queues there and
//! never starves the async workers serving authenticated reads.
//!
//! Argon2's 19 MiB of working memory is kept between hashes, one buffer per hash that may run at
//! once, rather than allocated and zeroed for each: the process's memory stays flat whichever
//! blocking thread runs a hash (a thread's allocator would otherwise keep a freed buffer of its
//! own), and a login saves the page faults of a fresh buffer.

use std::sync::{Arc, Mutex};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use crate::domain::Secret;

/// Hashing could not run (no OS randomness, a stopped blocking pool): a fault of the host,
/// never of the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(pub String);

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
    memory: Memory,
}

/// Argon2 working memory kept between hashes (see the module docs).
#[derive(Default)]
struct Memory(Mutex<Vec<Vec<Block>>>);

impl Memory {
    /// Runs `f` on `blocks` blocks of kept memory: a kept buffer, or a new one the first time
    /// (and for a stored hash that asks for more memory than today's, which is not kept).
    fn with<T>(&self, blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
        let kept = || {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        let mut buf = kept().pop().unwrap_or_default();
        if buf.len() < blocks {
            buf.resize(blocks, Block::default());
        }
        let (used, _) = buf.split_at_mut(blocks);
        let out = f(used);
        if buf.len() <= today().map_or(0, |p| p.block_count()) {
            kept().push(buf);
        }
        out
    }
}

fn today() -> Result<Params, HashError> {
    Params::new(M_COST, T_COST, P_COST, None)
        .map_err(|e| HashError(format!("argon2 parameters: {e}")))
}

fn hash_blocking(password: &str, memory: &Memory) -> Result<String, HashError> {
    let internal = |e: &dyn std::fmt::Display| HashError(format!("argon2: {e}"));
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| HashError(format!("OS random: {e}")))?;
    let salt_string = SaltString::encode_b64(&salt).map_err(|e| internal(&e))?;
    let params = today()?;
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    memory
        .with(params.block_count(), |m| {
            argon2.hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, m)
        })
        .map_err(|e| internal(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| internal(&e))?,
        salt: Some(salt_string.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| internal(&e))?),
    };
    Ok(phc.to_string())
}

/// Whether `stored` is the original system's unsalted SHA-256 (64 hex digits).
pub fn is_legacy_sha256(stored: &str) -> bool {
    stored.len() == 64 && stored.bytes().all(|b| b.is_ascii_hexdigit())
}

fn verify_blocking(password: &str, stored: &str, inner: &Inner) -> Verified {
    if is_legacy_sha256(stored) {
        let mine = hex::encode(Sha256::digest(password.as_bytes()));
        let ok: bool = mine
            .as_bytes()
            .ct_eq(stored.to_ascii_lowercase().as_bytes())
            .into();
        // Spend what an Argon2 verify costs, so a legacy account does not stand out by timing.
        let _ = verify_argon2(password, &inner.dummy, &inner.memory);
        return Verified {
            ok,
            needs_rehash: true,
        };
    }
    verify_argon2(password, stored, &inner.memory)
}

/// Whether `password` gives the Argon2 hash of the PHC string `stored`, with `stored`'s own
/// algorithm, version and parameters.
fn argon2_matches(password: &str, stored: &PasswordHash<'_>, memory: &Memory) -> Option<bool> {
    let (salt, expected) = (stored.salt?, stored.hash?);
    let algorithm = Algorithm::try_from(stored.algorithm).ok()?;
    let version = match stored.version {
        Some(v) => Version::try_from(v).ok()?,
        None => Version::default(),
    };
    let params = Params::try_from(stored).ok()?;
    let mut salt_buf = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_buf).ok()?;
    let mut out_buf = [0u8; Output::MAX_LENGTH];
    let out = out_buf.get_mut(..expected.len())?;
    let argon2 = Argon2::new(algorithm, version, params.clone());
    memory
        .with(params.block_count(), |m| {
            argon2.hash_password_into_with_memory(password.as_bytes(), salt, out, m)
        })
        .ok()?;
    Some(out.ct_eq(expected.as_bytes()).into())
}

fn verify_argon2(password: &str, stored: &str, memory: &Memory) -> Verified {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return Verified {
            ok: false,
            needs_rehash: false,
        };
    };
    let ok = argon2_matches(password, &parsed, memory).unwrap_or(false);
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
    pub fn new(parallel: usize) -> Result<Self, HashError> {
        let memory = Memory::default();
        let dummy = hash_blocking("sesame dummy password, never matches", &memory)?;
        Ok(Self {
            inner: Arc::new(Inner {
                permits: Semaphore::new(parallel.max(1)),
                dummy,
                memory,
            }),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|e| HashError(format!("password semaphore: {e}")))?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| HashError(format!("password task: {e}")))
    }

    /// A new Argon2id PHC string for `password`.
    pub async fn hash(&self, password: Secret) -> Result<String, HashError> {
        self.run(move |inner| hash_blocking(password.expose(), &inner.memory))
            .await?
    }

    /// Checks `password` against `stored`; with no stored hash (unknown user, or one who may not
    /// log in) it still spends one verify against a dummy hash and answers no.
    pub async fn verify(
        &self,
        password: Secret,
        stored: Option<String>,
    ) -> Result<Verified, HashError> {
        self.run(move |inner| match stored {
            Some(stored) => verify_blocking(password.expose(), &stored, inner),
            None => {
                let _ = verify_argon2(password.expose(), &inner.dummy, &inner.memory);
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
    async fn hashes_agree_with_the_argon2_crates_own_hasher_and_verifier_both_ways() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let p = Passwords::new(1).unwrap();
        let ours = p.hash(Secret::new("pässwörd: 🔑")).await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password("pässwörd: 🔑".as_bytes(), &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"passwoerd", &parsed)
                .is_err()
        );
        // Made by the crate, with weaker and stronger parameters than today's, and argon2i.
        for (alg, m, t) in [
            (Algorithm::Argon2id, M_COST, T_COST),
            (Algorithm::Argon2id, 8192, 1),
            (Algorithm::Argon2id, 32768, 2),
            (Algorithm::Argon2i, 4096, 3),
        ] {
            let params = Params::new(m, t, 1, None).unwrap();
            let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
            let theirs = Argon2::new(alg, Version::V0x13, params)
                .hash_password(b"correct horse", &salt)
                .unwrap()
                .to_string();
            let v = p
                .verify(Secret::new("correct horse"), Some(theirs.clone()))
                .await
                .unwrap();
            assert!(v.ok, "{theirs}");
            assert_eq!(v.needs_rehash, m < M_COST || alg != Algorithm::Argon2id);
            assert!(
                !p.verify(Secret::new("correct horsf"), Some(theirs))
                    .await
                    .unwrap()
                    .ok
            );
        }
        // Malformed hashes never match.
        for bad in [
            "",
            "$argon2id$",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$",
            "plain",
        ] {
            assert!(
                !p.verify(Secret::new("x"), Some(bad.into()))
                    .await
                    .unwrap()
                    .ok
            );
        }
    }

    #[test]
    fn memory_is_kept_between_hashes_and_a_larger_buffer_is_not() {
        let memory = Memory::default();
        hash_blocking("a", &memory).unwrap();
        hash_blocking("b", &memory).unwrap();
        assert_eq!(memory.0.lock().unwrap().len(), 1);
        memory.with(today().unwrap().block_count() * 2, |_| ());
        assert_eq!(memory.0.lock().unwrap().len(), 0);
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
