//! The device surface: the device protocol (`docs/device-protocol.md`) that the authenticators
//! speak — registration, proofs of a device key, sign-in requests and their answers
//! (`endpoints`), the WebSocket that delivers requests as they are sent (`channel`), and passkeys
//! over the protocol (`passkey`). Every error is the protocol's JSON (`ApiError`), an unknown
//! address under `/device/v1/` included.

pub mod channel;
pub mod endpoints;
pub mod passkey;

use crate::error::ApiError;
use crate::AppState;
use axum::routing::{any, get, post};
use axum::Router;

/// The device protocol's routes, under `/{tenant}/device/v1/`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/{tenant}/device/v1/register", post(endpoints::register))
        .route(
            "/{tenant}/device/v1/register-with-pass",
            post(endpoints::register_with_pass),
        )
        .route(
            "/{tenant}/device/v1/phone-sign-in",
            post(endpoints::phone_sign_in),
        )
        .route("/{tenant}/device/v1/challenge", post(endpoints::challenge))
        .route("/{tenant}/device/v1/requests", post(endpoints::requests))
        .route(
            "/{tenant}/device/v1/requests/{id}/answer",
            post(endpoints::answer),
        )
        .route("/{tenant}/device/v1/channel", get(channel::channel))
        .route(
            "/{tenant}/device/v1/passkey/request",
            post(passkey::request),
        )
        .route("/{tenant}/device/v1/passkey/answer", post(passkey::answer))
        .route(
            "/{tenant}/device/v1/passkey/register",
            post(passkey::register),
        )
        .route(
            "/{tenant}/device/v1/passkey/register/finish",
            post(passkey::register_finish),
        )
        .route("/{tenant}/device/v1", any(unknown))
        .route("/{tenant}/device/v1/", any(unknown))
        .route("/{tenant}/device/v1/{*rest}", any(unknown))
}

/// Any other address of the protocol: its JSON error, not a page.
async fn unknown() -> ApiError {
    ApiError::not_found("The device protocol has no such endpoint.")
}
