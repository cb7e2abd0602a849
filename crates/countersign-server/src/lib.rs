//! Countersign's HTTP server as a library. Each surface is a folder with its own `routes()`:
//! `web` (the sign-in, account and security-info pages), `device_api` (the device protocol) and
//! `oidc` (the OpenID Connect provider); `router(state)` merges them, and `run` serves the app
//! until shutdown. The binary (`countersign`) only reads configuration and calls these.

pub mod device_api;
pub mod error;
pub mod geo;
pub mod hasher;
pub mod http;
pub mod keys;
pub mod metrics;
pub mod oidc;
pub mod push_events;
mod sync;
mod tenants;
pub mod web;
pub mod webauthn;

use axum::routing::get;
use axum::Router;
use countersign_core::clock::Clock;
use countersign_core::random::OsRandom;
use countersign_core::store::*;
use countersign_core::{Deps, Settings};
use error::ApiError;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// What the server needs to know beyond the core's settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The externally visible base URL, e.g. `https://login.contoso.com`; issuers are
    /// `{public_url}/{tenant}/v2.0`.
    pub public_url: String,
    /// Take the client address from the last `X-Forwarded-For` entry (behind a reverse proxy).
    pub trust_forwarded_for: bool,
    /// At most this many Argon2 computations at once.
    pub max_concurrent_hashes: usize,
    /// Authenticator apps older than this version are refused (device protocol,
    /// `app_version_unsupported`), with a message to update.
    pub min_app_version: Option<String>,
    /// A MaxMind-format GeoIP database: sign-in requests show the city and country.
    pub geoip_db: Option<std::path::PathBuf>,
    /// Sign-ins from these networks (CIDR) are flagged: their push request is not pushed, the
    /// person opens the app and refreshes.
    pub risky_networks: Vec<String>,
    /// The authenticator models whose attestation is trusted, for a methods policy that
    /// enforces attestation: each maker's attestation root (PEM) and the model's AAGUID.
    pub passkey_attestation: Vec<webauthn::AttestationRoot>,
    pub settings: Settings,
}

impl ServerConfig {
    pub fn new(public_url: &str) -> Self {
        Self {
            public_url: public_url.trim_end_matches('/').to_string(),
            trust_forwarded_for: false,
            max_concurrent_hashes: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            min_app_version: None,
            geoip_db: None,
            risky_networks: Vec::new(),
            passkey_attestation: Vec::new(),
            settings: Settings::default(),
        }
    }

    /// Cookies get `Secure` unless the server is reached over plain http (only allowed on
    /// loopback addresses, see the binary's config validation).
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    pub fn issuer(&self, tenant: &str) -> String {
        format!("{}/{tenant}/v2.0", self.public_url)
    }
}

/// Shared state of every request.
#[derive(Clone)]
pub struct AppState {
    pub deps: Deps,
    pub keys: keys::KeyRing,
    pub config: Arc<ServerConfig>,
    pub metrics: Arc<metrics::Metrics>,
    pub hasher: hasher::BoundedHasher,
    /// Push approvals' events in this process (requests sent and settled, devices removed).
    pub push: push_events::PushEvents,
    /// The GeoIP database, when configured.
    pub geo: Option<Arc<geo::Geo>>,
    /// The WebAuthn verifier of `public_url`'s host; `None` when that is an IP address (no
    /// browser accepts an IP address as a passkey's relying party).
    pub passkeys: Option<Arc<dyn countersign_core::methods::passkey::Verifier>>,
    tenants: tenants::TenantCache,
    backend: &'static str,
}

