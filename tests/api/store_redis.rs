//! The Redis session store on a standalone server: the shared store contract, plus what only
//! Redis has (native TTLs, the key layout and the move from the old one, dangling index
//! entries, an unreachable server). The layout checks shared with the cluster live in
//! `redis_cluster`.
//!
//! Needs a Redis at `SESAME_TEST_REDIS` (default `redis://127.0.0.1:6379`). Every test works
//! under its own key prefix `sesame-test:<random hex>:`, and its [`TestPrefix`] guard deletes
//! every key under that prefix when dropped, so tests run in parallel and leave Redis clean.

use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use sesame::domain::Expiry;
use sesame::domain::{Session, token_digest};
use sesame::store::redis::RedisSessionStore;
use sesame::store::{SessionStore, StoreError};

use crate::redis_cluster::{self as layout, On, T, assert_key_families, bucket_keys, session};

/// The Redis the tests use.
pub(crate) fn url() -> String {
    std::env::var("SESAME_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A raw connection to the test Redis, to look behind the store's back.
pub(crate) async fn raw() -> MultiplexedConnection {
    redis::Client::open(url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Every key under `prefix`.
pub(crate) async fn keys_under(conn: &mut MultiplexedConnection, prefix: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await
            .unwrap();
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    keys.sort();
    keys.dedup();
    keys
}

/// A key prefix of its own for one test; dropping it deletes every key under it.
pub(crate) struct TestPrefix(pub(crate) String);

impl TestPrefix {
    /// A fresh `sesame-test:<random hex>:`.
    pub(crate) fn new() -> Self {
        Self(format!("sesame-test:{}:", uuid::Uuid::new_v4().simple()))
    }
}

impl Drop for TestPrefix {
    fn drop(&mut self) {
        let prefix = self.0.clone();
        clean_up(
            &format!("the Redis keys under {}", self.0),
            move || async move {
                let mut conn = raw().await;
                for chunk in keys_under(&mut conn, &prefix).await.chunks(500) {
                    let _: i64 = redis::cmd("DEL")
                        .arg(chunk)
                        .query_async(&mut conn)
                        .await
                        .unwrap();
                }
            },
        );
    }
}

/// Runs the future `clean` makes to its end, on a thread with a runtime of its own: a guard's
/// drop may run inside the test's runtime, where blocking on another future is not allowed.
/// Panics, naming `what`, if it failed (unless the test is already panicking).
pub(crate) fn clean_up<F: Future<Output = ()>>(
    what: &str,
    clean: impl FnOnce() -> F + Send + 'static,
) {
    let cleaner = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(clean());
    });
    if cleaner.join().is_err() && !std::thread::panicking() {
        panic!("could not clean {what}");
    }
}

/// A store under a fresh prefix, and the guard that cleans it up.
pub(crate) async fn redis_store(absolute_ttl: Option<i64>) -> (Arc<RedisSessionStore>, TestPrefix) {
    let p = TestPrefix::new();
    let store = RedisSessionStore::connect(&url(), &p.0, absolute_ttl)
        .await
        .unwrap();
    (Arc::new(store), p)
}

session_store_contract!(redis_sessions, {
    let (store, p) = redis_store(None).await;
    (store as Arc<dyn SessionStore>, p)
});

session_store_contract!(redis_sessions_with_native_ttl, {
    let (store, p) = redis_store(Some(3600)).await;
    (store as Arc<dyn SessionStore>, p)
});

async fn ttl(conn: &mut MultiplexedConnection, key: &str) -> i64 {
    redis::cmd("TTL").arg(key).query_async(conn).await.unwrap()
}

#[tokio::test]
async fn with_an_absolute_ttl_the_session_hash_and_id_key_expire_in_about_that_time() {
    layout::with_an_absolute_ttl_a_sessions_keys_expire_in_about_that_time(On::Standalone).await;
}

#[tokio::test]
async fn without_an_absolute_ttl_nothing_expires_by_itself() {
    let (store, p) = redis_store(None).await;
    let s = session("no-ttl-token", "alice", T);
    store.insert(&s).await.unwrap();
    let mut conn = raw().await;
    for key in keys_under(&mut conn, &p.0).await {
        assert_eq!(ttl(&mut conn, &key).await, -1, "TTL of {key}");
    }
}

#[tokio::test]
async fn no_key_or_value_under_the_prefix_contains_the_token() {
    let (store, p) = redis_store(Some(100)).await;
    let token = format!("TOKEN-{}", uuid::Uuid::new_v4().simple());
    let s = Session {
        ip: Some("203.0.113.9".to_owned()),
        user_agent: Some("curl/8".to_owned()),
        ..session(&token, "alice", T)
    };
    store.insert(&s).await.unwrap();
    store.touch(&s.digest, T + 5).await.unwrap();

    let mut conn = raw().await;
    let keys = keys_under(&mut conn, &p.0).await;
    assert!(
        keys.len() >= 5,
        "expected the session and its indexes: {keys:?}"
    );
    let mut everything = String::new();
    for key in &keys {
        let kind: String = redis::cmd("TYPE")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap();
        let values: Vec<String> = match kind.as_str() {
            "string" => vec![
                redis::cmd("GET")
                    .arg(key)
                    .query_async(&mut conn)
                    .await
                    .unwrap(),
            ],
            "hash" => redis::cmd("HGETALL")
                .arg(key)
                .query_async(&mut conn)
                .await
                .unwrap(),
            "set" => redis::cmd("SMEMBERS")
                .arg(key)
                .query_async(&mut conn)
                .await
                .unwrap(),
            "zset" => redis::cmd("ZRANGE")
                .arg(key)
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .query_async(&mut conn)
                .await
                .unwrap(),
            other => panic!("unexpected type {other} of {key}"),
        };
        everything.push_str(key);
        everything.push('\n');
        for v in values {
            everything.push_str(&v);
            everything.push('\n');
        }
    }
    assert!(
        !everything.contains(&token),
        "the token is stored:\n{everything}"
    );
    // What is stored is the digest (a sanity check that the scan saw the session).
    assert!(everything.contains(&hex::encode(s.digest)));
    assert!(everything.contains("curl/8"));
}

#[tokio::test]
async fn a_session_whose_hash_expired_is_neither_listed_nor_returned_and_its_index_entries_go() {
    let (store, p) = redis_store(Some(100)).await;
    let gone = session("expires", "alice", T);
    let kept = session("stays", "alice", T + 1);
    store.insert(&gone).await.unwrap();
    store.insert(&kept).await.unwrap();

    // Simulate the native expiry of one hash.
    let mut conn = raw().await;
    let [hash, ..] = bucket_keys(&p.0, &gone.digest);
    let _: i64 = redis::cmd("DEL")
        .arg(&hash)
        .query_async(&mut conn)
        .await
        .unwrap();

    assert!(store.get(&gone.digest).await.unwrap().is_none());
    let listed = store.list_for_user("alice").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, kept.id);
    // The user's set was cleaned lazily.
    let members: Vec<String> = redis::cmd("SMEMBERS")
        .arg(format!("{}{{u:alice}}", p.0))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(members, vec![hex::encode(kept.digest)]);

    // It cannot be deleted or touched back to life, and its id is free again.
    assert!(!store.delete(&gone.digest).await.unwrap());
    store.touch(&gone.digest, T + 50).await.unwrap();
    assert!(store.get(&gone.digest).await.unwrap().is_none());
    let reuse = Session {
        id: gone.id.clone(),
        ..session("another-token", "bob", T + 2)
    };
    store.insert(&reuse).await.unwrap();

    // A purge drops what is left of it and counts only real sessions.
    let expiry = Expiry {
        absolute: Some(10),
        idle: None,
    };
    assert_eq!(store.purge_expired(T + 11, expiry).await.unwrap(), 1);
    assert!(store.get(&kept.digest).await.unwrap().is_none());
    assert_eq!(store.list_for_user("bob").await.unwrap().len(), 1);
    let mut created = Vec::new();
    for key in keys_under(&mut conn, &p.0).await {
        if key.ends_with("}created") {
            let members: Vec<String> = redis::cmd("ZRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .query_async(&mut conn)
                .await
                .unwrap();
            created.extend(members);
        }
    }
    assert_eq!(created, vec![hex::encode(reuse.digest)]);
}

#[tokio::test]
async fn insert_with_a_taken_session_id_is_conflict_and_keeps_the_first() {
    let (store, _p) = redis_store(None).await;
    let first = session("id-first", "alice", T);
    store.insert(&first).await.unwrap();
    let second = Session {
        id: first.id.clone(),
        ..session("id-second", "bob", T + 1)
    };
    let result = store.insert(&second).await;
    assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
    assert!(store.get(&second.digest).await.unwrap().is_none());
    assert!(store.list_for_user("bob").await.unwrap().is_empty());
    assert_eq!(store.get(&first.digest).await.unwrap(), Some(first));
}

#[tokio::test]
async fn delete_for_user_keeps_the_excepted_session() {
    let (store, _p) = redis_store(None).await;
    let a: Vec<Session> = (0..4)
        .map(|i| session(&format!("ex{i}"), "alice", T + i))
        .collect();
    for s in &a {
        store.insert(s).await.unwrap();
    }
    assert_eq!(
        store
            .delete_for_user("alice", Some(&a[2].digest))
            .await
            .unwrap(),
        3
    );
    let left = store.list_for_user("alice").await.unwrap();
    assert_eq!(left, vec![a[2].clone()]);
    // An `except` that is not the user's changes nothing about which are deleted.
    assert_eq!(
        store
            .delete_for_user("alice", Some(&token_digest("elsewhere")))
            .await
            .unwrap(),
        1
    );
    assert!(store.list_for_user("alice").await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_inserts_of_one_digest_give_one_ok_and_the_rest_conflicts() {
    layout::racing_inserts_of_one_digest_give_one_ok(On::Standalone).await;
}

#[tokio::test]
async fn a_session_deleted_through_one_instance_is_gone_for_another() {
    let (a, p) = redis_store(None).await;
    let b = RedisSessionStore::connect(&url(), &p.0, None)
        .await
        .unwrap();
    let s = session("shared", "alice", T);
    a.insert(&s).await.unwrap();
    assert_eq!(b.get(&s.digest).await.unwrap(), Some(s.clone()));
    assert!(b.delete(&s.digest).await.unwrap());
    assert!(a.get(&s.digest).await.unwrap().is_none());
}

#[tokio::test]
async fn deleting_and_purging_every_session_leaves_no_key_behind() {
    let (store, p) = redis_store(Some(100)).await;
    let sessions: Vec<Session> = (0..6)
        .map(|i| session(&format!("clean{i}"), ["alice", "bob"][i % 2], T + i as i64))
        .collect();
    for s in &sessions {
        store.insert(s).await.unwrap();
    }
    assert!(store.delete(&sessions[0].digest).await.unwrap());
    assert_eq!(store.delete_for_user("bob", None).await.unwrap(), 3);
    let expiry = Expiry {
        absolute: None,
        idle: Some(60),
    };
    assert_eq!(store.purge_expired(T + 1000, expiry).await.unwrap(), 2);
    let mut conn = raw().await;
    assert_eq!(keys_under(&mut conn, &p.0).await, Vec::<String>::new());
}

#[tokio::test]
async fn purge_goes_through_more_sessions_than_one_batch() {
    let (store, _p) = redis_store(None).await;
    for i in 0..1200 {
        store
            .insert(&session(&format!("many{i}"), "alice", T + i))
            .await
            .unwrap();
    }
    let expiry = Expiry {
        absolute: Some(100),
        idle: Some(100),
    };
    // created_at + 100 <= T + 1150 for i <= 1050.
    assert_eq!(store.purge_expired(T + 1150, expiry).await.unwrap(), 1051);
    assert_eq!(store.list_for_user("alice").await.unwrap().len(), 149);
}

#[tokio::test]
async fn purge_goes_through_more_than_one_batch_of_one_bucket() {
    layout::purge_goes_through_more_than_one_batch_of_one_bucket(On::Standalone).await;
}

#[tokio::test]
async fn every_key_written_is_of_a_family_and_none_outlives_the_sessions() {
    layout::every_key_written_is_of_a_family_and_none_outlives_the_sessions(On::Standalone).await;
}

#[tokio::test]
async fn an_empty_store_counts_and_purges_well_under_a_second() {
    layout::an_empty_store_counts_and_purges_well_under_a_second(On::Standalone).await;
}

#[tokio::test]
async fn dangling_entries_never_block_or_leak() {
    layout::dangling_entries_never_block_or_leak(On::Standalone).await;
}

#[tokio::test]
async fn a_reserved_session_is_invisible_and_holds_its_digest_and_id() {
    layout::a_reserved_session_is_invisible_and_holds_its_digest_and_id(On::Standalone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_inserts_of_one_id_give_one_ok() {
    layout::racing_inserts_of_one_id_give_one_ok(On::Standalone).await;
}

/// Writes `s` the way earlier versions did: `Ps:<digest>`, `Pid:<id>`, `Pu:<uid>`, `Pcreated`,
/// `Pseen`, each with a TTL of `ttl` seconds if given.
async fn write_old_layout(
    conn: &mut MultiplexedConnection,
    p: &str,
    s: &Session,
    ttl: Option<i64>,
) {
    let hex = hex::encode(s.digest);
    let hash = format!("{p}s:{hex}");
    let mut hset = redis::cmd("HSET");
    hset.arg(&hash)
        .arg("id")
        .arg(&s.id)
        .arg("user_id")
        .arg(&s.user_id)
        .arg("created_at")
        .arg(s.created_at)
        .arg("last_seen_at")
        .arg(s.last_seen_at);
    if let Some(ip) = &s.ip {
        hset.arg("ip").arg(ip);
    }
    if let Some(ua) = &s.user_agent {
        hset.arg("user_agent").arg(ua);
    }
    let mut pipe = redis::pipe();
    pipe.add_command(hset).ignore();
    let id_key = format!("{p}id:{}", s.id);
    let user_key = format!("{p}u:{}", s.user_id);
    pipe.cmd("SET").arg(&id_key).arg(&hex).ignore();
    pipe.cmd("SADD").arg(&user_key).arg(&hex).ignore();
    pipe.cmd("ZADD")
        .arg(format!("{p}created"))
        .arg(s.created_at)
        .arg(&hex)
        .ignore();
    pipe.cmd("ZADD")
        .arg(format!("{p}seen"))
        .arg(s.last_seen_at)
        .arg(&hex)
        .ignore();
    if let Some(ttl) = ttl {
        for key in [&hash, &id_key, &user_key] {
            pipe.cmd("EXPIRE").arg(key).arg(ttl).ignore();
        }
    }
    let () = pipe.query_async(conn).await.unwrap();
}

#[tokio::test]
async fn connecting_moves_sessions_of_the_old_layout_and_removes_its_keys() {
    let p = TestPrefix::new();
    let mut conn = raw().await;
    let a = Session {
        ip: Some("203.0.113.9".to_owned()),
        user_agent: Some("curl/8".to_owned()),
        ..session("old-a", "alice", T)
    };
    let mut b = session("old-b", "alice", T + 1);
    b.last_seen_at = T + 40;
    let c = session("old-c", "bob", T + 2);
    write_old_layout(&mut conn, &p.0, &a, None).await;
    write_old_layout(&mut conn, &p.0, &b, Some(100)).await;
    write_old_layout(&mut conn, &p.0, &c, None).await;
    // What an expired hash left: entries in the sorted sets, a user set and an id key, and
    // a user set and an id key of a session no sorted set names any more.
    let gone = session("old-gone", "bob", T + 3);
    write_old_layout(&mut conn, &p.0, &gone, None).await;
    let stray = session("old-stray", "carol", T + 4);
    write_old_layout(&mut conn, &p.0, &stray, None).await;
    let mut pipe = redis::pipe();
    for s in [&gone, &stray] {
        pipe.cmd("DEL")
            .arg(format!("{}s:{}", p.0, hex::encode(s.digest)))
            .ignore();
    }
    for set in ["created", "seen"] {
        pipe.cmd("ZREM")
            .arg(format!("{}{set}", p.0))
            .arg(hex::encode(stray.digest))
            .ignore();
    }
    let () = pipe.query_async(&mut conn).await.unwrap();

    let store = RedisSessionStore::connect(&url(), &p.0, None)
        .await
        .unwrap();
    let keys = keys_under(&mut conn, &p.0).await;
    assert_key_families(&p.0, &keys);
    assert_eq!(store.count().await.unwrap(), 3);
    assert_eq!(store.get(&a.digest).await.unwrap(), Some(a.clone()));
    assert_eq!(
        store.list_for_user("alice").await.unwrap(),
        vec![a.clone(), b.clone()]
    );
    assert_eq!(store.list_for_user("bob").await.unwrap(), vec![c.clone()]);
    assert!(store.list_for_user("carol").await.unwrap().is_empty());
    // Its TTL came along, and the user set lives at least as long.
    let [hash_b, ..] = bucket_keys(&p.0, &b.digest);
    let t = ttl(&mut conn, &hash_b).await;
    assert!((95..=100).contains(&t), "TTL of the moved hash is {t}");
    assert_eq!(ttl(&mut conn, &format!("{}{{u:alice}}", p.0)).await, -1);
    // Ids are still taken.
    let r = store
        .insert(&Session {
            id: a.id.clone(),
            ..session("new-a", "dave", T)
        })
        .await;
    assert!(matches!(r, Err(StoreError::Conflict)), "{r:?}");

    // Connecting again finds nothing to move; the moved sessions work as any other.
    let again = RedisSessionStore::connect(&url(), &p.0, None)
        .await
        .unwrap();
    assert_eq!(again.count().await.unwrap(), 3);
    again.touch(&a.digest, T + 60).await.unwrap();
    let expiry = Expiry {
        absolute: None,
        idle: Some(30),
    };
    // Idle since T + 2 (c) and T + 40 (b): at T + 70 both are; a was touched at T + 60.
    assert_eq!(store.purge_expired(T + 70, expiry).await.unwrap(), 2);
    assert!(store.delete(&a.digest).await.unwrap());
    assert_eq!(keys_under(&mut conn, &p.0).await, Vec::<String>::new());
}

#[tokio::test]
async fn connecting_to_a_closed_port_is_unavailable_within_three_seconds() {
    let started = Instant::now();
    let result =
        RedisSessionStore::connect("redis://127.0.0.1:1", "sesame-test:closed:", None).await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "got {:?}",
        result.err()
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_url_that_does_not_parse_is_not_unavailable() {
    let result =
        RedisSessionStore::connect("http://127.0.0.1:6379", "sesame-test:bad:", None).await;
    assert!(
        matches!(result, Err(StoreError::Other(_))),
        "got {:?}",
        result.err()
    );
}

/// A throwaway `redis-server` on a free port, killed when dropped; `None` if `redis-server` is
/// not installed.
struct OwnRedis {
    child: std::process::Child,
    port: u16,
}

impl OwnRedis {
    fn start_on(port: u16) -> Option<Self> {
        let child = std::process::Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Self { child, port })
    }

    fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::start_on(port)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_whose_server_goes_away_is_unavailable_within_two_seconds_then_heals() {
    let Some(server) = OwnRedis::start() else {
        eprintln!("redis-server is not installed: skipped");
        return;
    };
    let port = server.port;
    let store = RedisSessionStore::connect(&format!("redis://127.0.0.1:{port}"), "p:", None)
        .await
        .unwrap();
    let s = session("heal", "alice", T);
    store.insert(&s).await.unwrap();

    drop(server);
    for _ in 0..3 {
        let started = Instant::now();
        let got = store.get(&s.digest).await;
        assert!(
            matches!(got, Err(StoreError::Unavailable(_))),
            "got {got:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "took {:?}",
            started.elapsed()
        );
    }

    // The server returns (empty: it kept nothing); the same store works again by itself.
    let _server = OwnRedis::start_on(port).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match store.get(&s.digest).await {
            Ok(got) => {
                assert_eq!(got, None);
                break;
            }
            Err(e) => assert!(Instant::now() < deadline, "still failing: {e:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    store.insert(&s).await.unwrap();
    assert_eq!(store.get(&s.digest).await.unwrap(), Some(s));
}

/// Sends `signal` (`STOP`, `CONT`) to the server.
fn signal(server: &OwnRedis, signal: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(server.child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_on_a_frozen_server_is_unavailable_within_two_seconds_then_heals() {
    let Some(server) = OwnRedis::start() else {
        eprintln!("redis-server is not installed: skipped");
        return;
    };
    let url = format!("redis://127.0.0.1:{}", server.port);
    let store = RedisSessionStore::connect(&url, "p:", None).await.unwrap();
    let kept = session("frozen-kept", "alice", T);
    store.insert(&kept).await.unwrap();

    signal(&server, "STOP");
    let fresh = session("frozen-new", "alice", T + 1);
    let expiry = Expiry {
        absolute: Some(10),
        idle: None,
    };
    for op in [
        "insert", "get", "touch", "delete", "list", "revoke", "count", "ping",
    ] {
        let started = Instant::now();
        let result = match op {
            "insert" => store.insert(&fresh).await,
            "get" => store.get(&kept.digest).await.map(drop),
            "touch" => store.touch(&kept.digest, T + 5).await,
            "delete" => store.delete(&kept.digest).await.map(drop),
            "list" => store.list_for_user("alice").await.map(drop),
            "revoke" => store.delete_for_user("alice", None).await.map(drop),
            "count" => store.count().await.map(drop),
            _ => store.ping().await,
        };
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "{op}: {result:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{op} took {:?}",
            started.elapsed()
        );
    }
    let started = Instant::now();
    let purged = store.purge_expired(T + 100, expiry).await;
    assert!(
        matches!(purged, Err(StoreError::Unavailable(_))),
        "{purged:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "purge took {:?}",
        started.elapsed()
    );

    signal(&server, "CONT");
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.ping().await.is_err() {
        assert!(Instant::now() < deadline, "still failing");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // What was sent while it was frozen ran when it thawed (a reservation of `fresh`, the
    // delete of `kept`): the store goes on from there.
    let after = session("frozen-after", "bob", T + 2);
    store.insert(&after).await.unwrap();
    assert_eq!(store.get(&after.digest).await.unwrap(), Some(after.clone()));
    assert_eq!(store.list_for_user("bob").await.unwrap(), vec![after]);
    let r = store.insert(&fresh).await;
    assert!(matches!(r, Ok(()) | Err(StoreError::Conflict)), "{r:?}");
}
