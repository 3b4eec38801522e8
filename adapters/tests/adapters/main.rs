//! The adapters' integration tests, one binary (one link on a 2-core machine), a module per
//! area.

mod bron_adapter;
mod duo_adapter;
mod duo_sim;
mod sbb_adapter;
mod sbb_sim;
mod signing_adapter;
mod signing_sim;
mod support;
mod va_adapter;
mod va_sim;
