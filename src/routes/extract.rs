//! Extractors for what requests carry besides credentials: path ids and bodies, each failing
//! with the API's own JSON error.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use serde::de::value::MapDeserializer;
use serde::de::{DeserializeOwned, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::error::ApiError;
use crate::serve::BodyReadTimeout;
use crate::service::ClientInfo;

/// The `{id}` of a route, as text; an id that is not valid UTF-8 is a JSON 400 like every
/// other error.
pub struct Id(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(id)| Self(id))
            .map_err(|_| ApiError::Path)
    }
}

/// One field of a request body as it was sent: absent (or `null`), text, or another JSON
/// type. Request bodies are structs of these, so a body of the wrong shape still reads, and
/// the handler says which field is missing or of the wrong type, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Field {
    /// Not sent, or `null`.
    #[default]
    Absent,
    /// A string (every form field is one).
    Text(String),
    /// Another JSON type, named for the message (`a number`, `an object`, ...).
    Other(&'static str),
}

impl Field {
    /// The text, `None` when absent; 400 `<name> must be a string` for another type.
    pub fn optional(self, name: &str) -> Result<Option<String>, ApiError> {
        match self {
            Self::Absent => Ok(None),
            Self::Text(s) => Ok(Some(s)),
            Self::Other(_) => Err(ApiError::invalid(format!("{name} must be a string"))),
        }
    }

