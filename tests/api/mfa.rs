//! Second factors through the real server: TOTP enrolment and sign-in (replay, drift, the
//! injected clock), recovery codes, throttling of wrong codes, the pending sign-in, step-up,
//! `MFA_REQUIRED`, the administrator's reset, passkeys with a software authenticator, and the
//! same flows across two instances on every shared store layout.

use serde_json::{Value, json};
use totp_rs::{Algorithm, Secret as TotpSecret, TOTP};

use crate::authenticator::Authenticator;
use crate::scale_out::{Layout, Pair};
use crate::support::{Client, PASSWORD, Resp, T0, TestApp};

/// The TOTP code of `secret` (base32) at Unix time `at`.
fn code_at(secret: &str, at: i64) -> String {
    let bytes = TotpSecret::Encoded(secret.to_owned()).to_bytes().unwrap();
    TOTP::new_unchecked(Algorithm::SHA1, 6, 1, 30, bytes, None, String::new()).generate(at as u64)
}

/// The client of a server, as a browser at `origin` would be: the passkey origin.
fn passkey_origin(app: &TestApp) -> String {
    app.raw.webauthn_origin.clone().unwrap_or_else(|| {
        let port = app.base.rsplit(':').next().unwrap();
        format!("http://localhost:{port}")
    })
}

fn cookie_of(app: &TestApp, r: &Resp) -> String {
    r.cookie(&app.raw.session_name)
        .unwrap_or_else(|| panic!("a cookie: {} {:?}", r.text, r.headers))
}

