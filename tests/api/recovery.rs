//! Account recovery, e-mail verification and sign-up against a real SMTP server (the sink, on a
//! free port): the mails arrive with working links, tokens work once, expire and are voided;
//! known and unknown addresses answer alike; an SMTP outage and a restart lose nothing; two
//! instances send each mail once.

use serde_json::json;

use crate::scale_out::{Layout, Pair};
use crate::smtp_sink::{Received, SmtpSink};
use crate::support::{PASSWORD, TestApp};

const NEW_PASSWORD: &str = "a whole new passphrase";

async fn app_with_mail(sink: &SmtpSink, signup: bool) -> TestApp {
    let url = sink.url();
    TestApp::spawn_with(move |raw| {
        raw.auth_type = "session_db_auth".into();
        raw.smtp_url = Some(url);
        raw.public_url = Some("http://sesame.test".into());
        if signup {
            raw.signup = "open".into();
        }
    })
    .await
}

/// How many entries the outbox of an SQLite app holds.
fn outbox_len(app: &TestApp) -> i64 {
    let path = app.raw.database_url.trim_start_matches("sqlite://");
    let c = rusqlite::Connection::open(path).unwrap();
    c.query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))
        .unwrap()
}

/// Waits (at most 10 s) for the outbox of an SQLite app to hold no entry.
async fn outbox_drained(app: &TestApp) {
    for _ in 0..200 {
        if outbox_len(app) == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the outbox still holds {} entries", outbox_len(app));
}

async fn ask_reset(app: &TestApp, email: &str) {
    let r = app
        .anon()
        .post_json("/auth_session/reset_password", json!({"email": email}))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body, json!({}));
}

fn assert_reset_mail(mail: &Received, to: &str) {
    assert_eq!(mail.to, [to]);
    assert_eq!(mail.subject(), "Reset your password");
    let text = mail.text();
    assert!(text.contains("http://sesame.test/reset?token="), "{text}");
    assert!(text.contains("15 minutes"), "{text}");
    assert!(mail.data.contains("text/plain") && mail.data.contains("text/html"));
}

async fn reset(app: &TestApp, token: &str, password: &str) -> crate::support::Resp {
    app.anon()
        .put_json(
            "/auth_session/reset_password",
            json!({"token": token, "new_password": password}),
        )
        .await
}

#[tokio::test]
async fn a_reset_mail_arrives_its_link_works_once_and_every_session_ends() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink, false).await;
    let (_, client) = app.signed_in("bob@hbtn.io", false).await;
    ask_reset(&app, "Bob@hbtn.io").await;
    let mails = sink.wait_for(1).await;
    assert_reset_mail(&mails[0], "bob@hbtn.io");
    let token = mails[0].token("reset");
    assert_eq!(token.len(), 43, "256 bits, base64url");

    let r = reset(&app, &token, NEW_PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(client.get("/users/me").await.status, 403, "sessions end");
    let old = app.anon().login_form("bob@hbtn.io", PASSWORD).await;
    old.assert_error(401, "wrong email or password");
    assert_eq!(
        app.anon()
            .login_form("bob@hbtn.io", NEW_PASSWORD)
            .await
            .status,
        200
    );
    reset(&app, &token, "yet another passphrase")
        .await
        .assert_error(
            400,
            "the link is not valid: it was used, replaced or is too old",
        );
}

#[tokio::test]
async fn known_and_unknown_addresses_get_the_same_answer_and_only_the_known_a_mail() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink, false).await;
    app.user("bob@hbtn.io", false).await;
    let known = app
        .anon()
        .post_json(
            "/auth_session/reset_password",
            json!({"email": "bob@hbtn.io"}),
        )
        .await;
    let unknown = app
        .anon()
        .post_json(
            "/auth_session/reset_password",
            json!({"email": "nobody@hbtn.io"}),
        )
        .await;
    assert_eq!((known.status, &known.body), (unknown.status, &unknown.body));
    assert_eq!(known.header("content-type"), unknown.header("content-type"));
    sink.wait_for(1).await;
    outbox_drained(&app).await;
    let mails = sink.received();
    assert_eq!(mails.len(), 1, "{mails:#?}");
    assert_eq!(mails[0].to, ["bob@hbtn.io"]);
}

