//! Configuration: the only reader of the environment.
//!
//! Every variable of the contract is also a command-line flag. Values arrive as text
//! ([`RawConfig`], filled by clap from flags or the environment) and are validated once into
//! typed [`Settings`]; a value that does not parse is an error naming the variable, never a
//! silent default.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::throttle::Policy;

/// The configuration as text, exactly as given by flags or environment variables.
///
/// Names and defaults live here and nowhere else; the README table lists the same.
#[derive(Debug, Clone, Args)]
pub struct RawConfig {
    /// Bind address.
    #[arg(
        long,
        env = "API_HOST",
        default_value = "0.0.0.0",
        global = true,
        value_name = "API_HOST",
        allow_hyphen_values = true
    )]
    pub api_host: String,
    /// Bind port.
    #[arg(
        long,
        env = "API_PORT",
        default_value = "5000",
        global = true,
        value_name = "API_PORT",
        allow_hyphen_values = true
    )]
    pub api_port: String,
    /// auth, basic_auth, session_auth, session_exp_auth, session_db_auth or none.
    #[arg(
        long,
        env = "AUTH_TYPE",
        default_value = "session_db_auth",
        global = true,
        value_name = "AUTH_TYPE",
        allow_hyphen_values = true
    )]
    pub auth_type: String,
    /// Name of the session cookie.
    #[arg(
        long,
        env = "SESSION_NAME",
        default_value = "_my_session_id",
        global = true,
        value_name = "SESSION_NAME",
        allow_hyphen_values = true
    )]
    pub session_name: String,
    /// Absolute session lifetime in seconds; 0 or negative: no absolute expiry.
    #[arg(
        long,
        env = "SESSION_DURATION",
        default_value = "86400",
        global = true,
        value_name = "SESSION_DURATION",
        allow_hyphen_values = true
    )]
    pub session_duration: String,
    /// A session unused this many seconds ends; 0: off.
    #[arg(
        long,
        env = "SESSION_IDLE_TIMEOUT",
        default_value = "0",
        global = true,
        value_name = "SESSION_IDLE_TIMEOUT",
        allow_hyphen_values = true
    )]
    pub session_idle_timeout: String,
    /// Where users (and session_db_auth sessions) live.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://sesame.db",
        global = true,
        value_name = "DATABASE_URL",
        allow_hyphen_values = true
    )]
    pub database_url: String,
    /// redis://host[:port][/db]: keep session_db_auth sessions in Redis.
    #[arg(
        long,
        env = "SESSION_STORE_URL",
        global = true,
        value_name = "SESSION_STORE_URL",
        allow_hyphen_values = true
    )]
    pub session_store_url: Option<String>,
    /// Add `Secure` to the session cookie (set it behind TLS).
    #[arg(
        long,
        env = "SESSION_COOKIE_SECURE",
        default_value = "false",
        global = true,
        value_name = "SESSION_COOKIE_SECURE",
        allow_hyphen_values = true
    )]
    pub session_cookie_secure: String,
    /// Allowed CORS origins, comma separated, or `*`.
    #[arg(
        long,
        env = "CORS_ORIGINS",
        default_value = "*",
        global = true,
        value_name = "CORS_ORIGINS",
        allow_hyphen_values = true
    )]
    pub cors_origins: String,
    /// Log filter (tracing's EnvFilter syntax).
    #[arg(
        long,
        env = "RUST_LOG",
        default_value = "info",
        global = true,
        value_name = "RUST_LOG",
        allow_hyphen_values = true
    )]
    pub rust_log: String,
    /// `text` or `json` (one JSON object per line).
    #[arg(
        long,
        env = "LOG_FORMAT",
        default_value = "text",
        global = true,
        value_name = "LOG_FORMAT",
        allow_hyphen_values = true
    )]
    pub log_format: String,
    /// Failed logins in a row an account may have before delays start.
    #[arg(
        long,
        env = "THROTTLE_ACCOUNT_FREE",
        default_value = "5",
        global = true,
        value_name = "THROTTLE_ACCOUNT_FREE",
        allow_hyphen_values = true
    )]
    pub throttle_account_free: String,
    /// Failed logins one client address may have (any accounts) before delays start; 0: off.
    #[arg(
        long,
        env = "THROTTLE_ADDRESS_FREE",
        default_value = "1000",
        global = true,
        value_name = "THROTTLE_ADDRESS_FREE",
        allow_hyphen_values = true
    )]
    pub throttle_address_free: String,
    /// Longest throttling delay in seconds.
    #[arg(
        long,
        env = "THROTTLE_MAX_DELAY",
        default_value = "900",
        global = true,
        value_name = "THROTTLE_MAX_DELAY",
        allow_hyphen_values = true
    )]
    pub throttle_max_delay: String,
    /// Take the client address from the last `X-Forwarded-For` entry (behind a proxy you run).
    #[arg(
        long,
        env = "TRUST_X_FORWARDED_FOR",
        default_value = "false",
        global = true,
        value_name = "TRUST_X_FORWARDED_FOR",
        allow_hyphen_values = true
    )]
    pub trust_x_forwarded_for: String,
    /// Prefix of every Redis key sesame writes (SESSION_STORE_URL).
    #[arg(
        long,
        env = "SESSION_STORE_PREFIX",
        default_value = "sesame:",
        global = true,
        value_name = "SESSION_STORE_PREFIX",
        allow_hyphen_values = true
    )]
    pub session_store_prefix: String,
    /// Seconds start-up keeps retrying unreachable stores before giving up; 0: try once.
    #[arg(
        long,
        env = "STORE_STARTUP_TIMEOUT",
        default_value = "30",
        global = true,
        value_name = "STORE_STARTUP_TIMEOUT",
        allow_hyphen_values = true
    )]
    pub store_startup_timeout: String,
    /// Seconds a client may take to send a request's head (from its first byte).
    #[arg(
        long,
        env = "HEADER_READ_TIMEOUT",
        default_value = "10",
        global = true,
        value_name = "HEADER_READ_TIMEOUT",
        allow_hyphen_values = true
    )]
    pub header_read_timeout: String,
    /// Seconds a client may take to send a request's body (from its head).
    #[arg(
        long,
        env = "BODY_READ_TIMEOUT",
        default_value = "30",
        global = true,
        value_name = "BODY_READ_TIMEOUT",
        allow_hyphen_values = true
    )]
    pub body_read_timeout: String,
    /// Seconds an open connection may wait for its next request.
    #[arg(
        long,
        env = "KEEPALIVE_TIMEOUT",
        default_value = "60",
        global = true,
        value_name = "KEEPALIVE_TIMEOUT",
        allow_hyphen_values = true
    )]
    pub keepalive_timeout: String,
    /// Most client connections open at once; 0: the open-file limit less 128.
    #[arg(
        long,
        env = "MAX_CONNECTIONS",
        default_value = "0",
        global = true,
        value_name = "MAX_CONNECTIONS",
        allow_hyphen_values = true
    )]
    pub max_connections: String,
    /// Seconds shutdown waits for requests in flight before closing what is left.
    #[arg(
        long,
        env = "SHUTDOWN_TIMEOUT",
        default_value = "10",
        global = true,
        value_name = "SHUTDOWN_TIMEOUT",
        allow_hyphen_values = true
    )]
    pub shutdown_timeout: String,
    /// Serve `/metrics` on this address instead of the API port.
    #[arg(
        long,
        env = "METRICS_ADDR",
        global = true,
        value_name = "METRICS_ADDR",
        allow_hyphen_values = true
    )]
    pub metrics_addr: Option<String>,
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            api_host: "0.0.0.0".into(),
            api_port: "5000".into(),
            auth_type: "session_db_auth".into(),
            session_name: "_my_session_id".into(),
            session_duration: "86400".into(),
            session_idle_timeout: "0".into(),
            database_url: "sqlite://sesame.db".into(),
            session_store_url: None,
            session_cookie_secure: "false".into(),
            cors_origins: "*".into(),
            rust_log: "info".into(),
            log_format: "text".into(),
            throttle_account_free: "5".into(),
            throttle_address_free: "1000".into(),
            throttle_max_delay: "900".into(),
            trust_x_forwarded_for: "false".into(),
            session_store_prefix: "sesame:".into(),
            store_startup_timeout: "30".into(),
            header_read_timeout: "10".into(),
            body_read_timeout: "30".into(),
            keepalive_timeout: "60".into(),
            max_connections: "0".into(),
            shutdown_timeout: "10".into(),
            metrics_addr: None,
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

