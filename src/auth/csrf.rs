//! Cross-site request refusal: state-changing requests through the cookie that a browser marks
//! as sent from another site (`Sec-Fetch-Site`, `Origin`), and login CSRF.

use axum::http::{HeaderMap, HeaderValue, Method, header};

use crate::config::{CorsOrigins, Settings};
use crate::service::ServiceError;

/// Refuses (403) a state-changing request that acts through the session cookie and that a
/// browser marks as cross-site, under a session `AUTH_TYPE`.
pub fn refuse_cross_site(
    method: &Method,
    headers: &HeaderMap,
    settings: &Settings,
) -> Result<(), ServiceError> {
    if is_unsafe(method)
        && settings.auth_type.uses_sessions()
        && is_cross_site(headers, &settings.cors)
    {
        tracing::warn!(target: "audit", event = "csrf_refused", "cross-site request refused");
        return Err(ServiceError::Forbidden);
    }
    Ok(())
}

/// Refuses (403) a login that another site's page submits as a form in the user's browser
/// (`Sec-Fetch-Site: cross-site` with `Sec-Fetch-Mode: navigate`): login CSRF, which would sign
/// the victim in to the attacker's account. Logins by script (`fetch`, which CORS governs) and
/// by clients that send no such headers are not affected.
///
/// `with_cookie` says whether the login request carries a session cookie (the login reads it
/// once, for the session it ends).
pub fn refuse_cross_site_login(
    headers: &HeaderMap,
    settings: &Settings,
    with_cookie: bool,
) -> Result<(), ServiceError> {
    let header_is = |name: &str, value: &[u8]| {
        headers
            .get(name)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(value))
    };
    if header_is("sec-fetch-site", b"cross-site") && header_is("sec-fetch-mode", b"navigate") {
        tracing::warn!(target: "audit", event = "csrf_refused", "cross-site login form refused");
        return Err(ServiceError::Forbidden);
    }
    if with_cookie {
        return refuse_cross_site(&Method::POST, headers, settings);
    }
    Ok(())
}

/// Whether the method changes state.
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
