//! Tests of the `knooppunt` binary as a process: signals, restarts.

mod sigterm;
