//! The application: builds the stores, the service and the router, binds (port 0 works), serves,
//! sweeps expired sessions in the background and shuts down gracefully.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower::Layer as _;
use tower_http::cors::{AllowHeaders, AllowOrigin, Any, CorsLayer};
use tower_http::normalize_path::NormalizePathLayer;

use crate::auth::password::Passwords;
use crate::clock::Clock;
use crate::config::{AuthType, CorsOrigins, Settings};
use crate::domain::Secret;
use crate::edge::EdgeLayer;
use crate::metrics::Metrics;
use crate::routes::{self, AppState};
use crate::serve::{self, Limits};
use crate::service::throttle::Throttle;
use crate::service::{MailSettings, MfaConfig, Service};
use crate::store::memory::MemorySessionStore;
use crate::store::{self, SessionStore, StoreConfig, StoreError, Stores};

/// Largest request body accepted (larger is 413).
pub const BODY_LIMIT: usize = 1024 * 1024;

/// How often expired sessions are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// How many password hashes may run at once: one per core.
fn hash_parallelism() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Second factors as `MFA_REQUIRED`, `REAUTH_MAX_AGE`, `WEBAUTHN_RP_ID` and
/// `WEBAUTHN_ORIGIN` configure them.
fn mfa_config(settings: &Settings) -> anyhow::Result<MfaConfig> {
    MfaConfig::new(
        settings.mfa_required,
        settings.reauth_max_age,
        &settings.webauthn_rp_id,
        &settings.webauthn_origin(),
    )
    .map_err(|e| anyhow::anyhow!("invalid WEBAUTHN_RP_ID or WEBAUTHN_ORIGIN: {e}"))
}

/// Everything a running configuration is made of.
#[derive(Clone)]
pub struct App {
    /// The rules over the stores.
    pub service: Service,
    /// The stores.
    pub stores: Stores,
    /// The configuration.
    pub settings: Arc<Settings>,
    passwords: Passwords,
}

impl App {
    /// Opens the stores and builds the service for `settings`. Unreachable stores are retried
    /// every second, with a log line each time, for up to `STORE_STARTUP_TIMEOUT` seconds.
    pub async fn build(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let stores = open_with_retries(&settings).await?;
        let passwords = Passwords::new(hash_parallelism())?;
        let mfa = Arc::new(mfa_config(&settings)?);
        let mail = settings.smtp_url.as_ref().map(|_| {
            Arc::new(MailSettings {
                public_base: settings.public_base(),
                signup_open: settings.signup_open,
                wake: tokio::sync::Notify::new(),
            })
        });
        let service = Service {
            users: stores.users.clone(),
            sessions: sessions_for(settings.auth_type, &stores),
            throttle: Throttle::new(
                stores.throttle.clone(),
                settings.throttle_account,
                settings.throttle_address,
            ),
            passwords: passwords.clone(),
            clock,
            auth_type: settings.auth_type,
            expiry: settings.expiry(),
            metrics: Arc::new(Metrics::default()),
            setup: Arc::default(),
            records: stores.records.clone(),
            mfa,
            mail,
        };
        Ok(Self {
            service,
            stores,
            settings: Arc::new(settings),
            passwords,
        })
    }

    /// The same service, acting on the persistent session store whatever `AUTH_TYPE` is:
    /// what the command line works on.
    pub fn offline_service(&self, clock: Arc<dyn Clock>) -> anyhow::Result<Service> {
        Ok(Service {
            users: self.stores.users.clone(),
            sessions: Some(self.stores.persistent_sessions.clone()),
            throttle: Throttle::new(
                self.stores.throttle.clone(),
                self.settings.throttle_account,
                self.settings.throttle_address,
            ),
            passwords: self.passwords.clone(),
            clock,
            auth_type: AuthType::SessionDb,
            expiry: self.settings.stored_session_expiry(),
            metrics: self.service.metrics().clone(),
            setup: self.service.setup.clone(),
            records: self.stores.records.clone(),
            mfa: self.service.mfa.clone(),
            mail: self.service.mail.clone(),
        })
    }

