//! `admin policy …` and `admin audit`: the tenant's authentication methods policy as a JSON
//! document (show, set), the common changes as commands (enable, disable, include, exclude,
//! require MFA for everyone), and the audit log every change is written to.

use super::*;
use countersign_core::policy::{
    self, Actor, AuthenticationMode, MethodId, MethodsPolicy, State, Target, ALL_USERS,
};

#[derive(Args)]
pub(super) struct ActorArg {
    /// The administrator making the change (user principal name): they must be a Global
    /// Administrator or Authentication Policy Administrator of the tenant. Without it the change
    /// is recorded as the operator of this command line.
    #[arg(long = "as", value_name = "UPN")]
    pub(super) acting: Option<String>,
}

#[derive(Subcommand)]
pub(super) enum PolicyCmd {
    /// Print the policy document (JSON).
    Show(TenantArg),
    /// Replace the policy with a JSON document from a file ('-' for standard input).
    Set {
        #[command(flatten)]
        t: TenantArg,
        #[arg(long)]
        file: String,
        #[command(flatten)]
        actor: ActorArg,
    },
    /// Change one method's configuration.
    #[command(subcommand)]
    Method(MethodCmd),
    /// Require multifactor authentication of everyone in the tenant (true or false).
    RequireMfa {
        #[command(flatten)]
        t: TenantArg,
        #[arg(value_name = "true|false", action = clap::ArgAction::Set)]
        value: bool,
        #[command(flatten)]
        actor: ActorArg,
    },
}

#[derive(Subcommand)]
pub(super) enum MethodCmd {
    /// Turn a method on for the users it targets.
    Enable(MethodArgs),
    /// Turn a method off for everyone.
    Disable(MethodArgs),
    /// Add a group (or all_users) to the users the method is for; `--remove` takes it out.
    Include {
        #[command(flatten)]
        m: MethodArgs,
        /// A group's name or id, or all_users.
        group: String,
        /// Authenticator app only: any, push or passwordless.
        #[arg(long)]
        mode: Option<String>,
        #[arg(long)]
        remove: bool,
    },
    /// Add a group to the users the method is never for; `--remove` takes it out.
    Exclude {
        #[command(flatten)]
        m: MethodArgs,
        group: String,
        #[arg(long)]
        remove: bool,
    },
}

#[derive(Args)]
pub(super) struct MethodArgs {
    /// authenticator, software-oath, hardware-oath, passkey or temporary-access-pass.
    method: String,
    #[command(flatten)]
    t: TenantArg,
    #[command(flatten)]
    actor: ActorArg,
}

#[derive(Args)]
pub(super) struct AuditArgs {
    #[command(flatten)]
    t: TenantArg,
    /// How many entries, newest first (1 to 10,000).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    limit: u32,
}

fn parse_method(s: &str) -> anyhow::Result<MethodId> {
    MethodId::parse(s).ok_or_else(|| {
        anyhow::anyhow!(
            "unknown method '{s}': use authenticator, software-oath, hardware-oath, passkey or \
             temporary-access-pass"
        )
    })
}

fn parse_mode(s: &str) -> anyhow::Result<AuthenticationMode> {
    serde_json::from_value(json!(s.to_ascii_lowercase()))
        .map_err(|_| anyhow::anyhow!("unknown mode '{s}': use any, push or passwordless"))
}

pub(super) async fn actor(deps: &Deps, tenant: &Tenant, a: &ActorArg) -> anyhow::Result<Actor> {
    Ok(match &a.acting {
        Some(upn) => Actor::User(directory::user(deps, tenant, upn).await?),
        None => Actor::Operator(operator_name()),
    })
}

/// Who runs this command line: `$USER` (or `$LOGNAME`, `$USERNAME`), else the account of the
/// process's user id in `/etc/passwd` (cron jobs and containers often set no `$USER`), else
/// `uid <n>`.
fn operator_name() -> String {
    if let Some(name) = ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|n| !n.is_empty()))
    {
        return name;
    }
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().next().map(str::to_string))
        });
    let Some(uid) = uid else {
        return "unknown".into();
    };
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 2 && f[2] == uid).then(|| f[0].to_string())
        })
        .unwrap_or_else(|| format!("uid {uid}"))
}

async fn show(deps: &Deps, out: &Out, tenant: &Tenant, p: MethodsPolicy) -> anyhow::Result<()> {
    let groups = deps.store.list_groups(&tenant.id).await?;
    let p = p.with_names(&groups);
    let v = serde_json::to_value(&p)?;
    out.done(&p.to_json(), v);
    Ok(())
}

/// The group a target names, as the policy document holds it (resolved when validated).
fn target(group: &str) -> Target {
    if group.eq_ignore_ascii_case(ALL_USERS) {
        Target::all_users()
    } else {
        Target::group(group)
    }
}

/// Whether a target names `group` (by id, name as typed, or all_users).
fn names(t: &Target, group: &str) -> bool {
    t.id == group
        || t.display_name
            .as_deref()
            .is_some_and(|n| n.eq_ignore_ascii_case(group))
        || (t.id == ALL_USERS && group.eq_ignore_ascii_case(ALL_USERS))
}

