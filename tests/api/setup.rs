//! First run (CONTRACT §7) through the real binary: the one-time setup link in the log, the
//! setup route, and the unattended first administrator.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{PASSWORD, run_command, sesame_command};

/// A `sesame serve` child whose log lines (JSON) are collected as they come.
struct Server {
    child: Child,
    addr: String,
    lines: Arc<Mutex<Vec<String>>>,
    new_line: mpsc::Receiver<()>,
}

fn command(db: &Path) -> std::process::Command {
    let mut c = sesame_command();
    c.env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("API_HOST", "127.0.0.1")
        .env("API_PORT", "0")
        .env("RUST_LOG", "debug")
        .env("LOG_FORMAT", "json");
    c
}

impl Server {
    fn start(db: &Path, env: &[(&str, &str)]) -> Self {
        let mut cmd = command(db);
        cmd.envs(env.iter().copied())
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, new_line) = mpsc::channel();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
                let _ = tx.send(());
            }
        });
        let mut server = Self {
            child,
            addr: String::new(),
            lines,
            new_line,
        };
        let listening = server.wait_for(|v| v["message"] == "sesame listening");
        server.addr = listening["addr"].as_str().unwrap().to_owned();
        server
    }

    /// The first log line that `pred` accepts, waiting for it (at most 20 s).
    fn wait_for(&self, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(v) = self.logged().into_iter().find(|v| pred(v)) {
                return v;
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            assert!(
                self.new_line.recv_timeout(left).is_ok(),
                "no such log line; the log:\n{}",
                self.log()
            );
        }
    }

    fn logged(&self) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or(Value::Null))
            .collect()
    }

    fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// The setup link's token, from the start-up log line that carries it.
    fn setup_token(&self) -> String {
        let line = self.wait_for(|v| !v["setup_url"].is_null());
        assert_eq!(line["level"], "WARN", "{line}");
        let url = line["setup_url"].as_str().unwrap();
        let prefix = format!("http://{}/setup?token=", self.addr);
        let token = url.strip_prefix(&prefix).unwrap_or_else(|| panic!("{url}"));
        assert_eq!(token.len(), 64, "{url}");
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{url}");
        token.to_owned()
    }

    /// Whether any log line announced a setup link (waiting until the server has logged past
    /// start-up: the link comes right after "sesame listening").
    fn announced_setup(&self) -> bool {
        self.logged().iter().any(|v| !v["setup_url"].is_null())
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn setup(&self, body: Value) -> (u16, Value, Option<String>) {
        post_setup(self.url("/api/v1/setup"), body).await
    }

    fn stop(mut self) -> String {
        sigterm(&self.child);
        let _ = self.child.wait();
        // The reader thread ends with the pipe; give it the last lines.
        std::thread::sleep(Duration::from_millis(50));
        self.log()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn post_setup(url: String, body: Value) -> (u16, Value, Option<String>) {
    let r = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let cookie = r
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, r.json().await.unwrap_or(Value::Null), cookie)
}

fn sigterm(child: &Child) {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
}

/// `sesame user create --admin` on the same database, as an operator would.
fn create_admin_by_cli(db: &Path) {
    let mut create = command(db);
    create.args([
        "user",
        "create",
        "--email",
        "root@example.com",
        "--admin",
        "--password-stdin",
    ]);
    run_command(
        create,
        Some(&format!("{PASSWORD}\n")),
        Duration::from_secs(30),
    )
    .assert_ok();
}

fn admin_body(token: &str, email: &str) -> Value {
    json!({"token": token, "email": email, "password": PASSWORD, "first_name": "Ada", "last_name": "Admin"})
}

fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

async fn me(server: &Server, cookie: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(server.url("/api/v1/users/me"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_setup_link_makes_one_administrator_once_and_its_token_is_never_logged_again() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("s.db"), &[]);
    let token = server.setup_token();

    // A wrong token, and a missing one, are refused.
    let wrong = "0".repeat(64);
    let (status, body, cookie) = server.setup(admin_body(&wrong, "ada@example.com")).await;
    assert_eq!((status, &body["error"]), (403, &json!("Forbidden")));
    assert!(cookie.is_none());
    let (status, body, _) = server
        .setup(json!({"email": "ada@example.com", "password": PASSWORD}))
        .await;
    assert_eq!((status, &body["error"]), (400, &json!("token missing")));

    // Refused input leaves the link open, so the form can be corrected.
    let (status, _, _) = server.setup(admin_body(&token, "not-an-email")).await;
    assert_eq!(status, 400);
    let (status, _, _) = server
        .setup(json!({"token": token, "email": "ada@example.com", "password": "short"}))
        .await;
    assert_eq!(status, 400);

    let (status, user, cookie) = server.setup(admin_body(&token, "ada@example.com")).await;
    assert_eq!(status, 201, "{user}");
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["first_name"], "Ada");
    assert_eq!(user["is_admin"], true);
    let cookie = cookie.expect("the first administrator is signed in");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    let (status, me_body) = me(&server, &cookie_pair(&cookie)).await;
    assert_eq!((status, &me_body["id"]), (200, &user["id"]));

    // Used once: the same token, and any other, are refused from now on.
    let (status, _, _) = server.setup(admin_body(&token, "eve@example.com")).await;
    assert_eq!(status, 403);

    // Visiting the link itself serves the page, and the log keeps the path, not the query.
    let r = reqwest::get(server.url(&format!("/setup?token={token}")))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let log = server.stop();
    assert_eq!(
        log.matches(token.as_str()).count(),
        1,
        "the token appears only in the start-up line:\n{log}"
    );
    assert!(!log.contains(PASSWORD), "{log}");
}

#[tokio::test]
async fn racing_setups_with_the_right_token_make_exactly_one_administrator() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("s.db"), &[]);
    let token = server.setup_token();
    let attempts: Vec<_> = (0..6)
        .map(|i| {
            let body = admin_body(&token, &format!("admin{i}@example.com"));
            tokio::spawn(post_setup(server.url("/api/v1/setup"), body))
        })
        .collect();
    let mut statuses = Vec::new();
    for a in attempts {
        statuses.push(a.await.unwrap().0);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 403),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn with_an_administrator_there_is_no_link_and_setup_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    create_admin_by_cli(&db);
    let server = Server::start(&db, &[]);
    let (status, body, _) = server
        .setup(admin_body(&"a".repeat(64), "eve@example.com"))
        .await;
    assert_eq!((status, &body["error"]), (403, &json!("Forbidden")));
    let log = server.stop();
    assert!(!log.contains("setup_url"), "{log}");
}

