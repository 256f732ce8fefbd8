//! The HTTP API: the router, and one file per resource of thin handlers (extract, call the
//! service, map), with what they share in files of their own: the state, the extractors, the
//! views and the one mapping of errors to statuses.
//!
//! Every API route is registered through utoipa-axum's [`OpenApiRouter`] with [`routes!`],
//! which takes the path and the methods from the handler's own `#[utoipa::path]` annotation:
//! the route served and the operation described are one declaration, so a route cannot be
//! served undescribed, or described at a path or method other than the one it answers
//! (`GET /api/v1/openapi.json`, see [`crate::web::openapi`]). There is no plain `.route(`
//! in this file, and a test keeps it so.

use axum::Router;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use error::ApiError;
pub use state::AppState;

pub mod error;
pub mod extract;
pub mod index;
pub mod mfa;
pub mod recovery;
pub mod sessions;
pub mod setup;
pub mod state;
pub mod users;
pub mod view;

/// The API's routes, each with its description. Protected handlers take the
/// [`Auth`](crate::auth::gate::Auth) extractor, which is the gate; public ones (status,
/// readiness, metrics, the error pages, login, setup) do not. `/metrics` is here unless it is
/// served on an address of its own (`METRICS_ADDR`).
pub fn api(metrics_here: bool) -> OpenApiRouter<AppState> {
    let mut api = OpenApiRouter::with_openapi(crate::web::openapi::base());
    if metrics_here {
        api = api.routes(routes!(index::metrics));
    }
    api.routes(routes!(index::status))
        .routes(routes!(index::ready))
        .routes(routes!(index::stats))
        .routes(routes!(index::unauthorized))
        .routes(routes!(index::forbidden))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::show, users::update, users::remove))
        .routes(routes!(users::change_password))
        .routes(routes!(sessions::list_mine, sessions::revoke_my_others))
        .routes(routes!(sessions::revoke_mine))
        .routes(routes!(sessions::revoke_all_of_user))
        .routes(routes!(sessions::login))
        .routes(routes!(sessions::logout))
        .routes(routes!(setup::create))
        .routes(routes!(mfa::my_second_factors))
        .routes(routes!(mfa::start_totp, mfa::remove_totp))
        .routes(routes!(mfa::confirm_totp))
        .routes(routes!(mfa::renew_recovery_codes))
        .routes(routes!(mfa::start_passkey_registration))
        .routes(routes!(mfa::finish_passkey_registration))
        .routes(routes!(mfa::list_passkeys))
        .routes(routes!(mfa::remove_passkey))
        .routes(routes!(mfa::start_passkey_sign_in))
        .routes(routes!(mfa::finish_passkey_sign_in))
        .routes(routes!(mfa::second_factor))
        .routes(routes!(mfa::start_second_factor_passkey))
        .routes(routes!(mfa::finish_second_factor_passkey))
        .routes(routes!(mfa::reauthenticate))
        .routes(routes!(mfa::start_reauth_passkey))
        .routes(routes!(mfa::reset_user_mfa))
        .routes(routes!(
            recovery::request_password_reset,
            recovery::reset_password
        ))
        .routes(routes!(recovery::request_email_verification))
        .routes(routes!(recovery::verify_email))
        .routes(routes!(recovery::signup))
        .routes(routes!(crate::auth::verify::redirect_target))
}

/// Forward authentication: `/api/v1/auth/verify`, every method.
pub fn forward() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(crate::auth::verify::verify))
}

/// The path of forward authentication.
pub const VERIFY_PATH: &str = "/api/v1/auth/verify";

/// Forward authentication alone, for the app to serve outside the CORS layer: a CORS layer
/// answers a preflight-looking `OPTIONS` itself, before any credentials are checked, and a
/// proxy (Traefik forwards the original method) would take that 200 as a yes.
pub fn forward_router(state: AppState) -> Router {
    let (router, _) = forward().split_for_parts();
    router.with_state(state)
}

/// The whole HTTP surface: the API (and its description at `/api/v1/openapi.json`, rendered
/// at `/api/docs`), the web front, and the JSON answers for unknown routes (404) and wrong
/// methods (405).
pub fn router(state: AppState) -> Router {
    let api = api(state.settings.metrics_addr.is_none()).merge(forward());
    crate::web::openapi::with_document(api)
        .merge(crate::web::router())
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state)
}

/// The metrics router for `METRICS_ADDR`: `/metrics` alone.
pub fn metrics_router(state: AppState) -> Router {
    let (router, _) = OpenApiRouter::new()
        .routes(routes!(index::metrics))
        .split_for_parts();
    router
        .fallback(|| async { ApiError::NoRoute })
        .with_state(state)
}
