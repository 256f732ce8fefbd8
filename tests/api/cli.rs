//! Command-line tests: the real `sesame` binary against a temporary database.
//!
//! Every test has its own temporary directory and database (`DATABASE_URL` set explicitly), and
//! every variable of the configuration is removed from the inherited environment first, so the
//! host's settings cannot leak in. No test needs a running server: the commands act on the
//! database file, and the test checks that file through the library's own `SqliteStore`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use sesame::auth::password::Passwords;
use sesame::domain::{Secret, Session, new_id, new_token, token_digest};
use sesame::store::sqlite::SqliteStore;
use sesame::store::{SessionStore, UserStore};
use tempfile::TempDir;

use crate::support::{Run, run_command as run};

/// Bad values, one per variable: (variable, flag, value).
const BAD_VALUES: &[(&str, &str, &str)] = &[
    ("SESSION_DURATION", "--session-duration", "abc"),
    ("API_PORT", "--api-port", "70000"),
    ("AUTH_TYPE", "--auth-type", "magic"),
    ("DATABASE_URL", "--database-url", "mysql://x"),
    ("SESSION_COOKIE_SECURE", "--session-cookie-secure", "maybe"),
    ("CORS_ORIGINS", "--cors-origins", "example.com"),
    ("LOG_FORMAT", "--log-format", "xml"),
];

/// Longest any command may take (hashing a password included).
const LIMIT: Duration = Duration::from_secs(60);
/// Longest a refused configuration may take to exit.
const QUICK: Duration = Duration::from_secs(10);

/// One test's world: a temporary directory holding the database file.
struct World {
    dir: TempDir,
    db: PathBuf,
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let db = dir.path().join("t.db");
        Self { dir, db }
    }

    fn database_url(&self) -> String {
        format!("sqlite://{}", self.db.display())
    }

    /// `sesame ARGS` with a clean environment, this world's database and its directory as the
    /// working directory.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = crate::support::sesame_command();
        cmd.env("DATABASE_URL", self.database_url())
            .current_dir(self.dir.path())
            .args(args);
        cmd
    }

    /// Runs `sesame ARGS` with stdin closed (not a terminal).
    fn run(&self, args: &[&str]) -> Run {
        run(self.command(args), None, LIMIT)
    }

    /// Runs `sesame ARGS` with `input` piped on stdin.
    fn run_with_stdin(&self, args: &[&str], input: &str) -> Run {
        run(self.command(args), Some(input), LIMIT)
    }

    /// Creates a user through the command line and returns its id (read back from the store).
    async fn create_user(&self, email: &str, password: &str, admin: bool) -> String {
        let mut args = vec!["user", "create", "--email", email, "--password-stdin"];
        if admin {
            args.push("--admin");
        }
        self.run_with_stdin(&args, &format!("{password}\n"))
            .assert_ok();
        let store = self.store();
        store
            .get_by_email(email)
            .await
            .expect("reading the store")
            .expect("the user just created")
            .id
    }

    /// The same database file, opened through the library.
    fn store(&self) -> SqliteStore {
        SqliteStore::open_file(&self.db).expect("opening the test database")
    }

    /// `sesame user list`, as (id, email, admin) rows.
    fn list(&self) -> Vec<(String, String, String)> {
        let run = self.run(&["user", "list"]);
        run.assert_ok();
        run.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let cols: Vec<&str> = line.split('\t').collect();
                assert!(
                    cols.len() >= 3,
                    "a user list line has id, email, admin: {line:?}"
                );
                (cols[0].to_owned(), cols[1].to_owned(), cols[2].to_owned())
            })
            .collect()
    }
}

fn now() -> i64 {
    use sesame::clock::Clock as _;
    sesame::clock::SystemClock.now()
}

/// A session of `user_id` created (and last seen) at `created_at`; returns its token digest.
async fn insert_session(store: &SqliteStore, user_id: &str, created_at: i64) -> [u8; 32] {
    let token = new_token().expect("a token");
    let digest = token_digest(token.expose());
    let session = Session {
        id: new_id(),
        digest,
        user_id: user_id.to_owned(),
        created_at,
        last_seen_at: created_at,
        ip: Some("127.0.0.1".into()),
        user_agent: Some("cli-test".into()),
    };
    store.insert(&session).await.expect("inserting a session");
    digest
}

