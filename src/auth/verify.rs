//! Forward authentication: `/api/v1/auth/verify`, the question a reverse proxy (nginx
//! `auth_request`, Traefik `ForwardAuth`, Caddy `forward_auth`) asks about every request it
//! guards.
//!
//! - Every method is answered the same way (Traefik forwards the original method, `OPTIONS`
//!   included): the route sits outside the CORS layer, so a preflight-looking request gets no
//!   shortcut. No body is read.
//! - The credentials, and every rule about them (expiry, idle timeout, revocation, throttling of
//!   Basic), are the gate's: this is the same [`Service::authenticate`](crate::service::Service)
//!   call every protected route makes, and touches the store only as that does (the idle-use
//!   record at most once per interval). The cross-site check is not applied: verify changes
//!   nothing, and the method and headers it sees belong to the guarded application's request.
//! - 200 has an empty body (nginx keeps its connection to an auth server alive only then) and
//!   the user in `X-Auth-User-Id`, `X-Auth-User-Email`, `X-Auth-User-Admin` and, for sessions,
//!   `X-Auth-Session-Id` (the public handle, never the token). `?admin=1` refuses (403) a user
//!   who is not an administrator.
//! - Refusals have empty bodies: 401 without credentials (with the Basic challenge under
//!   `basic_auth`, which nginx passes on), 403 when they do not resolve, 429 with `Retry-After`
//!   while throttled, 503 when the store cannot be reached.
//! - A browser that must sign in is sent there instead of refused: when the request names where
//!   it came from (`?rd=<url>`, or `X-Forwarded-Host` and `X-Forwarded-Uri` with an `Accept`
//!   that includes `text/html`), and that URL passes [`redirect::check`](super::redirect) (an
//!   allowed host), the answer is 302 to `SIGNIN_URL?rd=<that URL>`: Traefik and Caddy hand
//!   that answer to the browser. nginx cannot (its `auth_request` turns anything but 2xx, 401
//!   and 403 into a 500), so a request naming its origin in `X-Original-URL` (nginx's
//!   convention; the deploy snippet sets it) keeps its 401 and carries the same address in
//!   `Location`, which the snippet's `error_page 401` turns into the browser's redirect.
//!   Anything else gets the plain refusal: no open redirect.

use axum::body::Body;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;

use super::gate::{BASIC_CHALLENGE, credentials};
use super::redirect::{self, Target};
use crate::config::{AuthType, Settings};
use crate::routes::state::AppState;
use crate::service::{Authenticated, ServiceError};
use crate::store::StoreError;

/// `X-Auth-User-Id`.
pub static USER_ID: HeaderName = HeaderName::from_static("x-auth-user-id");
/// `X-Auth-User-Email`.
pub static USER_EMAIL: HeaderName = HeaderName::from_static("x-auth-user-email");
/// `X-Auth-User-Admin`.
pub static USER_ADMIN: HeaderName = HeaderName::from_static("x-auth-user-admin");
/// `X-Auth-Session-Id`.
pub static SESSION_ID: HeaderName = HeaderName::from_static("x-auth-session-id");

/// What the query asks: `admin=1`, and `rd`.
#[derive(Default)]
struct Query {
    admin: bool,
    rd: Option<String>,
}

fn query(parts: &Parts) -> Query {
    let mut q = Query::default();
    let Some(raw) = parts.uri.query() else {
        return q;
    };
    for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
        match &*k {
            "admin" => q.admin = matches!(&*v, "1" | "true" | "yes"),
            "rd" => q.rd = Some(v.into_owned()),
            _ => {}
        }
    }
    q
}

