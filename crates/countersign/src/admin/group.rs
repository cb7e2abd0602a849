//! `admin group …`: groups and their members.

use super::*;

#[derive(Subcommand)]
pub(super) enum GroupCmd {
    /// Create a group.
    Create {
        name: String,
        #[command(flatten)]
        t: TenantArg,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List the tenant's groups.
    List(TenantArg),
    /// Show a group and its members.
    Show {
        name: String,
        #[command(flatten)]
        t: TenantArg,
    },
    /// Rename a group or change its description.
    Update {
        name: String,
        #[command(flatten)]
        t: TenantArg,
        #[arg(long)]
        new_name: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete a group (its members stay, outside it).
    Delete {
        name: String,
        #[command(flatten)]
        t: TenantArg,
    },
    /// Add a user to a group.
    AddMember {
        group: String,
        upn: String,
        #[command(flatten)]
        t: TenantArg,
    },
    /// Take a user out of a group.
    RemoveMember {
        group: String,
        upn: String,
        #[command(flatten)]
        t: TenantArg,
    },
}

pub(super) async fn group_cmd(deps: &Deps, out: &Out, c: GroupCmd) -> anyhow::Result<()> {
    match c {
        GroupCmd::Create {
            name,
            t,
            description,
        } => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            let g = directory::create_group(deps, &tenant, &name, &description).await?;
            out.done(
                &format!("Created group {}", g.name),
                json!({ "id": g.id, "name": g.name }),
            );
        }
        GroupCmd::List(t) => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            let gs = deps.store.list_groups(&tenant.id).await?;
            out.table(
                gs.iter()
                    .map(|g| {
                        (
                            format!("{:<30}  {}", g.name, g.description),
                            json!({ "id": g.id, "name": g.name, "description": g.description }),
                        )
                    })
                    .collect(),
            );
        }
        GroupCmd::Show { name, t } => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            let g = directory::group(deps, &tenant, &name).await?;
            let members = deps.store.group_members(&g.id).await?;
            let names: Vec<&str> = members.iter().map(|u| u.upn.as_str()).collect();
            out.done(
                &format!(
                    "name:         {}\ndescription:  {}\nmembers:      {}",
                    g.name,
                    g.description,
                    names.join(", ")
                ),
                json!({ "id": g.id, "name": g.name, "description": g.description, "members": names }),
            );
        }
        GroupCmd::Update {
            name,
            t,
            new_name,
            description,
        } => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            let g = directory::update_group(
                deps,
                &tenant,
                &name,
                new_name.as_deref(),
                description.as_deref(),
            )
            .await?;
            out.done(
                &format!("Updated group {}", g.name),
                json!({ "id": g.id, "name": g.name }),
            );
        }
        GroupCmd::Delete { name, t } => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            directory::delete_group(deps, &tenant, &name).await?;
            out.done(&format!("Deleted group {name}"), json!({ "deleted": name }));
        }
        GroupCmd::AddMember { group, upn, t } => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            directory::add_member(deps, &tenant, &group, &upn).await?;
            out.done(
                &format!("Added {upn} to {group}"),
                json!({ "group": group, "added": upn }),
            );
        }
        GroupCmd::RemoveMember { group, upn, t } => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            directory::remove_member(deps, &tenant, &group, &upn).await?;
            out.done(
                &format!("Removed {upn} from {group}"),
                json!({ "group": group, "removed": upn }),
            );
        }
    }
    Ok(())
}
