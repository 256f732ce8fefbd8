//! The state every handler reaches: the service and the configuration, behind one `Arc`.

use std::sync::Arc;

use crate::config::Settings;
use crate::service::Service;

/// What every handler can reach; one `Arc`, so handing it to a handler costs one increment.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The contents of [`AppState`].
pub struct Shared {
    /// The rules.
    pub service: Service,
    /// The configuration.
    pub settings: Arc<Settings>,
}

impl AppState {
    /// State over `service` and `settings`.
    pub fn new(service: Service, settings: Arc<Settings>) -> Self {
        Self(Arc::new(Shared { service, settings }))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}