#[tokio::test]
async fn a_link_closes_when_an_administrator_appears_and_a_restart_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let first = Server::start(&db, &[]);
    let old = first.setup_token();
    first.stop();

    let server = Server::start(&db, &[]);
    let token = server.setup_token();
    assert_ne!(token, old);
    let (status, _, _) = server.setup(admin_body(&old, "ada@example.com")).await;
    assert_eq!(status, 403, "the previous start's link is void");

    // An administrator made by the command line meanwhile closes the link.
    create_admin_by_cli(&db);
    let (status, _, _) = server.setup(admin_body(&token, "ada@example.com")).await;
    assert_eq!(status, 403);
    assert!(server.announced_setup());
}

#[tokio::test]
async fn the_unattended_variables_make_the_administrator_once_and_never_log_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let file = dir.path().join("admin-password");
    std::fs::write(&file, format!("{PASSWORD}\n")).unwrap();
    let file = file.to_str().unwrap().to_owned();
    let env = [
        ("SESAME_ADMIN_EMAIL", "ops@example.com"),
        ("SESAME_ADMIN_PASSWORD_FILE", file.as_str()),
    ];
    let server = Server::start(&db, &env);
    // The password is the file's content without its trailing newline.
    let r = reqwest::Client::new()
        .post(server.url("/api/v1/auth_session/login"))
        .form(&[("email", "ops@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let user: Value = r.json().await.unwrap();
    assert_eq!(user["is_admin"], true);
    let (status, _, _) = server
        .setup(admin_body(&"a".repeat(64), "eve@example.com"))
        .await;
    assert_eq!(status, 403);
    let log = server.stop();
    assert!(!log.contains("setup_url"), "{log}");
    assert!(!log.contains(PASSWORD), "{log}");

    // A restart with the same variables changes nothing, even with another password.
    std::fs::write(dir.path().join("admin-password"), "another password\n").unwrap();
    let server = Server::start(&db, &env);
    server.wait_for(|v| {
        v["fields"]["message"]
            .as_str()
            .or(v["message"].as_str())
            .is_some_and(|m| m.contains("an administrator exists"))
    });
    let r = reqwest::Client::new()
        .post(server.url("/api/v1/auth_session/login"))
        .form(&[("email", "ops@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn bad_unattended_variables_stop_start_up_before_binding() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let short = dir.path().join("short");
    std::fs::write(&short, "short\n").unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let missing = dir.path().join("missing");
    let cases: [(&[(&str, &str)], &str); 6] = [
        (
            &[("SESAME_ADMIN_EMAIL", "ops@example.com")],
            "SESAME_ADMIN_PASSWORD_FILE",
        ),
        (
            &[("SESAME_ADMIN_PASSWORD_FILE", short.to_str().unwrap())],
            "SESAME_ADMIN_EMAIL",
        ),
        (
            &[
                ("SESAME_ADMIN_EMAIL", "not an email"),
                ("SESAME_ADMIN_PASSWORD_FILE", short.to_str().unwrap()),
            ],
            "SESAME_ADMIN_EMAIL",
        ),
        (
            &[
                ("SESAME_ADMIN_EMAIL", "ops@example.com"),
                ("SESAME_ADMIN_PASSWORD_FILE", missing.to_str().unwrap()),
            ],
            "SESAME_ADMIN_PASSWORD_FILE",
        ),
        (
            &[
                ("SESAME_ADMIN_EMAIL", "ops@example.com"),
                ("SESAME_ADMIN_PASSWORD_FILE", empty.to_str().unwrap()),
            ],
            "holds no password",
        ),
        (
            &[
                ("SESAME_ADMIN_EMAIL", "ops@example.com"),
                ("SESAME_ADMIN_PASSWORD_FILE", short.to_str().unwrap()),
            ],
            "at least 8",
        ),
    ];
    for (env, says) in cases {
        let mut cmd = command(&db);
        cmd.envs(env.iter().copied()).arg("serve");
        let run = run_command(cmd, None, Duration::from_secs(30));
        run.assert_failed();
        assert!(
            run.says(says),
            "{env:?} should say {says:?}\n{}",
            run.show()
        );
        assert!(!run.says("sesame listening"), "{}", run.show());
    }
}
