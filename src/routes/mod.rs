//! HTTP handlers, one file per resource, and what they share: the state, the gate, the JSON
//! body extractor and the user's JSON shape. Handlers are thin: extract, call the service, map.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::{CorsOrigins, Settings};
use crate::domain::{User, format_timestamp};
use crate::error::Error;
use crate::serve::BodyReadTimeout;
use crate::service::{Authenticated, Credentials, Service};

pub mod index;
pub mod sessions;
pub mod users;

/// What every handler can reach; one `Arc`, so handing it to a handler costs one increment.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The contents of [`AppState`].
pub struct Shared {
    /// The rules.
    pub service: Service,
    /// The configuration.
    pub settings: Arc<Settings>,
}

impl AppState {
    /// State over `service` and `settings`.
    pub fn new(service: Service, settings: Arc<Settings>) -> Self {
        Self(Arc::new(Shared { service, settings }))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The API's routes. Protected handlers take the [`Auth`] extractor, which is the gate;
/// public ones (status, readiness, metrics, the error pages, login) do not.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    if state.settings.metrics_addr.is_none() {
        router = router.route("/metrics", get(index::metrics));
    }
    router
        .route("/api/v1/status", get(index::status))
        .route("/api/v1/health/ready", get(index::ready))
        .route("/api/v1/stats", get(index::stats))
        .route("/api/v1/unauthorized", get(index::unauthorized))
        .route("/api/v1/forbidden", get(index::forbidden))
        .route("/api/v1/users", get(users::list).post(users::create))
        .route(
            "/api/v1/users/{id}",
            get(users::show).put(users::update).delete(users::remove),
        )
        .route("/api/v1/users/me/password", put(users::change_password))
        .route(
            "/api/v1/users/me/sessions",
            get(sessions::list_mine).delete(sessions::revoke_my_others),
        )
        .route(
            "/api/v1/users/me/sessions/{id}",
            delete(sessions::revoke_mine),
        )
        .route(
            "/api/v1/users/{id}/sessions",
            delete(sessions::revoke_all_of_user),
        )
        .route("/api/v1/auth_session/login", post(sessions::login))
        .route("/api/v1/auth_session/logout", delete(sessions::logout))
        .fallback(|| async { Error::NotFound })
        .method_not_allowed_fallback(|| async { Error::MethodNotAllowed })
        .with_state(state)
}

/// The metrics router for `METRICS_ADDR`: `/metrics` alone.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(index::metrics))
        .fallback(|| async { Error::NotFound })
        .with_state(state)
}

/// The gate, as an extractor: the user a protected request runs as.
///
/// First, a state-changing request that a browser marks as cross-site and that would act
/// through the session cookie is refused (403). Then the credentials must resolve to a user:
/// 401 with none at all, 403 when they do not resolve, 429 while Basic credentials are
/// throttled.
pub struct Auth(pub Authenticated);

impl FromRequestParts<AppState> for Auth {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Error> {
        let token = session_cookie(&parts.headers, &state.settings.session_name);
        if token.is_some() {
            refuse_cross_site(&parts.method, &parts.headers, &state.settings)?;
        }
        let creds = Credentials {
            authorization: parts
                .headers
                .get(header::AUTHORIZATION)
                .map(HeaderValue::as_bytes),
            session_token: token,
            client_ip: client_ip_of(parts, &state.settings),
        };
        state.service.authenticate(creds).await.map(Self)
    }
}

/// Refuses (403) a state-changing request that acts through the session cookie and that a
/// browser marks as cross-site, under a session `AUTH_TYPE`.
pub fn refuse_cross_site(
    method: &Method,
    headers: &HeaderMap,
    settings: &Settings,
) -> Result<(), Error> {
    if is_unsafe(method)
        && settings.auth_type.uses_sessions()
        && is_cross_site(headers, &settings.cors)
    {
        tracing::warn!(target: "audit", event = "csrf_refused", "cross-site request refused");
        return Err(Error::Forbidden);
    }
    Ok(())
}