/// Whether the session with this digest is still in the store.
async fn session_exists(store: &SqliteStore, digest: &[u8; 32]) -> bool {
    SessionStore::get(store, digest)
        .await
        .expect("reading a session")
        .is_some()
}

/// Whether `password` matches the stored `hash`, checked with the library's own verifier.
async fn verifies(hash: &str, password: &str) -> bool {
    let passwords = Passwords::new(1).expect("a hasher");
    passwords
        .verify(Secret::new(password), Some(hash.to_owned()))
        .await
        .expect("verifying")
        .ok
}

/// The numbers a report states, such as `[1]` for "1 expired session(s) deleted": whole words
/// that are numbers (an email or a uuid is not one).
fn counts(stdout: &str) -> Vec<u64> {
    stdout
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';' || c == ':')
        .filter_map(|w| w.parse().ok())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Bad configuration: refused before anything binds.
// ---------------------------------------------------------------------------------------------

/// Runs `sesame serve` with `var=value` in the environment while the test itself holds the port
/// the server would otherwise bind, and checks the refusal is the configuration error.
fn assert_serve_refuses_env(var: &str, value: &str) {
    let world = World::new();
    let held = TcpListener::bind("127.0.0.1:0").expect("holding a port");
    let port = held.local_addr().expect("held address").port().to_string();
    let mut cmd = world.command(&["serve"]);
    cmd.env("API_HOST", "127.0.0.1")
        .env("API_PORT", &port)
        .env(var, value);
    let run = run(cmd, None, QUICK);
    assert_refused(&run, var);
    assert!(
        !world.db.exists(),
        "a refused configuration must not open the database\n{}",
        run.show()
    );
    drop(held);
}

/// Checks `run` is the configuration refusal naming `var`, not a bind (or any later) error.
fn assert_refused(run: &Run, var: &str) {
    run.assert_failed();
    assert!(
        run.elapsed < QUICK,
        "took {:?} to refuse\n{}",
        run.elapsed,
        run.show()
    );
    assert!(
        run.stderr.contains(var),
        "stderr must name {var}\n{}",
        run.show()
    );
    assert!(
        run.stderr.to_lowercase().contains("config"),
        "stderr must say it is a configuration error\n{}",
        run.show()
    );
    let lower = run.stderr.to_lowercase();
    assert!(
        !lower.contains("binding")
            && !lower.contains("address already in use")
            && !lower.contains("listening"),
        "the process got as far as binding\n{}",
        run.show()
    );
    assert!(
        run.stdout.trim().is_empty(),
        "nothing on stdout\n{}",
        run.show()
    );
}

#[test]
fn serve_refuses_a_session_duration_that_is_not_a_number() {
    assert_serve_refuses_env("SESSION_DURATION", "abc");
}

#[test]
fn serve_refuses_an_api_port_above_65535() {
    let world = World::new();
    let mut cmd = world.command(&["serve"]);
    cmd.env("API_HOST", "127.0.0.1").env("API_PORT", "70000");
    let run = run(cmd, None, QUICK);
    assert_refused(&run, "API_PORT");
    assert!(!world.db.exists(), "{}", run.show());
}

#[test]
fn serve_refuses_an_unknown_auth_type() {
    assert_serve_refuses_env("AUTH_TYPE", "magic");
}

#[test]
fn serve_refuses_a_database_url_that_is_neither_sqlite_nor_postgres() {
    assert_serve_refuses_env("DATABASE_URL", "mysql://x");
}

#[test]
fn serve_refuses_a_session_cookie_secure_that_is_not_a_boolean() {
    assert_serve_refuses_env("SESSION_COOKIE_SECURE", "maybe");
}

#[test]
fn serve_refuses_cors_origins_without_a_scheme() {
    assert_serve_refuses_env("CORS_ORIGINS", "example.com");
}

#[test]
fn serve_refuses_an_unknown_log_format() {
    assert_serve_refuses_env("LOG_FORMAT", "xml");
}

#[test]
fn serve_refuses_each_bad_value_given_as_a_flag_too() {
    for (var, flag, value) in BAD_VALUES {
        let world = World::new();
        let held = TcpListener::bind("127.0.0.1:0").expect("holding a port");
        let port = held.local_addr().expect("held address").port().to_string();
        let mut args = vec!["serve", "--api-host", "127.0.0.1"];
        if *var != "API_PORT" {
            args.extend(["--api-port", port.as_str()]);
        }
        args.extend([*flag, *value]);
        let run = run(world.command(&args), None, QUICK);
        assert_refused(&run, var);
        assert!(!world.db.exists(), "{flag} {value}\n{}", run.show());
        drop(held);
    }
}

