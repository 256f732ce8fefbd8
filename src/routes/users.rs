//! `/users`: list, create, show, update and delete; administrators act on anyone, a user on
//! themself (`me` names the current user).

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{Field, Id, JsonBody};
use super::state::AppState;
use super::view::{Empty, UserView, empty_answer, user_response};
use crate::auth::client::ClientIp;
use crate::auth::gate::Auth;
use crate::domain::Secret;
use crate::service::{NewUser, Page, UserChanges};

/// The body of `POST /users`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = NewUser)]
pub struct NewUserBody {
    /// The email address; unique ignoring case.
    #[serde(default)]
    #[schema(value_type = String, format = Email, max_length = 254, required = true)]
    email: Field,
    /// The password: at least 8 characters, at most 1024 bytes, not the email address.
    #[serde(default)]
    #[schema(value_type = String, min_length = 8, max_length = 1024, required = true)]
    password: Field,
    /// First name.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    first_name: Field,
    /// Last name.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    last_name: Field,
    /// Whether the new user is an administrator (default false).
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    is_admin: Option<serde_json::Value>,
}

/// The body of `PUT /users/{id}`: the names and (for administrators) the admin flag, and the
/// fields this route cannot change, so that a request to change them is told so rather than
/// silently ignored.
// In the document: `email` may be sent back unchanged (a client that PUTs the user it read)
// and `password` is refused, so neither is described as a field one can set; the operation's
// description says so.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(
    as = UserChanges,
    description = "The changes of `PUT /users/{id}`: the names and (for administrators) the \
                   admin flag."
)]
pub struct UpdateUserBody {
    /// New first name; absent or `null` leaves it.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    first_name: Field,
    /// New last name; absent or `null` leaves it.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    last_name: Field,
    #[serde(default)]
    #[schema(ignore)]
    email: Field,
    #[serde(default)]
    #[schema(ignore)]
    password: Field,
    /// Grant or withdraw administrator rights (administrators only); absent or `null` leaves
    /// them.
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    is_admin: Option<serde_json::Value>,
}

/// The body of `PUT /users/me/password`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = PasswordChange)]
pub struct PasswordBody {
    /// The password now.
    #[serde(default)]
    #[schema(value_type = String, min_length = 1, required = true)]
    current_password: Field,
    /// The new password: at least 8 characters, at most 1024 bytes, not the email address.
    #[serde(default)]
    #[schema(value_type = String, min_length = 8, max_length = 1024, required = true)]
    new_password: Field,
}

/// `is_admin` as sent: absent or `null` leaves it, otherwise it must be a boolean.
fn admin_flag(value: Option<serde_json::Value>) -> Result<Option<bool>, ApiError> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Bool(b)) => Ok(Some(b)),
        Some(_) => Err(ApiError::invalid("is_admin must be true or false")),
    }
}

/// The query of `GET /users`: all optional.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only users whose email or names contain this, ignoring case.
    q: Option<String>,
    /// Which page, from 1 (default 1).
    #[param(schema_with = page_schema)]
    page: Option<String>,
    /// Users per page, 1 to 100 (default 20).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 100)]
    per_page: Option<String>,
}

/// `page` in the document: a whole number from 1 to the largest `usize` (what `page_param`
/// reads; no `int64` format, which would stop at 2^63 - 1).
fn page_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::Integer)
        .minimum(Some(1))
        .maximum(Some(usize::MAX))
        .build()
}

/// Users per page when `page` or `per_page` is given without the other.
const DEFAULT_PER_PAGE: usize = 20;
/// Most users per page.
const MAX_PER_PAGE: usize = 100;

fn page_param(
    value: Option<&str>,
    name: &'static str,
    max: usize,
) -> Result<Option<usize>, ApiError> {
    let Some(v) = value else { return Ok(None) };
    match v.trim().parse::<usize>() {
        Ok(n) if n >= 1 && n <= max => Ok(Some(n)),
        _ => Err(ApiError::invalid(match name {
            "page" => "page must be a whole number from 1",
            _ => "per_page must be a whole number from 1 to 100",
        })),
    }
}

