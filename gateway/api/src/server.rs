//! The API listener: serves an axum [`Router`] over plain HTTP or over TLS with optional client
//! certificates, and shuts down gracefully.
//!
//! The pattern:
//!
//! - One accept loop for both modes. Each accepted connection gets its own task: with TLS, first
//!   the handshake (bounded by [`ServeOptions::handshake_timeout`], 10 s by default; a failed or
//!   timed-out handshake is logged at debug level and only ends that connection), then
//!   hyper-util's auto connection builder (HTTP/1.1 and HTTP/2, by ALPN or preface) serves the
//!   router.
//! - Every request of a connection gets `axum::extract::ConnectInfo<SocketAddr>` (the peer's
//!   address), and, when the TLS client presented a verified certificate, a
//!   [`PeerIdentity`](super::tls::PeerIdentity) (see [`super::tls`]). Plain HTTP and TLS without
//!   a client certificate get no `PeerIdentity`; the API's auth layer decides what that means.
//! - Cancelling the `shutdown` token stops accepting at once, aborts handshakes in progress,
//!   asks every connection to finish gracefully (HTTP/1.1: close after the current response;
//!   HTTP/2: GOAWAY) and waits for in-flight requests at most
//!   [`ServeOptions::shutdown_grace`] (30 s by default); what is left then is aborted and
//!   [`serve`] returns.
//! - HTTP/1.1 request headers must arrive within 30 s (hyper's header read timeout, slow-loris
//!   protection); request body limits and request timeouts belong to the router's layers.
//! - At most [`ServeOptions::max_connections`] connections are served at once. At the cap the
//!   listener stops accepting: further connections wait in the kernel's listen backlog (and
//!   time out there, at the client) until one closes. Nothing is accepted only to be dropped.
//! - A connection with no request in flight for [`ServeOptions::idle_timeout`] is closed
//!   gracefully (HTTP/1.1 keep-alive: closed; HTTP/2: GOAWAY, then closed), so idle clients do
//!   not hold slots of the cap. A request that takes long (a feed long-poll) is never cut by it.
//!
//! Peer addresses are not logged: a browser's IP address can be personal data.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::tls::PeerIdentity;

