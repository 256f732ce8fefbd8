//! Serving HTTP/1.1 connections with the limits a server on a hostile network needs: a
//! deadline for each request's head and body, an idle timeout between requests, a cap on open
//! connections, and a shutdown that ends within its deadline whatever the clients do.
//!
//! # Design
//!
//! Each accepted connection is one task running hyper's HTTP/1.1 connection. The connection is
//! always in one of four phases, kept in two atomics ([`ConnState`]) that the request path
//! updates without locks, timers or allocation:
//!
//! | phase    | from                                                    | ends the connection after |
//! |----------|---------------------------------------------------------|---------------------------|
//! | `head`   | accept, or the first byte read after an idle phase      | `HEADER_READ_TIMEOUT`     |
//! | `body`   | a request head with a body, until its last byte          | `BODY_READ_TIMEOUT` (408) |
//! | `busy`   | a request head without a body, or its body read          | never (stores time out)   |
//! | `idle`   | the answer to a request                                 | `KEEPALIVE_TIMEOUT`       |
//!
//! One supervisor task watches every connection: a few times per shortest timeout it closes
//! those whose phase has lasted too long, so a limit holds to within a quarter of itself (at
//! most a second). It tells a connection through the connection's own atomic command and
//! waker, so a request costs one uncontended atomic load and a waker registration, and no timer
//! or lock shared with other connections; the registry of open connections is locked only when
//! one opens or ends. hyper's own header timer is not used: it starts when hyper waits for the
//! next request, so it cannot tell an idle keep-alive connection (allowed a minute) from a slow
//! request head (allowed seconds).
//!
//! A body is read through [`TimedBody`], which fails with [`BodyReadTimeout`] once
//! `BODY_READ_TIMEOUT` has passed since the request's head arrived; the routes answer that
//! 408. An answer given while the request's body is still unread (413, 401 before an upload,
//! 408) carries `Connection: close`, and hyper closes the connection after it, so a pooling
//! client does not send its next request on a connection about to end.
//!
//! At most `MAX_CONNECTIONS` connections are open. When one more arrives at the cap, it is held
//! (the rest wait in the kernel's backlog) while the connections that are idle, or that have
//! spent more than [`PRESSURE_GRACE`] on a request head, are closed to make room; a connection
//! running a request is never closed for this. Connections that are busy are never starved by
//! new ones: the cap is taken before a connection is served.
//!
//! Shutdown: stop accepting; close at once every connection that is idle or reading a head;
//! let the requests in flight (bodies included) finish, each connection closing after its
//! answer; after `SHUTDOWN_TIMEOUT` drop whatever is left, so the process always exits within
//! the deadline.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use atomic_waker::AtomicWaker;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, header};
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::ServiceExt as _;

use crate::metrics::{Close, Metrics};

/// A connection at the cap's pressure is closed if it has spent this long on a request head.
pub const PRESSURE_GRACE: Duration = Duration::from_secs(1);

/// How long the accept loop waits for room before asking idle connections to close again.
const PRESSURE_RETRY: Duration = Duration::from_millis(100);

/// The application as [`serve`] runs it: a cloneable tower service of requests.
pub trait Handler:
    tower::Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send>
    + Clone
    + Send
    + 'static
{
}

impl<S> Handler for S where
    S: tower::Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send>
        + Clone
        + Send
        + 'static
{
}

/// The limits of [`serve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest time from a request's first byte (or the connection's start) to its last header.
    pub header_read: Duration,
    /// Longest time from a request's head to the last byte of its body.
    pub body_read: Duration,
    /// Longest time a connection may wait for its next request.
    pub keep_alive: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
    /// Longest time shutdown waits for requests in flight.
    pub shutdown: Duration,
}

impl Limits {
    /// How often the supervisor looks: a quarter of the shortest timeout, within 50 ms to 1 s.
    fn check_every(&self) -> Duration {
        let shortest = self.header_read.min(self.body_read).min(self.keep_alive);
        (shortest / 4).clamp(Duration::from_millis(50), Duration::from_secs(1))
    }
}

/// The error a [`TimedBody`] fails with once its deadline has passed.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the request body did not arrive within BODY_READ_TIMEOUT")]
pub struct BodyReadTimeout;