/// `GET /users`: every user, as the original API answers; with `q`, `page` or `per_page`, the
/// matching users one page at a time, with `X-Total-Count` (how many match) and a `Link`
/// header to the next and previous pages.
#[utoipa::path(
    get,
    operation_id = "list_users",
    path = "/api/v1/users",
    tag = "users",
    summary = "List users (administrators)",
    description = "Without a query, every user, as the original API answers. With `q`,                    `page` or `per_page`, the users matching `q` one page at a time, with                    `X-Total-Count` and `Link`.",
    params(ListQuery),
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "The users", body = [UserView],
            headers(
                ("X-Total-Count" = u64,
                    description = "How many users match (with `q`, `page` or `per_page`)"),
                ("Link" = String,
                    description = "`rel=\"next\"` and `rel=\"prev\"` pages, where they exist \
                                   (with `q`, `page` or `per_page`)"),
            )),
        (status = 400, description = "A query parameter out of range, or repeated", body = ErrorBody),
        (status = 401, description = "No credentials", body = ErrorBody,
            example = json!({"error": "Unauthorized"})),
        (status = 403, description = "Not an administrator, or credentials that do not resolve",
            body = ErrorBody, example = json!({"error": "Forbidden"})),
        (status = 503, description = "A store cannot be reached", body = ErrorBody),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    Auth(auth): Auth,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let query: ListQuery = match query.as_deref() {
        None | Some("") => ListQuery::default(),
        Some(q) => serde_urlencoded::from_str(q)
            .map_err(|_| ApiError::invalid("the query must be q, page and per_page"))?,
    };
    if query.q.is_none() && query.page.is_none() && query.per_page.is_none() {
        let users = state.service.list_users(&auth).await?;
        return Ok(Json(users.iter().map(UserView::from).collect::<Vec<_>>()).into_response());
    }
    let number = page_param(query.page.as_deref(), "page", usize::MAX)?.unwrap_or(1);
    let size = page_param(query.per_page.as_deref(), "per_page", MAX_PER_PAGE)?
        .unwrap_or(DEFAULT_PER_PAGE);
    let search = query.q.unwrap_or_default();
    let (users, total) = state
        .service
        .find_users(&auth, &search, Page { number, size })
        .await?;
    let mut resp = Json(users.iter().map(UserView::from).collect::<Vec<_>>()).into_response();
    let headers = resp.headers_mut();
    headers.insert("x-total-count", HeaderValue::from(total));
    if let Some(link) = page_links(&search, number, size, total) {
        headers.insert(header::LINK, link);
    }
    Ok(resp)
}

/// The `Link` header of a page: `rel="next"` and `rel="prev"` where those pages exist.
fn page_links(search: &str, number: usize, size: usize, total: usize) -> Option<HeaderValue> {
    let q: String = url_encode(search);
    let link = |n: usize, rel: &str| {
        format!("</api/v1/users?q={q}&page={n}&per_page={size}>; rel=\"{rel}\"")
    };
    let mut links = Vec::new();
    if number.saturating_mul(size) < total {
        links.push(link(number + 1, "next"));
    }
    if number > 1 {
        links.push(link(number - 1, "prev"));
    }
    if links.is_empty() {
        return None;
    }
    HeaderValue::try_from(links.join(", ")).ok()
}

fn url_encode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .map(|e| e.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}

