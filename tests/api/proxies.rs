//! Forward authentication through real proxies: nginx (`auth_request`, with the snippets in
//! `deploy/forward-auth/nginx/` included as they are shipped) and Caddy (`forward_auth`, the
//! shipped Caddyfile's directives), each in front of an upstream that echoes the headers it
//! receives. The proxies are Debian's packages, started on free loopback ports with their own
//! configuration and stopped at the end. Without the binary (a machine that never ran
//! `.ci/run`), a test says so and passes only outside CI.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::Request;
use serde_json::{Map, Value, json};

use super::forward_auth::OPEN_REDIRECTS;
use crate::support::{PASSWORD, TestApp};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The proxy binary, or `None` (and a note) when it is not installed outside CI.
fn binary(name: &str) -> Option<PathBuf> {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return Some(p);
        }
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{name} is not installed (.ci/run installs it)"
    );
    eprintln!("skipped: {name} is not installed (apt-get install {name}, or run .ci/run)");
    None
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An upstream that answers every request with what it received: method, path and headers.
async fn echo_upstream() -> String {
    async fn echo(req: Request) -> Json<Value> {
        let headers: Map<String, Value> = req
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), json!(v.to_str().unwrap_or("?"))))
            .collect();
        Json(
            json!({"method": req.method().as_str(), "path": req.uri().to_string(), "headers": headers}),
        )
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = axum::Router::new().fallback(echo);
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr.to_string()
}

/// A proxy process, killed when dropped.
struct Proxy {
    child: Child,
    _dir: tempfile::TempDir,
    base: String,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proxy {
    /// Starts `cmd` (its configuration in `dir`, listening on `port`) and waits until it
    /// accepts connections.
    async fn start(mut cmd: Command, dir: tempfile::TempDir, port: u16) -> Self {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        Self {
            child,
            _dir: dir,
            base: format!("http://127.0.0.1:{port}"),
        }
        .ready()
        .await
    }

    /// Waits until the proxy accepts connections (or fails the test after 10 s).
    async fn ready(mut self) -> Self {
        let deadline = Instant::now() + Duration::from_secs(10);
        let addr = self.base.trim_start_matches("http://").to_owned();
        while tokio::net::TcpStream::connect(&addr).await.is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the proxy exited: {status}");
            }
            assert!(Instant::now() < deadline, "the proxy did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self
    }
}

async fn nginx(sesame: &str, upstream: &str) -> Option<Proxy> {
    let bin = binary("nginx")?;
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf");
    std::fs::create_dir_all(conf.join("sesame")).unwrap();
    for f in [
        "sesame-verify.conf",
        "sesame-verify-request.conf",
        "sesame-protect.conf",
        "sesame-signin.conf",
    ] {
        std::fs::copy(
            repo(&format!("deploy/forward-auth/nginx/{f}")),
            conf.join("sesame").join(f),
        )
        .unwrap();
    }
    let port = free_port();
    let prefix = dir.path().display();
    std::fs::write(
        conf.join("nginx.conf"),
        format!(
            r#"daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp;
    proxy_temp_path {prefix}/tmp;
    upstream sesame {{ server {sesame}; keepalive 8; }}
    upstream app {{ server {upstream}; keepalive 8; }}
    server {{
        listen 127.0.0.1:{port};
        include sesame/sesame-verify.conf;
        include sesame/sesame-signin.conf;
        location / {{
            auth_request /_sesame/verify;
            include sesame/sesame-protect.conf;
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
        location /admin/ {{
            auth_request /_sesame/verify-admin;
            include sesame/sesame-protect.conf;
            proxy_pass http://app;
        }}
    }}
}}
"#
        ),
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
    let mut cmd = Command::new(bin);
    cmd.arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(conf.join("nginx.conf"))
        .stderr(Stdio::inherit());
    Some(Proxy::start(cmd, dir, port).await)
}

async fn caddy(sesame: &str, upstream: &str) -> Option<Proxy> {
    let bin = binary("caddy")?;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // The shipped snippets, imported as deploy/forward-auth/caddy/Caddyfile imports them.
    let shipped = std::fs::read_to_string(repo("deploy/forward-auth/caddy/sesame.caddy"))
        .unwrap()
        .replace("127.0.0.1:5000", sesame);
    let caddyfile = format!(
        "{{\n\tadmin off\n\tauto_https off\n}}\n\n{shipped}\n\
         http://127.0.0.1:{port} {{\n\
         \thandle /admin/* {{\n\t\timport sesame_auth_admin\n\t\treverse_proxy {upstream}\n\t}}\n\
         \thandle {{\n\t\timport sesame_auth\n\t\treverse_proxy {upstream}\n\t}}\n}}\n"
    );
    let file = dir.path().join("Caddyfile");
    std::fs::write(&file, caddyfile).unwrap();
    let mut cmd = Command::new(bin);
    cmd.args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&file)
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .stderr(Stdio::null());
    Some(Proxy::start(cmd, dir, port).await)
}

/// A browser-like client: its own cookie jar, no redirects followed.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn get(
    c: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut rb = c.get(url);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let h = r.headers().clone();
    (status, r.json().await.unwrap_or(Value::Null), h)
}

