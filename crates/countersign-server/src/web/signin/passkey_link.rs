//! Cross-device passkey sign-in, the computer's page: "Sign in with a passkey on another
//! device" shows a one-time link (`countersign://passkey?server=…&code=…`) as a QR code with a
//! short code; the device holding the passkey answers it over the device protocol
//! (`device_api::passkey`), and the page — waiting on `…/login/passkey/another-device/status` —
//! finishes on its own.

use crate::error::ApiError;
use crate::http;
use crate::web::parts::identity;
use crate::web::session::{flow_or_visit, tenant_path};
use crate::web::signin::passkey::{posted, signed_in};
use crate::web::Form;
use crate::web::PageError;
use crate::web::{layout, page};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use countersign_core::methods::passkey::{self, LinkState};
use countersign_core::model::{SignInFlow, Tenant};
use countersign_core::CoreError;
use countersign_proto::device as proto;
use maud::html;
use serde::Deserialize;
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
    let qr = crate::web::security_info::qr_image(
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
    let v = state.passkey_verifier()?;
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
) -> Result<Response, ApiError> {
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
