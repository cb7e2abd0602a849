//! A demo application to sign in to: a relying party built on the `openidconnect` crate, for the
//! `demo-app` client of `countersign serve --demo`.
//!
//!     cargo run -p countersign-testkit --example demo-app [ISSUER]
//!
//! then open http://127.0.0.1:8081 and click "Sign in". ISSUER defaults to
//! http://localhost:8080/contoso/v2.0.

#![allow(clippy::unwrap_used)] // test code: a failing unwrap is a failing test

use countersign_testkit::rp::RelyingParty;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let issuer = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://localhost:8080/contoso/v2.0".to_string());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8081").await?;
    let rp = RelyingParty::start(listener, &issuer, "demo-app", None).await?;
    println!("Demo application: {} (signs in at {issuer})", rp.base);
    tokio::signal::ctrl_c().await?;
    Ok(())
}
