//! The web front: a small single-page app for people (sign in, first-run setup, my account, my
//! sessions, and the users page for administrators), served by the same process as the API.
//!
//! - The page paths ([`PAGES`]) all answer the same `index.html`; `app.js` renders the page for
//!   `location.pathname` and moves between pages with `history.pushState`. Only these paths are
//!   pages: any other unknown path stays the API's JSON 404, so this router has no fallback.
//! - The assets (`/assets/app.js`, `/assets/app.css`, `/assets/icon.svg`) are compiled into the
//!   binary with `include_bytes!`: the binary is the whole install, the front always matches the
//!   API it was built with, and nothing is ever fetched from another host (no CDN to trust or to
//!   go down).
//! - Every page and asset carries a strict [`CSP`]: scripts, styles, images and `fetch` only
//!   from this origin, no inline script or style (the pages have none, so an injected string
//!   cannot run), no framing (clickjacking), no `<base>` rewriting, forms posting only here;
//!   plus `Referrer-Policy: same-origin` and `X-Frame-Options: DENY` for older browsers.
//! - Pages are `Cache-Control: no-store` (they are the shell of private screens; a back button
//!   after sign-out must not show a stored copy). Assets are `Cache-Control: no-cache` with a
//!   strong `ETag` (a digest of their bytes, computed once when the router is built): a browser
//!   revalidates each time and gets a bodiless 304 while the asset is unchanged, and sees a new
//!   build at once.
//!
//! The front calls only the public JSON API, same origin, with the session cookie.

pub mod openapi;
pub mod policy;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::get;

use policy::Asset;

/// The `Content-Security-Policy` of every page and asset (see [`policy`]; the API reference
/// page has the same).
pub use policy::CSP;

/// The paths that answer the app's `index.html`.
pub const PAGES: &[&str] = &[
    "/",
    "/signin",
    "/setup",
    "/account",
    "/sessions",
    "/admin/users",
    "/forgot",
    "/reset",
    "/verify",
    "/signup",
];

/// The app's one HTML document.
const INDEX_HTML: &str = include_str!("assets/index.html");

/// Every embedded asset.
const ASSETS: &[Asset] = &[
    Asset {
        path: "/assets/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/app.js"),
    },
    Asset {
        path: "/assets/app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("assets/app.css"),
    },
    Asset {
        path: "/assets/icon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("assets/icon.svg"),
    },
];

/// The web front's routes: the pages and the assets, for any router state.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new();
    for path in PAGES {
        router = router.route(path, get(page));
    }
    policy::asset_routes(router, ASSETS)
}

/// `index.html`, for every page path (HEAD too: axum answers it from this GET handler, without
/// the body).
async fn page() -> Response {
    let mut resp = Response::new(Body::from(INDEX_HTML));
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    policy::protect(headers);
    resp
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use axum::http::{Method, Request, StatusCode};
    use tower::ServiceExt;

    async fn get_with(path: &str, method: Method, headers: &[(&str, &str)]) -> Response {
        let mut req = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        router::<()>()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    async fn body_of(resp: Response) -> Vec<u8> {
        axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec()
    }

    fn header(resp: &Response, name: header::HeaderName) -> &str {
        resp.headers()
            .get(&name)
            .unwrap_or_else(|| panic!("no {name}"))
            .to_str()
            .unwrap()
    }

    fn assert_protected(resp: &Response) {
        assert_eq!(header(resp, header::CONTENT_SECURITY_POLICY), CSP);
        assert!(CSP.starts_with("default-src 'self'; frame-ancestors 'none'"));
        assert_eq!(header(resp, header::REFERRER_POLICY), "same-origin");
        assert_eq!(header(resp, header::X_FRAME_OPTIONS), "DENY");
    }

    #[tokio::test]
    async fn every_page_path_answers_the_index_with_the_policy() {
        for path in PAGES {
            let resp = get_with(path, Method::GET, &[]).await;
            assert_eq!(resp.status(), StatusCode::OK, "{path}");
            assert_protected(&resp);
            assert_eq!(
                header(&resp, header::CONTENT_TYPE),
                "text/html; charset=utf-8"
            );
            assert_eq!(header(&resp, header::CACHE_CONTROL), "no-store");
            assert_eq!(body_of(resp).await, INDEX_HTML.as_bytes(), "{path}");
        }
    }

    #[tokio::test]
    async fn head_on_a_page_has_the_headers_and_no_body() {
        let resp = get_with("/account", Method::HEAD, &[]).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_protected(&resp);
        assert!(body_of(resp).await.is_empty());
    }

    #[tokio::test]
    async fn other_paths_are_not_pages() {
        for path in [
            "/nope",
            "/assets/nope.js",
            "/admin",
            "/signin/x",
            "/index.html",
        ] {
            let resp = get_with(path, Method::GET, &[]).await;
            assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        }
    }

    #[tokio::test]
    async fn assets_have_their_types_and_validators() {
        for (path, ty) in [
            ("/assets/app.js", "text/javascript; charset=utf-8"),
            ("/assets/app.css", "text/css; charset=utf-8"),
            ("/assets/icon.svg", "image/svg+xml"),
        ] {
            let resp = get_with(path, Method::GET, &[]).await;
            assert_eq!(resp.status(), StatusCode::OK, "{path}");
            assert_protected(&resp);
            assert_eq!(header(&resp, header::CONTENT_TYPE), ty);
            assert_eq!(header(&resp, header::CACHE_CONTROL), "no-cache");
            let etag = header(&resp, header::ETAG);
            assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() == 34);
            assert!(!body_of(resp).await.is_empty());
        }
    }

    #[tokio::test]
    async fn a_matching_etag_answers_304_without_a_body() {
        let first = get_with("/assets/app.css", Method::GET, &[]).await;
        let etag = header(&first, header::ETAG).to_owned();
        for inm in [
            etag.clone(),
            format!("W/{etag}"),
            format!("\"other\", {etag}"),
            "*".to_owned(),
        ] {
            let resp = get_with("/assets/app.css", Method::GET, &[("if-none-match", &inm)]).await;
            assert_eq!(resp.status(), StatusCode::NOT_MODIFIED, "{inm}");
            assert_eq!(header(&resp, header::ETAG), etag);
            assert_protected(&resp);
            assert!(body_of(resp).await.is_empty());
        }
        let stale = get_with(
            "/assets/app.css",
            Method::GET,
            &[("if-none-match", "\"0123\"")],
        )
        .await;
        assert_eq!(stale.status(), StatusCode::OK);
        // Each asset has its own validator.
        let js = get_with("/assets/app.js", Method::GET, &[]).await;
        assert_ne!(header(&js, header::ETAG), etag);
    }

    #[test]
    fn the_index_has_no_inline_script_or_style() {
        let html = INDEX_HTML.to_ascii_lowercase();
        assert!(!html.contains("<style"));
        assert!(!html.contains(" style="));
        assert!(!html.contains("javascript:"));
        for (i, _) in html.match_indices("<script") {
            let tag = &html[i..html[i..].find('>').map_or(html.len(), |e| i + e)];
            assert!(tag.contains("src="), "inline script: {tag}");
        }
    }
}