impl BodyReadTimeout {
    /// Whether `e` or one of its sources is a body read timeout.
    pub fn is_cause_of(e: &(dyn std::error::Error + 'static)) -> bool {
        let mut next = Some(e);
        while let Some(e) = next {
            if e.is::<Self>() {
                return true;
            }
            next = e.source();
        }
        false
    }
}

const HEAD: u8 = 0;
const BODY: u8 = 1;
const BUSY: u8 = 2;
const IDLE: u8 = 3;

/// What the supervisor tells a connection.
const CARRY_ON: u8 = 0;
/// Finish the request in flight, then close.
const DRAIN: u8 = 1;
/// Close now; the reason is in `reason`.
const CLOSE: u8 = 2;

/// One connection as the request path and the supervisor see it: its phase and when it began
/// (milliseconds since the server started), and the supervisor's command with the waker that
/// carries it to the connection's task.
struct ConnState {
    epoch: Instant,
    phase: AtomicU8,
    since: AtomicU64,
    command: AtomicU8,
    reason: AtomicU8,
    waker: AtomicWaker,
}

impl ConnState {
    fn new(epoch: Instant) -> Self {
        let s = Self {
            epoch,
            phase: AtomicU8::new(HEAD),
            since: AtomicU64::new(0),
            command: AtomicU8::new(CARRY_ON),
            reason: AtomicU8::new(0),
            waker: AtomicWaker::new(),
        };
        s.since.store(s.now(), Ordering::Relaxed);
        s
    }

    /// Tells the connection to close at once, for `why`.
    fn close(&self, why: Close) {
        self.reason.store(why as u8, Ordering::Relaxed);
        self.command.store(CLOSE, Ordering::Release);
        self.waker.wake();
    }

    /// Tells the connection to end after the request in flight.
    fn drain(&self) {
        let _ = self
            .command
            .compare_exchange(CARRY_ON, DRAIN, Ordering::AcqRel, Ordering::Relaxed);
        self.waker.wake();
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn phase(&self) -> u8 {
        self.phase.load(Ordering::Relaxed)
    }

    fn enter(&self, phase: u8) {
        self.since.store(self.now(), Ordering::Relaxed);
        self.phase.store(phase, Ordering::Relaxed);
    }

    /// How long the current phase has lasted.
    fn lasted(&self) -> Duration {
        Duration::from_millis(
            self.now()
                .saturating_sub(self.since.load(Ordering::Relaxed)),
        )
    }

    /// Why the connection must close now, if it must.
    fn overdue(&self, limits: &Limits) -> Option<Close> {
        let lasted = self.lasted();
        match self.phase() {
            HEAD if lasted >= limits.header_read => Some(Close::HeaderTimeout),
            IDLE if lasted >= limits.keep_alive => Some(Close::IdleTimeout),
            // The body itself fails at its deadline and is answered 408; this is for a handler
            // that stopped reading it.
            BODY if lasted >= limits.body_read + limits.header_read => Some(Close::BodyTimeout),
            _ => None,
        }
    }

    /// Whether the connection may be closed to make room for a new one.
    fn evictable(&self) -> bool {
        match self.phase() {
            IDLE => true,
            HEAD => self.lasted() >= PRESSURE_GRACE,
            _ => false,
        }
    }
}

/// Serves `service` on `listener` until `stop` resolves, then shuts down as the module docs
/// say. Returns once every connection has ended or been dropped at the deadline.
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    limits: Limits,
    metrics: Arc<Metrics>,
    stop: impl Future<Output = ()>,
) where
    S: Handler,
{
    let shared = Arc::new(Shared {
        limits,
        epoch: Instant::now(),
        pressure: Notify::new(),
        metrics,
        connections: Mutex::new(Connections::default()),
    });
    let supervisor = tokio::spawn(supervise(shared.clone()));
    let room = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut tasks = JoinSet::new();
    let mut stop = pin!(stop);
    loop {
        while tasks.try_join_next().is_some() {}
        let accepted = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                // Out of file descriptors or a connection reset before it was accepted: wait a
                // moment rather than spin, and go on.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let permit = tokio::select! {
            () = &mut stop => break,
            permit = admit(&room, &shared) => permit,
        };
        let _ = stream.set_nodelay(true);
        tasks.spawn(connection(
            stream,
            peer,
            service.clone(),
            shared.clone(),
            permit,
        ));
    }
    drop(listener);
    shared.each(|c| match c.phase() {
        HEAD | IDLE => c.close(Close::Shutdown),
        _ => c.drain(),
    });
    let drained = tokio::time::timeout(limits.shutdown, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = tasks.len(),
            "SHUTDOWN_TIMEOUT reached: closing the connections still open"
        );
        shared.each(|c| c.close(Close::Shutdown));
        // Closed connections end at their next poll; whatever is still running is dropped.
        let _ = tokio::time::timeout(Duration::from_millis(200), async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        tasks.shutdown().await;
    }
    supervisor.abort();
}

