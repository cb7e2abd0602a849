//! The device protocol's HTTPS endpoints (`docs/device-protocol.md`) under
//! `/{tenant}/device/v1/`: register with an activation code, ask for a challenge, fetch the
//! pending sign-in requests ("pull to refresh"), answer one. JSON in and out; every refusal is the
//! protocol's `{"error", "message"}` with its status. The rules are the core's (`push`); this
//! module parses, builds the exact payloads the device signed (`countersign_proto::device`), and
//! tells this process's waiters what changed.

use crate::error::ApiError;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use countersign_core::error::DeviceError;
use countersign_core::methods::oath::OathToken;
use countersign_core::methods::phone;
use countersign_core::methods::push::{
    self, Answer, DeviceAnswer, KeyProof, PushRequest, Registration,
};
use countersign_core::model::{Tenant, User};
use countersign_core::signin::Origin;
use countersign_core::CoreError;
use countersign_proto::device as proto;
use serde::de::DeserializeOwned;
use std::net::SocketAddr;

/// How often a connected device pings (the channel closes after three missed).
pub const HEARTBEAT_SECS: u32 = 20;

/// A JSON body, or `bad_request` saying what is wrong with it.
pub(crate) fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("The request body is not valid: {e}.")))
}

/// Fields that go into a signed payload may not hold a line break (one reading per payload).
fn one_line(fields: &[(&str, &str)]) -> Result<(), ApiError> {
    match fields.iter().find(|(_, v)| !proto::fits_payload(v)) {
        Some((name, _)) => Err(ApiError::bad_request(format!(
            "{name} may not contain a line break."
        ))),
        None => Ok(()),
    }
}

fn min_version(state: &AppState) -> Option<&str> {
    state.config.min_app_version.as_deref()
}

/// The account's base URL: its OpenID Connect issuer without `/v2.0`.
fn server_url(state: &AppState, tenant: &Tenant) -> String {
    format!("{}/{}", state.config.public_url, tenant.name)
}

