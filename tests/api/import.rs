//! `sesame import`: the real binary reads files written exactly as the original Python system
//! writes them (`json.dump`: one line, `", "` and `": "` separators, no trailing newline,
//! non-ASCII escaped as `\uXXXX`, astral characters as surrogate pairs), logs an audit event for
//! each record it writes, and the real server then serves the imported users and sessions.
//!
//! Every test has its own temporary directory and database, with every configuration variable
//! removed from the inherited environment. The database is checked through the library's own
//! `SqliteStore`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use sesame::domain::{User, token_digest};
use sesame::store::sqlite::SqliteStore;
use sesame::store::{SessionStore, UserStore};
use sha2::{Digest as _, Sha256};
use tempfile::TempDir;

use crate::support::{Run, TestApp};

/// Longest an import may take.
const LIMIT: Duration = Duration::from_secs(60);

// The sample: two users, two sessions, as the original writes them.

/// The password of [`ZOE`], whose `_password` is its unsalted SHA-256.
const ZOE_PASSWORD: &str = "Legacy pwd 98!";
const ZOE: &str = "5f2a4c1e-8b7d-4e3a-9c6f-1a2b3c4d5e6f";
const ZOE_SHA256: &str = "066ac92a32f07ae3e9c16d52ff6b276f36cdf2d3e41d582071bde86ce8cb401f";
/// A user with a `null` password and `null` names.
const NOPASS: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
/// Zoë's session (record id; the cookie value is [`ZOE_COOKIE`]).
const ZOE_SESSION: &str = "0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6";
const ZOE_COOKIE: &str = "6c5e0b0e-2f4d-4b8a-a1c3-9d7e5f3b1a08";
/// 2023-12-31T23:00:00Z, when Zoë's session was created.
const ZOE_SESSION_CREATED: i64 = 1_704_063_600;
/// A session whose user was deleted in the original.
const ORPHAN_SESSION: &str = "7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918";

/// `.db_User.json` as Python's `json.dump` wrote it (checked against the encoder below, which
/// the malformed cases use).
const USERS_JSON: &str = r#"{"5f2a4c1e-8b7d-4e3a-9c6f-1a2b3c4d5e6f": {"id": "5f2a4c1e-8b7d-4e3a-9c6f-1a2b3c4d5e6f", "created_at": "2017-09-24T10:11:12", "updated_at": "2018-01-02T03:04:05", "email": "zoe@hbtn.io", "_password": "066ac92a32f07ae3e9c16d52ff6b276f36cdf2d3e41d582071bde86ce8cb401f", "first_name": "Zo\u00eb \ud83e\udd80", "last_name": "d'Arc \"Jo\""}, "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d": {"id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "created_at": "2019-05-06T07:08:09", "updated_at": "2019-05-06T07:08:09", "email": "NoPass@Hbtn.io", "_password": null, "first_name": null, "last_name": null}}"#;

/// `.db_UserSession.json` as Python's `json.dump` wrote it.
const SESSIONS_JSON: &str = r#"{"0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6": {"id": "0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6", "created_at": "2023-12-31T23:00:00", "updated_at": "2023-12-31T23:00:00", "email": null, "_password": null, "first_name": null, "last_name": null, "user_id": "5f2a4c1e-8b7d-4e3a-9c6f-1a2b3c4d5e6f", "session_id": "6c5e0b0e-2f4d-4b8a-a1c3-9d7e5f3b1a08"}, "7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918": {"id": "7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918", "created_at": "2023-12-30T12:00:00", "updated_at": "2023-12-30T12:00:00", "email": null, "_password": null, "first_name": null, "last_name": null, "user_id": "11111111-2222-4333-8444-555555555555", "session_id": "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e"}}"#;

// ---------------------------------------------------------------------------------------------
// Writing JSON the way Python's json.dump does (ensure_ascii, default separators).
// ---------------------------------------------------------------------------------------------

