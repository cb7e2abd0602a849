//! Cross-device passkey sign-in: "Sign in with a passkey on another device". The computer's page
//! shows a one-time link (`countersign://passkey?server=…&code=…`) as a QR code with a short
//! code; the device holding the passkey fetches the WebAuthn request over the device protocol
//! (`POST …/device/v1/passkey/request`), answers it (`…/passkey/answer`), and the page — waiting
//! on `…/login/passkey/another-device/status` — finishes on its own. The assertion is verified
//! exactly as a browser's (`countersign_core::passkey`); the link works once, for two minutes.

use crate::device::body;
use crate::error::{AppError, PageError};
use crate::http::{self, Form};
use crate::pages::passkey::{posted, signed_in, verifier};
use crate::pages::signin::{flow_or_visit, identity, tenant_path};
use crate::pages::{layout, page};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use countersign_core::model::{SignInFlow, Tenant};
use countersign_core::passkey::{self, LinkState};
use countersign_core::signin::Origin;
use countersign_core::CoreError;
use countersign_proto::device as proto;
use maud::html;
use serde::Deserialize;
use std::net::SocketAddr;
use std::time::Duration;

/// How long a status request waits for the device before it answers "waiting".
const STATUS_WAIT: Duration = Duration::from_secs(20);

/// The link a device opens: the tenant's server and the link's code.
pub fn link(state: &AppState, tenant: &Tenant, code: &str) -> String {
    let server = format!("{}/{}", state.config.public_url, tenant.name);
    let server: String = url::form_urlencoded::byte_serialize(server.as_bytes()).collect();
    format!(
        "{}://{}?server={server}&code={code}",
        proto::ACTIVATION_SCHEME,
        proto::PASSKEY_LINK_HOST
    )
}

fn link_gone() -> AppError {
    AppError::new(
        StatusCode::GONE,
        proto::codes::PASSKEY_LINK_INVALID,
        "This sign-in link was used already or has expired. Start again on the computer.",
    )
}

/// The waiting page: the QR code, the short code, the link as text, and the form the page's
/// script posts when the device has answered.
fn waiting_page(
    state: &AppState,
    tenant: &Tenant,
    flow: &SignInFlow,
    code: &str,
) -> Result<Response, PageError> {
    let base = tenant_path(tenant);
    let link = link(state, tenant, code);
    let qr = crate::pages::security_info::qr_image(
        &link,
        "QR code to scan with the Countersign Authenticator app",
    )?;
    let status = format!("{base}/login/passkey/another-device/status?code={code}");
    let body = html! {
        @if flow.state.username.is_some() { (identity(&base, flow)) }
        h1 { "Sign in with a passkey on another device" }
        ol {
            li { "Open the Countersign Authenticator on the device that holds your passkey." }
            li { "Scan the QR code, check that the app shows the same code as this page, and confirm with your PIN." }
        }
        (qr)
        p { "Code: " strong id="short-code" { (passkey::short_code(code)) } }
        details {
            summary { "Can't scan the QR code?" }
            p { "Enter this link in the app (for the terminal app: " code { "countersign-authenticator passkey sign-in" } " and the link):" }
            p id="passkey-link" class="link-text" { (link) }
        }
        p class="hint" { "The link works once, for the next 2 minutes. This page continues by itself." }
        div data-wait-status=(status) {}
        form id="wait-continue" method="post" action=(format!("{base}/login/passkey/another-device/finish")) {
            input type="hidden" name="csrf" value=(flow.csrf);
            input type="hidden" name="code" value=(code);
            div class="actions" { button type="submit" class="primary" { "Continue" } }
        }
    };
    Ok(page(
        StatusCode::OK,
        layout(
            "Sign in with a passkey on another device",
            Some(&tenant.display_name),
            body,
        ),
    ))
}

#[derive(Debug, Deserialize)]
pub struct LinkForm {
    pub csrf: Option<String>,
    pub code: Option<String>,
}

/// `POST …/login/passkey/another-device`: a new link for this browser's sign-in.
pub async fn begin(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<LinkForm>,
) -> Result<Response, PageError> {
    let (tenant, flow, _) = posted(&state, &name, &headers, form.csrf.as_deref()).await?;
    let v = verifier(&state)?;
    let code = passkey::begin_cross_device(&state.deps, v, &tenant, &flow).await?;
    waiting_page(&state, &tenant, &flow, &code)
}

#[derive(Debug, Deserialize)]
pub struct CodeQuery {
    pub code: Option<String>,
}

