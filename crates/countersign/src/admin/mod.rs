//! `countersign admin …`: directory management and log reading on the configured store, through
//! the core's validated operations (the same rules as the server). `--json` prints machine-readable
//! output; secrets are never printed except a new client secret, once.

mod secrets;

use crate::config::{Config, Overrides};
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use countersign_core::clock::SystemClock;
use countersign_core::directory::{self, ClientChanges, NewClient, NewUser, UserChanges};
use countersign_core::model::{OidcClient, SigningAlg, Tenant, User};
use countersign_core::oath;
use countersign_core::password::InlineHasher;
use countersign_core::random::OsRandom;
use countersign_core::throttle::Lock;
use countersign_core::{Deps, Settings};
use serde_json::{json, Value};
use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

#[derive(Args)]
pub struct AdminArgs {
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Organisations.
    #[command(subcommand)]
    Tenant(TenantCmd),
    /// User accounts.
    #[command(subcommand)]
    User(UserCmd),
    /// Groups and their members.
    #[command(subcommand)]
    Group(GroupCmd),
    /// Administrator roles.
    #[command(subcommand)]
    Role(RoleCmd),
    /// OpenID Connect applications.
    #[command(subcommand)]
    App(AppCmd),
    /// Token signing keys.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// OATH verification-code tokens (hardware import, listing, deletion).
    #[command(subcommand)]
    Oath(OathCmd),
    /// The key file that seals secrets in the database: status, a new key, re-encryption.
    #[command(subcommand)]
    Secrets(secrets::SecretsCmd),
    /// Check the database's integrity (SQLite: every page, index and constraint).
    Check,
    /// The sign-in log of a tenant, newest first.
    Signins {
        #[arg(long, env = "COUNTERSIGN_TENANT")]
        tenant: String,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

#[derive(Subcommand)]
enum TenantCmd {
    Create {
        name: String,
        #[arg(long)]
        display_name: String,
        /// A verified domain (repeatable).
        #[arg(long = "domain", required = true)]
        domains: Vec<String>,
    },
    List,
    Show {
        name: String,
    },
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

#[derive(Args)]
struct TenantArg {
    #[arg(long, env = "COUNTERSIGN_TENANT")]
    tenant: String,
}

#[derive(Subcommand)]
enum UserCmd {
    Create {
        upn: String,
        #[command(flatten)]
        t: TenantArg,
        #[arg(long)]
        display_name: String,
        #[arg(long)]
        email: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long, conflicts_with = "password")]
        password_stdin: bool,
        /// The password (visible in the process list; prefer --password-stdin).
        #[arg(long)]
        password: Option<String>,
        #[arg(long)]
        disabled: bool,
    },
    List(TenantArg),
    Show {
        upn: String,
        #[command(flatten)]
        t: TenantArg,
    },
    Update {
        upn: String,
        #[command(flatten)]
        t: TenantArg,
        #[arg(long)]
        new_upn: Option<String>,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long, conflicts_with = "clear_email")]
        email: Option<String>,
        #[arg(long)]
        clear_email: bool,
    },
    /// Block sign-in and end the user's sessions.
    Disable {
        upn: String,
        #[command(flatten)]
        t: TenantArg,
    },
    Enable {
        upn: String,
        #[command(flatten)]
        t: TenantArg,
    },
    /// Set (from standard input or --password) or remove (--none) the password.
    SetPassword {
        upn: String,
        #[command(flatten)]
        t: TenantArg,
        #[arg(long, conflicts_with_all = ["none", "password"])]
        password_stdin: bool,
        #[arg(long, conflicts_with = "none")]
        password: Option<String>,
        /// Remove the password (passwordless-only account).
        #[arg(long)]
        none: bool,
    },
    /// Lift every sign-in lockout of the user (password and verification codes).
    Unlock {
        upn: String,
        #[command(flatten)]
        t: TenantArg,
    },
    /// End every session of the user and revoke their refresh and access tokens.
    RevokeSessions {
        upn: String,
        #[command(flatten)]
        t: TenantArg,
    },
    Delete {
        upn: String,
        #[command(flatten)]
        t: TenantArg,
    },
}

