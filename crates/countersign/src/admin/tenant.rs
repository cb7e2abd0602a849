//! `admin tenant …`: organisations and their verified domains.

use super::*;

#[derive(Subcommand)]
pub(super) enum TenantCmd {
    /// Create a tenant with its verified domains.
    Create {
        name: String,
        #[arg(long)]
        display_name: String,
        /// A verified domain (repeatable).
        #[arg(long = "domain", required = true)]
        domains: Vec<String>,
    },
    /// List the tenants.
    List,
    /// Show a tenant and its domains.
    Show { name: String },
    /// Change a tenant's display name or domains.
    Update {
        name: String,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long = "add-domain")]
        add_domains: Vec<String>,
        #[arg(long = "remove-domain")]
        remove_domains: Vec<String>,
    },
    /// Delete a tenant and everything in it.
    Delete {
        name: String,
        /// Confirm the deletion.
        #[arg(long)]
        yes: bool,
    },
}

pub(super) fn tenant_json(t: &Tenant) -> Value {
    json!({ "id": t.id, "name": t.name, "display_name": t.display_name, "domains": t.domains,
            "created_at": time(t.created_at) })
}

pub(super) async fn tenant_cmd(deps: &Deps, out: &Out, c: TenantCmd) -> anyhow::Result<()> {
    match c {
        TenantCmd::Create {
            name,
            display_name,
            domains,
        } => {
            let t = directory::create_tenant(deps, &name, &display_name, &domains).await?;
            out.done(
                &format!("Created tenant {} ({})", t.name, t.id),
                tenant_json(&t),
            );
        }
        TenantCmd::List => {
            let ts = deps.store.list_tenants().await?;
            out.table(
                ts.iter()
                    .map(|t| {
                        (
                            format!(
                                "{:<20}  {:<30}  {}",
                                t.name,
                                t.display_name,
                                t.domains.join(", ")
                            ),
                            tenant_json(t),
                        )
                    })
                    .collect(),
            );
        }
        TenantCmd::Show { name } => {
            let t = directory::tenant(deps, &name).await?;
            let users = deps.store.list_users(&t.id).await?.len();
            let mut v = tenant_json(&t);
            v["users"] = json!(users);
            out.done(
                &format!(
                    "name:          {}\ndisplay name:  {}\ndomains:       {}\nusers:         {}\nid:            {}\ncreated:       {}",
                    t.name, t.display_name, t.domains.join(", "), users, t.id, time(t.created_at)
                ),
                v,
            );
        }
        TenantCmd::Update {
            name,
            display_name,
            add_domains,
            remove_domains,
        } => {
            let t = directory::update_tenant(
                deps,
                &name,
                display_name.as_deref(),
                &add_domains,
                &remove_domains,
            )
            .await?;
            out.done(&format!("Updated tenant {}", t.name), tenant_json(&t));
        }
        TenantCmd::Delete { name, yes } => {
            if !yes {
                bail!("deleting tenant '{name}' removes all its users, groups and applications; add --yes to confirm");
            }
            directory::delete_tenant(deps, &name).await?;
            out.done(
                &format!("Deleted tenant {name}"),
                json!({ "deleted": name }),
            );
        }
    }
    Ok(())
}
