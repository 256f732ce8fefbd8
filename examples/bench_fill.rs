//! Fills a sesame store with users and live sessions, directly and in seconds, for the benchmark
//! suite (`bench/run`, `docs/BENCHMARKS.md`).
//!
//!     cargo run --release --example bench_fill -- --sqlite PATH [--users N] [--sessions M]
//!     cargo run --release --example bench_fill -- --postgres URL [--users N] [--sessions M]
//!
//! The store is first opened by sesame itself (`SqliteStore::open_file`, `PgStore::connect`) so
//! its migrations create the schema, then filled by a connection of our own: rusqlite in one
//! transaction with prepared statements, or PostgreSQL `COPY ... FROM STDIN BINARY`.
//!
//! - User `i` (0-based) has the email `user{i}@bench.test` and the password `--password`
//!   (default `bench-password`), hashed once with sesame's own Argon2id settings and reused.
//! - Session `i` has the token `bench-{i}` (the cookie value; stored as its SHA-256 digest),
//!   belongs to user `i % N`, and was created and last seen now.
//! - Ids are uuid-shaped counters: `00000001-0000-4000-8000-{i:012x}` for users,
//!   `00000002-...` for sessions.
//!
//! The store must be empty (a fresh file or database). Prints one line,
//! `users=N sessions=M seconds=S token=bench-0`.

use std::path::PathBuf;
use std::pin::pin;
use std::time::Instant;

use sesame::clock::{Clock as _, SystemClock};

use anyhow::{Context as _, bail};
use sesame::auth::password::Passwords;
use sesame::domain::{Secret, token_digest};
use tokio_postgres::NoTls;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;

/// The user agents the sessions claim, in turn.
const USER_AGENTS: [&str; 4] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
     Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) \
     Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "curl/8.5.0",
];

enum Target {
    Sqlite(PathBuf),
    Postgres(String),
}

struct Args {
    target: Target,
    users: u64,
    sessions: u64,
    password: String,
}

fn usage() -> &'static str {
    "usage: bench_fill (--sqlite PATH | --postgres URL) [--users N] [--sessions M] \
     [--password P]"
}

fn parse_args() -> anyhow::Result<Args> {
    let mut target = None;
    let mut users = 100_000;
    let mut sessions = 1_000_000;
    let mut password = "bench-password".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            println!("{}", usage());
            std::process::exit(0);
        }
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value\n{}", usage()))?;
        match flag.as_str() {
            "--sqlite" => target = Some(Target::Sqlite(PathBuf::from(value))),
            "--postgres" => target = Some(Target::Postgres(value)),
            "--users" => users = value.parse().context("--users")?,
            "--sessions" => sessions = value.parse().context("--sessions")?,
            "--password" => password = value,
            other => bail!("unknown argument {other:?}\n{}", usage()),
        }
    }
    let Some(target) = target else {
        bail!("{}", usage());
    };
    if users == 0 && sessions > 0 {
        bail!("sessions need at least one user");
    }
    Ok(Args {
        target,
        users,
        sessions,
        password,
    })
}

fn user_id(i: u64) -> String {
    format!("00000001-0000-4000-8000-{i:012x}")
}

fn session_id(i: u64) -> String {
    format!("00000002-0000-4000-8000-{i:012x}")
}

fn ip(i: u64) -> String {
    format!("203.0.113.{}", i % 254 + 1)
}

