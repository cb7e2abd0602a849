//! The device protocol's side of passkeys: a device signing a computer in through the
//! computer's one-time link (`passkey/request`, `passkey/answer`; the computer's page is
//! `web::signin::passkey_link`), and a device adding a passkey for its own account (`passkey/register`,
//! `passkey/register/finish`). The assertion is verified exactly as a browser's
//! (`countersign_core::methods::passkey`); the link works once, for two minutes.

use super::endpoints::body;
use crate::error::ApiError;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use countersign_core::methods::passkey;
use countersign_core::signin::Origin;
use countersign_core::CoreError;
use countersign_proto::device as proto;
use std::net::SocketAddr;

fn link_gone() -> ApiError {
    ApiError::new(
        StatusCode::GONE,
        proto::codes::PASSKEY_LINK_INVALID,
        "This sign-in link was used already or has expired. Start again on the computer.",
    )
}

/// `POST …/device/v1/passkey/request`: what the link is for.
pub async fn request(
    State(state): State<AppState>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> Result<Json<proto::PasskeyLinkResponse>, ApiError> {
    let tenant = crate::http::tenant(&state, &name).await?;
    let req: proto::PasskeyLinkRequest = body(&bytes)?;
    state.passkey_verifier()?;
    let r = passkey::link_request(&state.deps, &tenant, &req.code)
        .await
        .map_err(|e| match e {
            CoreError::FlowExpired => link_gone(),
            other => other.into(),
        })?;
    Ok(Json(proto::PasskeyLinkResponse {
        site: tenant.display_name.clone(),
        short_code: r.short_code,
        origin: state.config.public_url.clone(),
        options: r.options,
    }))
}

/// `POST …/device/v1/passkey/answer`: the device's assertion; `{"signed_in": true}` when the
/// computer may finish its sign-in.
pub async fn answer(
    State(state): State<AppState>,
    Path(name): Path<String>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let tenant = crate::http::tenant(&state, &name).await?;
    let req: proto::PasskeyLinkAnswer = body(&bytes)?;
    let v = state.passkey_verifier()?;
    let addr = crate::http::client_addr(&state, &headers, peer.as_ref().map(|p| &p.0));
    let origin = Origin {
        tenant: &tenant,
        client_id: None,
        client_addr: addr.as_deref(),
    };
    let credential = req.credential.to_string();
    match passkey::answer_link(&state.deps, v, origin, &req.code, &credential).await {
        Ok(()) => Ok(Json(serde_json::json!({ "signed_in": true }))),
        Err(CoreError::FlowExpired) => Err(link_gone()),
        Err(CoreError::SignInFailed) => {
            state.metrics.signin("passkey", "failure");
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                proto::codes::PASSKEY_REFUSED,
                "The passkey was refused. Start again on the computer.",
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST …/device/v1/passkey/register`: the device (its key proved, its vault opened with the
/// App Lock PIN) begins adding a passkey for its account, within the methods policy.
pub async fn register(
    State(state): State<AppState>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> Result<Json<proto::PasskeyRegisterResponse>, ApiError> {
    let tenant = crate::http::tenant(&state, &name).await?;
    let req: proto::PasskeyRegisterRequest = body(&bytes)?;
    let v = state.passkey_verifier()?;
    let (_, user) = super::endpoints::prove(&state, &tenant, &req.hello, false).await?;
    let by = passkey::By::Device;
    let (ceremony, options) = match passkey::begin_registration(&state.deps, v, &tenant, by, &user)
        .await?
    {
        countersign_core::methods::Change::Done(d) => d,
        countersign_core::methods::Change::SignInAgain => return Err(CoreError::FlowExpired.into()),
    };
    Ok(Json(proto::PasskeyRegisterResponse {
        ceremony,
        origin: state.config.public_url.clone(),
        options,
    }))
}

/// `POST …/device/v1/passkey/register/finish`: the device's new passkey.
pub async fn register_finish(
    State(state): State<AppState>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> Result<(StatusCode, Json<proto::PasskeyRegistered>), ApiError> {
    let tenant = crate::http::tenant(&state, &name).await?;
    let req: proto::PasskeyRegisterFinish = body(&bytes)?;
    let v = state.passkey_verifier()?;
    let (_, user) = super::endpoints::prove(&state, &tenant, &req.hello, false).await?;
    let credential = req.credential.to_string();
    let done = passkey::finish_registration(
        &state.deps,
        v,
        &tenant,
        passkey::By::Device,
        &user,
        &req.ceremony,
        &credential,
    )
    .await;
    match done {
        Ok(countersign_core::methods::Change::Done(Ok(p))) => Ok((
            StatusCode::CREATED,
            Json(proto::PasskeyRegistered {
                credential_id: p.credential_id,
                name: p.name,
            }),
        )),
        Ok(countersign_core::methods::Change::Done(Err(e))) => Err(e.into()),
        Ok(countersign_core::methods::Change::SignInAgain) | Err(CoreError::FlowExpired) => {
            Err(ApiError::new(
                StatusCode::GONE,
                proto::codes::PASSKEY_LINK_INVALID,
                "The registration took too long. Start again.",
            ))
        }
        Err(e) => Err(e.into()),
    }
}