#[tokio::test]
async fn a_token_expires_and_is_voided_by_a_newer_one_and_by_a_password_change() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink, false).await;
    let (_, client) = app.signed_in("bob@hbtn.io", false).await;
    const VOID: &str = "the link is not valid: it was used, replaced or is too old";

    ask_reset(&app, "bob@hbtn.io").await;
    let first = sink.wait_for(1).await[0].token("reset");
    ask_reset(&app, "bob@hbtn.io").await;
    let second = sink.wait_for(2).await[1].token("reset");
    reset(&app, &first, NEW_PASSWORD)
        .await
        .assert_error(400, VOID);

    let r = client
        .put_json(
            "/users/me/password",
            json!({"current_password": PASSWORD, "new_password": "changed by hand"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    reset(&app, &second, NEW_PASSWORD)
        .await
        .assert_error(400, VOID);

    ask_reset(&app, "bob@hbtn.io").await;
    let third = sink.wait_for(3).await[2].token("reset");
    app.clock.advance(901);
    reset(&app, &third, NEW_PASSWORD)
        .await
        .assert_error(400, VOID);
}

#[tokio::test]
async fn mail_requests_are_throttled_per_email() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink, false).await;
    for _ in 0..3 {
        ask_reset(&app, "nobody@hbtn.io").await;
    }
    let r = app
        .anon()
        .post_json(
            "/auth_session/reset_password",
            json!({"email": "NOBODY@hbtn.io"}),
        )
        .await;
    r.assert_error(429, "Too many requests");
    ask_reset(&app, "somebody-else@hbtn.io").await;
}

#[tokio::test]
async fn sign_up_then_verify_then_sign_in_and_a_taken_address_gets_a_notice() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink, true).await;
    let body = json!({"email": "new@hbtn.io", "password": PASSWORD, "first_name": "New"});
    let r = app
        .anon()
        .post_json("/auth_session/signup", body.clone())
        .await;
    assert_eq!((r.status, &r.body), (202, &json!({})), "{}", r.text);
    let mail = sink.wait_for(1).await.remove(0);
    assert_eq!(mail.to, ["new@hbtn.io"]);
    assert_eq!(mail.subject(), "Verify your e-mail address");
    let token = mail.token("verify");

    // No account before the link is opened: a login is the login of an unknown address.
    app.anon()
        .login_form("new@hbtn.io", PASSWORD)
        .await
        .assert_error(401, "wrong email or password");
    let r = app
        .anon()
        .put_json("/auth_session/verify_email", json!({"token": token}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["email"], "new@hbtn.io");
    assert_eq!(r.body["first_name"], "New");
    let login = app.anon().login_form("new@hbtn.io", PASSWORD).await;
    assert_eq!(login.status, 200, "{}", login.text);

    let again = app.anon().post_json("/auth_session/signup", body).await;
    assert_eq!((again.status, &again.body), (202, &json!({})));
    let notice = sink.wait_for(2).await.remove(1);
    assert_eq!(notice.subject(), "You already have an account");
    assert!(
        notice.text().contains("http://sesame.test/forgot"),
        "{}",
        notice.text()
    );
}

#[tokio::test]
async fn a_sign_up_with_a_taken_address_leaves_the_account_as_it_was() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink, true).await;
    let bob = app.user("bob@hbtn.io", false).await;
    let chosen = "the attacker's choice";
    for email in ["bob@hbtn.io", "free@hbtn.io"] {
        let r = app
            .anon()
            .post_json(
                "/auth_session/signup",
                json!({"email": email, "password": chosen}),
            )
            .await;
        assert_eq!((r.status, &r.body), (202, &json!({})));
    }
    let mails = sink.wait_for(2).await;
    outbox_drained(&app).await;
    // Taken or free, the chosen password opens nothing, and answers alike.
    for email in ["bob@hbtn.io", "free@hbtn.io"] {
        app.anon()
            .login_form(email, chosen)
            .await
            .assert_error(401, "wrong email or password");
    }
    assert_eq!(
        app.anon().login_form("bob@hbtn.io", PASSWORD).await.body["id"],
        bob.id.as_str()
    );
    let notice = mails.iter().find(|m| m.to == ["bob@hbtn.io"]).unwrap();
    assert_eq!(notice.subject(), "You already have an account");
}

