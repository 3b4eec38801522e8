//! The HTTP edge's tests, one binary (one link on a 2-core machine): each module is one area.

mod auth;
mod connections;
mod error_codes;
mod extractors;
mod feed;
mod fuzz;
mod http;
mod idempotency;
mod metrics;
mod monitoring;
mod no_echo;
mod onderwijsovereenkomsten;
mod openapi_conformance;
mod operator;
mod operator_levels;
mod praktijkovereenkomsten;
mod proxy;
mod rejections;
mod reports;
mod resultaten;
mod store;
mod studenten;
mod support;
mod tls;
mod token;
mod va_statuses;
