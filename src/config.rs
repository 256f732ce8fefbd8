//! Configuration: the only reader of the environment, and the one table of its variables.
//!
//! Every variable of the contract is also a command-line flag. Values arrive as text
//! ([`RawConfig`], filled by clap from flags or the environment) and are validated once into
//! typed [`Settings`]; a value that does not parse is an error naming the variable, never a
//! silent default.
//!
//! Each variable is declared once, in the `variables!` list below: its name, its field, its
//! default (or none) and its one-line meaning. The list generates the [`RawConfig`] struct
//! with its clap flags, its [`Default`], and the [`VARIABLES`] table that the README test reads.
//! It is a macro rather than a plain `const` table because clap's derive needs each field and
//! its attributes written out, and code and tests set fields by name
//! (`raw.database_url = ...`): generating both from one list is the only way the flags, the
//! defaults and the table cannot drift apart. A variable with a default is a `String`; one
//! without is an `Option<String>` (unset); declaring the other way round does not compile.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use crate::auth::redirect::AllowedHosts;
use crate::domain::{Expiry, Policy};

/// One configuration variable, as declared once in [`VARIABLES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variable {
    /// The environment variable, e.g. `API_PORT`.
    pub name: &'static str,
    /// The value used when neither the flag nor the variable is given; `None`: unset.
    pub default: Option<&'static str>,
    /// What the variable sets, in one line (also its `--help` text).
    pub meaning: &'static str,
}

impl Variable {
    /// The command-line flag that sets the same value, e.g. `--api-port` for `API_PORT`.
    pub fn flag(&self) -> String {
        format!("--{}", self.name.to_ascii_lowercase().replace('_', "-"))
    }
}

/// The heading under which every command's `--help` lists the configuration flags, after the
/// command's own options.
pub const HELP_HEADING: &str = "Configuration (flag or environment variable)";

/// A declared default as the table holds it: `Some(text)`, or `None` for unset.
macro_rules! table_default {
    () => {
        None
    };
    ($default:literal) => {
        Some($default)
    };
}

/// A declared default as [`RawConfig`] holds it: the text, or `None` for unset.
macro_rules! field_default {
    () => {
        None
    };
    ($default:literal) => {
        $default.into()
    };
}

/// Generates [`RawConfig`], its [`Default`] and [`VARIABLES`] from one list of entries, each a
/// single `/// meaning` line and `NAME field: Type = "default";` (no `= ...` when unset).
macro_rules! variables {
    ($(
        #[doc = $meaning:literal]
        $name:ident $field:ident: $outer:ident $(<$inner:ident>)? $(= $default:literal)?;
    )*) => {
        /// The configuration as text, exactly as given by flags or environment variables.
        ///
        /// Generated, with [`VARIABLES`], from the one list of variables in this module.
        #[derive(Debug, Clone, clap::Args)]
        pub struct RawConfig {
            $(
                #[doc = $meaning]
                #[arg(
                    long,
                    env = stringify!($name),
                    $(default_value = $default,)?
                    value_name = stringify!($name),
                    help = $meaning.trim_ascii(),
                    help_heading = HELP_HEADING,
                    global = true,
                    hide_env_values = true,
                    allow_hyphen_values = true,
                )]
                pub $field: $outer $(<$inner>)?,
            )*
        }

        impl Default for RawConfig {
            fn default() -> Self {
                Self {
                    $($field: field_default!($($default)?),)*
                }
            }
        }

        /// Every configuration variable with its default and meaning, in the order `--help` and
        /// the README list them.
        pub const VARIABLES: &[Variable] = &[
            $(
                Variable {
                    name: stringify!($name),
                    default: table_default!($($default)?),
                    meaning: $meaning.trim_ascii(),
                },
            )*
        ];

        #[cfg(test)]
        impl RawConfig {
            /// Each variable's name and current text, in table order.
            fn texts(&self) -> Vec<(&'static str, Option<&str>)> {
                vec![$((stringify!($name), tests::Text::text(&self.$field)),)*]
            }
        }
    };
}

