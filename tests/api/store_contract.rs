//! The store contract: every backend must pass the same checks.
//!
//! The checks are written once, against `Arc<dyn UserStore>` / `Arc<dyn SessionStore>`, and know
//! nothing of any backend. `user_store_contract!` and `session_store_contract!` turn them into one
//! test per check for a backend: adding a backend is one macro line with a factory expression
//! that evaluates (inside the async test, so it may `.await`) to `(store, guard)`, where the guard
//! (a temporary directory, a container, `()`) lives as long as the test.

use std::sync::Arc;

use sesame::domain::Expiry;
use sesame::domain::{Session, User, new_id, token_digest};
use sesame::store::memory::{
    MemoryRecordStore, MemorySessionStore, MemoryThrottleStore, MemoryUserStore,
};
use sesame::store::sqlite::SqliteStore;
use sesame::store::{
    Failures, Record, RecordStore, SessionStore, StoreError, ThrottleStore, UserStore,
};

/// Expands to one test per check, each building its own store with `$make`.
macro_rules! contract_tests {
    ($make:expr; $( #[$attr:meta] $name:ident => $check:path; )*) => {
        $(
            #[$attr]
            async fn $name() {
                let (store, _guard) = $make;
                $check(store).await;
            }
        )*
    };
}

/// The user-store contract for one backend: `$make` evaluates to `(Arc<dyn UserStore>, guard)`.
macro_rules! user_store_contract {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;

            contract_tests! { $make;
                #[tokio::test]
                create_then_get_by_id_and_by_email_ignoring_case => crate::store_contract::users::create_then_get;
                #[tokio::test]
                get_by_email_ignores_non_ascii_case => crate::store_contract::users::get_by_email_ignores_non_ascii_case;
                #[tokio::test]
                second_create_of_an_email_in_another_case_is_conflict_and_keeps_the_first =>
                    crate::store_contract::users::second_create_of_an_email_is_conflict;
                #[tokio::test]
                second_create_of_a_non_ascii_email_in_another_case_is_conflict =>
                    crate::store_contract::users::second_create_of_a_non_ascii_email_is_conflict;
                #[tokio::test]
                create_with_a_taken_id_is_conflict => crate::store_contract::users::create_with_a_taken_id_is_conflict;
                #[tokio::test]
                get_of_an_unknown_id_or_email_is_none => crate::store_contract::users::get_unknown_is_none;
                #[tokio::test]
                list_is_complete_and_ordered_oldest_first_then_in_creation_order =>
                    crate::store_contract::users::list_is_ordered;
                #[tokio::test]
                users_created_in_the_same_second_list_in_the_order_they_were_created =>
                    crate::store_contract::users::same_second_lists_in_creation_order;
                #[tokio::test]
                count_follows_creates_and_deletes => crate::store_contract::users::count_follows_writes;
                #[tokio::test]
                update_changes_names_admin_and_updated_at_but_not_email_or_password =>
                    crate::store_contract::users::update_changes_names_admin_and_updated_at;
                #[tokio::test]
                update_of_an_unknown_id_returns_false_and_creates_nothing =>
                    crate::store_contract::users::update_unknown_is_false;
                #[tokio::test]
                set_password_changes_the_hash_and_updated_at_only =>
                    crate::store_contract::users::set_password_changes_hash;
                #[tokio::test]
                set_password_of_an_unknown_id_returns_false => crate::store_contract::users::set_password_unknown_is_false;
                #[tokio::test]
                delete_returns_true_then_false_and_frees_the_email_for_reuse =>
                    crate::store_contract::users::delete_then_reuse_email;
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                twelve_concurrent_creates_of_one_email_give_one_ok_and_eleven_conflicts =>
                    crate::store_contract::users::concurrent_creates_of_one_email;
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                forty_concurrent_creates_of_distinct_emails_all_succeed =>
                    crate::store_contract::users::concurrent_creates_of_distinct_emails;
            }
        }
    };
}

/// The session-store contract for one backend: `$make` evaluates to
/// `(Arc<dyn SessionStore>, guard)`.
macro_rules! session_store_contract {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;

            contract_tests! { $make;
                #[tokio::test]
                insert_then_get_by_digest_returns_the_same_session_with_or_without_ip_and_agent =>
                    crate::store_contract::sessions::insert_then_get;
                #[tokio::test]
                insert_of_a_taken_digest_is_conflict_and_keeps_the_first =>
                    crate::store_contract::sessions::insert_of_a_taken_digest_is_conflict;
                #[tokio::test]
                count_follows_inserts_deletes_and_purges =>
                    crate::store_contract::sessions::count_follows_writes;
                #[tokio::test]
                get_of_an_unknown_digest_is_none => crate::store_contract::sessions::get_unknown_is_none;
                #[tokio::test]
                touch_moves_last_seen_at_forward_and_never_backwards =>
                    crate::store_contract::sessions::touch_moves_forward;
                #[tokio::test]
                delete_returns_true_then_false_and_the_session_is_gone =>
                    crate::store_contract::sessions::delete_then_gone;
                #[tokio::test]
                list_for_user_returns_only_that_users_sessions_oldest_first =>
                    crate::store_contract::sessions::list_for_user_is_ordered_and_scoped;
                #[tokio::test]
                delete_for_user_removes_all_of_that_users_sessions_and_none_of_another =>
                    crate::store_contract::sessions::delete_for_user_is_scoped;
                #[tokio::test]
                purge_expired_with_an_absolute_lifetime_removes_those_at_or_past_it =>
                    crate::store_contract::sessions::purge_absolute;
                #[tokio::test]
                purge_expired_with_an_idle_timeout_removes_those_idle_at_or_past_it =>
                    crate::store_contract::sessions::purge_idle;
                #[tokio::test]
                purge_expired_with_both_limits_removes_those_past_either => crate::store_contract::sessions::purge_both;
                #[tokio::test]
                purge_expired_with_no_limits_removes_nothing => crate::store_contract::sessions::purge_none;
            }
        }
    };
}

/// The throttle-store contract for one backend: `$make` evaluates to
/// `(Arc<dyn ThrottleStore>, guard)`.
macro_rules! throttle_store_contract {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;

            contract_tests! { $make;
                #[tokio::test]
                an_unknown_key_has_no_failures => crate::store_contract::throttle::unknown_is_none;
                #[tokio::test]
                failures_count_up_per_key_and_clear_forgets_them =>
                    crate::store_contract::throttle::counts_per_key_and_clears;
                #[tokio::test]
                a_quiet_period_starts_the_count_over =>
                    crate::store_contract::throttle::quiet_period_restarts;
                #[tokio::test]
                purge_forgets_runs_that_ended_at_or_before_the_cutoff =>
                    crate::store_contract::throttle::purge_by_last_failure;
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                racing_failures_on_one_key_are_each_counted =>
                    crate::store_contract::throttle::racing_failures_are_counted;
            }
        }
    };
}

