//! Test helpers: spawn the real server on port 0 with a temporary SQLite database and a manual
//! clock, and talk to it over HTTP with explicit cookies.

#![allow(dead_code)]

use std::sync::Arc;

use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;
use sesame::app::{self, Running};
use sesame::clock::ManualClock;
use sesame::config::{RawConfig, Settings};
use sesame::domain::{Secret, User};
use sesame::service::NewUser;
use tempfile::TempDir;

/// The `sesame` binary, with every configuration variable it reads removed from the inherited
/// environment (the names come from the binary's own flag definitions), so the host's settings
/// cannot leak into a test.
pub fn sesame_command() -> std::process::Command {
    use clap::CommandFactory as _;
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sesame"));
    for arg in sesame::cli::Cli::command().get_arguments() {
        if let Some(var) = arg.get_env() {
            cmd.env_remove(var);
        }
    }
    cmd
}

/// What a finished run of the binary left behind.
pub struct Run {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: std::time::Duration,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.status.success()
    }

    pub fn show(&self) -> String {
        format!(
            "status: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status.code(),
            self.stdout,
            self.stderr
        )
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert!(self.ok(), "expected success\n{}", self.show());
        self
    }

    /// A non-zero exit of its own (not killed by a signal).
    #[track_caller]
    pub fn assert_failed(&self) -> &Self {
        assert!(!self.ok(), "expected a non-zero exit\n{}", self.show());
        assert!(
            self.status.code().is_some(),
            "killed by a signal\n{}",
            self.show()
        );
        self
    }

    /// Whether stdout or stderr contains `s`.
    pub fn says(&self, s: &str) -> bool {
        self.stdout.contains(s) || self.stderr.contains(s)
    }
}

fn reader(mut pipe: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Spawns `cmd`, feeds `input` (if any) on stdin and waits at most `limit` for it to exit; a
/// process still running then is killed and the test fails.
pub fn run_command(
    mut cmd: std::process::Command,
    input: Option<&str>,
    limit: std::time::Duration,
) -> Run {
    use std::io::Write as _;
    use std::process::Stdio;
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let start = std::time::Instant::now();
    let mut child = cmd.spawn().expect("spawning sesame");
    let out = reader(child.stdout.take().expect("stdout pipe"));
    let err = reader(child.stderr.take().expect("stderr pipe"));
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        // The process may exit before reading: a broken pipe is its answer, not ours.
        let _ = stdin.write_all(text.as_bytes());
    }
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for sesame") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let stdout = out.join().unwrap_or_default();
            let stderr = err.join().unwrap_or_default();
            panic!(
                "sesame still running after {limit:?}; killed\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let elapsed = start.elapsed();
    Run {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
        elapsed,
    }
}

/// A fixed starting time: 2024-01-01T00:00:00Z.
pub const T0: i64 = 1_704_067_200;

/// Password used for users made by the helpers.
pub const PASSWORD: &str = "correct horse battery";

/// A running sesame.
pub struct TestApp {
    pub base: String,
    pub clock: Arc<ManualClock>,
    pub dir: Arc<TempDir>,
    pub raw: RawConfig,
    running: Option<Running>,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The session cookie value set by this response, if any.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers.get_all("set-cookie").iter().find_map(|v| {
            let v = v.to_str().ok()?;
            let (pair, _) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = pair.split_once('=')?;
            (k == name).then(|| val.to_owned())
        })
    }

    /// The error answer `{"error": message}`, which may also carry a `detail` string and
    /// nothing else.
    #[track_caller]
    pub fn assert_error(&self, status: u16, message: &str) {
        assert_eq!(self.status, status, "body: {}", self.text);
        assert_eq!(
            self.body["error"], message,
            "status {status}: {}",
            self.text
        );
        let obj = self.body.as_object().expect("an object");
        assert!(
            obj.keys().all(|k| k == "error" || k == "detail")
                && obj.get("detail").is_none_or(serde_json::Value::is_string),
            "only error and a detail string: {}",
            self.text
        );
        assert!(
            self.header("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "content-type {:?}",
            self.header("content-type")
        );
    }
}

impl Resp {
    /// The error answer with a `detail` that contains `part`.
    #[track_caller]
    pub fn assert_error_detail(&self, status: u16, message: &str, part: &str) {
        self.assert_error(status, message);
        let detail = self.body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(part), "detail {detail:?} lacks {part:?}");
    }
}

