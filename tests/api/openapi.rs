//! The API's description, checked against the server that serves it: `GET /api/v1/openapi.json`
//! is a valid OpenAPI 3.1 document (the official schema, with schema objects checked against
//! the OpenAPI dialect of JSON Schema 2020-12), every documented operation is served, every
//! other method on a documented path is 405, nothing is routed around the description, and
//! `GET /api/docs` renders it from the binary's own assets under the strict CSP.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Value, json};

use crate::support::{Resp, TestApp};

/// The methods a route can document (HEAD is answered from GET, OPTIONS is the CORS
/// preflight: neither is an operation of its own).
const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options"];

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/openapi-3.1")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The validator of OpenAPI 3.1 documents: the official document schema (2022-10-07) with
/// schema objects validated against the OpenAPI 3.1 dialect (JSON Schema 2020-12 plus the OAS
/// base vocabulary), exactly as the official `schema-base` composes them: its `$defs/schema`
/// carries the `$dynamicAnchor: meta` that the document schema's `$dynamicRef: #meta`
/// resolves to. The 2020-12 meta-schemas are built into the `jsonschema` crate; nothing is
/// fetched.
fn openapi_validator() -> jsonschema::Validator {
    let document = fixture("schema.json");
    let dialect = fixture("dialect-base.json");
    let vocabulary = fixture("meta-base.json");
    let id = |v: &Value| v["$id"].as_str().unwrap().to_owned();
    assert_eq!(
        id(&document),
        "https://spec.openapis.org/oas/3.1/schema/2022-10-07"
    );
    let schema_base = json!({
        "$id": "https://spec.openapis.org/oas/3.1/schema-base/2022-10-07",
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": id(&document),
        "properties": {"jsonSchemaDialect": {"$ref": "#/$defs/dialect"}},
        "$defs": {
            "dialect": {"const": id(&dialect)},
            "schema": {
                "$dynamicAnchor": "meta",
                "$ref": id(&dialect),
                "properties": {"$schema": {"$ref": "#/$defs/dialect"}}
            }
        }
    });
    let registry = jsonschema::Registry::new()
        .add(id(&document), document)
        .unwrap()
        .add(id(&dialect), dialect)
        .unwrap()
        .add(id(&vocabulary), vocabulary)
        .unwrap()
        .prepare()
        .unwrap();
    jsonschema::options()
        .with_registry(&registry)
        .should_validate_formats(true)
        .build(&schema_base)
        .unwrap()
}

fn errors(validator: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

async fn document(app: &TestApp) -> (Resp, Value) {
    let r = app.anon().get("/openapi.json").await;
    let doc: Value = serde_json::from_str(&r.text).unwrap();
    (r, doc)
}

fn rest_after<'a>(text: &'a str, prefix: &str) -> &'a str {
    &text[prefix.len()..]
}

/// Every documented operation: method (lower case), path template, and the operation.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(METHODS.contains(&method.as_str()), "{method} {path}");
            out.push((method.clone(), path.clone(), op.clone()));
        }
    }
    out
}

/// A concrete URL path for a template: every `{param}` replaced by a value no record has.
fn concrete(template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').unwrap() + open;
        out.push_str(&rest[..open]);
        out.push_str("no-such-record");
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

async fn request(app: &TestApp, method: &str, path: &str) -> Resp {
    let client = app.anon();
    let m = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
    client
        .send(client.http.request(m, format!("{}{path}", app.base)))
        .await
}

#[tokio::test]
async fn the_served_document_is_openapi_3_1_and_validates_against_the_official_schema() {
    let app = TestApp::spawn("session_db_auth").await;
    let (r, doc) = document(&app).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "sesame");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        doc["info"]["description"]
            .as_str()
            .unwrap()
            .contains("session_db_auth")
    );
    let validator = openapi_validator();
    let errs = errors(&validator, &doc);
    assert!(
        errs.is_empty(),
        "the document is not valid OpenAPI 3.1:\n{}",
        errs.join("\n")
    );
    // The same bytes every time: serialized once, when the router was built.
    let again = app.anon().get("/openapi.json").await;
    assert_eq!(again.text, r.text);
}