#[derive(Subcommand)]
enum GroupCmd {
    Create {
        name: String,
        #[command(flatten)]
        t: TenantArg,
        #[arg(long, default_value = "")]
        description: String,
    },
    List(TenantArg),
    /// Show a group and its members.
    Show {
        name: String,
        #[command(flatten)]
        t: TenantArg,
    },
    Update {
        name: String,
        #[command(flatten)]
        t: TenantArg,
        #[arg(long)]
        new_name: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    Delete {
        name: String,
        #[command(flatten)]
        t: TenantArg,
    },
    AddMember {
        group: String,
        upn: String,
        #[command(flatten)]
        t: TenantArg,
    },
    RemoveMember {
        group: String,
        upn: String,
        #[command(flatten)]
        t: TenantArg,
    },
}

#[derive(Subcommand)]
enum RoleCmd {
    /// Roles: global-administrator, authentication-policy-administrator.
    Assign {
        upn: String,
        role: String,
        #[command(flatten)]
        t: TenantArg,
    },
    Unassign {
        upn: String,
        role: String,
        #[command(flatten)]
        t: TenantArg,
    },
    List(TenantArg),
}

#[derive(Subcommand)]
enum AppCmd {
    /// Register an application; a confidential one gets a secret, printed once.
    Create {
        #[command(flatten)]
        t: TenantArg,
        #[arg(long)]
        name: String,
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// A public client (no secret; PKCE only), e.g. a single-page or native app.
        #[arg(long)]
        public: bool,
        /// Choose the client_id instead of a random one.
        #[arg(long)]
        client_id: Option<String>,
        /// ID token algorithm: RS256 (default) or ES256.
        #[arg(long, default_value = "RS256")]
        id_token_alg: String,
    },
    List(TenantArg),
    Show {
        client_id: String,
        #[command(flatten)]
        t: TenantArg,
    },
    Update {
        client_id: String,
        #[command(flatten)]
        t: TenantArg,
        #[arg(long)]
        name: Option<String>,
        /// Replace the redirect URIs (repeatable).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        #[arg(long)]
        id_token_alg: Option<String>,
        /// Issue a new client secret (the old one stops working).
        #[arg(long)]
        rotate_secret: bool,
    },
    Delete {
        client_id: String,
        #[command(flatten)]
        t: TenantArg,
    },
}

#[derive(Subcommand)]
enum OathCmd {
    /// Import hardware tokens from a CSV file with the header
    /// `upn,serial number,secret key,time interval,manufacturer,model`.
    Import {
        file: std::path::PathBuf,
        #[command(flatten)]
        t: TenantArg,
    },
    List(TenantArg),
    /// Delete a token by its id (from `oath list`).
    Delete {
        id: String,
        #[command(flatten)]
        t: TenantArg,
    },
}

#[derive(Subcommand)]
enum KeysCmd {
    List,
    /// New signing keys now; the old ones stay published for a day.
    Rotate,
}

fn time(t: i64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(t.max(0) as u64)).to_string()
}

fn read_password(stdin: bool, flag: Option<String>) -> anyhow::Result<Option<String>> {
    if stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        let p = line.trim_end_matches(['\r', '\n']).to_string();
        if p.is_empty() {
            bail!("no password on standard input");
        }
        return Ok(Some(p));
    }
    Ok(flag)
}

fn user_json(u: &User) -> Value {
    json!({
        "id": u.id, "upn": u.upn, "display_name": u.display_name, "email": u.email,
        "enabled": u.enabled, "has_password": u.password_hash.is_some(),
        "created_at": time(u.created_at), "updated_at": time(u.updated_at),
    })
}

fn lock_state(l: &directory::AccountLock) -> (&'static str, Option<String>) {
    match l.lock {
        Lock::Open => ("open", None),
        Lock::Until(t) => ("locked", Some(time(t))),
        Lock::Permanent => ("locked until unlocked", None),
    }
}

fn lock_json(l: &directory::AccountLock) -> Value {
    let (state, until) = lock_state(l);
    json!({ "method": l.what, "state": state, "until": until, "failures": l.failures })
}

fn lock_text(l: &directory::AccountLock) -> String {
    match lock_state(l) {
        ("open", _) => format!("open ({} recent failures)", l.failures),
        (_, Some(until)) => format!("locked until {until} ({} failures)", l.failures),
        _ => format!(
            "locked until an administrator unlocks it ({} failures)",
            l.failures
        ),
    }
}

