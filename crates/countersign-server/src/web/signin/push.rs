//! "Approve sign-in request", the push step of sign-in. Arriving at it sends a request to the
//! user's devices (the core's `push::send_for_flow`); the page shows the number to type in the app and
//! waits without a reload (app.js asks `status`, which waits on the server until the request is
//! settled, then posts `finish`). An approval is the second factor; a denial, "It's not me", a
//! wrong number or the expiry end the attempt and the page says which, with "Send another
//! request" where another one may help. Phone sign-in is the same step as a first factor: its
//! request is passwordless (only a device's phone sign-in key answers it, with the App Lock), and
//! its user is the one behind the name typed.

use crate::error::ApiError;
use crate::http;
use crate::web::layout;
use crate::web::session::{posted_flow, remembered, require_flow, tenant_path, CsrfForm};
use crate::web::signin::{after_proof, render};
use crate::web::Form;
use crate::web::PageError;
use crate::AppState;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use axum::Json;
use countersign_core::methods::push::{self, NotSent, PushRequest, PushState};
use countersign_core::model::{SignInFlow, Tenant, User};
use countersign_core::policy::MethodsPolicy;
use countersign_core::signin::context::SignInContext;
use countersign_core::signin::flow::{self, Method};
use countersign_core::signin::Origin;
use countersign_core::CoreError;
use maud::{html, Markup};
use std::net::SocketAddr;
use std::time::Duration;

/// How long one `status` request waits for the answer before saying "pending" (the page asks
/// again at once): short enough for proxies' idle timeouts.
pub const STATUS_WAIT: Duration = Duration::from_secs(25);

/// A flow arrived at the push step: the core sends the request to the user's devices and saves
/// the flow, waiting on it. When none may be sent (too many lately, a fraud block), the flow is
/// at "Other ways to sign in" and the message to show there is returned.
pub async fn send_on_arrival(
    state: &AppState,
    tenant: &Tenant,
    flow: &mut SignInFlow,
    context: SignInContext,
) -> Result<Option<&'static str>, ApiError> {
    let passwordless = flow::request_method(flow) == Some(Method::Phone);
    let notice = match push::send_for_flow(&state.deps, tenant, flow, context).await? {
        Ok(sent) => {
            if let Some(why) = &sent.flagged {
                tracing::info!(user = %sent.request.user_id, reason = %why,
                    "sign-in flagged: request not pushed");
            }
            state.metrics.signin(metric(passwordless), "sent");
            return Ok(None);
        }
        Err(NotSent::TooMany) => {
            "We've sent you too many sign-in requests lately. Wait a few minutes before you try \
             again, or use another way to sign in."
        }
        Err(NotSent::Blocked | NotSent::NoDevice) => {
            "We can't send a sign-in request to your Authenticator app right now. Use another \
             way to sign in."
        }
    };
    state.metrics.signin(metric(passwordless), "not-sent");
    Ok(Some(notice))
}

/// The metrics' method label of a request.
fn metric(passwordless: bool) -> &'static str {
    if passwordless {
        "phone"
    } else {
        "push"
    }
}

/// The user a push or phone sign-in step is about (see `flow::request_user`); a flow that has
/// none, or whose user was disabled meanwhile, is over.
async fn request_user(
    state: &AppState,
    flow: &SignInFlow,
) -> Result<(User, MethodsPolicy), ApiError> {
    flow::request_user(&state.deps, flow)
        .await?
        .ok_or_else(|| ApiError::from(CoreError::FlowExpired))
}

/// The request the flow waits on (only ever the flow's own).
async fn waiting_request(state: &AppState, flow: &SignInFlow) -> Result<PushRequest, ApiError> {
    let id = flow::waiting_on(flow)?;
    push::request_of_flow(&state.deps, &flow.id, id)
        .await?
        .ok_or_else(|| ApiError::from(CoreError::FlowExpired))
}

