//! The listener's connection cap and idle timeout (`api::server::ServeOptions`): a connection
//! beyond the cap waits until one closes, an idle connection is closed (HTTP/1.1 and HTTP/2),
//! and a long request is never cut by the idle timeout.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use knooppunt_api::server::{ServeOptions, serve_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A bound on every wait that should end, so a bug hangs no CI job.
const HANG_GUARD: Duration = Duration::from_secs(30);

/// Answers with the client's port: a new port means a new connection.
async fn port(ConnectInfo(remote): ConnectInfo<SocketAddr>) -> String {
    remote.port().to_string()
}

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_millis(900)).await;
    "done"
}

struct Running {
    addr: SocketAddr,
    shutdown: CancellationToken,
    handle: JoinHandle<std::io::Result<()>>,
}

async fn start(options: ServeOptions) -> Running {
    let app = Router::new()
        .route("/port", get(port))
        .route("/slow", get(slow));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(serve_with(listener, app, None, shutdown.clone(), options));
    Running {
        addr,
        shutdown,
        handle,
    }
}

impl Running {
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(HANG_GUARD, self.handle)
            .await
            .expect("serve returns")
            .unwrap()
            .unwrap();
    }
}

/// Sends one keep-alive HTTP/1.1 request on `stream` and reads its (small) response.
async fn request(stream: &mut TcpStream, path: &str) -> String {
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    read_response(stream).await
}

async fn read_response(stream: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed before a whole response");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap();
            if body.len() >= length {
                return text;
            }
        }
    }
}

#[tokio::test]
async fn a_connection_beyond_the_cap_waits_until_one_closes() {
    let server = start(ServeOptions {
        max_connections: 1,
        ..ServeOptions::default()
    })
    .await;
    let mut first = TcpStream::connect(server.addr).await.unwrap();
    assert!(
        request(&mut first, "/port")
            .await
            .starts_with("HTTP/1.1 200")
    );

    // The second connection is in the backlog, not served, while the first stays open.
    let mut second = TcpStream::connect(server.addr).await.unwrap();
    second
        .write_all(b"GET /port HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut byte = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(500), second.read(&mut byte)).await;
    assert!(
        early.is_err(),
        "a connection beyond the cap was served: {early:?}"
    );

    // The first one closes: the waiting one is served.
    drop(first);
    let answer = tokio::time::timeout(HANG_GUARD, read_response(&mut second))
        .await
        .expect("served once a slot is free");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    server.stop().await;
}

#[tokio::test]
async fn an_idle_http1_connection_is_closed_and_a_long_request_is_not_cut() {
    let server = start(ServeOptions {
        idle_timeout: Duration::from_millis(300),
        ..ServeOptions::default()
    })
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();

    // A request longer than the idle timeout completes: it was in flight, not idle.
    let answer = request(&mut stream, "/slow").await;
    assert!(answer.ends_with("done"), "{answer}");
    // Reused at once: still open.
    assert!(
        request(&mut stream, "/port")
            .await
            .starts_with("HTTP/1.1 200")
    );

    // Then idle: the server closes it (end of stream, no answer).
    let mut rest = Vec::new();
    let read = tokio::time::timeout(HANG_GUARD, stream.read_to_end(&mut rest))
        .await
        .expect("the idle connection is closed by the server");
    assert_eq!(read.unwrap(), 0, "nothing more is sent: {rest:?}");
    server.stop().await;
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed_and_the_client_reconnects() {
    let server = start(ServeOptions {
        idle_timeout: Duration::from_millis(300),
        ..ServeOptions::default()
    })
    .await;
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .no_proxy()
        .pool_idle_timeout(None)
        .build()
        .unwrap();
    let url = format!("http://{}/port", server.addr);
    let get = || async {
        let res = client.get(&url).send().await.unwrap();
        assert_eq!(res.version(), reqwest::Version::HTTP_2);
        res.text().await.unwrap()
    };
    let first = get().await;
    // Busy: the same connection serves the next request.
    assert_eq!(get().await, first, "the connection is reused while busy");

    // Idle past the timeout: GOAWAY, so the next request comes on a new connection.
    let mut next = get().await;
    let deadline = tokio::time::Instant::now() + HANG_GUARD;
    while next == first && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(400)).await;
        next = get().await;
    }
    assert_ne!(next, first, "the idle HTTP/2 connection was never closed");
    server.stop().await;
}