fn tenant_json(t: &Tenant) -> Value {
    json!({ "id": t.id, "name": t.name, "display_name": t.display_name, "domains": t.domains,
            "created_at": time(t.created_at) })
}

fn client_json(c: &OidcClient) -> Value {
    json!({
        "client_id": c.id, "name": c.name, "type": if c.is_confidential() { "confidential" } else { "public" },
        "redirect_uris": c.redirect_uris, "post_logout_redirect_uris": c.post_logout_redirect_uris,
        "id_token_alg": c.id_token_alg.as_str(), "created_at": time(c.created_at),
    })
}

fn parse_alg(s: &str) -> anyhow::Result<SigningAlg> {
    SigningAlg::parse(&s.to_ascii_uppercase())
        .ok_or_else(|| anyhow::anyhow!("id token algorithm '{s}': use RS256 or ES256"))
}

struct Out {
    json: bool,
}

/// What the admin CLI prints of stored data can come from anyone (a typed sign-in name, an
/// application's name), so control and bidirectional-override characters are shown escaped
/// (`\u{1b}`), never sent raw to the administrator's terminal. Line breaks of the CLI's own
/// layout stay.
pub fn escape_for_terminal(s: &str) -> String {
    escape_with(s, |c| format!("\\u{{{:x}}}", c as u32))
}

/// The same for JSON output: serde_json escapes control characters already; bidirectional
/// overrides become JSON's own `\u202e`, so the output still parses.
fn escape_json(s: &str) -> String {
    escape_with(s, |c| format!("\\u{:04x}", c as u32))
}

fn escape_with(s: &str, escape: impl Fn(char) -> String) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if (c.is_control() && c != '\n') || countersign_core::text::is_bidi_control(c) {
            out.push_str(&escape(c));
        } else {
            out.push(c);
        }
    }
    out
}

impl Out {
    fn done(&self, text: &str, value: Value) {
        if self.json {
            println!("{}", escape_json(&value.to_string()));
        } else {
            println!("{}", escape_for_terminal(text));
        }
    }
    /// A table: one line per row (text) or a JSON array.
    fn table(&self, rows: Vec<(String, Value)>) {
        if self.json {
            let all = Value::Array(rows.into_iter().map(|(_, v)| v).collect());
            println!("{}", escape_json(&all.to_string()));
        } else if rows.is_empty() {
            println!("(none)");
        } else {
            for (line, _) in rows {
                // one row, one line: a line break inside a value is escaped too
                println!("{}", escape_for_terminal(&line).replace('\n', "\\n"));
            }
        }
    }
}

pub async fn run(file: Option<&Path>, overrides: Overrides, args: AdminArgs) -> anyhow::Result<()> {
    let cfg = Config::load(file, overrides)?;
    let (store, _) = cfg.open_store().await?;
    let store = Arc::new(store);
    let deps = Deps {
        store: store.clone(),
        clock: Arc::new(SystemClock),
        rng: Arc::new(OsRandom),
        hasher: Arc::new(InlineHasher),
        settings: Settings::default(),
    };
    let out = Out { json: args.json };
    let r = match args.command {
        AdminCommand::Secrets(c) => secrets::run(&store, &cfg.secrets_key_file(), &out, c).await,
        AdminCommand::Check => {
            let problems = store.integrity_check().await?;
            if problems.is_empty() {
                out.done("ok: the database is intact", json!({ "ok": true }));
                Ok(())
            } else {
                Err(anyhow::anyhow!(
                    "the database is damaged:\n{}",
                    problems.join("\n")
                ))
            }
        }
        other => dispatch(&deps, &out, other).await,
    };
    store.close().await;
    r
}