/// The page of a flow waiting on `r`: the number while it is pending, what became of it
/// otherwise.
pub async fn approve_page(
    state: &AppState,
    tenant: &Tenant,
    flow: &SignInFlow,
    offered: &[Method],
) -> Result<Markup, ApiError> {
    let r = waiting_request(state, flow).await?;
    let base = tenant_path(tenant);
    let identity = crate::web::parts::identity(&base, flow);
    let method = flow::request_method(flow).unwrap_or(Method::Push);
    let others = crate::web::parts::other_ways(&base, flow, offered, method);
    let again = html! {
        form method="post" action=(format!("{base}/login/push/again")) {
            input type="hidden" name="csrf" value=(flow.csrf);
            div class="actions" { button type="submit" class="primary" { "Send another request" } }
        }
    };
    let outcome = |title: &str, text: &str, retry: bool| {
        layout(
            title,
            Some(&tenant.display_name),
            html! {
                (identity)
                h1 { (title) }
                p role="alert" class="error" { (text) }
                @if retry { (again) }
                (others)
            },
        )
    };
    Ok(match r.state {
        PushState::Pending | PushState::Approved | PushState::ApprovedWithPin => layout(
            "Approve sign-in request",
            Some(&tenant.display_name),
            html! {
                (identity)
                h1 { "Approve sign-in request" }
                p { "Open your Authenticator app, and enter the number shown to sign in." }
                p class="number" id="push-number" aria-label="Number to enter in the app" { (r.number) }
                @if !r.pushed {
                    p role="status" { "We didn't send a notification for this sign-in. Open your Authenticator app and refresh its requests to see it." }
                }
                p class="hint" { "No numbers in your app? Make sure to upgrade to the latest version." }
                div data-wait-status=(format!("{base}/login/push/status")) {}
                form id="wait-continue" method="post" action=(format!("{base}/login/push")) {
                    input type="hidden" name="csrf" value=(flow.csrf);
                    div class="actions" { button type="submit" class="secondary" { "I've answered in the app" } }
                }
                (others)
            },
        ),
        PushState::Denied => outcome(
            "Request denied",
            "You denied the sign-in request in the Authenticator app, so we didn't sign you in.",
            true,
        ),
        PushState::NotMe => outcome(
            "Request denied",
            "You reported this sign-in as not yours, so we didn't sign you in and we've told your \
             organization. If it was you after all, use another way to sign in.",
            false,
        ),
        PushState::WrongNumber => outcome(
            "Request denied",
            "The number entered in the Authenticator app didn't match the one on this page, so we \
             didn't sign you in.",
            true,
        ),
        PushState::Expired => outcome(
            "We didn't hear from you",
            "We sent a sign-in request to your Authenticator app, but we didn't hear from you in \
             time.",
            true,
        ),
        PushState::Withdrawn => outcome(
            "Request replaced",
            "A newer sign-in sent another request to your Authenticator app, so this one no longer \
             works.",
            true,
        ),
    })
}

/// `GET …/login/push/status`: `{"state": …}` of the request the flow waits on, once it is no
/// longer pending or after [`STATUS_WAIT`] — or at once when the server shuts down.
pub async fn status(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = http::tenant(&state, &name).await?;
    let flow = require_flow(&state, &tenant, &headers).await?;
    let id = flow::waiting_on(&flow)?.to_string();
    // Subscribed before the store is read: an answer in between is not missed.
    let mut sub = state.push.subscribe(&id);
    let give_up = tokio::time::Instant::now() + STATUS_WAIT;
    let answer = |st: &str| Json(serde_json::json!({ "state": st })).into_response();
    loop {
        let r = waiting_request(&state, &flow).await?;
        let now = state.deps.now();
        if r.state != PushState::Pending {
            return Ok(answer(r.state.as_str()));
        }
        if now >= r.expires_at {
            return Ok(answer(PushState::Expired.as_str()));
        }
        let expiry = Duration::from_secs((r.expires_at - now).max(1) as u64);
        let wake = give_up.min(tokio::time::Instant::now() + expiry);
        tokio::select! {
            e = sub.next() => if e.is_none() {
                return Ok(answer(PushState::Pending.as_str()));
            },
            _ = tokio::time::sleep_until(wake) => if wake == give_up {
                return Ok(answer(PushState::Pending.as_str()));
            },
        }
    }
}