impl TestApp {
    /// A server with `AUTH_TYPE=auth_type` and the defaults otherwise.
    pub async fn spawn(auth_type: &str) -> Self {
        Self::spawn_with(|c| c.auth_type = auth_type.into()).await
    }

    /// A server configured by `f` on top of the test defaults (port 0, temporary SQLite).
    pub async fn spawn_with(f: impl FnOnce(&mut RawConfig)) -> Self {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let mut raw = RawConfig {
            api_host: "127.0.0.1".into(),
            api_port: "0".into(),
            database_url: format!("sqlite://{}", dir.path().join("sesame.db").display()),
            ..RawConfig::default()
        };
        f(&mut raw);
        Self::start(raw, Arc::new(ManualClock::new(T0)), dir).await
    }

    async fn start(raw: RawConfig, clock: Arc<ManualClock>, dir: Arc<TempDir>) -> Self {
        let settings = Settings::from_raw(&raw).unwrap();
        let running = app::start(settings, clock.clone(), None).await.unwrap();
        let base = format!("http://{}", running.addr);
        Self {
            base,
            clock,
            dir,
            raw,
            running: Some(running),
        }
    }

    /// Stops the server gracefully and starts a new one on the same database and clock.
    pub async fn restart(mut self) -> Self {
        if let Some(r) = self.running.take() {
            r.stop().await.unwrap();
        }
        Self::start(self.raw.clone(), self.clock.clone(), self.dir.clone()).await
    }

    /// A second instance on the same database and clock, as behind a load balancer.
    pub async fn another_instance(&self) -> Self {
        self.another_instance_with(|_| {}).await
    }

    /// [`TestApp::another_instance`], with `f` changing its configuration.
    pub async fn another_instance_with(&self, f: impl FnOnce(&mut RawConfig)) -> Self {
        let mut raw = self.raw.clone();
        f(&mut raw);
        Self::start(raw, self.clock.clone(), self.dir.clone()).await
    }

    /// The origin browsers would send for pages of this server.
    pub fn origin(&self) -> String {
        self.base.clone()
    }

    /// Takes the running server out, to stop it by hand.
    pub fn take_running(&mut self) -> Running {
        self.running.take().unwrap()
    }

    pub fn running(&self) -> &Running {
        self.running.as_ref().unwrap()
    }

    /// Makes a user directly through the service.
    pub async fn user(&self, email: &str, admin: bool) -> User {
        self.running()
            .app
            .service
            .create_user(NewUser {
                email: email.into(),
                password: Secret::new(PASSWORD),
                first_name: None,
                last_name: None,
                is_admin: admin,
            })
            .await
            .unwrap()
    }

    /// A client with no credentials.
    pub fn anon(&self) -> Client {
        Client {
            base: self.base.clone(),
            http: reqwest::Client::new(),
            headers: HeaderMap::new(),
        }
    }

    /// A client carrying the session cookie `token`.
    pub fn with_cookie(&self, token: &str) -> Client {
        let mut c = self.anon();
        let name = &self.raw.session_name;
        c.headers.insert(
            "cookie",
            HeaderValue::from_str(&format!("{name}={token}")).unwrap(),
        );
        c
    }

