//! `admin role …`: the administrator roles of users.

use super::*;

#[derive(Subcommand)]
pub(super) enum RoleCmd {
    /// Roles: global-administrator, authentication-policy-administrator.
    Assign {
        upn: String,
        role: String,
        #[command(flatten)]
        t: TenantArg,
    },
    /// Take an administrator role away from a user.
    Unassign {
        upn: String,
        role: String,
        #[command(flatten)]
        t: TenantArg,
    },
    /// List who holds which administrator role.
    List(TenantArg),
}

pub(super) async fn role_cmd(deps: &Deps, out: &Out, c: RoleCmd) -> anyhow::Result<()> {
    match c {
        RoleCmd::Assign { upn, role, t } => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            directory::assign_role(deps, &tenant, &upn, &role).await?;
            out.done(
                &format!("Assigned {role} to {upn}"),
                json!({ "user": upn, "role": role }),
            );
        }
        RoleCmd::Unassign { upn, role, t } => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            directory::unassign_role(deps, &tenant, &upn, &role).await?;
            out.done(
                &format!("Removed {role} from {upn}"),
                json!({ "user": upn, "removed": role }),
            );
        }
        RoleCmd::List(t) => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            let mut rows = Vec::new();
            for u in deps.store.list_users(&tenant.id).await? {
                for r in deps.store.roles_of_user(&u.id).await? {
                    rows.push((
                        format!("{:<35}  {}", u.upn, r.display()),
                        json!({ "user": u.upn, "role": r.as_str() }),
                    ));
                }
            }
            out.table(rows);
        }
    }
    Ok(())
}