/// `/api/v1/auth/verify`, any method.
#[utoipa::path(
    method(get, head, post, put, patch, delete, options),
    operation_id = "verify",
    path = "/api/v1/auth/verify",
    tag = "forward auth",
    summary = "Forward authentication: may this request through?",
    description = "For nginx `auth_request`, Traefik `ForwardAuth` and Caddy `forward_auth`: the \
                   same credentials and rules as every route, any method (no CORS shortcut for \
                   `OPTIONS`), no body read, every answer without a body. A browser that must \
                   sign in (`rd`, or `X-Forwarded-Host` and `X-Forwarded-Uri` with `Accept: \
                   text/html`) on an allowed host (`FORWARD_AUTH_ALLOWED_HOSTS`) is sent to \
                   `SIGNIN_URL?rd=<its URL>`; behind nginx (`X-Original-URL`) the 401 carries \
                   that address in `Location` instead.",
    params(
        ("admin" = Option<String>, Query, description = "`1`: administrators only (403 for others)"),
        ("rd" = Option<String>, Query, description = "Where the browser was going (an absolute URL on an allowed host)"),
        ("X-Original-URL" = Option<String>, Header, description = "nginx: the guarded request's URL"),
        ("X-Forwarded-Host" = Option<String>, Header, description = "Traefik, Caddy: the guarded request's host"),
        ("X-Forwarded-Uri" = Option<String>, Header, description = "Traefik, Caddy: the guarded request's path and query"),
    ),
    security(("session_cookie" = []), ("basic" = [])),
    responses(
        (status = 200, description = "Signed in: the user, in headers; no body",
            headers(
                ("X-Auth-User-Id" = String, description = "The user's id"),
                ("X-Auth-User-Email" = String, description = "The user's email"),
                ("X-Auth-User-Admin" = String, description = "`true` or `false`"),
                ("X-Auth-Session-Id" = String, description = "The session's public handle (absent for Basic)"),
            )),
        (status = 302, description = "A browser sent to sign in",
            headers(("Location" = String, description = "`SIGNIN_URL?rd=<the guarded URL>`"))),
        (status = 401, description = "No credentials, a sign-in waiting for its second factor, \
                                      or a session that must enrol one first (behind nginx, \
                                      with `Location` for a browser)",
            headers(("Location" = String, description = "Where to sign in, when it applies"))),
        (status = 403, description = "Credentials that do not resolve, or not an administrator with `admin=1`"),
        (status = 429, description = "Basic credentials throttled",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "A store cannot be reached"),
    ),
)]
pub async fn verify(State(state): State<AppState>, parts: Parts) -> Response {
    let settings = &state.settings;
    let q = query(&parts);
    let refusal = match state
        .service
        .authenticate(credentials(&parts, settings))
        .await
    {
        // A session that may only enrol a second factor is sent to sesame, as one that is
        // still waiting for its second factor is.
        Ok(auth) if auth.enrol_only => ServiceError::SecondFactorRequired,
        Ok(auth) => {
            return match auth.user() {
                Some(user) if q.admin && !user.is_admin => bare(StatusCode::FORBIDDEN),
                _ => allowed(&auth),
            };
        }
        Err(e) => e,
    };
    let status = match refusal {
        ServiceError::NoCredentials | ServiceError::SecondFactorRequired => {
            StatusCode::UNAUTHORIZED
        }
        ServiceError::Throttled { retry_after } => {
            let mut resp = bare(StatusCode::TOO_MANY_REQUESTS);
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after.max(1)));
            return resp;
        }
        ServiceError::Store(StoreError::Unavailable(_)) => {
            return bare(StatusCode::SERVICE_UNAVAILABLE);
        }
        ServiceError::Store(_) | ServiceError::Internal(_) => {
            tracing::error!(error = %refusal, "forward auth failed");
            return bare(StatusCode::INTERNAL_SERVER_ERROR);
        }
        _ => StatusCode::FORBIDDEN,
    };
    if settings.auth_type == AuthType::Basic {
        let mut resp = bare(status);
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(BASIC_CHALLENGE),
            );
        }
        return resp;
    }
    let (location, via_nginx) = match (q.rd, original_url(&parts.headers)) {
        (Some(rd), _) => (sign_in_redirect(&rd, settings), false),
        (None, Some((url, via_nginx))) => (sign_in_redirect(&url, settings), via_nginx),
        (None, None) => (None, false),
    };
    match location {
        Some(location) => {
            let mut resp = bare(if via_nginx { status } else { StatusCode::FOUND });
            resp.headers_mut().insert(header::LOCATION, location);
            resp
        }
        None => bare(status),
    }
}

/// An answer with no body.
fn bare(status: StatusCode) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = status;
    resp
}

