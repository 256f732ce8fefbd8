//! Throttling of failed logins and failed Basic credentials: growing delays per account, and a
//! generous limit per client address against credential stuffing.
//!
//! The state lives in a [`ThrottleStore`], so it holds across every instance on the same store.
//! A throttled attempt is refused before any password is checked and is not itself counted, so
//! an attacker cannot extend a lockout by hammering; the owner gets in as soon as the delay
//! passes.

use std::sync::Arc;

use super::error::ServiceError;
use crate::domain::{Failures, Policy, email_key};
use crate::store::ThrottleStore;

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
    pub async fn check(&self, email: &str, ip: Option<&str>, now: i64) -> Result<(), ServiceError> {
        let mut wait = self
            .account
            .wait(self.store.failures(&account_key(email)).await?, now);
        if let (Some(ip), Some(policy)) = (ip, self.address) {
            wait = wait.max(policy.wait(self.store.failures(&address_key(ip)).await?, now));
        }
        if wait > 0 {
            tracing::warn!(target: "audit", event = "login_throttled", retry_after = wait, "attempt refused: throttled");
            return Err(ServiceError::Throttled { retry_after: wait });
        }
        Ok(())
    }

    /// Counts one against the account and the address; the account's count after it.
    async fn count(
        &self,
        email: &str,
        ip: Option<&str>,
        now: i64,
    ) -> Result<Failures, ServiceError> {
        let account = self
            .store
            .record_failure(&account_key(email), now, self.account.quiet)
            .await?;
        if let (Some(ip), Some(policy)) = (ip, self.address) {
            self.store
                .record_failure(&address_key(ip), now, policy.quiet)
                .await?;
        }
        Ok(account)
    }

    /// Counts a failed attempt against the account and the address.
    pub async fn failed(
        &self,
        email: &str,
        ip: Option<&str>,
        now: i64,
    ) -> Result<(), ServiceError> {
        let account = self.count(email, ip, now).await?;
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

    /// Counts an attempt at a second factor before it is checked (a success then clears it):
    /// refused (429) while the account or the address must wait, like [`Throttle::check`], and
    /// also when racing attempts pass the check together. Each attempt takes its own count
    /// atomically; past the free ones, only the one whose count follows the count it checked may
    /// go on. Cheap checks (a TOTP code is one HMAC) make a burst of parallel guesses worth
    /// trying; this bounds a burst to the free attempts and one more per delay.
    pub async fn attempt(
        &self,
        email: &str,
        ip: Option<&str>,
        now: i64,
    ) -> Result<(), ServiceError> {
        let key = account_key(email);
        let before = self.store.failures(&key).await?;
        self.check(email, ip, now).await?;
        let after = self.count(email, ip, now).await?;
        let expected = before
            .filter(|f| now.saturating_sub(f.last_at) < self.account.quiet)
            .map_or(1, |f| f.count.saturating_add(1));
        if after.count > self.account.free && after.count != expected {
            let retry_after = self.account.delay(after.count).max(1);
            tracing::warn!(target: "audit", event = "login_throttled", retry_after, "attempt refused: racing attempts");
            return Err(ServiceError::Throttled { retry_after });
        }
        Ok(())
    }

    /// Forgets the account's failures after a success (the address keeps its count).
    pub async fn succeeded(&self, email: &str) -> Result<(), ServiceError> {
        let key = account_key(email);
        // Read first: a success with no failures on record (the common case) writes nothing.
        if self.store.failures(&key).await?.is_some() {
            self.store.clear(&key).await?;
        }
        Ok(())
    }

    /// Counts a request for mail about `email` from `ip`: 3 per email and 30 per address
    /// without delay, then growing ones, forgotten after 15 quiet minutes. A refused request
    /// (429) is not counted.
    pub async fn mail_request(
        &self,
        email: &str,
        ip: Option<&str>,
        now: i64,
    ) -> Result<(), ServiceError> {
        const PER_EMAIL: Policy = Policy {
            free: 3,
            max_delay: 900,
            quiet: 900,
        };
        const PER_ADDRESS: Policy = Policy {
            free: 30,
            max_delay: 900,
            quiet: 900,
        };
        let email_key = format!("mail:{}", email_key(email));
        let ip_key = ip.map(|ip| format!("mail-ip:{ip}"));
        let mut wait = PER_EMAIL.wait(self.store.failures(&email_key).await?, now);
        if let Some(k) = &ip_key {
            wait = wait.max(PER_ADDRESS.wait(self.store.failures(k).await?, now));
        }
        if wait > 0 {
            tracing::warn!(target: "audit", event = "mail_throttled", retry_after = wait, "mail request refused: throttled");
            return Err(ServiceError::Throttled { retry_after: wait });
        }
        self.store
            .record_failure(&email_key, now, PER_EMAIL.quiet)
            .await?;
        if let Some(k) = &ip_key {
            self.store.record_failure(k, now, PER_ADDRESS.quiet).await?;
        }
        Ok(())
    }

    /// Counts an unauthenticated request that makes the server keep state (a passkey sign-in's
    /// ceremony) from `ip`: the per-address policy's free requests (`THROTTLE_ADDRESS_FREE`,
    /// 1000 by default) per 15 quiet minutes, then growing delays (429). Off when the
    /// per-address throttle is.
    pub async fn stateful_request(&self, ip: Option<&str>, now: i64) -> Result<(), ServiceError> {
        let (Some(ip), Some(policy)) = (ip, self.address) else {
            return Ok(());
        };
        let key = format!("start-ip:{ip}");
        let wait = policy.wait(self.store.failures(&key).await?, now);
        if wait > 0 {
            return Err(ServiceError::Throttled { retry_after: wait });
        }
        self.store.record_failure(&key, now, policy.quiet).await?;
        Ok(())
    }

    /// Forgets runs of failures that ended long enough ago; returns how many.
    pub async fn purge(&self, now: i64) -> Result<u64, ServiceError> {
        let quiet = self
            .address
            .map_or(self.account.quiet, |a| a.quiet.max(self.account.quiet));
        Ok(self.store.purge(now.saturating_sub(quiet)).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Failures;

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
