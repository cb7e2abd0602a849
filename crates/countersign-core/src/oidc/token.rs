//! The token endpoint (RFC 6749 §4.1.3, §6) and userinfo: client authentication, redeeming a code
//! exactly once with PKCE, rotating refresh tokens with replay detection, and issuing tokens.

use crate::error::{OAuthError, OAuthErrorCode};
use crate::model::{Consumed, Grant, OidcClient, RefreshToken, Tenant, User};
use crate::oidc::authorize::is_pkce_token;
use crate::oidc::claims::{self, IssueContext};
use crate::oidc::{has_scope, TokenSigner, ACCESS_TOKEN_TYP, ID_TOKEN_TYP};
use crate::secret::{ct_eq, token_digest};
use crate::{CoreError, CoreResult, Deps};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

fn oauth(code: OAuthErrorCode, d: &str) -> CoreError {
    CoreError::OAuth(OAuthError::new(code, d))
}

fn invalid_grant(d: &str) -> CoreError {
    oauth(OAuthErrorCode::InvalidGrant, d)
}

/// Client credentials as presented (RFC 6749 §2.3.1: HTTP Basic or form body).
#[derive(Debug, Clone, Default)]
pub struct ClientAuth {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// Authenticates the client at the token endpoint. Confidential clients must present their secret;
/// public clients must not present one (they prove possession through PKCE).
pub async fn authenticate_client(
    deps: &Deps,
    tenant: &Tenant,
    auth: &ClientAuth,
) -> CoreResult<OidcClient> {
    let failed = || {
        oauth(
            OAuthErrorCode::InvalidClient,
            "client authentication failed",
        )
    };
    let id = auth.client_id.as_deref().ok_or_else(failed)?;
    let client = match deps.store.client_by_id(id).await? {
        Some(c) if c.tenant_id == tenant.id => c,
        _ => return Err(failed()),
    };
    match (&client.secret_digest, &auth.client_secret) {
        (Some(expected), Some(given)) => {
            if !ct_eq(expected.expose().as_bytes(), token_digest(given).as_bytes()) {
                return Err(failed());
            }
        }
        (None, None) => {}
        _ => return Err(failed()),
    }
    Ok(client)
}

/// What the token endpoint hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedTokens {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    pub scope: String,
}

async fn active_user(deps: &Deps, user_id: &str) -> CoreResult<User> {
    match deps.store.user_by_id(user_id).await? {
        Some(u) if u.enabled => Ok(u),
        _ => Err(invalid_grant("the user can no longer sign in")),
    }
}

fn issue(
    deps: &Deps,
    signer: &dyn TokenSigner,
    cx: &IssueContext<'_>,
    scope: &str,
    refresh_token: Option<String>,
) -> CoreResult<IssuedTokens> {
    let ttl = deps.settings.access_token_ttl;
    let access = claims::access_token(cx, scope, &deps.new_id(), ttl);
    // Access tokens are always ES256: they are only ever checked by this server, and ECDSA signs
    // in a fraction of RSA's time.
    let access_token = signer.sign(crate::model::SigningAlg::ES256, ACCESS_TOKEN_TYP, &access)?;
    let id_token = if has_scope(scope, "openid") {
        let c = claims::id_token(cx, ttl);
        Some(signer.sign(cx.client.id_token_alg, ID_TOKEN_TYP, &c)?)
    } else {
        None
    };
    Ok(IssuedTokens {
        access_token,
        expires_in: ttl,
        refresh_token,
        id_token,
        scope: scope.to_string(),
    })
}

fn new_refresh(deps: &Deps, grant: &Grant) -> (String, RefreshToken) {
    let token = deps.secret_token();
    let now = deps.now();
    let r = RefreshToken {
        token_digest: token_digest(&token),
        grant_id: grant.id.clone(),
        created_at: now,
        expires_at: (now + deps.settings.refresh_token_ttl).min(grant.expires_at),
        used_at: None,
    };
    (token, r)
}

/// PKCE S256 check (RFC 7636 §4.6), constant-time.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    is_pkce_token(verifier) && ct_eq(computed.as_bytes(), challenge.as_bytes())
}

