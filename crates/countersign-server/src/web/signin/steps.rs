//! The page of each sign-in step: the name, the password, "Enter code", "Other ways to sign in",
//! no way to sign in, "More information required" — and the dispatch from a flow's step to its
//! page (a method's own page is in its module).

use super::*;
use crate::error::ApiError;
use crate::web::layout;
use crate::web::parts::{identity, one_field_form, other_ways, Field};
use crate::web::session::tenant_path;
use crate::AppState;
use countersign_core::model::{SignInFlow, Tenant};
use countersign_core::signin::flow::{self, Method, Step};
use countersign_core::CoreError;
use maud::{html, Markup};

/// "Sign in": the name. Where passkeys work — this server has a verifier, and they are on in the
/// tenant's policy — the name field also offers the browser's passkeys (autofill: `webauthn` in
/// its `autocomplete`), and "Sign-in options" starts a passkey sign-in with no name.
pub(super) async fn username_page(
    state: &AppState,
    tenant: &Tenant,
    flow: &SignInFlow,
    error: Option<&str>,
) -> Result<Markup, ApiError> {
    let base = tenant_path(tenant);
    let action = format!("{base}/login/username");
    let passkeys = state.passkeys.is_some()
        && countersign_core::methods::passkey::on_in_tenant(&state.deps, tenant).await?;
    Ok(layout(
        "Sign in",
        Some(&tenant.display_name),
        html! {
            h1 { "Sign in" }
            (one_field_form(&action, &[("csrf", &flow.csrf)], &Field {
                name: "username",
                label: "Email or username",
                kind: "text",
                autocomplete: if passkeys { "username webauthn" } else { "username" },
                value: flow.state.username.as_deref().unwrap_or(""),
                placeholder: "someone@example.com",
            }, error, "Next"))
            @if passkeys {
                (passkey::sign_in_options(&base, flow, None))
            }
        },
    ))
}

pub(super) fn password_page(
    tenant: &Tenant,
    flow: &SignInFlow,
    offered: &[Method],
    error: Option<&str>,
) -> Markup {
    let base = tenant_path(tenant);
    layout(
        "Enter password",
        Some(&tenant.display_name),
        html! {
            (identity(&base, flow))
            h1 { "Enter password" }
            (one_field_form(&format!("{base}/login/password"), &[("csrf", &flow.csrf)], &Field {
                name: "password",
                label: "Password",
                kind: "password",
                autocomplete: "current-password",
                value: "",
                placeholder: "",
            }, error, "Sign in"))
            (other_ways(&base, flow, offered, Method::Password))
        },
    )
}

/// A verification code from an authenticator app or a hardware token (Entra's "Enter code").
pub(super) fn code_page(
    tenant: &Tenant,
    flow: &SignInFlow,
    offered: &[Method],
    error: Option<&str>,
) -> Markup {
    let base = tenant_path(tenant);
    layout(
        "Enter code",
        Some(&tenant.display_name),
        html! {
            (identity(&base, flow))
            h1 { "Enter code" }
            p { "Enter the code displayed in the authenticator app on your mobile device or on your hardware token." }
            (one_field_form(&format!("{base}/login/code"), &[("csrf", &flow.csrf)], &Field {
                name: "code",
                label: "Code",
                kind: "text",
                autocomplete: "one-time-code",
                value: "",
                placeholder: "",
            }, error, "Verify"))
            (other_ways(&base, flow, offered, Method::Code))
        },
    )
}

/// "Other ways to sign in": every method the account registered and the policy allows for it,
/// at this step (first or second factor).
pub(super) fn choose_page(
    tenant: &Tenant,
    flow: &SignInFlow,
    offered: &[Method],
    error: Option<&str>,
) -> Markup {
    let base = tenant_path(tenant);
    let title = if flow.state.proofs.is_empty() {
        "Other ways to sign in"
    } else {
        "Verify your identity"
    };
    layout(
        title,
        Some(&tenant.display_name),
        html! {
            (identity(&base, flow))
            h1 { (title) }
            @if let Some(e) = error { p class="error" role="alert" { (e) } }
            ul class="choices" {
                @for m in offered {
                    li {
                        form method="post" action=(format!("{base}/login/choose")) {
                            input type="hidden" name="csrf" value=(flow.csrf);
                            input type="hidden" name="method" value=(m.as_str());
                            button type="submit" class="choice" { (m.choice_label()) }
                        }
                    }
                }
            }
        },
    )
}

