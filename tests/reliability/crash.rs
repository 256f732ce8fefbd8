//! Crash consistency: the real binary is killed with SIGKILL at a random moment while several
//! clients create users, rename them, log in and log out, and started again on the same
//! database; then every write it acknowledged must be there.
//!
//! Each round: load from [`WRITERS`] concurrent clients, SIGKILL after a random delay, restart,
//! check the whole history so far. `CRASH_ROUNDS` (default 3) sets the number of rounds;
//! `CRASH_SEED` replays a seed printed by an earlier run (the operations each client picks and
//! the kill delays; the interleaving is still the scheduler's). Run with `--nocapture` to see the
//! summary line of each store.
//!
//! What "acknowledged" buys, and what the checks allow:
//! - a `201` create: the user exists after the restart, with that email;
//! - a `200` rename: the user's `first_name` is that value, or a value sent later (a rename in
//!   flight at the kill may or may not have landed). Each user is renamed by one client only,
//!   one request at a time, so "later" is well defined;
//! - a `200` logout: the token is refused (403), at once after the restart and in every later
//!   check;
//! - a `200` login: the session works after the restart unless its logout was sent.
//!
//! A write in flight at the kill is settled by the first check after the restart: what the
//! restarted server shows from then on is durable state and must hold in the later rounds.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::server::{self, Server};

/// Concurrent writers: each creates users with Argon2 hashing (about 15 ms of CPU each), so
/// a few keep the machine busy without starving the rest of the suite.
const WRITERS: usize = 4;
const ADMIN_EMAIL: &str = "admin@crash.test";
const PASSWORD: &str = "crash test passphrase";
/// The kill comes this many milliseconds after the load starts, at random in the range.
const KILL_AFTER_MS: (u64, u64) = (150, 900);

#[tokio::test]
async fn acknowledged_writes_survive_sigkill_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    let url = format!("sqlite://{}", path.display());
    assert!(url.starts_with("sqlite:///"), "an absolute path: {url}");
    let (mut server, totals) = crash_rounds("sqlite", &url, None).await;

    // Stop it the ordinary way, then look at the file with SQLite's own checker.
    let stopped = server.terminate(Duration::from_secs(20));
    let (status, _) = stopped.expect("sesame did not stop within 20 s of SIGTERM");
    assert!(status.success(), "sesame exited with {status:?}");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let report: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        report,
        ["ok"],
        "PRAGMA integrity_check of {}",
        path.display()
    );

    totals.report("sqlite");
}

#[tokio::test]
async fn acknowledged_writes_survive_sigkill_on_postgres() {
    let db = crate::support::TestDb::new().await;
    let client = db.client().await;
    let (server, totals) = crash_rounds("postgres", &db.url(), Some(&client)).await;
    server.kill9();
    drop(client);
    drop(db);
    totals.report("postgres");
}

/// What a whole run of rounds did.
#[derive(Debug, Default)]
struct Totals {
    rounds: u64,
    acknowledged: u64,
    checked: u64,
    lost: u64,
}

impl Totals {
    /// Prints the summary line and fails if anything acknowledged was lost.
    fn report(&self, store: &str) {
        eprintln!(
            "crash {store}: rounds {}, writes acknowledged {}, checked {}, lost {}",
            self.rounds, self.acknowledged, self.checked, self.lost
        );
        assert!(self.acknowledged > 0, "no write was acknowledged at all");
        assert!(self.checked > 0, "nothing was checked");
        assert_eq!(
            self.lost, 0,
            "acknowledged writes lost on {store} (details above)"
        );
    }
}

