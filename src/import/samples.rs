//! Test material for the import's tests: the original's files as Python's `json.dump` writes
//! them, date-times, odd records for the checkers, and a service over memory stores.

use std::fmt::Write as _;

use proptest::prelude::*;
use serde_json::{Value, json};
use time::{Date, Month, PrimitiveDateTime, Time};

use crate::service::Service;

/// Runs `f` to completion on a runtime of its own.
pub(super) fn run<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// A service over empty memory stores, with its clock at 0.
pub(super) fn memory_service() -> Service {
    Service::in_memory()
}

// ---- the original's files, as Python's `json.dump` writes them ----

/// A JSON string as Python's `json.dumps(s)` (`ensure_ascii=True`) writes it.
fn py_str(out: &mut String, s: &str) {
    out.push('"');
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
            c => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    write!(out, "\\u{u:04x}").unwrap();
                }
            }
        }
    }
    out.push('"');
}

/// An optional string as Python writes it: the string, or `null`.
fn py_opt_str(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => py_str(out, s),
        None => out.push_str("null"),
    }
}

/// A user record of the original system, its fields in the order it wrote them.
#[derive(Debug, Clone)]
pub(super) struct PyUser {
    pub(super) id: String,
    pub(super) created_at: String,
    pub(super) updated_at: String,
    pub(super) email: String,
    pub(super) password: Option<String>,
    pub(super) first_name: Option<String>,
    pub(super) last_name: Option<String>,
}

impl PyUser {
    /// The record as a JSON value.
    pub(super) fn value(&self) -> Value {
        json!({
            "id": self.id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "email": self.email,
            "_password": self.password,
            "first_name": self.first_name,
            "last_name": self.last_name,
        })
    }
}

/// `.db_User.json` as `json.dump(records, f)` writes it: one line, `", "` and `": "`.
pub(super) fn py_dump(users: &[PyUser]) -> String {
    let mut out = String::from("{");
    for (i, u) in users.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        py_str(&mut out, &u.id);
        out.push_str(": {\"id\": ");
        py_str(&mut out, &u.id);
        out.push_str(", \"created_at\": ");
        py_str(&mut out, &u.created_at);
        out.push_str(", \"updated_at\": ");
        py_str(&mut out, &u.updated_at);
        out.push_str(", \"email\": ");
        py_str(&mut out, &u.email);
        out.push_str(", \"_password\": ");
        py_opt_str(&mut out, u.password.as_deref());
        out.push_str(", \"first_name\": ");
        py_opt_str(&mut out, u.first_name.as_deref());
        out.push_str(", \"last_name\": ");
        py_opt_str(&mut out, u.last_name.as_deref());
        out.push('}');
    }
    out.push('}');
    out
}

