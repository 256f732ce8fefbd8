//! Scale-out: two sesame instances behind a load balancer share everything through their stores.
//! A session made on one works on the other, and whatever ends it on one (logout, revocation, a
//! password change, deleting the user) is refused on the other at the very next request; users
//! and failed-login throttling are shared too.
//!
//! Every scenario runs on four layouts:
//! - `postgres`: users, sessions and throttling in ONE PostgreSQL database (a [`TestDb`]);
//! - `redis_and_postgres`: sessions in ONE Redis under a fresh key prefix ([`TestPrefix`]),
//!   users and throttling in a PostgreSQL database;
//! - `redis_and_sqlite`: sessions in Redis, users and throttling in one shared SQLite file;
//! - `redis_cluster_and_postgres`: sessions in a three-master Redis Cluster under a fresh key
//!   prefix ([`ClusterPrefix`]), users and throttling in a PostgreSQL database.

use serde_json::json;

use crate::redis_cluster::{ClusterPrefix, cluster_keys_under, cluster_url};
use crate::store_redis::{TestPrefix, keys_under, raw as raw_redis, url as redis_url};
use crate::support::TestDb;
use crate::support::{Client, PASSWORD, Resp, TestApp};

/// Where the two instances keep their data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    Postgres,
    RedisAndPostgres,
    RedisAndSqlite,
    RedisClusterAndPostgres,
}

/// Two instances on the same stores, and the guards that clean those stores up.
pub(crate) struct Pair {
    pub(crate) a: TestApp,
    pub(crate) b: TestApp,
    pub(crate) layout: Layout,
    // Dropped after the instances: the database and the Redis keys go at the end of the test.
    pub(crate) db: Option<TestDb>,
    pub(crate) prefix: Option<TestPrefix>,
    cluster_prefix: Option<ClusterPrefix>,
}

impl Pair {
    /// Instance A, then instance B started on A's configuration (`another_instance`), with
    /// `AUTH_TYPE=session_db_auth`.
    pub(crate) async fn start(layout: Layout) -> Pair {
        Self::start_with(layout, |_| {}).await
    }

    /// [`Pair::start`], with `f` changing the configuration both instances share.
    pub(crate) async fn start_with(
        layout: Layout,
        f: impl FnOnce(&mut sesame::config::RawConfig),
    ) -> Pair {
        let db = match layout {
            Layout::Postgres | Layout::RedisAndPostgres | Layout::RedisClusterAndPostgres => {
                Some(TestDb::new().await)
            }
            Layout::RedisAndSqlite => None,
        };
        let prefix = match layout {
            Layout::Postgres | Layout::RedisClusterAndPostgres => None,
            Layout::RedisAndPostgres | Layout::RedisAndSqlite => Some(TestPrefix::new()),
        };
        let cluster_prefix = (layout == Layout::RedisClusterAndPostgres).then(ClusterPrefix::new);
        let a = TestApp::spawn_with(|raw| {
            raw.auth_type = "session_db_auth".into();
            if let Some(db) = &db {
                raw.database_url = db.url();
            }
            if let Some(p) = &prefix {
                raw.session_store_url = Some(redis_url());
                raw.session_store_prefix = p.0.clone();
            }
            if let Some(p) = &cluster_prefix {
                raw.session_store_url = Some(cluster_url());
                raw.session_store_prefix = p.0.clone();
            }
            f(raw);
        })
        .await;
        let b = a.another_instance().await;
        assert_ne!(a.base, b.base, "two servers, two addresses");
        Pair {
            a,
            b,
            layout,
            db,
            prefix,
            cluster_prefix,
        }
    }

    /// How much session data the shared session store holds: Redis keys under this test's
    /// prefix (on every master of a cluster), or rows of the PostgreSQL `sessions` table.
    /// Checks the layout is the one meant.
    async fn stored_sessions(&self) -> usize {
        if let Some(p) = &self.cluster_prefix {
            return cluster_keys_under(&p.0).await.len();
        }
        match (&self.prefix, &self.db) {
            (Some(p), _) => keys_under(&mut raw_redis().await, &p.0).await.len(),
            (None, Some(db)) => {
                let n: i64 = db
                    .client()
                    .await
                    .query_one("SELECT count(*) FROM sessions", &[])
                    .await
                    .unwrap()
                    .get(0);
                usize::try_from(n).unwrap()
            }
            (None, None) => unreachable!("every layout shares its sessions"),
        }
    }
}

#[track_caller]
fn assert_forbidden(r: &Resp, what: &str) {
    assert_eq!(r.status, 403, "{what}: {}", r.text);
    r.assert_error(403, "Forbidden");
}

async fn me(c: &Client) -> Resp {
    c.get("/users/me").await
}

