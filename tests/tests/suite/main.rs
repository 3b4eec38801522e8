//! The cross-crate suites, one test binary (one link on a 2-core machine), a module per suite.
//! `rabbitmq_fault` stays a binary of its own: it stops and restarts the shared broker, which
//! must not happen while these suites use it.

mod amqp_tls;
mod bron_e2e;
mod bus_transport;
mod consent_e2e;
mod controls_e2e;
mod delivery_conformance;
mod delivery_races;
mod demo;
mod krd_e2e;
mod levels_e2e;
mod operator_e2e;
mod ops_client;
mod partner_tls;
mod relay;
mod reports_e2e;
mod sample_agreement;
mod sbb_e2e;
mod signing_e2e;
mod support;
mod va_e2e;
