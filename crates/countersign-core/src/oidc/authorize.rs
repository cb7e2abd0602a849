//! The authorization endpoint's rules (OpenID Connect Core §3.1.2; RFC 9700): which requests are
//! refused outright (unknown client, unregistered redirect URI — never redirected to), which are
//! refused back to the client, and the issuing of single-use codes bound to a PKCE challenge.

use crate::error::{OAuthError, OAuthErrorCode};
use crate::model::{AuthCode, AuthorizeRequest, OidcClient, Session, Tenant};
use crate::oidc::has_scope;
use crate::secret::token_digest;
use crate::{CoreError, CoreResult, Deps};
use serde::Deserialize;

/// The raw query of an authorization request.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthorizeParams {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub response_mode: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub login_hint: Option<String>,
    pub acr_values: Option<String>,
    pub request: Option<String>,
    pub request_uri: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// The client or redirect URI can't be trusted: show the message, never redirect (RFC 6749
    /// §4.1.2.1, to avoid an open redirector).
    NoRedirect(String),
    /// Report the error to the client at its redirect URI.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: OAuthError,
    },
}

/// A PKCE code challenge or verifier: 43 to 128 unreserved characters (RFC 7636 §4.1–4.2).
pub fn is_pkce_token(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

pub async fn validate_authorize(
    deps: &Deps,
    tenant: &Tenant,
    p: &AuthorizeParams,
) -> Result<(OidcClient, AuthorizeRequest), AuthorizeError> {
    let no_redirect = |m: &str| AuthorizeError::NoRedirect(m.to_string());
    let client_id = p
        .client_id
        .as_deref()
        .ok_or_else(|| no_redirect("The request has no client_id."))?;
    let client = match deps.store.client_by_id(client_id).await {
        Ok(Some(c)) if c.tenant_id == tenant.id => c,
        Ok(_) => {
            return Err(no_redirect(
                "The application is not registered in this organisation.",
            ))
        }
        Err(_) => return Err(no_redirect("The sign-in service is unavailable.")),
    };
    let redirect_uri = p
        .redirect_uri
        .as_deref()
        .ok_or_else(|| no_redirect("The request has no redirect_uri."))?;
    // Exact string match (RFC 9700 §2.1): no prefix, no wildcard, no normalisation.
    if !client.redirect_uris.iter().any(|u| u == redirect_uri) {
        return Err(no_redirect(
            "The redirect URI of the request is not registered for this application.",
        ));
    }
    let fail = |code: OAuthErrorCode, d: &str| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.to_string(),
        state: p.state.clone(),
        error: OAuthError::new(code, d),
    };
    if p.request.is_some() || p.request_uri.is_some() {
        return Err(fail(
            OAuthErrorCode::InvalidRequest,
            "request objects are not supported",
        ));
    }
    if p.response_type.as_deref() != Some("code") {
        return Err(fail(
            OAuthErrorCode::UnsupportedResponseType,
            "only response_type=code is supported",
        ));
    }
    if !matches!(p.response_mode.as_deref(), None | Some("query")) {
        return Err(fail(
            OAuthErrorCode::InvalidRequest,
            "only response_mode=query is supported",
        ));
    }
    let scope = p.scope.as_deref().unwrap_or("");
    if !has_scope(scope, "openid") {
        return Err(fail(
            OAuthErrorCode::InvalidScope,
            "the scope must include openid",
        ));
    }
    // Unknown scopes are ignored (RFC 6749 §3.3 lets the server narrow the scope).
    let scope: Vec<&str> = scope
        .split(' ')
        .filter(|s| super::SCOPES.contains(s))
        .collect();
    let mut scope_dedup: Vec<&str> = Vec::new();
    for s in scope {
        if !scope_dedup.contains(&s) {
            scope_dedup.push(s);
        }
    }
    // PKCE is required of every client, and only S256 (RFC 9700 §2.1.1; RFC 7636 §7.2).
    let challenge = match p.code_challenge.as_deref() {
        Some(c) if is_pkce_token(c) => c,
        Some(_) => {
            return Err(fail(
                OAuthErrorCode::InvalidRequest,
                "code_challenge is malformed",
            ))
        }
        None => {
            return Err(fail(
                OAuthErrorCode::InvalidRequest,
                "PKCE is required: send code_challenge with code_challenge_method=S256",
            ))
        }
    };
    if p.code_challenge_method.as_deref() != Some("S256") {
        return Err(fail(
            OAuthErrorCode::InvalidRequest,
            "code_challenge_method must be S256 (plain is not accepted)",
        ));
    }
    let max_age = match p.max_age.as_deref() {
        None => None,
        Some(s) => match s.parse::<i64>() {
            Ok(v) if v >= 0 => Some(v),
            _ => {
                return Err(fail(
                    OAuthErrorCode::InvalidRequest,
                    "max_age must be a non-negative number of seconds",
                ))
            }
        },
    };
    if let Some(prompt) = p.prompt.as_deref() {
        for v in prompt.split(' ') {
            if !["none", "login", "consent", "select_account"].contains(&v) {
                return Err(fail(
                    OAuthErrorCode::InvalidRequest,
                    "prompt has an unknown value",
                ));
            }
        }
    }
    let too_long = |s: &Option<String>| s.as_ref().is_some_and(|v| v.len() > 2048);
    if too_long(&p.state)
        || too_long(&p.nonce)
        || too_long(&p.login_hint)
        || too_long(&p.acr_values)
    {
        return Err(fail(
            OAuthErrorCode::InvalidRequest,
            "state, nonce, login_hint and acr_values are limited to 2048 characters",
        ));
    }
    let req = AuthorizeRequest {
        client_id: client.id.clone(),
        redirect_uri: redirect_uri.to_string(),
        scope: scope_dedup.join(" "),
        state: p.state.clone(),
        nonce: p.nonce.clone(),
        code_challenge: challenge.to_string(),
        prompt: p.prompt.clone(),
        max_age,
        login_hint: p.login_hint.clone(),
        acr_values: p.acr_values.clone(),
    };
    Ok((client, req))
}