variables! {
    /// Bind address (an IP address, or localhost)
    API_HOST api_host: String = "0.0.0.0";
    /// Bind port (0: any free port, logged at start-up)
    API_PORT api_port: String = "5000";
    /// auth, basic_auth, session_auth, session_exp_auth, session_db_auth or none
    AUTH_TYPE auth_type: String = "session_db_auth";
    /// Name of the session cookie
    SESSION_NAME session_name: String = "_my_session_id";
    /// Absolute session lifetime in seconds; 0 or negative: no absolute expiry
    SESSION_DURATION session_duration: String = "86400";
    /// A session unused this many seconds ends; 0: off
    SESSION_IDLE_TIMEOUT session_idle_timeout: String = "0";
    /// Where users, throttling counts and session_db_auth sessions live: sqlite://PATH, sqlite::memory: or postgres://USER@HOST/DB
    DATABASE_URL database_url: String = "sqlite://sesame.db";
    /// redis://HOST:PORT/DB (port and db optional), or redis+cluster://HOST:PORT,HOST:PORT... (a Redis Cluster's seed nodes): keep session_db_auth sessions in Redis instead
    SESSION_STORE_URL session_store_url: Option<String>;
    /// Prefix of every Redis key sesame writes
    SESSION_STORE_PREFIX session_store_prefix: String = "sesame:";
    /// on: instances on PostgreSQL or Redis answer session checks from an exact in-memory cache held under a lease; off: every check reads the store (its writes still reach the caches of instances with it on)
    SESSION_CACHE session_cache: String = "on";
    /// Seconds start-up keeps retrying unreachable stores before exiting non-zero; 0: try once
    STORE_STARTUP_TIMEOUT store_startup_timeout: String = "30";
    /// Serve /metrics on this address (e.g. 127.0.0.1:9100) instead of the API port
    METRICS_ADDR metrics_addr: Option<String>;
    /// Add Secure to the session cookie (set it behind TLS)
    SESSION_COOKIE_SECURE session_cookie_secure: String = "false";
    /// Allowed CORS origins, comma separated; cookies are allowed only for origins named here, never for *
    CORS_ORIGINS cors_origins: String = "*";
    /// Log filter (debug, sesame=debug,tower_http=info, ...)
    RUST_LOG rust_log: String = "info";
    /// text, or json for one JSON object per line
    LOG_FORMAT log_format: String = "text";
    /// Failed logins in a row an account may have before growing delays start
    THROTTLE_ACCOUNT_FREE throttle_account_free: String = "5";
    /// Failed logins one client address may have (any accounts) before delays start; 0: off
    THROTTLE_ADDRESS_FREE throttle_address_free: String = "1000";
    /// Longest throttling delay in seconds
    THROTTLE_MAX_DELAY throttle_max_delay: String = "900";
    /// Take the client address from the last X-Forwarded-For entry (behind a proxy you run)
    TRUST_X_FORWARDED_FOR trust_x_forwarded_for: String = "false";
    /// Seconds a client may take to send a request's head; slower connections are closed
    HEADER_READ_TIMEOUT header_read_timeout: String = "10";
    /// Seconds a client may take to send a request's body, from its head; slower ones get 408
    BODY_READ_TIMEOUT body_read_timeout: String = "30";
    /// Seconds an open connection may wait for its next request
    KEEPALIVE_TIMEOUT keepalive_timeout: String = "60";
    /// Most client connections open at once; 0: the open-file limit less 128
    MAX_CONNECTIONS max_connections: String = "0";
    /// Seconds SIGTERM waits for requests in flight before closing the connections left
    SHUTDOWN_TIMEOUT shutdown_timeout: String = "10";
    /// Domain of the session cookie (e.g. example.com), so one sign-in covers every subdomain
    SESSION_COOKIE_DOMAIN session_cookie_domain: Option<String>;
    /// Hosts or .suffix domains that may be redirect targets and forward-auth origins, comma separated
    FORWARD_AUTH_ALLOWED_HOSTS forward_auth_allowed_hosts: Option<String>;
    /// sesame's address as browsers reach it (http://localhost:API_PORT when unset)
    PUBLIC_URL public_url: Option<String>;
    /// Where forward auth sends an unauthenticated browser (PUBLIC_URL/signin when unset)
    SIGNIN_URL signin_url: Option<String>;
    /// Unattended first run: make this email the first administrator (with SESAME_ADMIN_PASSWORD_FILE)
    SESAME_ADMIN_EMAIL sesame_admin_email: Option<String>;
    /// A file holding that administrator's password (one trailing newline is not part of it)
    SESAME_ADMIN_PASSWORD_FILE sesame_admin_password_file: Option<String>;
    /// Who must have a second factor: off, admins or all (without one, a session opens only enrolment)
    MFA_REQUIRED mfa_required: String = "off";
    /// Seconds since a credential was last presented in a session within which sensitive actions are allowed
    REAUTH_MAX_AGE reauth_max_age: String = "600";
    /// The WebAuthn relying party id: the domain passkeys are bound to (localhost when unset)
    WEBAUTHN_RP_ID webauthn_rp_id: Option<String>;
    /// The origin browsers use for passkeys (http://localhost:API_PORT when unset)
    WEBAUTHN_ORIGIN webauthn_origin: Option<String>;
    /// smtp://[user:password@]host:port (STARTTLS when offered) or smtps://...: where mail goes; unset: no mail, and its routes answer 404
    SMTP_URL smtp_url: Option<String>;
    /// The sender of sesame's mail
    MAIL_FROM mail_from: String = "sesame@localhost";
    /// off, or open: anyone may create an account (verified by mail) through /api/v1/auth_session/signup
    SIGNUP signup: String = "off";
}

/// Who must have a second factor (`MFA_REQUIRED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MfaRequired {
    /// Nobody.
    Off,
    /// Administrators.
    Admins,
    /// Everybody.
    All,
}

impl MfaRequired {
    /// Whether `is_admin` users must have a second factor.
    pub fn applies(self, is_admin: bool) -> bool {
        match self {
            Self::Off => false,
            Self::Admins => is_admin,
            Self::All => true,
        }
    }
}

/// How requests are authenticated (`AUTH_TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthType {
    /// `auth`: no credentials ever resolve.
    Deny,
    /// `basic_auth`: HTTP Basic with email and password.
    Basic,
    /// `session_auth`: cookie sessions in memory, no expiry.
    Session,
    /// `session_exp_auth`: cookie sessions in memory, with expiry.
    SessionExp,
    /// `session_db_auth`: cookie sessions in the database (or Redis), with expiry.
    SessionDb,
    /// `none`: nothing is checked (development only).
    None,
}

impl AuthType {
    /// Whether this scheme logs in with a session cookie.
    pub fn uses_sessions(self) -> bool {
        matches!(self, Self::Session | Self::SessionExp | Self::SessionDb)
    }

