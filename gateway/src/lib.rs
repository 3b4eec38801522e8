//! Knooppunt's gateway library: the bus (AMQP and in-memory), the outbox relay, the delivery
//! runtime, configuration and wiring. The `knooppunt` binary is a thin shell around it.

pub mod api;
pub mod bench;
pub mod bench_api;
pub mod bus;
pub mod client;
pub mod config;
pub mod delivery;
pub mod demo;
pub mod relay;
pub mod sandbox;
pub mod serve;
