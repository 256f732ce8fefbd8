//! Prometheus metrics, kept in fixed arrays of atomics so counting costs a few nanoseconds and
//! never a lock or an allocation on the request path.
//!
//! Exposed at `/metrics` (on the API port, or on `METRICS_ADDR`): requests by route and status,
//! latency histograms by route, logins by outcome, sessions in the store, store errors.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Route templates, as axum matches them; anything else counts as `unmatched`.
pub const ROUTES: &[&str] = &[
    "/api/v1/status",
    "/api/v1/stats",
    "/api/v1/unauthorized",
    "/api/v1/forbidden",
    "/api/v1/users",
    "/api/v1/users/{id}",
    "/api/v1/users/me/password",
    "/api/v1/users/me/sessions",
    "/api/v1/users/me/sessions/{id}",
    "/api/v1/users/{id}/sessions",
    "/api/v1/auth_session/login",
    "/api/v1/auth_session/logout",
    "/api/v1/health/ready",
    "/metrics",
    "unmatched",
];

/// Statuses counted one by one; any other lands in the last slot (`other`).
const STATUSES: &[u16] = &[
    200, 201, 400, 401, 403, 404, 405, 408, 409, 413, 429, 500, 503, 0,
];

/// Latency histogram bounds, in seconds.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

const N_ROUTES: usize = ROUTES.len();
const N_STATUSES: usize = STATUSES.len();
const N_BUCKETS: usize = BUCKETS.len() + 1;

#[derive(Default)]
struct Route {
    by_status: [AtomicU64; N_STATUSES],
    buckets: [AtomicU64; N_BUCKETS],
    sum_micros: AtomicU64,
}

/// How a login (or Basic credential check) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    /// The password matched.
    Ok,
    /// Wrong email or password.
    Failed,
    /// Refused while throttled.
    Throttled,
}

/// Why sesame closed a connection itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// A request head took longer than `HEADER_READ_TIMEOUT`.
    HeaderTimeout,
    /// A request body took longer than `BODY_READ_TIMEOUT`.
    BodyTimeout,
    /// No request came within `KEEPALIVE_TIMEOUT`.
    IdleTimeout,
    /// Room was needed under `MAX_CONNECTIONS`.
    Pressure,
    /// The server shut down.
    Shutdown,
}

impl Close {
    const ALL: [Self; 5] = [
        Self::HeaderTimeout,
        Self::BodyTimeout,
        Self::IdleTimeout,
        Self::Pressure,
        Self::Shutdown,
    ];

    /// The reason stored as `why as u8`; an unknown number reads as `Shutdown`.
    pub fn from_u8(n: u8) -> Self {
        Self::ALL
            .get(usize::from(n))
            .copied()
            .unwrap_or(Self::Shutdown)
    }

    /// The label value in the metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HeaderTimeout => "header_timeout",
            Self::BodyTimeout => "body_timeout",
            Self::IdleTimeout => "idle_timeout",
            Self::Pressure => "pressure",
            Self::Shutdown => "shutdown",
        }
    }
}

/// The counters of one running sesame.
#[derive(Default)]
pub struct Metrics {
    routes: [Route; N_ROUTES],
    logins: [AtomicU64; 3],
    store_errors: AtomicU64,
    connections_open: AtomicU64,
    connections_closed: [AtomicU64; Close::ALL.len()],
}

impl Metrics {
    /// The index of a route template in [`ROUTES`] (`unmatched` if unknown).
    pub fn route_index(template: Option<&str>) -> usize {
        template
            .and_then(|t| ROUTES.iter().position(|r| *r == t))
            .unwrap_or(N_ROUTES - 1)
    }

    /// Counts one answered request.
    pub fn request(&self, route: usize, status: u16, elapsed: Duration) {
        let Some(r) = self.routes.get(route) else {
            return;
        };
        let s = STATUSES
            .iter()
            .position(|&c| c == status)
            .unwrap_or(N_STATUSES - 1);
        r.by_status[s].fetch_add(1, Ordering::Relaxed);
        let secs = elapsed.as_secs_f64();
        let b = BUCKETS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(N_BUCKETS - 1);
        r.buckets[b].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        r.sum_micros.fetch_add(micros, Ordering::Relaxed);
        if status == 503 {
            self.store_error();
        }
    }