    /// The state handlers see.
    pub fn state(&self) -> AppState {
        AppState::new(self.service.clone(), self.settings.clone())
    }

    /// The HTTP service: routes (CORS on the API, not on forward auth), the body limit, and the
    /// edge work (request ids, tracing, security headers, metrics). Layers apply to every route
    /// and the fallback, innermost first.
    pub fn http(&self) -> anyhow::Result<Http> {
        let edge = EdgeLayer::new(self.service.metrics().clone());
        let api = routes::router(self.state())
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .layer(cors(&self.settings.cors)?)
            .layer(edge.clone());
        // Forward authentication is answered before the CORS layer can see it (its copy in
        // the API router, there for the description, is never reached).
        let forward = routes::forward_router(self.state()).layer(edge);
        Ok(Http { forward, api })
    }
}

/// The HTTP service [`App::http`] builds: forward authentication's path to its own router
/// (no CORS), every other request to the API's. One comparison of the path, where a router in
/// front of the routers would match every path twice.
#[derive(Clone)]
pub struct Http {
    forward: axum::Router,
    api: axum::Router,
}

impl tower::Service<axum::extract::Request> for Http {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = <axum::Router as tower::Service<axum::extract::Request>>::Future;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        // Routers are always ready.
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: axum::extract::Request) -> Self::Future {
        if req.uri().path() == routes::VERIFY_PATH {
            self.forward.call(req)
        } else {
            self.api.call(req)
        }
    }
}

/// Where the service keeps sessions under `auth_type`: in this process's memory for
/// `session_auth` and `session_exp_auth` (gone at restart), in the persistent session store for
/// `session_db_auth`, nowhere for the others.
fn sessions_for(auth_type: AuthType, stores: &Stores) -> Option<Arc<dyn SessionStore>> {
    match auth_type {
        AuthType::Session | AuthType::SessionExp => Some(Arc::new(MemorySessionStore::default())),
        AuthType::SessionDb => Some(stores.persistent_sessions.clone()),
        AuthType::Deny | AuthType::Basic | AuthType::None => None,
    }
}

/// The stores `settings` names: users and throttling counts in `DATABASE_URL`, persistent
/// sessions in `SESSION_STORE_URL` (Redis) if set, else in `DATABASE_URL`.
fn store_config(settings: &Settings) -> StoreConfig<'_> {
    StoreConfig {
        database: &settings.database,
        session_store_url: settings.session_store_url.as_deref(),
        session_store_prefix: &settings.session_store_prefix,
        session_ttl: settings.stored_session_expiry().absolute,
        cache: settings.session_cache,
    }
}

async fn open_with_retries(settings: &Settings) -> anyhow::Result<Stores> {
    let limit = Duration::from_secs(settings.store_startup_timeout);
    let started = tokio::time::Instant::now();
    let config = store_config(settings);
    loop {
        match store::open(&config).await {
            Ok(stores) => return Ok(stores),
            Err(e @ StoreError::Unavailable(_)) if started.elapsed() < limit => {
                let left = limit.saturating_sub(started.elapsed()).as_secs();
                tracing::warn!(error = %e, seconds_left = left, "a store is unreachable; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => {
                // The message already names the causes (`{:#}` would repeat them as sources).
                return Err(anyhow::anyhow!(
                    "opening the stores (gave up after {} s): {e}",
                    started.elapsed().as_secs()
                ));
            }
        }
    }
}

fn cors(origins: &CorsOrigins) -> anyhow::Result<CorsLayer> {
    let layer = CorsLayer::new()
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        // The headers a preflight asks for (`x-requested-with`, `x-csrf-token`, ... as axios
        // and jQuery send), answered only to the origins CORS_ORIGINS allows.
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers([HeaderName::from_static("x-request-id")])
        .max_age(Duration::from_secs(600));
    Ok(match origins {
        CorsOrigins::Any => layer.allow_origin(Any),
        CorsOrigins::List(list) => {
            let values = list
                .iter()
                .map(|o| HeaderValue::from_str(o))
                .collect::<Result<Vec<_>, _>>()
                .context("CORS_ORIGINS")?;
            layer
                .allow_origin(AllowOrigin::list(values))
                .allow_credentials(true)
        }
    })
}

/// A server that is running; stop it with [`Running::stop`].
pub struct Running {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The address of the separate metrics listener (`METRICS_ADDR`), if any.
    pub metrics_addr: Option<SocketAddr>,
    /// The application it serves.
    pub app: App,
    stop: watch::Sender<bool>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Stops accepting, lets in-flight requests finish, closes the stores.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        self.task.await.context("server task")?
    }

    /// Waits until the server ends by itself (after a stop signal).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await.context("server task")?
    }
}