/// Runs the rounds against a sesame on `database_url`; returns the server, still running after
/// the last check, and the totals. `pg`: a plain connection to the same database, to compare
/// the users table with what the API shows.
async fn crash_rounds(
    store: &str,
    database_url: &str,
    pg: Option<&tokio_postgres::Client>,
) -> (Server, Totals) {
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| getrandom::u64().unwrap());
    let rounds = crate::env_number("CRASH_ROUNDS", 3);
    eprintln!("crash {store}: seed {seed} (CRASH_SEED={seed} replays it), {rounds} rounds");
    let env = [
        ("DATABASE_URL", database_url),
        ("THROTTLE_ADDRESS_FREE", "0"),
    ];
    server::create_admin(&env, ADMIN_EMAIL, PASSWORD);

    let mut rng = Rng::new(seed);
    let mut books: Vec<Book> = (0..WRITERS).map(Book::new).collect();
    let mut totals = Totals::default();
    let mut server = Server::start(&env);
    for round in 1..=rounds {
        let target = Arc::new(Target::new(&server).await);
        let kill_after = KILL_AFTER_MS.0 + rng.below(KILL_AFTER_MS.1 - KILL_AFTER_MS.0 + 1);
        let before: u64 = books.iter().map(|b| b.acknowledged).sum();
        let writers: Vec<_> = books
            .drain(..)
            .map(|book| {
                let rng = Rng::new(seed ^ round.wrapping_mul(0x9E37_79B9) ^ book.writer as u64);
                tokio::spawn(writer(target.clone(), book, rng, round))
            })
            .collect();
        // The random moment: a real delay on purpose, since what is under test is the state a
        // process leaves when it dies in the middle of real work.
        tokio::time::sleep(Duration::from_millis(kill_after)).await;
        server.kill9();
        for w in writers {
            books.push(w.await.unwrap());
        }
        let acknowledged: u64 = books.iter().map(|b| b.acknowledged).sum::<u64>() - before;
        if let Some(pg) = pg {
            backends_gone(pg).await;
        }

        let started = Instant::now();
        server = Server::start(&env);
        let target = Target::new(&server).await;
        let c = check(&target, &mut books, pg).await;
        eprintln!(
            "crash {store} round {round}: killed {kill_after} ms into the load, {acknowledged} \
             writes acknowledged, {} renames or logouts in flight ({} landed); restarted and \
             checked {} in {:?}, lost {}",
            c.in_flight,
            c.landed,
            c.checked,
            started.elapsed(),
            c.lost
        );
        totals.rounds += 1;
        totals.acknowledged += acknowledged;
        totals.checked += c.checked;
        totals.lost += c.lost;
    }
    for book in &books {
        for line in &book.unexpected {
            eprintln!("crash {store}: unexpected answer during the load: {line}");
        }
    }
    (server, totals)
}

/// A server to talk to, with an administrator's session.
struct Target {
    http: reqwest::Client,
    api: String,
    admin: String,
}

impl Target {
    async fn new(server: &Server) -> Self {
        // A client per server: connections to a killed process are not reused.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let admin = server::login(&http, server, ADMIN_EMAIL, PASSWORD).await;
        Self {
            http,
            api: server.url(""),
            admin,
        }
    }
}

/// An answer read whole; an `Err` is a request the server never answered (it was killed).
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

async fn send(rb: reqwest::RequestBuilder) -> Result<Answer, reqwest::Error> {
    let r = rb.send().await?;
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await?;
    Ok(Answer {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    })
}

/// A user a writer created, as far as it knows.
#[derive(Debug)]
struct TrackedUser {
    id: String,
    email: String,
    /// The last acknowledged (or, after a check, observed) `first_name`.
    first_name: String,
    /// Values sent after it that were never acknowledged: any of them may have landed.
    maybe: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SessionState {
    /// Login acknowledged, no logout sent.
    Live,
    /// Logout sent, never acknowledged.
    LoggingOut,
    /// Logout acknowledged.
    LoggedOut,
}

#[derive(Debug)]
struct TrackedSession {
    /// `name=token`.
    cookie: String,
    email: String,
    state: SessionState,
}

/// One writer's history, kept across rounds. Only its writer acts on its users and sessions.
#[derive(Debug)]
struct Book {
    writer: usize,
    next: u64,
    users: Vec<TrackedUser>,
    sessions: Vec<TrackedSession>,
    acknowledged: u64,
    /// Answers before the kill that contradict an acknowledged write.
    lost: Vec<String>,
    /// Other answers that were neither success nor a dead server.
    unexpected: Vec<String>,
}

impl Book {
    fn new(writer: usize) -> Self {
        Self {
            writer,
            next: 0,
            users: Vec::new(),
            sessions: Vec::new(),
            acknowledged: 0,
            lost: Vec::new(),
            unexpected: Vec::new(),
        }
    }

