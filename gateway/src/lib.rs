//! The `knooppunt` binary's library: the configuration ([`config`]), the wiring of a node
//! ([`serve`]) and the bulk import of a DUO registratieoverzicht ([`import`]), which the CLI
//! (`main.rs`), the end-to-end tests and the tools run. The bus and the delivery runtime are the crate `knooppunt-bus`, the HTTP edge the crate `knooppunt-api`.
//!
//! With the default feature `tools`: the demo, the benches and an institution's API client
//! ([`demo`], [`bench`], [`bench_api`], [`client`]); a production build can leave them out
//! (`--no-default-features`). The sandbox's sample data (reference data, students) is the crate
//! `knooppunt-sample`, used only with the in-memory store.

#[cfg(feature = "tools")]
pub mod bench;
#[cfg(feature = "tools")]
pub mod bench_api;
#[cfg(feature = "tools")]
pub mod client;
pub mod config;
#[cfg(feature = "tools")]
pub mod demo;
pub mod import;
pub mod operator;
pub mod ops_cli;
pub mod serve;