async fn dispatch(deps: &Deps, out: &Out, cmd: AdminCommand) -> anyhow::Result<()> {
    match cmd {
        AdminCommand::Tenant(c) => tenant_cmd(deps, out, c).await,
        AdminCommand::User(c) => user_cmd(deps, out, c).await,
        AdminCommand::Group(c) => group_cmd(deps, out, c).await,
        AdminCommand::Role(c) => role_cmd(deps, out, c).await,
        AdminCommand::App(c) => app_cmd(deps, out, c).await,
        AdminCommand::Keys(c) => keys_cmd(deps, out, c).await,
        AdminCommand::Oath(c) => oath_cmd(deps, out, c).await,
        // needs the SQL store itself, not the core's view of it: handled by `run`
        AdminCommand::Secrets(_) | AdminCommand::Check => Ok(()),
        AdminCommand::Signins { tenant, limit } => {
            let t = directory::tenant(deps, &tenant).await?;
            let entries = deps
                .store
                .list_signins(&t.id, limit.clamp(1, 10_000))
                .await?;
            out.table(
                entries
                    .iter()
                    .map(|e| {
                        let line = format!(
                            "{}  {:<7}  {:<30}  {:<10}  app={}  from={}  {}",
                            time(e.at),
                            e.result.as_str(),
                            e.typed_name,
                            e.method,
                            e.client_id.as_deref().unwrap_or("-"),
                            e.client_addr.as_deref().unwrap_or("-"),
                            e.failure_reason.as_deref().unwrap_or("")
                        );
                        let v = json!({
                            "id": e.id, "at": time(e.at), "user_id": e.user_id, "typed_name": e.typed_name,
                            "client_id": e.client_id, "client_addr": e.client_addr, "method": e.method,
                            "result": e.result.as_str(), "failure_reason": e.failure_reason,
                        });
                        (line, v)
                    })
                    .collect(),
            );
            Ok(())
        }
    }
}

async fn tenant_cmd(deps: &Deps, out: &Out, c: TenantCmd) -> anyhow::Result<()> {
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

async fn user_cmd(deps: &Deps, out: &Out, c: UserCmd) -> anyhow::Result<()> {
    match c {
        UserCmd::Create {
            upn,
            t,
            display_name,
            email,
            password_stdin,
            password,
            disabled,
        } => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            let password = read_password(password_stdin, password)?;
            let u = directory::create_user(
                deps,
                &tenant,
                NewUser {
                    upn: &upn,
                    display_name: &display_name,
                    email: email.as_deref(),
                    password: password.as_deref(),
                    enabled: !disabled,
                },
            )
            .await?;
            out.done(&format!("Created user {} ({})", u.upn, u.id), user_json(&u));
        }
        UserCmd::List(t) => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            let users = deps.store.list_users(&tenant.id).await?;
            out.table(
                users
                    .iter()
                    .map(|u| {
                        (
                            format!(
                                "{:<35}  {:<25}  {:<8}  {}",
                                u.upn,
                                u.display_name,
                                if u.enabled { "enabled" } else { "disabled" },
                                if u.password_hash.is_some() {
                                    "password"
                                } else {
                                    "no password"
                                }
                            ),
                            user_json(u),
                        )
                    })
                    .collect(),
            );
        }
        UserCmd::Show { upn, t } => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            let u = directory::user(deps, &tenant, &upn).await?;
            let groups = deps.store.groups_of_user(&u.id).await?;
            let roles = deps.store.roles_of_user(&u.id).await?;
            let locks = directory::account_locks(deps, &u).await?;
            let mut v = user_json(&u);
            v["groups"] = json!(groups.iter().map(|g| &g.name).collect::<Vec<_>>());
            v["roles"] = json!(roles.iter().map(|r| r.as_str()).collect::<Vec<_>>());
            v["locks"] = json!(locks.iter().map(lock_json).collect::<Vec<_>>());
            let lock_lines: Vec<String> = locks
                .iter()
                .map(|l| format!("\n  {:<20} {}", l.what, lock_text(l)))
                .collect();
            out.done(
                &format!(
                    "upn:           {}\ndisplay name:  {}\nemail:         {}\nenabled:       {}\npassword:      {}\ngroups:        {}\nroles:         {}\nid:            {}\nlocks:{}",
                    u.upn,
                    u.display_name,
                    u.email.as_deref().unwrap_or("-"),
                    u.enabled,
                    if u.password_hash.is_some() { "set" } else { "none" },
                    groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>().join(", "),
                    roles.iter().map(|r| r.display()).collect::<Vec<_>>().join(", "),
                    u.id,
                    lock_lines.concat()
                ),
                v,
            );
        }
        UserCmd::Update {
            upn,
            t,
            new_upn,
            display_name,
            email,
            clear_email,
        } => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            let email_change = if clear_email {
                Some(None)
            } else {
                email.as_deref().map(Some)
            };
            let u = directory::update_user(
                deps,
                &tenant,
                &upn,
                UserChanges {
                    new_upn: new_upn.as_deref(),
                    display_name: display_name.as_deref(),
                    email: email_change,
                    enabled: None,
                },
            )
            .await?;
            out.done(&format!("Updated user {}", u.upn), user_json(&u));
        }
        UserCmd::Disable { upn, t } => set_enabled(deps, out, &upn, &t.tenant, false).await?,
        UserCmd::Enable { upn, t } => set_enabled(deps, out, &upn, &t.tenant, true).await?,
        UserCmd::SetPassword {
            upn,
            t,
            password_stdin,
            password,
            none,
        } => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            let password = read_password(password_stdin, password)?;
            if password.is_none() && !none {
                bail!("give --password-stdin, --password or --none");
            }
            let u = directory::set_password(deps, &tenant, &upn, password.as_deref()).await?;
            let what = if u.password_hash.is_some() {
                "Set"
            } else {
                "Removed"
            };
            out.done(
                &format!("{what} the password of {}; their sessions ended", u.upn),
                user_json(&u),
            );
        }
        UserCmd::Unlock { upn, t } => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            let u = directory::unlock_user(deps, &tenant, &upn).await?;
            out.done(&format!("Unlocked {}", u.upn), user_json(&u));
        }
        UserCmd::RevokeSessions { upn, t } => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            let ended = directory::revoke_sessions(deps, &tenant, &upn).await?;
            out.done(
                &format!(
                    "Revoked the sessions of {upn}: {ended} browser session(s) ended, every refresh \
                     and access token issued until now refused"
                ),
                json!({ "upn": upn, "sessions_ended": ended, "tokens_revoked": true }),
            );
        }
        UserCmd::Delete { upn, t } => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            directory::delete_user(deps, &tenant, &upn).await?;
            out.done(&format!("Deleted user {upn}"), json!({ "deleted": upn }));
        }
    }
    Ok(())
}

