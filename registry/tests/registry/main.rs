//! The registry's integration tests, one binary (one link on a 2-core machine), a module per
//! area.

mod domain_demo;
mod domain_policy;
mod domain_props;
mod domain_rules;
mod group_commit;
mod levels;
mod migrator;
mod person_key;
mod pg_connect;
mod reports;
mod store_suite;