/// The record-store contract for one backend: `$make` evaluates to
/// `(Arc<dyn RecordStore>, guard)`.
macro_rules! record_store_contract {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;

            contract_tests! { $make;
                #[tokio::test]
                put_if_absent_then_get_and_a_second_put_if_absent_loses =>
                    crate::store_contract::records::put_if_absent;
                #[tokio::test]
                put_with_the_current_version_wins_once_and_with_a_stale_one_loses =>
                    crate::store_contract::records::compare_and_set;
                #[tokio::test]
                an_ended_record_reads_as_absent_and_its_key_is_free =>
                    crate::store_contract::records::expiry;
                #[tokio::test]
                take_returns_a_live_record_once_and_nothing_for_an_ended_one =>
                    crate::store_contract::records::take_once;
                #[tokio::test]
                delete_and_purge_remove_what_they_say =>
                    crate::store_contract::records::delete_and_purge;
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                of_racing_writes_expecting_one_version_exactly_one_lands =>
                    crate::store_contract::records::racing_writes;
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                of_racing_takes_of_one_key_exactly_one_gets_the_record =>
                    crate::store_contract::records::racing_takes;
                #[tokio::test]
                a_batch_applies_whole_or_not_at_all =>
                    crate::store_contract::records::batch_all_or_nothing;
                #[tokio::test]
                a_claimed_outbox_entry_is_leased_counted_and_retried_or_finished =>
                    crate::store_contract::records::outbox_claims;
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                racing_claims_never_get_the_same_outbox_entry =>
                    crate::store_contract::records::racing_claims;
            }
        }
    };
}

record_store_contract!(memory_records, {
    (
        Arc::new(MemoryRecordStore::default()) as Arc<dyn RecordStore>,
        (),
    )
});
record_store_contract!(sqlite_file_records, {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_file(&dir.path().join("t.db")).unwrap();
    (Arc::new(store) as Arc<dyn RecordStore>, dir)
});
record_store_contract!(sqlite_memory_records, {
    (
        Arc::new(SqliteStore::open_memory().unwrap()) as Arc<dyn RecordStore>,
        (),
    )
});

user_store_contract!(
    memory_users,
    (
        Arc::new(MemoryUserStore::default()) as Arc<dyn UserStore>,
        ()
    )
);
user_store_contract!(sqlite_file_users, {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_file(&dir.path().join("t.db")).unwrap();
    (Arc::new(store) as Arc<dyn UserStore>, dir)
});
user_store_contract!(sqlite_memory_users, {
    (
        Arc::new(SqliteStore::open_memory().unwrap()) as Arc<dyn UserStore>,
        (),
    )
});

throttle_store_contract!(memory_throttle, {
    (
        Arc::new(MemoryThrottleStore::default()) as Arc<dyn ThrottleStore>,
        (),
    )
});
throttle_store_contract!(sqlite_file_throttle, {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_file(&dir.path().join("t.db")).unwrap();
    (Arc::new(store) as Arc<dyn ThrottleStore>, dir)
});

session_store_contract!(memory_sessions, {
    (
        Arc::new(MemorySessionStore::default()) as Arc<dyn SessionStore>,
        (),
    )
});
session_store_contract!(sqlite_file_sessions, {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_file(&dir.path().join("t.db")).unwrap();
    (Arc::new(store) as Arc<dyn SessionStore>, dir)
});
session_store_contract!(sqlite_memory_sessions, {
    (
        Arc::new(SqliteStore::open_memory().unwrap()) as Arc<dyn SessionStore>,
        (),
    )
});

/// A plausible "now", in Unix seconds.
const T: i64 = 1_700_000_000;

/// Compares every field (`User`'s `Debug` hides most of them, so `assert_eq!` would not say which).
fn assert_same_user(got: &User, want: &User) {
    assert_eq!(got.id, want.id, "id");
    assert_eq!(got.email, want.email, "email of {}", want.id);
    assert_eq!(
        got.password_hash, want.password_hash,
        "password_hash of {}",
        want.id
    );
    assert_eq!(got.first_name, want.first_name, "first_name of {}", want.id);
    assert_eq!(got.last_name, want.last_name, "last_name of {}", want.id);
    assert_eq!(got.created_at, want.created_at, "created_at of {}", want.id);
    assert_eq!(got.updated_at, want.updated_at, "updated_at of {}", want.id);
    assert_eq!(got.is_admin, want.is_admin, "is_admin of {}", want.id);
}

/// Compares every field (`Session`'s `Debug` hides some of them).
fn assert_same_session(got: &Session, want: &Session) {
    assert_eq!(got.id, want.id, "id");
    assert_eq!(got.digest, want.digest, "digest of {}", want.id);
    assert_eq!(got.user_id, want.user_id, "user_id of {}", want.id);
    assert_eq!(got.created_at, want.created_at, "created_at of {}", want.id);
    assert_eq!(
        got.last_seen_at, want.last_seen_at,
        "last_seen_at of {}",
        want.id
    );
    assert_eq!(got.ip, want.ip, "ip of {}", want.id);
    assert_eq!(got.user_agent, want.user_agent, "user_agent of {}", want.id);
}

pub(crate) mod users {
    use super::*;