async fn set_enabled(
    deps: &Deps,
    out: &Out,
    upn: &str,
    tenant: &str,
    enabled: bool,
) -> anyhow::Result<()> {
    let tenant = directory::tenant(deps, tenant).await?;
    let u = directory::update_user(
        deps,
        &tenant,
        upn,
        UserChanges {
            enabled: Some(enabled),
            ..Default::default()
        },
    )
    .await?;
    let what = if enabled {
        "Enabled"
    } else {
        "Disabled (sessions ended)"
    };
    out.done(&format!("{what}: {}", u.upn), user_json(&u));
    Ok(())
}

async fn group_cmd(deps: &Deps, out: &Out, c: GroupCmd) -> anyhow::Result<()> {
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

async fn role_cmd(deps: &Deps, out: &Out, c: RoleCmd) -> anyhow::Result<()> {
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

async fn app_cmd(deps: &Deps, out: &Out, c: AppCmd) -> anyhow::Result<()> {
    match c {
        AppCmd::Create {
            t,
            name,
            redirect_uris,
            post_logout_redirect_uris,
            public,
            client_id,
            id_token_alg,
        } => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            let (c, secret) = directory::create_client(
                deps,
                &tenant,
                NewClient {
                    name: &name,
                    redirect_uris: &redirect_uris,
                    post_logout_redirect_uris: &post_logout_redirect_uris,
                    confidential: !public,
                    id_token_alg: parse_alg(&id_token_alg)?,
                    client_id: client_id.as_deref(),
                },
            )
            .await?;
            let mut v = client_json(&c);
            let mut text = format!(
                "Registered application {}\nclient_id:      {}",
                c.name, c.id
            );
            if let Some(s) = &secret {
                v["client_secret"] = json!(s);
                text.push_str(&format!(
                    "\nclient_secret:  {s}\n(the secret is shown only now; store it safely)"
                ));
            }
            out.done(&text, v);
        }
        AppCmd::List(t) => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            let cs = deps.store.list_clients(&tenant.id).await?;
            out.table(
                cs.iter()
                    .map(|c| {
                        (
                            format!(
                                "{:<34}  {:<25}  {:<12}  {}",
                                c.id,
                                c.name,
                                if c.is_confidential() {
                                    "confidential"
                                } else {
                                    "public"
                                },
                                c.redirect_uris.join(" ")
                            ),
                            client_json(c),
                        )
                    })
                    .collect(),
            );
        }
        AppCmd::Show { client_id, t } => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            let c = directory::client(deps, &tenant, &client_id).await?;
            out.done(
                &format!(
                    "client_id:      {}\nname:           {}\ntype:           {}\nredirect URIs:  {}\nlogout URIs:    {}\nID token alg:   {}",
                    c.id,
                    c.name,
                    if c.is_confidential() { "confidential" } else { "public" },
                    c.redirect_uris.join(" "),
                    c.post_logout_redirect_uris.join(" "),
                    c.id_token_alg.as_str()
                ),
                client_json(&c),
            );
        }
        AppCmd::Update {
            client_id,
            t,
            name,
            redirect_uris,
            post_logout_redirect_uris,
            id_token_alg,
            rotate_secret,
        } => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            let alg = id_token_alg.as_deref().map(parse_alg).transpose()?;
            let (c, secret) = directory::update_client(
                deps,
                &tenant,
                &client_id,
                ClientChanges {
                    name: name.as_deref(),
                    redirect_uris: (!redirect_uris.is_empty()).then_some(&redirect_uris[..]),
                    post_logout_redirect_uris: (!post_logout_redirect_uris.is_empty())
                        .then_some(&post_logout_redirect_uris[..]),
                    id_token_alg: alg,
                    rotate_secret,
                },
            )
            .await?;
            let mut v = client_json(&c);
            let mut text = format!("Updated application {}", c.id);
            if let Some(s) = &secret {
                v["client_secret"] = json!(s);
                text.push_str(&format!("\nnew client_secret:  {s}\n(shown only now)"));
            }
            out.done(&text, v);
        }
        AppCmd::Delete { client_id, t } => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            directory::delete_client(deps, &tenant, &client_id).await?;
            out.done(
                &format!("Deleted application {client_id}"),
                json!({ "deleted": client_id }),
            );
        }
    }
    Ok(())
}