/// A JSON value of a record field.
#[derive(Clone, Copy)]
enum Py<'a> {
    /// A string, escaped as Python escapes it.
    S(&'a str),
    /// `null`.
    Null,
    /// Anything else, written as given (`42`, `true`, ...).
    Raw(&'a str),
}

/// A string as Python's `json.dump` writes it: everything outside `' '..='~'` escaped, non-BMP
/// characters as surrogate pairs, lowercase hex.
fn py_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
    }
    out.push('"');
    out
}

fn py_value(v: Py<'_>) -> String {
    match v {
        Py::S(s) => py_str(s),
        Py::Null => "null".into(),
        Py::Raw(r) => r.into(),
    }
}

/// One record: its fields in order.
type Fields<'a> = Vec<(&'a str, Py<'a>)>;

fn py_record(fields: &Fields<'_>) -> String {
    let inner: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}: {}", py_str(k), py_value(*v)))
        .collect();
    format!("{{{}}}", inner.join(", "))
}

/// A whole file: `{key: record, ...}` on one line, no trailing newline.
fn py_dump(records: &[(&str, Fields<'_>)]) -> String {
    let inner: Vec<String> = records
        .iter()
        .map(|(k, f)| format!("{}: {}", py_str(k), py_record(f)))
        .collect();
    format!("{{{}}}", inner.join(", "))
}

/// A user record as the original writes it: valid, with no password and no names.
fn user<'a>(id: &'a str, email: &'a str) -> Fields<'a> {
    vec![
        ("id", Py::S(id)),
        ("created_at", Py::S("2020-01-02T03:04:05")),
        ("updated_at", Py::S("2020-01-02T03:04:05")),
        ("email", Py::S(email)),
        ("_password", Py::Null),
        ("first_name", Py::Null),
        ("last_name", Py::Null),
    ]
}

/// A session record as the original writes it.
fn session<'a>(id: &'a str, user_id: &'a str, cookie: &'a str) -> Fields<'a> {
    vec![
        ("id", Py::S(id)),
        ("created_at", Py::S("2023-12-31T23:00:00")),
        ("updated_at", Py::S("2023-12-31T23:00:00")),
        ("email", Py::Null),
        ("_password", Py::Null),
        ("first_name", Py::Null),
        ("last_name", Py::Null),
        ("user_id", Py::S(user_id)),
        ("session_id", Py::S(cookie)),
    ]
}

/// `fields` with `key` set to `value` (in place, or appended if absent).
fn set<'a>(mut fields: Fields<'a>, key: &'a str, value: Py<'a>) -> Fields<'a> {
    match fields.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = value,
        None => fields.push((key, value)),
    }
    fields
}

/// `fields` without `key`.
fn without<'a>(mut fields: Fields<'a>, key: &str) -> Fields<'a> {
    fields.retain(|(k, _)| *k != key);
    fields
}

/// Spawns `cmd` with stdin closed and waits at most [`LIMIT`] for it.
fn run(cmd: Command) -> Run {
    crate::support::run_command(cmd, None, LIMIT)
}

