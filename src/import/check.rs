//! The checks of one record on its own: the key, the shape, and each field's type and format
//! (emails, the original's timestamps, legacy password hashes). The rules across records, and
//! against what sesame already holds, are the plan's.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::record::{FieldProblem, show};
use crate::auth::password::is_legacy_sha256;
use crate::domain::validate_email;

/// What kind of JSON value this is, for a message.
fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parses the original's `YYYY-MM-DDTHH:MM:SS` (UTC, zero-padded, nothing more) into Unix
/// seconds.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    const FMT: &[time::format_description::BorrowedFormatItem<'_>] =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let shaped = s.len() == 19
        && s.bytes().enumerate().all(|(i, c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            _ => c.is_ascii_digit(),
        });
    if !shaped {
        return None;
    }
    time::PrimitiveDateTime::parse(s, FMT)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

/// Collects the problems of one record.
struct Checker<'a> {
    /// The record's fields.
    record: &'a Map<String, Value>,
    /// What is wrong so far.
    problems: Vec<FieldProblem>,
}

impl<'a> Checker<'a> {
    /// Checks record `key` with `fields` (after its `id`), adding what is wrong to `problems`.
    fn run<T>(
        key: &str,
        record: &'a Map<String, Value>,
        problems: &mut Vec<FieldProblem>,
        fields: impl FnOnce(&mut Self) -> T,
    ) -> T {
        let mut c = Self {
            record,
            problems: Vec::new(),
        };
        c.id_matches(key);
        let out = fields(&mut c);
        problems.append(&mut c.problems);
        out
    }

    /// Notes a problem of `field`.
    fn problem(&mut self, field: &str, reason: impl Into<String>) {
        self.problems.push(FieldProblem::new(field, reason));
    }

    /// The `id` field, when present, must be the key.
    fn id_matches(&mut self, key: &str) {
        match self.record.get("id") {
            None => {}
            Some(Value::String(s)) if s == key => {}
            Some(Value::String(s)) => {
                self.problem("id", format!("{} differs from the record's key", show(s)));
            }
            Some(other) => self.problem(
                "id",
                format!("{} where the record's key was expected", kind_of(other)),
            ),
        }
    }

    /// A required non-empty string.
    fn string(&mut self, field: &str) -> Option<&'a str> {
        match self.record.get(field) {
            Some(Value::String(s)) if !s.is_empty() => Some(s),
            Some(Value::String(_)) => {
                self.problem(field, "empty");
                None
            }
            None => {
                self.problem(field, "missing");
                None
            }
            Some(other) => {
                self.problem(
                    field,
                    format!("{} where a string was expected", kind_of(other)),
                );
                None
            }
        }
    }

    /// A required email address.
    fn email(&mut self) -> Option<&'a str> {
        match self.record.get("email") {
            Some(Value::String(s)) => match validate_email(s) {
                Ok(()) => Some(s),
                Err(_) => {
                    self.problem("email", format!("{} is not an email address", show(s)));
                    None
                }
            },
            None => {
                self.problem("email", "missing");
                None
            }
            Some(Value::Null) => {
                self.problem("email", "null: sesame needs an email to identify a user");
                None
            }
            Some(other) => {
                self.problem(
                    "email",
                    format!("{} where a string was expected", kind_of(other)),
                );
                None
            }
        }
    }

    /// A required timestamp (`optional`: may also be missing or `null`).
    fn timestamp(&mut self, field: &str, optional: bool) -> Option<i64> {
        match self.record.get(field) {
            Some(Value::String(s)) => {
                let t = parse_timestamp(s);
                if t.is_none() {
                    self.problem(
                        field,
                        format!("{} is not a UTC timestamp YYYY-MM-DDTHH:MM:SS", show(s)),
                    );
                }
                t
            }
            None | Some(Value::Null) if optional => None,
            None => {
                self.problem(field, "missing");
                None
            }
            Some(other) => {
                self.problem(
                    field,
                    format!(
                        "{} where a timestamp YYYY-MM-DDTHH:MM:SS was expected",
                        kind_of(other)
                    ),
                );
                None
            }
        }
    }

    /// An optional string: missing or `null` is `None`.
    fn name(&mut self, field: &str) -> Option<String> {
        match self.record.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                self.problem(
                    field,
                    format!("{} where a string or null was expected", kind_of(other)),
                );
                None
            }
        }
    }

    /// `_password`: `null`, missing, or 64 hex digits (returned lowercased). The value itself
    /// never appears in a message.
    fn password(&mut self) -> Option<String> {
        match self.record.get("_password") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if is_legacy_sha256(s) => Some(s.to_ascii_lowercase()),
            Some(Value::String(s)) => {
                self.problem(
                    "_password",
                    format!(
                        "neither null nor a SHA-256 of 64 hexadecimal digits (a string of {} \
                         characters)",
                        s.chars().count()
                    ),
                );
                None
            }
            Some(other) => {
                self.problem(
                    "_password",
                    format!(
                        "{} where null or 64 hexadecimal digits were expected",
                        kind_of(other)
                    ),
                );
                None
            }
        }
    }
}

/// Checks the key of a record (non-empty, first time in the file) and that the record is an
/// object. Returns the record's fields if both hold, with the problems found so far.
pub(super) fn open_record<'a>(
    key: &str,
    value: &'a Value,
    seen: &mut HashSet<String>,
) -> (Option<&'a Map<String, Value>>, Vec<FieldProblem>) {
    let mut problems = Vec::new();
    if key.is_empty() {
        problems.push(FieldProblem::new("id", "the record's key is empty"));
    } else if !seen.insert(key.to_owned()) {
        problems.push(FieldProblem::new(
            "id",
            "appears more than once in the file; the first is kept",
        ));
    }
    match value {
        Value::Object(map) if problems.is_empty() => (Some(map), problems),
        Value::Object(_) => (None, problems),
        other => {
            problems.push(FieldProblem::new(
                "record",
                format!("{} where a JSON object was expected", kind_of(other)),
            ));
            (None, problems)
        }
    }
}

