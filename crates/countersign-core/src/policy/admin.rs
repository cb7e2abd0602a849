//! Changes to a tenant's authentication methods: who may make them (`Actor`, `authorize`) and the
//! policy's versioned write together with its audit entry.

use super::document::{load, MethodsPolicy};
use crate::error::{CoreError, CoreResult};
use crate::model::{AdminRole, AuditEntry, Tenant, User};
use crate::Deps;

/// Who asks for a change: an acting user (who must hold a role that may change the policy), or
/// the operator of the command line on the server itself, who holds the database anyway.
#[derive(Debug, Clone)]
pub enum Actor {
    User(User),
    Operator(String),
}

impl Actor {
    pub fn describe(&self) -> String {
        match self {
            Self::User(u) => u.upn.clone(),
            Self::Operator(who) => format!("operator:{who}"),
        }
    }
}

/// The roles that may change the authentication methods policy.
pub const POLICY_ROLES: [AdminRole; 2] = [
    AdminRole::GlobalAdministrator,
    AdminRole::AuthenticationPolicyAdministrator,
];

/// Checks that `actor` may manage the tenant's authentication methods (the policy, Temporary
/// Access Passes).
pub(crate) async fn authorize(deps: &Deps, tenant: &Tenant, actor: &Actor) -> CoreResult<()> {
    let Actor::User(u) = actor else {
        return Ok(());
    };
    let roles = deps.store.roles_of_user(&u.id).await?;
    if u.tenant_id != tenant.id || !u.enabled || !roles.iter().any(|r| POLICY_ROLES.contains(r)) {
        return Err(CoreError::Forbidden(format!(
            "{} is not a Global Administrator or Authentication Policy Administrator of {}",
            u.upn, tenant.name
        )));
    }
    Ok(())
}

/// Replaces the tenant's policy with `edit` applied to the current one, validated, and writes the
/// audit entry (who, what, before, after) in the same transaction. A change made by someone else
/// in between is detected (the version moved) and the edit is applied again to the new document.
/// Returns the policy now in force; an edit that changes nothing writes nothing.
pub async fn change<F>(
    deps: &Deps,
    tenant: &Tenant,
    actor: &Actor,
    action: &str,
    mut edit: F,
) -> CoreResult<MethodsPolicy>
where
    F: FnMut(MethodsPolicy) -> CoreResult<MethodsPolicy>,
{
    authorize(deps, tenant, actor).await?;
    let groups = deps.store.list_groups(&tenant.id).await?;
    for _ in 0..5 {
        let current = load(deps, tenant).await?;
        let next = edit(current.policy.clone())?.validated(&groups)?;
        if next == current.policy {
            return Ok(next);
        }
        let entry = AuditEntry {
            id: deps.new_id(),
            tenant_id: tenant.id.clone(),
            at: deps.now(),
            actor: actor.describe(),
            action: action.to_string(),
            target: "authenticationMethodsPolicy".into(),
            before: Some(current.policy.to_json()),
            after: Some(next.to_json()),
        };
        if deps
            .store
            .save_methods_policy(&tenant.id, &next, current.version, &entry)
            .await?
        {
            return Ok(next);
        }
    }
    Err(CoreError::Conflict(
        "the policy kept changing while this change was made; try again".into(),
    ))
}