/// One test's world: a temporary directory with the database and the original's files.
struct World {
    dir: TempDir,
    db: PathBuf,
    from: PathBuf,
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let db = dir.path().join("t.db");
        let from = dir.path().join("original");
        std::fs::create_dir(&from).expect("the import directory");
        Self { dir, db, from }
    }

    fn database_url(&self) -> String {
        format!("sqlite://{}", self.db.display())
    }

    /// Writes one of the original's files (exactly `text`, no newline added).
    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.from.join(name), text).expect("writing a sample file");
    }

    fn write_users(&self, text: &str) {
        self.write(".db_User.json", text);
    }

    fn write_sessions(&self, text: &str) {
        self.write(".db_UserSession.json", text);
    }

    /// `sesame import --from <dir> EXTRA...` with a clean environment, this world's database
    /// and the log filter `rust_log`.
    fn import_command(&self, extra: &[&str], rust_log: &str) -> Command {
        let mut cmd = crate::support::sesame_command();
        cmd.env("DATABASE_URL", self.database_url())
            .env("RUST_LOG", rust_log)
            .current_dir(self.dir.path())
            .arg("import")
            .arg("--from")
            .arg(&self.from)
            .args(extra);
        cmd
    }

    /// `sesame import --from <dir> EXTRA...`, logging warnings only.
    fn import(&self, extra: &[&str]) -> Run {
        run(self.import_command(extra, "warn"))
    }

    /// `sesame import --from <dir>` logging at `info` as JSON lines; returns the run and its
    /// audit events (the log lines with target `audit`).
    fn import_audited(&self) -> (Run, Vec<Value>) {
        let mut cmd = self.import_command(&[], "info");
        cmd.env("LOG_FORMAT", "json");
        let run = run(cmd);
        let audit = run
            .stderr
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|v| v["target"] == "audit")
            .collect();
        (run, audit)
    }

    /// The same database file, opened through the library.
    fn store(&self) -> SqliteStore {
        SqliteStore::open_file(&self.db).expect("opening the test database")
    }

    async fn user(&self, id: &str) -> Option<User> {
        UserStore::get(&self.store(), id)
            .await
            .expect("reading a user")
    }

    async fn user_count(&self) -> u64 {
        UserStore::count(&self.store())
            .await
            .expect("counting users")
    }

    async fn has_session_of(&self, cookie: &str) -> bool {
        SessionStore::get(&self.store(), &token_digest(cookie))
            .await
            .expect("reading a session")
            .is_some()
    }

    /// Makes a user directly in the store (as if made by sesame before the import).
    async fn existing_user(&self, id: &str, email: &str) -> User {
        let user = User {
            id: id.into(),
            email: email.into(),
            password_hash: None,
            first_name: Some("Already".into()),
            last_name: Some("Here".into()),
            created_at: 1_600_000_000,
            updated_at: 1_600_000_000,
            is_admin: false,
        };
        UserStore::create(&self.store(), &user)
            .await
            .expect("creating a user");
        user
    }

    /// A server on this world's database (in-process, manual clock at the support's `T0`).
    async fn serve(&self, session_duration: &str) -> TestApp {
        let url = self.database_url();
        let duration = session_duration.to_owned();
        TestApp::spawn_with(move |c| {
            c.database_url = url;
            c.auth_type = "session_db_auth".into();
            c.session_duration = duration;
        })
        .await
    }
}

/// The sample imported into a new world.
fn imported_sample() -> (World, Run) {
    let world = World::new();
    world.write_users(USERS_JSON);
    world.write_sessions(SESSIONS_JSON);
    let run = world.import(&[]);
    run.assert_ok();
    (world, run)
}

// ---------------------------------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------------------------------

