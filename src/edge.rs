//! The work done around every request, in one layer without allocation or locking beyond the
//! response's own headers: a request id (kept from the caller or made from a counter), the
//! request's tracing span (every log line of the request carries the id), the security headers
//! every answer carries, sensitive-header marking, the metrics, and a log line per answer
//! (`debug`, or `error` for a 5xx).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::Response;
use tower::{Layer, Service};

use crate::metrics::Metrics;

/// The request-id header, read from callers and sent back on every response.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest caller-supplied request id that is kept (longer ones are replaced).
const MAX_ID_LEN: usize = 128;

/// Makes request ids: a random per-process prefix and a counter, unique and cheap.
struct Ids {
    prefix: u32,
    next: AtomicU64,
}

impl Ids {
    fn new() -> Self {
        let mut bytes = [0u8; 4];
        // A fixed prefix if the OS has no randomness to spare: ids stay unique per process.
        let _ = getrandom::fill(&mut bytes);
        Self {
            prefix: u32::from_le_bytes(bytes),
            next: AtomicU64::new(1),
        }
    }

    fn make(&self) -> HeaderValue {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let id = format!("{:08x}-{n:012x}", self.prefix);
        HeaderValue::try_from(id).unwrap_or_else(|_| HeaderValue::from_static("0"))
    }
}

/// Adds the edge work to a router's routes (see the module docs).
#[derive(Clone)]
pub struct EdgeLayer {
    metrics: Arc<Metrics>,
    ids: Arc<Ids>,
}

impl EdgeLayer {
    /// A layer reporting to `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            metrics,
            ids: Arc::new(Ids::new()),
        }
    }
}

impl<S> Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Edge<S> {
        Edge {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service made by [`EdgeLayer`].
#[derive(Clone)]
pub struct Edge<S> {
    inner: S,
    layer: EdgeLayer,
}

fn keep_caller_id(v: &HeaderValue) -> bool {
    !v.is_empty() && v.len() <= MAX_ID_LEN && v.as_bytes().iter().all(u8::is_ascii_graphic)
}

impl<S> Service<Request> for Edge<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = EdgeFuture<tracing::instrument::Instrumented<S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let started = Instant::now();
        let route = Metrics::route_index(
            req.extensions()
                .get::<MatchedPath>()
                .map(MatchedPath::as_str),
        );
        let headers = req.headers_mut();
        let id = match headers.get(&REQUEST_ID) {
            Some(v) if keep_caller_id(v) => v.clone(),
            _ => {
                let id = self.layer.ids.make();
                headers.insert(REQUEST_ID.clone(), id.clone());
                id
            }
        };
        for name in [header::AUTHORIZATION, header::COOKIE] {
            if let header::Entry::Occupied(mut e) = headers.entry(name) {
                for v in e.iter_mut() {
                    v.set_sensitive(true);
                }
            }
        }
        let span = tracing::info_span!(
            "request",
            request_id = id.to_str().unwrap_or(""),
            method = %req.method(),
            path = req.uri().path(),
        );
        let inner = {
            let _entered = span.enter();
            self.inner.call(req)
        };
        EdgeFuture {
            inner: tracing::Instrument::instrument(inner, span),
            metrics: self.layer.metrics.clone(),
            id: Some(id),
            route,
            started,
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`Edge`].
    pub struct EdgeFuture<F> {
        #[pin]
        inner: F,
        metrics: Arc<Metrics>,
        id: Option<HeaderValue>,
        route: usize,
        started: Instant,
    }
}

impl<F, E> Future for EdgeFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut resp = match this.inner.poll(cx) {
            Poll::Ready(Ok(resp)) => resp,
            other => return other,
        };
        let headers = resp.headers_mut();
        if let Some(id) = this.id.take() {
            headers.insert(REQUEST_ID.clone(), id);
        }
        // Answers carry user data and sessions: never cached, never sniffed. Only the web
        // front's static assets say otherwise (they hold no user data).
        headers
            .entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("no-store"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        if let Some(v) = headers.get_mut(header::SET_COOKIE) {
            v.set_sensitive(true);
        }
        this.metrics
            .request(*this.route, resp.status().as_u16(), this.started.elapsed());
        Poll::Ready(Ok(resp))
    }
}