    /// A value never sent before by anyone: `w<writer>-<n>`.
    fn fresh(&mut self) -> String {
        self.next += 1;
        format!("w{}-{}", self.writer, self.next)
    }
}

/// Writes until the server dies under it; returns what it learnt.
async fn writer(t: Arc<Target>, mut book: Book, mut rng: Rng, round: u64) -> Book {
    loop {
        let live: Vec<usize> = (0..book.sessions.len())
            .filter(|&i| book.sessions[i].state == SessionState::Live)
            .collect();
        let dice = rng.below(100);
        let step = if book.users.is_empty() || dice < 25 {
            create(&t, &mut book, round).await
        } else if dice < 55 || (dice >= 75 && live.is_empty()) {
            let i = rng.below(book.users.len() as u64) as usize;
            rename(&t, &mut book, i).await
        } else if dice < 75 {
            let i = rng.below(book.users.len() as u64) as usize;
            login(&t, &mut book, i).await
        } else {
            let i = live[rng.below(live.len() as u64) as usize];
            logout(&t, &mut book, i).await
        };
        if step.is_err() {
            return book;
        }
    }
}

async fn create(t: &Target, book: &mut Book, round: u64) -> Result<(), reqwest::Error> {
    let first_name = book.fresh();
    let email = format!("r{round}-{first_name}@crash.test");
    let a = send(
        t.http
            .post(format!("{}/users", t.api))
            .header("cookie", &t.admin)
            .json(&json!({"email": email, "password": PASSWORD, "first_name": first_name})),
    )
    .await?;
    if a.status == 201 {
        book.acknowledged += 1;
        book.users.push(TrackedUser {
            id: a.body["id"].as_str().unwrap().to_owned(),
            email,
            first_name,
            maybe: Vec::new(),
        });
    } else {
        book.unexpected
            .push(format!("POST /users {email}: {} {}", a.status, a.body));
    }
    Ok(())
}

async fn rename(t: &Target, book: &mut Book, i: usize) -> Result<(), reqwest::Error> {
    let value = book.fresh();
    book.users[i].maybe.push(value.clone());
    let id = book.users[i].id.clone();
    let a = send(
        t.http
            .put(format!("{}/users/{id}", t.api))
            .header("cookie", &t.admin)
            .json(&json!({ "first_name": value })),
    )
    .await?;
    match a.status {
        200 => {
            book.acknowledged += 1;
            let u = &mut book.users[i];
            u.first_name = value;
            u.maybe.clear();
        }
        404 => book.lost.push(format!(
            "PUT /users/{id}: 404 for a user whose creation was acknowledged"
        )),
        s => book
            .unexpected
            .push(format!("PUT /users/{id}: {s} {}", a.body)),
    }
    Ok(())
}

async fn login(t: &Target, book: &mut Book, i: usize) -> Result<(), reqwest::Error> {
    let email = book.users[i].email.clone();
    let a = send(
        t.http
            .post(format!("{}/auth_session/login", t.api))
            .form(&[("email", email.as_str()), ("password", PASSWORD)]),
    )
    .await?;
    match a.status {
        200 => {
            book.acknowledged += 1;
            let set = a.headers["set-cookie"].to_str().unwrap();
            book.sessions.push(TrackedSession {
                cookie: set.split(';').next().unwrap().to_owned(),
                email,
                state: SessionState::Live,
            });
        }
        401 => book.lost.push(format!(
            "login of {email}: 401 for a user whose creation was acknowledged"
        )),
        s => book
            .unexpected
            .push(format!("login of {email}: {s} {}", a.body)),
    }
    Ok(())
}

async fn logout(t: &Target, book: &mut Book, i: usize) -> Result<(), reqwest::Error> {
    book.sessions[i].state = SessionState::LoggingOut;
    let a = send(
        t.http
            .delete(format!("{}/auth_session/logout", t.api))
            .header("cookie", &book.sessions[i].cookie),
    )
    .await?;
    let email = &book.sessions[i].email;
    match a.status {
        200 => {
            book.acknowledged += 1;
            book.sessions[i].state = SessionState::LoggedOut;
        }
        401 | 403 => book.lost.push(format!(
            "logout of a session of {email}: {} for a login that was acknowledged",
            a.status
        )),
        s => book
            .unexpected
            .push(format!("logout of a session of {email}: {s} {}", a.body)),
    }
    Ok(())
}

/// What one check found.
struct Checked {
    /// Expectations met.
    checked: u64,
    /// Acknowledged writes missing (or undone).
    lost: u64,
    /// Renames and logouts sent but never answered, settled by this check.
    in_flight: u64,
    /// How many of those had landed.
    landed: u64,
}

/// Checks every writer's whole history against the (restarted) server; settles the writes
/// that were in flight at the kill to what it shows.
async fn check(t: &Target, books: &mut [Book], pg: Option<&tokio_postgres::Client>) -> Checked {
    let mut checked = 0;
    let mut lost = 0;
    let mut in_flight = 0;
    let mut landed = 0;
    let mut fail = |what: String| {
        eprintln!("LOST: {what}");
        lost += 1;
    };
    for book in books.iter_mut() {
        for what in book.lost.drain(..) {
            fail(what);
        }
        for u in &mut book.users {
            let a = send(
                t.http
                    .get(format!("{}/users/{}", t.api, u.id))
                    .header("cookie", &t.admin),
            )
            .await
            .unwrap();
            match a.status {
                200 => {}
                404 => {
                    fail(format!(
                        "the acknowledged creation of {} ({})",
                        u.email, u.id
                    ));
                    continue;
                }
                s => panic!("GET /users/{} after the restart: {s} {}", u.id, a.body),
            }
            checked += 1;
            assert_eq!(a.body["email"], u.email.as_str(), "user {}", u.id);
            let seen = a.body["first_name"].as_str().unwrap_or("<null>").to_owned();
            if !u.maybe.is_empty() {
                in_flight += 1;
                landed += u64::from(u.maybe.contains(&seen));
            }
            if seen == u.first_name || u.maybe.contains(&seen) {
                checked += 1;
                u.first_name = seen;
                u.maybe.clear();
            } else {
                fail(format!(
                    "{}: first_name {seen:?}, acknowledged {:?}, sent after it {:?}",
                    u.email, u.first_name, u.maybe
                ));
            }
        }
        for s in &mut book.sessions {
            let a = send(
                t.http
                    .get(format!("{}/users/me", t.api))
                    .header("cookie", &s.cookie),
            )
            .await
            .unwrap();
            let works = match a.status {
                200 => {
                    assert_eq!(a.body["email"], s.email.as_str(), "a session's user");
                    true
                }
                403 => false,
                other => panic!("GET /users/me after the restart: {other} {}", a.body),
            };
            match (s.state, works) {
                (SessionState::Live, true) | (SessionState::LoggedOut, false) => checked += 1,
                (SessionState::Live, false) => {
                    fail(format!("an acknowledged login of {} is refused", s.email));
                }
                (SessionState::LoggedOut, true) => {
                    fail(format!("an acknowledged logout of {} still works", s.email));
                }
                (SessionState::LoggingOut, true) => {
                    in_flight += 1;
                    s.state = SessionState::Live;
                }
                (SessionState::LoggingOut, false) => {
                    in_flight += 1;
                    landed += 1;
                    s.state = SessionState::LoggedOut;
                }
            }
        }
    }
    // Refused, and still refused after everything above ran on the restarted server.
    for book in books.iter() {
        for s in book
            .sessions
            .iter()
            .filter(|s| s.state == SessionState::LoggedOut)
        {
            let a = send(
                t.http
                    .get(format!("{}/users/me", t.api))
                    .header("cookie", &s.cookie),
            )
            .await
            .unwrap();
            if a.status == 403 {
                checked += 1;
            } else {
                fail(format!(
                    "a logged-out session of {} answers {} on a second look",
                    s.email, a.status
                ));
            }
        }
    }
    if let Some(pg) = pg {
        let a = send(
            t.http
                .get(format!("{}/users", t.api))
                .header("cookie", &t.admin),
        )
        .await
        .unwrap();
        assert_eq!(a.status, 200, "GET /users: {}", a.body);
        let ids: HashSet<&str> = a
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_str().unwrap())
            .collect();
        let rows: i64 = pg
            .query_one("SELECT count(*) FROM users", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(
            usize::try_from(rows).unwrap(),
            ids.len(),
            "rows in the users table against distinct users through GET /users"
        );
        let tracked: usize = books.iter().map(|b| b.users.len()).sum();
        // The acknowledged users, the administrator, and any creation in flight at a kill.
        assert!(
            ids.len() > tracked,
            "{} users listed, {tracked} tracked",
            ids.len()
        );
        checked += 1;
    }
    Checked {
        checked,
        lost,
        in_flight,
        landed,
    }
}

/// Waits until PostgreSQL has ended every backend of the killed server: until then a
/// transaction it had sent could still commit while the restarted one is being checked.
async fn backends_gone(pg: &tokio_postgres::Client) {
    let since = Instant::now();
    loop {
        let others: i64 = pg
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if others == 0 {
            return;
        }
        assert!(
            since.elapsed() < Duration::from_secs(30),
            "{others} backends of the killed server still open after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// SplitMix64: small, seeded, good enough to pick operations and delays.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
