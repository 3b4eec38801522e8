//! Mapping from registry events to BRON messages.