    /// The name used in `AUTH_TYPE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deny => "auth",
            Self::Basic => "basic_auth",
            Self::Session => "session_auth",
            Self::SessionExp => "session_exp_auth",
            Self::SessionDb => "session_db_auth",
            Self::None => "none",
        }
    }
}

/// Where users live (`DATABASE_URL`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// An SQLite file, created if missing.
    SqliteFile(PathBuf),
    /// A private in-memory SQLite database, gone at exit.
    SqliteMemory,
    /// A PostgreSQL server (the URL as given).
    Postgres(String),
}

/// Which origins CORS admits (`CORS_ORIGINS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// `*`: any origin, never with credentials.
    Any,
    /// These origins, with credentials.
    List(Vec<String>),
}

/// Log line format (`LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address to bind.
    pub addr: SocketAddr,
    /// `AUTH_TYPE`.
    pub auth_type: AuthType,
    /// Session cookie name.
    pub session_name: String,
    /// `SESSION_DURATION` as given (seconds; `<= 0` means none).
    pub session_duration: i64,
    /// `SESSION_IDLE_TIMEOUT` in seconds (0: off).
    pub idle_timeout: i64,
    /// `DATABASE_URL`.
    pub database: DatabaseUrl,
    /// `SESSION_STORE_URL`, if set.
    pub session_store_url: Option<String>,
    /// Whether the cookie carries `Secure`.
    pub cookie_secure: bool,
    /// `CORS_ORIGINS`.
    pub cors: CorsOrigins,
    /// `RUST_LOG`.
    pub log_filter: String,
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
    /// Throttling of failed logins per account.
    pub throttle_account: Policy,
    /// Throttling of failed logins per client address, if on.
    pub throttle_address: Option<Policy>,
    /// `TRUST_X_FORWARDED_FOR`.
    pub trust_x_forwarded_for: bool,
    /// `SESSION_STORE_PREFIX`.
    pub session_store_prefix: String,
    /// `SESSION_CACHE`: whether shared stores get the per-instance cache.
    pub session_cache: bool,
    /// `STORE_STARTUP_TIMEOUT` in seconds.
    pub store_startup_timeout: u64,
    /// `METRICS_ADDR`, if set.
    pub metrics_addr: Option<SocketAddr>,
    /// `HEADER_READ_TIMEOUT`.
    pub header_read_timeout: Duration,
    /// `BODY_READ_TIMEOUT`.
    pub body_read_timeout: Duration,
    /// `KEEPALIVE_TIMEOUT`.
    pub keepalive_timeout: Duration,
    /// `MAX_CONNECTIONS`; `None`: from the open-file limit.
    pub max_connections: Option<usize>,
    /// `SHUTDOWN_TIMEOUT`.
    pub shutdown_timeout: Duration,
    /// `SESAME_ADMIN_EMAIL` and `SESAME_ADMIN_PASSWORD_FILE`, when both are set.
    pub admin_bootstrap: Option<AdminBootstrap>,
    /// `SESSION_COOKIE_DOMAIN`, if set (lower case, no leading dot).
    pub cookie_domain: Option<String>,
    /// `FORWARD_AUTH_ALLOWED_HOSTS`.
    pub allowed_hosts: AllowedHosts,
    /// `PUBLIC_URL`, if set (without a trailing slash).
    pub public_url: Option<Url>,
    /// `SIGNIN_URL`, if set.
    pub signin_url: Option<Url>,
    /// `MFA_REQUIRED`.
    pub mfa_required: MfaRequired,
    /// `REAUTH_MAX_AGE` in seconds.
    pub reauth_max_age: i64,
    /// `WEBAUTHN_RP_ID` (lower case).
    pub webauthn_rp_id: String,
    /// `WEBAUTHN_ORIGIN`, if set.
    pub webauthn_origin: Option<Url>,
    /// `SMTP_URL`, if set.
    pub smtp_url: Option<Url>,
    /// `MAIL_FROM`.
    pub mail_from: String,
    /// `SIGNUP=open`.
    pub signup_open: bool,
}

/// The unattended first administrator: an email, and the file its password is read from at
/// start-up (never from a plain variable, never printed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminBootstrap {
    /// `SESAME_ADMIN_EMAIL`.
    pub email: String,
    /// `SESAME_ADMIN_PASSWORD_FILE`.
    pub password_file: PathBuf,
}

/// A configuration value that does not parse; names the variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// What is wrong with its value.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.variable, self.reason)
    }
}

impl std::error::Error for ConfigError {}

fn bad(variable: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        reason: reason.into(),
    }
}

fn parse_int(variable: &'static str, value: &str) -> Result<i64, ConfigError> {
    value.trim().parse::<i64>().map_err(|_| {
        bad(
            variable,
            format!("{value:?} is not a whole number of seconds"),
        )
    })
}

fn parse_count(variable: &'static str, value: &str) -> Result<u32, ConfigError> {
    value.trim().parse::<u32>().map_err(|_| {
        bad(
            variable,
            format!("{value:?} is not a whole number (0 or more)"),
        )
    })
}

/// A positive number of seconds, fractions allowed (`0.5`), at most a day.
fn parse_seconds(variable: &'static str, value: &str) -> Result<Duration, ConfigError> {
    match value.trim().parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs <= 86_400.0 => Ok(Duration::from_secs_f64(secs)),
        _ => Err(bad(
            variable,
            format!("{value:?} is not a number of seconds above 0 (at most 86400)"),
        )),
    }
}