#[test]
fn serve_refuses_a_session_duration_flag_that_is_not_a_number() {
    let world = World::new();
    let run = run(
        world.command(&["serve", "--session-duration", "abc"]),
        None,
        QUICK,
    );
    assert_refused(&run, "SESSION_DURATION");
}

#[test]
fn a_flag_overrides_a_good_environment_value_with_a_bad_one() {
    let world = World::new();
    let mut cmd = world.command(&["serve", "--auth-type", "magic"]);
    cmd.env("AUTH_TYPE", "session_db_auth").env("API_PORT", "0");
    let run = run(cmd, None, QUICK);
    assert_refused(&run, "AUTH_TYPE");
}

#[test]
fn sesame_without_a_subcommand_refuses_a_bad_configuration_like_serve() {
    let world = World::new();
    let mut cmd = world.command(&[]);
    cmd.env("API_HOST", "127.0.0.1")
        .env("API_PORT", "0")
        .env("SESSION_DURATION", "abc");
    let run = run(cmd, None, QUICK);
    assert_refused(&run, "SESSION_DURATION");
}

#[test]
fn serve_with_a_good_configuration_on_a_port_already_taken_fails_with_a_bind_error() {
    // The counterpart of the refusals above: the held-port setup does make a bind fail, so a
    // configuration error there really was reported before binding.
    let world = World::new();
    let held = TcpListener::bind("127.0.0.1:0").expect("holding a port");
    let port = held.local_addr().expect("held address").port().to_string();
    let mut cmd = world.command(&["serve"]);
    cmd.env("API_HOST", "127.0.0.1").env("API_PORT", &port);
    let run = run(cmd, None, QUICK);
    run.assert_failed();
    assert!(
        run.stderr.contains("binding"),
        "expected a bind error\n{}",
        run.show()
    );
    assert!(
        !run.stderr.contains("configuration error"),
        "{}",
        run.show()
    );
    drop(held);
}

// ---------------------------------------------------------------------------------------------
// check-config and --help.
// ---------------------------------------------------------------------------------------------

#[test]
fn check_config_exits_zero_and_prints_ok_on_a_good_configuration() {
    let world = World::new();
    let run = world.run(&["check-config"]);
    run.assert_ok();
    assert!(run.stdout.contains("OK"), "{}", run.show());
    assert!(world.db.exists(), "it reached (and created) the database");
}

#[test]
fn check_config_counts_the_users_in_the_database() {
    let world = World::new();
    world
        .run_with_stdin(
            &[
                "user",
                "create",
                "--email",
                "a@example.com",
                "--password-stdin",
            ],
            "password-one\n",
        )
        .assert_ok();
    let run = world.run(&["check-config"]);
    run.assert_ok();
    assert_eq!(counts(&run.stdout), [1], "reports one user\n{}", run.show());
}

#[test]
fn check_config_fails_on_a_bad_configuration_naming_the_variable() {
    for (var, _, value) in BAD_VALUES {
        let world = World::new();
        let mut cmd = world.command(&["check-config"]);
        cmd.env(var, value);
        let run = run(cmd, None, QUICK);
        assert_refused(&run, var);
    }
}

#[test]
fn check_config_fails_when_the_database_cannot_be_opened() {
    let world = World::new();
    let missing = world.dir.path().join("no-such-dir").join("t.db");
    let mut cmd = world.command(&["check-config"]);
    cmd.env("DATABASE_URL", format!("sqlite://{}", missing.display()));
    let run = run(cmd, None, LIMIT);
    run.assert_failed();
    assert!(!run.stdout.contains("OK"), "{}", run.show());
    assert!(!run.stderr.trim().is_empty(), "says why\n{}", run.show());
}

#[test]
fn help_lists_serve_user_sessions_and_check_config() {
    let world = World::new();
    let run = world.run(&["--help"]);
    run.assert_ok();
    for sub in ["serve", "user", "sessions", "check-config"] {
        assert!(
            run.stdout
                .lines()
                .any(|l| l.split_whitespace().next() == Some(sub)),
            "--help lists {sub}\n{}",
            run.show()
        );
    }
    assert!(!world.db.exists(), "--help touches no database");
}