/// Session lifetimes: `None` means no limit of that kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Expiry {
    /// Absolute lifetime in seconds, counted from the session's creation.
    pub absolute: Option<i64>,
    /// Idle timeout in seconds, counted from the session's last use.
    pub idle: Option<i64>,
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

impl Settings {
    /// Validates the raw configuration.
    pub fn from_raw(raw: &RawConfig) -> Result<Self, ConfigError> {
        let host: IpAddr = match raw.api_host.trim() {
            "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
            h => h
                .parse()
                .map_err(|_| bad("API_HOST", format!("{h:?} is not an IP address")))?,
        };
        let port: u16 = raw.api_port.trim().parse().map_err(|_| {
            bad(
                "API_PORT",
                format!("{:?} is not a port number (0-65535)", raw.api_port),
            )
        })?;
        let auth_type = match raw.auth_type.trim() {
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
        };
        if !is_cookie_name(&raw.session_name) {
            return Err(bad(
                "SESSION_NAME",
                format!("{:?} is not a valid cookie name", raw.session_name),
            ));
        }
        let session_duration = parse_int("SESSION_DURATION", &raw.session_duration)?;
        let idle_timeout = parse_int("SESSION_IDLE_TIMEOUT", &raw.session_idle_timeout)?;
        if idle_timeout < 0 {
            return Err(bad(
                "SESSION_IDLE_TIMEOUT",
                "must be 0 (off) or a positive number of seconds",
            ));
        }
        let database = parse_database_url(raw.database_url.trim())?;
        let session_store_url = match raw.session_store_url.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(url) if url.starts_with("redis://") => Some(url.to_owned()),
            Some(url) => {
                return Err(bad(
                    "SESSION_STORE_URL",
                    format!("{url:?} is not redis://HOST[:PORT][/DB]"),
                ));
            }
        };
        let cookie_secure = parse_bool("SESSION_COOKIE_SECURE", &raw.session_cookie_secure)?;
        let cors = match raw.cors_origins.trim() {
            "*" => CorsOrigins::Any,
            "" => {
                return Err(bad(
                    "CORS_ORIGINS",
                    "empty: use * or a comma-separated list of origins",
                ));
            }
            list => CorsOrigins::List(
                list.split(',')
                    .filter(|s| !s.trim().is_empty())
                    .map(parse_origin)
                    .collect::<Result<_, _>>()?,
            ),
        };
        let log_format = match raw.log_format.trim() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => return Err(bad("LOG_FORMAT", format!("{other:?} is not text or json"))),
        };
        if tracing_subscriber::EnvFilter::try_new(&raw.rust_log).is_err() {
            return Err(bad(
                "RUST_LOG",
                format!("{:?} is not a log filter", raw.rust_log),
            ));
        }
        let account_free = parse_count("THROTTLE_ACCOUNT_FREE", &raw.throttle_account_free)?;
        if account_free == 0 {
            return Err(bad("THROTTLE_ACCOUNT_FREE", "must be at least 1"));
        }
        let address_free = parse_count("THROTTLE_ADDRESS_FREE", &raw.throttle_address_free)?;
        let max_delay = parse_int("THROTTLE_MAX_DELAY", &raw.throttle_max_delay)?;
        if max_delay < 1 {
            return Err(bad("THROTTLE_MAX_DELAY", "must be at least 1 second"));
        }
        let throttle_account = Policy {
            free: account_free,
            max_delay,
            ..Policy::ACCOUNT
        };
        let throttle_address = (address_free > 0).then_some(Policy {
            free: address_free,
            max_delay,
            ..Policy::ADDRESS
        });
        let trust_x_forwarded_for =
            parse_bool("TRUST_X_FORWARDED_FOR", &raw.trust_x_forwarded_for)?;
        if raw.session_store_prefix.is_empty()
            || raw
                .session_store_prefix
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(bad(
                "SESSION_STORE_PREFIX",
                format!(
                    "{:?} must be non-empty, without spaces",
                    raw.session_store_prefix
                ),
            ));
        }
        let store_startup_timeout = u64::from(parse_count(
            "STORE_STARTUP_TIMEOUT",
            &raw.store_startup_timeout,
        )?);
        let metrics_addr = match raw.metrics_addr.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(a) => Some(a.parse::<SocketAddr>().map_err(|_| {
                bad(
                    "METRICS_ADDR",
                    format!("{a:?} is not an address like 127.0.0.1:9100"),
                )
            })?),
        };
        let max_connections = match parse_count("MAX_CONNECTIONS", &raw.max_connections)? {
            0 => None,
            n => Some(n as usize),
        };
        Ok(Self {
            header_read_timeout: parse_seconds("HEADER_READ_TIMEOUT", &raw.header_read_timeout)?,
            body_read_timeout: parse_seconds("BODY_READ_TIMEOUT", &raw.body_read_timeout)?,
            keepalive_timeout: parse_seconds("KEEPALIVE_TIMEOUT", &raw.keepalive_timeout)?,
            max_connections,
            shutdown_timeout: parse_seconds("SHUTDOWN_TIMEOUT", &raw.shutdown_timeout)?,
            addr: SocketAddr::new(host, port),
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
            store_startup_timeout,
            metrics_addr,
        })
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
}
