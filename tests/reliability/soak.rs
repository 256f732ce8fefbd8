//! Soak: a mixed load (reads, logins, logouts, creates) at a steady rate against the binary,
//! watching errors, memory, open files and latency.
//!
//! `SOAK_SECS` (default 60) sets the length, `SOAK_RATE` (default 100) the requests per
//! second. The documented long run is `SOAK_SECS=600`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::server::{Server, create_admin, login};

const ADMIN: &str = "soak-admin@example.com";
const PASSWORD: &str = "soak-password-1";

/// What one request of the mix does.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Read,
    Login,
    Logout,
    Create,
}

/// The mix, in tenths: 7 reads, 1 login, 1 logout, 1 create.
const MIX: [Kind; 10] = [
    Kind::Read,
    Kind::Login,
    Kind::Read,
    Kind::Read,
    Kind::Create,
    Kind::Read,
    Kind::Logout,
    Kind::Read,
    Kind::Read,
    Kind::Read,
];

struct Load {
    http: reqwest::Client,
    base: String,
    admin: String,
    /// Sessions of the pool's users, to read with and log out.
    sessions: Mutex<Vec<String>>,
    users: Vec<String>,
    created: AtomicU64,
    errors: AtomicU64,
}

impl Load {
    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    /// Runs one request; an error says how its answer was not the expected one.
    async fn run(&self, kind: Kind, n: u64) -> Result<(), String> {
        let check = |r: reqwest::Result<reqwest::Response>, want: u16| match r {
            Ok(r) if r.status().as_u16() == want => Ok(r),
            Ok(r) => Err(format!("{kind:?}: status {}", r.status())),
            Err(e) => Err(format!("{kind:?}: {e}")),
        };
        match kind {
            Kind::Read => {
                let cookie = {
                    let s = self.sessions.lock().await;
                    s[n as usize % s.len()].clone()
                };
                let r = self
                    .http
                    .get(self.url("/users/me"))
                    .header("cookie", cookie)
                    .send()
                    .await;
                check(r, 200)?.bytes().await.map_err(|e| e.to_string())?;
            }
            Kind::Login => {
                let email = &self.users[n as usize % self.users.len()];
                let r = self
                    .http
                    .post(self.url("/auth_session/login"))
                    .form(&[("email", email.as_str()), ("password", PASSWORD)])
                    .send()
                    .await;
                let r = check(r, 200)?;
                let cookie = r.headers()["set-cookie"]
                    .to_str()
                    .map_err(|e| e.to_string())?
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                self.sessions.lock().await.push(cookie);
            }
            Kind::Logout => {
                let cookie = {
                    let mut s = self.sessions.lock().await;
                    // Keep a few sessions for the reads.
                    if s.len() <= 8 {
                        return Ok(());
                    }
                    let i = n as usize % s.len();
                    s.swap_remove(i)
                };
                let r = self
                    .http
                    .delete(self.url("/auth_session/logout"))
                    .header("cookie", cookie)
                    .send()
                    .await;
                check(r, 200)?;
            }
            Kind::Create => {
                let i = self.created.fetch_add(1, Ordering::Relaxed);
                let r = self
                    .http
                    .post(self.url("/users"))
                    .header("cookie", &self.admin)
                    .json(&serde_json::json!({
                        "email": format!("soak-new-{i}@example.com"),
                        "password": PASSWORD,
                    }))
                    .send()
                    .await;
                check(r, 201)?;
            }
        }
        Ok(())
    }
}