#[test]
fn help_never_shows_a_value_taken_from_the_environment() {
    let world = World::new();
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["user", "create", "--help"],
        &["import", "--help"],
        &["check-config", "--help"],
    ] {
        let mut cmd = world.command(args);
        cmd.env(
            "DATABASE_URL",
            "postgres://app:s3cret-db-pw@db.internal/sesame",
        )
        .env(
            "SESSION_STORE_URL",
            "redis://:s3cret-redis-pw@cache.internal/0",
        )
        .env("CORS_ORIGINS", "https://s3cret-origin.example");
        let run = run(cmd, None, QUICK);
        run.assert_ok();
        assert!(run.stdout.contains("DATABASE_URL"), "{}", run.show());
        assert!(
            !run.says("s3cret"),
            "{args:?} shows a secret\n{}",
            run.show()
        );
    }
}

#[test]
fn user_help_lists_create_list_delete_set_admin_reset_mfa_and_passwd() {
    let world = World::new();
    let run = world.run(&["user", "--help"]);
    run.assert_ok();
    for sub in [
        "create",
        "list",
        "delete",
        "set-admin",
        "reset-mfa",
        "passwd",
    ] {
        assert!(
            run.stdout
                .lines()
                .any(|l| l.split_whitespace().next() == Some(sub)),
            "user --help lists {sub}\n{}",
            run.show()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// sesame user ...
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn user_create_with_password_stdin_makes_an_admin_that_user_list_shows() {
    let world = World::new();
    let run = world.run_with_stdin(
        &[
            "user",
            "create",
            "--email",
            "Admin@Example.com",
            "--first-name",
            "Ada",
            "--last-name",
            "Lovelace",
            "--admin",
            "--password-stdin",
        ],
        "correct horse battery\n",
    );
    run.assert_ok();

    let stored = world
        .store()
        .get_by_email("admin@example.com")
        .await
        .expect("reading the store")
        .expect("the user exists");
    assert_eq!(
        stored.email, "Admin@Example.com",
        "the email is kept as given"
    );
    assert!(stored.is_admin);
    assert_eq!(stored.first_name.as_deref(), Some("Ada"));
    assert_eq!(stored.last_name.as_deref(), Some("Lovelace"));
    let hash = stored.password_hash.as_deref().unwrap_or_default();
    assert!(
        hash.starts_with("$argon2id$"),
        "an Argon2id hash, got {hash:?}"
    );
    assert!(
        verifies(hash, "correct horse battery").await,
        "the piped password is the one set"
    );
    assert!(
        run.stdout.contains(&stored.id),
        "reports the new id\n{}",
        run.show()
    );
    assert!(
        !run.stdout.contains("correct horse"),
        "never echoes the password"
    );
    assert!(
        !run.stderr.contains("correct horse"),
        "never logs the password"
    );

    let rows = world.list();
    assert_eq!(
        rows,
        vec![(
            stored.id.clone(),
            "Admin@Example.com".to_owned(),
            "admin".to_owned()
        )]
    );
}

#[tokio::test]
async fn user_create_takes_the_password_line_without_its_line_ending() {
    let world = World::new();
    world
        .run_with_stdin(
            &[
                "user",
                "create",
                "--email",
                "crlf@example.com",
                "--password-stdin",
            ],
            "windows-line\r\n",
        )
        .assert_ok();
    let hash = world
        .store()
        .get_by_email("crlf@example.com")
        .await
        .expect("store")
        .expect("user")
        .password_hash
        .expect("a hash");
    assert!(
        verifies(&hash, "windows-line").await,
        "the password is the line without CRLF"
    );
    assert!(!verifies(&hash, "windows-line\r").await);

    // Seven characters and a CRLF are seven characters: too short.
    let short = world.run_with_stdin(
        &[
            "user",
            "create",
            "--email",
            "short@example.com",
            "--password-stdin",
        ],
        "1234567\r\n",
    );
    short.assert_failed();
    assert!(short.stderr.contains("too short"), "{}", short.show());
}

#[tokio::test]
async fn user_create_of_the_same_email_in_another_case_fails_as_already_registered() {
    let world = World::new();
    world
        .create_user("Admin@Example.com", "password-one", true)
        .await;
    let run = world.run_with_stdin(
        &[
            "user",
            "create",
            "--email",
            "admin@EXAMPLE.com",
            "--password-stdin",
        ],
        "password-two\n",
    );
    run.assert_failed();
    assert!(
        run.stderr.contains("already registered"),
        "says the email is registered\n{}",
        run.show()
    );
    assert_eq!(world.list().len(), 1, "no second user");
}

#[test]
fn user_create_with_a_password_under_eight_characters_fails() {
    let world = World::new();
    let run = world.run_with_stdin(
        &[
            "user",
            "create",
            "--email",
            "a@example.com",
            "--password-stdin",
        ],
        "seven77\n",
    );
    run.assert_failed();
    assert!(
        run.stderr.contains("password") && run.stderr.contains('8'),
        "states the password policy\n{}",
        run.show()
    );
    assert!(world.list().is_empty(), "no user was made");
}

#[test]
fn user_create_with_an_invalid_email_fails() {
    let world = World::new();
    let run = world.run_with_stdin(
        &[
            "user",
            "create",
            "--email",
            "not-an-email",
            "--password-stdin",
        ],
        "long-enough-password\n",
    );
    run.assert_failed();
    assert!(run.stderr.contains("email"), "{}", run.show());
    assert!(world.list().is_empty());
}

#[test]
fn user_create_without_password_stdin_and_no_terminal_fails_pointing_at_password_stdin() {
    let world = World::new();
    let run = world.run(&["user", "create", "--email", "a@example.com", "--admin"]);
    run.assert_failed();
    assert!(
        run.stderr.contains("--password-stdin"),
        "tells how to pass the password\n{}",
        run.show()
    );
    assert!(world.list().is_empty(), "no user was made");
}

#[tokio::test]
async fn user_set_admin_off_shows_a_dash_in_the_list_and_set_admin_by_id_restores_it() {
    let world = World::new();
    let id = world
        .create_user("boss@example.com", "password-one", true)
        .await;

    let run = world.run(&["user", "set-admin", "boss@example.com", "--off"]);
    run.assert_ok();
    assert_eq!(
        world.list(),
        vec![(id.clone(), "boss@example.com".to_owned(), "-".to_owned())]
    );
    let stored = UserStore::get(&world.store(), &id)
        .await
        .expect("store")
        .expect("user");
    assert!(!stored.is_admin);

    world.run(&["user", "set-admin", &id]).assert_ok();
    assert_eq!(
        world.list(),
        vec![(id, "boss@example.com".to_owned(), "admin".to_owned())]
    );
}

#[test]
fn user_set_admin_of_an_unknown_user_fails_naming_it() {
    let world = World::new();
    let run = world.run(&["user", "set-admin", "ghost@example.com"]);
    run.assert_failed();
    assert!(run.stderr.contains("ghost@example.com"), "{}", run.show());
}

#[tokio::test]
async fn user_delete_by_email_removes_the_user_and_ends_their_sessions() {
    let world = World::new();
    let id = world
        .create_user("gone@example.com", "password-one", false)
        .await;
    let keep = world
        .create_user("stay@example.com", "password-two", false)
        .await;
    let store = world.store();
    let digest = insert_session(&store, &id, now()).await;
    let other = insert_session(&store, &keep, now()).await;

    let run = world.run(&["user", "delete", "gone@example.com"]);
    run.assert_ok();
    assert!(run.stdout.contains(&id), "{}", run.show());

    let rows = world.list();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].1, "stay@example.com");
    assert!(
        store
            .get_by_email("gone@example.com")
            .await
            .expect("store")
            .is_none()
    );
    assert!(
        !session_exists(&store, &digest).await,
        "their session ended"
    );
    assert!(
        session_exists(&store, &other).await,
        "others' sessions stay"
    );
}

#[tokio::test]
async fn user_delete_by_id_removes_the_user() {
    let world = World::new();
    let id = world
        .create_user("byid@example.com", "password-one", false)
        .await;
    world.run(&["user", "delete", &id]).assert_ok();
    assert!(world.list().is_empty());
}

#[test]
fn user_delete_of_an_unknown_user_fails_naming_it() {
    let world = World::new();
    let run = world.run(&["user", "delete", "nobody@example.com"]);
    run.assert_failed();
    assert!(
        run.stderr.contains("nobody@example.com"),
        "names the unknown user\n{}",
        run.show()
    );
}

#[tokio::test]
async fn user_passwd_with_password_stdin_replaces_the_hash_and_ends_the_sessions() {
    let world = World::new();
    let id = world
        .create_user("pw@example.com", "first-password", false)
        .await;
    let store = world.store();
    let before = store
        .get_by_email("pw@example.com")
        .await
        .expect("store")
        .expect("user")
        .password_hash
        .expect("a hash");
    let s1 = insert_session(&store, &id, now()).await;
    let s2 = insert_session(&store, &id, now()).await;

    let run = world.run_with_stdin(
        &["user", "passwd", "pw@example.com", "--password-stdin"],
        "second-password\n",
    );
    run.assert_ok();
    assert_eq!(
        counts(&run.stdout),
        [2],
        "reports the sessions ended\n{}",
        run.show()
    );
    assert!(!run.stdout.contains("second-password"));
    assert!(!run.stderr.contains("second-password"));

    let after = store
        .get_by_email("pw@example.com")
        .await
        .expect("store")
        .expect("user")
        .password_hash
        .expect("a hash");
    assert_ne!(before, after, "the hash changed");
    assert!(
        after.starts_with("$argon2id$"),
        "an Argon2id hash, got {after:?}"
    );
    assert!(
        verifies(&after, "second-password").await,
        "the new password works"
    );
    assert!(
        !verifies(&after, "first-password").await,
        "the old one does not"
    );
    assert!(!session_exists(&store, &s1).await);
    assert!(!session_exists(&store, &s2).await);
}

#[tokio::test]
async fn user_passwd_with_a_short_password_fails_and_keeps_the_old_hash() {
    let world = World::new();
    world
        .create_user("pw@example.com", "first-password", false)
        .await;
    let store = world.store();
    let before = store
        .get_by_email("pw@example.com")
        .await
        .expect("store")
        .expect("user");

    let run = world.run_with_stdin(
        &["user", "passwd", "pw@example.com", "--password-stdin"],
        "short\n",
    );
    run.assert_failed();
    assert!(run.stderr.contains("too short"), "{}", run.show());

    let after = store
        .get_by_email("pw@example.com")
        .await
        .expect("store")
        .expect("user");
    assert_eq!(before.password_hash, after.password_hash);
}

#[test]
fn user_passwd_without_password_stdin_and_no_terminal_fails_pointing_at_password_stdin() {
    let world = World::new();
    world
        .run_with_stdin(
            &[
                "user",
                "create",
                "--email",
                "pw@example.com",
                "--password-stdin",
            ],
            "first-password\n",
        )
        .assert_ok();
    let run = world.run(&["user", "passwd", "pw@example.com"]);
    run.assert_failed();
    assert!(run.stderr.contains("--password-stdin"), "{}", run.show());
}

#[test]
fn user_passwd_of_an_unknown_user_fails_naming_it() {
    let world = World::new();
    let run = world.run_with_stdin(
        &["user", "passwd", "ghost@example.com", "--password-stdin"],
        "long-enough-password\n",
    );
    run.assert_failed();
    assert!(run.stderr.contains("ghost@example.com"), "{}", run.show());
}

// ---------------------------------------------------------------------------------------------
// sesame sessions ...
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn sessions_purge_deletes_sessions_older_than_the_default_duration_and_keeps_fresh_ones() {
    let world = World::new();
    let id = world
        .create_user("s@example.com", "password-one", false)
        .await;
    let store = world.store();
    let old = insert_session(&store, &id, 0).await;
    let fresh = insert_session(&store, &id, now()).await;

    let run = world.run(&["sessions", "purge"]);
    run.assert_ok();
    assert_eq!(counts(&run.stdout), [1], "{}", run.show());

    assert!(
        !session_exists(&store, &old).await,
        "the old session is gone"
    );
    assert!(
        session_exists(&store, &fresh).await,
        "the fresh session stays"
    );

    let again = world.run(&["sessions", "purge"]);
    again.assert_ok();
    assert_eq!(counts(&again.stdout), [0], "{}", again.show());
}

#[tokio::test]
async fn sessions_purge_with_no_absolute_lifetime_keeps_old_sessions() {
    let world = World::new();
    let id = world
        .create_user("s@example.com", "password-one", false)
        .await;
    let store = world.store();
    let old = insert_session(&store, &id, 0).await;

    let mut cmd = world.command(&["sessions", "purge"]);
    cmd.env("SESSION_DURATION", "0");
    let run = run(cmd, None, LIMIT);
    run.assert_ok();
    assert_eq!(counts(&run.stdout), [0], "{}", run.show());
    assert!(session_exists(&store, &old).await);
}

#[tokio::test]
async fn sessions_purge_honours_a_session_duration_given_as_a_flag() {
    let world = World::new();
    let id = world
        .create_user("s@example.com", "password-one", false)
        .await;
    let store = world.store();
    let hour_old = insert_session(&store, &id, now() - 3600).await;
    let fresh = insert_session(&store, &id, now()).await;

    let run = world.run(&["sessions", "purge", "--session-duration", "60"]);
    run.assert_ok();
    assert_eq!(counts(&run.stdout), [1], "{}", run.show());
    assert!(!session_exists(&store, &hour_old).await);
    assert!(session_exists(&store, &fresh).await);
}

#[tokio::test]
async fn sessions_revoke_ends_every_session_of_the_user_and_no_one_else() {
    let world = World::new();
    let id = world
        .create_user("r@example.com", "password-one", false)
        .await;
    let other = world
        .create_user("o@example.com", "password-two", false)
        .await;
    let store = world.store();
    insert_session(&store, &id, 0).await;
    insert_session(&store, &id, now()).await;
    insert_session(&store, &id, now()).await;
    let kept = insert_session(&store, &other, now()).await;

    let run = world.run(&["sessions", "revoke", "--user", "R@Example.com"]);
    run.assert_ok();
    assert_eq!(counts(&run.stdout), [3], "{}", run.show());
    assert!(run.stdout.contains("r@example.com"), "{}", run.show());

    assert!(store.list_for_user(&id).await.expect("store").is_empty());
    assert!(session_exists(&store, &kept).await);
    assert_eq!(store.list_for_user(&other).await.expect("store").len(), 1);

    let again = world.run(&["sessions", "revoke", "--user", &id]);
    again.assert_ok();
    assert_eq!(counts(&again.stdout), [0], "{}", again.show());
}

#[test]
fn sessions_revoke_of_an_unknown_user_fails_naming_it() {
    let world = World::new();
    let run = world.run(&["sessions", "revoke", "--user", "ghost@example.com"]);
    run.assert_failed();
    assert!(run.stderr.contains("ghost@example.com"), "{}", run.show());
}

#[test]
fn commands_refuse_a_bad_configuration_before_touching_the_database() {
    for args in [
        &["user", "list"][..],
        &["sessions", "purge"][..],
        &["sessions", "revoke", "--user", "a@example.com"][..],
    ] {
        let world = World::new();
        let mut cmd = world.command(args);
        cmd.env("SESSION_DURATION", "abc");
        let run = run(cmd, None, QUICK);
        assert_refused(&run, "SESSION_DURATION");
        assert!(!world.db.exists(), "{args:?}\n{}", run.show());
    }
}

#[test]
fn serve_refuses_the_other_bad_values_naming_their_variables() {
    for (var, value) in [
        ("API_HOST", "nowhere"),
        ("SESSION_NAME", "a b"),
        ("SESSION_IDLE_TIMEOUT", "-1"),
        ("SESSION_IDLE_TIMEOUT", "1.5"),
        ("SESSION_STORE_URL", "http://x"),
        ("RUST_LOG", "foo=notalevel"),
        ("AUTH_TYPE", "SESSION_DB_AUTH"),
        ("CORS_ORIGINS", "https://a.example.com,ftp://b"),
    ] {
        assert_serve_refuses_env(var, value);
    }
}

#[test]
fn an_empty_value_is_refused_rather_than_defaulted() {
    for var in [
        "API_HOST",
        "API_PORT",
        "AUTH_TYPE",
        "SESSION_NAME",
        "SESSION_DURATION",
        "SESSION_IDLE_TIMEOUT",
        "DATABASE_URL",
        "SESSION_COOKIE_SECURE",
        "CORS_ORIGINS",
        "LOG_FORMAT",
    ] {
        assert_serve_refuses_env(var, "");
    }
}

#[test]
fn a_negative_session_duration_flag_is_accepted_as_no_absolute_expiry() {
    let world = World::new();
    let run = world.run(&["check-config", "--session-duration", "-5"]);
    run.assert_ok();
    assert!(run.stdout.contains("OK"), "{}", run.show());
}

#[test]
fn a_negative_number_given_as_a_flag_is_refused_naming_its_variable() {
    for (var, flag, value) in [
        ("SESSION_IDLE_TIMEOUT", "--session-idle-timeout", "-5"),
        ("API_PORT", "--api-port", "-1"),
    ] {
        let world = World::new();
        let run = run(world.command(&["serve", flag, value]), None, QUICK);
        assert_refused(&run, var);
    }
}
