//! Applications (OIDC clients): ids, redirect URIs, secrets, creation and changes.

use super::*;
use crate::error::{CoreError, CoreResult};
use crate::secret::{token_digest, Secret};
use crate::Deps;

/// Redirect URIs must be absolute, without fragment (RFC 6749 §3.1.2); plain http only for
/// loopback addresses (RFC 8252 §7.3).
pub fn validate_redirect_uri(uri: &str) -> CoreResult<String> {
    let parsed = url::Url::parse(uri).map_err(|_| {
        CoreError::invalid("redirect URI", format!("'{uri}' is not an absolute URL"))
    })?;
    if parsed.fragment().is_some() {
        return Err(CoreError::invalid(
            "redirect URI",
            "must not contain a fragment (#)",
        ));
    }
    let loopback = matches!(
        parsed.host_str(),
        Some("localhost") | Some("127.0.0.1") | Some("[::1]")
    );
    match parsed.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(CoreError::invalid(
                "redirect URI",
                "plain http is only allowed for localhost; use https",
            ))
        }
        s => {
            return Err(CoreError::invalid(
                "redirect URI",
                format!("scheme '{s}' is not supported; use https"),
            ))
        }
    }
    // Stored as given: matching is exact, character for character.
    Ok(uri.to_string())
}

/// What a new OIDC client looks like.
#[derive(Debug, Clone)]
pub struct NewClient<'a> {
    pub name: &'a str,
    pub redirect_uris: &'a [String],
    pub post_logout_redirect_uris: &'a [String],
    pub confidential: bool,
    pub id_token_alg: SigningAlg,
    /// Every sign-in to it needs a second factor.
    pub require_mfa: bool,
    /// Use this client_id instead of a random one (demo data, migrations).
    pub client_id: Option<&'a str>,
}

fn validate_client_id(id: &str) -> CoreResult<()> {
    if !(3..=128).contains(&id.len())
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(CoreError::invalid(
            "client id",
            "use 3 to 128 letters, digits, '-', '_' or '.'",
        ));
    }
    Ok(())
}

/// Registers a client; returns the client and, for a confidential client, its secret — shown once.
pub async fn create_client(
    deps: &Deps,
    tenant: &Tenant,
    new: NewClient<'_>,
) -> CoreResult<(OidcClient, Option<String>)> {
    if new.redirect_uris.is_empty() {
        return Err(CoreError::invalid(
            "redirect URI",
            "a client needs at least one redirect URI",
        ));
    }
    let redirect_uris = new
        .redirect_uris
        .iter()
        .map(|u| validate_redirect_uri(u))
        .collect::<CoreResult<Vec<_>>>()?;
    let post_logout_redirect_uris = new
        .post_logout_redirect_uris
        .iter()
        .map(|u| validate_redirect_uri(u))
        .collect::<CoreResult<Vec<_>>>()?;
    let id = match new.client_id {
        Some(id) => {
            validate_client_id(id)?;
            id.to_string()
        }
        None => deps.new_id(),
    };
    let secret = new.confidential.then(|| deps.secret_token());
    let c = OidcClient {
        id,
        tenant_id: tenant.id.clone(),
        name: clean_text("client name", new.name, 128)?,
        redirect_uris,
        post_logout_redirect_uris,
        secret_digest: secret.as_deref().map(|s| Secret::new(token_digest(s))),
        id_token_alg: new.id_token_alg,
        created_at: deps.now(),
        require_mfa: new.require_mfa,
    };
    deps.store.insert_client(&c).await?;
    Ok((c, secret))
}

pub async fn client(deps: &Deps, tenant: &Tenant, client_id: &str) -> CoreResult<OidcClient> {
    match deps.store.client_by_id(client_id).await? {
        Some(c) if c.tenant_id == tenant.id => Ok(c),
        _ => Err(CoreError::not_found("application", client_id)),
    }
}

/// Changes to a client; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ClientChanges<'a> {
    pub name: Option<&'a str>,
    pub redirect_uris: Option<&'a [String]>,
    pub post_logout_redirect_uris: Option<&'a [String]>,
    pub id_token_alg: Option<SigningAlg>,
    pub require_mfa: Option<bool>,
    /// Issue a new secret (confidential clients only); the old one stops working at once.
    pub rotate_secret: bool,
}

pub async fn update_client(
    deps: &Deps,
    tenant: &Tenant,
    client_id: &str,
    changes: ClientChanges<'_>,
) -> CoreResult<(OidcClient, Option<String>)> {
    let mut c = client(deps, tenant, client_id).await?;
    if let Some(n) = changes.name {
        c.name = clean_text("client name", n, 128)?;
    }
    if let Some(uris) = changes.redirect_uris {
        if uris.is_empty() {
            return Err(CoreError::invalid(
                "redirect URI",
                "a client needs at least one redirect URI",
            ));
        }
        c.redirect_uris = uris
            .iter()
            .map(|u| validate_redirect_uri(u))
            .collect::<CoreResult<_>>()?;
    }
    if let Some(uris) = changes.post_logout_redirect_uris {
        c.post_logout_redirect_uris = uris
            .iter()
            .map(|u| validate_redirect_uri(u))
            .collect::<CoreResult<_>>()?;
    }
    if let Some(a) = changes.id_token_alg {
        c.id_token_alg = a;
    }
    if let Some(r) = changes.require_mfa {
        c.require_mfa = r;
    }
    let mut secret = None;
    if changes.rotate_secret {
        if !c.is_confidential() {
            return Err(CoreError::invalid(
                "secret",
                "a public client has no secret to rotate",
            ));
        }
        let s = deps.secret_token();
        c.secret_digest = Some(Secret::new(token_digest(&s)));
        secret = Some(s);
    }
    deps.store.update_client(&c).await?;
    Ok((c, secret))
}

pub async fn delete_client(deps: &Deps, tenant: &Tenant, client_id: &str) -> CoreResult<()> {
    let c = client(deps, tenant, client_id).await?;
    deps.store.delete_client(&c.id).await?;
    Ok(())
}
