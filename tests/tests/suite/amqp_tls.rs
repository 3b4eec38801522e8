//! The bus over TLS (`amqps://`) to a broker whose certificate a private CA issued
//! (`bus.ca_file`). The broker here is the shared RabbitMQ behind a TLS-terminating proxy on
//! loopback with a certificate of a fresh CA: the transport connects, declares, publishes and
//! consumes through it only when it is given that CA.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use knooppunt_api::pki::Pki;
use knooppunt_api::tls::server_config_from_pem;
use knooppunt_bus::amqp::{AmqpConfig, AmqpTransport};
use knooppunt_bus::topology::{DEFAULT_EVENTS_EXCHANGE, work_queue};
use knooppunt_bus::{AdapterQueues, Message, Topology, Transport};
use knooppunt_tests::TestVhost;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// A TLS-terminating proxy on a free loopback port in front of `broker`.
async fn tls_proxy(pki: &Pki, broker: SocketAddr) -> SocketAddr {
    let server = pki.server_cert(&["localhost", "127.0.0.1"]).unwrap();
    let config = server_config_from_pem(&server.cert_pem, &server.key_pem, &pki.ca_pem()).unwrap();
    let acceptor = TlsAcceptor::from(config);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that does not trust the certificate ends the handshake here.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut upstream) = TcpStream::connect(broker).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
            });
        }
    });
    addr
}

/// The broker's address and the vhost's path, from the test vhost's `amqp://` URL.
fn broker_of(url: &str) -> (SocketAddr, String) {
    let rest = url.split_once('@').map_or(url, |(_, r)| r);
    let (host, vhost) = rest.split_once('/').unwrap();
    let host = host.replace("localhost", "127.0.0.1");
    (host.parse().unwrap(), vhost.to_owned())
}

fn config(url: String, ca: Option<String>) -> AmqpConfig {
    let mut c = AmqpConfig::new(url);
    c.tls_ca_pem = ca;
    c.publish_wait = Duration::from_secs(5);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bus_speaks_tls_to_a_broker_of_a_private_ca() {
    let vhost = TestVhost::create("amqptls").unwrap();
    let (broker, path) = broker_of(vhost.url());
    let pki = Pki::generate().unwrap();
    let proxy = tls_proxy(&pki, broker).await;
    let url = format!("amqps://guest:guest@localhost:{}/{path}", proxy.port());

    // Without the CA: the broker's certificate is not trusted; no connection.
    let Err(e) = AmqpTransport::connect(config(url.clone(), None)).await else {
        panic!("an untrusted broker certificate was accepted");
    };
    assert!(matches!(e, knooppunt_bus::BusError::Unavailable(_)), "{e}");

    // With it: declare, publish with confirm, consume — all through TLS.
    let transport: Arc<dyn Transport> = Arc::new(
        AmqpTransport::connect(config(url, Some(pki.ca_pem())))
            .await
            .unwrap(),
    );
    let topology = Topology::new(
        DEFAULT_EVENTS_EXCHANGE,
        &[AdapterQueues {
            name: "tls".into(),
            bindings: vec!["nl.knooppunt.#".into()],
            tiers: vec![Duration::from_secs(5)],
        }],
    )
    .unwrap();
    transport.declare(&topology).await.unwrap();
    let message = Message::new("nl.knooppunt.test.tls.v1", "{}");
    transport
        .publish(DEFAULT_EVENTS_EXCHANGE, &message.kind, &message)
        .await
        .unwrap();
    let mut consumer = transport.consume(&work_queue("tls"), 1).await.unwrap();
    let delivery = tokio::time::timeout(Duration::from_secs(20), consumer.next())
        .await
        .expect("a delivery within 20 s")
        .expect("the transport is open");
    assert_eq!(delivery.message.id, message.id);
    delivery.ack().await.unwrap();
}
