//! SQLite's write-ahead log stays bounded under sustained writes: failed logins, each of which
//! records a failure for its account.

use std::time::{Duration, Instant};

use crate::server::on_sqlite;

/// The bound the log must stay under (docs/RELIABILITY.md states it).
const WAL_BOUND: u64 = 8 * 1024 * 1024;

/// What one failed login adds to the log unchecked: four pages of 4 KiB and their frame headers.
const WAL_PER_LOGIN: u64 = 16 * 1024;

#[tokio::test]
async fn the_write_ahead_log_stays_bounded_over_a_minute_of_failed_logins() {
    let _one = crate::exclusive().await;
    let secs = crate::env_number("WAL_SECS", 60);
    let (dir, server) = on_sqlite(&[("THROTTLE_ADDRESS_FREE", "0")]);
    let path = dir.path().join("s.db");
    let wal = dir.path().join("s.db-wal");
    let done = Instant::now() + Duration::from_secs(secs);
    let mut workers = Vec::new();
    for w in 0..4 {
        let url = server.url("/auth_session/login");
        workers.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut n = 0u64;
            while Instant::now() < done {
                let email = format!("nobody-{w}-{n}@example.com");
                let r = http
                    .post(&url)
                    .form(&[("email", email.as_str()), ("password", "wrong-password")])
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 401);
                n += 1;
            }
            n
        }));
    }
    let mut largest = 0u64;
    while Instant::now() < done {
        let size = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        largest = largest.max(size);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut logins = 0;
    for w in workers {
        logins += w.await.unwrap();
    }
    let end = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    largest = largest.max(end);
    let rows: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("SELECT count(*) FROM login_failures", [], |r| r.get(0))
        .unwrap();
    eprintln!(
        "wal: {logins} failed logins in {secs} s; largest WAL {:.1} MiB (bound {} MiB), at the end {:.1} MiB; {rows} failure rows",
        largest as f64 / 1048576.0,
        WAL_BOUND / 1048576,
        end as f64 / 1048576.0
    );
    assert_eq!(rows as u64, logins, "every failure was recorded");
    assert!(
        logins * WAL_PER_LOGIN > 2 * WAL_BOUND,
        "too few writes ({logins}) to outgrow the bound unchecked"
    );
    assert!(largest < WAL_BOUND, "the WAL reached {largest} bytes");
    drop(server);
}