/// An account with no method it may sign in with (no password, and no passwordless method).
pub(super) fn no_method_page(tenant: &Tenant, flow: &SignInFlow) -> Markup {
    let base = tenant_path(tenant);
    layout(
        "You can't sign in here yet",
        Some(&tenant.display_name),
        html! {
            (identity(&base, flow))
            h1 { "You can't sign in here yet" }
            p role="alert" { "Your account doesn't have a way to sign in that your organization allows. Ask your administrator to set one up for you." }
        },
    )
}

/// Entra's combined-registration interrupt: a second factor is required and the user has none.
pub(super) fn more_info_page(tenant: &Tenant, flow: &SignInFlow, can_register: bool) -> Markup {
    let base = tenant_path(tenant);
    layout(
        "More information required",
        Some(&tenant.display_name),
        html! {
            (identity(&base, flow))
            h1 { "More information required" }
            p { "Your organization needs more information to keep your account secure." }
            @if can_register {
                form method="post" action=(format!("{base}/login/register")) {
                    input type="hidden" name="csrf" value=(flow.csrf);
                    div class="actions" { button type="submit" class="primary" { "Next" } }
                }
            } @else {
                p role="alert" class="error" { "Your organization doesn't allow any method you could add yourself. Ask your administrator to set one up for you." }
            }
        },
    )
}

/// The page of the flow's current step.
pub(super) async fn step_page(
    state: &AppState,
    tenant: &Tenant,
    flow: &SignInFlow,
    error: Option<&str>,
) -> Result<Markup, ApiError> {
    if flow.state.step == Step::Identify {
        return username_page(state, tenant, flow, error).await;
    }
    let (user, account) = flow::account_for(&state.deps, flow).await?;
    let offered = flow::outcome(&account, flow, &[]).offered;
    Ok(match &flow.state.step {
        Step::Identify => username_page(state, tenant, flow, error).await?,
        Step::Method {
            method: Method::Password,
        } => password_page(tenant, flow, &offered, error),
        Step::Method {
            method: Method::Code,
        } => code_page(tenant, flow, &offered, error),
        Step::Method {
            method: Method::Push | Method::Phone,
        } => push::unsent_page(tenant, flow, &offered),
        Step::Method {
            method: Method::Tap,
        } => tap::page(tenant, flow, &offered, error),
        Step::Method {
            method: Method::Passkey,
        } => passkey::page(tenant, flow, &offered, error),
        // A ceremony's row is never a browser's flow.
        Step::Ceremony { .. } => return Err(CoreError::FlowExpired.into()),
        Step::Push { .. } => push::approve_page(state, tenant, flow, &offered).await?,
        Step::Choose => choose_page(tenant, flow, &offered, error),
        Step::NoMethod => no_method_page(tenant, flow),
        Step::MoreInformationRequired => {
            more_info_page(tenant, flow, account.can_register.contains(&Method::Code))
        }
        Step::Register { token_id } => {
            let user = user.ok_or_else(|| ApiError::from(CoreError::FlowExpired))?;
            let token = state
                .deps
                .store
                .oath_tokens_of_user(&user.id)
                .await
                .map_err(CoreError::from)?
                .into_iter()
                .find(|t| &t.id == token_id)
                .ok_or_else(|| ApiError::from(CoreError::FlowExpired))?;
            let action = format!("{}/login/register/verify", tenant_path(tenant));
            crate::web::security_info::enrol_page(
                tenant,
                &user,
                &token,
                &action,
                &[("csrf", &flow.csrf)],
                error,
            )?
        }
    })
}
