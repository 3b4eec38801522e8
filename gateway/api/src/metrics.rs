//! The API's own metric families (ops' `Metrics` has no HTTP families and keeps its registry
//! private, so the API encodes a second registry after it at `/metrics`).
//!
//! Labels are bounded: `route` is the method — one of `GET`, `POST`, `PUT`, `PATCH`, `DELETE`,
//! `HEAD`, `OPTIONS`, or `OTHER` for any other ([`method_label`]), so invented methods cannot
//! grow memory — and the matched route template (or `unmatched`), `outcome` the status class
//! (`2xx`, `3xx`, `4xx`, `5xx`). Never an id, a URL with values or a BSN.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// The method as a metric label: the standard methods by name, any other as `OTHER`.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// Labels of the request families.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RouteLabels {
    /// `METHOD /route/template` ([`method_label`]), or `unmatched`.
    pub route: String,
    /// Status class.
    pub outcome: String,
}

/// API request counter and latency histogram.
#[derive(Debug)]
pub struct ApiMetrics {
    registry: Registry,
    requests: Family<RouteLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    submitted: Counter,
}

impl Default for ApiMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ApiMetrics {
    /// Registers the families under the `knooppunt_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("knooppunt");
        let requests = Family::<RouteLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 14))
        });
        let submitted = Counter::default();
        registry.register(
            "api_requests",
            "API requests by route and status class",
            requests.clone(),
        );
        registry.register_with_unit(
            "api_request_duration",
            "API request latency by route and status class",
            Unit::Seconds,
            latency.clone(),
        );
        registry.register(
            "api_aanmeldingen_submitted",
            "Aanmeldingen accepted through the API",
            submitted.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            submitted,
        }
    }

    /// Counts one request.
    pub fn request(&self, route: &str, status: u16, took: Duration) {
        let labels = RouteLabels {
            route: route.to_owned(),
            outcome: format!("{}xx", (status / 100).clamp(1, 5)),
        };
        self.requests.get_or_create(&labels).inc();
        self.latency
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// Counts an accepted aanmelding.
    pub fn aanmelding_submitted(&self) {
        self.submitted.inc();
    }

    /// The number of requests counted for `route` with `outcome` (tests).
    pub fn requests(&self, route: &str, outcome: &str) -> u64 {
        self.requests
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
                outcome: outcome.to_owned(),
            })
            .get()
    }

    /// OpenMetrics text of these families (ends with `# EOF`).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            return String::from("# EOF\n");
        }
        out
    }
}
