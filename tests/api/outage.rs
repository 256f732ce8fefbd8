//! Outages: a store that goes away under traffic makes the requests that need it answer 503
//! `{"error": ...}` within two seconds (never 500, never a hang) while `/status` keeps answering
//! and `/health/ready` says 503; when the store returns, sesame heals by itself, without a
//! restart. At start-up, an unreachable store is waited for up to `STORE_STARTUP_TIMEOUT`.
//!
//! Each test runs its OWN servers, so stopping them disturbs no one: a PostgreSQL cluster made
//! with `initdb` in a temporary directory (run as the `postgres` user when the tests run as
//! root) and a `redis-server` child process, each on a free port of 127.0.0.1, stopped and
//! removed when dropped, panics included. Two ways to lose a store: stopped (connections are
//! refused at once) and frozen with `SIGSTOP` (connections are accepted and never answered: the
//! case where only timeouts keep requests from hanging).
//!
//! Every response time is measured; the slowest 503 of each test is printed (run with
//! `--nocapture` to see it).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use sesame::clock::ManualClock;
use sesame::config::{RawConfig, Settings};
use tempfile::TempDir;
use tokio::task::block_in_place;

use crate::support::{Client, PASSWORD, Resp, T0, TestApp};

/// The contract's bound on a request that needs an unreachable store.
const BOUND: Duration = Duration::from_secs(2);

/// A request still unanswered after this long is a hang.
const HANG: Duration = Duration::from_secs(10);

/// How long the store may take to be usable again once it is back.
const HEAL_WITHIN: Duration = Duration::from_secs(10);

/// A port of 127.0.0.1 nothing listens on (at the time of asking).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `cmd` to completion; its standard error if it fails.
fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?}: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn is_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| {
        Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
    })
}

/// Sends `signal` (`STOP`, `CONT`) to `pid`.
fn signal(pid: u32, signal: &str) -> Result<(), String> {
    run(Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string()))
}

/// The processes whose parent is `parent`, from `/proc`.
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| {
            let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
            let after = &stat[stat.rfind(')')? + 1..];
            let ppid: u32 = after.split_whitespace().nth(1)?.parse().ok()?;
            (ppid == parent).then_some(pid)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Our own PostgreSQL.

/// A PostgreSQL cluster of its own in a temporary directory, on a free port, trust
/// authentication for `postgres`. Dropping it thaws, stops (`-m immediate`) and removes it.
pub(crate) struct OwnPostgres {
    dir: TempDir,
    bin: PathBuf,
    port: u16,
    started: bool,
    frozen: Vec<u32>,
}

impl OwnPostgres {
    /// The `bin` directory of the newest PostgreSQL under `/usr/lib/postgresql`.
    fn bin() -> PathBuf {
        let newest = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .filter_map(|e| {
                let e = e.ok()?;
                let version: u32 = e.file_name().to_str()?.parse().ok()?;
                let bin = e.path().join("bin");
                bin.join("pg_ctl").exists().then_some((version, bin))
            })
            .max();
        match newest {
            Some((_, bin)) => bin,
            None => panic!(
                "no PostgreSQL server binaries under /usr/lib/postgresql/<version>/bin \
                 (install the postgresql package; .ci/run does)"
            ),
        }
    }

    /// `program` (a PostgreSQL binary), run as the `postgres` user if we are root: the server
    /// refuses to run as root.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// A new cluster (`initdb`), not started yet.
    pub(crate) fn init() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("sesame-outage-pg-")
            .tempdir()
            .unwrap();
        let pg = Self {
            dir,
            bin: Self::bin(),
            port: free_port(),
            started: false,
            frozen: Vec::new(),
        };
        if is_root() {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(pg.dir.path()))
            .unwrap();
        }
        run(pg.command("initdb").arg("-D").arg(pg.data()).args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        ]))
        .unwrap();
        pg
    }

    /// Starts the server and waits until it accepts connections.
    pub(crate) fn start(&mut self) {
        self.started = true;
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
            self.port,
            self.dir.path().display()
        );
        let started = run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .args(["-o", &options, "-w", "-t", "30", "start"]));
        if let Err(e) = started {
            panic!(
                "starting our own PostgreSQL: {e}\nserver log:\n{}",
                self.log()
            );
        }
    }

    /// Stops the server the hard way (`-m immediate`: every process quits at once, as in a
    /// crash; the data survive and are recovered at the next start).
    pub(crate) fn stop(&mut self) {
        self.thaw();
        run(self.command("pg_ctl").arg("-D").arg(self.data()).args([
            "-m",
            "immediate",
            "-w",
            "-t",
            "30",
            "stop",
        ]))
        .unwrap();
        self.started = false;
    }

    /// Freezes the postmaster and every backend with `SIGSTOP`: connections are still accepted
    /// by the kernel, but nothing answers.
    pub(crate) fn freeze(&mut self) {
        let pid_file = std::fs::read_to_string(self.data().join("postmaster.pid")).unwrap();
        let postmaster: u32 = pid_file.lines().next().unwrap().trim().parse().unwrap();
        // The postmaster first, so it forks nothing new; then what it had forked.
        signal(postmaster, "STOP").unwrap();
        self.frozen.push(postmaster);
        for child in children_of(postmaster) {
            if signal(child, "STOP").is_ok() {
                self.frozen.push(child);
            }
        }
    }

    /// Undoes [`OwnPostgres::freeze`].
    pub(crate) fn thaw(&mut self) {
        for pid in self.frozen.drain(..).rev() {
            let _ = signal(pid, "CONT");
        }
    }

    /// `DATABASE_URL` for sesame.
    pub(crate) fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        // A frozen server would ignore the stop: thaw it first.
        self.thaw();
        if self.started {
            let stopped = run(self.command("pg_ctl").arg("-D").arg(self.data()).args([
                "-m",
                "immediate",
                "-w",
                "-t",
                "30",
                "stop",
            ]));
            if let Err(e) = stopped {
                eprintln!("could not stop our own PostgreSQL: {e}");
            }
        }
        // The TempDir field then removes the cluster.
    }
}

