//! Groups, their members, and administrator roles.

use super::*;
use crate::error::{CoreError, CoreResult};
use crate::Deps;

pub async fn group(deps: &Deps, tenant: &Tenant, name: &str) -> CoreResult<Group> {
    deps.store
        .group_by_name(&tenant.id, name.trim())
        .await?
        .ok_or_else(|| CoreError::not_found("group", name.trim()))
}

pub async fn create_group(
    deps: &Deps,
    tenant: &Tenant,
    name: &str,
    description: &str,
) -> CoreResult<Group> {
    let g = Group {
        id: deps.new_id(),
        tenant_id: tenant.id.clone(),
        name: clean_text("group name", name, 128)?,
        description: description.trim().to_string(),
        created_at: deps.now(),
    };
    deps.store.insert_group(&g).await?;
    Ok(g)
}

pub async fn update_group(
    deps: &Deps,
    tenant: &Tenant,
    name: &str,
    new_name: Option<&str>,
    description: Option<&str>,
) -> CoreResult<Group> {
    let mut g = group(deps, tenant, name).await?;
    if let Some(n) = new_name {
        g.name = clean_text("group name", n, 128)?;
    }
    if let Some(d) = description {
        g.description = d.trim().to_string();
    }
    deps.store.update_group(&g).await?;
    Ok(g)
}

pub async fn delete_group(deps: &Deps, tenant: &Tenant, name: &str) -> CoreResult<()> {
    let g = group(deps, tenant, name).await?;
    deps.store.delete_group(&g.id).await?;
    Ok(())
}

pub async fn add_member(
    deps: &Deps,
    tenant: &Tenant,
    group_name: &str,
    upn: &str,
) -> CoreResult<()> {
    let g = group(deps, tenant, group_name).await?;
    let u = user(deps, tenant, upn).await?;
    if !deps.store.add_member(&g.id, &u.id).await? {
        return Err(CoreError::Conflict(format!(
            "membership of {} in group {}",
            u.upn, g.name
        )));
    }
    Ok(())
}

pub async fn remove_member(
    deps: &Deps,
    tenant: &Tenant,
    group_name: &str,
    upn: &str,
) -> CoreResult<()> {
    let g = group(deps, tenant, group_name).await?;
    let u = user(deps, tenant, upn).await?;
    if !deps.store.remove_member(&g.id, &u.id).await? {
        return Err(CoreError::not_found(
            "membership",
            format!("{} in group {}", u.upn, g.name),
        ));
    }
    Ok(())
}

pub fn parse_role(role: &str) -> CoreResult<AdminRole> {
    AdminRole::parse(role).ok_or_else(|| {
        CoreError::invalid(
            "role",
            format!(
                "'{role}' is not a role; use one of: {}",
                AdminRole::ALL.map(|r| r.as_str()).join(", ")
            ),
        )
    })
}

pub async fn assign_role(deps: &Deps, tenant: &Tenant, upn: &str, role: &str) -> CoreResult<()> {
    let role = parse_role(role)?;
    let u = user(deps, tenant, upn).await?;
    if !deps.store.assign_role(&u.id, role).await? {
        return Err(CoreError::Conflict(format!(
            "role {} of {}",
            role.display(),
            u.upn
        )));
    }
    Ok(())
}

pub async fn unassign_role(deps: &Deps, tenant: &Tenant, upn: &str, role: &str) -> CoreResult<()> {
    let role = parse_role(role)?;
    let u = user(deps, tenant, upn).await?;
    if !deps.store.unassign_role(&u.id, role).await? {
        return Err(CoreError::not_found(
            "role assignment",
            format!("{} of {}", role.display(), u.upn),
        ));
    }
    Ok(())
}
