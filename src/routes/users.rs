//! `/users`: list, create, show, update and delete; administrators act on anyone, a user on
//! themself (`me` names the current user).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{
    AppState, Auth, ClientIp, Id, JsonObject, UserView, empty_answer, optional_string,
    required_string, user_response,
};
use crate::domain::Secret;
use crate::error::Error;
use crate::service::NewUser;

/// `GET /users`.
pub async fn list(State(state): State<AppState>, Auth(auth): Auth) -> Result<Response, Error> {
    let users = state.service.list_users(&auth).await?;
    Ok(Json(users.iter().map(UserView::from).collect::<Vec<_>>()).into_response())
}

/// `POST /users`.
pub async fn create(
    State(state): State<AppState>,
    Auth(auth): Auth,
    JsonObject(body): JsonObject,
) -> Result<Response, Error> {
    let new = NewUser {
        email: required_string(&body, "email")?,
        password: Secret::new(required_string(&body, "password")?),
        first_name: optional_string(&body, "first_name")?,
        last_name: optional_string(&body, "last_name")?,
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
) -> Result<Response, Error> {
    let user = state.service.get_user(&auth, &id).await?;
    Ok(user_response(&user))
}

/// `PUT /users/{id}`.
pub async fn update(
    State(state): State<AppState>,
    Auth(auth): Auth,
    Id(id): Id,
    JsonObject(body): JsonObject,
) -> Result<Response, Error> {
    let first = optional_string(&body, "first_name")?;
    let last = optional_string(&body, "last_name")?;
    let user = state.service.update_user(&auth, &id, first, last).await?;
    Ok(user_response(&user))
}

/// `DELETE /users/{id}`: deleting yourself also expires your cookie.
pub async fn remove(
    State(state): State<AppState>,
    Auth(auth): Auth,
    Id(id): Id,
) -> Result<Response, Error> {
    let deleted = state.service.delete_user_as(&auth, &id).await?;
    let ended_own = auth.session.is_some() && auth.user().is_some_and(|u| u.id == deleted);
    empty_answer(&state.settings, ended_own)
}

/// `PUT /users/me/password`: `current_password` and `new_password`; ends every other session.
pub async fn change_password(
    State(state): State<AppState>,
    Auth(auth): Auth,
    ClientIp(ip): ClientIp,
    JsonObject(body): JsonObject,
) -> Result<Response, Error> {
    let current = Secret::new(required_string(&body, "current_password")?);
    let new = Secret::new(required_string(&body, "new_password")?);
    let ip = ip.map(|ip| ip.to_string());
    state
        .service
        .change_my_password(&auth, current, new, ip.as_deref())
        .await?;
    empty_answer(&state.settings, false)
}