/// `POST register`: a device registers its key with an activation code.
pub async fn register(
    State(state): State<AppState>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> Result<(StatusCode, Json<proto::RegisterResponse>), ApiError> {
    let tenant = crate::http::tenant(&state, &name).await?;
    let req: proto::RegisterRequest = body(&bytes)?;
    one_line(&[("code", &req.code), ("public_key", &req.public_key)])?;
    let signed = proto::register_payload(&req.code, &req.public_key);
    let r = Registration {
        code: &req.code,
        public_key: &req.public_key,
        signature: &req.signature,
        signed: &signed,
        name: &req.name,
        app_version: &req.app_version,
        platform: &req.platform,
    };
    let device = push::register(&state.deps, &tenant, &r, min_version(&state)).await?;
    let user = state
        .deps
        .store
        .user_by_id(&device.user_id)
        .await
        .map_err(CoreError::from)?
        .filter(|u| u.tenant_id == tenant.id)
        .ok_or_else(|| ApiError::from(CoreError::from(DeviceError::ActivationInvalid)))?;
    let codes = match &device.oath_token_id {
        Some(id) => state
            .deps
            .store
            .oath_tokens_of_user(&user.id)
            .await
            .map_err(CoreError::from)?
            .into_iter()
            .find(|t| &t.id == id),
        None => None,
    };
    tracing::info!(device = %device.id, user = %user.id, "device registered");
    Ok(registered(&state, &tenant, &device, &user, codes.as_ref()))
}

/// The `201 Created` answer to a registration.
fn registered(
    state: &AppState,
    tenant: &Tenant,
    device: &push::Device,
    user: &User,
    codes: Option<&OathToken>,
) -> (StatusCode, Json<proto::RegisterResponse>) {
    (
        StatusCode::CREATED,
        Json(proto::RegisterResponse {
            device_id: device.id.clone(),
            account: proto::AccountInfo {
                upn: user.upn.clone(),
                display_name: user.display_name.clone(),
                tenant: tenant.name.clone(),
                server: server_url(state, tenant),
            },
            otpauth: codes.map(|t| t.otpauth_uri(&tenant.display_name, &user.upn)),
            heartbeat_secs: HEARTBEAT_SECS,
            phone_sign_in: device.phone_key.is_some(),
        }),
    )
}

/// `POST register-with-pass`: direct phone sign-in registration with a Temporary Access Pass —
/// the device and its phone sign-in key in one step, or nothing.
pub async fn register_with_pass(
    State(state): State<AppState>,
    Path(name): Path<String>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<(StatusCode, Json<proto::RegisterResponse>), ApiError> {
    let tenant = crate::http::tenant(&state, &name).await?;
    let req: proto::RegisterWithPassRequest = body(&bytes)?;
    one_line(&[
        ("upn", &req.upn),
        ("public_key", &req.public_key),
        ("phone_key", &req.phone_key),
    ])?;
    let signed = proto::register_with_pass_payload(&req.upn, &req.public_key, &req.phone_key);
    let addr = crate::http::client_addr(&state, &headers, peer.as_ref().map(|p| &p.0));
    let r = phone::PassRegistration {
        origin: Origin {
            tenant: &tenant,
            client_id: None,
            client_addr: addr.as_deref(),
        },
        upn: &req.upn,
        pass: &req.pass,
        public_key: &req.public_key,
        phone_key: &req.phone_key,
        signature: &req.signature,
        phone_signature: &req.phone_signature,
        signed: &signed,
        name: &req.name,
        app_version: &req.app_version,
        platform: &req.platform,
    };
    let done = phone::register_with_pass(&state.deps, &r, min_version(&state)).await?;
    tracing::info!(device = %done.device.id, user = %done.user.id, "device registered with a pass, phone sign-in on");
    state.metrics.signin("tap", "success");
    Ok(registered(
        &state,
        &tenant,
        &done.device,
        &done.user,
        done.codes.as_ref(),
    ))
}

/// `POST phone-sign-in`: "Enable phone sign-in" on a registered device.
pub async fn phone_sign_in(
    State(state): State<AppState>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> Result<Json<proto::PhoneSignInResponse>, ApiError> {
    let tenant = crate::http::tenant(&state, &name).await?;
    let req: proto::PhoneSignInRequest = body(&bytes)?;
    one_line(&[
        ("device_id", &req.device_id),
        ("challenge", &req.challenge),
        ("phone_key", &req.phone_key),
    ])?;
    let signed = proto::phone_sign_in_payload(&req.device_id, &req.challenge, &req.phone_key);
    let e = phone::Enable {
        device_id: &req.device_id,
        challenge: &req.challenge,
        phone_key: &req.phone_key,
        signature: &req.signature,
        phone_signature: &req.phone_signature,
        signed: &signed,
        app_version: &req.app_version,
    };
    let (device, _) = phone::enable(&state.deps, &tenant, &e, min_version(&state)).await?;
    tracing::info!(device = %device.id, "phone sign-in enabled");
    Ok(Json(proto::PhoneSignInResponse {
        phone_sign_in: true,
    }))
}

/// `POST challenge`: a single-use challenge for the device to sign (the same answer for unknown
/// devices).
pub async fn challenge(
    State(state): State<AppState>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> Result<Json<proto::ChallengeResponse>, ApiError> {
    crate::http::tenant(&state, &name).await?;
    let req: proto::ChallengeRequest = body(&bytes)?;
    let challenge = push::challenge(&state.deps, &req.device_id).await?;
    Ok(Json(proto::ChallengeResponse {
        challenge,
        expires_in: push::CHALLENGE_TTL as u32,
    }))
}

/// A device's proof of its key over a challenge (a `requests` body, or the channel's hello).
pub async fn prove(
    state: &AppState,
    tenant: &Tenant,
    hello: &proto::Hello,
    on_connection: bool,
) -> Result<(push::Device, User), ApiError> {
    one_line(&[
        ("device_id", &hello.device_id),
        ("challenge", &hello.challenge),
    ])?;
    let signed = proto::hello_payload(&hello.device_id, &hello.challenge);
    let proof = KeyProof {
        device_id: &hello.device_id,
        challenge: &hello.challenge,
        signature: &hello.signature,
        signed: &signed,
        app_version: &hello.app_version,
    };
    Ok(push::prove(
        &state.deps,
        tenant,
        &proof,
        min_version(state),
        on_connection,
    )
    .await?)
}

/// A request as a device sees it: never the number.
pub fn to_wire(tenant: &Tenant, user: &User, r: &PushRequest) -> proto::SignInRequest {
    proto::SignInRequest {
        id: r.id.clone(),
        account: user.upn.clone(),
        tenant: tenant.name.clone(),
        application: r.application.clone(),
        location: r.client_addr.as_ref().map(|address| proto::Location {
            address: address.clone(),
            city: r.city.clone(),
            country: r.country.clone(),
        }),
        created_at: r.created_at,
        expires_at: r.expires_at,
        digits: r.number.len() as u8,
        pushed: r.pushed,
        passwordless: r.passwordless,
    }
}

/// `POST requests`: the sign-in requests waiting for this device's user.
pub async fn requests(
    State(state): State<AppState>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> Result<Json<proto::PendingRequests>, ApiError> {
    let tenant = crate::http::tenant(&state, &name).await?;
    let hello: proto::Hello = body(&bytes)?;
    let (device, user) = prove(&state, &tenant, &hello, false).await?;
    let pending = push::pending_for(&state.deps, &device, &user).await?;
    Ok(Json(proto::PendingRequests {
        requests: pending.iter().map(|r| to_wire(&tenant, &user, r)).collect(),
    }))
}

/// `POST requests/{id}/answer`: approve (with the number typed), deny, or "It's not me".
pub async fn answer(
    State(state): State<AppState>,
    Path((name, id)): Path<(String, String)>,
    bytes: Bytes,
) -> Result<Json<proto::AnswerResponse>, ApiError> {
    let tenant = crate::http::tenant(&state, &name).await?;
    let req: proto::AnswerRequest = body(&bytes)?;
    // The number is part of an approval only; a denial signs an empty one.
    let number = match req.decision {
        proto::Decision::Approve => req.number.clone().unwrap_or_default(),
        _ => String::new(),
    };
    one_line(&[("request id", &id), ("number", &number)])?;
    let signed = proto::answer_payload(&id, req.decision, &number, req.pin);
    let signed_passwordless = proto::phone_answer_payload(&id, req.decision, &number, req.pin);
    let decision = match req.decision {
        proto::Decision::Approve => push::Decision::Approve,
        proto::Decision::Deny => push::Decision::Deny,
        proto::Decision::NotMe => push::Decision::NotMe,
    };
    let a = DeviceAnswer {
        device_id: &req.device_id,
        request_id: &id,
        app_version: &req.app_version,
        answer: Answer {
            decision,
            number: (decision == push::Decision::Approve).then_some(number),
            pin: req.pin,
            signature: req.signature.clone(),
            signed,
            signed_passwordless,
        },
    };
    let (_, verdict) = push::answer(&state.deps, &tenant, &a, min_version(&state)).await?;
    let result = match verdict {
        push::Verdict::Approved { .. } => proto::AnswerResult::Approved,
        push::Verdict::Denied => proto::AnswerResult::Denied,
        push::Verdict::NotMe => proto::AnswerResult::Reported,
    };
    state.metrics.signin("push-answer", result_label(result));
    Ok(Json(proto::AnswerResponse { result }))
}

fn result_label(r: proto::AnswerResult) -> &'static str {
    match r {
        proto::AnswerResult::Approved => "approved",
        proto::AnswerResult::Denied => "denied",
        proto::AnswerResult::Reported => "reported",
    }
}
