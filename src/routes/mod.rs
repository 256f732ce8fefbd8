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
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
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

/// Reads the body, answering 413 past the limit.
async fn body_bytes(req: Request) -> Result<(HeaderMap, Bytes), Error> {
    let (parts, body) = req.into_parts();
    let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), &())
        .await
        .map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                Error::PayloadTooLarge
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