/// `POST …/login/push`: the page continues. An approval of the flow's request signs in (or goes
/// on to what the engine asks next); anything else shows what became of the request.
pub async fn finish(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let (tenant, mut flow) = posted_flow(&state, &name, &headers, form.csrf.as_deref()).await?;
    let (user, _) = request_user(&state, &flow).await?;
    let r = waiting_request(&state, &flow).await?;
    let label = metric(r.passwordless);
    let addr = r.client_addr.clone();
    let origin = Origin {
        tenant: &tenant,
        client_id: flow.request.as_ref().map(|q| q.client_id.as_str()),
        client_addr: addr.as_deref(),
    };
    let r = push::settle_if_expired(&state.deps, origin, &user, r).await?;
    match r.state {
        PushState::Approved | PushState::ApprovedWithPin => {
            let next = flow::push_approved(
                &state.deps,
                &tenant,
                &mut flow,
                &user,
                &r,
                &remembered(&headers),
            )
            .await?;
            state.metrics.signin(label, "success");
            after_proof(&state, &tenant, &headers, flow, &user, next).await
        }
        PushState::Pending => render(&state, &tenant, &flow, StatusCode::OK, None).await,
        _ => {
            state.metrics.signin(label, "failure");
            render(&state, &tenant, &flow, StatusCode::UNAUTHORIZED, None).await
        }
    }
}

/// `POST …/login/push/again`: "Send another request" — sent here, so the page it leads to only
/// shows it (the old one, if still pending, is withdrawn by the new one).
pub async fn send_again(
    State(state): State<AppState>,
    Path(name): Path<String>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let (tenant, mut flow) = posted_flow(&state, &name, &headers, form.csrf.as_deref()).await?;
    flow::push_again(&mut flow)?;
    let context = http::sign_in_context(&state, &headers, peer.as_ref().map(|p| &p.0));
    match send_on_arrival(&state, &tenant, &mut flow, context).await? {
        None => Ok(Redirect::to(&format!("{}/login", tenant_path(&tenant))).into_response()),
        notice => render(&state, &tenant, &flow, StatusCode::OK, notice).await,
    }
}

/// The flow leaves the push step (another way, another name): its request, if still pending,
/// is withdrawn from the devices.
pub async fn withdraw_on_leaving(state: &AppState, flow: &SignInFlow) -> Result<(), ApiError> {
    let Ok(id) = flow::waiting_on(flow) else {
        return Ok(());
    };
    if let Some(r) = push::request_of_flow(&state.deps, &flow.id, id).await? {
        push::withdraw(&state.deps, &r).await?;
    }
    Ok(())
}

/// The push step before its request is sent (sending happens on arrival; this shows only if it
/// could not be): a button sends it.
pub fn unsent_page(tenant: &Tenant, flow: &SignInFlow, offered: &[Method]) -> Markup {
    let method = flow::request_method(flow).unwrap_or(Method::Push);
    let base = tenant_path(tenant);
    layout(
        "Approve sign-in request",
        Some(&tenant.display_name),
        html! {
            (crate::web::parts::identity(&base, flow))
            h1 { "Approve sign-in request" }
            p { "We'll send a sign-in request to your Authenticator app." }
            form method="post" action=(format!("{base}/login/push/again")) {
                input type="hidden" name="csrf" value=(flow.csrf);
                div class="actions" { button type="submit" class="primary" { "Send request" } }
            }
            (crate::web::parts::other_ways(&base, flow, offered, method))
        },
    )
}