async fn sign_in(c: &reqwest::Client, app: &TestApp, email: &str) {
    let r = c
        .post(format!("{}/api/v1/auth_session/login", app.base))
        .form(&[("email", email), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// The checks every proxy must pass (CONTRACT §9 and the issue's acceptance list).
async fn guarded_by(proxy: &Proxy, app: &TestApp) {
    let base = &proxy.base;
    let page = format!("{base}/reports/weekly?x=1&y=2");
    let forged = [
        ("x-auth-user-id", "forged"),
        ("x-auth-user-email", "ceo@example.com"),
        ("x-auth-user-admin", "true"),
    ];

    // No cookie: refused, and the upstream never sees the request.
    let anon = browser();
    let (status, body, _) = get(&anon, &page, &forged).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.get("headers").is_none());

    // Signed in: through, with the user's headers and none of the forged ones.
    let bob = app.user("bob@example.com", false).await;
    let c = browser();
    sign_in(&c, app, "bob@example.com").await;
    let (status, body, _) = get(&c, &page, &forged).await;
    assert_eq!(status, 200, "{body}");
    let h = &body["headers"];
    assert_eq!(h["x-auth-user-id"], bob.id.as_str());
    assert_eq!(h["x-auth-user-email"], "bob@example.com");
    assert_eq!(h["x-auth-user-admin"], "false");
    assert!(
        h["x-auth-session-id"]
            .as_str()
            .is_some_and(|s| s.len() == 36),
        "{h}"
    );
    assert_eq!(body["path"], "/reports/weekly?x=1&y=2");

    // An administrator's location refuses a plain user.
    let (status, _, _) = get(&c, &format!("{base}/admin/panel"), &[]).await;
    assert_eq!(status, 403);
    app.user("root@example.com", true).await;
    let root = browser();
    sign_in(&root, app, "root@example.com").await;
    let (status, body, _) = get(&root, &format!("{base}/admin/panel"), &[]).await;
    assert_eq!(
        (status, &body["headers"]["x-auth-user-admin"]),
        (200, &json!("true"))
    );

    // Revoked elsewhere, and signed out: refused on the very next request.
    let other = browser();
    sign_in(&other, app, "bob@example.com").await;
    assert_eq!(get(&other, &page, &[]).await.0, 200);
    let r = c
        .delete(format!("{}/api/v1/users/me/sessions", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(get(&other, &page, &[]).await.0, 403);
    // ... and a browser whose session ended is sent to sign in again.
    let html = [("accept", "text/html")];
    let (status, _, headers) = get(&other, &page, &html).await;
    assert_eq!(status, 302);
    assert!(
        headers["location"].to_str().unwrap().contains("?rd=http"),
        "{headers:?}"
    );
    assert_eq!(get(&c, &page, &[]).await.0, 200);
    c.delete(format!("{}/api/v1/auth_session/logout", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(get(&c, &page, &[]).await.0, 401);

    // A browser is sent to sign in, and comes back after it.
    let b = browser();
    let (status, _, headers) = get(&b, &page, &html).await;
    assert_eq!(status, 302);
    let location = headers["location"].to_str().unwrap().to_owned();
    // PUBLIC_URL is unset: sesame says it is at localhost on its port.
    let port = app.base.rsplit(':').next().unwrap();
    let signin = format!("http://localhost:{port}/?rd=");
    let rd = location
        .strip_prefix(&signin)
        .unwrap_or_else(|| panic!("{location}"));
    let rd: String = url::form_urlencoded::parse(format!("rd={rd}").as_bytes())
        .next()
        .unwrap()
        .1
        .into_owned();
    assert_eq!(rd, page);
    // The sign-in page asks sesame whether it may go back there, then goes.
    sign_in(&b, app, "bob@example.com").await;
    let q: String = url::form_urlencoded::byte_serialize(rd.as_bytes()).collect();
    let (status, back, _) = get(
        &b,
        &format!("{}/api/v1/auth/redirect?rd={q}", app.base),
        &[],
    )
    .await;
    assert_eq!((status, &back["rd"]), (200, &json!(page)));
    let (status, body, _) = get(&b, back["rd"].as_str().unwrap(), &html).await;
    assert_eq!(
        (status, &body["headers"]["x-auth-user-email"]),
        (200, &json!("bob@example.com"))
    );

    // The way back refuses every other host.
    for target in OPEN_REDIRECTS {
        let q: String = url::form_urlencoded::byte_serialize(target.as_bytes()).collect();
        let (status, _, _) = get(
            &b,
            &format!("{}/api/v1/auth/redirect?rd={q}", app.base),
            &[],
        )
        .await;
        assert_eq!(status, 400, "{target}");
    }
}

async fn setup() -> (TestApp, String) {
    let app = app_for_proxies().await;
    let upstream = echo_upstream().await;
    (app, upstream)
}

/// sesame with the proxies' loopback host allowed as a redirect target.
async fn app_for_proxies() -> TestApp {
    TestApp::spawn_with(|c| c.forward_auth_allowed_hosts = Some("127.0.0.1".into())).await
}

#[tokio::test]
async fn nginx_auth_request_guards_an_upstream() {
    let (app, upstream) = setup().await;
    let sesame = app.base.trim_start_matches("http://").to_owned();
    let Some(proxy) = nginx(&sesame, &upstream).await else {
        return;
    };
    guarded_by(&proxy, &app).await;
}

#[tokio::test]
async fn caddy_forward_auth_guards_an_upstream() {
    let (app, upstream) = setup().await;
    let sesame = app.base.trim_start_matches("http://").to_owned();
    let Some(proxy) = caddy(&sesame, &upstream).await else {
        return;
    };
    guarded_by(&proxy, &app).await;
}

/// Traefik has no Debian package: its shipped configuration is checked for what it must say
/// (parsed as YAML by Python's PyYAML when it is there, which pip installs with schemathesis).
#[test]
fn the_traefik_configuration_asks_sesame_and_strips_forged_headers() {
    let dynamic = std::fs::read_to_string(repo("deploy/forward-auth/traefik/dynamic.yml")).unwrap();
    let script = "import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))";
    let parsed = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child.stdin.take().unwrap().write_all(dynamic.as_bytes())?;
            child.wait_with_output()
        })
        .ok()
        .filter(|out| out.status.success());
    let Some(out) = parsed else {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 with PyYAML is needed"
        );
        eprintln!("skipped: python3 with PyYAML is not available");
        return;
    };
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mw = &v["http"]["middlewares"];
    assert_eq!(
        mw["sesame"]["forwardAuth"]["address"],
        "http://127.0.0.1:5000/api/v1/auth/verify"
    );
    assert_eq!(
        mw["sesame-admin"]["forwardAuth"]["address"],
        "http://127.0.0.1:5000/api/v1/auth/verify?admin=1"
    );
    for name in ["sesame", "sesame-admin"] {
        let copied = mw[name]["forwardAuth"]["authResponseHeaders"]
            .as_array()
            .unwrap();
        for h in [
            "X-Auth-User-Id",
            "X-Auth-User-Email",
            "X-Auth-User-Admin",
            "X-Auth-Session-Id",
        ] {
            assert!(copied.contains(&json!(h)), "{name} copies {h}");
            assert_eq!(mw["sesame-strip"]["headers"]["customRequestHeaders"][h], "");
        }
    }
    for router in ["app", "app-admin"] {
        let chain = v["http"]["routers"][router]["middlewares"]
            .as_array()
            .unwrap();
        assert_eq!(
            chain[0], "sesame-strip",
            "{router} strips forged headers first"
        );
    }
}