#[test]
fn the_sample_files_are_what_python_json_dump_writes() {
    for text in [USERS_JSON, SESSIONS_JSON] {
        assert!(text.is_ascii() && !text.contains('\n'));
    }
    let zoe = set(
        set(
            set(
                set(
                    user(ZOE, "zoe@hbtn.io"),
                    "created_at",
                    Py::S("2017-09-24T10:11:12"),
                ),
                "updated_at",
                Py::S("2018-01-02T03:04:05"),
            ),
            "_password",
            Py::S(ZOE_SHA256),
        ),
        "first_name",
        Py::S("Zoë 🦀"),
    );
    let zoe = set(zoe, "last_name", Py::S("d'Arc \"Jo\""));
    let nopass = set(
        set(
            user(NOPASS, "NoPass@Hbtn.io"),
            "created_at",
            Py::S("2019-05-06T07:08:09"),
        ),
        "updated_at",
        Py::S("2019-05-06T07:08:09"),
    );
    assert_eq!(py_dump(&[(ZOE, zoe), (NOPASS, nopass)]), USERS_JSON);
    let orphan = set(
        set(
            session(
                ORPHAN_SESSION,
                "11111111-2222-4333-8444-555555555555",
                "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e",
            ),
            "created_at",
            Py::S("2023-12-30T12:00:00"),
        ),
        "updated_at",
        Py::S("2023-12-30T12:00:00"),
    );
    assert_eq!(
        py_dump(&[
            (ZOE_SESSION, session(ZOE_SESSION, ZOE, ZOE_COOKIE)),
            (ORPHAN_SESSION, orphan)
        ]),
        SESSIONS_JSON
    );
    assert_eq!(
        hex::encode(Sha256::digest(ZOE_PASSWORD.as_bytes())),
        ZOE_SHA256
    );
    assert_eq!(py_str("\u{7f}é\n"), r#""\u007f\u00e9\n""#);
}

#[tokio::test]
async fn imports_users_and_sessions_keeping_ids_emails_names_and_timestamps() {
    let (world, run) = imported_sample();
    assert!(
        run.stdout
            .contains("users: 2 imported, 0 already present, 0 skipped"),
        "{}",
        run.show()
    );
    assert!(
        run.stdout
            .contains("sessions: 1 imported, 0 already present, 1 skipped"),
        "{}",
        run.show()
    );
    assert!(
        run.stdout.contains(ORPHAN_SESSION),
        "the orphan is listed\n{}",
        run.show()
    );
    assert!(
        !run.says(ZOE_SHA256),
        "no hash in the output\n{}",
        run.show()
    );

    let zoe = world.user(ZOE).await.expect("Zoë imported");
    assert_eq!(zoe.email, "zoe@hbtn.io");
    assert_eq!(zoe.first_name.as_deref(), Some("Zoë 🦀"));
    assert_eq!(zoe.last_name.as_deref(), Some("d'Arc \"Jo\""));
    assert_eq!(zoe.created_at, 1_506_247_872); // 2017-09-24T10:11:12Z
    assert_eq!(zoe.updated_at, 1_514_862_245); // 2018-01-02T03:04:05Z
    assert_eq!(zoe.password_hash.as_deref(), Some(ZOE_SHA256));
    assert!(!zoe.is_admin);

    let nopass = world
        .user(NOPASS)
        .await
        .expect("the null-password user imported");
    assert_eq!(nopass.email, "NoPass@Hbtn.io", "emails are kept as written");
    assert_eq!(nopass.password_hash, None);
    assert_eq!((nopass.first_name, nopass.last_name), (None, None));
    assert_eq!(nopass.created_at, 1_557_126_489); // 2019-05-06T07:08:09Z
    assert!(!nopass.is_admin);

    let store = world.store();
    let s = SessionStore::get(&store, &token_digest(ZOE_COOKIE))
        .await
        .unwrap()
        .expect("the session is stored under the digest of its session_id");
    assert_eq!(
        s.id, ZOE_SESSION,
        "the record's own id is the public handle"
    );
    assert_eq!(s.user_id, ZOE);
    assert_eq!(
        (s.created_at, s.last_seen_at),
        (ZOE_SESSION_CREATED, ZOE_SESSION_CREATED)
    );
    assert_eq!((s.ip, s.user_agent), (None, None));
    assert!(
        SessionStore::get(&store, &token_digest(ZOE_SESSION))
            .await
            .unwrap()
            .is_none(),
        "the record id is not the cookie"
    );
    assert!(
        !world
            .has_session_of("b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e")
            .await
    );
    assert_eq!(world.user_count().await, 2);

    // A second run changes nothing, and says so.
    let again = world.import(&[]);
    again.assert_ok();
    assert!(
        again.stdout.contains("nothing to import"),
        "{}",
        again.show()
    );
    assert!(
        again
            .stdout
            .contains("users: 0 imported, 2 already present, 0 skipped"),
        "{}",
        again.show()
    );
    assert!(
        again
            .stdout
            .contains("sessions: 0 imported, 1 already present, 1 skipped"),
        "{}",
        again.show()
    );
    assert_eq!(world.user_count().await, 2);
    assert_eq!(world.user(ZOE).await, Some(zoe));
}

#[tokio::test]
async fn the_import_logs_an_audit_event_for_each_user_and_session_it_writes_and_no_secret() {
    let world = World::new();
    world.write_users(USERS_JSON);
    world.write_sessions(SESSIONS_JSON);
    let (run, audit) = world.import_audited();
    run.assert_ok();
    let of =
        |event: &str| -> Vec<&Value> { audit.iter().filter(|v| v["event"] == event).collect() };

    let users = of("user_imported");
    let mut ids: Vec<&str> = users.iter().filter_map(|v| v["user_id"].as_str()).collect();
    ids.sort_unstable();
    let mut expected = [ZOE, NOPASS];
    expected.sort_unstable();
    assert_eq!(
        ids,
        expected,
        "one user_imported per imported user\n{}",
        run.show()
    );
    let zoe = users.iter().find(|v| v["user_id"] == ZOE).unwrap();
    assert_eq!(zoe["legacy_password"], true, "{}", run.show());

    let sessions = of("session_imported");
    assert_eq!(
        sessions.len(),
        1,
        "only the session with a user\n{}",
        run.show()
    );
    assert_eq!(sessions[0]["session_id"], ZOE_SESSION, "{}", run.show());
    assert_eq!(sessions[0]["user_id"], ZOE, "{}", run.show());
    assert!(world.has_session_of(ZOE_COOKIE).await);

    for secret in [ZOE_SHA256, ZOE_COOKIE] {
        assert!(
            !run.says(secret),
            "a secret reached the output\n{}",
            run.show()
        );
    }

    // A second run writes nothing, so it logs no import event.
    let (again, audit) = world.import_audited();
    again.assert_ok();
    assert!(
        audit
            .iter()
            .all(|v| v["event"] != "user_imported" && v["event"] != "session_imported"),
        "{}",
        again.show()
    );
}

#[tokio::test]
async fn the_imported_session_and_the_legacy_password_work_on_the_real_server() {
    let (world, _) = imported_sample();
    let app = world.serve("0").await;

    let me = app.with_cookie(ZOE_COOKIE).get("/users/me").await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["id"], ZOE);
    assert_eq!(me.body["email"], "zoe@hbtn.io");
    assert_eq!(me.body["first_name"], "Zoë 🦀");
    assert_eq!(me.body["created_at"], "2017-09-24T10:11:12");
    assert_eq!(me.body["updated_at"], "2018-01-02T03:04:05");
    assert_eq!(me.body["is_admin"], false);
    assert_eq!(
        app.with_cookie(ZOE_SESSION).get("/users/me").await.status,
        403,
        "the record id is not a cookie"
    );

    let login = app.anon().login_form("zoe@hbtn.io", ZOE_PASSWORD).await;
    assert_eq!(login.status, 200, "{}", login.text);
    assert_eq!(login.body["id"], ZOE);
    let hash = world
        .user(ZOE)
        .await
        .unwrap()
        .password_hash
        .expect("a password hash");
    assert!(hash.starts_with("$argon2id$"), "upgraded at login");
    let again = app.anon().login_form("zoe@hbtn.io", ZOE_PASSWORD).await;
    assert_eq!(
        again.status, 200,
        "the upgraded hash verifies: {}",
        again.text
    );
    assert_eq!(
        app.anon().login_form("zoe@hbtn.io", "wrong").await.status,
        401
    );

    let nopass = app
        .anon()
        .login_form("NoPass@Hbtn.io", "anything at all")
        .await;
    nopass.assert_error(401, "wrong email or password");
}

