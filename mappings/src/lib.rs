//! Pure translation between Knooppunt's registry commands/events and each chain partner's own
//! format. No I/O: every function takes bytes or values and returns values or a typed
//! [`MappingError`] that names the field and the reason.
//!
//! *Architecture invariant:* nothing here opens a socket or a file; adapters do the I/O.
//! *Architecture invariant:* XML is read namespace-aware (by namespace URI, never by prefix),
//! DOCTYPE/entity declarations are refused (never expanded), and input over the size limit is
//! refused before parsing (see [`xml`]).

pub mod cambo;
pub mod digid;
pub mod duo;
pub mod error;
pub mod oso;
pub mod rio;
pub mod sbb;
pub mod signing;
pub mod va;
pub mod xml;

pub use error::MappingError;