#[tokio::test]
async fn the_validation_is_real_it_refuses_broken_copies_of_the_document() {
    let app = TestApp::spawn("session_db_auth").await;
    let (_, doc) = document(&app).await;
    let validator = openapi_validator();
    let mut broken: Vec<(&str, Value)> = Vec::new();
    let mut no_info = doc.clone();
    no_info.as_object_mut().unwrap().remove("info");
    broken.push(("no info", no_info));
    let mut old_version = doc.clone();
    old_version["openapi"] = json!("3.0.3");
    broken.push(("openapi 3.0.3", old_version));
    let mut no_description = doc.clone();
    no_description["paths"]["/api/v1/status"]["get"]["responses"]["200"]
        .as_object_mut()
        .unwrap()
        .remove("description");
    broken.push(("a response without a description", no_description));
    let mut bad_path = doc.clone();
    let status = bad_path["paths"]["/api/v1/status"].clone();
    bad_path["paths"]["api/v1/no-slash"] = status;
    broken.push(("a path that does not start with /", bad_path));
    // Only the dialect (reached through $dynamicRef) knows what a schema object may hold.
    let mut bad_schema = doc.clone();
    bad_schema["components"]["schemas"]["User"]["minProperties"] = json!(-1);
    broken.push(("a schema object with minProperties -1", bad_schema));
    let mut bad_type = doc.clone();
    bad_type["components"]["schemas"]["Error"]["properties"]["error"]["type"] = json!("text");
    broken.push(("a schema object of type text", bad_type));
    let mut bad_security = doc.clone();
    bad_security["components"]["securitySchemes"]["session_cookie"]["in"] = json!("body");
    broken.push(("an apiKey in the body", bad_security));
    for (what, copy) in broken {
        assert!(
            !errors(&validator, &copy).is_empty(),
            "a document with {what} passed"
        );
    }
}

#[tokio::test]
async fn every_documented_operation_is_served_and_answers_a_documented_status() {
    let app = TestApp::spawn("session_db_auth").await;
    let (_, doc) = document(&app).await;
    let ops = operations(&doc);
    assert!(ops.len() >= 20, "only {} operations", ops.len());
    for (method, path, op) in ops {
        let r = request(&app, &method, &concrete(&path)).await;
        assert_ne!(r.status, 405, "{method} {path}: {}", r.text);
        if r.status == 404 {
            // A handler's own 404 is fine (a record that does not exist); the router's is not.
            panic!("{method} {path}: 404 without credentials: {}", r.text);
        }
        let documented = op["responses"].as_object().unwrap();
        assert!(
            documented.contains_key(&r.status.to_string()),
            "{method} {path} answered {} ({}), documented: {:?}",
            r.status,
            r.text,
            documented.keys().collect::<Vec<_>>()
        );
    }
}

#[tokio::test]
async fn every_other_method_on_a_documented_path_is_405_with_allow() {
    let app = TestApp::spawn("session_db_auth").await;
    let (_, doc) = document(&app).await;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let documented: BTreeSet<String> = item
            .as_object()
            .unwrap()
            .keys()
            .map(|m| m.to_ascii_uppercase())
            .collect();
        let mut allowed = documented.clone();
        if documented.contains("GET") {
            allowed.insert("HEAD".into());
        }
        // HEAD (answered for GET) and OPTIONS (CORS) are the framework's: the methods a
        // route may leave out are the rest.
        for method in &METHODS[..5] {
            let upper = method.to_ascii_uppercase();
            if documented.contains(&upper) {
                continue;
            }
            let r = request(&app, method, &concrete(path)).await;
            r.assert_error(405, "Method not allowed");
            let allow: BTreeSet<String> = r
                .header("allow")
                .unwrap_or_else(|| panic!("{upper} {path}: no Allow"))
                .split(',')
                .map(|m| m.trim().to_owned())
                .collect();
            assert_eq!(allow, allowed, "{upper} {path}");
        }
    }
}

