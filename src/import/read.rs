//! Reading the original's files: each is one JSON object mapping record ids to records, kept in
//! file order; a file that is not valid JSON, or whose top level is not an object, stops the
//! import with its line and column.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize as _;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;

use super::record::{SESSIONS_FILE, USERS_FILE};
use super::report::ImportError;

/// A file's records in file order: (key, record).
pub(super) type RecordList = Vec<(String, Value)>;

/// The original's files of one directory, read and parsed.
pub(super) struct Files {
    /// Where `.db_User.json` is.
    pub(super) users_path: PathBuf,
    /// Where `.db_UserSession.json` is, or would be.
    pub(super) sessions_path: PathBuf,
    /// The user records.
    pub(super) users: RecordList,
    /// The session records (none if the file is not there).
    pub(super) sessions: RecordList,
    /// Whether `.db_UserSession.json` is there.
    pub(super) sessions_found: bool,
}

/// Reads and parses `dir`'s files: `.db_User.json` must be there, `.db_UserSession.json` may be.
/// Both are read before either is parsed.
pub(super) fn read_dir(dir: &Path) -> Result<Files, ImportError> {
    let users_path = dir.join(USERS_FILE);
    let sessions_path = dir.join(SESSIONS_FILE);
    let Some(user_bytes) = read(&users_path)? else {
        return Err(ImportError::MissingUsers { path: users_path });
    };
    let session_bytes = read(&sessions_path)?;
    let users = parse(&users_path, &user_bytes)?;
    let sessions = match &session_bytes {
        Some(bytes) => parse(&sessions_path, bytes)?,
        None => Vec::new(),
    };
    Ok(Files {
        users_path,
        sessions_path,
        users,
        sessions,
        sessions_found: session_bytes.is_some(),
    })
}

/// A file's records in file order. A serde visitor, so the order is kept without turning on
/// `serde_json`'s `preserve_order` for the whole crate.
struct Records(RecordList);

/// Collects the entries of the top-level object as they come.
struct RecordsVisitor;

impl<'de> Visitor<'de> for RecordsVisitor {
    type Value = Records;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object mapping record ids to records")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Records, A::Error> {
        let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0).min(4096));
        while let Some(entry) = map.next_entry::<String, Value>()? {
            out.push(entry);
        }
        Ok(Records(out))
    }
}

impl<'de> serde::Deserialize<'de> for Records {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(RecordsVisitor)
    }
}

/// Parses one file into its records, in file order. Trailing content after the object is an
/// error too.
pub(super) fn parse(path: &Path, bytes: &[u8]) -> Result<RecordList, ImportError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = Records::deserialize(&mut de).and_then(|r| de.end().map(|()| r));
    parsed.map(|r| r.0).map_err(|e| {
        let full = e.to_string();
        let position = format!(" at line {} column {}", e.line(), e.column());
        let reason = full
            .strip_suffix(&position)
            .map_or_else(|| full.clone(), str::to_owned);
        ImportError::Json {
            path: path.to_owned(),
            line: e.line(),
            // serde_json says column 0 for the end of the input just after a newline (or of an
            // empty input); the first column is 1.
            column: e.column().max(1),
            reason,
        }
    })
}

