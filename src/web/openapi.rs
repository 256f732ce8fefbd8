//! The API's description: `GET /api/v1/openapi.json` (OpenAPI 3.1) and `GET /api/docs`, a page
//! that renders it.
//!
//! # Why the document cannot drift from the router
//!
//! The document is not written by hand. [`crate::routes::api`] registers every API route
//! through utoipa-axum's `OpenApiRouter::routes(routes!(handler))`, which reads the path and
//! the methods from the handler's own `#[utoipa::path]` annotation and adds the same
//! operation to the document: what is served and what is described are one declaration.
//! Parameters, bodies and answers are described next to the handler that reads and writes
//! them, and the bodies are the types the handlers serialize (`#[derive(ToSchema)]` on the
//! views and the error body), so a field added to a view is in the document at once.
//! [`base`] holds only what no handler owns: the title, the version (`CARGO_PKG_VERSION`), the
//! description, the tags and the security schemes. [`with_document`] splits the router from
//! its document, serializes the document once, when the router is built, and serves those
//! bytes; no request builds or serializes anything.
//!
//! The route that serves the document is itself registered the same way, so it is in the
//! document too. Tests check the rest from outside: the document validates against the
//! official OpenAPI 3.1 schema, every documented operation answers, every other method on a
//! documented path is 405, and schemathesis compares real answers with the document.
//!
//! # Why the reference page is sesame's own
//!
//! `/api/docs` is a small page of sesame's own (`docs/`: `index.html`, `docs.js`, `docs.css`,
//! on top of the web front's `/assets/app.css`), not one of the common OpenAPI UIs: those do
//! not meet two requirements the web front keeps. The first is the strict policy
//! ([`super::policy::CSP`], `default-src 'self'`: no inline script or style, no `data:` URL, no
//! `eval`); the second is accessibility (WCAG AA, checked with axe-core). Swagger UI, which
//! this page replaced, loads its icons as `data:` SVGs, misses AA contrast and nests
//! interactive elements in its operation summaries, all of it structural, not a setting.
//! `docs.js` fetches `/api/v1/openapi.json` and builds the page with DOM calls, text always as
//! text, never parsed as markup: the API's info, contents by tag, the security schemes, and
//! per operation its method and path, summary, description, security, parameters, request
//! body and answers, with the schemas (`$ref`, `oneOf`/`anyOf`, nullable type arrays as utoipa
//! writes them) shown as fields. It describes the API and sends nothing: there is no "try it".
//!
//! The assets are compiled into the binary with `include_bytes!`, never loaded from a CDN:
//! the binary stays the whole install and nothing leaves the origin. They carry the same
//! headers as the web front's (the policy, `Referrer-Policy`, `X-Frame-Options`); they and the
//! page are `no-cache`, so a browser never runs an old script against a new server.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Extension;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    ComponentsBuilder, InfoBuilder, LicenseBuilder, OpenApi, OpenApiBuilder, Tag,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::policy::{Asset, asset_routes, protect};
use crate::config::RawConfig;

/// The path of the document.
pub const DOCUMENT_PATH: &str = "/api/v1/openapi.json";

/// The path of the docs page.
pub const DOCS_PATH: &str = "/api/docs";

/// The info description: what the document describes, and under which configuration.
const DESCRIPTION: &str = "\
sesame is a session-authentication server: users, login and logout with a server-side \
session behind an HttpOnly cookie, and self-service sessions and passwords.

This document describes the default configuration, `AUTH_TYPE=session_db_auth`: protected \
operations take the session cookie (`session_cookie`; its name is `SESSION_NAME`, by default \
`_my_session_id`), which `POST /api/v1/auth_session/login` sets. Under \
`AUTH_TYPE=basic_auth` they take HTTP Basic credentials instead (`basic`), there are no \
sessions and the login answers 404; under `auth` every protected request is refused, under \
`none` nothing is checked.

Every error, whatever its status, is `{\"error\": message}` (`Error`), sometimes with a \
`detail`; clients match on `error` alone. Unknown routes answer 404 `Not found`, a known \
route asked with another method 405 `Method not allowed` (with `Allow`). Request bodies are \
JSON objects of at most 1 MiB (413 beyond); a body that is not a JSON object, or not valid \
UTF-8, is 400 `Wrong format`; a body that does not arrive within `BODY_READ_TIMEOUT` is 408. \
A store that cannot be reached answers 503 within 2 seconds. A cookie-authenticated POST, \
PUT, PATCH or DELETE that a browser marks cross-site (`Sec-Fetch-Site: cross-site`, or an \
`Origin` not allowed by `CORS_ORIGINS`) is refused with 403. Trailing slashes are optional. \
Answers carry `Cache-Control: no-store` and `X-Content-Type-Options: nosniff`.";

