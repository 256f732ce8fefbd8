//! The real `sesame` binary as an operator runs it: started on a free loopback port with JSON
//! logs, watched through `/proc`, stopped with SIGTERM or killed with SIGKILL.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running `sesame serve` process.
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    logs: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `sesame serve` with `env` on top of a clean environment (loopback, port 0, JSON
    /// logs) and waits until it listens.
    pub fn start(env: &[(&str, &str)]) -> Self {
        let mut cmd = crate::support::sesame_command();
        cmd.env("API_HOST", "127.0.0.1")
            .env("API_PORT", "0")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "warn,sesame=info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning sesame");
        let stderr = child.stderr.take().expect("stderr pipe");
        let logs = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel::<String>();
        let kept = logs.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                kept.lock().unwrap().push_str(&line);
                kept.lock().unwrap().push('\n');
                let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                if v["message"] == "sesame listening"
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(v["addr"].as_str().unwrap_or_default().to_owned());
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => addr.parse().expect("listening address"),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("sesame did not start:\n{}", logs.lock().unwrap());
            }
        };
        Self { child, addr, logs }
    }

    /// `http://addr`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://addr/api/v1{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/api/v1{path}", self.addr)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything it has logged so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// Kills it with SIGKILL: no shutdown work at all, as a power cut would.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits at most `limit` for the exit; returns its status and how long
    /// it took, or `None` (after a SIGKILL) if it was still running at `limit`.
    pub fn terminate(&mut self, limit: Duration) -> Option<(ExitStatus, Duration)> {
        let sent = Instant::now();
        let ok = std::process::Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(ok.success());
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for sesame") {
                return Some((status, sent.elapsed()));
            }
            if sent.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Resident memory in KiB (`VmRSS` of `/proc/PID/status`).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("reading /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    /// Open file descriptors (entries of `/proc/PID/fd`).
    pub fn open_files(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .expect("reading /proc fd")
            .count()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `sesame serve` on a new SQLite file in a temporary directory (kept as long as the
/// returned directory lives), with `env` on top.
pub fn on_sqlite(env: &[(&str, &str)]) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = format!("sqlite://{}", dir.path().join("s.db").display());
    let mut all = vec![("DATABASE_URL", db.as_str())];
    all.extend_from_slice(env);
    let server = Server::start(&all);
    (dir, server)
}

/// Makes an administrator with the command line on the database of `env`.
pub fn create_admin(env: &[(&str, &str)], email: &str, password: &str) {
    let mut cmd = crate::support::sesame_command();
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args([
        "user",
        "create",
        "--email",
        email,
        "--admin",
        "--password-stdin",
    ]);
    crate::support::run_command(cmd, Some(&format!("{password}\n")), Duration::from_secs(60))
        .assert_ok();
}

/// Logs in over HTTP; returns the session cookie header value (`name=token`).
pub async fn login(http: &reqwest::Client, server: &Server, email: &str, password: &str) -> String {
    let r = http
        .post(server.url("/auth_session/login"))
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .expect("login request");
    assert_eq!(r.status(), 200, "login of {email}");
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    set.split(';').next().unwrap().to_owned()
}
