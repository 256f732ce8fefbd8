//! The HTTP API: the router, and one file per resource of thin handlers (extract, call the
//! service, map), with what they share in files of their own: the state, the extractors, the
//! views and the one mapping of errors to statuses.

use axum::Router;
use axum::routing::{delete, get, post, put};

use error::ApiError;
pub use state::AppState;

pub mod error;
pub mod extract;
pub mod index;
pub mod sessions;
pub mod state;
pub mod users;
pub mod view;

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
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state)
}

/// The metrics router for `METRICS_ADDR`: `/metrics` alone.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(index::metrics))
        .fallback(|| async { ApiError::NoRoute })
        .with_state(state)
}