#[tokio::test]
async fn a_reset_refused_by_the_password_policy_leaves_the_link_usable() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink, false).await;
    app.user("bob@hbtn.io", false).await;
    ask_reset(&app, "bob@hbtn.io").await;
    let token = sink.wait_for(1).await[0].token("reset");
    reset(&app, &token, "BOB@hbtn.io")
        .await
        .assert_error(400, "password must not be the email address");
    reset(&app, &token, "short")
        .await
        .assert_error(400, "password too short (at least 8 characters)");
    assert_eq!(reset(&app, &token, NEW_PASSWORD).await.status, 200);
}

#[tokio::test]
async fn the_mail_routes_are_absent_without_smtp_and_sign_up_without_signup_open() {
    let plain = TestApp::spawn("session_db_auth").await;
    plain
        .anon()
        .post_json("/auth_session/reset_password", json!({"email": "a@b.io"}))
        .await
        .assert_error(404, "Not found");
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink, false).await;
    app.anon()
        .post_json(
            "/auth_session/signup",
            json!({"email": "a@b.io", "password": PASSWORD}),
        )
        .await
        .assert_error(404, "Not found");
    let mut raw = sesame::config::RawConfig {
        signup: "open".into(),
        ..Default::default()
    };
    assert_eq!(
        sesame::config::Settings::from_raw(&raw)
            .unwrap_err()
            .variable,
        "SIGNUP"
    );
    raw.smtp_url = Some("http://mail.example.com".into());
    assert_eq!(
        sesame::config::Settings::from_raw(&raw)
            .unwrap_err()
            .variable,
        "SMTP_URL"
    );
}

#[tokio::test]
async fn a_reset_during_an_smtp_outage_is_delivered_after_smtp_returns_and_a_restart() {
    let mut sink = SmtpSink::start().await;
    let app = app_with_mail(&sink, false).await;
    app.user("bob@hbtn.io", false).await;
    sink.stop();
    ask_reset(&app, "bob@hbtn.io").await;
    // The worker has tried and failed: the mail waits in the outbox.
    let path = app
        .raw
        .database_url
        .trim_start_matches("sqlite://")
        .to_owned();
    let mut failed = false;
    for _ in 0..200 {
        let c = rusqlite::Connection::open(&path).unwrap();
        let n: i64 = c
            .query_row(
                "SELECT count(*) FROM outbox WHERE kind = 'mail' AND last_error IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .unwrap();
        if n == 1 {
            failed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(failed, "the first attempt failed and was kept");
    assert!(sink.received().is_empty());

    let app = app.restart().await;
    sink.resume();
    app.clock.advance(5);
    let mails = sink.wait_for(1).await;
    assert_reset_mail(&mails[0], "bob@hbtn.io");
    let r = reset(&app, &mails[0].token("reset"), NEW_PASSWORD).await;
    assert_eq!(r.status, 200, "the link of the late mail works: {}", r.text);
    outbox_drained(&app).await;
}

#[tokio::test]
async fn two_instances_on_postgres_send_each_mail_exactly_once() {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let p = Pair::start_with(Layout::Postgres, move |raw| {
        raw.smtp_url = Some(url);
    })
    .await;
    const N: usize = 12;
    for i in 0..N {
        p.a.user(&format!("u{i}@hbtn.io"), false).await;
    }
    for i in 0..N {
        let on = if i % 2 == 0 { &p.a } else { &p.b };
        ask_reset(on, &format!("u{i}@hbtn.io")).await;
    }
    sink.wait_for(N).await;
    // Both workers look at the outbox at least once more before the count is taken.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let mails = sink.received();
    assert_eq!(
        mails.len(),
        N,
        "{:#?}",
        mails.iter().map(|m| &m.to).collect::<Vec<_>>()
    );
    let mut to: Vec<&str> = mails.iter().map(|m| m.to[0].as_str()).collect();
    to.sort_unstable();
    to.dedup();
    assert_eq!(to.len(), N, "one mail per user");
}