fn fill_sqlite(path: &std::path::Path, a: &Args, hash: &str, now: i64) -> anyhow::Result<()> {
    // sesame creates and migrates the schema, then lets go of the file.
    let store = sesame::store::sqlite::SqliteStore::open_file(path)
        .with_context(|| format!("opening {} with sesame", path.display()))?;
    drop(store);

    let mut conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // A bulk load: a big page cache, and no fsync until the end (the file is checkpointed and
    // synced below; a crash during the fill only loses the fill).
    conn.pragma_update(None, "cache_size", -1_048_576i64)?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    // Out of WAL mode for the load, so the pages are written once, not to the log and then
    // again to the file; sesame's WAL mode is restored afterwards.
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    let _: String = conn.query_row("PRAGMA journal_mode=DELETE", [], |r| r.get(0))?;
    let tx = conn.transaction()?;
    {
        let mut insert_user = tx.prepare(
            "INSERT INTO users (id, email, email_key, password_hash, first_name, last_name, \
             created_at, updated_at, is_admin) VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6, ?6, 0)",
        )?;
        for i in 0..a.users {
            insert_user.execute(rusqlite::params![
                user_id(i),
                format!("user{i}@bench.test"),
                hash,
                "Bench",
                format!("User {i}"),
                now
            ])?;
        }
        let mut insert_session = tx.prepare(
            "INSERT INTO sessions (id, digest, user_id, created_at, last_seen_at, ip, user_agent) \
             VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6)",
        )?;
        // In digest order, so the primary key (and the timestamp indexes, whose values are
        // all equal) grow at their end instead of splitting pages all over the tree.
        let mut order: Vec<(sesame::domain::Digest32, u64)> = (0..a.sessions)
            .map(|i| (token_digest(&format!("bench-{i}")), i))
            .collect();
        order.sort_unstable();
        for (digest, i) in order {
            insert_session.execute(rusqlite::params![
                session_id(i),
                &digest[..],
                user_id(i % a.users),
                now,
                ip(i),
                USER_AGENTS[(i % 4) as usize]
            ])?;
        }
    }
    tx.commit()?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    let _: String = conn.query_row(&format!("PRAGMA journal_mode={mode}"), [], |r| r.get(0))?;
    // What sesame does at shutdown: refresh the planner's statistics where useful.
    conn.execute_batch("PRAGMA optimize;")?;
    Ok(())
}

async fn fill_postgres(url: &str, a: &Args, hash: &str, now: i64) -> anyhow::Result<()> {
    // sesame creates and migrates the schema.
    let store = sesame::store::postgres::PgStore::connect(url)
        .await
        .with_context(|| format!("connecting to {url} with sesame"))?;
    drop(store);

    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    let conn_task = tokio::spawn(connection);

    let sink = client
        .copy_in(
            "COPY users (id, email, email_key, password_hash, first_name, last_name, created_at, \
             updated_at, is_admin) FROM STDIN BINARY",
        )
        .await?;
    let mut writer = pin!(BinaryCopyInWriter::new(
        sink,
        &[
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::INT8,
            Type::INT8,
            Type::BOOL,
        ],
    ));
    for i in 0..a.users {
        let id = user_id(i);
        let email = format!("user{i}@bench.test");
        let last = format!("User {i}");
        writer
            .as_mut()
            .write(&[
                &id, &email, &email, &hash, &"Bench", &last, &now, &now, &false,
            ])
            .await?;
    }
    writer.as_mut().finish().await?;

    let sink = client
        .copy_in(
            "COPY sessions (id, digest, user_id, created_at, last_seen_at, ip, user_agent) \
             FROM STDIN BINARY",
        )
        .await?;
    let mut writer = pin!(BinaryCopyInWriter::new(
        sink,
        &[
            Type::TEXT,
            Type::BYTEA,
            Type::TEXT,
            Type::INT8,
            Type::INT8,
            Type::TEXT,
            Type::TEXT,
        ],
    ));
    for i in 0..a.sessions {
        let id = session_id(i);
        let digest = token_digest(&format!("bench-{i}"));
        let digest: &[u8] = &digest;
        let uid = user_id(i % a.users);
        let ip = ip(i);
        let ua = USER_AGENTS[(i % 4) as usize];
        writer
            .as_mut()
            .write(&[&id, &digest, &uid, &now, &now, &ip, &ua])
            .await?;
    }
    writer.as_mut().finish().await?;
    // What autovacuum would do soon after a load this size.
    client
        .batch_execute("ANALYZE users; ANALYZE sessions;")
        .await?;
    drop(client);
    let _ = conn_task.await;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let started = Instant::now();
    let now = SystemClock.now();
    // One Argon2id hash with sesame's parameters, shared by every user.
    let hash = Passwords::new(1)?
        .hash(Secret::new(args.password.clone()))
        .await?;
    match &args.target {
        Target::Sqlite(path) => {
            let path = path.clone();
            let hash = hash.clone();
            // rusqlite is blocking: keep it off the async workers.
            let (args, res) = tokio::task::spawn_blocking(move || {
                let res = fill_sqlite(&path, &args, &hash, now);
                (args, res)
            })
            .await?;
            res?;
            report(&args, started);
        }
        Target::Postgres(url) => {
            fill_postgres(url, &args, &hash, now).await?;
            report(&args, started);
        }
    }
    Ok(())
}

fn report(a: &Args, started: Instant) {
    println!(
        "users={} sessions={} seconds={:.1} token=bench-0",
        a.users,
        a.sessions,
        started.elapsed().as_secs_f64()
    );
}
