//! The outbox's worker: claims due entries, sends mails, runs jobs, retries with backoff (the
//! protocol is in the module docs of `mail`).

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::smtp::{Mailer, SendError};
use crate::service::Service;
use crate::service::recovery::{MAIL, Mail};
use crate::store::OutboxEntry;

/// Seconds an instance holds a claimed entry before another may take it.
pub const LEASE: i64 = 120;
/// Longest delay between two attempts, in seconds.
const MAX_DELAY: i64 = 900;
/// An entry still failing this many seconds after it was written is dropped.
const GIVE_UP_AFTER: i64 = 3 * 86_400;
/// How often the outbox is looked at when nothing wakes the worker.
const POLL: Duration = Duration::from_secs(1);
/// Entries claimed at once: one, so that a claim's lease ([`LEASE`]) always outlasts its work
/// (one SMTP conversation, at most 20 s), and another instance never takes an entry its
/// holder is still working on.
const BATCH: u32 = 1;

/// Seconds before the next attempt after `attempts` failed ones: 1, 2, 4, ... 900.
fn backoff(attempts: i64) -> i64 {
    let doublings = u32::try_from((attempts - 1).clamp(0, 20)).unwrap_or(20);
    (1_i64 << doublings).min(MAX_DELAY)
}

/// Runs the worker until `stop` turns true.
pub fn spawn(service: Service, mailer: Mailer, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let Some(settings) = service.mail.clone() else {
            return;
        };
        loop {
            drain(&service, &mailer).await;
            tokio::select! {
                () = settings.wake.notified() => {}
                () = tokio::time::sleep(POLL) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                break;
            }
        }
    })
}

/// Works through every entry due now.
async fn drain(service: &Service, mailer: &Mailer) {
    loop {
        let now = service.clock.now();
        let batch = match service.records.claim_outbox(now, now + LEASE, BATCH).await {
            Ok(batch) => batch,
            Err(e) => {
                tracing::warn!(error = %e, "the outbox cannot be read");
                return;
            }
        };
        if batch.is_empty() {
            return;
        }
        for entry in &batch {
            work_on(service, mailer, entry).await;
        }
    }
}

/// Does one entry's work, then deletes it, or makes it due again.
async fn work_on(service: &Service, mailer: &Mailer, entry: &OutboxEntry) {
    let outcome = if entry.kind == MAIL {
        match serde_json::from_str::<Mail>(&entry.payload) {
            Ok(mail) => mailer.send(&mail).await,
            Err(e) => Err(SendError::Permanent(format!("unreadable mail: {e}"))),
        }
    } else {
        service
            .run_job(entry)
            .await
            .map_err(|e| SendError::Transient(e.to_string()))
    };
    let now = service.clock.now();
    let result = match outcome {
        Ok(()) => {
            tracing::info!(outbox_id = %entry.id, kind = %entry.kind, attempts = entry.attempts, "outbox entry done");
            service.records.finish_outbox(&entry.id).await
        }
        Err(SendError::Permanent(why)) => {
            tracing::error!(outbox_id = %entry.id, kind = %entry.kind, error = %why, "outbox entry dropped: refused for good");
            service.records.finish_outbox(&entry.id).await
        }
        Err(SendError::Transient(why)) if now - entry.created_at > GIVE_UP_AFTER => {
            tracing::error!(outbox_id = %entry.id, kind = %entry.kind, error = %why, attempts = entry.attempts, "outbox entry dropped: still failing after 3 days");
            service.records.finish_outbox(&entry.id).await
        }
        Err(SendError::Transient(why)) => {
            let delay = backoff(entry.attempts);
            tracing::warn!(outbox_id = %entry.id, kind = %entry.kind, error = %why, attempts = entry.attempts, retry_in = delay, "outbox entry failed; will retry");
            service
                .records
                .retry_outbox(&entry.id, now + delay, &why)
                .await
        }
    };
    if let Err(e) = result {
        tracing::warn!(outbox_id = %entry.id, error = %e, "the outbox cannot be written");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_doubles_from_one_second_up_to_fifteen_minutes() {
        let delays: Vec<i64> = (1..=12).map(backoff).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]);
        assert_eq!(backoff(0), 1);
        assert_eq!(backoff(i64::MAX), 900);
    }
}