/// Login on A, the cookie works on B (same user); logout on B; A refuses it at once.
async fn a_session_made_on_one_works_on_the_other_until_a_logout_there(layout: Layout) {
    let p = Pair::start(layout).await;
    let bob = p.a.user("bob@hbtn.io", false).await;
    let before = p.stored_sessions().await;
    let token = p.a.login("bob@hbtn.io", PASSWORD).await;
    assert!(
        p.stored_sessions().await > before,
        "{:?}: the session is kept in the shared store",
        p.layout
    );

    let on_b = me(&p.b.with_cookie(&token)).await;
    assert_eq!(on_b.status, 200, "B knows A's session: {}", on_b.text);
    assert_eq!(on_b.body["id"], bob.id.as_str());
    assert_eq!(on_b.body["email"], "bob@hbtn.io");
    assert_eq!(me(&p.a.with_cookie(&token)).await.body, on_b.body);

    let out = p.b.with_cookie(&token).delete("/auth_session/logout").await;
    assert_eq!(out.status, 200, "{}", out.text);
    assert_eq!(out.body, json!({}));

    assert_forbidden(
        &me(&p.a.with_cookie(&token)).await,
        "A, at the first request after the logout on B",
    );
    assert_forbidden(&me(&p.b.with_cookie(&token)).await, "B, after its logout");
    // Logging out again on A finds nothing to end.
    assert_forbidden(
        &p.a.with_cookie(&token).delete("/auth_session/logout").await,
        "A, logging out a session already ended on B",
    );
}

/// A user made over HTTP on A is listed, readable and can log in on B; deleted on B, it is
/// gone on A, and so are its sessions.
async fn a_user_made_on_one_is_seen_by_the_other(layout: Layout) {
    let p = Pair::start(layout).await;
    p.a.user("admin@hbtn.io", true).await;
    let admin_a = p.a.with_cookie(&p.a.login("admin@hbtn.io", PASSWORD).await);
    let admin_b = p.b.with_cookie(&p.b.login("admin@hbtn.io", PASSWORD).await);

    let made = admin_a
        .post_json(
            "/users",
            json!({"email": "carol@hbtn.io", "password": "carol's passphrase", "first_name": "Carol"}),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let id = made.body["id"].as_str().unwrap().to_owned();

    let got = admin_b.get(&format!("/users/{id}")).await;
    assert_eq!(got.status, 200, "B sees the user made on A: {}", got.text);
    assert_eq!(got.body, made.body);
    let listed = admin_b.get("/users").await;
    assert!(
        listed
            .body
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["id"] == id),
        "B lists it: {}",
        listed.text
    );
    assert_eq!(admin_b.get("/stats").await.body, json!({"users": 2}));
    // The same email is taken on B too.
    assert_eq!(
        admin_b
            .post_json(
                "/users",
                json!({"email": "CAROL@hbtn.io", "password": "another passphrase"})
            )
            .await
            .status,
        409
    );

    // Carol logs in on B with the password set on A, and her session works on A.
    let carol =
        p.b.anon()
            .login_form("carol@hbtn.io", "carol's passphrase")
            .await;
    assert_eq!(carol.status, 200, "{}", carol.text);
    let carol_token = carol.cookie(&p.b.raw.session_name).unwrap();
    assert_eq!(
        me(&p.a.with_cookie(&carol_token)).await.body["id"],
        id.as_str()
    );

    // An update on A is read on B.
    let put = admin_a
        .put_json(&format!("/users/{id}"), json!({"last_name": "Jones"}))
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    assert_eq!(
        me(&p.b.with_cookie(&carol_token)).await.body["last_name"],
        "Jones"
    );

    // Deleted on B: gone on A, and her session with it.
    assert_eq!(admin_b.delete(&format!("/users/{id}")).await.status, 200);
    admin_a
        .get(&format!("/users/{id}"))
        .await
        .assert_error(404, "Not found");
    assert_forbidden(
        &me(&p.a.with_cookie(&carol_token)).await,
        "A, for the session of a user deleted on B",
    );
}