/// The `authorization_code` grant. A code is redeemed once; presenting it again revokes every
/// token issued from it (RFC 6749 §4.1.2).
#[allow(clippy::too_many_arguments)]
pub async fn exchange_code(
    deps: &Deps,
    signer: &dyn TokenSigner,
    tenant: &Tenant,
    issuer: &str,
    client: &OidcClient,
    code: &str,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
) -> CoreResult<IssuedTokens> {
    let bad_code = "the authorization code is invalid, expired or already used";
    let digest = token_digest(code);
    let now = deps.now();
    let c = deps
        .store
        .code_by_digest(&digest)
        .await?
        .ok_or_else(|| invalid_grant(bad_code))?;
    if c.used_at.is_some() {
        if let Some(g) = &c.grant_id {
            deps.store.revoke_grant(g, now).await?;
        }
        return Err(invalid_grant(bad_code));
    }
    if c.tenant_id != tenant.id || c.client_id != client.id || now >= c.expires_at {
        return Err(invalid_grant(bad_code));
    }
    if redirect_uri != Some(c.redirect_uri.as_str()) {
        return Err(invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    match code_verifier {
        Some(v) if pkce_matches(v, &c.code_challenge) => {}
        _ => return Err(invalid_grant("PKCE verification failed")),
    }
    let user = active_user(deps, &c.user_id).await?;
    if c.created_at < user.tokens_valid_after {
        // issued before a password change, disabling or revocation
        return Err(invalid_grant(bad_code));
    }
    let grant = Grant {
        id: deps.new_id(),
        tenant_id: tenant.id.clone(),
        client_id: client.id.clone(),
        user_id: user.id.clone(),
        scope: c.scope.clone(),
        nonce: c.nonce.clone(),
        auth_time: c.auth_time,
        amr: c.amr.clone(),
        created_at: now,
        expires_at: now + deps.settings.grant_ttl,
        revoked_at: None,
    };
    // The grant exists before the code is consumed, so that a replay racing this request always
    // finds something to revoke.
    deps.store.insert_grant(&grant).await?;
    match deps.store.consume_code(&digest, now, &grant.id).await? {
        Consumed::Fresh(_) => {}
        Consumed::Replayed(winner) => {
            deps.store.delete_grant(&grant.id).await?;
            if let Some(g) = winner.grant_id {
                deps.store.revoke_grant(&g, now).await?;
            }
            return Err(invalid_grant(bad_code));
        }
        Consumed::Missing => {
            deps.store.delete_grant(&grant.id).await?;
            return Err(invalid_grant(bad_code));
        }
    }
    let refresh = if has_scope(&grant.scope, "offline_access") {
        let (token, r) = new_refresh(deps, &grant);
        deps.store.insert_refresh(&r).await?;
        Some(token)
    } else {
        None
    };
    let cx = IssueContext {
        issuer,
        tenant,
        client,
        user: &user,
        grant: &grant,
        now,
    };
    issue(deps, signer, &cx, &grant.scope, refresh)
}

/// The `refresh_token` grant with rotation: each refresh token works once; presenting a used one
/// revokes its whole family (RFC 9700 §4.14.2).
#[allow(clippy::too_many_arguments)]
pub async fn refresh(
    deps: &Deps,
    signer: &dyn TokenSigner,
    tenant: &Tenant,
    issuer: &str,
    client: &OidcClient,
    refresh_token: &str,
    scope: Option<&str>,
) -> CoreResult<IssuedTokens> {
    let bad = "the refresh token is invalid, expired or revoked";
    let digest = token_digest(refresh_token);
    let now = deps.now();
    let (r, grant) = deps
        .store
        .refresh_with_grant(&digest)
        .await?
        .ok_or_else(|| invalid_grant(bad))?;
    if grant.client_id != client.id || grant.tenant_id != tenant.id {
        return Err(invalid_grant(bad));
    }
    if r.used_at.is_some() {
        deps.store.revoke_grant(&grant.id, now).await?;
        return Err(invalid_grant(bad));
    }
    if grant.revoked_at.is_some() || now >= grant.expires_at || now >= r.expires_at {
        return Err(invalid_grant(bad));
    }
    let scope = match scope {
        None => grant.scope.clone(),
        Some(s) => {
            let wanted: Vec<&str> = s.split(' ').filter(|x| !x.is_empty()).collect();
            if wanted.iter().any(|w| !has_scope(&grant.scope, w)) {
                return Err(oauth(
                    OAuthErrorCode::InvalidScope,
                    "a refresh cannot widen the granted scope",
                ));
            }
            wanted.join(" ")
        }
    };
    let user = active_user(deps, &grant.user_id).await?;
    if grant.created_at < user.tokens_valid_after {
        return Err(invalid_grant(bad));
    }
    let (token, new) = new_refresh(deps, &grant);
    match deps.store.rotate_refresh(&digest, now, &new).await? {
        Consumed::Fresh(_) => {}
        Consumed::Replayed(_) => {
            deps.store.revoke_grant(&grant.id, now).await?;
            return Err(invalid_grant(bad));
        }
        Consumed::Missing => return Err(invalid_grant(bad)),
    }
    let cx = IssueContext {
        issuer,
        tenant,
        client,
        user: &user,
        grant: &grant,
        now,
    };
    issue(deps, signer, &cx, &scope, Some(token))
}

/// Userinfo (OpenID Connect Core §5.3) for a bearer access token. The token must verify, its
/// grant must still be live (revoking a grant also silences its access tokens), and it must not
/// predate the user's `tokens_valid_after`.
pub async fn userinfo(
    deps: &Deps,
    signer: &dyn TokenSigner,
    tenant: &Tenant,
    issuer: &str,
    access_token: &str,
) -> CoreResult<serde_json::Value> {
    let invalid = || oauth(OAuthErrorCode::InvalidToken, "the access token is invalid");
    let claims = signer
        .verify(access_token, issuer, ACCESS_TOKEN_TYP, deps.now())
        .ok_or_else(invalid)?;
    let gid = claims["gid"].as_str().ok_or_else(invalid)?;
    let scope = claims["scope"].as_str().unwrap_or("");
    let grant = deps.store.grant_by_id(gid).await?.ok_or_else(invalid)?;
    if grant.revoked_at.is_some() || grant.tenant_id != tenant.id || deps.now() >= grant.expires_at
    {
        return Err(invalid());
    }
    let user = match deps.store.user_by_id(&grant.user_id).await? {
        Some(u) if u.enabled => u,
        _ => return Err(invalid()),
    };
    // Tokens issued before an account event (password change, disabling, revocation) are dead.
    if claims["iat"]
        .as_i64()
        .is_none_or(|iat| iat < user.tokens_valid_after)
    {
        return Err(invalid());
    }
    Ok(claims::userinfo(tenant, &user, scope))
}