async fn keys_cmd(deps: &Deps, out: &Out, c: KeysCmd) -> anyhow::Result<()> {
    match c {
        KeysCmd::List => {
            let keys = deps.store.list_signing_keys().await?;
            out.table(
                keys.iter()
                    .map(|k| {
                        let status = match k.retired_at {
                            None => "active".to_string(),
                            Some(r) => format!("retired {}", time(r)),
                        };
                        (
                            format!("{:<18}  {}  created {}  {}", k.kid, k.alg.as_str(), time(k.created_at), status),
                            json!({ "kid": k.kid, "alg": k.alg.as_str(), "created_at": time(k.created_at),
                                    "retired_at": k.retired_at.map(time) }),
                        )
                    })
                    .collect(),
            );
        }
        KeysCmd::Rotate => {
            let kids =
                countersign_server::keys::KeyRing::rotate(deps.store.as_ref(), deps.now()).await?;
            out.done(
                &format!(
                    "New signing keys: {} (running servers pick them up within 30 s)",
                    kids.join(", ")
                ),
                json!({ "created": kids }),
            );
        }
    }
    Ok(())
}

fn read_hardware_csv(path: &Path) -> anyhow::Result<Vec<oath::HardwareRow>> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_hardware_csv(f).with_context(|| format!("{}", path.display()))
}

/// The rows of a hardware-token CSV (Entra's columns; `manufacturer` and `model` optional).
fn parse_hardware_csv(input: impl std::io::Read) -> anyhow::Result<Vec<oath::HardwareRow>> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(input);
    let headers: Vec<String> = rdr
        .headers()?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let col = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| {
            anyhow::anyhow!(
                "the CSV has no '{name}' column (header: {})",
                headers.join(",")
            )
        })
    };
    let (upn, serial, secret, interval) = (
        col("upn")?,
        col("serial number")?,
        col("secret key")?,
        col("time interval")?,
    );
    let (manufacturer, model) = (col("manufacturer").ok(), col("model").ok());
    let mut rows = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.with_context(|| format!("line {}", i + 2))?;
        let get = |c: Option<usize>| c.and_then(|c| rec.get(c)).unwrap_or("").to_string();
        rows.push(oath::HardwareRow {
            upn: get(Some(upn)),
            serial: get(Some(serial)),
            secret: get(Some(secret)),
            interval: get(Some(interval)),
            manufacturer: get(manufacturer),
            model: get(model),
        });
    }
    if rows.is_empty() {
        bail!("the file has no tokens");
    }
    Ok(rows)
}