    /// A user with a fresh id, created and updated at `created_at`.
    fn user(email: &str, created_at: i64) -> User {
        User {
            id: new_id(),
            email: email.to_owned(),
            password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned()),
            first_name: Some("Ada".to_owned()),
            last_name: None,
            created_at,
            updated_at: created_at,
            is_admin: false,
        }
    }

    async fn must_get(s: &Arc<dyn UserStore>, id: &str) -> User {
        s.get(id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("user {id} not found by id"))
    }

    async fn must_get_by_email(s: &Arc<dyn UserStore>, email: &str) -> User {
        s.get_by_email(email)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no user found by email {email:?}"))
    }

    pub async fn create_then_get(s: Arc<dyn UserStore>) {
        let mut u = user("Bob.Smith@Example.COM", T);
        u.last_name = Some("Smith".to_owned());
        u.is_admin = true;
        s.create(&u).await.unwrap();

        assert_same_user(&must_get(&s, &u.id).await, &u);
        for email in [
            "Bob.Smith@Example.COM",
            "bob.smith@example.com",
            "BOB.SMITH@EXAMPLE.COM",
        ] {
            // The email comes back as given, whatever case it is looked up with.
            assert_same_user(&must_get_by_email(&s, email).await, &u);
        }
    }

    pub async fn get_by_email_ignores_non_ascii_case(s: Arc<dyn UserStore>) {
        let u = user("ÉLODIE@x.io", T);
        s.create(&u).await.unwrap();
        for email in ["ÉLODIE@x.io", "élodie@x.io", "Élodie@X.IO", "éLODIE@x.io"] {
            assert_same_user(&must_get_by_email(&s, email).await, &u);
        }
        // Case, not accents: an unaccented address is another one.
        assert!(s.get_by_email("elodie@x.io").await.unwrap().is_none());
    }

    pub async fn second_create_of_an_email_is_conflict(s: Arc<dyn UserStore>) {
        let first = user("Bob@Example.com", T);
        s.create(&first).await.unwrap();

        let mut second = user("bob@EXAMPLE.COM", T + 5);
        second.first_name = Some("Mallory".to_owned());
        second.is_admin = true;
        let result = s.create(&second).await;
        assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
        // Same email in exactly the same case, too.
        let third = user("Bob@Example.com", T + 6);
        let result = s.create(&third).await;
        assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");

        assert_same_user(&must_get_by_email(&s, "bob@example.com").await, &first);
        assert_same_user(&must_get(&s, &first.id).await, &first);
        assert!(s.get(&second.id).await.unwrap().is_none());
        assert!(s.get(&third.id).await.unwrap().is_none());
        assert_eq!(s.count().await.unwrap(), 1);
    }

    pub async fn second_create_of_a_non_ascii_email_is_conflict(s: Arc<dyn UserStore>) {
        let first = user("élodie@x.io", T);
        s.create(&first).await.unwrap();
        let second = user("ÉLODIE@x.io", T + 1);
        let result = s.create(&second).await;
        assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
        assert_same_user(&must_get_by_email(&s, "ÉLODIE@x.io").await, &first);
        assert!(s.get(&second.id).await.unwrap().is_none());
        assert_eq!(s.count().await.unwrap(), 1);
    }

    pub async fn create_with_a_taken_id_is_conflict(s: Arc<dyn UserStore>) {
        let first = user("first@x.io", T);
        s.create(&first).await.unwrap();
        let mut second = user("second@x.io", T + 1);
        second.id.clone_from(&first.id);
        let result = s.create(&second).await;
        assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
        assert_same_user(&must_get(&s, &first.id).await, &first);
        assert!(s.get_by_email("second@x.io").await.unwrap().is_none());
        assert_eq!(s.count().await.unwrap(), 1);
    }

    pub async fn get_unknown_is_none(s: Arc<dyn UserStore>) {
        // On an empty store...
        assert!(s.get(&new_id()).await.unwrap().is_none());
        assert!(s.get("").await.unwrap().is_none());
        assert!(s.get_by_email("nobody@x.io").await.unwrap().is_none());
        assert!(s.get_by_email("").await.unwrap().is_none());
        // ...and on one that holds someone else.
        let u = user("somebody@x.io", T);
        s.create(&u).await.unwrap();
        assert!(s.get(&new_id()).await.unwrap().is_none());
        assert!(s.get_by_email("nobody@x.io").await.unwrap().is_none());
        assert!(s.get_by_email("somebody@x.i").await.unwrap().is_none());
        assert!(s.get_by_email("omebody@x.io").await.unwrap().is_none());
    }

    pub async fn list_is_ordered(s: Arc<dyn UserStore>) {
        assert!(s.list().await.unwrap().is_empty());

        // Created out of order, with ties on created_at broken by the order of creation.
        let mut made = Vec::new();
        for (id, created_at) in [
            ("user-b", T + 200),
            ("user-z", T + 100),
            ("user-a", T + 200),
            ("user-0", T + 300),
            ("user-m", T + 100),
            ("user-y", T - 50),
        ] {
            let mut u = user(&format!("{id}@x.io"), created_at);
            u.id = id.to_owned();
            // updated_at must not matter for the order.
            u.updated_at = T + 1000 - created_at;
            s.create(&u).await.unwrap();
            made.push(u);
        }
        // A stable sort: users of one second stay in the order they were made.
        made.sort_by_key(|u| u.created_at);

        let listed = s.list().await.unwrap();
        let ids: Vec<&str> = listed.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(
            ids,
            ["user-y", "user-z", "user-m", "user-b", "user-a", "user-0"]
        );
        for (got, want) in listed.iter().zip(&made) {
            assert_same_user(got, want);
        }
    }

    /// The ids of the listed users.
    async fn listed_ids(s: &Arc<dyn UserStore>) -> Vec<String> {
        s.list().await.unwrap().into_iter().map(|u| u.id).collect()
    }

    pub async fn same_second_lists_in_creation_order(s: Arc<dyn UserStore>) {
        // One second, ids in no order at all (neither ascending nor descending).
        let order = [
            "user-h", "user-c", "user-f", "user-a", "user-g", "user-b", "user-e",
        ];
        for id in order {
            let mut u = user(&format!("{id}@x.io"), T);
            u.id = id.to_owned();
            s.create(&u).await.unwrap();
        }
        // Created last, a second earlier: listed first.
        let mut early = user("early@x.io", T - 1);
        early.id = "user-z".to_owned();
        s.create(&early).await.unwrap();
        let mut want: Vec<String> = std::iter::once("user-z")
            .chain(order)
            .map(str::to_owned)
            .collect();
        assert_eq!(listed_ids(&s).await, want);

        // Changing users does not move them.
        let mut changed = must_get(&s, "user-f").await;
        changed.first_name = Some("Changed".to_owned());
        changed.updated_at = T + 50;
        assert!(s.update(&changed).await.unwrap());
        assert!(
            s.set_password("user-h", "$argon2id$new", T + 60)
                .await
                .unwrap()
        );
        assert_eq!(listed_ids(&s).await, want);

        // After deleting the newest and the oldest of that second, a new user of the same
        // second comes after every one still there.
        assert!(s.delete("user-e").await.unwrap());
        assert!(s.delete("user-h").await.unwrap());
        let mut late = user("late@x.io", T);
        late.id = "user-0".to_owned();
        s.create(&late).await.unwrap();
        want.retain(|id| id != "user-e" && id != "user-h");
        want.push("user-0".to_owned());
        assert_eq!(listed_ids(&s).await, want);
    }

    pub async fn count_follows_writes(s: Arc<dyn UserStore>) {
        assert_eq!(s.count().await.unwrap(), 0);
        let mut ids = Vec::new();
        for i in 0..5 {
            let u = user(&format!("u{i}@x.io"), T + i);
            s.create(&u).await.unwrap();
            ids.push(u.id);
            assert_eq!(s.count().await.unwrap(), (i + 1) as u64);
        }
        // A failed create counts nothing.
        let result = s.create(&user("U0@x.io", T)).await;
        assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
        assert_eq!(s.count().await.unwrap(), 5);

        assert!(s.delete(&ids[2]).await.unwrap());
        assert_eq!(s.count().await.unwrap(), 4);
        assert!(!s.delete(&ids[2]).await.unwrap());
        assert_eq!(s.count().await.unwrap(), 4);
        assert_eq!(s.list().await.unwrap().len(), 4);
    }

    pub async fn update_changes_names_admin_and_updated_at(s: Arc<dyn UserStore>) {
        let mut u = user("ada@x.io", T);
        u.first_name = Some("Ada".to_owned());
        u.last_name = None;
        s.create(&u).await.unwrap();
        let other = user("other@x.io", T);
        s.create(&other).await.unwrap();

        let mut changed = u.clone();
        changed.first_name = None;
        changed.last_name = Some("Lovelace".to_owned());
        changed.is_admin = true;
        changed.updated_at = T + 60;
        // Not the update's business: the email and the password hash stay as stored.
        changed.email = "someone.else@x.io".to_owned();
        changed.password_hash = Some("not-a-hash".to_owned());
        assert!(s.update(&changed).await.unwrap());

        let want = User {
            first_name: None,
            last_name: Some("Lovelace".to_owned()),
            is_admin: true,
            updated_at: T + 60,
            ..u.clone()
        };
        assert_same_user(&must_get(&s, &u.id).await, &want);
        assert_same_user(&must_get_by_email(&s, "ada@x.io").await, &want);
        assert!(s.get_by_email("someone.else@x.io").await.unwrap().is_none());
        // Nobody else changed.
        assert_same_user(&must_get(&s, &other.id).await, &other);

        // And back again: names set, admin cleared.
        let back = User {
            first_name: Some("Augusta".to_owned()),
            last_name: Some("King".to_owned()),
            is_admin: false,
            updated_at: T + 120,
            ..want.clone()
        };
        assert!(s.update(&back).await.unwrap());
        assert_same_user(&must_get(&s, &u.id).await, &back);
    }

    pub async fn update_unknown_is_false(s: Arc<dyn UserStore>) {
        let existing = user("exists@x.io", T);
        s.create(&existing).await.unwrap();
        let ghost = user("ghost@x.io", T);
        assert!(!s.update(&ghost).await.unwrap());
        assert!(s.get(&ghost.id).await.unwrap().is_none());
        assert!(s.get_by_email("ghost@x.io").await.unwrap().is_none());
        assert_eq!(s.count().await.unwrap(), 1);
        assert_same_user(&must_get(&s, &existing.id).await, &existing);
    }

    pub async fn set_password_changes_hash(s: Arc<dyn UserStore>) {
        let mut u = user("pw@x.io", T);
        u.password_hash = None;
        s.create(&u).await.unwrap();
        let other = user("other@x.io", T);
        s.create(&other).await.unwrap();

        let hash = "$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdA$bmV3aGFzaA";
        assert!(s.set_password(&u.id, hash, T + 30).await.unwrap());
        let want = User {
            password_hash: Some(hash.to_owned()),
            updated_at: T + 30,
            ..u.clone()
        };
        assert_same_user(&must_get(&s, &u.id).await, &want);
        assert_same_user(&must_get_by_email(&s, "PW@x.io").await, &want);

        // A second change replaces the first.
        let legacy = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";
        assert!(s.set_password(&u.id, legacy, T + 90).await.unwrap());
        let want = User {
            password_hash: Some(legacy.to_owned()),
            updated_at: T + 90,
            ..u
        };
        assert_same_user(&must_get(&s, &want.id).await, &want);
        assert_same_user(&must_get(&s, &other.id).await, &other);
    }

    pub async fn set_password_unknown_is_false(s: Arc<dyn UserStore>) {
        let existing = user("exists@x.io", T);
        s.create(&existing).await.unwrap();
        let ghost = new_id();
        assert!(!s.set_password(&ghost, "hash", T + 1).await.unwrap());
        assert!(s.get(&ghost).await.unwrap().is_none());
        assert_eq!(s.count().await.unwrap(), 1);
        assert_same_user(&must_get(&s, &existing.id).await, &existing);
    }

    pub async fn delete_then_reuse_email(s: Arc<dyn UserStore>) {
        let u = user("Gone@x.io", T);
        s.create(&u).await.unwrap();
        let stays = user("stays@x.io", T);
        s.create(&stays).await.unwrap();

        assert!(s.delete(&u.id).await.unwrap());
        assert!(s.get(&u.id).await.unwrap().is_none());
        assert!(s.get_by_email("gone@x.io").await.unwrap().is_none());
        assert!(!s.delete(&u.id).await.unwrap());
        assert!(!s.delete(&new_id()).await.unwrap());
        assert_same_user(&must_get(&s, &stays.id).await, &stays);
        assert_eq!(s.count().await.unwrap(), 1);

        // The email (in any case) is free again, for a new user with a new id.
        let again = user("GONE@X.IO", T + 10);
        s.create(&again).await.unwrap();
        assert_same_user(&must_get_by_email(&s, "gone@x.io").await, &again);
        assert_eq!(s.count().await.unwrap(), 2);
    }

    pub async fn concurrent_creates_of_one_email(s: Arc<dyn UserStore>) {
        const N: usize = 12;
        let barrier = Arc::new(tokio::sync::Barrier::new(N));
        let cases = ["race@x.io", "RACE@X.IO", "Race@x.io", "rAcE@x.Io"];
        let tasks: Vec<_> = (0..N)
            .map(|i| {
                let (s, barrier) = (s.clone(), barrier.clone());
                let u = user(cases[i % cases.len()], T);
                tokio::spawn(async move {
                    barrier.wait().await;
                    let result = s.create(&u).await;
                    (u, result)
                })
            })
            .collect();
        let mut winners = Vec::new();
        let mut conflicts = 0;
        for task in tasks {
            match task.await.unwrap() {
                (u, Ok(())) => winners.push(u),
                (_, Err(StoreError::Conflict)) => conflicts += 1,
                (u, Err(e)) => panic!("create of {} failed with {e:?}, not Conflict", u.email),
            }
        }
        assert_eq!(
            (winners.len(), conflicts),
            (1, N - 1),
            "(Ok, Conflict) among {N} creates"
        );
        assert_same_user(&must_get_by_email(&s, "race@x.io").await, &winners[0]);
        assert_eq!(s.count().await.unwrap(), 1);
        assert_eq!(s.list().await.unwrap().len(), 1);
    }

    pub async fn concurrent_creates_of_distinct_emails(s: Arc<dyn UserStore>) {
        const N: usize = 40;
        let barrier = Arc::new(tokio::sync::Barrier::new(N));
        let tasks: Vec<_> = (0..N)
            .map(|i| {
                let (s, barrier) = (s.clone(), barrier.clone());
                let u = user(&format!("user{i}@x.io"), T + (i % 3) as i64);
                tokio::spawn(async move {
                    barrier.wait().await;
                    let result = s.create(&u).await;
                    (u, result)
                })
            })
            .collect();
        let mut made = Vec::new();
        for task in tasks {
            let (u, result) = task.await.unwrap();
            assert!(result.is_ok(), "create of {}: {result:?}", u.email);
            made.push(u);
        }
        assert_eq!(s.count().await.unwrap(), N as u64);
        assert_eq!(s.list().await.unwrap().len(), N);
        for u in &made {
            assert_same_user(&must_get_by_email(&s, &u.email.to_uppercase()).await, u);
            assert_same_user(&must_get(&s, &u.id).await, u);
        }
    }
}