fn parse_bool(variable: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(bad(variable, format!("{value:?} is not true or false"))),
    }
}

/// Whether `name` is a valid cookie name (an RFC 6265 token).
fn is_cookie_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}

fn parse_database_url(value: &str) -> Result<DatabaseUrl, ConfigError> {
    const VAR: &str = "DATABASE_URL";
    if value == "sqlite::memory:" || value == "sqlite://:memory:" {
        return Ok(DatabaseUrl::SqliteMemory);
    }
    if let Some(path) = value.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err(bad(
                VAR,
                "sqlite:// needs a file path, e.g. sqlite://sesame.db",
            ));
        }
        return Ok(DatabaseUrl::SqliteFile(PathBuf::from(path)));
    }
    if value.starts_with("postgres://") || value.starts_with("postgresql://") {
        return Ok(DatabaseUrl::Postgres(value.to_owned()));
    }
    Err(bad(
        VAR,
        format!("{value:?} is not sqlite://PATH, sqlite::memory: or postgres://USER@HOST/DB"),
    ))
}

fn parse_origin(origin: &str) -> Result<String, ConfigError> {
    let o = origin.trim();
    let rest = o
        .strip_prefix("https://")
        .or_else(|| o.strip_prefix("http://"))
        .ok_or_else(|| bad("CORS_ORIGINS", format!("{o:?} is not an http(s) origin")))?;
    if rest.is_empty()
        || rest.contains('/')
        || !rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
    {
        return Err(bad(
            "CORS_ORIGINS",
            format!("{o:?} is not an origin like https://app.example.com"),
        ));
    }
    Ok(o.to_owned())
}

/// `API_HOST` and `API_PORT` as one address.
fn parse_addr(host: &str, port: &str) -> Result<SocketAddr, ConfigError> {
    let ip: IpAddr = match host.trim() {
        "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        h => h
            .parse()
            .map_err(|_| bad("API_HOST", format!("{h:?} is not an IP address")))?,
    };
    let port: u16 = port.trim().parse().map_err(|_| {
        bad(
            "API_PORT",
            format!("{port:?} is not a port number (0-65535)"),
        )
    })?;
    Ok(SocketAddr::new(ip, port))
}

fn parse_auth_type(value: &str) -> Result<AuthType, ConfigError> {
    Ok(match value.trim() {
        "auth" => AuthType::Deny,
        "basic_auth" => AuthType::Basic,
        "session_auth" => AuthType::Session,
        "session_exp_auth" => AuthType::SessionExp,
        "session_db_auth" => AuthType::SessionDb,
        "none" => AuthType::None,
        other => {
            return Err(bad(
                "AUTH_TYPE",
                format!(
                    "{other:?} is not one of auth, basic_auth, session_auth, \
                     session_exp_auth, session_db_auth, none"
                ),
            ));
        }
    })
}

fn check_session_name(name: &str) -> Result<(), ConfigError> {
    if is_cookie_name(name) {
        Ok(())
    } else {
        Err(bad(
            "SESSION_NAME",
            format!("{name:?} is not a valid cookie name"),
        ))
    }
}

/// `SESSION_DURATION` (any whole number) and `SESSION_IDLE_TIMEOUT` (0 or more), in seconds.
fn parse_lifetimes(duration: &str, idle: &str) -> Result<(i64, i64), ConfigError> {
    let duration = parse_int("SESSION_DURATION", duration)?;
    let idle = parse_int("SESSION_IDLE_TIMEOUT", idle)?;
    if idle < 0 {
        return Err(bad(
            "SESSION_IDLE_TIMEOUT",
            "must be 0 (off) or a positive number of seconds",
        ));
    }
    Ok((duration, idle))
}

/// `SESSION_STORE_URL`: `redis://HOST[:PORT][/DB]`, or `redis+cluster://[USER:PASSWORD@]HOST:PORT`
/// with more `,HOST:PORT` seed nodes if wanted. The error never quotes the value: it may hold a
/// password.
fn parse_session_store_url(value: Option<&str>) -> Result<Option<String>, ConfigError> {
    const EXPECTED: &str =
        "must be redis://HOST[:PORT][/DB] or redis+cluster://HOST:PORT[,HOST:PORT...]";
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(url) if url.starts_with("redis://") => Ok(Some(url.to_owned())),
        Some(url) => match url
            .strip_prefix(REDIS_CLUSTER_SCHEME)
            .map(redis_cluster_seeds)
        {
            Some(Ok(_)) => Ok(Some(url.to_owned())),
            Some(Err(why)) => Err(bad("SESSION_STORE_URL", format!("{why} ({EXPECTED})"))),
            None => Err(bad("SESSION_STORE_URL", EXPECTED)),
        },
    }
}

/// The scheme of a Redis Cluster's `SESSION_STORE_URL`.
pub const REDIS_CLUSTER_SCHEME: &str = "redis+cluster://";

