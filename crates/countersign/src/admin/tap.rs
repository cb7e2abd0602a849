//! `admin tap …`: Temporary Access Passes — create (the pass is printed once), list, revoke.
//! The core applies the tenant's policy (lifetimes, one-time use) and writes the audit log.

use super::policy::{actor, ActorArg};
use super::*;
use countersign_core::methods::tap::{self, NewPass, TemporaryAccessPass};

#[derive(Subcommand)]
pub(super) enum TapCmd {
    /// Issue a pass to a user and print it (once: only its hash is kept). A user has at most one
    /// current pass: revoke it first to issue another.
    Create {
        upn: String,
        #[command(flatten)]
        t: TenantArg,
        /// How long it is valid from its start: minutes (`90`) or a duration (`1h`, `8h`,
        /// `2days`), within the policy's bounds. Default: the policy's default lifetime.
        #[arg(long, value_parser = parse_lifetime)]
        lifetime: Option<u32>,
        /// Usable once (the default).
        #[arg(long, conflicts_with = "multi_use")]
        one_time: bool,
        /// Usable until it expires (only if the policy does not make every pass one-time).
        #[arg(long)]
        multi_use: bool,
        /// When it becomes valid: an RFC 3339 time (`2026-12-01T09:00:00Z`) or a delay from now
        /// (`2h`). Default: now.
        #[arg(long, value_parser = parse_start)]
        start: Option<i64>,
        #[command(flatten)]
        actor: ActorArg,
    },
    /// The pass of every user of the tenant who has one (current, or ended less than a day ago).
    List(TenantArg),
    /// Revoke the user's current pass.
    Revoke {
        upn: String,
        #[command(flatten)]
        t: TenantArg,
        #[command(flatten)]
        actor: ActorArg,
    },
}

fn parse_lifetime(s: &str) -> Result<u32, String> {
    let minutes = match s.trim().parse::<u64>() {
        Ok(m) => m,
        Err(_) => {
            let d = humantime::parse_duration(s.trim()).map_err(|e| {
                format!("'{s}' is not a lifetime: give minutes (90) or a duration (1h, 8h): {e}")
            })?;
            if d.as_secs() % 60 != 0 {
                return Err(format!("'{s}' is not a whole number of minutes"));
            }
            d.as_secs() / 60
        }
    };
    u32::try_from(minutes).map_err(|_| format!("'{s}' is too long"))
}

fn parse_start(s: &str) -> Result<i64, String> {
    let now = std::time::SystemTime::now();
    let at = match humantime::parse_rfc3339_weak(s.trim()) {
        Ok(t) => t,
        Err(_) => {
            let d = humantime::parse_duration(s.trim()).map_err(|_| {
                format!("'{s}' is not a start: give a time (2026-12-01T09:00:00Z) or a delay (2h)")
            })?;
            now + d
        }
    };
    at.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .map_err(|_| format!("'{s}' is before 1970"))
}

fn pass_json(p: &TemporaryAccessPass, upn: &str, now: i64) -> Value {
    json!({
        "id": p.id, "user": upn, "state": p.state(now).as_str(), "starts_at": time(p.starts_at),
        "expires_at": time(p.expires_at), "one_time": p.one_time, "created_at": time(p.created_at),
        "created_by": p.created_by, "used_at": p.used_at.map(time),
        "revoked_at": p.revoked_at.map(time),
    })
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub(super) async fn tap_cmd(deps: &Deps, out: &Out, c: TapCmd) -> anyhow::Result<()> {
    match c {
        TapCmd::Create {
            upn,
            t,
            lifetime,
            one_time,
            multi_use,
            start,
            actor: a,
        } => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            let user = directory::user(deps, &tenant, &upn).await?;
            let who = actor(deps, &tenant, &a).await?;
            let new = NewPass {
                lifetime_minutes: lifetime,
                one_time: match (one_time, multi_use) {
                    (true, _) => Some(true),
                    (_, true) => Some(false),
                    _ => None,
                },
                starts_at: start,
            };
            let issued = match tap::create(deps, &tenant, &who, &user, new).await {
                Ok(issued) => issued,
                Err(CoreError::MethodNotSupported) => bail!(
                    "the authentication methods policy doesn't let {} use a Temporary Access \
                     Pass; turn it on with: countersign admin policy method enable \
                     temporary-access-pass --tenant {}",
                    user.upn,
                    tenant.name
                ),
                Err(e @ CoreError::Conflict(_)) => bail!(
                    "{e}; a user has one at a time: revoke it first with: countersign admin tap \
                     revoke {} --tenant {}",
                    user.upn,
                    tenant.name
                ),
                Err(e) => return Err(e.into()),
            };
            let p = &issued.pass;
            let mut v = pass_json(p, &user.upn, now());
            v["pass"] = json!(issued.secret.expose());
            let uses = if p.one_time {
                "one-time use"
            } else {
                "usable until it expires"
            };
            out.done(
                &format!(
                    "Temporary Access Pass for {}: {}\nvalid from {} until {}, {uses}\n\
                     It is shown only now: give it to the user in person or over a channel you trust.",
                    user.upn,
                    issued.secret.expose(),
                    time(p.starts_at),
                    time(p.expires_at),
                ),
                v,
            );
        }
        TapCmd::List(t) => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            let users: std::collections::HashMap<String, String> = deps
                .store
                .list_users(&tenant.id)
                .await?
                .into_iter()
                .map(|u| (u.id, u.upn))
                .collect();
            let now = now();
            let passes = deps.store.list_taps(&tenant.id).await?;
            out.table(
                passes
                    .iter()
                    .map(|p| {
                        let upn = users.get(&p.user_id).map_or("?", String::as_str);
                        let line = format!(
                            "{:<35}  {:<13}  {} → {}  {:<8}  {}  by {}",
                            upn,
                            p.state(now).as_str(),
                            time(p.starts_at),
                            time(p.expires_at),
                            if p.one_time { "one-time" } else { "multi-use" },
                            p.id,
                            p.created_by,
                        );
                        (line, pass_json(p, upn, now))
                    })
                    .collect(),
            );
        }
        TapCmd::Revoke { upn, t, actor: a } => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            let user = directory::user(deps, &tenant, &upn).await?;
            let who = actor(deps, &tenant, &a).await?;
            if !tap::revoke(deps, &tenant, &who, &user).await? {
                bail!("{} has no current Temporary Access Pass", user.upn);
            }
            out.done(
                &format!("Revoked the Temporary Access Pass of {}", user.upn),
                json!({ "user": user.upn, "revoked": true }),
            );
        }
    }
    Ok(())
}
