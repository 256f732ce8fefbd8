//! Resident memory of the in-memory session store (`session_auth`, `session_exp_auth`), for the
//! benchmark suite (`bench/run`, `docs/BENCHMARKS.md`).
//!
//!     cargo run --release --example bench_memory -- [SESSIONS] [USERS]
//!
//! Fills a `MemorySessionStore` with SESSIONS sessions (default 1,000,000) of USERS distinct
//! users (default 100,000) through `SessionStore::insert`, each as the server makes them: a random
//! uuid4 handle, the digest of a token, the user's id, timestamps, an IPv4 address in
//! 203.0.113.0/24 and one of a few real browser user agents. Reports the resident set size
//! (from `/proc/self/statm`) before and after, and bytes per session. The last line is
//! machine-readable: `sessions=N rss_before=B rss_after=B bytes_per_session=B`.
//!
//! The example uses the global allocator the `sesame` binary sets in `src/main.rs` (mimalloc), so
//! the figure is the server's; keep the two in step.

use std::time::Instant;

use sesame::clock::{Clock as _, SystemClock};

use anyhow::Context as _;
use sesame::domain::{Session, new_id, token_digest};
use sesame::store::SessionStore;
use sesame::store::memory::MemorySessionStore;

/// The same allocator as the `sesame` binary (`src/main.rs`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Real browsers' user agents, in turn.
const USER_AGENTS: [&str; 4] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
     Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) \
     Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like \
     Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
];

/// Resident bytes of this process: `/proc/self/statm`'s resident pages times the page size.
fn rss() -> anyhow::Result<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").context("reading /proc/self/statm")?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .context("no resident field in /proc/self/statm")?
        .parse()?;
    Ok(pages * page_size())
}

/// The page size, from the kernel's own page-size line for the stack mapping (4096 if absent).
fn page_size() -> u64 {
    std::fs::read_to_string("/proc/self/smaps")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("KernelPageSize:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(4096, |kb| kb * 1024)
}

fn arg(n: usize, default: u64) -> anyhow::Result<u64> {
    match std::env::args().nth(n) {
        Some(v) => v.parse().with_context(|| format!("argument {n}: {v:?}")),
        None => Ok(default),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let sessions = arg(1, 1_000_000)?;
    let users = arg(2, 100_000)?.max(1);
    let now = SystemClock.now();
    // The users' ids exist before the sessions (the server has them in its user store).
    let user_ids: Vec<String> = (0..users).map(|_| new_id()).collect();

    let store = MemorySessionStore::default();
    let before = rss()?;
    let started = Instant::now();
    for i in 0..sessions {
        let session = Session {
            id: new_id(),
            digest: token_digest(&format!("bench-{i}")),
            user_id: user_ids[(i % users) as usize].clone(),
            created_at: now,
            last_seen_at: now,
            ip: Some(format!("203.0.113.{}", i % 254 + 1)),
            user_agent: Some(USER_AGENTS[(i % 4) as usize].to_owned()),
        };
        store.insert(&session).await?;
    }
    let fill = started.elapsed();
    let after = rss()?;

    // A lookup check, and a rough figure for it.
    let started = Instant::now();
    let mut found = 0u64;
    let probes = sessions.min(1_000_000);
    for i in 0..probes {
        let k = i.wrapping_mul(7_919) % sessions.max(1);
        if store
            .get(&token_digest(&format!("bench-{k}")))
            .await?
            .is_some()
        {
            found += 1;
        }
    }
    let lookup = started.elapsed();
    anyhow::ensure!(found == probes, "only {found} of {probes} sessions found");

    let per = after
        .saturating_sub(before)
        .checked_div(sessions)
        .unwrap_or(0);
    eprintln!(
        "{sessions} sessions of {users} users: RSS {:.1} MiB before, {:.1} MiB after, \
         {per} bytes per session; filled in {:.2} s, {:.0} ns per lookup (token hashing included)",
        before as f64 / 1_048_576.0,
        after as f64 / 1_048_576.0,
        fill.as_secs_f64(),
        lookup.as_nanos() as f64 / probes.max(1) as f64,
    );
    println!("sessions={sessions} rss_before={before} rss_after={after} bytes_per_session={per}");
    Ok(())
}