#[test]
fn the_python_serializer_writes_what_python_writes() {
    // `json.dumps({"k": {"id": "é😀\"\n\x7f"}})` in CPython.
    let mut out = String::new();
    py_str(&mut out, "é😀\"\n\u{7f}");
    assert_eq!(out, r#""\u00e9\ud83d\ude00\"\n\u007f""#);
}

// ---- date-times ----

/// A date-time of years 0000 to 9999, and its text `YYYY-MM-DDTHH:MM:SS`.
pub(super) fn date_time() -> impl Strategy<Value = (PrimitiveDateTime, String)> {
    let first = Date::from_calendar_date(0, Month::January, 1)
        .unwrap()
        .to_julian_day();
    let last = Date::from_calendar_date(9999, Month::December, 31)
        .unwrap()
        .to_julian_day();
    (first..=last, 0u8..24, 0u8..60, 0u8..60).prop_map(|(jd, h, m, s)| {
        let date = Date::from_julian_day(jd).unwrap();
        let t = PrimitiveDateTime::new(date, Time::from_hms(h, m, s).unwrap());
        let text = format!(
            "{:04}-{:02}-{:02}T{h:02}:{m:02}:{s:02}",
            date.year(),
            u8::from(date.month()),
            date.day()
        );
        (t, text)
    })
}

// ---- odd records, for the checker ----

/// Values of every kind the checker meets, valid or not.
fn odd_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        Just(json!([])),
        Just(json!({"a": 1})),
        Just(json!("")),
        any::<String>().prop_map(Value::String),
        date_time().prop_map(|(_, s)| Value::String(s)),
        "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}".prop_map(Value::String),
        "[a-zA-Z0-9.]{1,8}@[a-z]{1,5}\\.[a-z]{2}".prop_map(Value::String),
        proptest::sample::select(vec![
            "taken@x.io",
            "TAKEN@X.IO",
            "a@b",
            "@b",
            "a@",
            "a@.b",
            "a b@c",
            "u1",
            "k1",
            "tok",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
        // Passwords: 64 hex digits (valid), or close to it; never written in a message.
        "[0-9a-fA-F]{64}".prop_map(Value::String),
        "PW[0-9a-f]{62,63}".prop_map(Value::String),
    ]
}

/// The fields of both kinds of record, and one the import ignores.
const FIELDS: &[&str] = &[
    "id",
    "email",
    "created_at",
    "updated_at",
    "_password",
    "first_name",
    "last_name",
    "session_id",
    "user_id",
    "extra",
];

/// A record of those fields with odd values, or not an object at all.
fn odd_record() -> impl Strategy<Value = Value> {
    let object = proptest::collection::btree_map(
        proptest::sample::select(FIELDS.to_vec()).prop_map(str::to_owned),
        odd_value(),
        0..10,
    )
    .prop_map(|m| Value::Object(m.into_iter().collect()));
    prop_oneof![1 => odd_value(), 4 => object]
}

/// A file of odd records, with empty, repeated and odd keys.
pub(super) fn odd_records() -> impl Strategy<Value = Vec<(String, Value)>> {
    let key = prop_oneof![
        proptest::sample::select(vec!["", "u1", "k1", "k2", "tok"]).prop_map(str::to_owned),
        any::<String>(),
    ];
    proptest::collection::vec((key, odd_record()), 0..8)
}

/// A record as the original wrote it: any text in every string field.
pub(super) fn py_user() -> impl Strategy<Value = PyUser> {
    (
        any::<String>(),
        date_time(),
        date_time(),
        any::<String>(),
        proptest::option::of("[0-9a-f]{64}"),
        proptest::option::of(any::<String>()),
        proptest::option::of(any::<String>()),
    )
        .prop_map(
            |(id, (_, c), (_, u), email, password, first, last)| PyUser {
                id,
                created_at: c,
                updated_at: u,
                email,
                password,
                first_name: first,
                last_name: last,
            },
        )
}

/// Valid users, with ids and emails (ignoring case) all different.
pub(super) fn valid_py_users() -> impl Strategy<Value = Vec<(PyUser, i64, i64)>> {
    proptest::collection::vec(
        (
            py_user(),
            // At most 64 bytes in the local part, as an email address may have.
            "[\\p{L}0-9._+-]{1,12}",
            "[a-z0-9-]{1,10}(\\.[a-z0-9-]{1,10}){0,2}",
            date_time(),
            date_time(),
            "[0-9a-fA-F]{64}",
        ),
        0..6,
    )
    .prop_map(|users| {
        users
            .into_iter()
            .enumerate()
            .map(|(i, (mut u, local, domain, (c, ct), (d, dt), hash))| {
                u.id = format!("{i}-{}", u.id);
                u.email = format!("u{i}.{local}@{domain}");
                u.created_at = ct;
                u.updated_at = dt;
                u.password = u.password.map(|_| hash);
                let created = c.assume_utc().unix_timestamp();
                let updated = d.assume_utc().unix_timestamp();
                (u, created, updated)
            })
            .collect()
    })
}