/// Whether a sign-in for `req` to `client` needs a second factor: the application requires it,
/// or the request's `acr_values` asks for [`ACR_MFA`](super::claims::ACR_MFA) (a voluntary claim
/// the server chooses to honour: OpenID Connect Core §3.1.2.1).
pub fn requires_mfa(client: &OidcClient, req: &AuthorizeRequest) -> bool {
    client.require_mfa
        || req
            .acr_values
            .as_deref()
            .is_some_and(|v| v.split(' ').any(|a| a == super::claims::ACR_MFA))
}

/// Appends query parameters to a redirect URI, keeping any query it already has.
pub fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> CoreResult<String> {
    let mut u = url::Url::parse(redirect_uri)
        .map_err(|_| CoreError::invalid("redirect URI", "not a URL"))?;
    {
        let mut q = u.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    Ok(u.to_string())
}

/// The redirect carrying an error back to the client (with `iss`, RFC 9207).
pub fn error_redirect(
    redirect_uri: &str,
    state: Option<&str>,
    error: &OAuthError,
    issuer: &str,
) -> CoreResult<String> {
    let mut params = vec![
        ("error", error.code.as_str()),
        ("error_description", error.description.as_str()),
    ];
    if let Some(s) = state {
        params.push(("state", s));
    }
    params.push(("iss", issuer));
    redirect_with(redirect_uri, &params)
}

/// Issues a single-use code for a signed-in session and returns the redirect back to the client.
pub async fn issue_code(
    deps: &Deps,
    req: &AuthorizeRequest,
    session: &Session,
    issuer: &str,
) -> CoreResult<String> {
    let code = deps.secret_token();
    let now = deps.now();
    deps.store
        .insert_code(&AuthCode {
            code_digest: token_digest(&code),
            tenant_id: session.tenant_id.clone(),
            client_id: req.client_id.clone(),
            user_id: session.user_id.clone(),
            redirect_uri: req.redirect_uri.clone(),
            scope: req.scope.clone(),
            nonce: req.nonce.clone(),
            code_challenge: req.code_challenge.clone(),
            auth_time: session.auth_time,
            amr: session.amr.clone(),
            session_digest: Some(session.id_digest.clone()),
            created_at: now,
            expires_at: now + deps.settings.code_ttl,
            used_at: None,
            grant_id: None,
        })
        .await?;
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = &req.state {
        params.push(("state", s));
    }
    params.push(("iss", issuer));
    redirect_with(&req.redirect_uri, &params)
}