// ---------------------------------------------------------------------------------------------
// Our own Redis.

/// A `redis-server` child process on a port of its own, keeping nothing on disk. Dropping it
/// kills it (`SIGKILL` works on a frozen process too).
pub(crate) struct OwnRedis {
    child: Option<Child>,
    port: u16,
}

impl OwnRedis {
    /// Starts it on a free port.
    pub(crate) fn start() -> Self {
        Self::start_on(free_port())
    }

    /// Starts it on `port` and waits until it accepts connections.
    pub(crate) fn start_on(port: u16) -> Self {
        let mut redis = Self { child: None, port };
        redis.restart();
        redis
    }

    /// Starts the server again (after [`OwnRedis::kill`]), on the same port, empty.
    pub(crate) fn restart(&mut self) {
        assert!(self.child.is_none(), "redis-server is already running");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run redis-server (is it installed?): {e}"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("redis-server on port {} exited: {status}", self.port);
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server: its connections drop, its data are lost.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Freezes the server with `SIGSTOP`: connections stay open, nothing answers.
    pub(crate) fn freeze(&self) {
        signal(self.pid(), "STOP").unwrap();
    }

    /// Undoes [`OwnRedis::freeze`].
    pub(crate) fn thaw(&self) {
        signal(self.pid(), "CONT").unwrap();
    }

    /// `SESSION_STORE_URL` for sesame.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---------------------------------------------------------------------------------------------
// Traffic.

/// The requests of the traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Req {
    /// `GET /users/me` with the session cookie.
    Me,
    /// `GET /stats` with the session cookie.
    Stats,
    /// `GET /users/me/sessions` with the session cookie.
    MySessions,
    /// `POST /auth_session/login` with the right password.
    Login,
    /// `GET /health/ready`.
    Ready,
    /// `GET /status`.
    Status,
}

/// What the traffic is sent with: anonymous, and as a signed-in user.
#[derive(Clone)]
struct Traffic {
    anon: Client,
    user: Client,
    email: String,
}

impl Traffic {
    /// Makes `email` a user of `app` and signs them in.
    async fn signed_in(app: &TestApp, email: &str) -> Self {
        let (_, user) = app.signed_in(email, false).await;
        Self {
            anon: app.anon(),
            user,
            email: email.to_owned(),
        }
    }

    /// The same user, signed in again (after their session was lost).
    async fn sign_in_again(&self, app: &TestApp) -> Self {
        let token = app.login(&self.email, PASSWORD).await;
        Self {
            user: app.with_cookie(&token),
            ..self.clone()
        }
    }

    /// Sends `req`; the answer (`None` if there was none within [`HANG`]) and how long it took.
    async fn fire(&self, req: Req) -> (Req, Option<Resp>, Duration) {
        let started = Instant::now();
        let sent = async {
            match req {
                Req::Me => self.user.get("/users/me").await,
                Req::Stats => self.user.get("/stats").await,
                Req::MySessions => self.user.get("/users/me/sessions").await,
                Req::Login => self.anon.login_form(&self.email, PASSWORD).await,
                Req::Ready => self.anon.get("/health/ready").await,
                Req::Status => self.anon.get("/status").await,
            }
        };
        let resp = tokio::time::timeout(HANG, sent).await.ok();
        (req, resp, started.elapsed())
    }

