//! The Redis session store on a Redis Cluster: the shared store contract, the key layout
//! (slots, buckets spread over the masters, no key outside its families), and what the several
//! single-slot steps of an insert or a delete must never do (block on, or leak, a dangling
//! entry; let two racing inserts take one id). The layout checks are written once and run on a
//! standalone server too (from `store_redis`).
//!
//! The cluster is three `redis-server --cluster-enabled yes` masters on free ports in a
//! temporary directory, started at the first use in a run of the test binary and shared by every
//! test (each works under its own key prefix, cleaned on every master by [`ClusterPrefix`]). A
//! supervising shell holds them and ends them, and removes the directory, when the test binary's
//! end closes its stdin (or when the [`Cluster`] is dropped).

use std::io::ErrorKind as IoErrorKind;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use redis::FromRedisValue;
use redis::aio::MultiplexedConnection;
use redis::cluster_async::ClusterConnection;
use sesame::domain::{Expiry, Session, new_id, token_digest};
use sesame::store::redis::{RedisSessionStore, RedisTarget};
use sesame::store::{SessionStore, StoreError};

use crate::store_redis::{TestPrefix, clean_up, keys_under, raw as raw_single, url as single_url};

/// How long the cluster may take to form.
const STARTUP: Duration = Duration::from_secs(30);

/// Three cluster masters, held by a supervising shell.
pub(crate) struct Cluster {
    ports: [u16; 3],
    supervisor: Child,
}

/// The cluster of this run of the test binary.
static CLUSTER: LazyLock<Cluster> = LazyLock::new(Cluster::start);

/// Starts the three servers (each with `--port p`, so its bus is on `p + 10000`), waits until
/// they answer, makes them a cluster and waits until every node says `cluster_state:ok`.
/// Each server runs in the background of a shell that waits for the end of its stdin, then
/// kills them and removes the directory.
const SUPERVISE: &str = r#"dir=$1; shift
pids=""
for port in "$@"; do
  redis-server --cluster-enabled yes --cluster-config-file "$dir/nodes-$port.conf" \
    --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
    --dir "$dir" --logfile "$dir/redis-$port.log" &
  pids="$pids $!"
done
cat >/dev/null
kill $pids 2>/dev/null
wait
rm -rf "$dir"
"#;