/// Default bound on a TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default bound on the wait for in-flight requests at shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Default cap on connections served at once.
pub const MAX_CONNECTIONS: usize = 4096;
/// Default time a connection may stay open with no request in flight.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long to pause accepting after an accept error that is not about one connection (such
/// as running out of file descriptors).
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// Timeouts of the listener. `Default` gives the production values; tests shorten them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeOptions {
    /// A TLS handshake that takes longer is abandoned (the connection is closed).
    pub handshake_timeout: Duration,
    /// After shutdown is requested, in-flight requests get this long to finish.
    pub shutdown_grace: Duration,
    /// At most this many connections are served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// A connection with no request in flight for this long is closed gracefully.
    pub idle_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            handshake_timeout: HANDSHAKE_TIMEOUT,
            shutdown_grace: SHUTDOWN_GRACE,
            max_connections: MAX_CONNECTIONS,
            idle_timeout: IDLE_TIMEOUT,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` is cancelled, with the default [`ServeOptions`]:
/// plain HTTP when `tls` is `None`, else TLS with the given configuration (see
/// [`super::tls::server_config`]). Returns when the listener has stopped and in-flight requests
/// have finished or the grace period is over.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: CancellationToken,
) -> io::Result<()> {
    serve_with(listener, app, tls, shutdown, ServeOptions::default()).await
}

/// [`serve`] with explicit timeouts.
pub async fn serve_with(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: CancellationToken,
    options: ServeOptions,
) -> io::Result<()> {
    let acceptor = tls.map(TlsAcceptor::from);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new());
    builder.http2().timer(TokioTimer::new());
    let connection = Connection {
        app,
        builder,
        acceptor,
        shutdown: shutdown.clone(),
        handshake_timeout: options.handshake_timeout,
        idle_timeout: options.idle_timeout,
    };
    let slots = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let at_cap = AtomicBool::new(false);

    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => report_join(joined),
            accepted = accept_within(&listener, &slots, &at_cap) => match accepted {
                Ok((stream, remote, slot)) => {
                    tasks.spawn(connection.clone().run(stream, remote, slot));
                }
                Err(e) if is_connection_error(&e) => {
                    tracing::debug!(error = %e, "accept: connection gone before it was accepted");
                }
                Err(e) => {
                    tracing::error!(error = %e, "accept failed; pausing the listener");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => {}
                    }
                }
            },
        }
    }
    drop(listener);

    let in_flight = tasks.len();
    if in_flight > 0 {
        tracing::info!(
            connections = in_flight,
            "API listener stopped; waiting for in-flight requests"
        );
    }
    let drained = tokio::time::timeout(options.shutdown_grace, async {
        while let Some(joined) = tasks.join_next().await {
            report_join(joined);
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = tasks.len(),
            grace_ms = u64::try_from(options.shutdown_grace.as_millis()).unwrap_or(u64::MAX),
            "in-flight requests did not finish within the shutdown grace period; aborting them"
        );
        tasks.shutdown().await;
    }
    Ok(())
}

/// Waits for a free connection slot, then accepts. Cancel-safe: dropped while waiting for the
/// slot it holds none; dropped while accepting it gives its slot back.
async fn accept_within(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
    at_cap: &AtomicBool,
) -> io::Result<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    let slot = match Arc::clone(slots).try_acquire_owned() {
        Ok(slot) => {
            at_cap.store(false, Ordering::Relaxed);
            slot
        }
        Err(_) => {
            if !at_cap.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "connection cap reached; new connections wait in the listen backlog until one closes"
                );
            }
            Arc::clone(slots)
                .acquire_owned()
                .await
                .map_err(|_| io::Error::other("connection slots closed"))?
        }
    };
    let (stream, remote) = listener.accept().await?;
    Ok((stream, remote, slot))
}

/// Everything a connection task needs; cloned per connection (all parts are cheap to clone).
#[derive(Clone)]
struct Connection {
    app: Router,
    builder: auto::Builder<TokioExecutor>,
    acceptor: Option<TlsAcceptor>,
    shutdown: CancellationToken,
    handshake_timeout: Duration,
    idle_timeout: Duration,
}

/// What a connection is doing: requests in flight, and when the last one finished.
struct Activity {
    in_flight: AtomicUsize,
    last_done: Mutex<Instant>,
}

impl Activity {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            in_flight: AtomicUsize::new(0),
            last_done: Mutex::new(Instant::now()),
        })
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(Arc::clone(self))
    }

    /// Resolves once no request has been in flight for `timeout`.
    async fn idle_for(&self, timeout: Duration) {
        loop {
            let wake = if self.in_flight.load(Ordering::SeqCst) == 0 {
                let last = *self
                    .last_done
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                let deadline = last + timeout;
                if Instant::now() >= deadline && self.in_flight.load(Ordering::SeqCst) == 0 {
                    return;
                }
                deadline.max(Instant::now() + Duration::from_millis(1))
            } else {
                Instant::now() + timeout
            };
            tokio::time::sleep_until(wake).await;
        }
    }
}

/// One request in flight on a connection; dropped when its response is produced (or its
/// future is dropped).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        *self
            .0
            .last_done
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Connection {
    async fn run(self, stream: TcpStream, remote: SocketAddr, _slot: OwnedSemaphorePermit) {
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let Some(acceptor) = self.acceptor.clone() else {
            self.serve_io(stream, remote, None).await;
            return;
        };
        let handshake = tokio::select! {
            () = self.shutdown.cancelled() => return,
            handshake = tokio::time::timeout(self.handshake_timeout, acceptor.accept(stream)) => handshake,
        };
        let stream = match handshake {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!("TLS handshake timed out");
                return;
            }
        };
        let identity = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|der| match PeerIdentity::from_certificate(der) {
                Ok(identity) => Some(identity),
                Err(e) => {
                    // Verified by the client CA yet unreadable: treat as no certificate.
                    tracing::warn!(error = %e, "client certificate cannot be read");
                    None
                }
            });
        self.serve_io(stream, remote, identity).await;
    }

    async fn serve_io<I>(self, io: I, remote: SocketAddr, identity: Option<PeerIdentity>)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let app = self.app;
        let activity = Activity::new();
        let requests = Arc::clone(&activity);
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            let extensions = request.extensions_mut();
            extensions.insert(ConnectInfo(remote));
            if let Some(identity) = &identity {
                extensions.insert(identity.clone());
            }
            let app = app.clone();
            let in_flight = requests.begin();
            async move {
                let response = app.oneshot(request).await.unwrap_or_else(|e| match e {});
                drop(in_flight);
                Ok::<_, Infallible>(response)
            }
        });
        let connection = self
            .builder
            .serve_connection_with_upgrades(TokioIo::new(io), service);
        tokio::pin!(connection);
        let finished = tokio::select! {
            result = connection.as_mut() => Some(result),
            () = self.shutdown.cancelled() => None,
            () = activity.idle_for(self.idle_timeout) => {
                tracing::debug!("closing an idle connection");
                None
            }
        };
        let result = match finished {
            Some(result) => result,
            None => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "connection ended with an error");
        }
    }
}

fn report_join(joined: Result<(), tokio::task::JoinError>) {
    if let Err(e) = joined
        && e.is_panic()
    {
        tracing::error!("an API connection task panicked");
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
