//! Passkey sign-in pages: "Sign in with a passkey" after the name, the name page's autofill
//! (conditional UI) and "Sign-in options" → "Face, fingerprint, PIN, or security key" with no
//! name, and the two requests behind them — the browser's options (`…/login/passkey/options`,
//! JSON) and its answer (`…/login/passkey`, a form post). The rules are the core's
//! (`countersign_core::methods::passkey`); the ceremony is the verifier's (`crate::webauthn`); the
//! browser's part is in `static/app.js`.

use crate::error::ApiError;
use crate::http::{self, check_csrf};
use crate::web::layout;
use crate::web::parts::{identity, other_ways};
use crate::web::session::{flow_or_visit, remembered, tenant_path};
use crate::web::signin::{after_proof, render};
use crate::web::Form;
use crate::web::PageError;
use crate::AppState;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use countersign_core::methods::passkey;
use countersign_core::model::{SignInFlow, Tenant};
use countersign_core::signin::flow::{self, Method, Next};
use countersign_core::signin::session;
use countersign_core::signin::Origin;
use countersign_core::CoreError;
use maud::{html, Markup};
use serde::Deserialize;
use std::net::SocketAddr;

/// The hidden form the page's script fills with the browser's answer and posts; where the
/// options come from; the place for the script's error messages.
pub fn answer_form(base: &str, flow: &SignInFlow, autostart: bool, error: Option<&str>) -> Markup {
    html! {
        form id="passkey-form" method="post" action=(format!("{base}/login/passkey"))
            data-options=(format!("{base}/login/passkey/options"))
            data-autostart[autostart] {
            input type="hidden" name="csrf" value=(flow.csrf);
            input type="hidden" name="ceremony" value="";
            input type="hidden" name="credential" value="";
        }
        p id="passkey-error" class="error" role="alert" hidden[error.is_none()] { (error.unwrap_or("")) }
    }
}

/// "Sign in with a passkey on another device" (`crate::passkey_link`).
fn another_device(base: &str, flow: &SignInFlow) -> Markup {
    html! {
        form method="post" action=(format!("{base}/login/passkey/another-device")) {
            input type="hidden" name="csrf" value=(flow.csrf);
            button type="submit" class="choice" { "Sign in with a passkey on another device" }
        }
    }
}

/// The name page's way to a passkey with no name: "Sign-in options" → "Face, fingerprint, PIN,
/// or security key", or a passkey on another device.
pub fn sign_in_options(base: &str, flow: &SignInFlow, error: Option<&str>) -> Markup {
    html! {
        (answer_form(base, flow, false, error))
        details class="sign-in-options" {
            summary { "Sign-in options" }
            ul class="choices" {
                li {
                    button type="button" class="choice" data-passkey-start {
                        (Method::Passkey.choice_label())
                    }
                }
                li { (another_device(base, flow)) }
            }
        }
    }
}

/// "Sign in with a passkey": the step after the name (or after a first method). The browser's
/// prompt opens at once; the button opens it again.
pub fn page(tenant: &Tenant, flow: &SignInFlow, offered: &[Method], error: Option<&str>) -> Markup {
    let base = tenant_path(tenant);
    layout(
        "Sign in with a passkey",
        Some(&tenant.display_name),
        html! {
            (identity(&base, flow))
            h1 { "Sign in with a passkey" }
            p { "Use the face, fingerprint or PIN that unlocks this device, or your security key." }
            (answer_form(&base, flow, error.is_none(), error))
            div class="actions" {
                button type="button" class="primary" data-passkey-start { (Method::Passkey.choice_label()) }
            }
            (another_device(&base, flow))
            (other_ways(&base, flow, offered, Method::Passkey))
        },
    )
}

/// The tenant and this browser's flow (or its bare visit's: `false`) behind a posted form, after
/// its anti-CSRF check.
pub(crate) async fn posted(
    state: &AppState,
    name: &str,
    headers: &HeaderMap,
    csrf: Option<&str>,
) -> Result<(Tenant, SignInFlow, bool), ApiError> {
    let tenant = http::tenant(state, name).await?;
    let (flow, stored) = flow_or_visit(state, &tenant, headers).await?;
    check_csrf(&flow.csrf, csrf)?;
    Ok((tenant, flow, stored))
}

/// A passkey sign-in verified (here or from another device): the proof recorded and the
/// sign-in done, or on to its next step (a bare visit's flow stored for it).
pub(crate) async fn signed_in(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    (mut flow, stored): (SignInFlow, bool),
    proved: &passkey::SignedIn,
) -> Result<Response, PageError> {
    state.metrics.signin("passkey", "success");
    let remembered = remembered(headers);
    let next = flow::passkey_proved(&state.deps, tenant, &mut flow, proved, &remembered).await?;
    if !stored && next != Next::Done {
        flow = session::store_visit(&state.deps, flow).await?;
    }
    after_proof(state, tenant, headers, flow, &proved.user, next).await
}

#[derive(Debug, Deserialize)]
pub struct OptionsForm {
    pub csrf: Option<String>,
}

/// `POST …/login/passkey/options`: a new ceremony for this browser's flow — with no name at the
/// first step, with the user's passkeys at the passkey step — as `{"ceremony", "publicKey"}`.
pub async fn options(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<OptionsForm>,
) -> Result<Response, ApiError> {
    let (tenant, flow, _) = posted(&state, &name, &headers, form.csrf.as_deref()).await?;
    let v = state.passkey_verifier()?;
    let (ceremony, mut options) = passkey::begin_sign_in(&state.deps, v, &tenant, &flow).await?;
    options["ceremony"] = ceremony.into();
    Ok(Json(options).into_response())
}

#[derive(Debug, Deserialize)]
pub struct AnswerForm {
    pub csrf: Option<String>,
    pub ceremony: Option<String>,
    pub credential: Option<String>,
}

/// `POST …/login/passkey`: the browser's answer. A passkey alone completes the sign-in (user
/// verification makes it multifactor); with no name typed, the account is the credential's.
pub async fn submit(
    State(state): State<AppState>,
    Path(name): Path<String>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Form(form): Form<AnswerForm>,
) -> Result<Response, PageError> {
    let (tenant, flow, stored) = posted(&state, &name, &headers, form.csrf.as_deref()).await?;
    let v = state.passkey_verifier()?;
    let (Some(ceremony), Some(credential)) = (
        form.ceremony.filter(|c| !c.is_empty()),
        form.credential.filter(|c| !c.is_empty()),
    ) else {
        return Err(ApiError::bad_request("The passkey's answer is missing. Try again.").into());
    };
    let addr = http::client_addr(&state, &headers, peer.as_ref().map(|p| &p.0));
    let origin = Origin {
        tenant: &tenant,
        client_id: flow.request.as_ref().map(|r| r.client_id.as_str()),
        client_addr: addr.as_deref(),
    };
    let result =
        passkey::finish_sign_in(&state.deps, v, origin, &flow, &ceremony, &credential).await;
    let msg = match result {
        Ok(proved) => {
            return signed_in(&state, &tenant, &headers, (flow, stored), &proved).await;
        }
        Err(CoreError::SignInFailed) => {
            state.metrics.signin("passkey", "failure");
            "We couldn't sign you in with that passkey. Try again, or sign in another way."
        }
        Err(CoreError::FlowExpired) => "That took too long, or the page was used twice. Try again.",
        Err(e) => return Err(e.into()),
    };
    let status = StatusCode::UNAUTHORIZED;
    render(&state, &tenant, &flow, status, Some(msg)).await
}