impl Cluster {
    fn start() -> Self {
        let ports = free_cluster_ports();
        let dir = std::env::temp_dir().join(format!(
            "sesame-redis-cluster-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let supervisor = Command::new("sh")
            .arg("-c")
            .arg(SUPERVISE)
            .arg("sh")
            .arg(&dir)
            .args(ports.map(|p| p.to_string()))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh, redis-server and redis-cli are needed for the cluster tests");
        let cluster = Self { ports, supervisor };
        let deadline = Instant::now() + STARTUP;
        for port in ports {
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "redis-server did not start on {port} (see {})",
                    dir.display()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let nodes = ports.map(|p| format!("127.0.0.1:{p}"));
        let create = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&nodes)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli is needed for the cluster tests");
        assert!(
            create.status.success(),
            "redis-cli --cluster create failed:\n{}{}",
            String::from_utf8_lossy(&create.stdout),
            String::from_utf8_lossy(&create.stderr)
        );
        for port in ports {
            while !cluster_info(port).contains("cluster_state:ok") {
                assert!(
                    Instant::now() < deadline,
                    "node {port} is not ok: {}",
                    cluster_info(port)
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        cluster
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // The end of its stdin tells the shell to stop the servers.
        drop(self.supervisor.stdin.take());
        let _ = self.supervisor.wait();
    }
}

/// `CLUSTER INFO` of one node.
fn cluster_info(port: u16) -> String {
    Command::new("redis-cli")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "CLUSTER",
            "INFO",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Three free ports below 55000 whose cluster-bus ports (`+ 10000`) are free too.
fn free_cluster_ports() -> [u16; 3] {
    let mut held = Vec::new();
    let mut ports = Vec::new();
    while ports.len() < 3 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        if port < 55000 {
            match TcpListener::bind(("127.0.0.1", port + 10000)) {
                Ok(bus) => {
                    held.push(bus);
                    ports.push(port);
                }
                Err(e) if e.kind() == IoErrorKind::AddrInUse => {}
                Err(e) => panic!("binding {}: {e}", port + 10000),
            }
        }
        // Held until all three are found, so none comes up twice.
        held.push(listener);
    }
    [ports[0], ports[1], ports[2]]
}

/// The cluster's `SESSION_STORE_URL` (starting it on first use).
pub(crate) fn cluster_url() -> String {
    let nodes: Vec<String> = CLUSTER
        .ports
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    format!("redis+cluster://{}", nodes.join(","))
}

/// A plain URL of each master.
pub(crate) fn master_urls() -> Vec<String> {
    CLUSTER
        .ports
        .iter()
        .map(|p| format!("redis://127.0.0.1:{p}"))
        .collect()
}

/// A direct connection to each master, with its URL.
async fn masters() -> Vec<(String, MultiplexedConnection)> {
    let mut out = Vec::new();
    for url in master_urls() {
        let conn = redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        out.push((url, conn));
    }
    out
}

/// Every key under `prefix` on each master.
pub(crate) async fn keys_per_master(prefix: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for (url, mut conn) in masters().await {
        let keys = keys_under(&mut conn, prefix).await;
        out.push((url, keys));
    }
    out
}

/// Every key under `prefix` in the cluster.
pub(crate) async fn cluster_keys_under(prefix: &str) -> Vec<String> {
    let mut keys: Vec<String> = keys_per_master(prefix)
        .await
        .into_iter()
        .flat_map(|(_, keys)| keys)
        .collect();
    keys.sort();
    keys
}

/// A cluster connection behind the store's back.
pub(crate) async fn raw_cluster() -> ClusterConnection {
    redis::cluster::ClusterClient::new(master_urls())
        .unwrap()
        .get_async_connection()
        .await
        .unwrap()
}

/// A key prefix of its own for one test on the cluster; dropping it deletes every key under
/// it on every master.
pub(crate) struct ClusterPrefix(pub(crate) String);

impl ClusterPrefix {
    /// A fresh `sesame-test:<random hex>:`.
    pub(crate) fn new() -> Self {
        Self(format!("sesame-test:{}:", uuid::Uuid::new_v4().simple()))
    }
}

impl Drop for ClusterPrefix {
    fn drop(&mut self) {
        let prefix = self.0.clone();
        clean_up(
            &format!("the cluster keys under {}", self.0),
            move || async move {
                for (_, mut conn) in masters().await {
                    let keys = keys_under(&mut conn, &prefix).await;
                    // One key per DEL: keys of several slots may not share a command.
                    for chunk in keys.chunks(500) {
                        let mut pipe = redis::pipe();
                        for key in chunk {
                            pipe.cmd("DEL").arg(key).ignore();
                        }
                        let () = pipe.query_async(&mut conn).await.unwrap();
                    }
                }
            },
        );
    }
}

/// A store on the cluster under a fresh prefix, and the guard that cleans it up.
pub(crate) async fn cluster_store(
    absolute_ttl: Option<i64>,
) -> (Arc<RedisSessionStore>, ClusterPrefix) {
    let p = ClusterPrefix::new();
    let store = RedisSessionStore::connect(&cluster_url(), &p.0, absolute_ttl)
        .await
        .unwrap();
    (Arc::new(store), p)
}

session_store_contract!(redis_cluster_sessions, {
    let (store, p) = cluster_store(None).await;
    (store as Arc<dyn SessionStore>, p)
});

session_store_contract!(redis_cluster_sessions_with_native_ttl, {
    let (store, p) = cluster_store(Some(3600)).await;
    (store as Arc<dyn SessionStore>, p)
});

/// Where a layout check runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum On {
    Standalone,
    Cluster,
}

/// The guard of either kind of prefix.
pub(crate) enum Guard {
    Single(TestPrefix),
    Cluster(ClusterPrefix),
}

impl Guard {
    pub(crate) fn prefix(&self) -> &str {
        match self {
            Self::Single(p) => &p.0,
            Self::Cluster(p) => &p.0,
        }
    }
}

/// A connection behind the store's back, to either kind of Redis.
pub(crate) enum Raw {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl Raw {
    pub(crate) async fn query<T: FromRedisValue>(&mut self, cmd: &redis::Cmd) -> T {
        match self {
            Self::Single(c) => cmd.query_async(c).await.unwrap(),
            Self::Cluster(c) => cmd.query_async(c).await.unwrap(),
        }
    }

    /// Every key under `prefix`, sorted.
    pub(crate) async fn keys(&mut self, prefix: &str) -> Vec<String> {
        match self {
            Self::Single(c) => keys_under(c, prefix).await,
            Self::Cluster(_) => cluster_keys_under(prefix).await,
        }
    }
}

/// A store on `on` under a fresh prefix, its guard, and a raw connection.
pub(crate) async fn store_on(
    on: On,
    absolute_ttl: Option<i64>,
) -> (Arc<RedisSessionStore>, Guard, Raw) {
    match on {
        On::Standalone => {
            let p = TestPrefix::new();
            let store = RedisSessionStore::connect(&single_url(), &p.0, absolute_ttl)
                .await
                .unwrap();
            (
                Arc::new(store),
                Guard::Single(p),
                Raw::Single(raw_single().await),
            )
        }
        On::Cluster => {
            let (store, p) = cluster_store(absolute_ttl).await;
            (store, Guard::Cluster(p), Raw::Cluster(raw_cluster().await))
        }
    }
}

/// A fixed moment, in Unix seconds, for the sessions of these tests.
pub(crate) const T: i64 = 1_700_000_000;

/// A session of `user_id` for `token`.
pub(crate) fn session(token: &str, user_id: &str, created_at: i64) -> Session {
    Session {
        id: new_id(),
        digest: token_digest(token),
        user_id: user_id.to_owned(),
        created_at,
        last_seen_at: created_at,
        ip: None,
        user_agent: None,
    }
}

/// The bucket of a digest, as the module docs define it.
pub(crate) fn bucket(digest: &[u8; 32]) -> u16 {
    u16::from_be_bytes([digest[0], digest[1]]) % 1024
}

/// The keys of a session: its hash and its bucket's sorted sets.
pub(crate) fn bucket_keys(prefix: &str, digest: &[u8; 32]) -> [String; 3] {
    let b = bucket(digest);
    [
        format!("{prefix}{{b{b}}}s:{}", hex::encode(digest)),
        format!("{prefix}{{b{b}}}created"),
        format!("{prefix}{{b{b}}}seen"),
    ]
}

/// Asserts every key is one of the layout's families: a bucket's session hash (in the bucket
/// of its digest) or sorted sets, a user set, an id key.
pub(crate) fn assert_key_families(prefix: &str, keys: &[String]) {
    for key in keys {
        let rest = key.strip_prefix(prefix).unwrap();
        let ok = if let Some(user_or_id) = rest.strip_prefix("{u:").or(rest.strip_prefix("{i:")) {
            user_or_id.ends_with('}')
        } else if let Some(bucketed) = rest.strip_prefix("{b") {
            let (b, tail) = bucketed.split_once('}').unwrap_or(("x", ""));
            let b: u16 = b.parse().unwrap_or(u16::MAX);
            match tail.strip_prefix("s:") {
                Some(hex) => {
                    let mut d = [0u8; 32];
                    hex::decode_to_slice(hex, &mut d).is_ok() && bucket(&d) == b
                }
                None => b < 1024 && (tail == "created" || tail == "seen"),
            }
        } else {
            false
        };
        assert!(ok, "{key} is not a key of the layout");
    }
}

/// Every operation, then: every key written is in a family, and none is left once the sessions
/// are gone.
pub(crate) async fn every_key_written_is_of_a_family_and_none_outlives_the_sessions(on: On) {
    let (store, guard, mut raw) = store_on(on, Some(3600)).await;
    let p = guard.prefix().to_owned();
    let full = Session {
        ip: Some("203.0.113.9".to_owned()),
        user_agent: Some("curl/8".to_owned()),
        ..session("families-full", "alice", T)
    };
    let others: Vec<Session> = (0..20)
        .map(|i| {
            session(
                &format!("families-{i}"),
                ["alice", "bob"][i % 2],
                T + i as i64,
            )
        })
        .collect();
    store.insert(&full).await.unwrap();
    for s in &others {
        store.insert(s).await.unwrap();
    }
    store.touch(&full.digest, T + 30).await.unwrap();
    assert_eq!(
        store.get(&full.digest).await.unwrap(),
        Some(Session {
            last_seen_at: T + 30,
            ..full.clone()
        })
    );
    assert_eq!(store.list_for_user("alice").await.unwrap().len(), 11);
    assert_eq!(store.count().await.unwrap(), 21);
    let keys = raw.keys(&p).await;
    assert_key_families(&p, &keys);
    assert!(keys.len() >= 21 + 2 + 21, "{keys:?}");

    assert!(store.delete(&others[0].digest).await.unwrap());
    assert_eq!(store.delete_for_user("bob", None).await.unwrap(), 10);
    let expiry = Expiry {
        absolute: Some(100),
        idle: None,
    };
    assert_eq!(store.purge_expired(T + 200, expiry).await.unwrap(), 10);
    assert_eq!(store.count().await.unwrap(), 0);
    assert_eq!(raw.keys(&p).await, Vec::<String>::new());
}

/// `count` and `purge_expired` of an empty store, each well under a second.
pub(crate) async fn an_empty_store_counts_and_purges_well_under_a_second(on: On) {
    let (store, _guard, _raw) = store_on(on, None).await;
    let expiry = Expiry {
        absolute: Some(100),
        idle: Some(10),
    };
    // Once to load the scripts, then measured.
    store.purge_expired(T, expiry).await.unwrap();
    let started = Instant::now();
    assert_eq!(store.count().await.unwrap(), 0);
    let counted = started.elapsed();
    let started = Instant::now();
    assert_eq!(store.purge_expired(T, expiry).await.unwrap(), 0);
    let purged = started.elapsed();
    assert!(
        counted < Duration::from_millis(500),
        "count took {counted:?}"
    );
    assert!(purged < Duration::from_millis(500), "purge took {purged:?}");
}

/// A hash gone behind the store's back (as by its native TTL) leaves a user-set entry, sorted-
/// set entries and an id key that never show, never block a new session, and are cleaned.
pub(crate) async fn dangling_entries_never_block_or_leak(on: On) {
    let (store, guard, mut raw) = store_on(on, None).await;
    let p = guard.prefix().to_owned();
    let gone = session("dangling-gone", "alice", T);
    let kept = session("dangling-kept", "alice", T + 1);
    store.insert(&gone).await.unwrap();
    store.insert(&kept).await.unwrap();
    let [hash, ..] = bucket_keys(&p, &gone.digest);
    let _: i64 = raw.query(redis::cmd("DEL").arg(&hash)).await;

    assert!(store.get(&gone.digest).await.unwrap().is_none());
    assert_eq!(
        store.list_for_user("alice").await.unwrap(),
        vec![kept.clone()]
    );
    let user_key = format!("{p}{{u:alice}}");
    let members: Vec<String> = raw.query(redis::cmd("SMEMBERS").arg(&user_key)).await;
    assert_eq!(members, vec![hex::encode(kept.digest)], "cleaned lazily");
    // It cannot be deleted or touched back to life.
    assert!(!store.delete(&gone.digest).await.unwrap());
    store.touch(&gone.digest, T + 50).await.unwrap();
    assert!(store.get(&gone.digest).await.unwrap().is_none());

    // Its id key still names it, and does not block a new session with that id.
    let id_key = format!("{p}{{i:{}}}", gone.id);
    let named: Option<String> = raw.query(redis::cmd("GET").arg(&id_key)).await;
    assert_eq!(named, Some(hex::encode(gone.digest)));
    let reuse = Session {
        id: gone.id.clone(),
        ..session("dangling-reuse", "bob", T + 2)
    };
    store.insert(&reuse).await.unwrap();
    let named: Option<String> = raw.query(redis::cmd("GET").arg(&id_key)).await;
    assert_eq!(named, Some(hex::encode(reuse.digest)));
    // A user set of nothing but dangling entries is emptied by a revoke.
    let stray = format!("{p}{{u:carol}}");
    let _: i64 = raw
        .query(redis::cmd("SADD").arg(&stray).arg(hex::encode(gone.digest)))
        .await;
    assert_eq!(store.delete_for_user("carol", None).await.unwrap(), 0);

    let expiry = Expiry {
        absolute: Some(10),
        idle: None,
    };
    assert_eq!(store.purge_expired(T + 12, expiry).await.unwrap(), 2);
    assert_eq!(raw.keys(&p).await, Vec::<String>::new());
}

/// An insert under way (its hash reserved, not committed) is invisible, yet holds its digest
/// and its id; once its reservation lapses both are free.
pub(crate) async fn a_reserved_session_is_invisible_and_holds_its_digest_and_id(on: On) {
    let (store, guard, mut raw) = store_on(on, None).await;
    let p = guard.prefix().to_owned();
    let under_way = session("reserved", "alice", T);
    let [hash, ..] = bucket_keys(&p, &under_way.digest);
    let hex = hex::encode(under_way.digest);
    let mut reserve = redis::cmd("HSET");
    reserve
        .arg(&hash)
        .arg("pending")
        .arg("marker")
        .arg("id")
        .arg(&under_way.id)
        .arg("user_id")
        .arg("alice")
        .arg("created_at")
        .arg(T)
        .arg("last_seen_at")
        .arg(T);
    let _: i64 = raw.query(&reserve).await;
    let id_key = format!("{p}{{i:{}}}", under_way.id);
    let _: redis::Value = raw.query(redis::cmd("SET").arg(&id_key).arg(&hex)).await;
    let user_key = format!("{p}{{u:alice}}");
    let _: i64 = raw.query(redis::cmd("SADD").arg(&user_key).arg(&hex)).await;

    assert!(store.get(&under_way.digest).await.unwrap().is_none());
    assert!(store.list_for_user("alice").await.unwrap().is_empty());
    assert_eq!(store.count().await.unwrap(), 0);
    store.touch(&under_way.digest, T + 5).await.unwrap();
    assert!(!store.delete(&under_way.digest).await.unwrap());
    assert_eq!(store.delete_for_user("alice", None).await.unwrap(), 0);
    let members: Vec<String> = raw.query(redis::cmd("SMEMBERS").arg(&user_key)).await;
    assert_eq!(
        members,
        vec![hex.clone()],
        "an insert under way keeps its entry"
    );
    let same_digest = session("reserved", "bob", T);
    let r = store.insert(&same_digest).await;
    assert!(matches!(r, Err(StoreError::Conflict)), "{r:?}");
    let same_id = Session {
        id: under_way.id.clone(),
        ..session("reserved-other", "bob", T)
    };
    let r = store.insert(&same_id).await;
    assert!(matches!(r, Err(StoreError::Conflict)), "{r:?}");
    assert!(store.get(&same_id.digest).await.unwrap().is_none());
    assert!(store.list_for_user("bob").await.unwrap().is_empty());

    // The reservation lapses: both are free, and what it left is cleaned.
    let _: i64 = raw.query(redis::cmd("DEL").arg(&hash)).await;
    store.insert(&same_id).await.unwrap();
    store.insert(&same_digest).await.unwrap();
    assert!(store.list_for_user("alice").await.unwrap().is_empty());
    assert_eq!(store.delete_for_user("bob", None).await.unwrap(), 2);
    assert_eq!(raw.keys(&p).await, Vec::<String>::new());
}

/// Of racing inserts of one public id (distinct tokens), exactly one lands, also when the id
/// key they race for is dangling; the losers leave nothing.
pub(crate) async fn racing_inserts_of_one_id_give_one_ok(on: On) {
    let (store, guard, mut raw) = store_on(on, None).await;
    let p = guard.prefix().to_owned();
    for dangling in [false, true] {
        let id = new_id();
        let id_key = format!("{p}{{i:{id}}}");
        if dangling {
            let nobody = hex::encode(token_digest("nobody"));
            let _: redis::Value = raw.query(redis::cmd("SET").arg(&id_key).arg(nobody)).await;
        }
        let tasks: Vec<_> = (0..12)
            .map(|i| {
                let store = store.clone();
                let s = Session {
                    id: id.clone(),
                    ..session(&format!("race-{dangling}-{i}"), &format!("user-{i}"), T)
                };
                tokio::spawn(async move { (store.insert(&s).await, s) })
            })
            .collect();
        let mut winners = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                (Ok(()), s) => winners.push(s),
                (Err(StoreError::Conflict), s) => {
                    assert!(store.get(&s.digest).await.unwrap().is_none());
                    assert!(store.list_for_user(&s.user_id).await.unwrap().is_empty());
                }
                (Err(e), _) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "dangling: {dangling}");
        let named: Option<String> = raw.query(redis::cmd("GET").arg(&id_key)).await;
        assert_eq!(named, Some(hex::encode(winners[0].digest)));
        assert!(store.delete(&winners[0].digest).await.unwrap());
    }
    assert_eq!(raw.keys(&p).await, Vec::<String>::new());
}

/// Sessions that are all in one bucket, more than one purge batch of them.
pub(crate) async fn purge_goes_through_more_than_one_batch_of_one_bucket(on: On) {
    let (store, _guard, _raw) = store_on(on, None).await;
    let mut digest = [7u8; 32];
    for i in 0..1200u16 {
        digest[2..4].copy_from_slice(&i.to_be_bytes());
        let s = Session {
            digest,
            ..session("unused", "alice", T + i64::from(i))
        };
        store.insert(&s).await.unwrap();
    }
    let expiry = Expiry {
        absolute: Some(100),
        idle: Some(100),
    };
    // created_at + 100 <= T + 1150 for i <= 1050.
    assert_eq!(store.purge_expired(T + 1150, expiry).await.unwrap(), 1051);
    assert_eq!(store.list_for_user("alice").await.unwrap().len(), 149);
    assert_eq!(store.count().await.unwrap(), 149);
}

/// Of twelve racing inserts of one digest (for different users), exactly one succeeds and the
/// rest are conflicts.
pub(crate) async fn racing_inserts_of_one_digest_give_one_ok(on: On) {
    let (store, _guard, _raw) = store_on(on, None).await;
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .insert(&session("racing", &format!("user-{i}"), T))
                    .await
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => ok += 1,
            Err(StoreError::Conflict) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(ok, 1, "{on:?}");
}

/// With an absolute TTL, a session's hash, id key and user set expire in about that time, and
/// a touch keeps the bound measured from insertion.
pub(crate) async fn with_an_absolute_ttl_a_sessions_keys_expire_in_about_that_time(on: On) {
    let (store, guard, mut raw) = store_on(on, Some(100)).await;
    let p = guard.prefix();
    let s = session("ttl-token", "alice", T);
    store.insert(&s).await.unwrap();
    let [hash, ..] = bucket_keys(p, &s.digest);
    for key in [
        hash.clone(),
        format!("{p}{{i:{}}}", s.id),
        format!("{p}{{u:alice}}"),
    ] {
        let t: i64 = raw.query(redis::cmd("TTL").arg(&key)).await;
        assert!((95..=100).contains(&t), "{on:?}: TTL of {key} is {t}");
    }
    store.touch(&s.digest, T + 10).await.unwrap();
    let t: i64 = raw.query(redis::cmd("TTL").arg(&hash)).await;
    assert!((95..=100).contains(&t), "{on:?}: TTL after touch is {t}");
}

#[tokio::test]
async fn a_sessions_hash_and_its_buckets_sorted_sets_share_a_slot_its_user_and_id_keys_their_own() {
    let (store, p) = cluster_store(None).await;
    let s = session("one-slot", "alice", T);
    store.insert(&s).await.unwrap();
    let [hash, created, seen] = bucket_keys(&p.0, &s.digest);
    let user = format!("{}{{u:alice}}", p.0);
    let id = format!("{}{{i:{}}}", p.0, s.id);
    let mut want = vec![
        hash.clone(),
        created.clone(),
        seen.clone(),
        user.clone(),
        id.clone(),
    ];
    want.sort();
    assert_eq!(cluster_keys_under(&p.0).await, want);

    let mut raw = raw_cluster().await;
    let slot = |key: String| {
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("KEYSLOT").arg(key);
        cmd
    };
    let mut slots = Vec::new();
    for key in [&hash, &created, &seen, &user, &id] {
        let n: i64 = slot(key.clone()).query_async(&mut raw).await.unwrap();
        slots.push(n);
    }
    assert_eq!(slots[0], slots[1], "{slots:?}");
    assert_eq!(slots[0], slots[2], "{slots:?}");
    // The slot is the bucket's hash tag's, whatever the prefix.
    let b = bucket(&s.digest);
    let tag: i64 = slot(format!("{{b{b}}}"))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(slots[0], tag);
    let tag: i64 = slot("{u:alice}".to_owned())
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(slots[3], tag);
}

#[tokio::test]
async fn sessions_spread_over_all_three_masters_and_every_operation_reaches_them() {
    let (store, p) = cluster_store(None).await;
    let sessions: Vec<Session> = (0..60)
        .map(|i| session(&format!("spread-{i}"), "alice", T + i))
        .collect();
    for s in &sessions {
        store.insert(s).await.unwrap();
    }
    for (url, keys) in keys_per_master(&p.0).await {
        let hashes = keys.iter().filter(|k| k.contains("}s:")).count();
        assert!(hashes > 0, "no session on {url}: {keys:?}");
    }
    assert_eq!(store.count().await.unwrap(), 60);
    assert_eq!(store.list_for_user("alice").await.unwrap(), sessions);
    assert_eq!(
        store
            .delete_for_user("alice", Some(&sessions[7].digest))
            .await
            .unwrap(),
        59
    );
    assert_eq!(
        store.list_for_user("alice").await.unwrap(),
        vec![sessions[7].clone()]
    );
    assert_eq!(store.count().await.unwrap(), 1);
}

#[tokio::test]
async fn every_key_written_on_a_cluster_is_of_a_family_and_none_outlives_the_sessions() {
    every_key_written_is_of_a_family_and_none_outlives_the_sessions(On::Cluster).await;
}

#[tokio::test]
async fn an_empty_cluster_store_counts_and_purges_well_under_a_second() {
    an_empty_store_counts_and_purges_well_under_a_second(On::Cluster).await;
}

#[tokio::test]
async fn on_a_cluster_dangling_entries_never_block_or_leak() {
    dangling_entries_never_block_or_leak(On::Cluster).await;
}

#[tokio::test]
async fn on_a_cluster_a_reserved_session_is_invisible_and_holds_its_digest_and_id() {
    a_reserved_session_is_invisible_and_holds_its_digest_and_id(On::Cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_a_cluster_racing_inserts_of_one_id_give_one_ok() {
    racing_inserts_of_one_id_give_one_ok(On::Cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_a_cluster_racing_inserts_of_one_digest_give_one_ok() {
    racing_inserts_of_one_digest_give_one_ok(On::Cluster).await;
}

#[tokio::test]
async fn on_a_cluster_purge_goes_through_more_than_one_batch_of_one_bucket() {
    purge_goes_through_more_than_one_batch_of_one_bucket(On::Cluster).await;
}

#[tokio::test]
async fn with_an_absolute_ttl_a_cluster_sessions_keys_expire_in_about_that_time() {
    with_an_absolute_ttl_a_sessions_keys_expire_in_about_that_time(On::Cluster).await;
}

#[tokio::test]
async fn a_cluster_whose_seed_nodes_are_closed_is_unavailable_within_three_seconds() {
    let started = Instant::now();
    let result = RedisSessionStore::connect(
        "redis+cluster://127.0.0.1:1,127.0.0.1:2",
        "sesame-test:closed:",
        None,
    )
    .await;
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

#[test]
fn a_session_store_url_names_one_server_or_a_clusters_seed_nodes_with_their_credentials() {
    assert_eq!(
        RedisTarget::parse("redis://:pw@cache.internal:6380/2").unwrap(),
        RedisTarget::Single("redis://:pw@cache.internal:6380/2".to_owned())
    );
    assert_eq!(
        RedisTarget::parse("redis+cluster://10.0.0.1:7000").unwrap(),
        RedisTarget::Cluster(vec!["redis://10.0.0.1:7000".to_owned()])
    );
    assert_eq!(
        RedisTarget::parse("redis+cluster://app:s3cret@10.0.0.1:7000, 10.0.0.2:7001,[::1]:7002/")
            .unwrap(),
        RedisTarget::Cluster(vec![
            "redis://app:s3cret@10.0.0.1:7000".to_owned(),
            "redis://app:s3cret@10.0.0.2:7001".to_owned(),
            "redis://app:s3cret@[::1]:7002".to_owned(),
        ])
    );
    for bad in [
        "http://app:s3cret@10.0.0.1:7000",
        "redis+cluster://",
        "redis+cluster://app:s3cret@",
        "redis+cluster://app:s3cret@10.0.0.1",
        "redis+cluster://app:s3cret@10.0.0.1:7000,",
        "redis+cluster://app:s3cret@10.0.0.1:7000/0",
        "redis+cluster://app:s3cret@10.0.0.1:seven",
    ] {
        match RedisTarget::parse(bad) {
            Err(e @ StoreError::Other(_)) => {
                let text = e.to_string();
                assert!(text.contains("SESSION_STORE_URL"), "{bad}: {text}");
                assert!(
                    !text.contains("s3cret") && !text.contains("10.0.0.1"),
                    "{bad}: {text}"
                );
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
}