/// Refuses (403) a login that another site's page submits as a form in the user's browser
/// (`Sec-Fetch-Site: cross-site` with `Sec-Fetch-Mode: navigate`): login CSRF, which would sign
/// the victim in to the attacker's account. Logins by script (`fetch`, which CORS governs) and
/// by clients that send no such headers are not affected.
pub fn refuse_cross_site_login(headers: &HeaderMap, settings: &Settings) -> Result<(), Error> {
    let header_is = |name: &str, value: &[u8]| {
        headers
            .get(name)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(value))
    };
    if header_is("sec-fetch-site", b"cross-site") && header_is("sec-fetch-mode", b"navigate") {
        tracing::warn!(target: "audit", event = "csrf_refused", "cross-site login form refused");
        return Err(Error::Forbidden);
    }
    if session_cookie(headers, &settings.session_name).is_some() {
        return refuse_cross_site(&Method::POST, headers, settings);
    }
    Ok(())
}

/// The client's address: the peer's, or with `TRUST_X_FORWARDED_FOR` the last entry of the
/// last `X-Forwarded-For` header (the one the trusted proxy appended).
fn client_ip_of(parts: &axum::http::request::Parts, settings: &Settings) -> Option<IpAddr> {
    if settings.trust_x_forwarded_for
        && let Some(ip) = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .next_back()
            .and_then(|v| v.as_bytes().rsplit(|&b| b == b',').next())
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.trim().parse().ok())
    {
        return Some(ip);
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip())
}

/// The `{id}` of a route, as text; an id that is not valid UTF-8 is a JSON 400 like every
/// other error.
pub struct Id(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Error> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(id)| Self(id))
            .map_err(|_| Error::bad_request("Invalid URL"))
    }
}

/// The client's address (see `TRUST_X_FORWARDED_FOR`), for throttling and the session list.
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(client_ip_of(parts, &state.settings)))
    }
}

fn is_unsafe(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// Whether a browser marks the request as sent from another site: `Sec-Fetch-Site: cross-site`,
/// or an `Origin` that is neither this server (its `Host`) nor named in `CORS_ORIGINS` (the
/// wildcard names no one). Clients that send neither header (curl, scripts) are not affected.
fn is_cross_site(headers: &HeaderMap, cors: &CorsOrigins) -> bool {
    let fetch_site = headers.get("sec-fetch-site").map(HeaderValue::as_bytes);
    if fetch_site.is_some_and(|v| v.eq_ignore_ascii_case(b"cross-site")) {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let Ok(origin) = origin.to_str() else {
        return true;
    };
    if let CorsOrigins::List(list) = cors
        && list.iter().any(|o| o.eq_ignore_ascii_case(origin))
    {
        return false;
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, h)| h);
    !matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

/// The value of the cookie `name` in the request's `Cookie` headers, if any.
pub fn session_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    // Raw bytes: another cookie of the same site may hold non-ASCII bytes, which must not hide
    // the session cookie beside it.
    headers
        .get_all(header::COOKIE)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b';'))
        .filter_map(|pair| {
            let pair = pair.trim_ascii();
            let eq = pair.iter().position(|&b| b == b'=')?;
            (&pair[..eq] == name.as_bytes()).then(|| &pair[eq + 1..])
        })
        .find_map(|v| std::str::from_utf8(v).ok())
        .map(|v| v.trim_matches('"'))
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value for the session cookie: a token, or `None` to expire it.
pub fn session_set_cookie(settings: &Settings, token: Option<&str>) -> Result<HeaderValue, Error> {
    let secure = if settings.cookie_secure {
        "; Secure"
    } else {
        ""
    };
    let value = match token {
        Some(token) => {
            let max_age = settings
                .expiry()
                .absolute
                .map(|d| format!("; Max-Age={d}"))
                .unwrap_or_default();
            format!(
                "{}={token}; Path=/; HttpOnly; SameSite=Lax{secure}{max_age}",
                settings.session_name
            )
        }
        None => format!(
            "{}=; Path=/; HttpOnly; SameSite=Lax{secure}; Max-Age=0",
            settings.session_name
        ),
    };
    HeaderValue::from_str(&value).map_err(|e| Error::Internal(format!("cookie header: {e}")))
}