/// Reads a file; `Ok(None)` if it does not exist.
fn read(path: &Path) -> Result<Option<Vec<u8>>, ImportError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ImportError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::Map;

    use super::*;
    use crate::import::samples::{py_dump, py_user};

    #[test]
    fn records_keep_file_order_and_json_errors_have_a_position() {
        let path = Path::new("f.json");
        let recs = parse(path, br#"{"b": {}, "a": 1, "c": null, "a": 2}"#).unwrap();
        let keys: Vec<&str> = recs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "a", "c", "a"]);
        match parse(path, b"{\"a\": {}\n, \"b\" {}}") {
            Err(ImportError::Json { line, column, .. }) => assert_eq!((line, column), (2, 7)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse(path, b"[1]"), Err(ImportError::Json { .. })));
        assert!(matches!(
            parse(path, b"{} {}"),
            Err(ImportError::Json { .. })
        ));
    }

    #[test]
    fn an_error_at_the_end_of_an_empty_or_newline_ended_file_is_in_column_1() {
        for (bytes, line) in [(&b""[..], 1), (b"{\n", 2), (b"{\"a\": {}\n", 2)] {
            match parse(Path::new(USERS_FILE), bytes) {
                Err(ImportError::Json {
                    line: l, column, ..
                }) => assert_eq!((l, column), (line, 1), "{bytes:?}"),
                other => panic!("{other:?}"),
            }
        }
    }

    /// Error positions must point into the input: a line it has, a column on that line.
    fn assert_position_in(bytes: &[u8], line: usize, column: usize) -> Result<(), TestCaseError> {
        let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
        prop_assert!(
            (1..=lines.len()).contains(&line),
            "line {line} of {}",
            lines.len()
        );
        let len = lines[line - 1].len();
        prop_assert!(
            (1..=len + 1).contains(&column),
            "column {column} of line {line}, {len} bytes long"
        );
        Ok(())
    }

    /// Input for `parse`: random bytes, JSON-ish token soup, or a real file cut short or with a
    /// byte changed.
    fn file_bytes() -> impl Strategy<Value = Vec<u8>> {
        let soup = proptest::collection::vec(
            proptest::sample::select(vec![
                "{", "}", "[", "]", "\"", ":", ", ", " ", "\n", "\r\n", "\t", "1", "-0.5e3",
                "1e999", "true", "null", "\"a\"", "\"k\": ", "\\u00e9", "\\ud800", "\\", "é",
                "\u{0}", "\u{feff}",
            ]),
            0..24,
        )
        .prop_map(|parts| parts.concat().into_bytes());
        let damaged = (
            proptest::collection::vec(py_user(), 0..3),
            any::<prop::sample::Index>(),
            any::<u8>(),
            0u8..3,
        )
            .prop_map(|(users, at, byte, how)| {
                let mut bytes = py_dump(&users).into_bytes();
                let at = at.index(bytes.len() + 1);
                match how {
                    0 => bytes.truncate(at),
                    1 => bytes.insert(at, byte),
                    _ => bytes.insert(at, b'\n'),
                }
                bytes
            });
        prop_oneof![proptest::collection::vec(any::<u8>(), 0..64), soup, damaged]
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_give_records_or_a_json_error_with_a_position_in_the_file(
            bytes in file_bytes(),
        ) {
            let path = Path::new(".db_User.json");
            let oracle = serde_json::from_slice::<Map<String, Value>>(&bytes);
            match parse(path, &bytes) {
                Ok(records) => {
                    // The same as serde_json's own reading, where a repeated key keeps its last
                    // record.
                    let last_wins: Map<String, Value> = records.into_iter().collect();
                    prop_assert_eq!(Some(last_wins), oracle.ok());
                }
                Err(ImportError::Json { path: p, line, column, reason }) => {
                    prop_assert!(oracle.is_err(), "{reason}");
                    prop_assert_eq!(p, path);
                    assert_position_in(&bytes, line, column)?;
                    // The position is said once, in the fields, not again in the reason.
                    let number = |n: &str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
                    let repeats_position = reason
                        .rsplit_once(" at line ")
                        .and_then(|(_, p)| p.split_once(" column "))
                        .is_some_and(|(l, c)| number(l) && number(c));
                    prop_assert!(!reason.is_empty() && !repeats_position, "{reason}");
                }
                Err(other) => prop_assert!(false, "{other:?}"),
            }
        }

        #[test]
        fn users_written_as_python_writes_them_parse_back_in_file_order(
            users in proptest::collection::vec(py_user(), 0..6),
        ) {
            let text = py_dump(&users);
            prop_assert!(text.is_ascii() && !text.contains('\n'));
            let records = parse(Path::new(USERS_FILE), text.as_bytes()).unwrap();
            let expected: Vec<(String, Value)> =
                users.iter().map(|u| (u.id.clone(), u.value())).collect();
            prop_assert_eq!(records, expected);
        }
    }
}