/// The seed nodes of a Redis Cluster URL, given what follows its scheme
/// (`[USER:PASSWORD@]HOST:PORT[,HOST:PORT...]`, optionally ending in `/`), each as a plain
/// `redis://` URL carrying the cluster's credentials. The error says what is wrong without
/// quoting the value, which may hold a password.
pub fn redis_cluster_seeds(rest: &str) -> Result<Vec<String>, &'static str> {
    let (auth, hosts) = match rest.rsplit_once('@') {
        Some((auth, hosts)) => (Some(auth), hosts),
        None => (None, rest),
    };
    let hosts = hosts.strip_suffix('/').unwrap_or(hosts);
    hosts
        .split(',')
        .map(|node| {
            let (host, port) = node.trim().rsplit_once(':').ok_or(NOT_HOST_PORT)?;
            if host.is_empty()
                || host.contains(['/', '?', '#', '@'])
                || !port.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(NOT_HOST_PORT);
            }
            let port: u16 = port.parse().map_err(|_| NOT_HOST_PORT)?;
            let url = redis_node_url(auth, host, port);
            redis::IntoConnectionInfo::into_connection_info(url.as_str())
                .map_err(|_| "a cluster node's credentials or address do not form a valid URL")?;
            Ok(url)
        })
        .collect()
}

const NOT_HOST_PORT: &str = "a cluster's seed nodes must each be HOST:PORT";

/// The plain URL of one Redis node at `host:port`, with the credentials `auth` (`USER:PASSWORD`)
/// if any.
pub fn redis_node_url(auth: Option<&str>, host: &str, port: impl fmt::Display) -> String {
    match auth {
        Some(auth) => format!("redis://{auth}@{host}:{port}"),
        None => format!("redis://{host}:{port}"),
    }
}

fn parse_cors(value: &str) -> Result<CorsOrigins, ConfigError> {
    match value.trim() {
        "*" => Ok(CorsOrigins::Any),
        "" => Err(bad(
            "CORS_ORIGINS",
            "empty: use * or a comma-separated list of origins",
        )),
        list => Ok(CorsOrigins::List(
            list.split(',')
                .filter(|s| !s.trim().is_empty())
                .map(parse_origin)
                .collect::<Result<_, _>>()?,
        )),
    }
}

/// `LOG_FORMAT`, then `RUST_LOG` (which must be a valid filter).
fn parse_logging(format: &str, filter: &str) -> Result<LogFormat, ConfigError> {
    let format = match format.trim() {
        "text" => LogFormat::Text,
        "json" => LogFormat::Json,
        other => return Err(bad("LOG_FORMAT", format!("{other:?} is not text or json"))),
    };
    if tracing_subscriber::EnvFilter::try_new(filter).is_err() {
        return Err(bad("RUST_LOG", format!("{filter:?} is not a log filter")));
    }
    Ok(format)
}

/// The per-account policy and the per-address one (`None` when `THROTTLE_ADDRESS_FREE` is 0).
fn parse_throttle(raw: &RawConfig) -> Result<(Policy, Option<Policy>), ConfigError> {
    let account_free = parse_count("THROTTLE_ACCOUNT_FREE", &raw.throttle_account_free)?;
    if account_free == 0 {
        return Err(bad("THROTTLE_ACCOUNT_FREE", "must be at least 1"));
    }
    let address_free = parse_count("THROTTLE_ADDRESS_FREE", &raw.throttle_address_free)?;
    let max_delay = parse_int("THROTTLE_MAX_DELAY", &raw.throttle_max_delay)?;
    if max_delay < 1 {
        return Err(bad("THROTTLE_MAX_DELAY", "must be at least 1 second"));
    }
    let account = Policy {
        free: account_free,
        max_delay,
        ..Policy::ACCOUNT
    };
    let address = (address_free > 0).then_some(Policy {
        free: address_free,
        max_delay,
        ..Policy::ADDRESS
    });
    Ok((account, address))
}

fn check_store_prefix(prefix: &str) -> Result<(), ConfigError> {
    if prefix.is_empty() || prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad(
            "SESSION_STORE_PREFIX",
            format!("{prefix:?} must be non-empty, without spaces"),
        ));
    }
    Ok(())
}

fn parse_metrics_addr(value: Option<&str>) -> Result<Option<SocketAddr>, ConfigError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(a) => a.parse::<SocketAddr>().map(Some).map_err(|_| {
            bad(
                "METRICS_ADDR",
                format!("{a:?} is not an address like 127.0.0.1:9100"),
            )
        }),
    }
}

fn parse_admin_bootstrap(
    email: Option<&str>,
    file: Option<&str>,
) -> Result<Option<AdminBootstrap>, ConfigError> {
    let email = email.map(str::trim).filter(|e| !e.is_empty());
    let file = file.map(str::trim).filter(|f| !f.is_empty());
    match (email, file) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(bad(
            "SESAME_ADMIN_PASSWORD_FILE",
            "must be set with SESAME_ADMIN_EMAIL (the password is read from a file, never from a variable)",
        )),
        (None, Some(_)) => Err(bad(
            "SESAME_ADMIN_EMAIL",
            "must be set with SESAME_ADMIN_PASSWORD_FILE",
        )),
        (Some(email), Some(file)) => {
            crate::domain::validate_email(email)
                .map_err(|e| bad("SESAME_ADMIN_EMAIL", format!("{email:?}: {e}")))?;
            Ok(Some(AdminBootstrap {
                email: email.to_owned(),
                password_file: PathBuf::from(file),
            }))
        }
    }
}