/// A user as the API shows it: never a password or a hash.
#[derive(Debug, Serialize)]
pub struct UserView<'a> {
    id: &'a str,
    email: &'a str,
    first_name: Option<&'a str>,
    last_name: Option<&'a str>,
    created_at: String,
    updated_at: String,
    is_admin: bool,
}

/// The empty answer `{}`; with `end_session`, it also expires the session cookie (the session
/// the request came with has just ended).
pub fn empty_answer(settings: &Settings, end_session: bool) -> Result<Response, Error> {
    let mut resp = axum::Json(serde_json::json!({})).into_response();
    if end_session {
        resp.headers_mut()
            .insert(header::SET_COOKIE, session_set_cookie(settings, None)?);
    }
    Ok(resp)
}

/// A user as a JSON response, written into a buffer sized for it at once.
pub fn user_response(user: &User) -> Response {
    let mut body = Vec::with_capacity(256);
    match serde_json::to_writer(&mut body, &UserView::from(user)) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        Err(e) => Error::Internal(format!("serializing a user: {e}")).into_response(),
    }
}

impl<'a> From<&'a User> for UserView<'a> {
    fn from(u: &'a User) -> Self {
        Self {
            id: &u.id,
            email: &u.email,
            first_name: u.first_name.as_deref(),
            last_name: u.last_name.as_deref(),
            created_at: format_timestamp(u.created_at),
            updated_at: format_timestamp(u.updated_at),
            is_admin: u.is_admin,
        }
    }
}

/// Whether the request says its body is JSON (or says nothing).
fn is_json(headers: &HeaderMap) -> bool {
    match headers.get(header::CONTENT_TYPE).map(HeaderValue::to_str) {
        None => true,
        Some(Ok(ct)) => {
            let mime = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            mime == "application/json" || mime.ends_with("+json")
        }
        Some(Err(_)) => false,
    }
}

/// Reads the body, answering 413 past the limit and 408 past `BODY_READ_TIMEOUT`.
async fn body_bytes(req: Request) -> Result<(HeaderMap, Bytes), Error> {
    let (parts, body) = req.into_parts();
    let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), &())
        .await
        .map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                Error::PayloadTooLarge
            } else if BodyReadTimeout::is_cause_of(&e) {
                Error::RequestTimeout
            } else {
                Error::bad_request("Wrong format")
            }
        })?;
    Ok((parts.headers, bytes))
}

fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, Error> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Error::bad_request("Wrong format")),
    }
}

/// A request body that must be a JSON object; anything else is 400 `Wrong format`
/// (invalid JSON, invalid UTF-8, another JSON type, a non-JSON content type), 413 past 1 MiB.
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = Error;

    async fn from_request(req: Request, _: &S) -> Result<Self, Error> {
        let (headers, bytes) = body_bytes(req).await?;
        if !is_json(&headers) {
            return Err(Error::bad_request("Wrong format"));
        }
        parse_object(&bytes).map(Self)
    }
}

/// A login body: a form (`application/x-www-form-urlencoded`) or the same fields as JSON.
pub struct FormOrJson(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for FormOrJson {
    type Rejection = Error;

    async fn from_request(req: Request, _: &S) -> Result<Self, Error> {
        let (headers, bytes) = body_bytes(req).await?;
        let form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| {
                ct.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            });
        if form || (headers.get(header::CONTENT_TYPE).is_none() && !bytes.starts_with(b"{")) {
            std::str::from_utf8(&bytes).map_err(|_| Error::bad_request("Wrong format"))?;
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
                .map_err(|_| Error::bad_request("Wrong format"))?;
            return Ok(Self(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect(),
            ));
        }
        if !is_json(&headers) {
            return Err(Error::bad_request("Wrong format"));
        }
        parse_object(&bytes).map(Self)
    }
}

/// A string field of a JSON object: `Ok(None)` when absent or null, 400 when not a string.
pub fn optional_string(
    obj: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, Error> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Error::BadRequest(
            format!("{field} must be a string").into(),
        )),
    }
}