/// The fields of a user record, each `None` unless valid (or, for the optional ones, unless
/// given).
pub(super) struct UserFields<'a> {
    /// `email`, a valid email address.
    pub(super) email: Option<&'a str>,
    /// `created_at`, in Unix seconds.
    pub(super) created_at: Option<i64>,
    /// `updated_at`, in Unix seconds.
    pub(super) updated_at: Option<i64>,
    /// `_password`, 64 lowercase hexadecimal digits.
    pub(super) password_hash: Option<String>,
    /// `first_name`.
    pub(super) first_name: Option<String>,
    /// `last_name`.
    pub(super) last_name: Option<String>,
}

/// Checks the fields of user record `key`, adding what is wrong to `problems`.
pub(super) fn user_fields<'a>(
    key: &str,
    record: &'a Map<String, Value>,
    problems: &mut Vec<FieldProblem>,
) -> UserFields<'a> {
    Checker::run(key, record, problems, |c| UserFields {
        email: c.email(),
        created_at: c.timestamp("created_at", false),
        updated_at: c.timestamp("updated_at", false),
        password_hash: c.password(),
        first_name: c.name("first_name"),
        last_name: c.name("last_name"),
    })
}

/// The fields of a session record, each `None` unless valid.
pub(super) struct SessionFields<'a> {
    /// `session_id`: the cookie value.
    pub(super) session_id: Option<&'a str>,
    /// `user_id`: the id of the session's user.
    pub(super) user_id: Option<&'a str>,
    /// `created_at`, in Unix seconds.
    pub(super) created_at: Option<i64>,
}

/// Checks the fields of session record `key`, adding what is wrong to `problems`. `updated_at`
/// is checked too when given, though sesame does not use it.
pub(super) fn session_fields<'a>(
    key: &str,
    record: &'a Map<String, Value>,
    problems: &mut Vec<FieldProblem>,
) -> SessionFields<'a> {
    Checker::run(key, record, problems, |c| {
        let fields = SessionFields {
            session_id: c.string("session_id"),
            user_id: c.string("user_id"),
            created_at: c.timestamp("created_at", false),
        };
        c.timestamp("updated_at", true);
        fields
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use time::{Date, Month, PrimitiveDateTime, Time};

    use super::*;
    use crate::import::samples::date_time;

    #[test]
    fn timestamps_are_the_originals_format_only() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00"), Some(0));
        assert_eq!(parse_timestamp("2023-11-14T22:13:20"), Some(1_700_000_000));
        for bad in [
            "2023-11-14 22:13:20",
            "2023-11-14T22:13:20Z",
            "2023-11-14T22:13:20.5",
            "2023-13-14T22:13:20",
            "2023-02-30T00:00:00",
            "2023-1-14T22:13:20",
            "+023-11-14T22:13:20",
            "",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn legacy_hashes_are_stored_lowercased_and_never_shown() {
        let upper = "066AC92A32F07AE3E9C16D52FF6B276F36CDF2D3E41D582071BDE86CE8CB401F";
        let record = serde_json::json!({ "_password": upper });
        let mut c = Checker {
            record: record.as_object().unwrap(),
            problems: Vec::new(),
        };
        assert_eq!(c.password(), Some(upper.to_ascii_lowercase()));
        let record = serde_json::json!({ "_password": "secret-ish" });
        let mut c = Checker {
            record: record.as_object().unwrap(),
            problems: Vec::new(),
        };
        assert_eq!(c.password(), None);
        assert!(!c.problems[0].reason.contains("secret-ish"));
    }

    /// The text of Unix time `t` as `YYYY-MM-DDTHH:MM:SS`, if it is in years 0000 to 9999.
    fn text_of(t: i64) -> Option<String> {
        let t = time::OffsetDateTime::from_unix_timestamp(t).ok()?;
        (0..=9999).contains(&t.year()).then(|| {
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        })
    }

    proptest! {
        #[test]
        fn arbitrary_strings_never_panic_parse_timestamp_and_what_parses_is_canonical(
            s in prop_oneof![
                any::<String>(),
                "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}",
                "[0-9+-]{4,6}-[0-9]{1,2}-[0-9]{1,2}[T ][0-9]{1,2}:[0-9]{2}:[0-9]{2}[Z.0-9]{0,2}",
            ],
        ) {
            if let Some(t) = parse_timestamp(&s) {
                prop_assert_eq!(text_of(t), Some(s));
            }
        }

        #[test]
        fn a_timestamp_of_the_right_shape_parses_exactly_when_it_is_a_real_date_time(
            (y, mo, d) in (0i32..10_000, 0u8..100, 0u8..100),
            (h, mi, s) in (0u8..100, 0u8..100, 0u8..100),
        ) {
            let text = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
            let real = Month::try_from(mo)
                .ok()
                .and_then(|m| Date::from_calendar_date(y, m, d).ok())
                .zip(Time::from_hms(h, mi, s).ok())
                .map(|(date, time)| {
                    PrimitiveDateTime::new(date, time)
                        .assume_utc()
                        .unix_timestamp()
                });
            prop_assert_eq!(parse_timestamp(&text), real, "{}", text);
        }

        #[test]
        fn every_date_time_of_years_0000_to_9999_round_trips_to_its_unix_seconds(
            (t, text) in date_time(),
        ) {
            prop_assert_eq!(parse_timestamp(&text), Some(t.assume_utc().unix_timestamp()));
        }
    }
}