/// The open connections, by a number of their own.
#[derive(Default)]
struct Connections {
    next: u64,
    open: HashMap<u64, Arc<ConnState>>,
}

/// What every connection task and the supervisor share.
struct Shared {
    limits: Limits,
    epoch: Instant,
    /// Signalled when a new connection waits for room: idle connections close.
    pressure: Notify,
    metrics: Arc<Metrics>,
    /// Locked when a connection opens or ends, and by the supervisor; never per request.
    connections: Mutex<Connections>,
}

impl Shared {
    fn connections(&self) -> std::sync::MutexGuard<'_, Connections> {
        self.connections
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn each(&self, f: impl Fn(&ConnState)) {
        for c in self.connections().open.values() {
            f(c);
        }
    }
}

/// A place under the cap: at once if there is room, else after idle connections make some.
async fn admit(room: &Arc<Semaphore>, shared: &Shared) -> OwnedSemaphorePermit {
    loop {
        if let Ok(permit) = room.clone().try_acquire_owned() {
            return permit;
        }
        shared.pressure.notify_one();
        tokio::select! {
            permit = room.clone().acquire_owned() => if let Ok(permit) = permit {
                return permit;
            },
            () = tokio::time::sleep(PRESSURE_RETRY) => {}
        }
    }
}

/// The one task that watches every connection: closes those whose phase lasted too long, a
/// few times per shortest timeout, and the idle ones when a newcomer needs room.
async fn supervise(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(shared.limits.check_every());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => shared.each(|c| {
                if let Some(why) = c.overdue(&shared.limits) {
                    c.close(why);
                }
            }),
            () = shared.pressure.notified() => shared.each(|c| {
                if c.evictable() {
                    c.close(Close::Pressure);
                }
            }),
        }
    }
}

/// Runs one connection until it ends or the supervisor closes it.
async fn connection<S>(
    stream: TcpStream,
    peer: SocketAddr,
    service: S,
    shared: Arc<Shared>,
    _permit: OwnedSemaphorePermit,
) where
    S: Handler,
{
    let state = Arc::new(ConnState::new(shared.epoch));
    let id = {
        let mut all = shared.connections();
        let id = all.next;
        all.next += 1;
        all.open.insert(id, state.clone());
        id
    };
    shared.metrics.connection_opened();
    let io = TokioIo::new(Watched {
        inner: stream,
        state: state.clone(),
    });
    let svc = ConnService {
        inner: service,
        state: state.clone(),
        peer,
        body_read: shared.limits.body_read,
    };
    let mut http = hyper::server::conn::http1::Builder::new();
    http.keep_alive(true).header_read_timeout(None);
    let conn = http.serve_connection(io, svc);
    let ended = Supervised {
        conn,
        state: &state,
        draining: false,
    }
    .await;
    match ended {
        Ended::ByClient(Err(e)) => {
            tracing::debug!(error = %e, %peer, "connection ended with an error");
        }
        Ended::ByClient(Ok(())) => {}
        Ended::Closed(why) => {
            tracing::debug!(%peer, reason = why.as_str(), "closing connection");
            shared.metrics.connection_closed(why);
        }
    }
    shared.connections().open.remove(&id);
    shared.metrics.connection_ended();
}

/// How a connection ended.
enum Ended {
    /// The client hung up, or hyper ended it (an error, `Connection: close`).
    ByClient(Result<(), hyper::Error>),
    /// The supervisor closed it.
    Closed(Close),
}

pin_project_lite::pin_project! {
    /// A connection under the supervisor's command: per poll, one atomic load and the waker's
    /// registration, nothing shared with other connections.
    struct Supervised<'a, C> {
        #[pin]
        conn: C,
        state: &'a ConnState,
        draining: bool,
    }
}