/// A required, non-empty string field: 400 `<field> missing` otherwise.
pub fn required_string(obj: &Map<String, Value>, field: &'static str) -> Result<String, Error> {
    match optional_string(obj, field)? {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(Error::BadRequest(format!("{field} missing").into())),
    }
}

#[cfg(test)]
mod properties {
    use std::collections::BTreeMap;
    use std::fmt::Write as _;

    use axum::body::Body;
    use axum::http::{StatusCode, request::Parts};
    use proptest::prelude::*;
    use tower::ServiceExt as _;

    use super::*;
    use crate::config::RawConfig;

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

    // ---- the Cookie header ----

    /// A cookie name (an RFC 7230 token, as `SESSION_NAME` must be).
    fn cookie_name() -> impl Strategy<Value = String> {
        r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,16}"
    }

    /// Our cookie's value: cookie-octets (any ASCII but controls, space, `"`, `,`, `;`, `\`)
    /// or non-ASCII characters; it may contain `=`.
    fn our_value() -> impl Strategy<Value = String> {
        r"[!#-+\--:<-\[\]-~\x{80}-\x{10FFFF}]{1,40}"
    }

    /// Another cookie's name: random, or a prefix, a suffix, an extension or another case of
    /// ours; never ours.
    fn other_name(ours: String) -> impl Strategy<Value = String> {
        let o = ours.clone();
        let prefixes = (1..=ours.len()).prop_map(move |n| o[..o.len() - n].to_owned());
        let o = ours.clone();
        let suffixes = (1..=ours.len()).prop_map(move |n| o[n..].to_owned());
        let o = ours.clone();
        let longer = (cookie_name(), any::<bool>()).prop_map(move |(x, before)| {
            if before {
                format!("{x}{o}")
            } else {
                format!("{o}{x}")
            }
        });
        let cases = [ours.to_ascii_uppercase(), ours.to_ascii_lowercase()];
        prop_oneof![
            cookie_name(),
            prefixes,
            suffixes,
            longer,
            proptest::sample::select(cases.to_vec()),
        ]
        .prop_filter("not our name", move |n| !n.is_empty() && *n != ours)
    }

    /// Another cookie's value: any header bytes but `;`, ASCII or not, possibly with `=`, `"`
    /// and spaces, possibly empty.
    fn other_value() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(header_byte().prop_filter("no ;", |&b| b != b';'), 0..24)
    }

    /// How one cookie is joined to the one before it: in the same header (with some spacing)
    /// or as the first of a new `Cookie` header.
    #[derive(Debug, Clone, Copy)]
    enum Join {
        Same(&'static str),
        NewHeader,
    }

    fn join() -> impl Strategy<Value = Join> {
        prop_oneof![
            Just(Join::Same("; ")),
            Just(Join::Same(";")),
            Just(Join::Same(";   ")),
            Just(Join::Same(" ; ")),
            Just(Join::NewHeader),
        ]
    }

    /// `Cookie` headers holding `pairs`, joined as `joins` says (`joins[i]` joins pair `i + 1`).
    fn cookie_headers(pairs: &[Vec<u8>], joins: &[Join], pad: bool) -> HeaderMap {
        let mut values: Vec<Vec<u8>> = vec![Vec::new()];
        for (i, pair) in pairs.iter().enumerate() {
            if i > 0 {
                match joins[(i - 1) % joins.len().max(1)] {
                    Join::Same(sep) => values.last_mut().unwrap().extend(sep.as_bytes()),
                    Join::NewHeader => values.push(Vec::new()),
                }
            }
            values.last_mut().unwrap().extend(pair);
        }
        let mut headers = HeaderMap::new();
        for v in values {
            let v = if pad {
                [b"  ".as_slice(), &v, b" "].concat()
            } else {
                v
            };
            headers.append(header::COOKIE, HeaderValue::from_bytes(&v).unwrap());
        }
        headers
    }

    fn pair(name: &str, value: &[u8]) -> Vec<u8> {
        [name.as_bytes(), b"=", value].concat()
    }

    /// Our name, our value, whether it is quoted, the other cookies, where ours goes among
    /// them, and how they are all joined.
    #[allow(clippy::type_complexity)]
    fn cookie_jar() -> impl Strategy<
        Value = (
            String,
            String,
            bool,
            Vec<(String, Vec<u8>)>,
            usize,
            Vec<Join>,
            bool,
        ),
    > {
        cookie_name().prop_flat_map(|name| {
            let others = proptest::collection::vec((other_name(name.clone()), other_value()), 0..8);
            (
                Just(name),
                our_value(),
                any::<bool>(),
                others,
                any::<prop::sample::Index>(),
                proptest::collection::vec(join(), 1..8),
                any::<bool>(),
            )
                .prop_map(|(n, v, q, o, at, j, pad)| {
                    let at = at.index(o.len() + 1);
                    (n, v, q, o, at, j, pad)
                })
        })
    }

    // ---- X-Forwarded-For ----

    /// One entry of an `X-Forwarded-For` list.
    #[derive(Debug, Clone)]
    enum Entry {
        /// An address, written with some blanks around it.
        Ip(IpAddr, &'static str, &'static str),
        /// Anything that is not an address (never a `,`).
        Junk(Vec<u8>),
    }

    fn blank() -> impl Strategy<Value = &'static str> {
        proptest::sample::select(vec!["", " ", "  ", "\t", " \t "])
    }

    fn not_an_address(bytes: &[u8]) -> bool {
        std::str::from_utf8(bytes).map_or(true, |s| s.trim().parse::<IpAddr>().is_err())
    }

    fn entry() -> impl Strategy<Value = Entry> {
        let fixed = proptest::sample::select(vec![
            "",
            " ",
            "unknown",
            "1.2.3",
            "1.2.3.4.5",
            "256.1.1.1",
            "01.2.3.4",
            "::g",
            "[::1]",
            "1.2.3.4:80",
            "[2001:db8::1]:443",
            "fe80::1%eth0",
            "_hidden",
            "10.0.0.1é",
            "ünknown",
        ])
        .prop_map(|s| s.as_bytes().to_vec());
        let random =
            proptest::collection::vec(header_byte().prop_filter("no ,", |&b| b != b','), 0..16);
        prop_oneof![
            2 => (any::<IpAddr>(), blank(), blank()).prop_map(|(ip, l, r)| Entry::Ip(ip, l, r)),
            1 => prop_oneof![fixed, random]
                .prop_filter("not an address", |b| not_an_address(b))
                .prop_map(Entry::Junk),
        ]
    }

    fn render(entries: &[Entry], sep: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            if i > 0 {
                out.extend(sep.as_bytes());
            }
            match e {
                Entry::Ip(ip, l, r) => out.extend(format!("{l}{ip}{r}").as_bytes()),
                Entry::Junk(b) => out.extend(b),
            }
        }
        out
    }

    fn settings(trust_x_forwarded_for: bool) -> Settings {
        let raw = RawConfig {
            trust_x_forwarded_for: trust_x_forwarded_for.to_string(),
            ..RawConfig::default()
        };
        let settings = Settings::from_raw(&raw).unwrap();
        assert_eq!(settings.trust_x_forwarded_for, trust_x_forwarded_for);
        settings
    }

    fn parts_with(headers: &[Vec<u8>], peer: Option<SocketAddr>) -> Parts {
        let mut builder = axum::http::Request::builder().uri("/api/v1/users/me");
        for h in headers {
            builder = builder.header("x-forwarded-for", HeaderValue::from_bytes(h).unwrap());
        }
        let (mut parts, ()) = builder.body(()).unwrap().into_parts();
        if let Some(peer) = peer {
            parts.extensions.insert(ConnectInfo(peer));
        }
        parts
    }

    // ---- bodies ----

    /// Whether `e` is the 400 the body extractors document for a bad body.
    fn is_wrong_format(e: &Error) -> bool {
        matches!(e, Error::BadRequest(m) if m == "Wrong format")
    }

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

    fn assert_invalid_url(ct: Option<&str>, body: &[u8]) -> Result<(), TestCaseError> {
        prop_assert_eq!(ct, Some("application/json"));
        let body: Value = serde_json::from_slice(body).unwrap();
        prop_assert_eq!(body, serde_json::json!({ "error": "Invalid URL" }));
        Ok(())
    }

    #[test]
    fn non_ascii_bytes_in_a_trusted_forwarded_for_do_not_hide_the_appended_address() {
        let peer: SocketAddr = "192.0.2.1:4000".parse().unwrap();
        let parts = parts_with(&[b"10.0.0.1\xc3\xa9, 203.0.113.7".to_vec()], Some(peer));
        assert_eq!(
            client_ip_of(&parts, &settings(true)),
            Some("203.0.113.7".parse().unwrap())
        );
        let parts = parts_with(&[b"\xff, 203.0.113.7 \xff".to_vec()], Some(peer));
        assert_eq!(client_ip_of(&parts, &settings(true)), Some(peer.ip()));
    }

    proptest! {
        // ---- the Cookie header ----

        #[test]
        fn arbitrary_cookie_headers_never_panic_and_a_found_value_is_one_of_ours(
            name in cookie_name(),
            headers in proptest::collection::vec(
                proptest::collection::vec(
                    prop_oneof![
                        proptest::collection::vec(header_byte(), 1..6),
                        Just(b"=".to_vec()),
                        Just(b";".to_vec()),
                        Just(b"\"".to_vec()),
                        Just(b" ".to_vec()),
                        Just(Vec::new()),
                    ],
                    0..12,
                ),
                0..4,
            ),
        ) {
            let mut map = HeaderMap::new();
            let mut raw = Vec::new();
            for (i, pieces) in headers.iter().enumerate() {
                // Put our name in front of some pieces so that the name does turn up.
                let mut v = Vec::new();
                for (j, p) in pieces.iter().enumerate() {
                    if (i + j) % 3 == 0 {
                        v.extend(name.as_bytes());
                    }
                    v.extend(p);
                }
                map.append(header::COOKIE, HeaderValue::from_bytes(&v).unwrap());
                raw.push(v);
            }
            if let Some(found) = session_cookie(&map, &name) {
                prop_assert!(!found.is_empty());
                prop_assert!(!found.contains(';'));
                prop_assert!(!found.starts_with('"') && !found.ends_with('"'));
                let contains = |h: &[u8], x: &[u8]| h.windows(x.len()).any(|w| w == x);
                let cookie = format!("{name}=");
                prop_assert!(
                    raw.iter().any(|h| contains(h, cookie.as_bytes())
                        && contains(h, found.as_bytes())),
                    "{found:?} is not the value of a {name} cookie in {raw:?}"
                );
            }
        }

        #[test]
        fn our_cookie_among_any_other_cookies_is_found_with_exactly_its_value(
            (name, value, quoted, others, at, joins, pad) in cookie_jar(),
        ) {
            let ours = if quoted { format!("\"{value}\"") } else { value.clone() };
            let mut pairs: Vec<Vec<u8>> = others.iter().map(|(n, v)| pair(n, v)).collect();
            pairs.insert(at, pair(&name, ours.as_bytes()));
            let headers = cookie_headers(&pairs, &joins, pad);
            prop_assert_eq!(session_cookie(&headers, &name), Some(value.as_str()));
        }

        #[test]
        fn without_our_cookie_no_session_cookie_is_found(
            (name, _, _, others, _, joins, pad) in cookie_jar(),
        ) {
            let pairs: Vec<Vec<u8>> = others.iter().map(|(n, v)| pair(n, v)).collect();
            let headers = cookie_headers(&pairs, &joins, pad);
            prop_assert_eq!(session_cookie(&headers, &name), None);
        }

        // ---- X-Forwarded-For ----

        #[test]
        fn a_trusted_forwarded_for_gives_its_last_address_else_the_peer(
            lists in proptest::collection::vec(proptest::collection::vec(entry(), 0..5), 0..4),
            sep in proptest::sample::select(vec![",", ", ", " , ", ",\t"]),
            peer in proptest::option::weighted(0.9, any::<SocketAddr>()),
        ) {
            let headers: Vec<Vec<u8>> = lists.iter().map(|l| render(l, sep)).collect();
            let parts = parts_with(&headers, peer);
            let expected = match lists.last().and_then(|l| l.last()) {
                Some(Entry::Ip(ip, _, _)) => Some(*ip),
                _ => peer.map(|p| p.ip()),
            };
            prop_assert_eq!(client_ip_of(&parts, &settings(true)), expected);
        }

        #[test]
        fn an_untrusted_forwarded_for_is_ignored_for_the_peer(
            lists in proptest::collection::vec(proptest::collection::vec(entry(), 0..5), 0..4),
            peer in proptest::option::weighted(0.9, any::<SocketAddr>()),
        ) {
            let headers: Vec<Vec<u8>> = lists.iter().map(|l| render(l, ", ")).collect();
            let parts = parts_with(&headers, peer);
            prop_assert_eq!(client_ip_of(&parts, &settings(false)), peer.map(|p| p.ip()));
        }

        // ---- bodies ----

        #[test]
        fn arbitrary_bytes_give_parse_object_an_object_or_wrong_format(
            bytes in body_bytes_strategy(),
        ) {
            match parse_object(&bytes) {
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
        fn any_json_object_round_trips_through_parse_object(
            map in json_object(),
            pretty in any::<bool>(),
        ) {
            let value = Value::Object(map.clone());
            let bytes = if pretty {
                serde_json::to_vec_pretty(&value).unwrap()
            } else {
                serde_json::to_vec(&value).unwrap()
            };
            prop_assert_eq!(parse_object(&bytes).unwrap(), map);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn arbitrary_bodies_give_the_extractors_an_object_or_wrong_format(
            ct in content_type(),
            bytes in body_bytes_strategy(),
        ) {
            let json = run(JsonObject::from_request(request(ct.as_deref(), bytes.clone()), &()));
            match json {
                Ok(JsonObject(map)) => {
                    let again: Map<String, Value> = serde_json::from_slice(&bytes).unwrap();
                    prop_assert_eq!(map, again);
                }
                Err(e) => prop_assert!(is_wrong_format(&e), "{e:?}"),
            }
            let either = run(FormOrJson::from_request(request(ct.as_deref(), bytes.clone()), &()));
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
            let JsonObject(got) =
                run(JsonObject::from_request(request(ct, bytes.clone()), &())).unwrap();
            prop_assert_eq!(&got, &map);
            let FormOrJson(got) =
                run(FormOrJson::from_request(request(ct, bytes), &())).unwrap();
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
            let got = run(JsonObject::from_request(request(Some(ct.as_bytes()), bytes), &()));
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
            let FormOrJson(got) = run(FormOrJson::from_request(
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
            match String::from_utf8(bytes) {
                Ok(text) => {
                    prop_assert_eq!(status, StatusCode::OK);
                    prop_assert_eq!(body, text.into_bytes());
                }
                Err(_) => {
                    prop_assert_eq!(status, StatusCode::BAD_REQUEST);
                    assert_invalid_url(ct.as_deref(), &body)?;
                }
            }
        }

        #[test]
        fn any_raw_path_segment_never_panics_and_gives_its_decoded_text_or_the_json_400(
            segment in r"[A-Za-z0-9\-._~!$&'()*+,;=:@%]{1,24}",
        ) {
            let path = format!("/{segment}");
            let (status, ct, body) = get_id(&path);
            match String::from_utf8(percent_decode(&segment)) {
                Ok(text) => {
                    prop_assert_eq!(status, StatusCode::OK);
                    prop_assert_eq!(body, text.into_bytes());
                }
                Err(_) => {
                    prop_assert_eq!(status, StatusCode::BAD_REQUEST);
                    assert_invalid_url(ct.as_deref(), &body)?;
                }
            }
        }
    }
}