async fn oath_cmd(deps: &Deps, out: &Out, c: OathCmd) -> anyhow::Result<()> {
    match c {
        OathCmd::Import { file, t } => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            let rows = read_hardware_csv(&file)?;
            let tokens = oath::import_hardware(deps, &tenant, &rows).await?;
            out.done(
                &format!(
                    "Imported {} hardware tokens; each user activates theirs in security info with a code from it",
                    tokens.len()
                ),
                json!({ "imported": tokens.len() }),
            );
        }
        OathCmd::List(t) => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            let mut rows = Vec::new();
            for tok in deps.store.list_oath_tokens(&tenant.id).await? {
                let upn = deps
                    .store
                    .user_by_id(&tok.user_id)
                    .await?
                    .map(|u| u.upn)
                    .unwrap_or_default();
                rows.push((
                    format!(
                        "{}  {:<8}  {:<30}  {:<12}  {}",
                        tok.id,
                        tok.kind.as_str(),
                        upn,
                        tok.serial.as_deref().unwrap_or("-"),
                        if tok.active { "active" } else { "not activated" }
                    ),
                    json!({ "id": tok.id, "kind": tok.kind.as_str(), "user": upn, "serial": tok.serial,
                            "active": tok.active, "created_at": time(tok.created_at),
                            "last_used_at": tok.last_used_at.map(time) }),
                ));
            }
            out.table(rows);
        }
        OathCmd::Delete { id, t } => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            let found = deps
                .store
                .list_oath_tokens(&tenant.id)
                .await?
                .into_iter()
                .any(|tok| tok.id == id);
            if !found || !deps.store.delete_oath_token(&id).await? {
                bail!("token '{id}' was not found in tenant {}", tenant.name);
            }
            out.done(&format!("Deleted token {id}"), json!({ "deleted": id }));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any bytes: rows or an error that says what is wrong, never a panic.
        #[test]
        fn any_csv_bytes_are_read_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            if let Err(e) = parse_hardware_csv(&bytes[..]) {
                let msg = format!("{e:#}");
                prop_assert!(!msg.is_empty());
            }
        }

        /// Entra's header with any cells: as many rows as lines, fields as written (trimmed).
        #[test]
        fn csv_rows_keep_their_fields(cells in proptest::collection::vec("[a-zA-Z0-9@. ]{0,20}", 6..=6), n in 1usize..5) {
            let mut text = "upn,serial number,secret key,time interval,manufacturer,model\n".to_string();
            for _ in 0..n {
                text.push_str(&cells.join(","));
                text.push('\n');
            }
            let rows = parse_hardware_csv(text.as_bytes()).unwrap();
            prop_assert_eq!(rows.len(), n);
            prop_assert_eq!(&rows[0].upn, cells[0].trim());
            prop_assert_eq!(&rows[0].secret, cells[2].trim());
        }

        /// JSON output stays JSON: the same value comes back, with no override character raw.
        #[test]
        fn escaped_json_still_parses_to_the_same_value(s in "\\PC{0,30}|[\\x00-\\x1f\\u{202a}-\\u{202e}\\u{2066}a\"]{0,30}") {
            let v = serde_json::json!({ "name": s });
            let out = escape_json(&v.to_string());
            prop_assert!(!out.chars().any(|c| c.is_control() || countersign_core::text::is_bidi_control(c)));
            prop_assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), v);
        }

        #[test]
        fn escaped_output_holds_no_control_character(s in "\\PC{0,50}|[\\x00-\\x1f\\x7f\\u{202a}-\\u{202e}a]{0,30}") {
            let e = escape_for_terminal(&s);
            prop_assert!(!e.chars().any(|c| (c.is_control() && c != '\n') || countersign_core::text::is_bidi_control(c)));
        }
    }
}