    /// Logs in over HTTP and returns the session token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let r = self.anon().login_form(email, password).await;
        assert_eq!(r.status, 200, "login failed: {}", r.text);
        r.cookie(&self.raw.session_name).unwrap()
    }

    /// Makes a user and logs them in; returns the user and a client with their cookie.
    pub async fn signed_in(&self, email: &str, admin: bool) -> (User, Client) {
        let user = self.user(email, admin).await;
        let token = self.login(email, PASSWORD).await;
        (user, self.with_cookie(&token))
    }
}

/// An HTTP client with fixed extra headers.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub http: reqwest::Client,
    pub headers: HeaderMap,
}

impl Client {
    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers
            .insert(name, HeaderValue::from_str(value).unwrap());
        self
    }

    /// The value of a header this client sends with every request.
    pub fn header_value(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    pub fn basic(self, email: &str, password: &str) -> Self {
        use base64::Engine as _;
        let enc = base64::engine::general_purpose::STANDARD.encode(format!("{email}:{password}"));
        self.header("authorization", &format!("Basic {enc}"))
    }

    pub async fn send(&self, rb: reqwest::RequestBuilder) -> Resp {
        let resp = rb.headers(self.headers.clone()).send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            text,
            body,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(self.http.get(self.url(path))).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(self.http.delete(self.url(path))).await
    }

    pub async fn post_json(&self, path: &str, body: Value) -> Resp {
        self.send(self.http.post(self.url(path)).json(&body)).await
    }

    pub async fn put_json(&self, path: &str, body: Value) -> Resp {
        self.send(self.http.put(self.url(path)).json(&body)).await
    }

    pub async fn raw(&self, method: &str, path: &str, content_type: &str, body: Vec<u8>) -> Resp {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        self.send(
            self.http
                .request(m, self.url(path))
                .header("content-type", content_type)
                .body(body),
        )
        .await
    }

    pub async fn login_form(&self, email: &str, password: &str) -> Resp {
        self.send(
            self.http
                .post(self.url("/auth_session/login"))
                .form(&[("email", email), ("password", password)]),
        )
        .await
    }
}

// ---- PostgreSQL test databases ----------------------------------------------------------

/// The server tests run against, without a database part.
pub fn server_url() -> String {
    std::env::var("SESAME_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
        .trim_end_matches('/')
        .to_owned()
}

/// A plain connection to `url`, its connection driven on the current runtime.
pub async fn raw_client(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e} (is PostgreSQL running?)"));
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// A fresh, empty database of its own on the test server, dropped (connections and all) when
/// this is dropped.
pub struct TestDb {
    name: String,
}

impl TestDb {
    /// Creates a database named `sesame_t_<random hex>`.
    pub async fn new() -> TestDb {
        let name = format!("sesame_t_{}", sesame::domain::new_id().replace('-', ""));
        let admin = raw_client(&format!("{}/postgres", server_url())).await;
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        TestDb { name }
    }

    /// The database's URL.
    pub fn url(&self) -> String {
        format!("{}/{}", server_url(), self.name)
    }

    /// A store on the database, migrated.
    pub async fn store(&self) -> sesame::store::postgres::PgStore {
        sesame::store::postgres::PgStore::connect(&self.url())
            .await
            .unwrap()
    }

    /// A plain connection to the database, to look behind the store's back.
    pub async fn client(&self) -> tokio_postgres::Client {
        raw_client(&self.url()).await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Drop is synchronous and may run inside the test's runtime: do the async work on a
        // thread of its own, with a runtime of its own, and wait for it.
        let name = std::mem::take(&mut self.name);
        let admin_url = format!("{}/postgres", server_url());
        let dropped = std::thread::spawn(move || -> Result<(), String> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let (client, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
                    .await
                    .map_err(|e| e.to_string())?;
                let driver = tokio::spawn(conn);
                let result = client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await
                    .map_err(|e| format!("DROP DATABASE {name}: {e}"));
                drop(client);
                let _ = driver.await;
                result
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop a test database: {e}"),
            Err(_) => eprintln!("dropping a test database panicked"),
        }
    }
}