/// The source of `path` without its comment lines and test modules.
fn code_of(path: &str) -> String {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap();
    let cut = text.find("#[cfg(test)]").unwrap_or(text.len());
    text[..cut]
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_api_router_registers_routes_only_through_the_openapi_router() {
    let code = code_of("src/routes/mod.rs");
    let plain_router = code
        .match_indices("Router::new()")
        .any(|(i, _)| !code[..i].ends_with("OpenApi"));
    assert!(
        !plain_router,
        "src/routes/mod.rs builds a plain axum Router"
    );
    for plain in [
        ".route(",
        ".route_service(",
        ".nest(",
        ".nest_service(",
        "routing::",
    ] {
        assert!(
            !code.contains(plain),
            "src/routes/mod.rs uses `{plain}`: register API routes with `.routes(routes!(handler))` so that they are described"
        );
    }
    assert!(code.contains("OpenApiRouter"));
}

#[tokio::test]
async fn every_annotated_handler_is_routed_and_described() {
    // Handlers annotated but never registered would be described nowhere and served nowhere:
    // each annotation must be one operation of the document.
    let mut annotated = BTreeSet::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/routes");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| format!("src/routes/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    files.push("src/web/openapi.rs".into());
    files.push("src/auth/verify.rs".into());
    for file in files {
        let code = code_of(&file);
        for (i, _) in code.match_indices("#[utoipa::path(") {
            let rest = rest_after(&code[i..], "#[utoipa::path(").trim_start();
            // `get,` or `method(get, head, ...),`
            let methods: Vec<String> = match rest.strip_prefix("method(") {
                Some(list) => list
                    .split(')')
                    .next()
                    .unwrap()
                    .split(',')
                    .map(|m| m.trim().to_owned())
                    .collect(),
                None => vec![rest.split(',').next().unwrap().trim().to_owned()],
            };
            let path = rest
                .split("path = \"")
                .nth(1)
                .and_then(|p| p.split('"').next())
                .unwrap()
                .to_owned();
            for method in methods {
                annotated.insert((method, path.clone()));
            }
        }
    }
    let app = TestApp::spawn("session_db_auth").await;
    let (_, doc) = document(&app).await;
    let described: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(m, p, _)| (m, p))
        .collect();
    assert_eq!(annotated, described);
}

#[tokio::test]
async fn with_metrics_on_their_own_address_the_document_leaves_them_out() {
    let app = TestApp::spawn("session_db_auth").await;
    let (_, doc) = document(&app).await;
    assert!(doc["paths"]["/metrics"]["get"].is_object());
    let apart = TestApp::spawn_with(|c| c.metrics_addr = Some("127.0.0.1:0".into())).await;
    let (_, doc) = document(&apart).await;
    assert!(doc["paths"].get("/metrics").is_none());
    let r = request(&apart, "get", "/metrics").await;
    r.assert_error(404, "Not found");
}

