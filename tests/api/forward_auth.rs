//! Forward authentication (CONTRACT §9), asked directly: `/api/v1/auth/verify` as a proxy asks
//! it, the redirect rule against open redirects, `OPTIONS` without a CORS shortcut, and the
//! cookie domain. The same questions through a real nginx and Caddy are in `proxies`.

use reqwest::Method;
use serde_json::json;

use crate::support::{Client, PASSWORD, Resp, TestApp};

/// The attempts to leave the allowed hosts that every redirect must refuse.
pub const OPEN_REDIRECTS: &[&str] = &[
    "//evil.com",
    "//evil.com/path",
    "///evil.com",
    "https://evil.com",
    "https://evil.com@app.test",
    "https://app.test@evil.com",
    "https://app.test.evil.com",
    "https://evilapp.test",
    "/\\evil.com",
    "\\\\evil.com",
    "https:\\\\evil.com",
    "https://app.test\\@evil.com",
    "/%2F%2Fevil.com",
    "/%5Cevil.com",
    "%2F%2Fevil.com",
    "https://evil.com%2F@app.test",
    "https%3A%2F%2Fevil.com",
    "javascript:alert(document.domain)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "http://app.test%0d%0aSet-Cookie:x=y@evil.com",
];

pub async fn app() -> TestApp {
    TestApp::spawn_with(|c| {
        c.forward_auth_allowed_hosts = Some("app.test, .apps.test".into());
        c.public_url = Some("https://auth.test".into());
    })
    .await
}

/// A client that does not follow redirects, so the answers can be looked at.
fn no_follow(c: &Client) -> Client {
    Client {
        base: c.base.clone(),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        headers: c.headers.clone(),
    }
}

async fn verify(c: &Client, method: &str, query: &str) -> Resp {
    let m = Method::from_bytes(method.as_bytes()).unwrap();
    let url = format!("{}/api/v1/auth/verify{query}", c.base);
    no_follow(c).send(no_follow(c).http.request(m, url)).await
}

#[track_caller]
fn assert_bare(r: &Resp, status: u16) {
    assert_eq!(r.status, status, "{:?} {}", r.headers, r.text);
    assert_eq!(r.text, "", "an empty body");
    for h in ["x-auth-user-id", "x-auth-user-email", "x-auth-session-id"] {
        assert!(r.header(h).is_none(), "{h} on a refusal");
    }
}

#[tokio::test]
async fn verify_answers_every_method_with_the_users_headers_or_a_bare_refusal() {
    let app = app().await;
    let (bob, c) = app.signed_in("bob@example.com", false).await;
    let sessions = c.get("/users/me/sessions").await;
    let handle = sessions.body[0]["id"].as_str().unwrap().to_owned();
    for method in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
        let r = verify(&c, method, "").await;
        assert_eq!(r.status, 200, "{method}: {}", r.text);
        assert_eq!(r.text, "");
        assert_eq!(r.header("x-auth-user-id"), Some(bob.id.as_str()));
        assert_eq!(r.header("x-auth-user-email"), Some("bob@example.com"));
        assert_eq!(r.header("x-auth-user-admin"), Some("false"));
        assert_eq!(r.header("x-auth-session-id"), Some(handle.as_str()));
        let cookie = c.headers["cookie"].to_str().unwrap();
        assert!(
            !cookie.contains(handle.as_str()),
            "the handle is not the token"
        );

        // No credentials: 401 for every method, a CORS preflight included.
        let anon = app.anon().header("origin", "https://app.test");
        let anon = if method == "OPTIONS" {
            anon.header("access-control-request-method", "GET")
        } else {
            anon
        };
        assert_bare(&verify(&anon, method, "").await, 401);
        // A cookie that resolves to nothing: 403.
        assert_bare(&verify(&app.with_cookie("forged"), method, "").await, 403);
    }
    assert_bare(&verify(&c, "GET", "?admin=1").await, 403);
    let (_, admin) = app.signed_in("root@example.com", true).await;
    let r = verify(&admin, "GET", "?admin=1").await;
    assert_eq!(
        (r.status, r.header("x-auth-user-admin")),
        (200, Some("true"))
    );

    // CORS preflights of sesame's own API are still answered.
    let r = app
        .anon()
        .send(
            reqwest::Client::new()
                .request(Method::OPTIONS, app.anon().url("/users/me"))
                .header("origin", "https://app.test")
                .header("access-control-request-method", "PUT"),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.header("access-control-allow-methods").is_some());
}