    /// Sends `reqs` at once, as concurrent clients would.
    async fn round(&self, reqs: &[Req]) -> Vec<(Req, Option<Resp>, Duration)> {
        let tasks: Vec<_> = reqs
            .iter()
            .map(|&req| {
                let t = self.clone();
                tokio::spawn(async move { t.fire(req).await })
            })
            .collect();
        let mut out = Vec::with_capacity(tasks.len());
        for task in tasks {
            out.push(task.await.unwrap());
        }
        out
    }
}

/// Every request of a healthy round, the ones that touch the store and the one that does not.
const EVERYTHING: [Req; 6] = [
    Req::Me,
    Req::Stats,
    Req::MySessions,
    Req::Login,
    Req::Ready,
    Req::Status,
];

#[track_caller]
fn answered(label: &str, req: Req, resp: Option<Resp>, took: Duration) -> Resp {
    let Some(resp) = resp else {
        panic!("{label}: {req:?} hung: no answer within {HANG:?}");
    };
    assert_ne!(
        resp.status, 500,
        "{label}: {req:?} answered 500: {}",
        resp.text
    );
    assert!(
        took <= BOUND,
        "{label}: {req:?} took {took:?} (bound {BOUND:?}), status {}",
        resp.status
    );
    resp
}

/// `{"error": <a message>}` as JSON, revealing nothing of the store.
#[track_caller]
fn assert_unavailable(label: &str, req: Req, resp: &Resp) {
    assert_eq!(
        resp.status, 503,
        "{label}: {req:?} needs the store that is down: {}",
        resp.text
    );
    assert!(
        resp.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{label}: {req:?} content-type {:?}",
        resp.header("content-type")
    );
    let Some(obj) = resp.body.as_object() else {
        panic!("{label}: {req:?}: not a JSON object: {}", resp.text);
    };
    assert_eq!(obj.len(), 1, "{label}: {req:?}: {}", resp.text);
    assert!(
        matches!(obj.get("error"), Some(Value::String(m)) if !m.is_empty()),
        "{label}: {req:?}: {}",
        resp.text
    );
    assert!(
        !resp.text.contains("127.0.0.1"),
        "{label}: {req:?}: the error tells where the store is: {}",
        resp.text
    );
    assert!(resp.header("set-cookie").is_none(), "{label}: {req:?}");
}

/// `rounds` rounds of every request, 50 ms apart; all must succeed.
async fn healthy(t: &Traffic, label: &str, rounds: usize) {
    for _ in 0..rounds {
        for (req, resp, took) in t.round(&EVERYTHING).await {
            let resp = answered(label, req, resp, took);
            assert_eq!(resp.status, 200, "{label}: {req:?}: {}", resp.text);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Traffic while the store is down: at most `rounds` rounds, 50 ms apart, and no new round
/// after `budget`. Each round sends at once `width` times `/users/me` and `/health/ready`, once
/// `/status`, and once in turn `/stats`, `/users/me/sessions` or a login. `/status` must be
/// 200, everything else 503 JSON; all within [`BOUND`]. Returns the slowest 503.
async fn down(t: &Traffic, label: &str, width: usize, rounds: usize, budget: Duration) -> Duration {
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut count = 0;
    for i in 0..rounds {
        if i > 0 && started.elapsed() >= budget {
            break;
        }
        let mut reqs = vec![
            Req::Status,
            [Req::Stats, Req::MySessions, Req::Login][i % 3],
        ];
        for _ in 0..width {
            reqs.extend([Req::Me, Req::Ready]);
        }
        for (req, resp, took) in t.round(&reqs).await {
            let resp = answered(label, req, resp, took);
            if req == Req::Status {
                assert_eq!(
                    resp.status, 200,
                    "{label}: /status while down: {}",
                    resp.text
                );
                assert_eq!(resp.body["status"], "OK");
            } else {
                assert_unavailable(label, req, &resp);
                slowest = slowest.max(took);
                count += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "{label}: {count} requests needing the store answered 503, the slowest in {slowest:?}"
    );
    assert!(count >= 6, "{label}: too few requests while down ({count})");
    slowest
}

/// After the store is back: polls `/health/ready` and `/users/me` until ready is 200 and the
/// session answer is no longer 503 (at most [`HEAL_WITHIN`]); meanwhile only 503 is allowed.
/// Returns how long healing took and the last answer to `/users/me`.
async fn heals(t: &Traffic, label: &str) -> (Duration, Resp) {
    let started = Instant::now();
    loop {
        let mut done = true;
        let mut me = None;
        for (req, resp, took) in t.round(&[Req::Ready, Req::Me]).await {
            let resp = answered(label, req, resp, took);
            if resp.status == 503 {
                assert_unavailable(label, req, &resp);
                done = false;
            } else if req == Req::Ready {
                assert_eq!(resp.status, 200, "{label}: ready: {}", resp.text);
            }
            if req == Req::Me {
                me = Some(resp);
            }
        }
        if done {
            let took = started.elapsed();
            eprintln!("{label}: healed {took:?} after the store came back");
            return (took, me.unwrap());
        }
        assert!(
            started.elapsed() < HEAL_WITHIN,
            "{label}: still 503 {HEAL_WITHIN:?} after the store came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A server with `AUTH_TYPE=session_db_auth` and `configure` on top.
async fn sesame(configure: impl FnOnce(&mut RawConfig)) -> TestApp {
    TestApp::spawn_with(|raw| {
        raw.auth_type = "session_db_auth".into();
        configure(raw);
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL: users, sessions and throttling in it.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_under_traffic_is_503_in_time_and_heals_without_a_restart() {
    let mut pg = block_in_place(OwnPostgres::init);
    block_in_place(|| pg.start());
    let app = sesame(|raw| raw.database_url = pg.url()).await;
    let t = Traffic::signed_in(&app, "bob@hbtn.io").await;
    healthy(&t, "postgres up", 3).await;

    block_in_place(|| pg.stop());
    down(&t, "postgres stopped", 1, 40, Duration::from_secs(5)).await;

    block_in_place(|| pg.start());
    let (_, me) = heals(&t, "postgres back").await;
    // Nothing was lost: the session made before the outage works again.
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["email"], "bob@hbtn.io");
    healthy(&t, "postgres back", 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_frozen_under_traffic_is_503_in_time_never_a_hang_and_heals() {
    let mut pg = block_in_place(OwnPostgres::init);
    block_in_place(|| pg.start());
    // Without the per-instance cache, every request needs the store: what this test is about.
    // The cache under a frozen store is tests/api/shared_cache.rs's.
    let app = sesame(|raw| {
        raw.database_url = pg.url();
        raw.session_cache = "off".into();
    })
    .await;
    let t = Traffic::signed_in(&app, "bob@hbtn.io").await;
    healthy(&t, "postgres up", 3).await;

    block_in_place(|| pg.freeze());
    // Each round waits out the 1.5 s timeout: a few rounds are enough. They are wide: more
    // requests at once than the pool has connections.
    down(&t, "postgres frozen", 4, 4, Duration::from_secs(8)).await;

    block_in_place(|| pg.thaw());
    let (_, me) = heals(&t, "postgres thawed").await;
    assert_eq!(me.status, 200, "{}", me.text);
    healthy(&t, "postgres thawed", 3).await;
}

// ---------------------------------------------------------------------------------------------
// Redis: sessions in it, users and throttling in SQLite (in the TestApp's temporary directory).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_under_traffic_is_503_in_time_and_heals_without_a_restart() {
    let mut redis = block_in_place(OwnRedis::start);
    let app = sesame(|raw| raw.session_store_url = Some(redis.url())).await;
    assert!(app.raw.database_url.starts_with("sqlite://"));
    let t = Traffic::signed_in(&app, "bob@hbtn.io").await;
    healthy(&t, "redis up", 3).await;

    block_in_place(|| redis.kill());
    down(&t, "redis killed", 1, 40, Duration::from_secs(5)).await;

    block_in_place(|| redis.restart());
    let (_, me) = heals(&t, "redis back").await;
    // The new Redis is empty (it keeps nothing on disk): the old session is gone, which is a
    // plain 403, and signing in again works.
    me.assert_error(403, "Forbidden");
    let t = t.sign_in_again(&app).await;
    healthy(&t, "redis back", 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_frozen_under_traffic_is_503_in_time_never_a_hang_and_heals() {
    let redis = block_in_place(OwnRedis::start);
    // Without the cache, as above.
    let app = sesame(|raw| {
        raw.session_store_url = Some(redis.url());
        raw.session_cache = "off".into();
    })
    .await;
    let t = Traffic::signed_in(&app, "bob@hbtn.io").await;
    healthy(&t, "redis up", 3).await;

    block_in_place(|| redis.freeze());
    // Wide rounds: many requests wait on the one multiplexed connection at once.
    down(&t, "redis frozen", 4, 4, Duration::from_secs(8)).await;

    block_in_place(|| redis.thaw());
    let (_, me) = heals(&t, "redis thawed").await;
    assert_eq!(me.status, 200, "{}", me.text);
    healthy(&t, "redis thawed", 3).await;
}

// ---------------------------------------------------------------------------------------------
// Start-up.

/// Configuration for a server on 127.0.0.1:0 with users in SQLite under `dir`.
fn raw_config(dir: &Path) -> RawConfig {
    RawConfig {
        api_host: "127.0.0.1".into(),
        api_port: "0".into(),
        auth_type: "session_db_auth".into(),
        database_url: format!("sqlite://{}", dir.join("sesame.db").display()),
        ..RawConfig::default()
    }
}

/// Starts sesame on `raw`, which must fail within about 4 s (`STORE_STARTUP_TIMEOUT=2`) with
/// an error naming `store`.
async fn start_fails_naming(mut raw: RawConfig, store: &str) {
    raw.store_startup_timeout = "2".into();
    let settings = Settings::from_raw(&raw).unwrap();
    let started = Instant::now();
    let outcome = tokio::time::timeout(
        HANG,
        sesame::app::start(settings, Arc::new(ManualClock::new(T0)), None),
    )
    .await;
    let took = started.elapsed();
    let error = match outcome {
        Err(_) => panic!("start-up with {store} down hung for {HANG:?}"),
        Ok(Ok(running)) => panic!("started without {store}, listening on {}", running.addr),
        Ok(Err(e)) => format!("{e:#}"),
    };
    eprintln!("start-up with {store} down failed after {took:?}: {error}");
    assert!(
        error.to_lowercase().contains(&store.to_lowercase()),
        "the error does not name {store}: {error}"
    );
    assert!(
        took >= Duration::from_millis(1500),
        "gave up after {took:?}, before STORE_STARTUP_TIMEOUT=2"
    );
    assert!(took <= Duration::from_secs(4), "took {took:?} to give up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_with_postgres_down_fails_in_time_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = raw_config(dir.path());
    raw.database_url = format!("postgres://postgres@127.0.0.1:{}/postgres", free_port());
    start_fails_naming(raw, "PostgreSQL").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_with_redis_down_fails_in_time_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = raw_config(dir.path());
    raw.session_store_url = Some(format!("redis://127.0.0.1:{}", free_port()));
    start_fails_naming(raw, "Redis").await;
}

/// Starts sesame with `STORE_STARTUP_TIMEOUT=10` while the store is down, starts the store
/// 1.5 s later with `bring_up`, and checks sesame comes up and works.
async fn start_waits_for_the_store(
    label: &str,
    configure: impl FnOnce(&mut RawConfig) + Send + 'static,
    bring_up: impl FnOnce(),
) {
    let started = Instant::now();
    let starting = tokio::spawn(TestApp::spawn_with(move |raw| {
        raw.auth_type = "session_db_auth".into();
        raw.store_startup_timeout = "10".into();
        configure(raw);
    }));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !starting.is_finished(),
        "{label}: start-up ended before the store was up"
    );
    block_in_place(bring_up);
    let app = match tokio::time::timeout(Duration::from_secs(15), starting).await {
        Ok(Ok(app)) => app,
        Ok(Err(e)) => panic!("{label}: start-up failed: {e:?}"),
        Err(_) => panic!("{label}: start-up hung"),
    };
    let took = started.elapsed();
    eprintln!("{label}: started {took:?} after it began (the store came up at 1.5 s)");
    assert!(took < Duration::from_secs(10), "{label}: took {took:?}");
    let t = Traffic::signed_in(&app, "bob@hbtn.io").await;
    healthy(&t, label, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_waits_for_a_postgres_that_comes_up_a_moment_later() {
    let mut pg = block_in_place(OwnPostgres::init);
    let url = pg.url();
    start_waits_for_the_store(
        "postgres late",
        move |raw| raw.database_url = url,
        || pg.start(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_waits_for_a_redis_that_comes_up_a_moment_later() {
    let port = free_port();
    let mut redis = None;
    start_waits_for_the_store(
        "redis late",
        move |raw| raw.session_store_url = Some(format!("redis://127.0.0.1:{port}")),
        || redis = Some(OwnRedis::start_on(port)),
    )
    .await;
    drop(redis);
}