/// `POST /users`.
#[utoipa::path(
    post,
    operation_id = "create_user",
    path = "/api/v1/users",
    tag = "users",
    summary = "Create a user (administrators)",
    security(("session_cookie" = [])),
    request_body(content = NewUserBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The new user", body = UserView),
        (status = 400, description = "`Wrong format` (not a JSON object), `email missing`, \
                                      `password missing`, or what the email or the password \
                                      breaks", body = ErrorBody,
            example = json!({"error": "email missing"})),
        (status = 401, description = "No credentials", body = ErrorBody,
            example = json!({"error": "Unauthorized"})),
        (status = 403, description = "Not an administrator, credentials that do not resolve, \
                                      or a cross-site request", body = ErrorBody),
        (status = 408, description = "The body did not arrive in time", body = ErrorBody),
        (status = 409, description = "The email is already registered (ignoring case)",
            body = ErrorBody, example = json!({"error": "email already registered"})),
        (status = 413, description = "The body is over 1 MiB", body = ErrorBody),
        (status = 503, description = "A store cannot be reached", body = ErrorBody),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    Auth(auth): Auth,
    JsonBody(body): JsonBody<NewUserBody>,
) -> Result<Response, ApiError> {
    let new = NewUser {
        email: body.email.required("email")?,
        password: Secret::new(body.password.required("password")?),
        first_name: body.first_name.optional("first_name")?,
        last_name: body.last_name.optional("last_name")?,
        is_admin: admin_flag(body.is_admin)?.unwrap_or(false),
    };
    let user = state.service.create_user_as(&auth, new).await?;
    Ok((StatusCode::CREATED, user_response(&user)).into_response())
}

/// `GET /users/{id}`.
#[utoipa::path(
    get,
    operation_id = "get_user",
    path = "/api/v1/users/{id}",
    tag = "users",
    summary = "Show a user (administrators, or the user itself)",
    params(("id" = String, Path, description = "A user's id, or `me` for the caller")),
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 400, description = "The id is not valid UTF-8", body = ErrorBody,
            example = json!({"error": "Invalid URL"})),
        (status = 401, description = "No credentials", body = ErrorBody,
            example = json!({"error": "Unauthorized"})),
        (status = 403, description = "Another user's record for a plain user, or credentials \
                                      that do not resolve", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody,
            example = json!({"error": "Not found"})),
        (status = 503, description = "A store cannot be reached", body = ErrorBody),
    ),
)]
pub async fn show(
    State(state): State<AppState>,
    Auth(auth): Auth,
    Id(id): Id,
) -> Result<Response, ApiError> {
    let user = state.service.get_user(&auth, &id).await?;
    Ok(user_response(&user))
}

/// `PUT /users/{id}`.
#[utoipa::path(
    put,
    operation_id = "update_user",
    path = "/api/v1/users/{id}",
    tag = "users",
    summary = "Change a user's names, or (administrators) the admin flag",
    description = "`first_name` and `last_name` set the names; `is_admin` (administrators \
                   only) grants or withdraws administrator rights. `email` may be sent back \
                   unchanged, any other email is refused; `password` is refused (use \
                   `PUT /api/v1/users/me/password`).",
    params(("id" = String, Path, description = "A user's id, or `me` for the caller")),
    security(("session_cookie" = [])),
    request_body(content = UpdateUserBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The user, changed", body = UserView),
        (status = 400, description = "`Wrong format`, a field of the wrong type, a change of \
                                      email or password, or an id that is not UTF-8",
            body = ErrorBody),
        (status = 401, description = "No credentials", body = ErrorBody,
            example = json!({"error": "Unauthorized"})),
        (status = 403, description = "Another user's record, or the admin flag, for a plain \
                                      user; credentials that do not resolve; a cross-site \
                                      request", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 408, description = "The body did not arrive in time", body = ErrorBody),
        (status = 409, description = "The last administrator cannot drop the flag",
            body = ErrorBody, example = json!({"error": "at least one administrator must remain"})),
        (status = 413, description = "The body is over 1 MiB", body = ErrorBody),
        (status = 503, description = "A store cannot be reached", body = ErrorBody),
    ),
)]
pub async fn update(
    State(state): State<AppState>,
    Auth(auth): Auth,
    Id(id): Id,
    JsonBody(body): JsonBody<UpdateUserBody>,
) -> Result<Response, ApiError> {
    if body.password.is_present() {
        return Err(ApiError::invalid(
            "password cannot be changed here: use PUT /api/v1/users/me/password",
        ));
    }
    let is_admin = admin_flag(body.is_admin)?;
    let changes = UserChanges {
        first_name: body.first_name.optional("first_name")?,
        last_name: body.last_name.optional("last_name")?,
        email: body.email.optional("email")?,
        is_admin,
    };
    let user = state.service.update_user(&auth, &id, changes).await?;
    Ok(user_response(&user))
}