/// An administrator's revoke-all on A ends the user's sessions on B (and on A) at once; the
/// user's own "end my other sessions" on B ends the one on A.
async fn revoking_every_session_on_one_ends_them_on_the_other(layout: Layout) {
    let p = Pair::start(layout).await;
    p.a.user("admin@hbtn.io", true).await;
    let bob = p.a.user("bob@hbtn.io", false).await;
    let admin_a = p.a.with_cookie(&p.a.login("admin@hbtn.io", PASSWORD).await);
    let on_a = p.a.login("bob@hbtn.io", PASSWORD).await;
    let on_b = p.b.login("bob@hbtn.io", PASSWORD).await;
    for (app, token) in [(&p.a, &on_a), (&p.b, &on_a), (&p.a, &on_b), (&p.b, &on_b)] {
        assert_eq!(me(&app.with_cookie(token)).await.status, 200);
    }
    // Each instance lists both sessions.
    let listed = p.b.with_cookie(&on_b).get("/users/me/sessions").await;
    assert_eq!(
        listed.body.as_array().map(Vec::len),
        Some(2),
        "{}",
        listed.text
    );

    let r = admin_a.delete(&format!("/users/{}/sessions", bob.id)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_forbidden(&me(&p.b.with_cookie(&on_b)).await, "B, session made on B");
    assert_forbidden(&me(&p.b.with_cookie(&on_a)).await, "B, session made on A");
    assert_forbidden(&me(&p.a.with_cookie(&on_b)).await, "A, session made on B");
    // The administrator's own session is untouched.
    assert_eq!(admin_a.get("/users/me").await.status, 200);

    // Self-service: bob ends his other sessions from B; the one he uses on A is refused.
    let first = p.a.login("bob@hbtn.io", PASSWORD).await;
    let second = p.b.login("bob@hbtn.io", PASSWORD).await;
    assert_eq!(me(&p.a.with_cookie(&first)).await.status, 200);
    let r = p.b.with_cookie(&second).delete("/users/me/sessions").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_forbidden(
        &me(&p.a.with_cookie(&first)).await,
        "A, after revoke-others on B",
    );
    assert_eq!(
        me(&p.a.with_cookie(&second)).await.status,
        200,
        "the current one stays"
    );
    assert_eq!(me(&p.b.with_cookie(&second)).await.status, 200);
}

/// A password change on A ends bob's other sessions, including the one he made on B; the new
/// password is the one B accepts.
async fn a_password_change_on_one_ends_the_other_sessions_on_the_other(layout: Layout) {
    let p = Pair::start(layout).await;
    p.a.user("bob@hbtn.io", false).await;
    let here = p.a.login("bob@hbtn.io", PASSWORD).await;
    let there = p.b.login("bob@hbtn.io", PASSWORD).await;
    assert_eq!(me(&p.b.with_cookie(&there)).await.status, 200);

    let r =
        p.a.with_cookie(&here)
            .put_json(
                "/users/me/password",
                json!({"current_password": PASSWORD, "new_password": "a brand new passphrase"}),
            )
            .await;
    assert_eq!(r.status, 200, "{}", r.text);

    assert_forbidden(
        &me(&p.b.with_cookie(&there)).await,
        "B, at the first request after the password change on A",
    );
    assert_eq!(
        me(&p.b.with_cookie(&here)).await.status,
        200,
        "the session that changed it stays, on every instance"
    );
    p.b.anon()
        .login_form("bob@hbtn.io", PASSWORD)
        .await
        .assert_error(401, "wrong email or password");
    let again =
        p.b.anon()
            .login_form("bob@hbtn.io", "a brand new passphrase")
            .await;
    assert_eq!(again.status, 200, "{}", again.text);
}

/// Five failed logins on A throttle the account on B: the right password is 429 there.
async fn failed_logins_on_one_throttle_the_account_on_the_other(layout: Layout) {
    let p = Pair::start(layout).await;
    p.a.user("bob@hbtn.io", false).await;
    p.a.user("ann@hbtn.io", false).await;
    for _ in 0..5 {
        p.a.anon()
            .login_form("bob@hbtn.io", "wrong password")
            .await
            .assert_error(401, "wrong email or password");
    }
    let r = p.b.anon().login_form("bob@hbtn.io", PASSWORD).await;
    r.assert_error(429, "Too many requests");
    assert!(r.header("retry-after").is_some());
    assert!(r.header("set-cookie").is_none());
    assert_eq!(
        p.a.anon().login_form("bob@hbtn.io", PASSWORD).await.status,
        429
    );
    // Only that account: ann logs in on B.
    assert_eq!(
        p.b.anon().login_form("ann@hbtn.io", PASSWORD).await.status,
        200
    );
    // Once the delay has passed (one clock for both instances), B lets bob in.
    p.a.clock.advance(2);
    assert_eq!(
        p.b.anon().login_form("bob@hbtn.io", PASSWORD).await.status,
        200
    );
}

macro_rules! scale_out_suite {
    ($name:ident, $layout:expr) => {
        mod $name {
            use super::*;

            #[tokio::test]
            async fn a_session_made_on_one_instance_works_on_the_other_until_a_logout_there() {
                a_session_made_on_one_works_on_the_other_until_a_logout_there($layout).await;
            }

            #[tokio::test]
            async fn a_user_made_on_one_instance_is_seen_by_the_other() {
                a_user_made_on_one_is_seen_by_the_other($layout).await;
            }

            #[tokio::test]
            async fn revoking_every_session_on_one_instance_ends_them_on_the_other() {
                revoking_every_session_on_one_ends_them_on_the_other($layout).await;
            }

            #[tokio::test]
            async fn a_password_change_on_one_instance_ends_the_sessions_on_the_other() {
                a_password_change_on_one_ends_the_other_sessions_on_the_other($layout).await;
            }

            #[tokio::test]
            async fn failed_logins_on_one_instance_throttle_the_account_on_the_other() {
                failed_logins_on_one_throttle_the_account_on_the_other($layout).await;
            }
        }
    };
}

scale_out_suite!(postgres, Layout::Postgres);
scale_out_suite!(redis_and_postgres, Layout::RedisAndPostgres);
scale_out_suite!(redis_and_sqlite, Layout::RedisAndSqlite);
scale_out_suite!(redis_cluster_and_postgres, Layout::RedisClusterAndPostgres);
