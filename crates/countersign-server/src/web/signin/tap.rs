//! "Enter Temporary Access Pass", the sign-in step of a pass an administrator issued: the page,
//! and its answer checked by the core (`tap::sign_in`). A pass alone completes the sign-in with
//! `amr` `tap` and `mfa`, so the person can go on to add methods in security info.

use crate::error::ApiError;
use crate::http;
use crate::web::layout;
use crate::web::parts::{identity, one_field_form, other_ways, Field};
use crate::web::session::{posted_flow, remembered, tenant_path};
use crate::web::signin::{after_proof, render};
use crate::web::Form;
use crate::web::PageError;
use crate::AppState;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use countersign_core::methods::tap::{self, PassAttempt};
use countersign_core::model::{SignInFlow, Tenant};
use countersign_core::signin::flow::{self, Method};
use countersign_core::signin::Origin;
use countersign_core::CoreError;
use maud::{html, Markup};
use serde::Deserialize;
use std::net::SocketAddr;

#[derive(Debug, Deserialize)]
pub struct PassForm {
    pub csrf: Option<String>,
    pub pass: Option<String>,
}

pub fn page(tenant: &Tenant, flow: &SignInFlow, offered: &[Method], error: Option<&str>) -> Markup {
    let base = tenant_path(tenant);
    layout(
        "Enter Temporary Access Pass",
        Some(&tenant.display_name),
        html! {
            (identity(&base, flow))
            h1 { "Enter Temporary Access Pass" }
            p { "Enter the Temporary Access Pass your administrator gave you." }
            (one_field_form(&format!("{base}/login/tap"), &[("csrf", &flow.csrf)], &Field {
                name: "pass",
                label: "Temporary Access Pass",
                kind: "password",
                autocomplete: "one-time-code",
                value: "",
                placeholder: "",
            }, error, "Sign in"))
            (other_ways(&base, flow, offered, Method::Tap))
        },
    )
}

/// `POST …/login/tap`: the pass typed. Wrong, expired, revoked, used and not-yet-valid passes
/// all get the same answer; the sign-in log says which it was.
pub async fn submit(
    State(state): State<AppState>,
    Path(name): Path<String>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Form(form): Form<PassForm>,
) -> Result<Response, PageError> {
    let (tenant, mut flow) = posted_flow(&state, &name, &headers, form.csrf.as_deref()).await?;
    flow::require_step(&flow, Method::Tap)?;
    let Some(typed) = flow.state.username.clone() else {
        return Err(ApiError::from(CoreError::FlowExpired).into());
    };
    let pass = form.pass.unwrap_or_default();
    if pass.trim().is_empty() {
        let msg = "Please enter your Temporary Access Pass.";
        return render(&state, &tenant, &flow, StatusCode::BAD_REQUEST, Some(msg)).await;
    }
    let addr = http::client_addr(&state, &headers, peer.as_ref().map(|p| &p.0));
    let attempt = PassAttempt {
        origin: Origin {
            tenant: &tenant,
            client_id: flow.request.as_ref().map(|r| r.client_id.as_str()),
            client_addr: addr.as_deref(),
        },
        name: &typed,
        pass: &pass,
    };
    match tap::sign_in(&state.deps, attempt).await {
        Ok(user) => {
            state.metrics.signin("tap", "success");
            let next = flow::proved(
                &state.deps,
                &tenant,
                &mut flow,
                &user,
                Method::Tap,
                &remembered(&headers),
            )
            .await?;
            after_proof(&state, &tenant, &headers, flow, &user, next).await
        }
        Err(CoreError::SignInFailed) => {
            state.metrics.signin("tap", "failure");
            let msg =
                "That Temporary Access Pass isn't valid. Check it and try again, or ask your \
                       administrator for a new one.";
            render(&state, &tenant, &flow, StatusCode::UNAUTHORIZED, Some(msg)).await
        }
        Err(e) => Err(e.into()),
    }
}