/// `DELETE /users/{id}`: deleting yourself also expires your cookie.
#[utoipa::path(
    delete,
    operation_id = "delete_user",
    path = "/api/v1/users/{id}",
    tag = "users",
    summary = "Delete a user (administrators, or the user itself)",
    description = "That user's sessions end; deleting oneself also expires the cookie.",
    params(("id" = String, Path, description = "A user's id, or `me` for the caller")),
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "Deleted", body = Empty,
            headers(("Set-Cookie" = String,
                description = "The session cookie, expired (`Max-Age=0`), when the caller \
                               deleted themself"))),
        (status = 400, description = "The id is not valid UTF-8", body = ErrorBody),
        (status = 401, description = "No credentials", body = ErrorBody,
            example = json!({"error": "Unauthorized"})),
        (status = 403, description = "Another user's record for a plain user, credentials \
                                      that do not resolve, or a cross-site request",
            body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 503, description = "A store cannot be reached", body = ErrorBody),
    ),
)]
pub async fn remove(
    State(state): State<AppState>,
    Auth(auth): Auth,
    Id(id): Id,
) -> Result<Response, ApiError> {
    let deleted = state.service.delete_user_as(&auth, &id).await?;
    let ended_own = auth.session.is_some() && auth.user().is_some_and(|u| u.id == deleted);
    empty_answer(&state.settings, ended_own)
}

/// `PUT /users/me/password`: `current_password` and `new_password`; ends every other session.
#[utoipa::path(
    put,
    operation_id = "change_my_password",
    path = "/api/v1/users/me/password",
    tag = "users",
    summary = "Change one's own password",
    description = "Every other session of the user ends. A wrong `current_password` counts as \
                   a failed login and is throttled like one.",
    security(("session_cookie" = [])),
    request_body(content = PasswordBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Changed", body = Empty),
        (status = 400, description = "`Wrong format`, a field missing, or a new password \
                                      that breaks the policy", body = ErrorBody,
            example = json!({"error": "password too short (at least 8 characters)"})),
        (status = 401, description = "No credentials", body = ErrorBody,
            example = json!({"error": "Unauthorized"})),
        (status = 403, description = "Wrong current password, credentials that do not \
                                      resolve, or a cross-site request", body = ErrorBody,
            example = json!({"error": "wrong current password"})),
        (status = 408, description = "The body did not arrive in time", body = ErrorBody),
        (status = 413, description = "The body is over 1 MiB", body = ErrorBody),
        (status = 429, description = "Too many failed attempts: try again later",
            body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait")),
            example = json!({"error": "Too many requests"})),
        (status = 503, description = "A store cannot be reached", body = ErrorBody),
    ),
)]
pub async fn change_password(
    State(state): State<AppState>,
    Auth(auth): Auth,
    ClientIp(ip): ClientIp,
    JsonBody(body): JsonBody<PasswordBody>,
) -> Result<Response, ApiError> {
    let current = Secret::new(body.current_password.required("current_password")?);
    let new = Secret::new(body.new_password.required("new_password")?);
    let ip = ip.map(|ip| ip.to_string());
    state
        .service
        .change_my_password(&auth, current, new, ip.as_deref())
        .await?;
    empty_answer(&state.settings, false)
}
