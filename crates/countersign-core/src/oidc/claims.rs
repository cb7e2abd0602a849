//! What goes into ID tokens, access tokens and userinfo responses.

use crate::clock::Timestamp;
use crate::model::{Grant, OidcClient, Tenant, User};
use crate::oidc::has_scope;
use serde_json::{json, Map, Value};

/// `acr` values: single-factor and multifactor sign-ins.
pub const ACR_1FA: &str = "urn:countersign:acr:1fa";
pub const ACR_MFA: &str = "urn:countersign:acr:mfa";

pub fn acr_for(amr: &[String]) -> &'static str {
    if amr.iter().any(|m| m == "mfa") {
        ACR_MFA
    } else {
        ACR_1FA
    }
}

/// Who tokens are issued to, for what, by whom and when.
#[derive(Debug, Clone, Copy)]
pub struct IssueContext<'a> {
    pub issuer: &'a str,
    pub tenant: &'a Tenant,
    pub client: &'a OidcClient,
    pub user: &'a User,
    pub grant: &'a Grant,
    pub now: Timestamp,
}

fn profile_claims(m: &mut Map<String, Value>, user: &User, scope: &str) {
    if has_scope(scope, "profile") {
        m.insert("name".into(), json!(user.display_name));
        m.insert("preferred_username".into(), json!(user.upn));
    }
    if has_scope(scope, "email") {
        m.insert(
            "email".into(),
            json!(user.email.clone().unwrap_or_else(|| user.upn.clone())),
        );
    }
}

/// ID token claims (OpenID Connect Core §2), plus `tid`, the tenant. `name`, `preferred_username`
/// and `email` are always present in ID tokens so that applications can show who signed in.
pub fn id_token(cx: &IssueContext<'_>, ttl: i64) -> Value {
    let IssueContext {
        issuer,
        tenant,
        client,
        user,
        grant,
        now,
    } = *cx;
    let mut m = Map::new();
    m.insert("iss".into(), json!(issuer));
    m.insert("sub".into(), json!(user.id));
    m.insert("aud".into(), json!(client.id));
    m.insert("azp".into(), json!(client.id));
    m.insert("iat".into(), json!(now));
    m.insert("exp".into(), json!(now + ttl));
    m.insert("auth_time".into(), json!(grant.auth_time));
    if let Some(n) = &grant.nonce {
        m.insert("nonce".into(), json!(n));
    }
    m.insert("tid".into(), json!(tenant.id));
    m.insert("name".into(), json!(user.display_name));
    m.insert("preferred_username".into(), json!(user.upn));
    m.insert(
        "email".into(),
        json!(user.email.clone().unwrap_or_else(|| user.upn.clone())),
    );
    m.insert("amr".into(), json!(grant.amr));
    m.insert("acr".into(), json!(acr_for(&grant.amr)));
    Value::Object(m)
}

/// Access token claims (RFC 9068 §2.2); `gid` names the grant so the token dies with it.
pub fn access_token(cx: &IssueContext<'_>, scope: &str, jti: &str, ttl: i64) -> Value {
    let IssueContext {
        issuer,
        tenant,
        client,
        grant,
        now,
        ..
    } = *cx;
    json!({
        "iss": issuer,
        "sub": grant.user_id,
        "aud": client.id,
        "client_id": client.id,
        "iat": now,
        "exp": now + ttl,
        "jti": jti,
        "scope": scope,
        "tid": tenant.id,
        "gid": grant.id,
        "auth_time": grant.auth_time,
        "amr": grant.amr,
    })
}

/// Userinfo response (OpenID Connect Core §5.3), by the scopes of the access token.
pub fn userinfo(tenant: &Tenant, user: &User, scope: &str) -> Value {
    let mut m = Map::new();
    m.insert("sub".into(), json!(user.id));
    m.insert("tid".into(), json!(tenant.id));
    profile_claims(&mut m, user, scope);
    Value::Object(m)
}
