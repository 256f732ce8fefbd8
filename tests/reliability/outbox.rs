//! The outbox under a crash: password-reset mails asked for while the SMTP server is down are
//! kept through a SIGKILL of sesame and all delivered, once each, after SMTP and sesame are
//! back.

use std::time::{Duration, Instant};

use crate::server::{Server, create_admin};
use crate::smtp_sink::SmtpSink;

/// How many entries of `kind` the outbox of the SQLite file at `path` holds, and how many of
/// them have failed at least once.
fn outbox(path: &std::path::Path, kind: &str) -> (i64, i64) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.query_row(
        "SELECT count(*), count(last_error) FROM outbox WHERE kind = ?1",
        [kind],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_asked_for_during_an_smtp_outage_survives_a_sigkill_and_is_sent_once() {
    let _one = crate::exclusive().await;
    const USERS: usize = 20;
    let mut sink = SmtpSink::start().await;
    sink.stop();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let db = format!("sqlite://{}", path.display());
    let smtp = sink.url();
    let env = [("DATABASE_URL", db.as_str()), ("SMTP_URL", smtp.as_str())];
    for i in 0..USERS {
        create_admin(&env[..1], &format!("u{i}@example.com"), "a long password 1");
    }
    let server = Server::start(&env);
    let http = reqwest::Client::new();
    for i in 0..USERS {
        let r = http
            .post(server.url("/auth_session/reset_password"))
            .json(&serde_json::json!({"email": format!("u{i}@example.com")}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }
    // Every mail is written, and every one has failed once against the closed port.
    let deadline = Instant::now() + Duration::from_secs(20);
    while outbox(&path, "mail") != (USERS as i64, USERS as i64) {
        assert!(
            Instant::now() < deadline,
            "outbox: {:?}\n{}",
            outbox(&path, "mail"),
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.kill9();

    sink.resume();
    let restarted = Instant::now();
    let server = Server::start(&env);
    let mails = sink.wait_for(USERS).await;
    let delivered_in = restarted.elapsed();
    let deadline = Instant::now() + Duration::from_secs(20);
    while outbox(&path, "mail").0 != 0 {
        assert!(
            Instant::now() < deadline,
            "the outbox is not drained\n{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut to: Vec<String> = mails.iter().map(|m| m.to[0].clone()).collect();
    to.sort();
    to.dedup();
    assert_eq!((mails.len(), to.len()), (USERS, USERS), "each mail once");
    assert!(!server.logs().contains("token="), "no token in a log line");
    println!(
        "outbox: {USERS} reset mails asked for with SMTP down, sesame SIGKILLed, then all \
         {USERS} delivered once each {:.1} s after the restart",
        delivered_in.as_secs_f64()
    );
}