pub(crate) mod sessions {
    use super::*;

    /// A session of `user_id` for `token`, without client details.
    fn session(token: &str, user_id: &str, created_at: i64, last_seen_at: i64) -> Session {
        Session {
            id: new_id(),
            digest: token_digest(token),
            user_id: user_id.to_owned(),
            created_at,
            last_seen_at,
            ip: None,
            user_agent: None,
        }
    }

    async fn insert_all(s: &Arc<dyn SessionStore>, sessions: &[&Session]) {
        for session in sessions {
            s.insert(session).await.unwrap();
        }
    }

    async fn must_get(s: &Arc<dyn SessionStore>, want: &Session) -> Session {
        s.get(&want.digest)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("session {} not found", want.id))
    }

    async fn is_gone(s: &Arc<dyn SessionStore>, session: &Session) -> bool {
        s.get(&session.digest).await.unwrap().is_none()
    }

    /// Asserts, for each `(name, session, alive)`, whether the session is still stored (by `get`),
    /// unchanged if so.
    async fn assert_alive(s: &Arc<dyn SessionStore>, sessions: &[(&str, &Session, bool)]) {
        for (name, session, alive) in sessions {
            match s.get(&session.digest).await.unwrap() {
                Some(got) if *alive => assert_same_session(&got, session),
                Some(_) => panic!("session {name:?} should have been purged"),
                None if *alive => panic!("session {name:?} should not have been purged"),
                None => {}
            }
        }
    }

    pub async fn insert_then_get(s: Arc<dyn SessionStore>) {
        let bare = session("token-bare", "user-1", T, T);
        let full = Session {
            ip: Some("2001:db8::7".to_owned()),
            user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 «ünïcödé»".to_owned()),
            ..session("token-full", "user-1", T - 100, T - 10)
        };
        let half = Session {
            ip: Some("203.0.113.9".to_owned()),
            ..session("token-half", "user-2", T, T)
        };
        insert_all(&s, &[&bare, &full, &half]).await;

        assert_same_session(&must_get(&s, &bare).await, &bare);
        assert_same_session(&must_get(&s, &full).await, &full);
        assert_same_session(&must_get(&s, &half).await, &half);
        // `get` never writes: reading again gives the same.
        assert_same_session(&must_get(&s, &full).await, &full);
    }

    pub async fn insert_of_a_taken_digest_is_conflict(s: Arc<dyn SessionStore>) {
        let first = session("same-token", "user-1", T, T);
        s.insert(&first).await.unwrap();
        let second = session("same-token", "user-2", T + 5, T + 5);
        let result = s.insert(&second).await;
        assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
        assert_same_session(&must_get(&s, &first).await, &first);
    }

    pub async fn count_follows_writes(s: Arc<dyn SessionStore>) {
        s.ping().await.unwrap();
        assert_eq!(s.count().await.unwrap(), 0);
        let a = session("count-a", "user-1", T - 1000, T - 1000);
        let b = session("count-b", "user-1", T, T);
        let c = session("count-c", "user-2", T, T);
        insert_all(&s, &[&a, &b, &c]).await;
        assert_eq!(s.count().await.unwrap(), 3);
        s.delete(&c.digest).await.unwrap();
        assert_eq!(s.count().await.unwrap(), 2);
        let expiry = Expiry {
            absolute: Some(500),
            idle: None,
        };
        assert_eq!(s.purge_expired(T, expiry).await.unwrap(), 1);
        assert_eq!(s.count().await.unwrap(), 1);
    }

    pub async fn get_unknown_is_none(s: Arc<dyn SessionStore>) {
        assert!(s.get(&token_digest("nothing")).await.unwrap().is_none());
        assert!(s.get(&[0u8; 32]).await.unwrap().is_none());
        let known = session("known", "user-1", T, T);
        s.insert(&known).await.unwrap();
        assert!(s.get(&token_digest("unknown")).await.unwrap().is_none());
        // The digest is the key, not the token or the handle.
        assert!(s.get(&token_digest(&known.id)).await.unwrap().is_none());
    }

    pub async fn touch_moves_forward(s: Arc<dyn SessionStore>) {
        let a = session("touch-a", "user-1", T, T);
        let b = session("touch-b", "user-1", T, T);
        insert_all(&s, &[&a, &b]).await;

        s.touch(&a.digest, T + 500).await.unwrap();
        let moved = Session {
            last_seen_at: T + 500,
            ..a.clone()
        };
        assert_same_session(&must_get(&s, &a).await, &moved);

        // Never backwards: an older (or equal) time keeps the newer value.
        s.touch(&a.digest, T + 200).await.unwrap();
        assert_same_session(&must_get(&s, &a).await, &moved);
        s.touch(&a.digest, T + 500).await.unwrap();
        assert_same_session(&must_get(&s, &a).await, &moved);
        s.touch(&a.digest, T - 1000).await.unwrap();
        assert_same_session(&must_get(&s, &a).await, &moved);

        // Forward again.
        s.touch(&a.digest, T + 501).await.unwrap();
        assert_same_session(
            &must_get(&s, &a).await,
            &Session {
                last_seen_at: T + 501,
                ..a
            },
        );

        // Only the touched session moved, and touching an unknown digest creates nothing.
        assert_same_session(&must_get(&s, &b).await, &b);
        let ghost = token_digest("ghost");
        s.touch(&ghost, T + 1).await.unwrap();
        assert!(s.get(&ghost).await.unwrap().is_none());
    }

    pub async fn delete_then_gone(s: Arc<dyn SessionStore>) {
        let a = session("del-a", "user-1", T, T);
        let b = session("del-b", "user-1", T + 1, T + 1);
        insert_all(&s, &[&a, &b]).await;

        assert!(s.delete(&a.digest).await.unwrap());
        assert!(is_gone(&s, &a).await);
        assert!(!s.delete(&a.digest).await.unwrap());
        assert!(is_gone(&s, &a).await);
        // Touching a deleted session does not bring it back.
        s.touch(&a.digest, T + 100).await.unwrap();
        assert!(is_gone(&s, &a).await);
        let listed = s.list_for_user("user-1").await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_same_session(&listed[0], &b);
        assert_same_session(&must_get(&s, &b).await, &b);
        assert!(!s.delete(&token_digest("never")).await.unwrap());
    }

    pub async fn list_for_user_is_ordered_and_scoped(s: Arc<dyn SessionStore>) {
        assert!(s.list_for_user("alice").await.unwrap().is_empty());

        // Inserted out of order; last_seen_at must not matter for the order.
        let a3 = session("a3", "alice", T + 300, T + 300);
        let a1 = session("a1", "alice", T + 100, T + 900);
        let a2 = session("a2", "alice", T + 200, T + 200);
        let b1 = session("b1", "bob", T + 150, T + 150);
        let b0 = session("b0", "bob", T - 150, T + 150);
        // A user id that is a prefix of another's is another user.
        let p = session("p", "alic", T, T);
        insert_all(&s, &[&a3, &b1, &a1, &p, &b0, &a2]).await;

        let alice = s.list_for_user("alice").await.unwrap();
        assert_eq!(alice.len(), 3, "alice's sessions");
        for (got, want) in alice.iter().zip([&a1, &a2, &a3]) {
            assert_same_session(got, want);
        }
        let bob = s.list_for_user("bob").await.unwrap();
        assert_eq!(bob.len(), 2, "bob's sessions");
        for (got, want) in bob.iter().zip([&b0, &b1]) {
            assert_same_session(got, want);
        }
        assert!(s.list_for_user("carol").await.unwrap().is_empty());
        assert!(s.list_for_user("ALICE").await.unwrap().is_empty());
    }

    pub async fn delete_for_user_is_scoped(s: Arc<dyn SessionStore>) {
        let a: Vec<Session> = (0..3)
            .map(|i| session(&format!("a{i}"), "alice", T + i, T + i))
            .collect();
        let b: Vec<Session> = (0..2)
            .map(|i| session(&format!("b{i}"), "bob", T + i, T + i))
            .collect();
        for x in a.iter().chain(&b) {
            s.insert(x).await.unwrap();
        }

        assert_eq!(s.delete_for_user("alice", None).await.unwrap(), 3);
        for x in &a {
            assert!(is_gone(&s, x).await, "alice's session {} survived", x.id);
        }
        assert!(s.list_for_user("alice").await.unwrap().is_empty());
        for x in &b {
            assert_same_session(&must_get(&s, x).await, x);
        }
        assert_eq!(s.list_for_user("bob").await.unwrap().len(), 2);

        assert_eq!(s.delete_for_user("alice", None).await.unwrap(), 0);
        assert_eq!(s.delete_for_user("nobody", None).await.unwrap(), 0);
        assert_eq!(s.delete_for_user("bob", None).await.unwrap(), 2);
        assert!(s.list_for_user("bob").await.unwrap().is_empty());
    }

    pub async fn purge_absolute(s: Arc<dyn SessionStore>) {
        const D: i64 = 3600;
        let expiry = Expiry {
            absolute: Some(D),
            idle: None,
        };
        // created_at + D == T: expired at T, not at T - 1.
        let boundary = session("boundary", "u1", T - D, T);
        // created_at + D == T + 1: not expired at T, however long idle.
        let just_alive = session("just-alive", "u2", T - D + 1, T - D + 1);
        let long_gone = session("long-gone", "u1", T - D - 500, T);
        let fresh = session("fresh", "u2", T, T);
        insert_all(&s, &[&boundary, &just_alive, &long_gone, &fresh]).await;

        assert_eq!(
            s.purge_expired(T - 1, expiry).await.unwrap(),
            1,
            "purged at T - 1"
        );
        assert_alive(
            &s,
            &[
                ("boundary", &boundary, true),
                ("just-alive", &just_alive, true),
                ("long-gone", &long_gone, false),
                ("fresh", &fresh, true),
            ],
        )
        .await;

        assert_eq!(s.purge_expired(T, expiry).await.unwrap(), 1, "purged at T");
        assert_alive(
            &s,
            &[
                ("boundary", &boundary, false),
                ("just-alive", &just_alive, true),
                ("fresh", &fresh, true),
            ],
        )
        .await;

        assert_eq!(
            s.purge_expired(T, expiry).await.unwrap(),
            0,
            "purged again at T"
        );
        assert_eq!(s.list_for_user("u1").await.unwrap().len(), 0);
        assert_eq!(s.list_for_user("u2").await.unwrap().len(), 2);
    }

    pub async fn purge_idle(s: Arc<dyn SessionStore>) {
        const I: i64 = 900;
        let expiry = Expiry {
            absolute: None,
            idle: Some(I),
        };
        // last_seen_at + I == T: expired at T, not at T - 1.
        let boundary = session("boundary", "u1", T - I - 10, T - I);
        // last_seen_at + I == T + 1: not expired at T, however old.
        let just_alive = session("just-alive", "u2", T - 10_000_000, T - I + 1);
        let long_idle = session("long-idle", "u1", T - I - 500, T - I - 500);
        // Idle long ago, but touched since.
        let touched = session("touched", "u2", T - 5000, T - 5000);
        let fresh = session("fresh", "u2", T, T);
        insert_all(&s, &[&boundary, &just_alive, &long_idle, &touched, &fresh]).await;
        s.touch(&touched.digest, T - 10).await.unwrap();
        let touched = Session {
            last_seen_at: T - 10,
            ..touched
        };

        assert_eq!(
            s.purge_expired(T - 1, expiry).await.unwrap(),
            1,
            "purged at T - 1"
        );
        assert_alive(
            &s,
            &[
                ("boundary", &boundary, true),
                ("just-alive", &just_alive, true),
                ("long-idle", &long_idle, false),
                ("touched", &touched, true),
                ("fresh", &fresh, true),
            ],
        )
        .await;

        assert_eq!(s.purge_expired(T, expiry).await.unwrap(), 1, "purged at T");
        assert_alive(
            &s,
            &[
                ("boundary", &boundary, false),
                ("just-alive", &just_alive, true),
                ("touched", &touched, true),
                ("fresh", &fresh, true),
            ],
        )
        .await;
        assert_eq!(
            s.purge_expired(T, expiry).await.unwrap(),
            0,
            "purged again at T"
        );
    }

    pub async fn purge_both(s: Arc<dyn SessionStore>) {
        let expiry = Expiry {
            absolute: Some(3600),
            idle: Some(900),
        };
        let too_old = session("too-old", "u1", T - 3600, T);
        let too_idle = session("too-idle", "u1", T - 1000, T - 900);
        let both = session("both", "u2", T - 7200, T - 7200);
        let alive = session("alive", "u2", T - 3599, T - 899);
        insert_all(&s, &[&too_old, &too_idle, &both, &alive]).await;

        assert_eq!(s.purge_expired(T, expiry).await.unwrap(), 3);
        assert_alive(
            &s,
            &[
                ("too-old", &too_old, false),
                ("too-idle", &too_idle, false),
                ("both", &both, false),
                ("alive", &alive, true),
            ],
        )
        .await;
    }

    pub async fn purge_none(s: Arc<dyn SessionStore>) {
        let expiry = Expiry {
            absolute: None,
            idle: None,
        };
        let ancient = session("ancient", "u1", 0, 0);
        let old = session("old", "u1", T - 10_000_000, T - 10_000_000);
        let fresh = session("fresh", "u2", T, T);
        insert_all(&s, &[&ancient, &old, &fresh]).await;

        assert_eq!(s.purge_expired(T, expiry).await.unwrap(), 0);
        assert_eq!(s.purge_expired(i64::MAX, expiry).await.unwrap(), 0);
        assert_alive(
            &s,
            &[
                ("ancient", &ancient, true),
                ("old", &old, true),
                ("fresh", &fresh, true),
            ],
        )
        .await;
    }
}

