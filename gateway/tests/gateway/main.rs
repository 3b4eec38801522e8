//! Tests of the `knooppunt` binary as a process: signals, restarts, the `ops` CLI, the RO import.

mod import_ro;
mod ops_cli;
mod ops_cli_controls;
mod ops_level_cli;
mod ops_report;
mod sigterm;