/// The document's parts that no handler owns: info, tags and security schemes. The paths and
/// the schemas come from the handlers (see the module docs).
pub fn base() -> OpenApi {
    let session_name = RawConfig::default().session_name;
    let info = InfoBuilder::new()
        .title("sesame")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(DESCRIPTION))
        .license(Some(
            LicenseBuilder::new()
                .name("MIT")
                .identifier(Some("MIT"))
                .build(),
        ))
        .build();
    let cookie = SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
        session_name,
        "The session cookie set by `POST /api/v1/auth_session/login` (or `POST /api/v1/setup`); \
         its name is `SESSION_NAME`."
            .to_owned(),
    )));
    let basic = SecurityScheme::Http(
        HttpBuilder::new()
            .scheme(HttpAuthScheme::Basic)
            .description(Some(
                "`Authorization: Basic base64(email:password)`: used instead of the cookie only \
                 under `AUTH_TYPE=basic_auth` (not the default).",
            ))
            .build(),
    );
    OpenApiBuilder::new()
        .info(info)
        .tags(Some(tags()))
        .components(Some(
            ComponentsBuilder::new()
                .security_scheme("session_cookie", cookie)
                .security_scheme("basic", basic)
                .build(),
        ))
        .build()
}

/// The tags, one per resource, in the order the docs page shows them.
fn tags() -> Vec<Tag> {
    [
        ("auth_session", "Login and logout with a session cookie"),
        (
            "users",
            "Users: administrators act on anyone, a user on themself (`me`)",
        ),
        ("sessions", "A user's sessions, and ending them"),
        (
            "setup",
            "First run: the first administrator, made with the setup link's token",
        ),
        (
            "status",
            "Liveness, readiness, counts and the original API's error pages",
        ),
        ("metrics", "Prometheus metrics"),
        ("openapi", "This document"),
    ]
    .into_iter()
    .map(|(name, description)| {
        TagBuilder::new()
            .name(name)
            .description(Some(description))
            .build()
    })
    .collect()
}

/// The serialized document, shared by every request.
#[derive(Clone)]
struct Document(Option<Bytes>);

/// `GET /api/v1/openapi.json`: this document.
#[utoipa::path(
    get,
    operation_id = "get_openapi",
    path = "/api/v1/openapi.json",
    tag = "openapi",
    summary = "This document",
    description = "The API's description, OpenAPI 3.1, generated from the code. \
                   `GET /api/docs` renders it.",
    responses(
        (status = 200, description = "The document", content_type = "application/json",
            body = Object),
    ),
)]
async fn document(Extension(Document(json)): Extension<Document>) -> Response {
    match json {
        Some(json) => typed(
            StatusCode::OK,
            "application/json",
            Body::from(json),
            "no-cache",
        ),
        None => typed(
            StatusCode::INTERNAL_SERVER_ERROR,
            "application/json",
            Body::from(r#"{"error":"Internal server error"}"#),
            "no-store",
        ),
    }
}

/// The API's routes with the route of their document, and the docs page: the router split
/// from its description, the description serialized once.
pub fn with_document<S: Clone + Send + Sync + 'static>(api: OpenApiRouter<S>) -> Router<S> {
    let (own, own_doc) = OpenApiRouter::new()
        .routes(routes!(document))
        .split_for_parts();
    let (router, mut doc) = api.split_for_parts();
    doc.merge(own_doc);
    let json = match serde_json::to_vec(&doc) {
        Ok(json) => Some(Bytes::from(json)),
        Err(e) => {
            tracing::error!(error = %e, "serializing the OpenAPI document");
            None
        }
    };
    // The extension is on the document's route alone: no other request carries it.
    router
        .merge(own.layer(Extension(Document(json))))
        .merge(docs_router())
}

/// The docs page (sesame's own, see the module docs).
const DOCS_HTML: &str = include_str!("docs/index.html");

/// The docs page's own assets (it also uses the web front's `/assets/app.css` and icon).
const ASSETS: &[Asset] = &[
    Asset {
        path: "/api/docs/docs.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("docs/docs.js"),
    },
    Asset {
        path: "/api/docs/docs.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("docs/docs.css"),
    },
];

/// `/api/docs` and its assets.
fn docs_router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let router = Router::new().route(
        DOCS_PATH,
        get(|| async {
            typed(
                StatusCode::OK,
                "text/html; charset=utf-8",
                Body::from(DOCS_HTML),
                "no-cache",
            )
        }),
    );
    asset_routes(router, ASSETS)
}

/// A response with its type, its caching and the page policy headers.
fn typed(
    status: StatusCode,
    content_type: &'static str,
    body: Body,
    cache: &'static str,
) -> Response {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let headers: &mut HeaderMap = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    protect(headers);
    resp
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn the_docs_page_has_no_inline_script_or_style() {
        let html = DOCS_HTML.to_ascii_lowercase();
        assert!(!html.contains("<style") && !html.contains(" style="));
        for (i, _) in html.match_indices("<script") {
            let tag = &html[i..i + html[i..].find('>').unwrap()];
            assert!(tag.contains("src=\"/api/docs/"), "inline script: {tag}");
        }
    }

    #[test]
    fn the_base_names_sesame_its_version_and_both_schemes() {
        let doc = serde_json::to_value(base()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["info"]["title"], "sesame");
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
        let schemes = &doc["components"]["securitySchemes"];
        assert_eq!(schemes["session_cookie"]["name"], "_my_session_id");
        assert_eq!(schemes["basic"]["scheme"], "basic");
    }
}
