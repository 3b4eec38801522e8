//! Tests of the `knooppunt` binary as a process: signals, restarts, the `ops` CLI.

mod ops_cli;
mod sigterm;