pub(crate) mod throttle {
    use super::*;

    const T: i64 = 1_700_000_000;
    const QUIET: i64 = 3600;

    pub async fn unknown_is_none(s: Arc<dyn ThrottleStore>) {
        assert_eq!(s.failures("account:nobody@x.io").await.unwrap(), None);
        s.clear("account:nobody@x.io").await.unwrap();
        assert_eq!(s.failures("account:nobody@x.io").await.unwrap(), None);
    }

    pub async fn counts_per_key_and_clears(s: Arc<dyn ThrottleStore>) {
        for (i, now) in [T, T + 1, T + 5].into_iter().enumerate() {
            let f = s
                .record_failure("account:a@x.io", now, QUIET)
                .await
                .unwrap();
            assert_eq!(
                f,
                Failures {
                    count: i as u32 + 1,
                    last_at: now
                }
            );
        }
        assert_eq!(
            s.record_failure("ip:192.0.2.1", T, QUIET)
                .await
                .unwrap()
                .count,
            1
        );
        assert_eq!(
            s.failures("account:a@x.io").await.unwrap(),
            Some(Failures {
                count: 3,
                last_at: T + 5
            })
        );
        s.clear("account:a@x.io").await.unwrap();
        assert_eq!(s.failures("account:a@x.io").await.unwrap(), None);
        assert_eq!(
            s.failures("ip:192.0.2.1").await.unwrap().map(|f| f.count),
            Some(1)
        );
        assert_eq!(
            s.record_failure("account:a@x.io", T + 6, QUIET)
                .await
                .unwrap()
                .count,
            1
        );
    }