#[tokio::test]
async fn the_document_describes_the_contracts_shapes() {
    let app = TestApp::spawn("session_db_auth").await;
    let (_, doc) = document(&app).await;
    let schemas = &doc["components"]["schemas"];
    let user: BTreeSet<&str> = schemas["User"]["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        user,
        BTreeSet::from([
            "id",
            "email",
            "first_name",
            "last_name",
            "created_at",
            "updated_at",
            "is_admin"
        ])
    );
    assert_eq!(schemas["Error"]["required"], json!(["error"]));
    let cookie = &doc["components"]["securitySchemes"]["session_cookie"];
    assert_eq!(cookie["type"], "apiKey");
    assert_eq!(cookie["in"], "cookie");
    assert_eq!(cookie["name"], "_my_session_id");
    assert_eq!(
        doc["components"]["securitySchemes"]["basic"]["scheme"],
        "basic"
    );
    let login = &doc["paths"]["/api/v1/auth_session/login"]["post"];
    let types: BTreeSet<&str> = login["requestBody"]["content"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        types,
        BTreeSet::from([
            "application/json",
            "application/x-www-form-urlencoded",
            "multipart/form-data"
        ])
    );
    assert!(login["responses"]["200"]["headers"]["Set-Cookie"].is_object());
    assert!(login["responses"]["429"]["headers"]["Retry-After"].is_object());
    let list = &doc["paths"]["/api/v1/users"]["get"];
    let params: Vec<&str> = list["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["q", "page", "per_page"]);
    assert_eq!(list["parameters"][2]["schema"]["maximum"], 100);
    assert!(list["responses"]["200"]["headers"]["X-Total-Count"].is_object());
    assert!(list["responses"]["200"]["headers"]["Link"].is_object());
    // Every error answer is the one error shape.
    for (method, path, op) in operations(&doc) {
        for (status, resp) in op["responses"].as_object().unwrap() {
            if path == "/api/v1/auth/verify" {
                // Forward auth answers proxies, with no body at all.
                assert!(resp.get("content").is_none(), "{method} {path} {status}");
                continue;
            }
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(
                    resp["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/Error",
                    "{method} {path} {status}"
                );
            }
        }
        if op.get("security").is_some() {
            assert!(
                op["responses"].get("401").is_some() && op["responses"].get("403").is_some(),
                "{method} {path}: a protected operation answers 401 and 403"
            );
        }
    }
}

#[tokio::test]
async fn the_docs_page_renders_the_document_from_embedded_assets_under_the_csp() {
    let app = TestApp::spawn("session_db_auth").await;
    let page = request(&app, "get", "/api/docs").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let csp = page.header("content-security-policy").unwrap();
    assert_eq!(
        csp,
        "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    );
    assert_eq!(page.header("referrer-policy"), Some("same-origin"));
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    let html = page.text.to_ascii_lowercase();
    assert!(html.starts_with("<!doctype html>\n<html lang=\"en\">"));
    assert!(html.contains("<title>sesame api reference</title>"));
    assert!(!html.contains("<style") && !html.contains(" style="));
    assert!(!html.contains("javascript:") && !html.contains("data:"));
    for (i, _) in html.match_indices("<script") {
        let tag = &html[i..i + html[i..].find('>').unwrap()];
        assert!(tag.contains("src="), "inline script: {tag}");
    }
    // Every script, stylesheet and image the page names is served by this binary.
    let mut assets = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for part in page.text.split(attr).skip(1) {
            let url = part.split('"').next().unwrap();
            if url.starts_with("/api/docs/") || url.starts_with("/assets/") {
                assets.push(url.to_owned());
            }
        }
    }
    assets.sort();
    assets.dedup();
    assert_eq!(
        assets,
        [
            "/api/docs/docs.css",
            "/api/docs/docs.js",
            "/assets/app.css",
            "/assets/icon.svg"
        ]
    );
    for asset in assets {
        let r = request(&app, "get", &asset).await;
        assert_eq!(r.status, 200, "{asset}");
        let ty = match asset.rsplit('.').next().unwrap() {
            "css" => "text/css; charset=utf-8",
            "js" => "text/javascript; charset=utf-8",
            _ => "image/svg+xml",
        };
        assert_eq!(r.header("content-type"), Some(ty), "{asset}");
        assert_eq!(r.header("content-security-policy"), Some(csp), "{asset}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert!(r.text.len() > 100, "{asset}");
        if asset.starts_with("/api/docs/") {
            assert_eq!(r.header("cache-control"), Some("no-cache"), "{asset}");
        }
    }
    // The script reads the served document, and puts text in as text, never as markup.
    let js = request(&app, "get", "/api/docs/docs.js").await.text;
    assert!(page.text.contains("data-document=\"/api/v1/openapi.json\""));
    assert!(js.contains("/api/v1/openapi.json"));
    assert!(js.contains("The API description could not be loaded."));
    for banned in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
    ] {
        assert!(!js.contains(banned), "docs.js uses {banned}");
    }
    // Nothing else is there: the vendored Swagger UI is gone.
    for gone in [
        "/api/docs/nope.js",
        "/api/docs/swagger-ui-bundle.js",
        "/api/docs/swagger-ui.css",
        "/api/docs/init.js",
    ] {
        request(&app, "get", gone)
            .await
            .assert_error(404, "Not found");
    }
}
