//! Knooppunt's cross-crate tests (`tests/tests/`). The shared helpers are the test kit at the
//! bottom of the tree, `knooppunt-testkit` (`tests/kit/`), re-exported here.

pub use knooppunt_testkit::*;
