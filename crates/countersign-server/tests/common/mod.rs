//! What the push and phone sign-in tests share: the authenticator's device client run off the
//! async runtime, and reading pages.

#![allow(dead_code)] // each test file uses what it needs

use countersign_authenticator::device;
use countersign_authenticator::protocol::{self, DeviceAccount, DeviceError};
use countersign_core::directory::{self, NewClient};
use countersign_core::model::SignInResult;
use countersign_core::model::{SigningAlg, Tenant, User};
use countersign_proto::device::SignInRequest;
use countersign_testkit::rp::RelyingParty;
use countersign_testkit::{TestServer, WebClient};

/// The text between `start` and the next `end` in `html`.
pub fn between<'a>(html: &'a str, start: &str, end: char) -> &'a str {
    let i = html
        .find(start)
        .unwrap_or_else(|| panic!("{start} in {html}"))
        + start.len();
    let rest = &html[i..];
    &rest[..rest.find(end).unwrap()]
}

/// Runs the (blocking) device client off the async runtime, where the server runs.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce(&device::Client) -> Result<T, DeviceError> + Send + 'static,
) -> Result<T, DeviceError> {
    tokio::task::spawn_blocking(move || f(&device::Client::new()))
        .await
        .unwrap()
}

/// The requests waiting for the device's account ("pull to refresh").
pub async fn pending(a: &DeviceAccount) -> Vec<SignInRequest> {
    let a = a.clone();
    blocking(move |c| c.pending(&a)).await.unwrap()
}

/// The message of a refusal with `code`; anything else fails the test.
pub fn refused_with<T: std::fmt::Debug>(r: Result<T, DeviceError>, code: &str) -> String {
    match r {
        Err(DeviceError::Refused { code: c, message }) if c == code => message,
        other => panic!("expected {code}, got {other:?}"),
    }
}

/// What the sign-in log says of a tenant's attempts with `method` (`push`, `phone`…), oldest
/// first: the result and the reason.
pub async fn log_of(s: &TestServer, tenant_id: &str, method: &str) -> Vec<(SignInResult, String)> {
    let mut log: Vec<_> = s
        .state
        .deps
        .store
        .list_signins(tenant_id, 200)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.method == method)
        .map(|e| (e.result, e.failure_reason.unwrap_or_default()))
        .collect();
    log.reverse();
    log
}

/// Security info's "Add sign-in method" for the browser's signed-in user: the activation link
/// shown under "Can't scan the QR code?".
pub async fn activation_link(web: &WebClient) -> String {
    let csrf = web.csrf("/contoso/security-info").await;
    let html = web
        .post_form("/contoso/security-info/add", &[("csrf", &csrf)])
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Set up your account in the app"), "{html}");
    assert!(html.contains("Can't scan the QR code?"));
    between(&html, "id=\"activation-link\" class=\"link-text\">", '<').replace("&amp;", "&")
}

/// A device registered to `user` for push approvals with an activation code made for them (as an
/// administrator's or security info's would be), named `name`.
pub async fn push_device(
    s: &TestServer,
    tenant: &Tenant,
    user: &User,
    name: &str,
) -> DeviceAccount {
    let code = countersign_core::methods::push::begin_activation(&s.state.deps, tenant, user)
        .await
        .unwrap();
    let link = countersign_server::web::security_info::activation_link(&s.state, tenant, &code);
    let link = protocol::parse_activation(&link).unwrap();
    let name = name.to_string();
    blocking(move |c| c.register(&link, &name)).await.unwrap().0
}

/// A confidential application built on the `openidconnect` crate, registered in contoso.
pub async fn app(s: &TestServer, name: &str, require_mfa: bool, alg: SigningAlg) -> RelyingParty {
    let (listener, rp_base) = RelyingParty::bind().await;
    let t = directory::tenant(&s.state.deps, "contoso").await.unwrap();
    let (c, secret) = directory::create_client(
        &s.state.deps,
        &t,
        NewClient {
            require_mfa,
            name,
            redirect_uris: &[format!("{rp_base}/callback")],
            post_logout_redirect_uris: &[],
            confidential: true,
            id_token_alg: alg,
            client_id: None,
        },
    )
    .await
    .unwrap();
    RelyingParty::start(listener, &s.issuer("contoso"), &c.id, secret.as_deref())
        .await
        .unwrap()
}