    /// Counts a login outcome.
    pub fn login(&self, outcome: LoginOutcome) {
        let i = match outcome {
            LoginOutcome::Ok => 0,
            LoginOutcome::Failed => 1,
            LoginOutcome::Throttled => 2,
        };
        self.logins[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a store failure (a 503, or a failed background sweep).
    pub fn store_error(&self) {
        self.store_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a connection accepted.
    pub fn connection_opened(&self) {
        self.connections_open.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a connection gone, however it ended.
    pub fn connection_ended(&self) {
        self.connections_open.fetch_sub(1, Ordering::Relaxed);
    }

    /// Counts a connection that sesame closed itself, and why.
    pub fn connection_closed(&self, why: Close) {
        self.connections_closed[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Connections open now.
    pub fn connections_open(&self) -> u64 {
        self.connections_open.load(Ordering::Relaxed)
    }

    /// The Prometheus text exposition, with `sessions` as the current session count if known.
    pub fn render(&self, sessions: Option<u64>) -> String {
        let mut out = String::with_capacity(8192);
        out.push_str("# HELP sesame_http_requests_total Requests answered, by route and status.\n");
        out.push_str("# TYPE sesame_http_requests_total counter\n");
        for (route, r) in ROUTES.iter().zip(&self.routes) {
            for (status, n) in STATUSES.iter().zip(&r.by_status) {
                let n = n.load(Ordering::Relaxed);
                if n > 0 {
                    let status = if *status == 0 {
                        "other".to_owned()
                    } else {
                        status.to_string()
                    };
                    let _ = writeln!(
                        out,
                        "sesame_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
                    );
                }
            }
        }
        out.push_str("# HELP sesame_http_request_duration_seconds Time to answer, by route.\n");
        out.push_str("# TYPE sesame_http_request_duration_seconds histogram\n");
        for (route, r) in ROUTES.iter().zip(&self.routes) {
            let mut cumulative = 0;
            for (i, n) in r.buckets.iter().enumerate() {
                cumulative += n.load(Ordering::Relaxed);
                let le = BUCKETS.get(i).map_or("+Inf".to_owned(), |b| b.to_string());
                let _ = writeln!(
                    out,
                    "sesame_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let sum = r.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "sesame_http_request_duration_seconds_sum{{route=\"{route}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "sesame_http_request_duration_seconds_count{{route=\"{route}\"}} {cumulative}"
            );
        }
        out.push_str("# HELP sesame_logins_total Password checks (logins and Basic credentials), by outcome.\n");
        out.push_str("# TYPE sesame_logins_total counter\n");
        for (name, n) in ["ok", "failed", "throttled"].iter().zip(&self.logins) {
            let _ = writeln!(
                out,
                "sesame_logins_total{{outcome=\"{name}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP sesame_store_errors_total Requests answered 503 and background sweeps that failed because a store was unreachable.\n");
        out.push_str("# TYPE sesame_store_errors_total counter\n");
        let _ = writeln!(
            out,
            "sesame_store_errors_total {}",
            self.store_errors.load(Ordering::Relaxed)
        );
        out.push_str("# HELP sesame_connections Client connections open.\n");
        out.push_str("# TYPE sesame_connections gauge\n");
        let _ = writeln!(out, "sesame_connections {}", self.connections_open());
        out.push_str(
            "# HELP sesame_connections_closed_total Connections sesame closed itself, by reason.\n",
        );
        out.push_str("# TYPE sesame_connections_closed_total counter\n");
        for (why, n) in Close::ALL.iter().zip(&self.connections_closed) {
            let _ = writeln!(
                out,
                "sesame_connections_closed_total{{reason=\"{}\"}} {}",
                why.as_str(),
                n.load(Ordering::Relaxed)
            );
        }
        if let Some(n) = sessions {
            out.push_str("# HELP sesame_sessions Sessions in the store (expired ones not yet swept included).\n");
            out.push_str("# TYPE sesame_sessions gauge\n");
            let _ = writeln!(out, "sesame_sessions {n}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_render_as_prometheus_text() {
        let m = Metrics::default();
        let me = Metrics::route_index(Some("/api/v1/users/{id}"));
        m.request(me, 200, Duration::from_micros(300));
        m.request(me, 403, Duration::from_millis(3));
        m.request(
            Metrics::route_index(Some("/nope")),
            404,
            Duration::from_micros(10),
        );
        m.login(LoginOutcome::Failed);
        let text = m.render(Some(7));
        assert!(
            text.contains(
                "sesame_http_requests_total{route=\"/api/v1/users/{id}\",status=\"200\"} 1"
            )
        );
        assert!(text.contains("sesame_http_requests_total{route=\"unmatched\",status=\"404\"} 1"));
        assert!(text.contains("sesame_http_request_duration_seconds_bucket{route=\"/api/v1/users/{id}\",le=\"0.0005\"} 1"));
        assert!(text.contains("sesame_http_request_duration_seconds_bucket{route=\"/api/v1/users/{id}\",le=\"0.005\"} 2"));
        assert!(text.contains(
            "sesame_http_request_duration_seconds_count{route=\"/api/v1/users/{id}\"} 2"
        ));
        assert!(text.contains("sesame_logins_total{outcome=\"failed\"} 1"));
        assert!(text.contains("sesame_sessions 7"));
    }
}
