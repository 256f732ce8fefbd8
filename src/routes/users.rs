//! `/users`: list, create, show, update and delete; administrators act on anyone, a user on
//! themself (`me` names the current user).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use serde::Deserialize;

use super::error::ApiError;
use super::extract::{Field, Id, JsonBody};
use super::state::AppState;
use super::view::{UserView, empty_answer, user_response};
use crate::auth::client::ClientIp;
use crate::auth::gate::Auth;
use crate::domain::Secret;
use crate::service::{NewUser, UserChanges};

/// The body of `POST /users`.
#[derive(Debug, Deserialize)]
pub struct NewUserBody {
    #[serde(default)]
    email: Field,
    #[serde(default)]
    password: Field,
    #[serde(default)]
    first_name: Field,
    #[serde(default)]
    last_name: Field,
}

/// The body of `PUT /users/{id}`: the names, and the fields this route cannot change, so that
/// a request to change them is told so rather than silently ignored.
#[derive(Debug, Deserialize)]
pub struct UpdateUserBody {
    #[serde(default)]
    first_name: Field,
    #[serde(default)]
    last_name: Field,
    #[serde(default)]
    email: Field,
    #[serde(default)]
    password: Field,
    #[serde(default)]
    is_admin: Option<serde_json::Value>,
}

/// The body of `PUT /users/me/password`.
#[derive(Debug, Deserialize)]
pub struct PasswordBody {
    #[serde(default)]
    current_password: Field,
    #[serde(default)]
    new_password: Field,
}

/// `GET /users`.
pub async fn list(State(state): State<AppState>, Auth(auth): Auth) -> Result<Response, ApiError> {
    let users = state.service.list_users(&auth).await?;
    Ok(Json(users.iter().map(UserView::from).collect::<Vec<_>>()).into_response())
}

/// `POST /users`.
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
        is_admin: false,
    };
    let user = state.service.create_user_as(&auth, new).await?;
    Ok((StatusCode::CREATED, user_response(&user)).into_response())
}

/// `GET /users/{id}`.
pub async fn show(
    State(state): State<AppState>,
    Auth(auth): Auth,
    Id(id): Id,
) -> Result<Response, ApiError> {
    let user = state.service.get_user(&auth, &id).await?;
    Ok(user_response(&user))
}

/// `PUT /users/{id}`.
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
    let is_admin = match body.is_admin {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Bool(b)) => Some(b),
        Some(_) => return Err(ApiError::invalid("is_admin must be true or false")),
    };
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
