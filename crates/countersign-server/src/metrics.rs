//! Prometheus metrics: HTTP requests by method, route and status with their latency, sign-in
//! results, issued tokens by grant type, password hashes computed and in flight. Served on their
//! own listener (`metrics_listen`), never with the public pages.

use crate::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

pub struct Metrics {
    registry: Registry,
    http_requests: Family<Labels, Counter>,
    http_latency: Family<Labels, Histogram>,
    signins: Family<Labels, Counter>,
    tokens: Family<Labels, Counter>,
    hashes_in_flight: Gauge,
    /// Argon2 verifications computed; counted by the hasher.
    pub password_hashes: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("countersign");
        let http_requests = Family::<Labels, Counter>::default();
        let http_latency = Family::<Labels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ])
        });
        let signins = Family::<Labels, Counter>::default();
        let tokens = Family::<Labels, Counter>::default();
        let hashes_in_flight = Gauge::default();
        let password_hashes = Counter::default();
        registry.register(
            "password_hashes",
            "Argon2 password verifications computed",
            password_hashes.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests served",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            http_latency.clone(),
        );
        registry.register("signins", "Sign-in attempts by result", signins.clone());
        registry.register(
            "tokens_issued",
            "Token responses by grant type",
            tokens.clone(),
        );
        registry.register(
            "password_hashes_in_flight",
            "Argon2 computations running now",
            hashes_in_flight.clone(),
        );
        Self {
            registry,
            http_requests,
            http_latency,
            signins,
            tokens,
            hashes_in_flight,
            password_hashes,
        }
    }

    pub fn http(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let labels = vec![
            ("method".to_string(), method.to_string()),
            ("route".to_string(), route.to_string()),
            ("status".to_string(), status.to_string()),
        ];
        self.http_requests.get_or_create(&labels).inc();
        let route_only = vec![("route".to_string(), route.to_string())];
        self.http_latency
            .get_or_create(&route_only)
            .observe(seconds);
    }

    pub fn signin(&self, method: &str, result: &str) {
        self.signins
            .get_or_create(&vec![
                ("method".to_string(), method.to_string()),
                ("result".to_string(), result.to_string()),
            ])
            .inc();
    }

    pub fn token(&self, grant_type: &str) {
        self.tokens
            .get_or_create(&vec![("grant_type".to_string(), grant_type.to_string())])
            .inc();
    }
}

/// The metrics in Prometheus' text format.
pub fn text(state: &AppState) -> String {
    let m = &state.metrics;
    m.hashes_in_flight
        .set(state.hasher.in_flight(state.config.max_concurrent_hashes) as i64);
    let mut out = String::new();
    if encode(&mut out, &m.registry).is_err() {
        out.clear();
    }
    out
}

/// `GET /metrics` on the metrics listener.
pub async fn render(State(state): State<AppState>) -> impl IntoResponse {
    let out = text(&state);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        out,
    )
}