    pub async fn quiet_period_restarts(s: Arc<dyn ThrottleStore>) {
        s.record_failure("k", T, QUIET).await.unwrap();
        s.record_failure("k", T + 10, QUIET).await.unwrap();
        // One second short of the quiet period: the run goes on.
        assert_eq!(
            s.record_failure("k", T + 10 + QUIET - 1, QUIET)
                .await
                .unwrap()
                .count,
            3
        );
        // A full quiet period after the last failure: it starts over.
        let f = s
            .record_failure("k", T + 10 + 2 * QUIET - 1, QUIET)
            .await
            .unwrap();
        assert_eq!(
            f,
            Failures {
                count: 1,
                last_at: T + 10 + 2 * QUIET - 1
            }
        );
    }

    pub async fn purge_by_last_failure(s: Arc<dyn ThrottleStore>) {
        s.record_failure("old", T, QUIET).await.unwrap();
        s.record_failure("edge", T + 10, QUIET).await.unwrap();
        s.record_failure("new", T + 11, QUIET).await.unwrap();
        assert_eq!(s.purge(T + 10).await.unwrap(), 2);
        assert_eq!(s.failures("old").await.unwrap(), None);
        assert_eq!(s.failures("edge").await.unwrap(), None);
        assert_eq!(s.failures("new").await.unwrap().map(|f| f.count), Some(1));
    }