/// `SESSION_COOKIE_DOMAIN`: a host name (a leading dot is dropped, as browsers do); a
/// `__Host-` cookie may not have one.
fn parse_cookie_domain(value: Option<&str>, name: &str) -> Result<Option<String>, ConfigError> {
    let Some(domain) = value.map(str::trim).filter(|d| !d.is_empty()) else {
        return Ok(None);
    };
    let domain = domain.strip_prefix('.').unwrap_or(domain);
    let hosts =
        AllowedHosts::parse(domain).map_err(|e| bad("SESSION_COOKIE_DOMAIN", e.to_string()))?;
    if hosts.is_empty() || domain.contains(',') {
        return Err(bad(
            "SESSION_COOKIE_DOMAIN",
            format!("{domain:?} is not one host name"),
        ));
    }
    if name.starts_with("__Host-") {
        return Err(bad(
            "SESSION_COOKIE_DOMAIN",
            "a __Host- cookie (SESSION_NAME) cannot have a Domain",
        ));
    }
    Ok(Some(domain.to_ascii_lowercase()))
}

/// An absolute `http`/`https` URL without user name, query or fragment (`PUBLIC_URL`,
/// `SIGNIN_URL`).
fn parse_base_url(variable: &'static str, value: Option<&str>) -> Result<Option<Url>, ConfigError> {
    let Some(text) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let url = Url::parse(text).map_err(|e| bad(variable, format!("{text:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host().is_none()
        || !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(bad(
            variable,
            format!(
                "{text:?} must be an http(s) URL like https://auth.example.com, without credentials, query or fragment"
            ),
        ));
    }
    Ok(Some(url))
}

fn parse_mfa_required(value: &str) -> Result<MfaRequired, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "off" => Ok(MfaRequired::Off),
        "admins" => Ok(MfaRequired::Admins),
        "all" => Ok(MfaRequired::All),
        other => Err(bad(
            "MFA_REQUIRED",
            format!("{other:?} is not off, admins or all"),
        )),
    }
}

/// `WEBAUTHN_RP_ID` (a host name, default `localhost`) and `WEBAUTHN_ORIGIN` (an origin whose
/// host is the relying party id or one of its subdomains).
fn parse_webauthn(
    rp_id: Option<&str>,
    origin: Option<&str>,
) -> Result<(String, Option<Url>), ConfigError> {
    let rp_id = rp_id
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .unwrap_or("localhost")
        .to_ascii_lowercase();
    if rp_id.contains([':', '/', ' ']) || rp_id.starts_with('.') || rp_id.ends_with('.') {
        return Err(bad(
            "WEBAUTHN_RP_ID",
            format!("{rp_id:?} is not a domain like example.com"),
        ));
    }
    let origin = parse_base_url("WEBAUTHN_ORIGIN", origin)?;
    if let Some(url) = &origin {
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        if host != rp_id && !host.ends_with(&format!(".{rp_id}")) {
            return Err(bad(
                "WEBAUTHN_ORIGIN",
                format!("{url} is not on {rp_id} (WEBAUTHN_RP_ID) or a subdomain of it"),
            ));
        }
    }
    Ok((rp_id, origin))
}

/// `SMTP_URL`: `smtp://` or `smtps://`, a host, an optional port and credentials.
fn parse_smtp_url(value: Option<&str>) -> Result<Option<Url>, ConfigError> {
    let Some(text) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let url = Url::parse(text).map_err(|e| bad("SMTP_URL", format!("{e}")))?;
    if !matches!(url.scheme(), "smtp" | "smtps") || url.host().is_none() {
        return Err(bad(
            "SMTP_URL",
            "must be smtp://[user:password@]host:port or smtps://[user:password@]host:port",
        ));
    }
    Ok(Some(url))
}

/// `MAIL_FROM`: an address (`sesame@example.com` or `sesame <sesame@example.com>`).
fn check_mail_from(value: &str) -> Result<(), ConfigError> {
    value
        .trim()
        .parse::<lettre::message::Mailbox>()
        .map(drop)
        .map_err(|e| bad("MAIL_FROM", format!("{value:?}: {e}")))
}

fn parse_signup(value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "off" => Ok(false),
        "open" => Ok(true),
        other => Err(bad("SIGNUP", format!("{other:?} is not off or open"))),
    }
}

/// `MAX_CONNECTIONS`; 0 is `None` (derived from the open-file limit).
fn parse_max_connections(value: &str) -> Result<Option<usize>, ConfigError> {
    Ok(match parse_count("MAX_CONNECTIONS", value)? {
        0 => None,
        n => Some(n as usize),
    })
}

