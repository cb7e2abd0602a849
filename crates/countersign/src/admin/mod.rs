//! `countersign admin …`: directory management and log reading on the configured store, through
//! the core's validated operations (the same rules as the server). `--json` prints machine-readable
//! output; secrets are never printed except a new client secret, once.
//!
//! One module per resource (`tenant`, `user`, `group`, `role`, `app`, `keys`, `oath_tokens`,
//! `policy` with the audit log, `tap`, `secrets`), each with its subcommands and their handler; here the shared pieces: the command
//! tree, output (`Out`, terminal and JSON escaping), the store and the dispatch. The modules take
//! this module's imports with `use super::*`.

mod app;
mod group;
mod keys;
mod oath_tokens;
mod policy;
mod role;
mod secrets;
mod tap;
mod tenant;
mod user;

use app::*;
use group::*;
use keys::*;
use oath_tokens::*;
use role::*;
use tenant::*;
use user::*;

use crate::config::{Config, Overrides};
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use countersign_core::clock::SystemClock;
use countersign_core::directory::{self, ClientChanges, NewClient, NewUser, UserChanges};
use countersign_core::methods::oath;
use countersign_core::methods::passkey::{self, PasskeyCredential};
use countersign_core::methods::password::InlineHasher;
use countersign_core::methods::push::Device;
use countersign_core::model::{OidcClient, SigningAlg, Tenant, User};
use countersign_core::random::OsRandom;
use countersign_core::signin::throttle::Lock;
use countersign_core::{CoreError, Deps, Settings};
use serde_json::{json, Value};
use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

#[derive(Args)]
pub struct AdminArgs {
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
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
    /// The authentication methods policy: who may use which sign-in method.
    #[command(subcommand)]
    Policy(policy::PolicyCmd),
    /// Temporary Access Passes: issue one to a user, list them, revoke one.
    #[command(subcommand)]
    Tap(tap::TapCmd),
    /// The audit log: every change to the policy and every Temporary Access Pass issued or
    /// revoked (who, what, before and after, when).
    Audit(policy::AuditArgs),
    /// Check the database's integrity (SQLite: every page, index and constraint).
    Check,
    /// The sign-in log of a tenant, newest first.
    Signins {
        #[arg(long, env = "COUNTERSIGN_TENANT")]
        tenant: String,
        /// How many entries, newest first (1 to 10,000).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        limit: u32,
    },
}

#[derive(Args)]
struct TenantArg {
    #[arg(long, env = "COUNTERSIGN_TENANT")]
    tenant: String,
}

fn time(t: i64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(t.max(0) as u64)).to_string()
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
pub(crate) fn escape_json(s: &str) -> String {
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
            crate::print_line(&escape_json(&value.to_string()));
        } else {
            crate::print_line(&escape_for_terminal(text));
        }
    }
    /// A table: one line per row (text) or a JSON array.
    fn table(&self, rows: Vec<(String, Value)>) {
        if self.json {
            let all = Value::Array(rows.into_iter().map(|(_, v)| v).collect());
            crate::print_line(&escape_json(&all.to_string()));
        } else if rows.is_empty() {
            crate::print_line("(none)");
        } else {
            for (line, _) in rows {
                // one row, one line: a line break inside a value is escaped too
                crate::print_line(&escape_for_terminal(&line).replace('\n', "\\n"));
            }
        }
    }
}

pub async fn run(file: Option<&Path>, overrides: Overrides, args: AdminArgs) -> anyhow::Result<()> {
    let cfg = Config::load(file, overrides)?;
    // An administrator in another directory than the server's (the default data_dir is
    // relative) would otherwise work on a new, empty database without knowing it.
    let new_database = match cfg.database_url {
        None => {
            let exists = countersign_store::SqlStore::sqlite_file(&cfg.data_dir).exists();
            let dir = std::path::absolute(&cfg.data_dir).unwrap_or(cfg.data_dir.clone());
            if matches!(args.command, AdminCommand::Check) && !exists {
                bail!(
                    "there is no database in {}: give the server's data directory (--data-dir, \
                     or data_dir in --config)",
                    dir.display()
                );
            }
            (!exists).then_some(dir)
        }
        Some(_) => None,
    };
    let (store, _) = cfg.open_store().await?;
    if let Some(dir) = new_database {
        eprintln!(
            "note: there was no database in {}; this command created a new, empty one. If the \
             server's is elsewhere, give its data directory with --data-dir or --config.",
            dir.display()
        );
    }
    let store = Arc::new(store);
    // On PostgreSQL the running servers hear what a command changes (a removed device's open
    // channel closes at once); SQLite serves one server, whose channels read the device again at
    // every heartbeat.
    let events = countersign_server::push_events::PushEvents::default();
    let notifier: Arc<dyn countersign_core::notify::Notifier> = match store.bus("push") {
        Some(bus) => {
            events.tell_others_through(bus);
            Arc::new(events.clone())
        }
        None => Arc::new(countersign_core::notify::Silent),
    };
    let deps = Deps {
        store: store.clone(),
        clock: Arc::new(SystemClock),
        rng: Arc::new(OsRandom),
        hasher: Arc::new(InlineHasher),
        notifier,
        risk: Arc::new([]),
        settings: Settings::default(),
    };
    let out = Out { json: args.json };
    let r = dispatch(&deps, &store, &cfg, &out, args.command).await;
    events.flush(Duration::from_secs(5)).await;
    store.close().await;
    r
}

async fn dispatch(
    deps: &Deps,
    store: &countersign_store::SqlStore,
    cfg: &Config,
    out: &Out,
    cmd: AdminCommand,
) -> anyhow::Result<()> {
    match cmd {
        AdminCommand::Tenant(c) => tenant_cmd(deps, out, c).await,
        AdminCommand::User(c) => user_cmd(deps, out, c).await,
        AdminCommand::Group(c) => group_cmd(deps, out, c).await,
        AdminCommand::Role(c) => role_cmd(deps, out, c).await,
        AdminCommand::App(c) => app_cmd(deps, out, c).await,
        AdminCommand::Keys(c) => keys_cmd(deps, out, c).await,
        AdminCommand::Oath(c) => oath_cmd(deps, out, c).await,
        AdminCommand::Policy(c) => policy::policy_cmd(deps, out, c).await,
        AdminCommand::Tap(c) => tap::tap_cmd(deps, out, c).await,
        AdminCommand::Audit(a) => policy::audit_cmd(deps, out, a).await,
        // needs the SQL store itself, not the core's view of it: handled by `run`
        AdminCommand::Secrets(c) => secrets::run(store, &cfg.secrets_key_file(), out, c).await,
        AdminCommand::Check => {
            let problems = store.integrity_check().await?;
            if problems.is_empty() {
                out.done("ok: the database is intact", json!({ "ok": true }));
                Ok(())
            } else if out.json {
                // The report on standard output; the error (standard error, exit 1) says why.
                out.done("", json!({ "ok": false, "problems": problems }));
                Err(anyhow::anyhow!("the database is damaged"))
            } else {
                Err(anyhow::anyhow!(
                    "the database is damaged:\n{}",
                    problems.join("\n")
                ))
            }
        }
        AdminCommand::Signins { tenant, limit } => {
            let t = directory::tenant(deps, &tenant).await?;
            let entries = deps.store.list_signins(&t.id, limit).await?;
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
