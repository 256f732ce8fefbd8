//! Throttling of failed logins and failed Basic credentials: growing delays per account, and a
//! generous limit per client address against credential stuffing.
//!
//! The state lives in a [`ThrottleStore`], so it holds across every instance on the same store.
//! A throttled attempt is refused before any password is checked and is not itself counted, so
//! an attacker cannot extend a lockout by hammering; the owner gets in as soon as the delay
//! passes.

use std::sync::Arc;

use crate::domain::email_key;
use crate::error::Error;
use crate::store::{Failures, ThrottleStore};

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

/// The throttle over its store.
#[derive(Clone)]
pub struct Throttle {
    store: Arc<dyn ThrottleStore>,
    account: Policy,
    address: Option<Policy>,
}

fn account_key(email: &str) -> String {
    format!("account:{}", email_key(email))
}

fn address_key(ip: &str) -> String {
    format!("ip:{ip}")
}

impl Throttle {
    /// A throttle keeping its counts in `store`, with a policy per account and (if any) per
    /// client address.
    pub fn new(store: Arc<dyn ThrottleStore>, account: Policy, address: Option<Policy>) -> Self {
        Self {
            store,
            account,
            address,
        }
    }

    /// Refuses with 429 when the account or the address must still wait.
    pub async fn check(&self, email: &str, ip: Option<&str>, now: i64) -> Result<(), Error> {
        let mut wait = self
            .account
            .wait(self.store.failures(&account_key(email)).await?, now);
        if let (Some(ip), Some(policy)) = (ip, self.address) {
            wait = wait.max(policy.wait(self.store.failures(&address_key(ip)).await?, now));
        }
        if wait > 0 {
            tracing::warn!(target: "audit", event = "login_throttled", retry_after = wait, "attempt refused: throttled");
            return Err(Error::TooManyRequests { retry_after: wait });
        }
        Ok(())
    }

    /// Counts a failed attempt against the account and the address.
    pub async fn failed(&self, email: &str, ip: Option<&str>, now: i64) -> Result<(), Error> {
        let key = account_key(email);
        let account = self
            .store
            .record_failure(&key, now, self.account.quiet)
            .await?;
        if let (Some(ip), Some(policy)) = (ip, self.address) {
            self.store
                .record_failure(&address_key(ip), now, policy.quiet)
                .await?;
        }
        let delay = self.account.delay(account.count);
        if delay > 0 {
            tracing::warn!(
                target: "audit",
                event = "account_throttled",
                failures = account.count,
                delay,
                "account throttled after failed attempts"
            );
        }
        Ok(())
    }

    /// Forgets the account's failures after a success (the address keeps its count).
    pub async fn succeeded(&self, email: &str) -> Result<(), Error> {
        let key = account_key(email);
        // Read first: a success with no failures on record (the common case) writes nothing.
        if self.store.failures(&key).await?.is_some() {
            self.store.clear(&key).await?;
        }
        Ok(())
    }

    /// Forgets runs of failures that ended long enough ago; returns how many.
    pub async fn purge(&self, now: i64) -> Result<u64, Error> {
        let quiet = self
            .address
            .map_or(self.account.quiet, |a| a.quiet.max(self.account.quiet));
        Ok(self.store.purge(now.saturating_sub(quiet)).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_free_failures_then_doubling_delays_up_to_fifteen_minutes() {
        let p = Policy::ACCOUNT;
        let delays: Vec<i64> = (1..=16).map(|n| p.delay(n)).collect();
        assert_eq!(
            delays,
            [0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]
        );
        assert_eq!(p.delay(u32::MAX), 900);
    }

    #[test]
    fn wait_counts_from_the_last_failure_and_ends_after_a_quiet_period() {
        let p = Policy::ACCOUNT;
        let f = Some(Failures {
            count: 7,
            last_at: 1000,
        });
        assert_eq!(p.wait(f, 1000), 4);
        assert_eq!(p.wait(f, 1003), 1);
        assert_eq!(p.wait(f, 1004), 0);
        assert_eq!(p.wait(None, 1000), 0);
    }

    #[test]
    fn a_clock_set_back_never_makes_the_wait_longer_than_the_delay() {
        let p = Policy::ACCOUNT;
        let f = Some(Failures {
            count: 7,
            last_at: 10_000,
        });
        assert_eq!(p.wait(f, 10_000 - 3600), 4);
        assert_eq!(p.wait(f, 0), 4);
    }
}
