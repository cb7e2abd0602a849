//! `admin user …`: accounts — create, show (with each lock), update, enable/disable, passwords, unlock, devices and passkeys (a lost phone or key removed), revoke sessions, delete.

use super::*;

#[derive(Subcommand)]
pub(super) enum UserCmd {
    /// Create a user, name@domain of a verified domain, with or without a password.
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
    /// List the tenant's users.
    List(TenantArg),
    /// Show a user: groups, roles, push requests and each sign-in lock.
    Show {
        upn: String,
        #[command(flatten)]
        t: TenantArg,
    },
    /// Change a user's name, display name or email; only the options given change.
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
    /// Let a disabled user sign in again.
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
    /// List the devices registered to the user for push approvals.
    Devices {
        upn: String,
        #[command(flatten)]
        t: TenantArg,
    },
    /// Remove a device (a lost phone) with its verification codes: its answers are refused and it
    /// is sent nothing more.
    RemoveDevice {
        upn: String,
        /// The device's id (`admin user devices`).
        device: String,
        #[command(flatten)]
        t: TenantArg,
    },
    /// List the user's passkeys: id, name, model, device-bound or synced, added, last used.
    Passkeys {
        upn: String,
        #[command(flatten)]
        t: TenantArg,
    },
    /// Remove a passkey (a lost security key, a phone given away): it signs no one in from now on.
    RemovePasskey {
        upn: String,
        /// Its id (`admin user passkeys`), or a start of it, of at least 4 characters, that names
        /// only it.
        passkey: String,
        #[command(flatten)]
        t: TenantArg,
    },
    /// Send push requests to the user again after they answered one with "It's not me".
    ClearPushBlock {
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
    /// Delete a user and everything theirs: methods, sessions, tokens.
    Delete {
        upn: String,
        #[command(flatten)]
        t: TenantArg,
    },
}

pub(super) fn read_password(stdin: bool, flag: Option<String>) -> anyhow::Result<Option<String>> {
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

pub(super) fn user_json(u: &User) -> Value {
    json!({
        "id": u.id, "upn": u.upn, "display_name": u.display_name, "email": u.email,
        "enabled": u.enabled, "has_password": u.password_hash.is_some(),
        "created_at": time(u.created_at), "updated_at": time(u.updated_at),
        "push_blocked_at": u.push_blocked_at.map(time),
    })
}

fn device_json(d: &Device) -> Value {
    json!({
        "id": d.id, "name": d.name, "platform": d.platform, "app_version": d.app_version,
        "created_at": time(d.created_at), "last_seen_at": d.last_seen_at.map(time),
        "codes": d.oath_token_id.is_some(),
    })
}

/// What a user has registered besides a password, whatever the policy allows now: a line for
/// `user show` and its JSON.
async fn registered_methods(deps: &Deps, u: &User) -> anyhow::Result<(String, Value)> {
    let devices = deps.store.devices_of_user(&u.id).await?;
    let passkeys = deps.store.passkeys_of_user(&u.id).await?;
    // A device's own codes are part of the device.
    let tokens = deps
        .store
        .oath_tokens_of_user(&u.id)
        .await?
        .iter()
        .filter(|t| {
            !devices
                .iter()
                .any(|d| d.oath_token_id.as_deref() == Some(&t.id))
        })
        .count();
    let counted = [
        (
            devices.len(),
            "authenticator app device",
            "admin user devices",
        ),
        (passkeys.len(), "passkey", "admin user passkeys"),
        (tokens, "OATH token", "admin oath list"),
    ];
    let parts: Vec<String> = counted
        .iter()
        .filter(|(n, _, _)| *n > 0)
        .map(|(n, what, see)| format!("{n} {what}{} ({see})", if *n == 1 { "" } else { "s" }))
        .collect();
    let line = if parts.is_empty() {
        "none registered".to_string()
    } else {
        parts.join(", ")
    };
    let v = json!({ "devices": devices.len(), "passkeys": passkeys.len(), "oath_tokens": tokens });
    Ok((line, v))
}

fn passkey_json(p: &PasskeyCredential) -> Value {
    json!({
        "id": p.credential_id, "name": p.name, "model": passkey::model(p.aaguid.as_deref()),
        "aaguid": p.aaguid, "kind": passkey::kind_label(p), "backed_up": p.backup_state,
        "created_at": time(p.created_at), "last_used_at": p.last_used_at.map(time),
    })
}

pub(super) fn lock_state(l: &directory::AccountLock) -> (&'static str, Option<String>) {
    match l.lock {
        Lock::Open => ("open", None),
        Lock::Until(t) => ("locked", Some(time(t))),
        Lock::Permanent => ("locked until unlocked", None),
    }
}

pub(super) fn lock_json(l: &directory::AccountLock) -> Value {
    let (state, until) = lock_state(l);
    json!({ "method": l.what, "state": state, "until": until, "failures": l.failures })
}

pub(super) fn lock_text(l: &directory::AccountLock) -> String {
    match lock_state(l) {
        ("open", _) => format!("open ({} recent failures)", l.failures),
        (_, Some(until)) => format!("locked until {until} ({} failures)", l.failures),
        _ => format!(
            "locked until an administrator unlocks it ({} failures)",
            l.failures
        ),
    }
}

pub(super) async fn user_cmd(deps: &Deps, out: &Out, c: UserCmd) -> anyhow::Result<()> {
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
            let methods = registered_methods(deps, &u).await?;
            let mut v = user_json(&u);
            v["methods"] = methods.1;
            v["groups"] = json!(groups.iter().map(|g| &g.name).collect::<Vec<_>>());
            v["roles"] = json!(roles.iter().map(|r| r.as_str()).collect::<Vec<_>>());
            v["locks"] = json!(locks.iter().map(lock_json).collect::<Vec<_>>());
            let lock_lines: Vec<String> = locks
                .iter()
                .map(|l| format!("\n  {:<20} {}", l.what, lock_text(l)))
                .collect();
            let push = match u.push_blocked_at {
                Some(t) => format!(
                    "blocked since {} (\"It's not me\"; lift with admin user clear-push-block)",
                    time(t)
                ),
                None => "allowed".into(),
            };
            out.done(
                &format!(
                    "upn:           {}\ndisplay name:  {}\nemail:         {}\nenabled:       {}\npassword:      {}\nmethods:       {}\ngroups:        {}\nroles:         {}\nid:            {}\npush requests: {push}\nlocks:{}",
                    u.upn,
                    u.display_name,
                    u.email.as_deref().unwrap_or("-"),
                    u.enabled,
                    if u.password_hash.is_some() { "set" } else { "none" },
                    methods.0,
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
        UserCmd::Devices { upn, t } => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            let (_, devices) = directory::devices(deps, &tenant, &upn).await?;
            out.table(
                devices
                    .iter()
                    .map(|d| {
                        (
                            format!(
                                "{:<28}  {:<24}  {:<8}  {:<8}  added {}  last seen {}{}",
                                d.id,
                                d.name,
                                d.platform,
                                d.app_version,
                                time(d.created_at),
                                d.last_seen_at.map(time).unwrap_or_else(|| "never".into()),
                                if d.oath_token_id.is_some() {
                                    "  + codes"
                                } else {
                                    ""
                                }
                            ),
                            device_json(d),
                        )
                    })
                    .collect(),
            );
        }
        UserCmd::RemoveDevice { upn, device, t } => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            let d = directory::remove_device(deps, &tenant, &upn, &device).await?;
            out.done(
                &format!("Removed device {} ({}) of {upn}", d.name, d.id),
                device_json(&d),
            );
        }
        UserCmd::Passkeys { upn, t } => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            let (_, passkeys) = directory::passkeys(deps, &tenant, &upn).await?;
            out.table(
                passkeys
                    .iter()
                    .map(|p| {
                        (
                            format!(
                                "{}  {:<24}  {:<26}  {:<12}  added {}  last used {}",
                                p.credential_id,
                                p.name,
                                passkey::model(p.aaguid.as_deref()).unwrap_or("unknown model"),
                                passkey::kind_label(p),
                                time(p.created_at),
                                p.last_used_at.map(time).unwrap_or_else(|| "never".into()),
                            ),
                            passkey_json(p),
                        )
                    })
                    .collect(),
            );
        }
        UserCmd::RemovePasskey { upn, passkey, t } => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            let p = directory::remove_passkey(deps, &tenant, &upn, &passkey).await?;
            out.done(
                &format!(
                    "Removed passkey {} ({}) of {upn}: it signs no one in from now on",
                    p.name, p.credential_id
                ),
                passkey_json(&p),
            );
        }
        UserCmd::ClearPushBlock { upn, t } => {
            let tenant = directory::tenant(deps, &t.tenant).await?;
            let u = directory::clear_push_block(deps, &tenant, &upn).await?;
            let msg = if u.push_blocked_at.is_some() {
                format!("{} gets push requests again", u.upn)
            } else {
                format!("{} was not blocked; nothing changed", u.upn)
            };
            out.done(
                &msg,
                json!({ "upn": u.upn, "was_blocked": u.push_blocked_at.is_some() }),
            );
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

pub(super) async fn set_enabled(
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
