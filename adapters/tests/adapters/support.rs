//! What the partner tests share.

use std::net::SocketAddr;
use std::time::Duration;

use knooppunt_adapters::partners::Settings;

/// A free loopback port.
pub fn local() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// An HTTP client with a 10 s timeout.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// A partner's settings with its receiver on a free loopback port.
pub fn on_loopback() -> Settings {
    Settings {
        receiver_listen: Some(local()),
        ..Settings::default()
    }
}