    pub async fn racing_failures_are_counted(s: Arc<dyn ThrottleStore>) {
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(async move { s.record_failure("race", T, QUIET).await.unwrap().count })
            })
            .collect();
        let mut counts = Vec::new();
        for t in tasks {
            counts.push(t.await.unwrap());
        }
        counts.sort_unstable();
        assert_eq!(counts, (1..=20).collect::<Vec<u32>>());
    }
}

pub(crate) mod records {
    use super::*;

    const T: i64 = 1_700_000_000;

    pub async fn put_if_absent(s: Arc<dyn RecordStore>) {
        assert_eq!(s.get("k", T).await.unwrap(), None);
        assert!(s.put("k", "one", None, None, T).await.unwrap());
        let r: Record = s.get("k", T).await.unwrap().unwrap();
        assert_eq!((r.value.as_str(), r.expires_at), ("one", None));
        assert!(!s.put("k", "two", None, None, T).await.unwrap());
        assert_eq!(s.get("k", T).await.unwrap().unwrap().value, "one");
        assert_eq!(s.get("other", T).await.unwrap(), None);
    }

    pub async fn compare_and_set(s: Arc<dyn RecordStore>) {
        assert!(
            !s.put("k", "x", Some(1), None, T).await.unwrap(),
            "no record to match"
        );
        assert!(s.put("k", "one", None, None, T).await.unwrap());
        let v1 = s.get("k", T).await.unwrap().unwrap().version;
        assert!(s.put("k", "two", Some(v1), Some(T + 60), T).await.unwrap());
        assert!(!s.put("k", "stale", Some(v1), None, T).await.unwrap());
        let r = s.get("k", T).await.unwrap().unwrap();
        assert_eq!(
            (r.value.as_str(), r.version, r.expires_at),
            ("two", v1 + 1, Some(T + 60))
        );
        assert!(s.put("k", "three", Some(v1 + 1), None, T).await.unwrap());
        assert_eq!(s.get("k", T + 61).await.unwrap().unwrap().value, "three");
        // Deleted and made again: a writer holding a version from before cannot land (no ABA).
        assert!(s.delete("k").await.unwrap());
        assert!(s.put("k", "anew", None, None, T).await.unwrap());
        for stale in [v1, v1 + 1, v1 + 2] {
            assert!(!s.put("k", "stale", Some(stale), None, T).await.unwrap());
        }
        assert_eq!(s.get("k", T).await.unwrap().unwrap().value, "anew");
    }