impl<C> Future for Supervised<'_, C>
where
    C: Future<Output = Result<(), hyper::Error>> + GracefulShutdown,
{
    type Output = Ended;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Ended> {
        let mut this = self.project();
        this.state.waker.register(cx.waker());
        match this.state.command.load(Ordering::Acquire) {
            CLOSE => {
                let why = Close::from_u8(this.state.reason.load(Ordering::Relaxed));
                return Poll::Ready(Ended::Closed(why));
            }
            DRAIN if !*this.draining => {
                *this.draining = true;
                this.conn.as_mut().shutdown_gracefully();
            }
            _ => {}
        }
        this.conn.poll(cx).map(Ended::ByClient)
    }
}

/// hyper's graceful shutdown of a connection, for [`Supervised`].
trait GracefulShutdown {
    fn shutdown_gracefully(self: Pin<&mut Self>);
}

impl<I, S> GracefulShutdown for hyper::server::conn::http1::Connection<I, S>
where
    S: hyper::service::HttpService<Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    S::ResBody: 'static,
    <S::ResBody as HttpBody>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn shutdown_gracefully(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

pin_project_lite::pin_project! {
    /// The socket of a connection; moves the connection from `idle` to `head` when the next
    /// request's first byte arrives.
    struct Watched {
        #[pin]
        inner: TcpStream,
        state: Arc<ConnState>,
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let read = this.inner.poll_read(cx, buf);
        if buf.filled().len() > before && this.state.phase() == IDLE {
            this.state.enter(HEAD);
        }
        read
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.project().inner.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.project().inner.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }
}

/// The service of one connection: the application, with the phases kept and the peer address
/// given to the handlers (`ConnectInfo`).
struct ConnService<S> {
    inner: S,
    state: Arc<ConnState>,
    peer: SocketAddr,
    body_read: Duration,
}

impl<S> hyper::service::Service<Request<Incoming>> for ConnService<S>
where
    S: Handler,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Answer<tower::util::Oneshot<S, Request<Body>>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let mut req = if req.body().is_end_stream() {
            self.state.enter(BUSY);
            req.map(Body::new)
        } else {
            self.state.enter(BODY);
            let deadline = Instant::now() + self.body_read;
            let state = self.state.clone();
            req.map(|inner| {
                Body::new(TimedBody {
                    inner,
                    deadline,
                    sleep: None,
                    state,
                })
            })
        };
        req.extensions_mut().insert(ConnectInfo(self.peer));
        Answer {
            inner: self.inner.clone().oneshot(req),
            state: self.state.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The application's answer to one request; on the way out it marks the connection idle,
    /// and says `Connection: close` when the request's body was left unread.
    struct Answer<F> {
        #[pin]
        inner: F,
        state: Arc<ConnState>,
    }
}

impl<F> Future for Answer<F>
where
    F: Future<Output = Result<Response<Body>, Infallible>>,
{
    type Output = Result<Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Poll::Ready(Ok(mut resp)) = this.inner.poll(cx) else {
            return Poll::Pending;
        };
        if this.state.phase() == BODY {
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        this.state.enter(IDLE);
        Poll::Ready(Ok(resp))
    }
}

pin_project_lite::pin_project! {
    /// A request body that fails with [`BodyReadTimeout`] at its deadline, and moves the
    /// connection from `body` to `busy` once it has been read to the end. Its timer is made
    /// only if the body is not all there at the first read.
    struct TimedBody {
        #[pin]
        inner: Incoming,
        deadline: Instant,
        sleep: Option<Pin<Box<tokio::time::Sleep>>>,
        state: Arc<ConnState>,
    }
}

impl TimedBody {
    fn finished(state: &ConnState) {
        if state.phase() == BODY {
            state.enter(BUSY);
        }
    }
}

impl HttpBody for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let mut this = self.project();
        match this.inner.as_mut().poll_frame(cx) {
            Poll::Ready(None) => {
                Self::finished(this.state);
                Poll::Ready(None)
            }
            Poll::Ready(Some(Ok(frame))) => {
                if this.inner.is_end_stream() {
                    Self::finished(this.state);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Pending => {
                let deadline = *this.deadline;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyReadTimeout)))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