#[tokio::test]
async fn verify_follows_logout_revocation_expiry_and_throttling_at_once() {
    let app = app().await;
    let (_, c) = app.signed_in("bob@example.com", false).await;
    assert_eq!(verify(&c, "GET", "").await.status, 200);
    c.delete("/auth_session/logout").await;
    assert_bare(&verify(&c, "GET", "").await, 403);

    let (_, c) = app.signed_in("carol@example.com", false).await;
    let token = app.login("carol@example.com", PASSWORD).await;
    let other = app.with_cookie(&token);
    assert_eq!(verify(&other, "GET", "").await.status, 200);
    c.delete("/users/me/sessions").await;
    assert_bare(&verify(&other, "GET", "").await, 403);

    app.clock.advance(86_401);
    assert_bare(&verify(&c, "GET", "").await, 403);

    let basic = TestApp::spawn("basic_auth").await;
    basic.user("dave@example.com", false).await;
    let ok = basic.anon().basic("dave@example.com", PASSWORD);
    let r = verify(&ok, "GET", "").await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("x-auth-session-id").is_none(),
        "no session for Basic"
    );
    let r = verify(&basic.anon(), "GET", "").await;
    assert_bare(&r, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"sesame\", charset=\"UTF-8\"")
    );
    let wrong = basic.anon().basic("dave@example.com", "wrong password");
    let mut last = 0;
    for _ in 0..7 {
        last = verify(&wrong, "GET", "").await.status;
    }
    assert_eq!(last, 429);
    let r = verify(&ok, "GET", "").await;
    assert_bare(&r, 429);
    assert!(r.header("retry-after").is_some());
}

#[tokio::test]
async fn an_unauthenticated_browser_is_sent_to_sign_in_only_for_allowed_hosts() {
    let app = app().await;
    let anon = app.anon();
    let r = verify(&anon, "GET", "?rd=https%3A%2F%2Fapp.test%2Fdash%3Fx%3D1").await;
    assert_eq!(r.status, 302, "{}", r.text);
    assert_eq!(r.text, "");
    assert_eq!(
        r.header("location"),
        Some("https://auth.test/?rd=https%3A%2F%2Fapp.test%2Fdash%3Fx%3D1")
    );
    let r = verify(&anon, "GET", "?rd=https%3A%2F%2Fx.apps.test%2F").await;
    assert_eq!(r.status, 302);

    // Traefik and Caddy say where the request was going in headers; only browsers are sent.
    let fwd = anon
        .clone()
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "app.test")
        .header("x-forwarded-uri", "/reports?q=1");
    let r = verify(&fwd, "GET", "").await;
    assert_bare(&r, 401);
    let r = verify(&fwd.clone().header("accept", "text/html,*/*"), "GET", "").await;
    assert_eq!(
        r.header("location"),
        Some("https://auth.test/?rd=https%3A%2F%2Fapp.test%2Freports%3Fq%3D1")
    );
    let evil = anon
        .clone()
        .header("accept", "text/html")
        .header("x-forwarded-host", "evil.com")
        .header("x-forwarded-uri", "/");
    assert_bare(&verify(&evil, "GET", "").await, 401);

    for target in OPEN_REDIRECTS {
        let q: String = url::form_urlencoded::byte_serialize(target.as_bytes()).collect();
        let r = verify(&anon, "GET", &format!("?rd={q}")).await;
        assert_bare(&r, 401);
        let r = anon.get(&format!("/auth/redirect?rd={q}")).await;
        r.assert_error(400, "rd not allowed");
    }
    let r = anon.get("/auth/redirect?rd=%2Faccount%3Ftab%3D2").await;
    assert_eq!(r.body, json!({"rd": "/account?tab=2"}));
    let r = anon
        .get("/auth/redirect?rd=https%3A%2F%2FAPP.test%2Fx")
        .await;
    assert_eq!(r.body, json!({"rd": "https://app.test/x"}));
}

#[tokio::test]
async fn one_sign_in_covers_the_subdomains_of_the_cookie_domain() {
    let app = TestApp::spawn_with(|c| c.session_cookie_domain = Some(".Example.com".into())).await;
    app.user("bob@example.com", false).await;
    let r = app.anon().login_form("bob@example.com", PASSWORD).await;
    let set = r.header("set-cookie").unwrap();
    assert!(set.contains("; Domain=example.com"), "{set}");
    let c = app.with_cookie(&r.cookie(&app.raw.session_name).unwrap());
    let r = c.delete("/auth_session/logout").await;
    let set = r.header("set-cookie").unwrap();
    assert!(
        set.contains("Max-Age=0") && set.contains("; Domain=example.com"),
        "{set}"
    );
}