impl Settings {
    /// Validates the raw configuration, one variable after another; the first value that does
    /// not parse is the error.
    pub fn from_raw(raw: &RawConfig) -> Result<Self, ConfigError> {
        let addr = parse_addr(&raw.api_host, &raw.api_port)?;
        let auth_type = parse_auth_type(&raw.auth_type)?;
        check_session_name(&raw.session_name)?;
        let (session_duration, idle_timeout) =
            parse_lifetimes(&raw.session_duration, &raw.session_idle_timeout)?;
        let database = parse_database_url(raw.database_url.trim())?;
        let session_store_url = parse_session_store_url(raw.session_store_url.as_deref())?;
        let cookie_secure = parse_bool("SESSION_COOKIE_SECURE", &raw.session_cookie_secure)?;
        let cors = parse_cors(&raw.cors_origins)?;
        let log_format = parse_logging(&raw.log_format, &raw.rust_log)?;
        let (throttle_account, throttle_address) = parse_throttle(raw)?;
        let trust_x_forwarded_for =
            parse_bool("TRUST_X_FORWARDED_FOR", &raw.trust_x_forwarded_for)?;
        check_store_prefix(&raw.session_store_prefix)?;
        let store_startup_timeout = u64::from(parse_count(
            "STORE_STARTUP_TIMEOUT",
            &raw.store_startup_timeout,
        )?);
        let metrics_addr = parse_metrics_addr(raw.metrics_addr.as_deref())?;
        let max_connections = parse_max_connections(&raw.max_connections)?;
        let admin_bootstrap = parse_admin_bootstrap(
            raw.sesame_admin_email.as_deref(),
            raw.sesame_admin_password_file.as_deref(),
        )?;
        let cookie_domain =
            parse_cookie_domain(raw.session_cookie_domain.as_deref(), &raw.session_name)?;
        let allowed_hosts =
            AllowedHosts::parse(raw.forward_auth_allowed_hosts.as_deref().unwrap_or(""))
                .map_err(|e| bad("FORWARD_AUTH_ALLOWED_HOSTS", e.to_string()))?;
        let public_url = parse_base_url("PUBLIC_URL", raw.public_url.as_deref())?;
        let signin_url = parse_base_url("SIGNIN_URL", raw.signin_url.as_deref())?;
        let mfa_required = parse_mfa_required(&raw.mfa_required)?;
        let reauth_max_age = parse_int("REAUTH_MAX_AGE", &raw.reauth_max_age)?;
        if reauth_max_age < 1 {
            return Err(bad("REAUTH_MAX_AGE", "must be at least 1 second"));
        }
        let (webauthn_rp_id, webauthn_origin) = parse_webauthn(
            raw.webauthn_rp_id.as_deref(),
            raw.webauthn_origin.as_deref(),
        )?;
        let smtp_url = parse_smtp_url(raw.smtp_url.as_deref())?;
        check_mail_from(&raw.mail_from)?;
        let signup_open = parse_signup(&raw.signup)?;
        if signup_open && smtp_url.is_none() {
            return Err(bad(
                "SIGNUP",
                "open needs SMTP_URL: new accounts are verified by mail",
            ));
        }
        Ok(Self {
            smtp_url,
            mail_from: raw.mail_from.trim().to_owned(),
            signup_open,
            mfa_required,
            reauth_max_age,
            webauthn_rp_id,
            webauthn_origin,
            cookie_domain,
            allowed_hosts,
            public_url,
            signin_url,
            admin_bootstrap,
            header_read_timeout: parse_seconds("HEADER_READ_TIMEOUT", &raw.header_read_timeout)?,
            body_read_timeout: parse_seconds("BODY_READ_TIMEOUT", &raw.body_read_timeout)?,
            keepalive_timeout: parse_seconds("KEEPALIVE_TIMEOUT", &raw.keepalive_timeout)?,
            max_connections,
            shutdown_timeout: parse_seconds("SHUTDOWN_TIMEOUT", &raw.shutdown_timeout)?,
            addr,
            auth_type,
            session_name: raw.session_name.clone(),
            session_duration,
            idle_timeout,
            database,
            session_store_url,
            cookie_secure,
            cors,
            log_filter: raw.rust_log.clone(),
            log_format,
            throttle_account,
            throttle_address,
            trust_x_forwarded_for,
            session_store_prefix: raw.session_store_prefix.clone(),
            session_cache: parse_bool("SESSION_CACHE", &raw.session_cache)?,
            store_startup_timeout,
            metrics_addr,
        })
    }

    /// sesame's address as browsers reach it, without a trailing slash: `PUBLIC_URL`, or
    /// `http://localhost:<port>`.
    pub fn public_base(&self) -> String {
        match &self.public_url {
            Some(url) => url.as_str().trim_end_matches('/').to_owned(),
            None => format!("http://localhost:{}", self.addr.port()),
        }
    }

    /// Where forward authentication sends a browser to sign in: `SIGNIN_URL`, or
    /// `PUBLIC_URL/`.
    pub fn signin_url(&self) -> String {
        match &self.signin_url {
            Some(url) => url.as_str().to_owned(),
            None => format!("{}/", self.public_base()),
        }
    }

    /// The origin passkeys are used from: `WEBAUTHN_ORIGIN`, or `http://localhost:<port>`.
    pub fn webauthn_origin(&self) -> String {
        match &self.webauthn_origin {
            Some(url) => url.origin().ascii_serialization(),
            None => format!("http://localhost:{}", self.addr.port()),
        }
    }

    /// The lifetimes that apply to sessions under this configuration's `AUTH_TYPE`.
    pub fn expiry(&self) -> Expiry {
        match self.auth_type {
            AuthType::SessionExp | AuthType::SessionDb => self.stored_session_expiry(),
            _ => Expiry::default(),
        }
    }