#[tokio::test]
async fn an_imported_session_expires_session_duration_after_its_created_at() {
    let (world, _) = imported_sample();
    let app = world.serve("3600").await;
    app.clock.set(ZOE_SESSION_CREATED + 3599);
    let me = app.with_cookie(ZOE_COOKIE).get("/users/me").await;
    assert_eq!(me.status, 200, "{}", me.text);
    app.clock.set(ZOE_SESSION_CREATED + 3601);
    let me = app.with_cookie(ZOE_COOKIE).get("/users/me").await;
    me.assert_error(403, "Forbidden");
}

#[tokio::test]
async fn invalid_json_is_refused_naming_the_file_line_and_column_and_nothing_is_written() {
    let world = World::new();
    world.existing_user("already-1", "already@hbtn.io").await;

    // A missing comma, as a hand edit might leave it.
    let broken = USERS_JSON.replacen(r#"03:04:05", "email""#, r#"03:04:05" "email""#, 1);
    assert_ne!(broken, USERS_JSON);
    let column = broken.find(r#""email": "zoe"#).unwrap() + 1;
    world.write_users(&broken);
    world.write_sessions(SESSIONS_JSON);
    let run = world.import(&[]);
    run.assert_failed();
    assert!(run.stderr.contains(".db_User.json"), "{}", run.show());
    assert!(
        run.stderr.contains(&format!("line 1, column {column}")),
        "{}",
        run.show()
    );
    assert!(run.stderr.contains("expected `,` or `}`"), "{}", run.show());
    assert_eq!(world.user_count().await, 1, "nothing written");

    // A file cut short (the original crashed while writing it), with --skip-invalid too.
    world.write_users(&USERS_JSON[..100]);
    let run = world.import(&["--skip-invalid"]);
    run.assert_failed();
    assert!(
        run.stderr.contains(".db_User.json") && run.stderr.contains("line 1, column 100"),
        "{}",
        run.show()
    );
    assert_eq!(world.user_count().await, 1, "nothing written");

    // Valid users but broken sessions: no user is written either.
    world.write_users(USERS_JSON);
    world.write_sessions(&SESSIONS_JSON.replace("}}", "}"));
    let run = world.import(&[]);
    run.assert_failed();
    assert!(
        run.stderr.contains(".db_UserSession.json"),
        "{}",
        run.show()
    );
    assert!(run.stderr.contains("line 1, column"), "{}", run.show());
    assert_eq!(world.user_count().await, 1, "nothing written");
    assert!(world.user(ZOE).await.is_none());

    // A top level that is not an object.
    world.write_users("[]");
    let run = world.import(&[]);
    run.assert_failed();
    assert!(
        run.stderr.contains(".db_User.json") && run.stderr.contains("line 1, column"),
        "{}",
        run.show()
    );
    assert_eq!(world.user_count().await, 1);
}

/// Users breaking every rule once, plus two good ones; ids `u-...`.
fn bad_users_file() -> String {
    py_dump(&[
        ("u-good", user("u-good", "good@hbtn.io")),
        ("u-bad-email", user("u-bad-email", "not an email")),
        (
            "u-null-email",
            set(user("u-null-email", "x"), "email", Py::Null),
        ),
        ("u-no-email", without(user("u-no-email", "x"), "email")),
        (
            "u-num-email",
            set(user("u-num-email", "x"), "email", Py::Raw("42")),
        ),
        (
            "u-bad-created",
            set(
                user("u-bad-created", "c@hbtn.io"),
                "created_at",
                Py::S("2020-02-30T10:00:00"),
            ),
        ),
        (
            "u-bad-updated",
            set(
                user("u-bad-updated", "d@hbtn.io"),
                "updated_at",
                Py::S("2020-01-02 03:04:05"),
            ),
        ),
        (
            "u-bad-password",
            set(
                user("u-bad-password", "e@hbtn.io"),
                "_password",
                Py::S("abc123secret"),
            ),
        ),
        ("u-twin-1", user("u-twin-1", "Twin@hbtn.io")),
        ("u-twin-2", user("u-twin-2", "twin@HBTN.IO")),
        (
            "u-other-id",
            set(
                user("u-other-id", "f@hbtn.io"),
                "id",
                Py::S("somebody-else"),
            ),
        ),
        (
            "u-bad-name",
            set(
                user("u-bad-name", "g@hbtn.io"),
                "first_name",
                Py::Raw("[1]"),
            ),
        ),
        (
            "u-minimal",
            without(
                without(
                    without(user("u-minimal", "h@hbtn.io"), "_password"),
                    "first_name",
                ),
                "id",
            ),
        ),
    ])
}

/// (record id, field) of every problem in [`bad_users_file`].
const BAD_USERS: &[(&str, &str)] = &[
    ("u-bad-email", "email"),
    ("u-null-email", "email"),
    ("u-no-email", "email"),
    ("u-num-email", "email"),
    ("u-bad-created", "created_at"),
    ("u-bad-updated", "updated_at"),
    ("u-bad-password", "_password"),
    ("u-twin-2", "email"),
    ("u-other-id", "id"),
    ("u-bad-name", "first_name"),
];

#[tokio::test]
async fn strict_refuses_the_whole_import_naming_each_record_and_field() {
    let world = World::new();
    world.write_users(&bad_users_file());
    let run = world.import(&[]);
    run.assert_failed();
    assert!(run.stderr.contains(".db_User.json"), "{}", run.show());
    for (id, field) in BAD_USERS {
        assert!(
            run.stderr.contains(&format!("user \"{id}\": {field}:")),
            "{id} {field}\n{}",
            run.show()
        );
    }
    for good in ["u-good", "u-twin-1", "u-minimal"] {
        assert!(
            !run.stderr.contains(&format!("user \"{good}\":")),
            "{good}\n{}",
            run.show()
        );
    }
    assert!(
        !run.says("abc123secret"),
        "no password hash is shown\n{}",
        run.show()
    );
    assert!(run.stderr.contains("--skip-invalid"), "{}", run.show());
    assert_eq!(world.user_count().await, 0, "nothing written");
}

#[tokio::test]
async fn skip_invalid_imports_the_rest_and_lists_each_skipped_record() {
    let world = World::new();
    world.write_users(&bad_users_file());
    let run = world.import(&["--skip-invalid"]);
    run.assert_ok();
    assert!(
        run.stdout
            .contains("users: 3 imported, 0 already present, 10 skipped"),
        "{}",
        run.show()
    );
    assert!(run.stdout.contains("sessions: none"), "{}", run.show());
    for (id, field) in BAD_USERS {
        assert!(
            run.stdout.contains(&format!("user \"{id}\": {field}:")),
            "{id} {field}\n{}",
            run.show()
        );
        assert!(world.user(id).await.is_none(), "{id} skipped");
    }
    assert!(
        run.stdout.contains("\"u-twin-1\""),
        "the duplicate names the first\n{}",
        run.show()
    );
    let twin = world
        .user("u-twin-1")
        .await
        .expect("the first of the twins wins");
    assert_eq!(twin.email, "Twin@hbtn.io");
    let minimal = world
        .user("u-minimal")
        .await
        .expect("missing optional fields are fine");
    assert_eq!((minimal.password_hash, minimal.first_name), (None, None));
    assert!(world.user("u-good").await.is_some());
    assert_eq!(world.user_count().await, 3);

    let again = world.import(&["--skip-invalid"]);
    again.assert_ok();
    assert!(
        again.stdout.contains("nothing to import"),
        "{}",
        again.show()
    );
    assert!(
        again
            .stdout
            .contains("users: 0 imported, 3 already present, 10 skipped"),
        "{}",
        again.show()
    );
}

#[tokio::test]
async fn invalid_sessions_follow_the_same_rules() {
    let world = World::new();
    world.write_users(&py_dump(&[("u-1", user("u-1", "one@hbtn.io"))]));
    world.write_sessions(&py_dump(&[
        ("s-good", session("s-good", "u-1", "cookie-good")),
        (
            "s-no-token",
            without(session("s-no-token", "u-1", "x"), "session_id"),
        ),
        (
            "s-num-token",
            set(
                session("s-num-token", "u-1", "x"),
                "session_id",
                Py::Raw("7"),
            ),
        ),
        (
            "s-no-user",
            without(session("s-no-user", "u-1", "cookie-3"), "user_id"),
        ),
        (
            "s-bad-time",
            set(
                session("s-bad-time", "u-1", "cookie-4"),
                "created_at",
                Py::S("yesterday"),
            ),
        ),
        (
            "s-same-token",
            session("s-same-token", "u-1", "cookie-good"),
        ),
        ("s-orphan", session("s-orphan", "gone", "cookie-5")),
    ]));
    let bad = [
        ("s-no-token", "session_id"),
        ("s-num-token", "session_id"),
        ("s-no-user", "user_id"),
        ("s-bad-time", "created_at"),
        ("s-same-token", "session_id"),
    ];

    let run = world.import(&[]);
    run.assert_failed();
    assert!(
        run.stderr.contains(".db_UserSession.json"),
        "{}",
        run.show()
    );
    for (id, field) in bad {
        assert!(
            run.stderr.contains(&format!("session \"{id}\": {field}:")),
            "{id} {field}\n{}",
            run.show()
        );
    }
    assert!(
        !run.stderr.contains("s-orphan"),
        "an orphan is no error\n{}",
        run.show()
    );
    assert_eq!(world.user_count().await, 0, "nothing written");

    let run = world.import(&["--skip-invalid"]);
    run.assert_ok();
    assert!(
        run.stdout
            .contains("users: 1 imported, 0 already present, 0 skipped"),
        "{}",
        run.show()
    );
    assert!(
        run.stdout
            .contains("sessions: 1 imported, 0 already present, 6 skipped (1 whose user"),
        "{}",
        run.show()
    );
    for (id, field) in bad.iter().chain([&("s-orphan", "user_id")]) {
        assert!(
            run.stdout.contains(&format!("session \"{id}\": {field}:")),
            "{id} {field}\n{}",
            run.show()
        );
    }
    assert!(world.has_session_of("cookie-good").await);
    for cookie in ["cookie-3", "cookie-4", "cookie-5"] {
        assert!(!world.has_session_of(cookie).await, "{cookie}");
    }
}

#[tokio::test]
async fn an_email_registered_in_sesame_under_another_id_is_refused() {
    let world = World::new();
    world.existing_user("sesame-made", "ZOE@hbtn.io").await;
    world.write_users(USERS_JSON);
    let run = world.import(&[]);
    run.assert_failed();
    assert!(
        run.stderr.contains(&format!("user \"{ZOE}\": email:"))
            && run.stderr.contains("sesame-made"),
        "{}",
        run.show()
    );
    assert_eq!(world.user_count().await, 1);

    let run = world.import(&["--skip-invalid"]);
    run.assert_ok();
    assert!(
        run.stdout
            .contains("users: 1 imported, 0 already present, 1 skipped"),
        "{}",
        run.show()
    );
    assert!(world.user(NOPASS).await.is_some());
    assert_eq!(
        world.user("sesame-made").await.unwrap().email,
        "ZOE@hbtn.io"
    );
}

#[tokio::test]
async fn a_user_already_in_sesame_is_left_alone_and_keeps_its_sessions_importable() {
    let world = World::new();
    // Zoë was imported before and has changed her email since: sesame's record wins.
    let before = world.existing_user(ZOE, "zoe.new@hbtn.io").await;
    world.write_users(USERS_JSON);
    world.write_sessions(SESSIONS_JSON);
    let run = world.import(&[]);
    run.assert_ok();
    assert!(
        run.stdout
            .contains("users: 1 imported, 1 already present, 0 skipped"),
        "{}",
        run.show()
    );
    assert!(
        run.stdout
            .contains("sessions: 1 imported, 0 already present, 1 skipped"),
        "{}",
        run.show()
    );
    assert_eq!(world.user(ZOE).await, Some(before));
    assert!(world.has_session_of(ZOE_COOKIE).await);
}

#[test]
fn a_missing_user_file_is_a_clear_error() {
    let world = World::new();
    world.write_sessions(SESSIONS_JSON);
    let missing = world.import(&[]);
    missing.assert_failed();
    assert!(
        missing.stderr.contains(".db_User.json") && missing.stderr.contains("not found"),
        "{}",
        missing.show()
    );

    let mut cmd = crate::support::sesame_command();
    cmd.env("DATABASE_URL", world.database_url())
        .args(["import", "--from"])
        .arg(world.dir.path().join("no-such-dir"));
    let nodir = run(cmd);
    nodir.assert_failed();
    assert!(nodir.stderr.contains("no-such-dir"), "{}", nodir.show());
}

#[test]
fn empty_files_import_nothing_and_say_so() {
    let world = World::new();
    world.write_users("{}");
    world.write_sessions("{}");
    let run = world.import(&[]);
    run.assert_ok();
    assert!(run.stdout.contains("nothing to import"), "{}", run.show());
}