/// `GET …/login/passkey/another-device/status?code=…`: `{"state": "waiting"|"answered"|"gone"}`
/// once it is not waiting, or after [`STATUS_WAIT`].
pub async fn status(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<CodeQuery>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let tenant = http::tenant(&state, &name).await?;
    let (flow, _) = flow_or_visit(&state, &tenant, &headers).await?;
    let code = q.code.unwrap_or_default();
    let give_up = tokio::time::Instant::now() + STATUS_WAIT;
    loop {
        let s = passkey::link_state(&state.deps, &tenant, &flow, &code).await?;
        if s != LinkState::Waiting || tokio::time::Instant::now() >= give_up {
            let word = match s {
                LinkState::Waiting => "waiting",
                LinkState::Answered => "answered",
                LinkState::Gone => "gone",
            };
            return Ok(Json(serde_json::json!({ "state": word })).into_response());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `POST …/login/passkey/another-device/finish`: the device answered; the sign-in goes on.
pub async fn finish(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<LinkForm>,
) -> Result<Response, PageError> {
    let (tenant, flow, stored) = posted(&state, &name, &headers, form.csrf.as_deref()).await?;
    let code = form.code.unwrap_or_default();
    let proved = match passkey::finish_link(&state.deps, &tenant, &flow, &code).await {
        Ok(s) => s,
        // Not answered yet (no script, or pressed early): the same page again.
        Err(CoreError::FlowExpired)
            if passkey::link_state(&state.deps, &tenant, &flow, &code).await?
                == LinkState::Waiting =>
        {
            return waiting_page(&state, &tenant, &flow, &code);
        }
        Err(e) => return Err(e.into()),
    };
    signed_in(&state, &tenant, &headers, (flow, stored), &proved).await
}

/// `POST …/device/v1/passkey/request`: what the link is for.
pub async fn request(
    State(state): State<AppState>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> Result<Json<proto::PasskeyLinkResponse>, AppError> {
    let tenant = http::tenant(&state, &name).await?;
    let req: proto::PasskeyLinkRequest = body(&bytes)?;
    verifier(&state)?;
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
) -> Result<Json<serde_json::Value>, AppError> {
    let tenant = http::tenant(&state, &name).await?;
    let req: proto::PasskeyLinkAnswer = body(&bytes)?;
    let v = verifier(&state)?;
    let addr = http::client_addr(&state, &headers, peer.as_ref().map(|p| &p.0));
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
            Err(AppError::new(
                StatusCode::UNAUTHORIZED,
                proto::codes::PASSKEY_REFUSED,
                "The passkey was refused. Start again on the computer.",
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// The passkey registration of a device's answer, refused in the protocol's terms.
fn not_added(e: passkey::NotAdded) -> AppError {
    let (status, message) = match e {
        passkey::NotAdded::Refused(r) => {
            tracing::info!(reason = %r.0, "passkey registration refused");
            (
                StatusCode::BAD_REQUEST,
                "The passkey was refused. Try again.",
            )
        }
        passkey::NotAdded::NotAttested(_) => (
            StatusCode::FORBIDDEN,
            crate::pages::security_info::NOT_ATTESTED,
        ),
        passkey::NotAdded::TypeNotAllowed => (
            StatusCode::FORBIDDEN,
            "Your organization doesn't allow this type of passkey.",
        ),
        passkey::NotAdded::Duplicate => {
            (StatusCode::CONFLICT, "This passkey is registered already.")
        }
        passkey::NotAdded::NotDiscoverable => (
            StatusCode::BAD_REQUEST,
            crate::pages::security_info::NOT_DISCOVERABLE,
        ),
    };
    let code = match status {
        StatusCode::FORBIDDEN => countersign_proto::codes::METHOD_NOT_SUPPORTED,
        StatusCode::CONFLICT => countersign_proto::codes::CONFLICT,
        _ => proto::codes::PASSKEY_REFUSED,
    };
    AppError::new(status, code, message)
}

/// `POST …/device/v1/passkey/register`: the device (its key proved, its vault opened with the
/// App Lock PIN) begins adding a passkey for its account, within the methods policy.
pub async fn register(
    State(state): State<AppState>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> Result<Json<proto::PasskeyRegisterResponse>, AppError> {
    let tenant = http::tenant(&state, &name).await?;
    let req: proto::PasskeyRegisterRequest = body(&bytes)?;
    let v = verifier(&state)?;
    let (_, user) = crate::device::prove(&state, &tenant, &req.hello, false).await?;
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
) -> Result<(StatusCode, Json<proto::PasskeyRegistered>), AppError> {
    let tenant = http::tenant(&state, &name).await?;
    let req: proto::PasskeyRegisterFinish = body(&bytes)?;
    let v = verifier(&state)?;
    let (_, user) = crate::device::prove(&state, &tenant, &req.hello, false).await?;
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
        Ok(countersign_core::methods::Change::Done(Err(e))) => Err(not_added(e)),
        Ok(countersign_core::methods::Change::SignInAgain) | Err(CoreError::FlowExpired) => {
            Err(AppError::new(
                StatusCode::GONE,
                proto::codes::PASSKEY_LINK_INVALID,
                "The registration took too long. Start again.",
            ))
        }
        Err(e) => Err(e.into()),
    }
}
