//! The security policy of every HTML page and asset the server sends (the web front's pages and
//! assets, and the API reference page `/api/docs` with its assets), and the serving of embedded
//! assets they share: one policy and one way to serve, so that the pages cannot drift apart.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use sha2::{Digest, Sha256};

/// The `Content-Security-Policy` of every page and asset: scripts, styles, images and `fetch`
/// only from this origin (so no inline script or style, no `data:` URL, no `eval`), no framing,
/// no `<base>` rewriting, forms posting only here.
pub const CSP: &str =
    "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// A file compiled into the binary, served at `path`.
pub struct Asset {
    /// Where it is served.
    pub path: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
}

/// `router` with a route for each of `assets`: `no-cache` with a strong `ETag` (computed once,
/// here) and a bodiless 304 for a matching `If-None-Match`, and the policy headers.
pub fn asset_routes<S: Clone + Send + Sync + 'static>(
    mut router: Router<S>,
    assets: &'static [Asset],
) -> Router<S> {
    for asset in assets {
        let etag = etag_of(asset.body);
        router = router.route(
            asset.path,
            get(move |headers: HeaderMap| {
                let etag = etag.clone();
                async move { serve_asset(asset, etag.as_ref(), &headers) }
            }),
        );
    }
    router
}

/// An asset, or a bodiless 304 when the request's `If-None-Match` names its current `ETag`.
fn serve_asset(asset: &Asset, etag: Option<&HeaderValue>, request: &HeaderMap) -> Response {
    let fresh = etag.is_some_and(|tag| none_match_hits(request, tag));
    let mut resp = if fresh {
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        resp
    } else {
        let mut resp = Response::new(Body::from(asset.body));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        resp
    };
    let headers = resp.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Some(tag) = etag {
        headers.insert(header::ETAG, tag.clone());
    }
    protect(headers);
    resp
}

/// The headers every page and asset carries: the policy, `Referrer-Policy` and `X-Frame-Options`.
pub fn protect(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// A strong validator for `body`: the first 128 bits of its SHA-256, quoted.
fn etag_of(body: &[u8]) -> Option<HeaderValue> {
    let digest = Sha256::digest(body);
    let tag = format!("\"{}\"", hex::encode(&digest[..16]));
    HeaderValue::try_from(tag).ok()
}

/// Whether `If-None-Match` (every such header, each a comma-separated list) names `etag` or is
/// `*`. The comparison is the weak one RFC 9110 §13.1.2 asks of `If-None-Match`: a `W/` prefix
/// is ignored.
fn none_match_hits(request: &HeaderMap, etag: &HeaderValue) -> bool {
    let tag = etag.as_bytes();
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(<[u8]>::trim_ascii)
        .any(|t| t == b"*" || t.strip_prefix(b"W/").unwrap_or(t) == tag)
}