pub(super) async fn policy_cmd(deps: &Deps, out: &Out, c: PolicyCmd) -> anyhow::Result<()> {
    match c {
        PolicyCmd::Show(t) => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            let p = policy::load(deps, &tenant).await?.policy;
            show(deps, out, &tenant, p).await
        }
        PolicyCmd::Set { t, file, actor: a } => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            let text = if file == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&file).with_context(|| format!("reading {file}"))?
            };
            let doc = MethodsPolicy::from_json(&text)?;
            let who = actor(deps, &tenant, &a).await?;
            let p = policy::change(deps, &tenant, &who, "policy.set", |_| Ok(doc.clone())).await?;
            show(deps, out, &tenant, p).await
        }
        PolicyCmd::RequireMfa { t, value, actor: a } => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            let who = actor(deps, &tenant, &a).await?;
            let action = format!("policy.requireMfaForEveryone {value}");
            let p = policy::change(deps, &tenant, &who, &action, |mut p| {
                p.require_mfa_for_everyone = value;
                Ok(p)
            })
            .await?;
            let text = if p.require_mfa_for_everyone {
                "Multifactor authentication is now required of everyone"
            } else {
                "Multifactor authentication is no longer required of everyone"
            };
            out.done(
                text,
                json!({ "requireMfaForEveryone": p.require_mfa_for_everyone }),
            );
            Ok(())
        }
        PolicyCmd::Method(m) => method_cmd(deps, out, m).await,
    }
}

async fn method_cmd(deps: &Deps, out: &Out, c: MethodCmd) -> anyhow::Result<()> {
    let (args, verb) = match &c {
        MethodCmd::Enable(m) => (m, "enable"),
        MethodCmd::Disable(m) => (m, "disable"),
        MethodCmd::Include { m, remove, .. } => (m, if *remove { "unInclude" } else { "include" }),
        MethodCmd::Exclude { m, remove, .. } => (m, if *remove { "unExclude" } else { "exclude" }),
    };
    let method = parse_method(&args.method)?;
    let tenant = directory::tenant(deps, &args.t.tenant).await?;
    let who = actor(deps, &tenant, &args.actor).await?;
    let mode = match &c {
        MethodCmd::Include { mode: Some(m), .. } => {
            if method != MethodId::Authenticator {
                bail!("--mode applies to the authenticator method only");
            }
            Some(parse_mode(m)?)
        }
        _ => None,
    };
    let action = format!("policy.method.{verb} {}", method.as_str());
    let p = policy::change(deps, &tenant, &who, &action, |mut p| {
        let cfg = p.method_mut(method);
        match &c {
            MethodCmd::Enable(_) => cfg.state = State::Enabled,
            MethodCmd::Disable(_) => cfg.state = State::Disabled,
            MethodCmd::Include {
                group,
                remove: false,
                ..
            } => {
                let mut t = target(group);
                if method == MethodId::Authenticator {
                    t.authentication_mode = Some(mode.unwrap_or(AuthenticationMode::Any));
                }
                if t.id == ALL_USERS {
                    cfg.include_targets = vec![t];
                } else {
                    // "All users" or selected groups, as in Entra: naming a group ends "all users".
                    cfg.include_targets
                        .retain(|x| x.id != ALL_USERS && !names(x, group));
                    cfg.include_targets.push(t);
                }
            }
            MethodCmd::Include {
                group,
                remove: true,
                ..
            } => cfg.include_targets.retain(|x| !names(x, group)),
            MethodCmd::Exclude {
                group,
                remove: false,
                ..
            } => {
                cfg.exclude_targets.retain(|x| !names(x, group));
                cfg.exclude_targets.push(target(group));
            }
            MethodCmd::Exclude {
                group,
                remove: true,
                ..
            } => cfg.exclude_targets.retain(|x| !names(x, group)),
        }
        Ok(p)
    })
    .await?;
    let cfg = p.method(method);
    let list = |ts: &[Target]| {
        ts.iter()
            .map(|t| t.display_name.clone().unwrap_or_else(|| t.id.clone()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let state = if cfg.state == State::Enabled {
        "enabled"
    } else {
        "disabled"
    };
    let text = format!(
        "{}: {state}\n  include: {}\n  exclude: {}",
        method.display(),
        list(&cfg.include_targets),
        if cfg.exclude_targets.is_empty() {
            "(none)".into()
        } else {
            list(&cfg.exclude_targets)
        }
    );
    out.done(
        &text,
        json!({ method.as_str(): serde_json::to_value(cfg)? }),
    );
    Ok(())
}

/// `  pass <id>, <start> to <expiry>, one-time` from a pass's audit record.
fn pass_summary(p: &Value) -> String {
    let at = |k: &str| p[k].as_i64().map(time).unwrap_or_else(|| "?".into());
    let uses = match p["one_time"].as_bool() {
        Some(false) => "usable until it expires",
        _ => "one-time",
    };
    format!(
        "  pass {}, {} to {}, {uses}",
        p["id"].as_str().unwrap_or("?"),
        at("starts_at"),
        at("expires_at")
    )
}

pub(super) async fn audit_cmd(deps: &Deps, out: &Out, a: AuditArgs) -> anyhow::Result<()> {
    let tenant = directory::tenant(deps, &a.t.tenant).await?;
    let entries = deps.store.list_audit(&tenant.id, a.limit).await?;
    out.table(
        entries
            .iter()
            .map(|e| {
                let parse = |s: &Option<String>| {
                    s.as_deref()
                        .map(|t| serde_json::from_str::<Value>(t).unwrap_or(json!(t)))
                };
                let mut line = format!(
                    "{}  {:<28}  {}  on {}",
                    time(e.at),
                    e.actor,
                    e.action,
                    e.target
                );
                // A pass's entry names it (never the pass itself); a policy's document is
                // too long for a line (`--json` has both).
                if e.action.starts_with("tap.") {
                    if let Some(p) = parse(&e.after).or_else(|| parse(&e.before)) {
                        line.push_str(&pass_summary(&p));
                    }
                }
                let v = json!({
                    "id": e.id, "at": time(e.at), "actor": e.actor, "action": e.action,
                    "target": e.target, "before": parse(&e.before), "after": parse(&e.after),
                });
                (line, v)
            })
            .collect(),
    );
    Ok(())
}
