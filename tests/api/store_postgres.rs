//! The PostgreSQL store: the shared store contract, plus what only a server brings (migrations
//! racing between instances, an unreachable or stuck server answering `Unavailable` in time).
//!
//! Every test gets its own database, created on the server named by `SESAME_TEST_POSTGRES`
//! (default `postgres://postgres@127.0.0.1:5432`, no database part) and dropped afterwards.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sesame::domain::{Session, User, new_id, token_digest};
use sesame::store::postgres::{PgStore, SCHEMA_VERSION};
use sesame::store::{RecordStore, SessionStore, StoreError, ThrottleStore, UserStore};

use crate::support::TestDb;

user_store_contract!(postgres_users, {
    let db = TestDb::new().await;
    (Arc::new(db.store().await) as Arc<dyn UserStore>, db)
});

session_store_contract!(postgres_sessions, {
    let db = TestDb::new().await;
    (Arc::new(db.store().await) as Arc<dyn SessionStore>, db)
});

record_store_contract!(postgres_records, {
    let db = TestDb::new().await;
    (Arc::new(db.store().await) as Arc<dyn RecordStore>, db)
});

throttle_store_contract!(postgres_throttle, {
    let db = TestDb::new().await;
    (Arc::new(db.store().await) as Arc<dyn ThrottleStore>, db)
});

/// The tables a migrated database has, by name.
async fn tables(client: &tokio_postgres::Client) -> Vec<String> {
    client
        .query(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = 'public' ORDER BY table_name",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_starting_at_once_on_a_fresh_database_migrate_it_exactly_once() {
    let db = TestDb::new().await;
    let url = db.url();
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { PgStore::connect(&url).await })
        })
        .collect();
    let mut stores = Vec::new();
    for start in starts {
        stores.push(start.await.unwrap().expect("every instance starts"));
    }

    let client = db.client().await;
    let versions: Vec<i32> = client
        .query(
            "SELECT version FROM sesame_schema_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, (1..=SCHEMA_VERSION).collect::<Vec<i32>>());
    assert_eq!(
        tables(&client).await,
        [
            "cache_leases",
            "login_failures",
            "outbox",
            "records",
            "sesame_schema_migrations",
            "sessions",
            "users"
        ]
    );

    // Every instance works on the one schema, and sees the others' writes.
    let user = User {
        id: new_id(),
        email: "Racer@x.io".to_owned(),
        password_hash: None,
        first_name: None,
        last_name: None,
        created_at: 1_700_000_000,
        updated_at: 1_700_000_000,
        is_admin: false,
    };
    UserStore::create(&stores[0], &user).await.unwrap();
    for store in &stores {
        let got = store.get_by_email("racer@x.io").await.unwrap().unwrap();
        assert_eq!(got.id, user.id);
    }
}

#[tokio::test]
async fn reconnecting_to_a_migrated_database_keeps_its_data_and_migrates_nothing() {
    let db = TestDb::new().await;
    let first = db.store().await;
    let session = Session {
        id: new_id(),
        digest: token_digest("kept"),
        user_id: "u1".to_owned(),
        created_at: 1_700_000_000,
        last_seen_at: 1_700_000_000,
        ip: None,
        user_agent: None,
    };
    first.insert(&session).await.unwrap();
    drop(first);

    let second = db.store().await;
    let got = SessionStore::get(&second, &session.digest)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.id, session.id);
    let client = db.client().await;
    let n: i64 = client
        .query_one("SELECT count(*) FROM sesame_schema_migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, i64::from(SCHEMA_VERSION));
}

#[tokio::test]
async fn a_session_deleted_through_one_instance_is_gone_for_another() {
    let db = TestDb::new().await;
    let (a, b) = (db.store().await, db.store().await);
    let session = Session {
        id: new_id(),
        digest: token_digest("shared"),
        user_id: "u1".to_owned(),
        created_at: 1_700_000_000,
        last_seen_at: 1_700_000_000,
        ip: Some("192.0.2.7".to_owned()),
        user_agent: None,
    };
    a.insert(&session).await.unwrap();
    assert!(
        SessionStore::get(&b, &session.digest)
            .await
            .unwrap()
            .is_some()
    );
    assert!(SessionStore::delete(&a, &session.digest).await.unwrap());
    assert!(
        SessionStore::get(&b, &session.digest)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn connecting_where_nothing_listens_is_unavailable_within_three_seconds() {
    let started = Instant::now();
    let result = PgStore::connect("postgres://postgres@127.0.0.1:1/sesame").await;
    let took = started.elapsed();
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "got {:?}",
        result.err()
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[tokio::test]
async fn connecting_to_a_server_that_never_answers_is_unavailable_within_three_seconds() {
    // Accepts connections and then says nothing, like a hung server.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });

    let started = Instant::now();
    let result = PgStore::connect(&format!("postgres://postgres@127.0.0.1:{port}/sesame")).await;
    let took = started.elapsed();
    silent.abort();
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "got {:?}",
        result.err()
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_stuck_behind_a_lock_is_unavailable_within_three_seconds_and_the_store_recovers()
 {
    let db = TestDb::new().await;
    let store = db.store().await;
    assert_eq!(UserStore::count(&store).await.unwrap(), 0);

    // Another client holds the users table so that nothing can read it.
    let mut blocker = db.client().await;
    let tx = blocker.transaction().await.unwrap();
    tx.batch_execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();

    let started = Instant::now();
    let result = UserStore::count(&store).await;
    let took = started.elapsed();
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "got {result:?}"
    );
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(2),
        "took {took:?}"
    );
    // Other tables are not blocked.
    assert_eq!(
        store.failures("account:a@x.io").await.unwrap(),
        None,
        "a read of another table"
    );

    // The timed-out query is cancelled on the server, not left waiting for the lock.
    let client = db.client().await;
    let cancelled_by = Instant::now() + Duration::from_secs(2);
    loop {
        let waiting: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if waiting == 0 {
            break;
        }
        assert!(
            Instant::now() < cancelled_by,
            "{waiting} queries still wait for the lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    tx.rollback().await.unwrap();
    // Every pooled connection works again: none is left queued behind the cancelled query.
    for _ in 0..8 {
        assert_eq!(UserStore::count(&store).await.unwrap(), 0);
    }
}

#[tokio::test]
async fn an_invalid_url_is_an_error_that_is_not_unavailable() {
    let result = PgStore::connect("postgres://user@host:notaport/db").await;
    assert!(
        matches!(result, Err(StoreError::Other(_))),
        "got {:?}",
        result.err()
    );
}