    pub async fn expiry(s: Arc<dyn RecordStore>) {
        assert!(s.put("k", "short", None, Some(T + 10), T).await.unwrap());
        let old = s.get("k", T + 9).await.unwrap().unwrap().version;
        assert_eq!(
            s.get("k", T + 10).await.unwrap(),
            None,
            "ended at its expiry"
        );
        assert!(
            !s.put("k", "cas", Some(old), None, T + 10).await.unwrap(),
            "an ended record cannot be compared"
        );
        assert!(
            s.put("k", "again", None, None, T + 10).await.unwrap(),
            "its key is free"
        );
        let r = s.get("k", T + 10).await.unwrap().unwrap();
        assert_eq!(r.value, "again");
        assert_ne!(r.version, old, "a new version");
    }

    pub async fn take_once(s: Arc<dyn RecordStore>) {
        assert!(s.put("k", "v", None, Some(T + 10), T).await.unwrap());
        assert_eq!(s.take("k", T).await.unwrap().unwrap().value, "v");
        assert_eq!(s.take("k", T).await.unwrap(), None);
        assert_eq!(s.get("k", T).await.unwrap(), None);
        assert!(s.put("old", "v", None, Some(T + 10), T).await.unwrap());
        assert_eq!(
            s.take("old", T + 10).await.unwrap(),
            None,
            "an ended record is not handed out"
        );
        assert_eq!(s.get("old", T).await.unwrap(), None, "but it is gone");
    }

    pub async fn delete_and_purge(s: Arc<dyn RecordStore>) {
        assert!(s.put("keep", "v", None, None, T).await.unwrap());
        assert!(s.put("later", "v", None, Some(T + 100), T).await.unwrap());
        assert!(s.put("soon", "v", None, Some(T + 10), T).await.unwrap());
        assert!(s.put("gone", "v", None, None, T).await.unwrap());
        assert!(s.delete("gone").await.unwrap());
        assert!(!s.delete("gone").await.unwrap());
        assert_eq!(s.purge(T + 10).await.unwrap(), 1);
        assert_eq!(s.purge(T + 10).await.unwrap(), 0);
        assert!(s.get("keep", T + 50).await.unwrap().is_some());
        assert!(s.get("later", T + 50).await.unwrap().is_some());
    }

    pub async fn racing_writes(s: Arc<dyn RecordStore>) {
        assert!(s.put("k", "start", None, None, T).await.unwrap());
        let v = s.get("k", T).await.unwrap().unwrap().version;
        let tasks: Vec<_> = (0..12)
            .map(|i| {
                let s = s.clone();
                tokio::spawn(async move {
                    s.put("k", &format!("w{i}"), Some(v), None, T)
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut won = 0;
        for t in tasks {
            won += usize::from(t.await.unwrap());
        }
        assert_eq!(won, 1);
        assert_eq!(s.get("k", T).await.unwrap().unwrap().version, v + 1);
    }

    fn entry(id: &str, due_at: i64) -> sesame::store::OutboxEntry {
        sesame::store::OutboxEntry {
            id: id.into(),
            kind: "mail".into(),
            payload: "{}".into(),
            created_at: T,
            due_at,
            attempts: 0,
        }
    }

    pub async fn batch_all_or_nothing(s: Arc<dyn RecordStore>) {
        use sesame::store::Write;
        assert!(s.put("taken", "v", None, None, T).await.unwrap());
        let taken = s.get("taken", T).await.unwrap().unwrap().version;
        let mail = entry("m1", T);
        let writes = [
            Write::Put {
                key: "a",
                value: "1",
                expected: None,
                expires_at: None,
            },
            Write::Outbox(&mail),
            Write::Put {
                key: "taken",
                value: "x",
                expected: None,
                expires_at: None,
            },
        ];
        assert!(
            !s.apply(&writes, T).await.unwrap(),
            "the last put does not match"
        );
        assert_eq!(s.get("a", T).await.unwrap(), None, "nothing written");
        assert_eq!(s.outbox_len().await.unwrap(), 0);
        let writes = [
            Write::Put {
                key: "a",
                value: "1",
                expected: None,
                expires_at: None,
            },
            Write::Outbox(&mail),
            Write::Put {
                key: "taken",
                value: "x",
                expected: Some(taken),
                expires_at: None,
            },
            Write::Delete("nothing-here"),
        ];
        assert!(s.apply(&writes, T).await.unwrap());
        assert_eq!(s.get("a", T).await.unwrap().unwrap().value, "1");
        assert_eq!(s.get("taken", T).await.unwrap().unwrap().value, "x");
        assert_eq!(s.outbox_len().await.unwrap(), 1);
    }

    pub async fn outbox_claims(s: Arc<dyn RecordStore>) {
        use sesame::store::Write;
        let (early, late) = (entry("early", T), entry("late", T + 100));
        assert!(
            s.apply(&[Write::Outbox(&late), Write::Outbox(&early)], T)
                .await
                .unwrap()
        );
        let claimed = s.claim_outbox(T, T + 60, 10).await.unwrap();
        assert_eq!(claimed.len(), 1, "only what is due");
        assert_eq!(
            (
                claimed[0].id.as_str(),
                claimed[0].attempts,
                claimed[0].due_at
            ),
            ("early", 1, T + 60)
        );
        assert!(
            s.claim_outbox(T + 59, T + 120, 10)
                .await
                .unwrap()
                .is_empty(),
            "leased"
        );
        s.retry_outbox("early", T + 5, "down").await.unwrap();
        let again = s.claim_outbox(T + 5, T + 65, 10).await.unwrap();
        assert_eq!((again[0].id.as_str(), again[0].attempts), ("early", 2));
        s.finish_outbox("early").await.unwrap();
        let rest = s.claim_outbox(T + 200, T + 260, 10).await.unwrap();
        assert_eq!(
            rest.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ["late"]
        );
        assert_eq!(s.outbox_len().await.unwrap(), 1);
    }

    pub async fn racing_claims(s: Arc<dyn RecordStore>) {
        use sesame::store::Write;
        let entries: Vec<_> = (0..40).map(|i| entry(&format!("e{i}"), T)).collect();
        let writes: Vec<Write<'_>> = entries.iter().map(Write::Outbox).collect();
        assert!(s.apply(&writes, T).await.unwrap());
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    loop {
                        let batch = s.claim_outbox(T, T + 60, 3).await.unwrap();
                        if batch.is_empty() {
                            return got;
                        }
                        got.extend(batch.into_iter().map(|e| e.id));
                    }
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all.sort();
        let n = all.len();
        all.dedup();
        assert_eq!((n, all.len()), (40, 40), "each entry claimed once");
    }

    pub async fn racing_takes(s: Arc<dyn RecordStore>) {
        assert!(s.put("k", "once", None, Some(T + 60), T).await.unwrap());
        let tasks: Vec<_> = (0..12)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(async move { s.take("k", T).await.unwrap().is_some() })
            })
            .collect();
        let mut got = 0;
        for t in tasks {
            got += usize::from(t.await.unwrap());
        }
        assert_eq!(got, 1);
    }
}
