//! The ops crate's integration tests, one binary (one link on a 2-core machine), a module per
//! area.

mod audit;
mod chain_props;
mod common;
mod controls;
mod delivery_state;
mod metrics;
mod migrate;
mod reports;
