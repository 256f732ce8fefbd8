//! The per-instance cache in front of PostgreSQL and Redis (`src/store/shared`): two instances
//! on one store, where whatever ends a session on A is refused on B at the very next request,
//! however many times in a row; and an instance cut off from its store (a TCP proxy between them
//! frozen with `SIGSTOP`) stops answering from its cache within its lease, then answers 503.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use sesame::domain::{Session, User, new_id, token_digest};
use sesame::store::redis::RedisSessionStore;
use sesame::store::{SessionStore, UserStore};

use crate::scale_out::{Layout, Pair};
use crate::store_redis::{TestPrefix, url as redis_url};
use crate::support::{Client, PASSWORD, T0, TestApp, TestDb};

/// How many rounds of "revoke on A, then ask B" each layout runs.
const ROUNDS: usize = 10_000;

/// Rounds run side by side (each its own sessions), to keep the test short.
const WORKERS: usize = 4;

/// How many users the rounds' sessions belong to: a revocation by id reads the user's list of
/// sessions, so no user gets thousands.
const USERS: usize = 100;

/// The session store the pair shares, opened behind its back, to make sessions in bulk.
async fn raw_sessions(pair: &Pair) -> Arc<dyn SessionStore> {
    match (&pair.prefix, &pair.db) {
        (Some(p), _) => Arc::new(
            RedisSessionStore::connect(&redis_url(), &p.0, None)
                .await
                .unwrap(),
        ),
        (None, Some(db)) => Arc::new(db.store().await),
        (None, None) => unreachable!("every layout shares its sessions"),
    }
}

/// A session of `user_id`, made in the store directly; its token and id.
async fn session_of(store: &dyn SessionStore, user_id: &str) -> (String, String) {
    let token = uuid::Uuid::new_v4().simple().to_string();
    let s = Session {
        id: new_id(),
        digest: token_digest(&token),
        user_id: user_id.to_owned(),
        created_at: T0,
        last_seen_at: T0,
        ip: None,
        user_agent: None,
    };
    store.insert(&s).await.unwrap();
    (token, s.id)
}

/// One round's session, and another session of the same user to revoke it from.
#[derive(Clone)]
struct Round {
    token: String,
    id: String,
    manager: String,
}

/// [`ROUNDS`] rounds over [`USERS`] users made in the database directly.
async fn rounds_for(pair: &Pair) -> Vec<Round> {
    let users = pair.db.as_ref().expect("users in PostgreSQL").store().await;
    let sessions = raw_sessions(pair).await;
    let mut managers = Vec::new();
    for n in 0..USERS {
        let user = User {
            id: new_id(),
            email: format!("rounds{n}@example.com"),
            password_hash: None,
            first_name: None,
            last_name: None,
            created_at: T0,
            updated_at: T0,
            is_admin: false,
        };
        users.create(&user).await.unwrap();
        let (manager, _) = session_of(sessions.as_ref(), &user.id).await;
        managers.push((user.id, manager));
    }
    let mut rounds = Vec::with_capacity(ROUNDS);
    for i in 0..ROUNDS {
        let (user_id, manager) = &managers[i % USERS];
        let (token, id) = session_of(sessions.as_ref(), user_id).await;
        rounds.push(Round {
            token,
            id,
            manager: manager.clone(),
        });
    }
    rounds
}

async fn status_of_me(c: &Client) -> u16 {
    c.get("/users/me").await.status
}

fn with_session(c: &Client, token: &str) -> Client {
    c.clone()
        .header("cookie", &format!("_my_session_id={token}"))
}

/// A new user signed in on A, and again on B, whose session B has served (and so cached): the
/// user, a client on A with A's session, and B's session token.
async fn signed_in_on_both(pair: &Pair, email: &str) -> (User, Client, String) {
    let (user, on_a) = pair.a.signed_in(email, false).await;
    let token = pair.b.login(email, PASSWORD).await;
    let me = pair.b.with_cookie(&token).get("/users/me").await;
    assert_eq!(me.status, 200, "B serves its session: {}", me.text);
    (user, on_a, token)
}

/// An administrator's client on A renames user `id` to `name`; B's very next answer for the
/// user's session `on_b` shows the new name.
async fn renamed_on_a_shown_on_b(admin: &Client, on_b: &Client, id: &str, name: &str) {
    let r = admin
        .put_json(&format!("/users/{id}"), json!({"first_name": name}))
        .await;
    assert!(r.status < 300, "rename on A: {}", r.text);
    let me = on_b.get("/users/me").await;
    assert_eq!(me.status, 200, "B serves the session: {}", me.text);
    assert_eq!(
        me.body["first_name"],
        json!(name),
        "B shows the change made on A at once"
    );
}