/// Enrols TOTP for the signed-in `client`: returns the secret and the recovery codes.
async fn enrol_totp(app: &TestApp, client: &Client) -> (String, Vec<String>) {
    let start = client.post_json("/users/me/totp", json!({})).await;
    assert_eq!(start.status, 200, "{}", start.text);
    let secret = start.body["secret"].as_str().unwrap().to_owned();
    let uri = start.body["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    let svg = start.body["qr_svg"].as_str().unwrap();
    assert!(
        svg.contains("<svg"),
        "an inline SVG: {}",
        &svg[..80.min(svg.len())]
    );
    let now = app.clock_now();
    let confirm = client
        .post_json(
            "/users/me/totp/confirm",
            json!({"code": code_at(&secret, now)}),
        )
        .await;
    assert_eq!(confirm.status, 200, "{}", confirm.text);
    let codes: Vec<String> = confirm.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

impl Client {
    /// Sends a TOTP code to the second-factor step.
    async fn send_code(&self, code: &str) -> Resp {
        self.post_json("/auth_session/mfa", json!({"code": code}))
            .await
    }
}

/// Logs in with the password: must answer the pending sign-in; returns its cookie's client.
async fn pending_login(app: &TestApp, email: &str) -> (Client, Resp) {
    let r = app.anon().login_form(email, PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["mfa_required"], true, "{}", r.text);
    let token = cookie_of(app, &r);
    (app.with_cookie(&token), r)
}

impl TestApp {
    fn clock_now(&self) -> i64 {
        use sesame::clock::Clock as _;
        self.clock.now()
    }
}

#[tokio::test]
async fn totp_enrols_signs_in_with_a_code_and_never_takes_the_same_code_twice() {
    let app = TestApp::spawn("session_db_auth").await;
    let (bob, client) = app.signed_in("bob@hbtn.io", false).await;
    let other = app.with_cookie(&app.login("bob@hbtn.io", PASSWORD).await);
    let (secret, _) = enrol_totp(&app, &client).await;
    assert_eq!(
        client.get("/users/me").await.status,
        200,
        "the enrolling session stays"
    );
    assert_eq!(
        other.get("/users/me").await.status,
        403,
        "every other session ends"
    );

    app.clock.advance(30);
    let (pending, r) = pending_login(&app, "bob@hbtn.io").await;
    assert_eq!(r.body["methods"], json!(["totp", "recovery_code"]));
    assert!(
        r.body.get("id").is_none(),
        "no user before the second factor: {}",
        r.text
    );
    pending
        .get("/users/me")
        .await
        .assert_error(401, "second factor required");
    pending
        .get("/users/me/sessions")
        .await
        .assert_error(401, "second factor required");
    pending
        .delete("/users/me/sessions")
        .await
        .assert_error(401, "second factor required");
    pending
        .send_code("000000")
        .await
        .assert_error(401, "wrong code");

    let code = code_at(&secret, app.clock_now());
    let done = pending.send_code(&code).await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.body["id"], bob.id.as_str());
    let token = cookie_of(&app, &done);
    let session = app.with_cookie(&token);
    assert_eq!(session.get("/users/me").await.status, 200);
    assert_ne!(
        Some(token.as_str()),
        r.cookie(&app.raw.session_name).as_deref(),
        "the token rotates"
    );
    pending
        .send_code(&code)
        .await
        .assert_error(403, "Forbidden");

    // The same code, in the same step, on a new sign-in: refused.
    let (again, _) = pending_login(&app, "bob@hbtn.io").await;
    again.send_code(&code).await.assert_error(401, "wrong code");
}

#[tokio::test]
async fn one_step_of_drift_is_accepted_and_two_are_refused() {
    let app = TestApp::spawn("session_db_auth").await;
    let (_, client) = app.signed_in("bob@hbtn.io", false).await;
    let (secret, _) = enrol_totp(&app, &client).await;
    app.clock.advance(300);
    let now = app.clock_now();

    let (pending, _) = pending_login(&app, "bob@hbtn.io").await;
    // Two steps behind, two steps ahead.
    for at in [now - 60, now + 60] {
        pending
            .send_code(&code_at(&secret, at))
            .await
            .assert_error(401, "wrong code");
    }
    let behind = pending.send_code(&code_at(&secret, now - 30)).await;
    assert_eq!(behind.status, 200, "one step behind: {}", behind.text);

    let (pending, _) = pending_login(&app, "bob@hbtn.io").await;
    let ahead = pending.send_code(&code_at(&secret, now + 30)).await;
    assert_eq!(ahead.status, 200, "one step ahead: {}", ahead.text);
    let (pending, _) = pending_login(&app, "bob@hbtn.io").await;
    pending
        .send_code(&code_at(&secret, now))
        .await
        .assert_error(401, "wrong code");
}

#[tokio::test]
async fn a_recovery_code_works_once_and_a_new_set_voids_the_old() {
    let app = TestApp::spawn("session_db_auth").await;
    let (_, client) = app.signed_in("bob@hbtn.io", false).await;
    let (_, codes) = enrol_totp(&app, &client).await;

    let (pending, _) = pending_login(&app, "bob@hbtn.io").await;
    let typed = codes[3].to_uppercase();
    let r = pending
        .post_json("/auth_session/mfa", json!({"recovery_code": typed}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (pending, _) = pending_login(&app, "bob@hbtn.io").await;
    pending
        .post_json("/auth_session/mfa", json!({"recovery_code": codes[3]}))
        .await
        .assert_error(401, "wrong code");

    let renewed = client
        .post_json("/users/me/recovery_codes", json!({}))
        .await;
    assert_eq!(renewed.status, 200, "{}", renewed.text);
    let fresh = renewed.body["recovery_codes"][0]
        .as_str()
        .unwrap()
        .to_owned();
    pending
        .post_json("/auth_session/mfa", json!({"recovery_code": codes[4]}))
        .await
        .assert_error(401, "wrong code");
    let r = pending
        .post_json("/auth_session/mfa", json!({"recovery_code": fresh}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn wrong_codes_are_throttled_per_account_and_the_password_does_not_reset_the_count() {
    let app = TestApp::spawn_with(|raw| {
        raw.auth_type = "session_db_auth".into();
        raw.throttle_account_free = "3".into();
    })
    .await;
    let (_, client) = app.signed_in("bob@hbtn.io", false).await;
    let (secret, _) = enrol_totp(&app, &client).await;
    app.clock.advance(30);
    for _ in 0..3 {
        let (pending, _) = pending_login(&app, "bob@hbtn.io").await;
        pending
            .send_code("999999")
            .await
            .assert_error(401, "wrong code");
    }
    // The account is throttled now, for the password too.
    app.anon()
        .login_form("bob@hbtn.io", PASSWORD)
        .await
        .assert_error(429, "Too many requests");
    app.clock.advance(1);
    // The right password is not a reset of the count: one more wrong code, and even the right
    // one waits out the longer delay.
    let (pending, _) = pending_login(&app, "bob@hbtn.io").await;
    pending
        .send_code("999999")
        .await
        .assert_error(401, "wrong code");
    let right = code_at(&secret, app.clock_now());
    let r = pending.send_code(&right).await;
    r.assert_error(429, "Too many requests");
    assert_eq!(r.header("retry-after"), Some("2"));
    app.clock.advance(2);
    let r = pending.send_code(&right).await;
    assert_eq!(r.status, 200, "after the delay: {}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_parallel_wrong_codes_gets_no_more_guesses_than_the_free_ones() {
    let app = TestApp::spawn("session_db_auth").await;
    let (_, client) = app.signed_in("bob@hbtn.io", false).await;
    enrol_totp(&app, &client).await;
    let (pending, _) = pending_login(&app, "bob@hbtn.io").await;
    let guesses: Vec<_> = (0..40)
        .map(|i| {
            let c = pending.clone();
            tokio::spawn(async move {
                c.post_json(
                    "/auth_session/mfa",
                    json!({"code": format!("{:06}", 100_000 + i)}),
                )
                .await
                .status
            })
        })
        .collect();
    let mut checked = 0;
    for g in guesses {
        match g.await.unwrap() {
            401 => checked += 1,
            429 => {}
            other => panic!("status {other}"),
        }
    }
    // Five free attempts (THROTTLE_ACCOUNT_FREE), and at most one more past them.
    assert!((5..=6).contains(&checked), "{checked} codes were checked");
}

#[tokio::test]
async fn a_password_changed_during_a_pending_sign_in_ends_it() {
    let app = TestApp::spawn("session_db_auth").await;
    let (_, client) = app.signed_in("bob@hbtn.io", false).await;
    let (secret, _) = enrol_totp(&app, &client).await;
    app.clock.advance(30);
    let (pending, _) = pending_login(&app, "bob@hbtn.io").await;
    app.clock.advance(1);
    let r = client
        .put_json(
            "/users/me/password",
            json!({"current_password": PASSWORD, "new_password": "a changed passphrase"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    pending
        .send_code(&code_at(&secret, app.clock_now()))
        .await
        .assert_error(403, "Forbidden");
}

#[tokio::test]
async fn a_pending_sign_in_opens_nothing_else_and_ends_after_five_minutes() {
    let app = TestApp::spawn("session_db_auth").await;
    let (admin, admin_client) = app.signed_in("admin@hbtn.io", true).await;
    let (_, client) = app.signed_in("bob@hbtn.io", true).await;
    let (secret, _) = enrol_totp(&app, &client).await;
    let (pending, _) = pending_login(&app, "bob@hbtn.io").await;
    for path in ["/users", "/users/me", &format!("/users/{}", admin.id)] {
        pending
            .get(path)
            .await
            .assert_error(401, "second factor required");
    }
    pending
        .delete(&format!("/users/{}", admin.id))
        .await
        .assert_error(401, "second factor required");
    assert_eq!(admin_client.get("/users/me").await.status, 200);
    let verify = pending.get("/auth/verify").await;
    assert_eq!(verify.status, 401, "forward auth refuses it too");

    app.clock.advance(301);
    let r = pending.send_code(&code_at(&secret, app.clock_now())).await;
    r.assert_error(403, "Forbidden");
    pending
        .get("/users/me")
        .await
        .assert_error(403, "Forbidden");
}

#[tokio::test]
async fn a_logout_abandons_a_pending_sign_in() {
    let app = TestApp::spawn("session_db_auth").await;
    let (_, client) = app.signed_in("bob@hbtn.io", false).await;
    let (secret, _) = enrol_totp(&app, &client).await;
    app.clock.advance(30);
    let (pending, _) = pending_login(&app, "bob@hbtn.io").await;
    let out = pending.delete("/auth_session/logout").await;
    assert_eq!(out.status, 200, "{}", out.text);
    pending
        .send_code(&code_at(&secret, app.clock_now()))
        .await
        .assert_error(403, "Forbidden");
}

#[tokio::test]
async fn sensitive_actions_need_a_fresh_session_and_reauth_refreshes_it() {
    let app = TestApp::spawn("session_db_auth").await;
    let (bob, client) = app.signed_in("bob@hbtn.io", false).await;
    app.clock.advance(601);
    for r in [
        client.post_json("/users/me/totp", json!({})).await,
        client
            .post_json("/users/me/passkeys/register/start", json!({}))
            .await,
        client.delete(&format!("/users/{}", bob.id)).await,
    ] {
        r.assert_error(403, "reauthentication required");
    }
    assert_eq!(
        client.get("/users/me").await.status,
        200,
        "reads need no step-up"
    );
    client
        .post_json("/auth_session/reauth", json!({"password": "not it at all"}))
        .await
        .assert_error(403, "wrong current password");
    let r = client
        .post_json("/auth_session/reauth", json!({"password": PASSWORD}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["authenticated_at"],
        sesame::domain::format_timestamp(T0 + 601)
    );
    let (secret, _) = enrol_totp(&app, &client).await;

    // Stale again; a TOTP code refreshes it as well.
    app.clock.advance(601);
    client
        .delete("/users/me/totp")
        .await
        .assert_error(403, "reauthentication required");
    let r = client
        .post_json(
            "/auth_session/reauth",
            json!({"code": code_at(&secret, app.clock_now())}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = client.delete("/users/me/totp").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let plain = app.anon().login_form("bob@hbtn.io", PASSWORD).await;
    assert_eq!(
        plain.body["id"],
        bob.id.as_str(),
        "no second factor left: {}",
        plain.text
    );
}

#[tokio::test]
async fn mfa_required_for_admins_opens_only_enrolment_until_they_enrol() {
    let app = TestApp::spawn_with(|raw| {
        raw.auth_type = "session_db_auth".into();
        raw.mfa_required = "admins".into();
    })
    .await;
    let (_, plain) = app.signed_in("bob@hbtn.io", false).await;
    assert_eq!(
        plain.get("/users/me").await.status,
        200,
        "plain users are not covered"
    );
    let (_, admin) = app.signed_in("admin@hbtn.io", true).await;
    admin
        .get("/users")
        .await
        .assert_error(403, "second factor enrolment required");
    admin
        .get("/users/me")
        .await
        .assert_error(403, "second factor enrolment required");
    assert_eq!(admin.get("/auth/verify").await.status, 401);
    enrol_totp(&app, &admin).await;
    assert_eq!(
        admin.get("/users").await.status,
        200,
        "enrolled: everything opens"
    );
}

#[tokio::test]
async fn mfa_required_rejects_a_bad_value() {
    let mut raw = sesame::config::RawConfig {
        mfa_required: "sometimes".into(),
        ..Default::default()
    };
    let err = sesame::config::Settings::from_raw(&raw).unwrap_err();
    assert_eq!(err.variable, "MFA_REQUIRED");
    raw.mfa_required = "all".into();
    raw.reauth_max_age = "0".into();
    assert_eq!(
        sesame::config::Settings::from_raw(&raw)
            .unwrap_err()
            .variable,
        "REAUTH_MAX_AGE"
    );
    raw.reauth_max_age = "600".into();
    raw.webauthn_rp_id = Some("example.com".into());
    raw.webauthn_origin = Some("https://evil.org".into());
    assert_eq!(
        sesame::config::Settings::from_raw(&raw)
            .unwrap_err()
            .variable,
        "WEBAUTHN_ORIGIN"
    );
}

#[tokio::test]
async fn an_administrator_resets_a_users_second_factors_and_ends_their_sessions() {
    let app = TestApp::spawn("session_db_auth").await;
    let (_, admin) = app.signed_in("admin@hbtn.io", true).await;
    let (bob, client) = app.signed_in("bob@hbtn.io", false).await;
    enrol_totp(&app, &client).await;
    client
        .delete(&format!("/users/{}/mfa", bob.id))
        .await
        .assert_error(403, "Forbidden");
    app.clock.advance(601);
    admin
        .delete(&format!("/users/{}/mfa", bob.id))
        .await
        .assert_error(403, "reauthentication required");
    admin
        .post_json("/auth_session/reauth", json!({"password": PASSWORD}))
        .await;
    let r = admin.delete(&format!("/users/{}/mfa", bob.id)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        client.get("/users/me").await.status,
        403,
        "bob's sessions ended"
    );
    let plain = app.anon().login_form("bob@hbtn.io", PASSWORD).await;
    assert_eq!(
        plain.body["id"],
        bob.id.as_str(),
        "password alone again: {}",
        plain.text
    );
}

#[tokio::test]
async fn basic_auth_refuses_the_password_alone_of_a_user_with_a_second_factor() {
    let app = TestApp::spawn("session_db_auth").await;
    let (_, client) = app.signed_in("bob@hbtn.io", false).await;
    enrol_totp(&app, &client).await;
    let basic = TestApp::spawn_with(|raw| {
        raw.auth_type = "basic_auth".into();
        raw.database_url = app.raw.database_url.clone();
    })
    .await;
    basic
        .anon()
        .basic("bob@hbtn.io", PASSWORD)
        .get("/users/me")
        .await
        .assert_error(401, "second factor required");
}

// ---- passkeys ----------------------------------------------------------------------------

/// Registers a passkey named `name` for the signed-in `client` with `device`.
async fn register_passkey(
    app: &TestApp,
    client: &Client,
    device: &mut Authenticator,
    name: &str,
) -> Resp {
    let start = client
        .post_json("/users/me/passkeys/register/start", json!({}))
        .await;
    assert_eq!(start.status, 200, "{}", start.text);
    assert_eq!(
        start.body["publicKey"]["authenticatorSelection"]["residentKey"], "required",
        "a discoverable credential: {}",
        start.text
    );
    let credential = device.register(&start.body, &passkey_origin(app));
    client
        .post_json(
            "/users/me/passkeys/register/finish",
            json!({"name": name, "credential": credential}),
        )
        .await
}

/// Signs in without a password with `device`, answering as from `origin`.
async fn passkey_sign_in(app: &TestApp, device: &mut Authenticator, origin: &str) -> Resp {
    let start = app
        .anon()
        .post_json("/auth_session/passkey/start", json!({}))
        .await;
    assert_eq!(start.status, 200, "{}", start.text);
    let credential = device.assert(&start.body, origin);
    app.anon()
        .post_json(
            "/auth_session/passkey/finish",
            json!({"credential": credential}),
        )
        .await
}

#[tokio::test]
async fn a_passkey_registers_signs_in_without_a_password_and_can_be_removed() {
    let app = TestApp::spawn("session_db_auth").await;
    let (bob, client) = app.signed_in("bob@hbtn.io", false).await;
    let mut device = Authenticator::new();
    let r = register_passkey(&app, &client, &mut device, "laptop").await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["name"], "laptop");
    assert_eq!(r.body["last_used_at"], Value::Null);
    let id = r.body["id"].as_str().unwrap().to_owned();

    let signed = passkey_sign_in(&app, &mut device, &passkey_origin(&app)).await;
    assert_eq!(signed.status, 200, "{}", signed.text);
    assert_eq!(signed.body["id"], bob.id.as_str());
    let session = app.with_cookie(&cookie_of(&app, &signed));
    assert_eq!(session.get("/users/me").await.body["id"], bob.id.as_str());
    let list = session.get("/users/me/passkeys").await;
    assert_eq!(list.body[0]["id"], id.as_str());
    assert!(list.body[0]["last_used_at"].is_string(), "{}", list.text);

    // The password now needs a second factor: the passkey.
    let (pending, login) = pending_login(&app, "bob@hbtn.io").await;
    assert_eq!(login.body["methods"], json!(["passkey"]));
    let start = pending
        .post_json("/auth_session/mfa/passkey/start", json!({}))
        .await;
    assert_eq!(start.status, 200, "{}", start.text);
    let credential = device.assert(&start.body, &passkey_origin(&app));
    let done = pending
        .post_json(
            "/auth_session/mfa/passkey/finish",
            json!({"credential": credential}),
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.text);

    let r = session.delete(&format!("/users/me/passkeys/{id}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let again = passkey_sign_in(&app, &mut device, &passkey_origin(&app)).await;
    again.assert_error(401, "wrong code");
}

#[tokio::test]
async fn a_cloned_authenticator_and_a_wrong_origin_are_refused() {
    let app = TestApp::spawn("session_db_auth").await;
    let (_, client) = app.signed_in("bob@hbtn.io", false).await;
    let mut device = Authenticator::new();
    let r = register_passkey(&app, &client, &mut device, "key").await;
    assert_eq!(r.status, 201, "{}", r.text);
    let origin = passkey_origin(&app);
    for _ in 0..3 {
        assert_eq!(
            passkey_sign_in(&app, &mut device, &origin).await.status,
            200
        );
    }
    // A copy of the key whose counter is behind the one the server saw last.
    device.set_counter(1);
    passkey_sign_in(&app, &mut device, &origin)
        .await
        .assert_error(401, "wrong code");
    device.set_counter(50);
    passkey_sign_in(&app, &mut device, "https://evil.example")
        .await
        .assert_error(401, "wrong code");
    assert_eq!(
        passkey_sign_in(&app, &mut device, &origin).await.status,
        200
    );

    // An answer is good once: the ceremony is gone after its finish.
    let start = app
        .anon()
        .post_json("/auth_session/passkey/start", json!({}))
        .await;
    let credential = device.assert(&start.body, &origin);
    let body = json!({"credential": credential});
    assert_eq!(
        app.anon()
            .post_json("/auth_session/passkey/finish", body.clone())
            .await
            .status,
        200
    );
    let replay = app
        .anon()
        .post_json("/auth_session/passkey/finish", body)
        .await;
    assert_eq!(replay.status, 400, "{}", replay.text);
}

#[tokio::test]
async fn a_ceremony_that_ran_out_is_refused() {
    let app = TestApp::spawn("session_db_auth").await;
    let (_, client) = app.signed_in("bob@hbtn.io", false).await;
    let mut device = Authenticator::new();
    assert_eq!(
        register_passkey(&app, &client, &mut device, "k")
            .await
            .status,
        201
    );
    let start = app
        .anon()
        .post_json("/auth_session/passkey/start", json!({}))
        .await;
    let credential = device.assert(&start.body, &passkey_origin(&app));
    app.clock.advance(301);
    let r = app
        .anon()
        .post_json(
            "/auth_session/passkey/finish",
            json!({"credential": credential}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = app
        .anon()
        .post_json(
            "/auth_session/passkey/finish",
            json!({"credential": {"id": 1}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
}

// ---- across instances and stores -----------------------------------------------------------

/// TOTP enrolled on A, signed in on B with the code, the code refused again on A; a passkey
/// registered across instances (started on A, finished on B), then a passwordless sign-in
/// started on B and finished on A.
async fn factors_work_across_instances(layout: Layout) {
    let p = Pair::start_with(layout, |raw| {
        raw.webauthn_origin = Some("http://localhost:8443".into());
    })
    .await;
    let origin = "http://localhost:8443";
    p.a.user("bob@hbtn.io", false).await;
    let on_a = p.a.with_cookie(&p.a.login("bob@hbtn.io", PASSWORD).await);
    let (secret, _) = enrol_totp(&p.a, &on_a).await;
    p.a.clock.advance(30);
    let (pending, _) = pending_login(&p.a, "bob@hbtn.io").await;
    let token = pending_token(&p.a, &pending).await;
    let code = code_at(&secret, p.a.clock_now());
    let on_b = p.b.with_cookie(&token);
    on_b.get("/users/me")
        .await
        .assert_error(401, "second factor required");
    let done = on_b.send_code(&code).await;
    assert_eq!(done.status, 200, "{layout:?}: {}", done.text);
    let (pending, _) = pending_login(&p.a, "bob@hbtn.io").await;
    pending
        .send_code(&code)
        .await
        .assert_error(401, "wrong code");

    let session = cookie_of(&p.b, &done);
    let mut device = Authenticator::new();
    let start =
        p.a.with_cookie(&session)
            .post_json("/users/me/passkeys/register/start", json!({}))
            .await;
    assert_eq!(start.status, 200, "{layout:?}: {}", start.text);
    let credential = device.register(&start.body, origin);
    let finish =
        p.b.with_cookie(&session)
            .post_json(
                "/users/me/passkeys/register/finish",
                json!({"name": "phone", "credential": credential}),
            )
            .await;
    assert_eq!(finish.status, 201, "{layout:?}: {}", finish.text);
    let start =
        p.b.anon()
            .post_json("/auth_session/passkey/start", json!({}))
            .await;
    let credential = device.assert(&start.body, origin);
    let signed =
        p.a.anon()
            .post_json(
                "/auth_session/passkey/finish",
                json!({"credential": credential}),
            )
            .await;
    assert_eq!(signed.status, 200, "{layout:?}: {}", signed.text);
}

/// The token a pending client carries (its cookie header's value).
async fn pending_token(app: &TestApp, pending: &Client) -> String {
    let header = pending.header_value("cookie").unwrap();
    let name = format!("{}=", app.raw.session_name);
    header.strip_prefix(&name).unwrap().to_owned()
}

#[tokio::test]
async fn factors_work_across_instances_on_sqlite() {
    let a = TestApp::spawn_with(|raw| {
        raw.webauthn_origin = Some("http://localhost:8443".into());
    })
    .await;
    let b = a.another_instance().await;
    a.user("bob@hbtn.io", false).await;
    let on_a = a.with_cookie(&a.login("bob@hbtn.io", PASSWORD).await);
    let (secret, _) = enrol_totp(&a, &on_a).await;
    a.clock.advance(30);
    let (pending, _) = pending_login(&a, "bob@hbtn.io").await;
    let token = pending_token(&a, &pending).await;
    let done = b
        .with_cookie(&token)
        .send_code(&code_at(&secret, a.clock_now()))
        .await;
    assert_eq!(done.status, 200, "{}", done.text);
    // And after a restart, the factor is still there.
    let a = a.restart().await;
    pending_login(&a, "bob@hbtn.io").await;
}

#[tokio::test]
async fn factors_work_across_instances_on_postgres() {
    factors_work_across_instances(Layout::Postgres).await;
}

#[tokio::test]
async fn factors_work_across_instances_on_redis_and_postgres() {
    factors_work_across_instances(Layout::RedisAndPostgres).await;
}

#[tokio::test]
async fn factors_work_across_instances_on_redis_and_sqlite() {
    factors_work_across_instances(Layout::RedisAndSqlite).await;
}

#[tokio::test]
async fn sesame_user_reset_mfa_removes_the_factors_of_a_user_who_lost_them() {
    let app = TestApp::spawn("session_db_auth").await;
    let (bob, client) = app.signed_in("bob@hbtn.io", false).await;
    enrol_totp(&app, &client).await;
    pending_login(&app, "bob@hbtn.io").await;

    let mut cmd = crate::support::sesame_command();
    cmd.args(["user", "reset-mfa", "BOB@hbtn.io"])
        .env("DATABASE_URL", &app.raw.database_url);
    let run = crate::support::run_command(cmd, None, std::time::Duration::from_secs(60));
    run.assert_ok();
    assert!(
        run.says("second factors of bob@hbtn.io removed"),
        "{}",
        run.show()
    );
    assert_eq!(
        client.get("/users/me").await.status,
        403,
        "their sessions ended"
    );
    let plain = app.anon().login_form("bob@hbtn.io", PASSWORD).await;
    assert_eq!(plain.body["id"], bob.id.as_str(), "{}", plain.text);

    let mut cmd = crate::support::sesame_command();
    cmd.args(["user", "reset-mfa", "ghost@hbtn.io"])
        .env("DATABASE_URL", &app.raw.database_url);
    crate::support::run_command(cmd, None, std::time::Duration::from_secs(60)).assert_failed();
}

#[tokio::test]
async fn passkey_sign_in_starts_are_throttled_per_address() {
    let app = TestApp::spawn_with(|raw| {
        raw.auth_type = "session_db_auth".into();
        raw.throttle_address_free = "3".into();
    })
    .await;
    for _ in 0..3 {
        let r = app
            .anon()
            .post_json("/auth_session/passkey/start", json!({}))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = app
        .anon()
        .post_json("/auth_session/passkey/start", json!({}))
        .await;
    r.assert_error(429, "Too many requests");
    app.clock.advance(2);
    let r = app
        .anon()
        .post_json("/auth_session/passkey/start", json!({}))
        .await;
    assert_eq!(r.status, 200, "after the delay: {}", r.text);
}
