//! `countersign serve`: load the configuration, open the store, optionally seed demo data, and
//! serve HTTP or HTTPS until SIGINT/SIGTERM, then finish in-flight requests.

use crate::config::{Config, Overrides};
use crate::demo;
use anyhow::Context;
use clap::Args;
use countersign_core::clock::SystemClock;
use countersign_server::{AppState, ServerConfig};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tracing_subscriber::EnvFilter;

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on, e.g. 127.0.0.1:8080 or 0.0.0.0:443.
    #[arg(long)]
    listen: Option<String>,
    /// Externally visible base URL (default http://localhost:PORT).
    #[arg(long)]
    public_url: Option<String>,
    /// PEM certificate chain for HTTPS.
    #[arg(long)]
    tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS.
    #[arg(long)]
    tls_key: Option<PathBuf>,
    /// Seed the demo tenant (Contoso) once and print how to sign in.
    #[arg(long)]
    demo: bool,
}

fn init_logging(cfg: &Config) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&cfg.log_level));
    // Colours only for a terminal: a file or a log collector would get escape codes.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal());
    // try_init: tests may start several servers in one process.
    let _ = if cfg.log_format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// A line for the person who started the server (its address, the demo's accounts): on standard
/// output beside a text log, on standard error beside a JSON one, so that a log collector reading
/// standard output gets nothing but JSON.
pub(crate) fn say(cfg: &Config, line: &str) {
    if cfg.log_format == "json" {
        eprintln!("{line}");
    } else {
        crate::print_line(line);
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing requests in flight");
}

pub async fn run(
    file: Option<&Path>,
    mut overrides: Overrides,
    args: ServeArgs,
) -> anyhow::Result<()> {
    overrides.listen = args.listen;
    overrides.public_url = args.public_url;
    overrides.tls_cert = args.tls_cert;
    overrides.tls_key = args.tls_key;
    let cfg = Config::load(file, overrides)?;
    init_logging(&cfg);
    // One process-wide TLS crypto provider: aws-lc-rs, as for token signing.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    // As JSON, so that a JSON log carries it as one parsable field.
    let shown = serde_json::to_string(&cfg.redacted()).unwrap_or_default();
    tracing::info!(config = %shown, "starting");
    let addr = cfg.listen_addr()?;
    // Bind before anything else so that port 0 works and the public URL names the real port.
    let listener =
        std::net::TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let public_url = match cfg.public_url {
        Some(_) => cfg.public_url(),
        None => {
            let scheme = if cfg.tls_cert.is_some() {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://localhost:{}", local.port())
        }
    };
    // The certificate is read before the database is touched: a typo in its path is told at
    // once, with no migration run for a server that cannot start.
    let tls = match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(cert), Some(key)) => Some(axum_server_config(cert, key).await?),
        _ => None,
    };
    let (store, backend) = cfg.open_store().await?;
    // A server does not serve from a database `admin check` calls damaged.
    let problems = store.integrity_check().await?;
    if !problems.is_empty() {
        store.close().await;
        anyhow::bail!(
            "the database is damaged, so the server will not start: {}. Restore it from a \
             backup; `countersign admin check` lists every problem.",
            problems.first().map(String::as_str).unwrap_or_default()
        );
    }
    let store = Arc::new(store);
    let mut sc = ServerConfig::new(&public_url);
    sc.trust_forwarded_for = cfg.trust_forwarded_for;
    if let Some(n) = cfg.max_concurrent_hashes {
        sc.max_concurrent_hashes = n;
    }
    sc.min_app_version = cfg.min_app_version.clone();
    sc.geoip_db = cfg.geoip_db.clone();
    sc.risky_networks = cfg.risky_networks.clone();
    for a in &cfg.passkey_attestation {
        let ca_pem = std::fs::read_to_string(&a.ca)
            .with_context(|| format!("passkey_attestation: reading {}", a.ca.display()))?;
        sc.passkey_attestation
            .push(countersign_server::webauthn::AttestationRoot {
                ca_pem,
                aaguid: a.aaguid.clone(),
                model: a.model.clone(),
            });
    }
    sc.settings.session_idle = cfg.session_idle_timeout_secs;
    sc.settings.session_absolute = cfg.session_absolute_timeout_secs;
    sc.settings.phone_sign_in_limit = cfg.phone_sign_in_limit;
    let state = AppState::new(store.clone(), Arc::new(SystemClock), sc, backend).await?;
    // Instances sharing a PostgreSQL schema hear each other's push events.
    if let Some(bus) = store.bus("push") {
        state.push.attach(bus).await?;
    }
    if args.demo {
        demo::seed(&state.deps, &public_url, |l| say(&cfg, l)).await?;
    }
    if let Some(addr) = cfg.metrics_addr()? {
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("metrics_listen: cannot listen on {addr}"))?;
        say(
            &cfg,
            &format!("Metrics on http://{}/metrics", l.local_addr()?),
        );
        tokio::spawn(countersign_server::run_metrics(
            l,
            state.clone(),
            shutdown_signal(),
        ));
    }
    let result = match tls {
        Some(tls) => {
            say(
                &cfg,
                &format!("Countersign is listening on https://{local} (public URL {public_url})"),
            );
            countersign_server::run_tls(listener, tls, state, shutdown_signal()).await
        }
        _ => {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            say(
                &cfg,
                &format!("Countersign is listening on http://{local} (public URL {public_url})"),
            );
            countersign_server::run(listener, state, shutdown_signal()).await
        }
    };
    store.close().await;
    result.context("server failed")
}

async fn axum_server_config(
    cert: &Path,
    key: &Path,
) -> anyhow::Result<axum_server::tls_rustls::RustlsConfig> {
    axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
        .await
        .with_context(|| {
            format!(
                "cannot load TLS certificate {} and key {}",
                cert.display(),
                key.display()
            )
        })
}
