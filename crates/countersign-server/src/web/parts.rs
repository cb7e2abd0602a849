//! Pieces of markup the sign-in steps share: a form of one labelled field, the name being signed
//! in to with a way back, and the "Other ways to sign in" links.

use countersign_core::model::SignInFlow;
use countersign_core::signin::flow::Method;
use maud::{html, Markup};

/// The one input of a sign-in step.
pub struct Field<'a> {
    pub name: &'a str,
    pub label: &'a str,
    pub kind: &'a str,
    pub autocomplete: &'a str,
    pub value: &'a str,
    pub placeholder: &'a str,
}

/// A form with one labelled input, its error (announced to screen readers) and a submit button.
pub fn one_field_form(
    action: &str,
    hidden: &[(&str, &str)],
    f: &Field<'_>,
    error: Option<&str>,
    button: &str,
) -> Markup {
    let error_id = format!("{}-error", f.name);
    html! {
        form method="post" action=(action) {
            @for (name, value) in hidden {
                input type="hidden" name=(name) value=(value);
            }
            label for=(f.name) { (f.label) }
            input id=(f.name) name=(f.name) type=(f.kind) autocomplete=(f.autocomplete)
                autocapitalize="none" spellcheck="false" required autofocus
                placeholder=[(!f.placeholder.is_empty()).then_some(f.placeholder)]
                value=[(!f.value.is_empty()).then_some(f.value)]
                aria-describedby=[error.map(|_| error_id.as_str())];
            @if let Some(e) = error {
                p id=(error_id) class="error" role="alert" { (e) }
            }
            div class="actions" {
                button type="submit" class="primary" { (button) }
            }
        }
    }
}

/// The name being signed in to, with a way back to the first step.
pub(crate) fn identity(base: &str, flow: &SignInFlow) -> Markup {
    html! {
        form method="post" action=(format!("{base}/login/back")) class="identity" {
            input type="hidden" name="csrf" value=(flow.csrf);
            button type="submit" class="link" aria-label="Back: use another account" { "←" }
            span { (flow.state.username.as_deref().unwrap_or("")) }
        }
    }
}

/// The links under a method's form: "Other ways to sign in" when the step offers a choice, and
/// "Use your password instead" on a first-factor step that is not the password.
pub(crate) fn other_ways(
    base: &str,
    flow: &SignInFlow,
    offered: &[Method],
    current: Method,
) -> Markup {
    let first = flow.state.proofs.is_empty();
    let password_instead =
        first && current != Method::Password && offered.contains(&Method::Password);
    html! {
        div class="other-ways" {
            @if password_instead {
                form method="post" action=(format!("{base}/login/choose")) {
                    input type="hidden" name="csrf" value=(flow.csrf);
                    input type="hidden" name="method" value="password";
                    button type="submit" class="link" { "Use your password instead" }
                }
            }
            @if offered.iter().any(|m| *m != current) || !first {
                form method="post" action=(format!("{base}/login/other")) {
                    input type="hidden" name="csrf" value=(flow.csrf);
                    button type="submit" class="link" { "Other ways to sign in" }
                }
            }
        }
    }
}