/// 200 with the user's headers. Values that cannot be header values (none should: ids are
/// uuids, emails are checked) are left out rather than failing the request.
fn allowed(auth: &Authenticated) -> Response {
    let mut resp = bare(StatusCode::OK);
    let Some(user) = auth.user() else {
        // AUTH_TYPE=none: nobody in particular.
        return resp;
    };
    let headers = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&user.id) {
        headers.insert(USER_ID.clone(), v);
    }
    if let Ok(v) = HeaderValue::from_bytes(user.email.as_bytes()) {
        headers.insert(USER_EMAIL.clone(), v);
    }
    headers.insert(
        USER_ADMIN.clone(),
        HeaderValue::from_static(if user.is_admin { "true" } else { "false" }),
    );
    if let Some(session) = &auth.session
        && let Ok(v) = HeaderValue::from_str(&session.id)
    {
        headers.insert(SESSION_ID.clone(), v);
    }
    resp
}

/// Where an unauthenticated browser goes: `SIGNIN_URL?rd=<original URL>`, if that URL is on
/// an allowed host.
fn sign_in_redirect(original: &str, settings: &Settings) -> Option<HeaderValue> {
    let Some(Target::Absolute(url)) = redirect::check(original, &settings.allowed_hosts) else {
        return None;
    };
    let rd: String = url::form_urlencoded::byte_serialize(url.as_str().as_bytes()).collect();
    let signin = settings.signin_url();
    let sep = if signin.contains('?') { '&' } else { '?' };
    HeaderValue::try_from(format!("{signin}{sep}rd={rd}")).ok()
}

/// The guarded request's URL, for a browser (`Accept` includes `text/html`) only: from
/// `X-Original-URL` (nginx; `true`), or from `X-Forwarded-Proto`/`-Host`/`-Uri` (Traefik,
/// Caddy; `false`).
fn original_url(headers: &HeaderMap) -> Option<(String, bool)> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if !text("accept").is_some_and(|a| a.contains("text/html")) {
        return None;
    }
    if let Some(url) = text("x-original-url") {
        return Some((url.to_owned(), true));
    }
    let host = text("x-forwarded-host")?;
    let uri = text("x-forwarded-uri")?;
    let proto = match text("x-forwarded-proto") {
        Some("https") => "https",
        _ => "http",
    };
    if !uri.starts_with('/') {
        return None;
    }
    Some((format!("{proto}://{host}{uri}"), false))
}

/// The answer of `GET /api/v1/auth/redirect`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct RedirectBody {
    /// The address, as the browser will read it.
    rd: String,
}

/// `GET /api/v1/auth/redirect?rd=<url>`: whether the web front may send a browser to `rd`
/// after sign-in: 200 `{"rd": <the URL as the browser will read it>}`, or 400 when it is not a
/// path of this origin or a URL on an allowed host.
#[utoipa::path(
    get,
    operation_id = "redirect_target",
    path = "/api/v1/auth/redirect",
    tag = "forward auth",
    summary = "May sign-in send the browser to this address?",
    description = "What the web front asks before following `rd`: a path of this origin, or an \
                   absolute URL on a host of `FORWARD_AUTH_ALLOWED_HOSTS`. Anything else (another \
                   host, `//host`, backslashes, credentials in the URL, `javascript:`) is refused.",
    params(("rd" = String, Query, description = "The address")),
    responses(
        (status = 200, description = "Allowed: the address as the browser will read it",
            body = RedirectBody, example = json!({"rd": "https://app.example.com/reports"})),
        (status = 400, description = "Not allowed", body = crate::routes::error::ErrorBody,
            example = json!({"error": "rd not allowed"})),
    ),
)]
pub async fn redirect_target(
    State(state): State<AppState>,
    parts: Parts,
) -> Result<Response, crate::routes::error::ApiError> {
    let rd = query(&parts).rd.unwrap_or_default();
    match redirect::check(&rd, &state.settings.allowed_hosts) {
        Some(target) => Ok(axum::response::IntoResponse::into_response(axum::Json(
            RedirectBody {
                rd: target.as_str().to_owned(),
            },
        ))),
        None => Err(crate::routes::error::ApiError::invalid("rd not allowed")),
    }
}