    /// The text, which must be there and not empty: 400 `<name> missing` otherwise.
    pub fn required(self, name: &str) -> Result<String, ApiError> {
        match self.optional(name)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(ApiError::invalid(format!("{name} missing"))),
        }
    }

    /// Whether the field was sent (with any value but `null`).
    pub fn is_present(&self) -> bool {
        !matches!(self, Self::Absent)
    }
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FieldVisitor)
    }
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = Field;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E>(self, v: &str) -> Result<Field, E> {
        Ok(Field::Text(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Field, E> {
        Ok(Field::Text(v))
    }

    fn visit_unit<E>(self) -> Result<Field, E> {
        Ok(Field::Absent)
    }

    fn visit_none<E>(self) -> Result<Field, E> {
        Ok(Field::Absent)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Field, E> {
        Ok(Field::Other("a boolean"))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Field, E> {
        Ok(Field::Other("a number"))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Field, E> {
        Ok(Field::Other("a number"))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Field, E> {
        Ok(Field::Other("a number"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Field, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Field::Other("an array"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Field, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Field::Other("an object"))
    }
}

/// Where a request came from, as a new session keeps it: the address, and the first 512
/// characters of the `User-Agent`.
pub fn client_info(ip: Option<std::net::IpAddr>, headers: &HeaderMap) -> ClientInfo {
    ClientInfo {
        ip: ip.map(|ip| ip.to_string()),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(512).collect()),
    }
}

/// What a body's `Content-Type` declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Declared {
    /// `application/json`, `*+json`, or nothing at all.
    Json,
    /// `application/x-www-form-urlencoded`.
    UrlEncoded,
    /// `multipart/form-data`.
    Multipart,
    /// Anything else.
    Other,
}

fn declared(headers: &HeaderMap) -> Declared {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Declared::Json;
    };
    let mime = ct
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/json" => Declared::Json,
        m if m.ends_with("+json") => Declared::Json,
        "application/x-www-form-urlencoded" => Declared::UrlEncoded,
        "multipart/form-data" => Declared::Multipart,
        _ => Declared::Other,
    }
}

/// Maps a failure to read the body: 413 past the limit, 408 past `BODY_READ_TIMEOUT`, else
/// 400 (the connection broke, or the body is not what its framing says).
fn read_failure(e: &(dyn std::error::Error + 'static), status: StatusCode) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge
    } else if BodyReadTimeout::is_cause_of(e) {
        ApiError::RequestTimeout
    } else {
        ApiError::wrong_format("the body could not be read")
    }
}

/// Reads the whole body.
async fn body_bytes(req: Request) -> Result<(HeaderMap, Bytes), ApiError> {
    let (parts, body) = req.into_parts();
    let headers = parts.headers.clone();
    let bytes = Bytes::from_request(Request::from_parts(parts, body), &())
        .await
        .map_err(|e| read_failure(&e, e.status()))?;
    Ok((headers, bytes))
}

/// Reads `bytes` as a JSON object into `T`.
fn from_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // serde would also read a struct from an array (its fields in order): only an object is
    // a body here.
    let text = bytes.trim_ascii_start();
    if !text.is_empty() && !text.starts_with(b"{") {
        return Err(ApiError::wrong_format(
            "expected a JSON object (Content-Type: application/json)",
        ));
    }
    match serde_json::from_slice::<T>(bytes) {
        Ok(v) => Ok(v),
        Err(e) if e.is_data() => Err(ApiError::wrong_format(
            "expected a JSON object (Content-Type: application/json)",
        )),
        Err(e) => Err(ApiError::wrong_format(format!(
            "the body is not valid JSON (Content-Type: application/json): {e}"
        ))),
    }
}

/// Reads text fields (a form's) into `T`.
fn from_fields<T: DeserializeOwned>(fields: Vec<(String, String)>) -> Result<T, ApiError> {
    T::deserialize(MapDeserializer::<_, serde::de::value::Error>::new(
        fields.into_iter(),
    ))
    .map_err(|e| ApiError::wrong_format(format!("the form's fields do not fit: {e}")))
}

/// Reads `bytes` as `application/x-www-form-urlencoded` into `T`. A body that is JSON under
/// that type was sent with the wrong `Content-Type`, and is told so.
fn from_urlencoded<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.trim_ascii_start().starts_with(b"{") {
        return Err(ApiError::wrong_format(
            "the body is JSON but Content-Type says application/x-www-form-urlencoded: \
             send Content-Type: application/json",
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| {
        ApiError::wrong_format("the form (application/x-www-form-urlencoded) is not UTF-8")
    })?;
    let fields: Vec<(String, String)> = serde_urlencoded::from_str(text).map_err(|_| {
        ApiError::wrong_format("the body is not a form (application/x-www-form-urlencoded)")
    })?;
    from_fields(fields)
}

/// Reads a `multipart/form-data` body's text fields into `T` (files are refused).
async fn from_multipart<T: DeserializeOwned>(req: Request) -> Result<T, ApiError> {
    let mut form = axum::extract::Multipart::from_request(req, &())
        .await
        .map_err(|_| ApiError::wrong_format("the body is not multipart/form-data"))?;
    let mut fields = Vec::new();
    loop {
        let part = form.next_field().await.map_err(|e| {
            let status = e.status();
            read_failure(&e, status)
        })?;
        let Some(part) = part else { break };
        if part.file_name().is_some() {
            return Err(ApiError::wrong_format("files are not accepted here"));
        }
        let name = part.name().unwrap_or_default().to_owned();
        let value = part.text().await.map_err(|e| {
            let status = e.status();
            read_failure(&e, status)
        })?;
        fields.push((name, value));
    }
    from_fields(fields)
}

/// A JSON object body read into `T`: `Content-Type: application/json` (or none). Anything else
/// is 400 `Wrong format` with a `detail` saying what was expected; 413 past 1 MiB.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        let (headers, bytes) = body_bytes(req).await?;
        match declared(&headers) {
            Declared::Json => from_json(&bytes).map(Self),
            _ => Err(ApiError::wrong_format(
                "expected a JSON object with Content-Type: application/json",
            )),
        }
    }
}

/// A body read into `T` from a form (`application/x-www-form-urlencoded` or
/// `multipart/form-data`) or the same fields as JSON, as the login takes.
pub struct FormOrJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for FormOrJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        if declared(req.headers()) == Declared::Multipart {
            return from_multipart(req).await.map(Self);
        }
        let (headers, bytes) = body_bytes(req).await?;
        let no_type = headers.get(header::CONTENT_TYPE).is_none();
        match declared(&headers) {
            // With no type at all, a body that is not an object is taken as a form.
            Declared::Json if no_type && !bytes.trim_ascii_start().starts_with(b"{") => {
                from_urlencoded(&bytes).map(Self)
            }
            Declared::Json => from_json(&bytes).map(Self),
            Declared::UrlEncoded => from_urlencoded(&bytes).map(Self),
            Declared::Multipart | Declared::Other => Err(ApiError::wrong_format(
                "expected a form (application/x-www-form-urlencoded or multipart/form-data) \
                 or a JSON object (application/json)",
            )),
        }
    }
}