    /// The lifetimes of sessions kept in the database, whatever `AUTH_TYPE` is (the command
    /// line purges by these).
    pub fn stored_session_expiry(&self) -> Expiry {
        Expiry {
            absolute: (self.session_duration > 0).then_some(self.session_duration),
            idle: (self.idle_timeout > 0).then_some(self.idle_timeout),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use clap::Args as _;

    /// A [`RawConfig`] field as text: `None` when unset.
    pub(super) trait Text {
        fn text(&self) -> Option<&str>;
    }

    impl Text for String {
        fn text(&self) -> Option<&str> {
            Some(self)
        }
    }

    impl Text for Option<String> {
        fn text(&self) -> Option<&str> {
            self.as_deref()
        }
    }

    fn with(f: impl FnOnce(&mut RawConfig)) -> Result<Settings, ConfigError> {
        let mut raw = RawConfig::default();
        f(&mut raw);
        Settings::from_raw(&raw)
    }

    #[test]
    fn defaults_are_valid() {
        let s = with(|_| {}).unwrap();
        assert_eq!(s.auth_type, AuthType::SessionDb);
        assert_eq!(s.database, DatabaseUrl::SqliteFile("sesame.db".into()));
        assert_eq!(
            s.expiry(),
            Expiry {
                absolute: Some(86400),
                idle: None
            }
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        assert_eq!(
            with(|r| r.session_duration = "abc".into())
                .unwrap_err()
                .variable,
            "SESSION_DURATION"
        );
        assert_eq!(
            with(|r| r.api_port = "70000".into()).unwrap_err().variable,
            "API_PORT"
        );
        assert_eq!(
            with(|r| r.auth_type = "magic".into()).unwrap_err().variable,
            "AUTH_TYPE"
        );
        assert_eq!(
            with(|r| r.database_url = "mysql://x".into())
                .unwrap_err()
                .variable,
            "DATABASE_URL"
        );
        assert_eq!(
            with(|r| r.session_name = "a b".into())
                .unwrap_err()
                .variable,
            "SESSION_NAME"
        );
        assert_eq!(
            with(|r| r.cors_origins = "example.com".into())
                .unwrap_err()
                .variable,
            "CORS_ORIGINS"
        );
        assert_eq!(
            with(|r| r.session_cookie_secure = "maybe".into())
                .unwrap_err()
                .variable,
            "SESSION_COOKIE_SECURE"
        );
    }

    #[test]
    fn non_positive_duration_means_no_absolute_expiry() {
        let s = with(|r| r.session_duration = "-5".into()).unwrap();
        assert_eq!(s.expiry().absolute, None);
    }

    #[test]
    fn the_defaults_of_raw_config_are_the_table_s_defaults() {
        let raw = RawConfig::default();
        let declared: Vec<_> = VARIABLES.iter().map(|v| (v.name, v.default)).collect();
        assert_eq!(raw.texts(), declared);
    }

    #[test]
    fn clap_reads_each_variable_of_the_table_from_its_flag_and_its_environment_variable() {
        let command = RawConfig::augment_args(clap::Command::new("sesame"));
        let args: Vec<_> = command.get_arguments().collect();
        assert_eq!(args.len(), VARIABLES.len(), "one flag per variable");
        for (arg, variable) in args.iter().zip(VARIABLES) {
            let name = variable.name;
            assert_eq!(arg.get_env().and_then(|e| e.to_str()), Some(name));
            assert_eq!(
                arg.get_long().map(|l| format!("--{l}")),
                Some(variable.flag()),
                "{name}"
            );
            let defaults: Vec<_> = arg
                .get_default_values()
                .iter()
                .filter_map(|d| d.to_str())
                .collect();
            assert_eq!(defaults, Vec::from_iter(variable.default), "{name}");
            assert_eq!(
                arg.get_help().map(ToString::to_string).as_deref(),
                Some(variable.meaning),
                "{name}"
            );
            assert_eq!(arg.get_help_heading(), Some(HELP_HEADING), "{name}");
            assert!(arg.is_hide_env_values_set(), "{name} hides its value");
            assert!(arg.is_global_set(), "{name} applies to every command");
            assert!(!arg.is_required_set(), "{name} is optional");
        }
    }

    #[test]
    fn session_store_url_takes_redis_or_a_cluster_seed_list_and_never_quotes_a_refused_one() {
        for url in [
            "redis://127.0.0.1:6379/0",
            "redis+cluster://127.0.0.1:7000",
            "redis+cluster://127.0.0.1:7000,127.0.0.1:7001, cache-3.internal:7002",
            "redis+cluster://user:pa@ss@10.0.0.1:7000,[::1]:7001/",
        ] {
            let got = with(|raw| raw.session_store_url = Some(url.to_owned()));
            assert_eq!(
                got.map(|s| s.session_store_url).ok().flatten().as_deref(),
                Some(url),
                "{url}"
            );
        }
        for url in [
            "http://s3cret@x",
            "redis+cluster://",
            "redis+cluster://:s3cret@10.0.0.1",
            "redis+cluster://:s3cret@10.0.0.1:7000,",
            "redis+cluster://:s3cret@10.0.0.1:7000/0",
            "redis+cluster://:s3cret@10.0.0.1:port",
        ] {
            let Err(e) = with(|raw| raw.session_store_url = Some(url.to_owned())) else {
                panic!("{url} is accepted");
            };
            assert_eq!(e.variable, "SESSION_STORE_URL", "{url}");
            assert!(!e.to_string().contains("s3cret"), "{e}");
            assert!(e.to_string().contains("redis+cluster://"), "{e}");
        }
    }

    #[test]
    fn every_variable_has_a_one_line_meaning_and_a_unique_name() {
        for (i, variable) in VARIABLES.iter().enumerate() {
            assert!(!variable.meaning.is_empty(), "{}", variable.name);
            assert!(!variable.meaning.contains('\n'), "{}", variable.name);
            assert!(
                VARIABLES[..i].iter().all(|v| v.name != variable.name),
                "{} is declared twice",
                variable.name
            );
        }
    }
}