impl AppState {
    /// Builds the state: loads (or creates) signing keys from the store.
    pub async fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: ServerConfig,
        backend: &'static str,
    ) -> anyhow::Result<Self> {
        let metrics = metrics::Metrics::new();
        let hasher = hasher::BoundedHasher::new(
            config.max_concurrent_hashes,
            Duration::from_secs(10),
            metrics.password_hashes.clone(),
        );
        let push = push_events::PushEvents::default();
        let ranges = countersign_core::signin::risk::AddressRanges::parse(&config.risky_networks)
            .map_err(|e| anyhow::anyhow!("risky_networks: {e}"))?;
        let risk: Vec<Box<dyn countersign_core::signin::risk::RiskRule>> = vec![Box::new(ranges)];
        let deps = Deps {
            store,
            clock,
            rng: Arc::new(OsRandom),
            hasher: Arc::new(hasher.clone()),
            notifier: Arc::new(push.clone()),
            risk: risk.into(),
            settings: config.settings,
        };
        let geo = match &config.geoip_db {
            Some(p) => Some(Arc::new(geo::Geo::open(p)?)),
            None => None,
        };
        let passkeys: Option<Arc<dyn countersign_core::methods::passkey::Verifier>> =
            match webauthn::WebauthnVerifier::new(&config.public_url, &config.passkey_attestation) {
                Ok(v) => Some(Arc::new(v)),
                // Trusted makers configured for nothing would silently allow no passkey.
                Err(why) if !config.passkey_attestation.is_empty() => anyhow::bail!(why),
                Err(why) => {
                    tracing::warn!("{why}");
                    None
                }
            };
        let keys = keys::KeyRing::load(deps.store.as_ref(), deps.now()).await?;
        // One verification now, so that refused attempts can wait as long as checked ones from
        // the first request on (see `hasher`).
        hasher.calibrate().await?;
        Ok(Self {
            deps,
            keys,
            metrics: Arc::new(metrics),
            hasher,
            push,
            geo,
            passkeys,
            config: Arc::new(config),
            tenants: tenants::TenantCache::default(),
            backend,
        })
    }
}

impl AppState {
    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// The passkey verifier, or why this server has none.
    pub fn passkey_verifier(
        &self,
    ) -> Result<&dyn countersign_core::methods::passkey::Verifier, ApiError> {
        self.passkeys.as_deref().ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                countersign_proto::codes::METHOD_NOT_SUPPORTED,
                "Passkeys aren't available on this server: its public address is an IP address, \
                 not a host name.",
            )
        })
    }
}

/// The whole public app: each surface's routes, the security headers of `http::common_layer`
/// on every response, and a page for any other address.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(http::healthz))
        .merge(web::routes())
        .merge(device_api::routes())
        .merge(oidc::routes())
        .fallback(web::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            http::common_layer,
        ))
        .with_state(state)
}

/// The metrics endpoint, `GET /metrics`, for its own listener (`metrics_listen`): Prometheus
/// scrapes it from inside the network, while the sign-in pages face the world.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics::render))
        .route("/healthz", get(http::healthz))
        .with_state(state)
}

/// Serves `metrics_router` on `listener` until `shutdown` resolves.
pub async fn run_metrics(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, metrics_router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Background upkeep: reload signing keys (another instance may have rotated them) every 30 s and
/// purge expired rows every 10 minutes.
fn spawn_upkeep(state: &AppState) -> tokio::task::JoinHandle<()> {
    let state = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(30));
        let mut n: u64 = 0;
        loop {
            tick.tick().await;
            let now = state.deps.now();
            state.hasher.trim_if_idle(Duration::from_secs(60));
            if let Err(e) = state.keys.reload(state.deps.store.as_ref(), now).await {
                tracing::warn!(error = %e, "reloading signing keys failed");
            }
            if n.is_multiple_of(20) {
                match state
                    .deps
                    .store
                    .purge_expired(now, state.deps.settings.session_idle)
                    .await
                {
                    Ok(rows) if rows > 0 => tracing::info!(rows, "purged expired records"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "purging expired records failed"),
                }
            }
            n += 1;
        }
    })
}

/// Serves plain HTTP on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let upkeep = spawn_upkeep(&state);
    let events = state.push.clone();
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    // Waiting pages and device channels end first, so in-flight requests finish at once.
    let shutdown = async move {
        shutdown.await;
        events.close();
    };
    let r = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    upkeep.abort();
    r
}

/// Serves HTTPS with the certificate chain and key of `tls` until `shutdown` resolves.
pub async fn run_tls(
    listener: std::net::TcpListener,
    tls: axum_server::tls_rustls::RustlsConfig,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let upkeep = spawn_upkeep(&state);
    let handle = axum_server::Handle::new();
    let h = handle.clone();
    let events = state.push.clone();
    tokio::spawn(async move {
        shutdown.await;
        events.close();
        h.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let r = axum_server::from_tcp_rustls(listener, tls)
        .handle(handle)
        .serve(app)
        .await;
    upkeep.abort();
    r
}