#[cfg(test)]
mod properties {
    use std::collections::BTreeMap;
    use std::fmt::Write as _;

    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use proptest::prelude::*;
    use tower::ServiceExt as _;

    use super::*;
    use axum::http::{HeaderValue, Method};
    use serde_json::{Map, Value};

    /// Runs a future to completion on a fresh single-threaded runtime.
    fn run<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// Bytes a header value may hold (visible ASCII, space, tab, obs-text).
    fn header_byte() -> impl Strategy<Value = u8> {
        prop_oneof![0x20u8..=0x7e, 0x80u8..=0xff, Just(b'\t')]
    }

    // ---- bodies ----

    /// Whether `e` is the 400 the body extractors document for a bad body.
    fn is_wrong_format(e: &ApiError) -> bool {
        matches!(
            e,
            ApiError::Body {
                error: "Wrong format",
                ..
            }
        )
    }

    type Object = Map<String, Value>;

    fn request(content_type: Option<&[u8]>, body: Vec<u8>) -> Request {
        let mut builder = axum::http::Request::builder().method(Method::POST).uri("/");
        if let Some(ct) = content_type {
            builder = builder.header(header::CONTENT_TYPE, HeaderValue::from_bytes(ct).unwrap());
        }
        builder.body(Body::from(body)).unwrap()
    }

    fn content_type() -> impl Strategy<Value = Option<Vec<u8>>> {
        let fixed = proptest::sample::select(vec![
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/problem+json",
            "application/json-seq",
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded; charset=UTF-8",
            "APPLICATION/X-WWW-FORM-URLENCODED",
            "text/plain",
            "multipart/form-data; boundary=x",
            "",
        ])
        .prop_map(|s| Some(s.as_bytes().to_vec()));
        prop_oneof![
            Just(None),
            fixed,
            proptest::collection::vec(header_byte(), 0..24).prop_map(Some),
        ]
    }

    /// Body bytes: random, JSON-ish token soup, or a form-ish soup.
    fn body_bytes_strategy() -> impl Strategy<Value = Vec<u8>> {
        let soup = proptest::collection::vec(
            proptest::sample::select(vec![
                "{", "}", "[", "]", "\"", ":", ",", " ", "\n", "1", "-0.5e3", "true", "null",
                "\"a\"", "\\u00e9", "\\ud800", "\\", "é", "\u{0}", "=", "&", "%", "%zz", "%C3%A9",
                "%FF", "+",
            ]),
            0..24,
        )
        .prop_map(|parts| parts.concat().into_bytes());
        prop_oneof![proptest::collection::vec(any::<u8>(), 0..64), soup]
    }