/// Each round: B serves the session (so it caches it), A ends it (a logout, or a revocation
/// from another session of the user, in turn), and B's very next answer must refuse it.
async fn revocation_rounds(layout: Layout) {
    let pair = Pair::start(layout).await;
    let rounds = rounds_for(&pair).await;
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for chunk in rounds.chunks(ROUNDS / WORKERS) {
        let (a, b, chunk) = (pair.a.anon(), pair.b.anon(), chunk.to_vec());
        workers.spawn(async move {
            let mut served = 0usize;
            for (i, round) in chunk.iter().enumerate() {
                let on_b = with_session(&b, &round.token);
                assert_eq!(status_of_me(&on_b).await, 200, "B serves the session first");
                let revoked = if i % 2 == 0 {
                    with_session(&a, &round.token)
                        .delete("/auth_session/logout")
                        .await
                } else {
                    with_session(&a, &round.manager)
                        .delete(&format!("/users/me/sessions/{}", round.id))
                        .await
                };
                assert!(
                    revoked.status < 300,
                    "A ends it: {} {}",
                    revoked.status,
                    revoked.text
                );
                if status_of_me(&on_b).await != 403 {
                    served += 1;
                }
            }
            served
        });
    }
    let mut served = 0;
    while let Some(r) = workers.join_next().await {
        served += r.unwrap();
    }
    eprintln!(
        "{layout:?}: {ROUNDS} rounds of revoke-on-A-then-ask-B in {:.1} s, {served} served",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(served, 0, "a session ended on A was served by B");
}

/// A password change, a revocation of every session and a deletion of the user on A: each is
/// refused on B at once, for users and sessions B had cached.
async fn user_changes_are_seen_at_once(layout: Layout) {
    let pair = Pair::start(layout).await;
    for round in 0..5 {
        let email = format!("changes{round}@example.com");
        let (user, on_a, token) = signed_in_on_both(&pair, &email).await;
        let on_b = pair.b.with_cookie(&token);
        let r = on_a
            .put_json(
                "/users/me/password",
                json!({"current_password": PASSWORD, "new_password": "another long passphrase"}),
            )
            .await;
        assert!(r.status < 300, "password change: {}", r.text);
        assert_eq!(
            status_of_me(&on_b).await,
            403,
            "a password change ends B's session"
        );

        let on_b = pair
            .b
            .with_cookie(&pair.b.login(&email, "another long passphrase").await);
        assert_eq!(status_of_me(&on_b).await, 200);
        let (_, admin) = pair
            .a
            .signed_in(&format!("admin{round}@example.com"), true)
            .await;
        renamed_on_a_shown_on_b(&admin, &on_b, &user.id, &format!("Renamed{round}")).await;
        let r = admin.delete(&format!("/users/{}", user.id)).await;
        assert!(r.status < 300, "delete: {}", r.text);
        assert_eq!(
            status_of_me(&on_b).await,
            403,
            "a deleted user's session ends on B"
        );
    }
}

/// A with `SESSION_CACHE=off`, B with it on: A reads the store every time, yet its renames and
/// logouts still reach B's cache, which never serves what A has ended.
async fn an_uncached_instance_revokes_through_the_bus(layout: Layout) {
    let mut pair = Pair::start_with(layout, |raw| raw.session_cache = "off".into()).await;
    pair.b = pair
        .a
        .another_instance_with(|raw| raw.session_cache = "on".into())
        .await;
    let (_, admin) = pair.a.signed_in("admin@example.com", true).await;
    for round in 0..50 {
        let email = format!("uncached{round}@example.com");
        let (user, _, token) = signed_in_on_both(&pair, &email).await;
        let on_b = pair.b.with_cookie(&token);
        renamed_on_a_shown_on_b(&admin, &on_b, &user.id, &format!("Renamed{round}")).await;
        let r = pair
            .a
            .with_cookie(&token)
            .delete("/auth_session/logout")
            .await;
        assert!(r.status < 300, "logout on A: {}", r.text);
        assert_eq!(
            status_of_me(&on_b).await,
            403,
            "B refuses a session logged out on A"
        );
    }
}

/// A TCP proxy in a process of its own, to freeze with `SIGSTOP`.
struct Proxy {
    child: Child,
    port: u16,
}

impl Proxy {
    fn to(target_port: u16) -> Proxy {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/tcp_proxy.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(target_port.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let port = line.trim().parse().unwrap();
        Proxy { child, port }
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig}");
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.signal("CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An instance whose store connections all go through a proxy, signed in and cached, then cut
/// off: it answers from its cache only for the rest of its lease, then 503 until the store is
/// back, then serves again.
async fn frozen_store_connection(redis: bool) {
    let db = TestDb::new().await;
    let prefix = TestPrefix::new();
    let proxy = Proxy::to(if redis { 6379 } else { 5432 });
    let via_proxy = |url: String, port: u16| {
        url.replace(if redis { ":6379" } else { ":5432" }, &format!(":{port}"))
    };
    let app = TestApp::spawn_with(|raw| {
        raw.auth_type = "session_db_auth".into();
        if redis {
            raw.session_store_url = Some(via_proxy(redis_url(), proxy.port));
            raw.session_store_prefix = prefix.0.clone();
        } else {
            raw.database_url = via_proxy(db.url(), proxy.port);
        }
    })
    .await;
    let (_, c) = app.signed_in("frozen@example.com", false).await;
    // Let the lease be taken, then check it serves.
    let deadline = Instant::now() + Duration::from_secs(5);
    while status_of_me(&c).await != 200 {
        assert!(Instant::now() < deadline, "the instance serves");
    }
    for _ in 0..20 {
        assert_eq!(status_of_me(&c).await, 200);
    }
    proxy.signal("STOP");
    let frozen = Instant::now();
    assert_eq!(
        status_of_me(&c).await,
        200,
        "right after the freeze, the lease still holds and the cache answers"
    );
    let mut last_served = frozen;
    let first_refusal = loop {
        let asked = Instant::now();
        let status = status_of_me(&c).await;
        if status == 200 {
            last_served = asked;
        } else {
            assert_eq!(status, 503, "a cut-off instance answers 503");
            break asked;
        }
        assert!(
            frozen.elapsed() < Duration::from_secs(10),
            "never stopped serving"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let served_for = last_served - frozen;
    eprintln!(
        "served from cache for {served_for:?} after the freeze; first 503 asked at {:?}",
        first_refusal - frozen
    );
    assert!(
        served_for < Duration::from_millis(1800),
        "served from cache past its lease: {served_for:?}"
    );
    for _ in 0..3 {
        assert_eq!(
            status_of_me(&c).await,
            503,
            "no answer from the cache once cut off"
        );
    }
    proxy.signal("CONT");
    let deadline = Instant::now() + Duration::from_secs(15);
    while status_of_me(&c).await != 200 {
        assert!(
            Instant::now() < deadline,
            "serves again once the store is back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Cuts every instance's invalidation channel (the server drops the connections), then ends a
/// session B has cached: the revocation still completes, in less than a lease, and B refuses
/// the session.
async fn a_dropped_channel(layout: Layout) {
    let pair = Pair::start(layout).await;
    let (_, manager, token) = signed_in_on_both(&pair, "channel@example.com").await;
    let on_b = pair.b.with_cookie(&token);
    match (&pair.prefix, &pair.db) {
        (Some(_), _) => {
            let mut raw = crate::store_redis::raw().await;
            let killed: i64 = redis::cmd("CLIENT")
                .arg("KILL")
                .arg("TYPE")
                .arg("pubsub")
                .query_async(&mut raw)
                .await
                .unwrap();
            assert!(
                killed >= 2,
                "both instances' subscriptions were cut ({killed})"
            );
        }
        (None, Some(db)) => {
            let killed = db
                .client()
                .await
                .query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = current_database() AND query LIKE 'LISTEN%'",
                    &[],
                )
                .await
                .unwrap()
                .len();
            assert!(
                killed >= 2,
                "both instances' LISTEN connections were cut ({killed})"
            );
        }
        (None, None) => unreachable!(),
    }
    let sessions = manager.get("/users/me/sessions").await;
    let id = sessions
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] != serde_json::Value::Bool(true))
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .expect("B's session is listed");
    let started = Instant::now();
    let r = manager.delete(&format!("/users/me/sessions/{id}")).await;
    assert!(
        r.status < 300,
        "the revocation completes: {} {}",
        r.status,
        r.text
    );
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "within a lease: {:?}",
        started.elapsed()
    );
    assert_eq!(
        status_of_me(&on_b).await,
        403,
        "B refuses the session at once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_revocation_completes_and_holds_while_the_channels_reconnect() {
    a_dropped_channel(Layout::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_a_revocation_completes_and_holds_while_the_channels_reconnect() {
    a_dropped_channel(Layout::RedisAndPostgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_ten_thousand_revocations_on_a_are_each_refused_on_b_at_once() {
    revocation_rounds(Layout::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_ten_thousand_revocations_on_a_are_each_refused_on_b_at_once() {
    revocation_rounds(Layout::RedisAndPostgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_password_changes_renames_and_deletions_on_a_are_seen_on_b_at_once() {
    user_changes_are_seen_at_once(Layout::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_password_changes_renames_and_deletions_on_a_are_seen_on_b_at_once() {
    user_changes_are_seen_at_once(Layout::RedisAndPostgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_with_sqlite_users_password_changes_renames_and_deletions_are_seen_on_b_at_once() {
    user_changes_are_seen_at_once(Layout::RedisAndSqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_an_instance_with_the_cache_off_still_revokes_on_one_with_it_on() {
    an_uncached_instance_revokes_through_the_bus(Layout::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_an_instance_with_the_cache_off_still_revokes_on_one_with_it_on() {
    an_uncached_instance_revokes_through_the_bus(Layout::RedisAndSqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_instance_cut_off_from_postgres_stops_serving_from_its_cache_within_its_lease() {
    frozen_store_connection(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_instance_cut_off_from_redis_stops_serving_from_its_cache_within_its_lease() {
    frozen_store_connection(true).await;
}