/// One window of the run.
struct Window {
    requests: usize,
    p50: Duration,
    p99: Duration,
    rss_kib: u64,
    files: usize,
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

#[tokio::test]
async fn a_steady_mixed_load_keeps_errors_at_zero_and_memory_files_and_latency_flat() {
    let _one = crate::exclusive().await;
    let secs = crate::env_number("SOAK_SECS", 60);
    let rate = crate::env_number("SOAK_RATE", 100).max(1);
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("s.db").display());
    let env = [
        ("DATABASE_URL", db.as_str()),
        ("THROTTLE_ADDRESS_FREE", "0"),
    ];
    create_admin(&env, ADMIN, PASSWORD);
    let server = Server::start(&env);
    let http = reqwest::Client::new();
    let admin = login(&http, &server, ADMIN, PASSWORD).await;
    let mut users = Vec::new();
    for i in 0..8 {
        let email = format!("soak-{i}@example.com");
        let r = http
            .post(server.url("/users"))
            .header("cookie", &admin)
            .json(&serde_json::json!({ "email": email, "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        users.push(email);
    }
    // The users log in all at once: the warm-up includes hashes running side by side, so the
    // password hasher's kept memory (a buffer per hash at once) is all there before measuring.
    let mut logins = tokio::task::JoinSet::new();
    for email in users.clone() {
        let (http, url) = (http.clone(), server.url("/auth_session/login"));
        logins.spawn(async move {
            let r = http
                .post(url)
                .form(&[("email", email.as_str()), ("password", PASSWORD)])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let set = r.headers()["set-cookie"].to_str().unwrap();
            set.split(';').next().unwrap().to_owned()
        });
    }
    let sessions = logins.join_all().await;
    let load = Arc::new(Load {
        http,
        base: server.base(),
        admin,
        sessions: Mutex::new(sessions),
        users,
        created: AtomicU64::new(0),
        errors: AtomicU64::new(0),
    });

    let window = Duration::from_secs((secs / 10).max(1));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Duration>();
    let start = Instant::now();
    let end = start + Duration::from_secs(secs);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut windows = Vec::new();
    let mut latencies = Vec::new();
    let mut window_end = start + window;
    let mut first_error = None::<String>;
    let (etx, mut erx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let mut n = 0u64;
    while Instant::now() < end {
        tick.tick().await;
        let kind = MIX[n as usize % MIX.len()];
        let (load, tx, etx) = (load.clone(), tx.clone(), etx.clone());
        let i = n;
        tokio::spawn(async move {
            let t = Instant::now();
            match load.run(kind, i).await {
                Ok(()) => {
                    let _ = tx.send(t.elapsed());
                }
                Err(e) => {
                    load.errors.fetch_add(1, Ordering::Relaxed);
                    let _ = etx.send(e);
                }
            }
        });
        n += 1;
        while let Ok(l) = rx.try_recv() {
            latencies.push(l);
        }
        if let Ok(e) = erx.try_recv() {
            first_error.get_or_insert(e);
        }
        if Instant::now() >= window_end {
            latencies.sort();
            windows.push(Window {
                requests: latencies.len(),
                p50: quantile(&latencies, 0.5),
                p99: quantile(&latencies, 0.99),
                rss_kib: server.rss_kib(),
                files: server.open_files(),
            });
            latencies.clear();
            window_end += window;
        }
    }
    // Let the last requests finish.
    tokio::time::sleep(Duration::from_millis(500)).await;
    while let Ok(e) = erx.try_recv() {
        first_error.get_or_insert(e);
    }

    eprintln!("soak: {n} requests in {secs} s at {rate}/s");
    eprintln!("window  requests  p50       p99       RSS KiB  files");
    for (i, w) in windows.iter().enumerate() {
        eprintln!(
            "{:>6}  {:>8}  {:>8.1?}  {:>8.1?}  {:>7}  {:>5}",
            i, w.requests, w.p50, w.p99, w.rss_kib, w.files
        );
    }
    let errors = load.errors.load(Ordering::Relaxed);
    eprintln!("soak: errors {errors}");
    assert_eq!(errors, 0, "first error: {first_error:?}");

    // After warm-up (the first two windows): memory and open files flat, latency steady.
    let settled = &windows[2..];
    assert!(settled.len() >= 3, "too short a run to judge");
    let rss_first = settled[0].rss_kib;
    let rss_max = settled.iter().map(|w| w.rss_kib).max().unwrap();
    assert!(
        rss_max < rss_first + 16 * 1024,
        "RSS grew from {rss_first} KiB to {rss_max} KiB"
    );
    let files_min = settled.iter().map(|w| w.files).min().unwrap();
    let files_max = settled.iter().map(|w| w.files).max().unwrap();
    assert!(
        files_max <= files_min + 8,
        "open files moved from {files_min} to {files_max}"
    );
    let p99_first = settled[0].p99;
    for w in settled {
        assert!(
            w.p99 <= p99_first * 4 + Duration::from_millis(50),
            "p99 went from {p99_first:?} to {:?}",
            w.p99
        );
        assert!(
            w.requests as u64 >= rate * window.as_secs() * 9 / 10,
            "a window answered only {} requests",
            w.requests
        );
    }
}
