//! Tenants: their names (reserved words refused), domains, creation, changes and deletion.

use super::*;
use crate::error::{CoreError, CoreResult};
use crate::Deps;

const RESERVED_TENANT_NAMES: &[&str] = &[
    "static",
    "healthz",
    "metrics",
    "admin",
    "api",
    "common",
    "organizations",
];

pub fn validate_tenant_name(name: &str) -> CoreResult<()> {
    let ok = (2..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !ok {
        return Err(CoreError::invalid(
            "tenant name",
            "use 2 to 63 lowercase letters, digits or '-' (not at either end)",
        ));
    }
    if RESERVED_TENANT_NAMES.contains(&name) {
        return Err(CoreError::invalid(
            "tenant name",
            format!("'{name}' is reserved"),
        ));
    }
    Ok(())
}

pub fn normalize_domain(domain: &str) -> CoreResult<String> {
    let d = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let labels_ok = d.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    });
    if d.len() > 253 || !d.contains('.') || !labels_ok {
        return Err(CoreError::invalid(
            "domain",
            format!("'{domain}' is not a domain name like contoso.com"),
        ));
    }
    Ok(d)
}

pub async fn tenant(deps: &Deps, name: &str) -> CoreResult<Tenant> {
    deps.store
        .tenant_by_name(name)
        .await?
        .ok_or_else(|| CoreError::not_found("tenant", name))
}

pub async fn create_tenant(
    deps: &Deps,
    name: &str,
    display_name: &str,
    domains: &[String],
) -> CoreResult<Tenant> {
    validate_tenant_name(name)?;
    let display_name = clean_text("display name", display_name, 256)?;
    if domains.is_empty() {
        return Err(CoreError::invalid(
            "domain",
            "a tenant needs at least one domain",
        ));
    }
    let mut ds = Vec::new();
    for d in domains {
        let d = normalize_domain(d)?;
        if !ds.contains(&d) {
            ds.push(d);
        }
    }
    let t = Tenant {
        id: deps.new_id(),
        name: name.to_string(),
        display_name,
        domains: ds,
        created_at: deps.now(),
    };
    deps.store.insert_tenant(&t).await?;
    Ok(t)
}

pub async fn update_tenant(
    deps: &Deps,
    name: &str,
    display_name: Option<&str>,
    add_domains: &[String],
    remove_domains: &[String],
) -> CoreResult<Tenant> {
    let mut t = tenant(deps, name).await?;
    if let Some(dn) = display_name {
        t.display_name = clean_text("display name", dn, 256)?;
    }
    for d in add_domains {
        let d = normalize_domain(d)?;
        if !t.domains.contains(&d) {
            t.domains.push(d);
        }
    }
    for d in remove_domains {
        let d = normalize_domain(d)?;
        if !t.domains.contains(&d) {
            return Err(CoreError::not_found("domain", d));
        }
        let suffix = format!("@{d}");
        if deps
            .store
            .list_users(&t.id)
            .await?
            .iter()
            .any(|u| u.upn.ends_with(&suffix))
        {
            return Err(CoreError::invalid(
                "domain",
                format!("users still sign in with {d}; rename or delete them first"),
            ));
        }
        t.domains.retain(|x| x != &d);
    }
    if t.domains.is_empty() {
        return Err(CoreError::invalid(
            "domain",
            "a tenant needs at least one domain",
        ));
    }
    deps.store.update_tenant(&t).await?;
    Ok(t)
}

pub async fn delete_tenant(deps: &Deps, name: &str) -> CoreResult<()> {
    let t = tenant(deps, name).await?;
    deps.store.delete_tenant(&t.id).await?;
    Ok(())
}