    /// Any JSON value without floats that JSON text cannot carry exactly.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            // Dyadic fractions with few digits: exact in f64 and in short decimal text.
            (-100_000i32..100_000).prop_map(|n| Value::from(f64::from(n) / 256.0)),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(any::<String>(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn json_object() -> impl Strategy<Value = Map<String, Value>> {
        proptest::collection::btree_map(any::<String>(), json_value(), 0..8)
            .prop_map(|m| m.into_iter().collect())
    }

    /// Percent-encodes every byte but `A-Za-z0-9-._*` as a browser might (`%20` or `+` for a
    /// space, hex digits in either case).
    fn percent_encode(s: &str, plus: bool, lower: bool) -> String {
        let mut out = String::new();
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                    out.push(char::from(b));
                }
                b' ' if plus => out.push('+'),
                _ if lower => write!(out, "%{b:02x}").unwrap(),
                _ => write!(out, "%{b:02X}").unwrap(),
            }
        }
        out
    }

    proptest! {
        // ---- bodies ----

        #[test]
        fn arbitrary_bytes_read_as_json_give_an_object_or_wrong_format(
            bytes in body_bytes_strategy(),
        ) {
            match from_json::<Object>(&bytes) {
                Ok(map) => {
                    let text = std::str::from_utf8(&bytes).unwrap().trim();
                    prop_assert!(text.starts_with('{') && text.ends_with('}'), "{text:?}");
                    let again: Map<String, Value> = serde_json::from_slice(&bytes).unwrap();
                    prop_assert_eq!(map, again);
                }
                Err(e) => prop_assert!(is_wrong_format(&e), "{e:?}"),
            }
        }

        #[test]
        fn any_json_object_round_trips_through_the_json_reader(
            map in json_object(),
            pretty in any::<bool>(),
        ) {
            let value = Value::Object(map.clone());
            let bytes = if pretty {
                serde_json::to_vec_pretty(&value).unwrap()
            } else {
                serde_json::to_vec(&value).unwrap()
            };
            prop_assert_eq!(from_json::<Object>(&bytes).unwrap(), map);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn arbitrary_bodies_give_the_extractors_an_object_or_wrong_format(
            ct in content_type(),
            bytes in body_bytes_strategy(),
        ) {
            let json = run(JsonBody::<Object>::from_request(request(ct.as_deref(), bytes.clone()), &()));
            match json {
                Ok(JsonBody(map)) => {
                    let again: Map<String, Value> = serde_json::from_slice(&bytes).unwrap();
                    prop_assert_eq!(map, again);
                }
                Err(e) => prop_assert!(is_wrong_format(&e), "{e:?}"),
            }
            let either = run(FormOrJson::<Object>::from_request(request(ct.as_deref(), bytes.clone()), &()));
            match either {
                Ok(FormOrJson(map)) => {
                    let as_json = serde_json::from_slice::<Map<String, Value>>(&bytes).ok();
                    let as_form = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
                        .ok()
                        .filter(|_| std::str::from_utf8(&bytes).is_ok())
                        .map(|pairs| {
                            pairs
                                .into_iter()
                                .map(|(k, v)| (k, Value::String(v)))
                                .collect()
                        });
                    prop_assert!(
                        Some(&map) == as_json.as_ref() || Some(&map) == as_form.as_ref(),
                        "{map:?} is neither the JSON nor the form in {bytes:?}"
                    );
                }
                Err(e) => prop_assert!(is_wrong_format(&e), "{e:?}"),
            }
        }

        #[test]
        fn any_json_object_round_trips_through_both_extractors(
            map in json_object(),
            ct in proptest::sample::select(vec![
                None,
                Some("application/json"),
                Some("application/json; charset=utf-8"),
                Some("Application/JSON"),
                Some("application/vnd.api+json"),
            ]),
        ) {
            let bytes = serde_json::to_vec(&Value::Object(map.clone())).unwrap();
            let ct = ct.map(str::as_bytes);
            let JsonBody(got) =
                run(JsonBody::<Object>::from_request(request(ct, bytes.clone()), &())).unwrap();
            prop_assert_eq!(&got, &map);
            let FormOrJson(got) =
                run(FormOrJson::<Object>::from_request(request(ct, bytes), &())).unwrap();
            prop_assert_eq!(got, map);
        }

        #[test]
        fn a_json_object_under_a_content_type_that_is_not_json_is_wrong_format(
            map in json_object(),
            ct in proptest::sample::select(vec![
                "text/plain",
                "application/json-seq",
                "application/jsonx",
                "multipart/form-data; boundary=x",
                "application/x-www-form-urlencoded",
            ]),
        ) {
            let bytes = serde_json::to_vec(&Value::Object(map)).unwrap();
            let got = run(JsonBody::<Object>::from_request(request(Some(ct.as_bytes()), bytes), &()));
            prop_assert!(matches!(got, Err(ref e) if is_wrong_format(e)));
        }

        #[test]
        fn a_urlencoded_form_with_any_field_values_round_trips_through_the_form_path(
            fields in proptest::collection::btree_map(any::<String>(), any::<String>(), 0..8),
            encoder in 0u8..3,
            ct in proptest::sample::select(vec![
                None,
                Some("application/x-www-form-urlencoded"),
                Some("application/x-www-form-urlencoded; charset=UTF-8"),
                Some("APPLICATION/X-WWW-FORM-URLENCODED"),
            ]),
        ) {
            let pairs: Vec<(&String, &String)> = fields.iter().collect();
            let body = match encoder {
                0 => serde_urlencoded::to_string(&pairs).unwrap(),
                n => pairs
                    .iter()
                    .map(|(k, v)| {
                        format!(
                            "{}={}",
                            percent_encode(k, n == 1, n == 2),
                            percent_encode(v, n == 2, n == 1)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("&"),
            };
            let FormOrJson(got) = run(FormOrJson::<Object>::from_request(
                request(ct.map(str::as_bytes), body.into_bytes()),
                &(),
            ))
            .unwrap();
            let expected: BTreeMap<String, Value> = fields
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect();
            prop_assert_eq!(got, expected.into_iter().collect::<Map<_, _>>());
        }
    }
    // ---- path ids ----

    fn id_router() -> Router {
        Router::new().route("/{id}", get(|Id(id): Id| async move { id }))
    }

    /// Percent-decodes as RFC 3986 says: `%XX` with two hex digits is a byte, anything else is
    /// itself.
    fn percent_decode(s: &str) -> Vec<u8> {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            let hex = |c: u8| char::from(c).to_digit(16);
            if b[i] == b'%'
                && let (Some(h), Some(l)) = (
                    b.get(i + 1).copied().and_then(hex),
                    b.get(i + 2).copied().and_then(hex),
                )
            {
                out.push(u8::try_from(h * 16 + l).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        out
    }

    /// Sends `GET path` to [`id_router`]: status, content type and body.
    fn get_id(path: &str) -> (StatusCode, Option<String>, Vec<u8>) {
        let req = axum::http::Request::builder()
            .uri(path)
            .body(Body::empty())
            .unwrap();
        run(async {
            let resp = id_router().oneshot(req).await.unwrap();
            let status = resp.status();
            let ct = resp
                .headers()
                .get(header::CONTENT_TYPE)
                .map(|v| v.to_str().unwrap().to_owned());
            let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .unwrap();
            (status, ct, body.to_vec())
        })
    }

    /// The answer to `GET /{id}`: the id's text when it is UTF-8 (`text`), else the JSON 400.
    fn assert_id_answer(
        text: Option<String>,
        status: StatusCode,
        ct: Option<&str>,
        body: &[u8],
    ) -> Result<(), TestCaseError> {
        match text {
            Some(text) => {
                prop_assert_eq!(status, StatusCode::OK);
                prop_assert_eq!(body, text.as_bytes());
            }
            None => {
                prop_assert_eq!(status, StatusCode::BAD_REQUEST);
                assert_invalid_url(ct, body)?;
            }
        }
        Ok(())
    }

    fn assert_invalid_url(ct: Option<&str>, body: &[u8]) -> Result<(), TestCaseError> {
        prop_assert_eq!(ct, Some("application/json"));
        let body: Value = serde_json::from_slice(body).unwrap();
        prop_assert_eq!(body, serde_json::json!({ "error": "Invalid URL" }));
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        // ---- path ids ----

        #[test]
        fn any_percent_encoded_id_is_its_text_or_the_json_400_when_not_utf8(
            bytes in prop_oneof![
                proptest::collection::vec(any::<u8>(), 1..24),
                any::<String>()
                    .prop_filter("not empty", |s| !s.is_empty())
                    .prop_map(String::into_bytes),
            ],
            raw_unreserved in any::<bool>(),
        ) {
            let mut path = String::from("/");
            for &b in &bytes {
                if raw_unreserved && (b.is_ascii_alphanumeric() || b"-._~".contains(&b)) {
                    path.push(char::from(b));
                } else {
                    write!(path, "%{b:02X}").unwrap();
                }
            }
            let (status, ct, body) = get_id(&path);
            assert_id_answer(String::from_utf8(bytes).ok(), status, ct.as_deref(), &body)?;
        }

        #[test]
        fn any_raw_path_segment_never_panics_and_gives_its_decoded_text_or_the_json_400(
            segment in r"[A-Za-z0-9\-._~!$&'()*+,;=:@%]{1,24}",
        ) {
            let path = format!("/{segment}");
            let (status, ct, body) = get_id(&path);
            let text = String::from_utf8(percent_decode(&segment)).ok();
            assert_id_answer(text, status, ct.as_deref(), &body)?;
        }
    }
}
