//! The real binary as an operator runs it: logs, secrets kept out of them, and shutdown on
//! SIGTERM.

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

const SECRET_PASSWORD: &str = "Very-Secret-Passw0rd";

fn sesame(db: &str) -> Command {
    let mut c = crate::support::sesame_command();
    c.env("DATABASE_URL", db)
        .env("API_HOST", "127.0.0.1")
        .env("API_PORT", "0");
    c.env("RUST_LOG", "debug").env("LOG_FORMAT", "json");
    c
}

#[tokio::test]
async fn logs_are_json_lines_without_secrets_even_at_debug_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("s.db").display());
    let mut create = sesame(&db)
        .args([
            "user",
            "create",
            "--email",
            "bob@hbtn.io",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(create.stdin.take().unwrap(), "{SECRET_PASSWORD}").unwrap();
    let out = create.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut logs = String::from_utf8_lossy(&out.stderr).into_owned();

    let mut server = sesame(&db)
        .arg("serve")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = server.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let addr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("server did not start");
        logs.push_str(&line);
        logs.push('\n');
        let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if v["message"] == "sesame listening" {
            break v["addr"].as_str().unwrap().to_owned();
        }
    };

    let http = reqwest::Client::new();
    let base = format!("http://{addr}/api/v1");
    let r = http
        .post(format!("{base}/auth_session/login"))
        .form(&[("email", "bob@hbtn.io"), ("password", "not-the-password")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .post(format!("{base}/auth_session/login"))
        .form(&[("email", "bob@hbtn.io"), ("password", SECRET_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    let token = set_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    let cookie = format!("_my_session_id={token}");
    let r = http
        .get(format!("{base}/users/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .get(format!("{base}/users/me"))
        .basic_auth("bob@hbtn.io", Some(SECRET_PASSWORD))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .delete(format!("{base}/auth_session/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let kill = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = server.wait().unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) {
        logs.push_str(&line);
        logs.push('\n');
    }

    for line in logs.lines() {
        assert!(
            serde_json::from_str::<Value>(line).is_ok(),
            "not a JSON log line: {line}"
        );
    }
    assert!(
        logs.contains("\"request_id\""),
        "requests are logged with their id"
    );
    assert!(logs.contains("\"stopped\""), "shutdown is logged");
    for event in ["user_created", "login_failed", "login", "logout"] {
        let needle = format!("\"event\":\"{event}\"");
        assert!(logs.contains(&needle), "no audit event {event}");
    }
    assert!(
        !logs.contains(SECRET_PASSWORD),
        "a password reached the logs"
    );
    assert!(!logs.contains(&token), "a session token reached the logs");
    assert!(
        !logs.contains("argon2id$"),
        "a password hash reached the logs"
    );
}