/// Open files kept for everything but client connections: the stores' connections and
/// files, logs, the listeners.
const RESERVED_FILES: u64 = 128;

/// The connection limits of `settings`. The soft open-file limit is raised to the hard one
/// first; `MAX_CONNECTIONS` must leave [`RESERVED_FILES`] under it.
fn limits(settings: &Settings) -> anyhow::Result<Limits> {
    let files = rlimit::increase_nofile_limit(u64::MAX).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot read or raise the open-file limit; assuming 1024");
        1024
    });
    let room = files.saturating_sub(RESERVED_FILES);
    let max_connections = match settings.max_connections {
        None => usize::try_from(room.max(16)).unwrap_or(usize::MAX),
        Some(n) if n as u64 <= room => n,
        Some(n) => anyhow::bail!(
            "invalid MAX_CONNECTIONS: {n} connections and {RESERVED_FILES} other files need more \
             than the {files} open files this process may have (raise `ulimit -n`, or set \
             MAX_CONNECTIONS to {room} or less)"
        ),
    };
    Ok(Limits {
        header_read: settings.header_read_timeout,
        body_read: settings.body_read_timeout,
        keep_alive: settings.keepalive_timeout,
        max_connections,
        shutdown: settings.shutdown_timeout,
    })
}

/// Serves `/metrics` on `METRICS_ADDR` when it is set; returns the bound address.
async fn serve_metrics(
    app: &App,
    limits: Limits,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Option<SocketAddr>> {
    let Some(maddr) = app.settings.metrics_addr else {
        return Ok(None);
    };
    let listener = TcpListener::bind(maddr)
        .await
        .with_context(|| format!("binding METRICS_ADDR {maddr}"))?;
    let bound = listener.local_addr()?;
    let router = routes::metrics_router(app.state());
    tokio::spawn(serve::serve(
        listener,
        router,
        limits,
        app.service.metrics().clone(),
        stopped(stop),
    ));
    tracing::info!(addr = %bound, "metrics listening");
    Ok(Some(bound))
}

/// Starts the outbox's worker when `SMTP_URL` is set.
fn spawn_mailer(app: &App, stop: watch::Receiver<bool>) -> anyhow::Result<Option<JoinHandle<()>>> {
    let Some(url) = &app.settings.smtp_url else {
        return Ok(None);
    };
    let mailer = crate::mail::smtp::Mailer::new(url, &app.settings.mail_from)
        .map_err(|e| anyhow::anyhow!("invalid SMTP_URL or MAIL_FROM: {e}"))?;
    Ok(Some(crate::mail::worker::spawn(
        app.service.clone(),
        mailer,
        stop,
    )))
}

/// Builds the app for `settings`, binds `settings.addr` and serves in the background until
/// [`Running::stop`] is called or `shutdown` (if given) completes.
pub async fn start(
    settings: Settings,
    clock: Arc<dyn Clock>,
    shutdown: Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>,
) -> anyhow::Result<Running> {
    let limits = limits(&settings)?;
    // Bound first, so that the address the app knows is the real one (port 0 resolved); no
    // connection is accepted before everything below is ready.
    let listener = TcpListener::bind(settings.addr)
        .await
        .with_context(|| format!("binding {}", settings.addr))?;
    let addr = listener.local_addr()?;
    let mut settings = settings;
    settings.addr = addr;
    let app = App::build(settings, clock).await?;
    bootstrap_admin(&app).await?;
    let http = NormalizePathLayer::trim_trailing_slash().layer(app.http()?);
    let (stop_tx, stop_rx) = watch::channel(false);
    if let Some(external) = shutdown {
        let stop = stop_tx.clone();
        tokio::spawn(async move {
            external.await;
            let _ = stop.send(true);
        });
    }
    let metrics = app.service.metrics().clone();
    let metrics_addr = serve_metrics(&app, limits, stop_rx.clone()).await?;
    let sweeper = spawn_sweeper(app.service.clone(), stop_rx.clone());
    let mailer = spawn_mailer(&app, stop_rx.clone())?;
    let stores = app.stores.clone();
    if let Some(cache) = &stores.cache {
        cache.serve();
    }
    let signal = stopped(stop_rx);
    let task = tokio::spawn(async move {
        let stop = async move {
            signal.await;
            tracing::info!("shutting down: finishing in-flight requests");
        };
        serve::serve(listener, http, limits, metrics, stop).await;
        sweeper.abort();
        if let Some(mailer) = mailer {
            mailer.abort();
        }
        if let Some(cache) = &stores.cache {
            cache.leave().await;
        }
        stores.users.close();
        tracing::info!("stopped");
        Ok(())
    });
    tracing::info!(
        %addr,
        auth_type = app.settings.auth_type.as_str(),
        max_connections = limits.max_connections,
        "sesame listening"
    );
    open_setup(&app, addr).await?;
    if app.settings.auth_type == AuthType::None {
        tracing::warn!(
            "AUTH_TYPE=none: nothing is checked; every request is allowed (development only)"
        );
    }
    Ok(Running {
        addr,
        metrics_addr,
        app,
        stop: stop_tx,
        task,
    })
}

/// Unattended installs: makes the administrator of `SESAME_ADMIN_EMAIL`, with the password
/// read from `SESAME_ADMIN_PASSWORD_FILE`, when there is none yet (before serving: a missing
/// file or a refused password stops start-up).
async fn bootstrap_admin(app: &App) -> anyhow::Result<()> {
    let Some(boot) = &app.settings.admin_bootstrap else {
        return Ok(());
    };
    let password = read_password_file(&boot.password_file)?;
    match app.service.bootstrap_admin(&boot.email, password).await {
        Ok(Some(user)) => {
            tracing::info!(user_id = %user.id, email = %user.email, "first administrator created from SESAME_ADMIN_EMAIL");
        }
        Ok(None) => {
            tracing::info!("an administrator exists: SESAME_ADMIN_EMAIL is left as it is");
        }
        Err(e) => anyhow::bail!("SESAME_ADMIN_EMAIL: {e}"),
    }
    Ok(())
}

/// The password in `path`: the whole file but one trailing newline (`\n` or `\r\n`), the way
/// secrets files are usually written.
fn read_password_file(path: &std::path::Path) -> anyhow::Result<Secret> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("SESAME_ADMIN_PASSWORD_FILE: reading {}", path.display()))?;
    let password = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    if password.is_empty() {
        anyhow::bail!(
            "SESAME_ADMIN_PASSWORD_FILE: {} holds no password",
            path.display()
        );
    }
    Ok(Secret::new(password.to_owned()))
}

/// First run: when no administrator exists, logs (once, at warn) the one-time setup link for
/// the address just bound.
async fn open_setup(app: &App, addr: SocketAddr) -> anyhow::Result<()> {
    if app.settings.auth_type == AuthType::None {
        return Ok(());
    }
    if let Some(token) = app.service.open_setup().await? {
        let host = match addr.ip() {
            ip if ip.is_unspecified() => "localhost".to_owned(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        let url = format!(
            "http://{host}:{}/setup?token={}",
            addr.port(),
            token.expose()
        );
        tracing::warn!(
            setup_url = %url,
            "no administrator yet: open this one-time link to create one (a new link is made at each start until then)"
        );
    }
    Ok(())
}

/// Resolves once `stop` says so (or its sender is gone).
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

fn spawn_sweeper(service: Service, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => match service.purge_expired().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(count = n, "expired sessions swept"),
                    Err(e) => tracing::warn!(error = %e, "sweeping expired sessions failed"),
                },
                _ = stop.changed() => break,
            }
        }
    })
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
