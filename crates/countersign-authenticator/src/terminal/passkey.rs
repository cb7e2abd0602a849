//! `passkey …`: make one for an account, list and remove them, sign a computer in with one.

use super::*;
use anyhow::{bail, Context};
use countersign_authenticator::device;
use countersign_authenticator::protocol::DeviceAccount;
use countersign_authenticator::{passkeys, qr, Vault};
use countersign_proto::device::{self as proto};
use std::path::PathBuf;

/// Reads a cross-device link (or its QR image), asks the server what it is for, and shows the
/// site and the code to compare with the computer's page.
pub(super) fn show_link(
    link: &Option<String>,
    qr: &Option<PathBuf>,
) -> anyhow::Result<(passkeys::PasskeyLink, proto::PasskeyLinkResponse)> {
    let text = match (link, qr) {
        (Some(l), None) => l.clone(),
        (None, Some(path)) => qr::decode_file(path)?,
        _ => bail!("give the link (countersign://passkey?…) or --qr IMAGE"),
    };
    let link = passkeys::parse_link(&text)?;
    let request = passkeys::link_request(&device::Client::new(), &link)?;
    println!(
        "Sign in to {} on a computer with your passkey. Check that the computer shows the code {}.",
        request.site, request.short_code
    );
    Ok((link, request))
}

pub(super) fn passkey(
    vault: &mut Vault,
    cmd: PasskeyCmd,
    link: Option<(passkeys::PasskeyLink, proto::PasskeyLinkResponse)>,
) -> anyhow::Result<()> {
    match cmd {
        PasskeyCmd::Register { account } => {
            let wanted = account.trim().to_lowercase();
            let found: Vec<&DeviceAccount> = vault
                .devices
                .iter()
                .filter(|a| a.upn.starts_with(&wanted))
                .collect();
            let a = match found.as_slice() {
                [a] => (*a).clone(),
                [] => bail!("no account registered for sign-in requests matches '{account}'"),
                _ => bail!("more than one account matches '{account}'; give more of its name"),
            };
            let p = passkeys::register(&device::Client::new(), &a)?;
            println!("Passkey registered: {}", p.label());
            vault.passkeys.push(p);
            vault.save()?;
        }
        PasskeyCmd::List { json } => {
            if json {
                let list: Vec<_> = vault
                    .passkeys
                    .iter()
                    .map(|p| {
                        serde_json::json!({
                            "upn": p.upn, "rp_id": p.rp_id, "server": p.server,
                            "credential_id": p.credential_id, "created": p.created,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string(&list)?);
            } else if vault.passkeys.is_empty() {
                println!(
                    "(no passkeys; make one with `countersign-authenticator passkey register`)"
                );
            }
            for p in vault.passkeys.iter().filter(|_| !json) {
                println!("{}  created {}", p.label(), clock_time(p.created as i64));
            }
        }
        PasskeyCmd::Remove { passkey } => {
            let before = vault.passkeys.len();
            let prefix = passkey.trim();
            if prefix.len() < 4 {
                bail!(
                    "give at least the first 4 characters of the passkey's id (see `passkey list`)"
                );
            }
            let matching = vault
                .passkeys
                .iter()
                .filter(|p| p.credential_id.starts_with(prefix))
                .count();
            if matching > 1 {
                bail!("more than one passkey's id starts with '{prefix}'; give more of it");
            }
            vault
                .passkeys
                .retain(|p| !p.credential_id.starts_with(prefix));
            if vault.passkeys.len() == before {
                bail!("no passkey's id starts with '{prefix}'");
            }
            vault.save()?;
            println!("Removed the passkey from this device; delete it in security info too");
        }
        PasskeyCmd::SignIn { .. } => {
            let (link, request) = link.context("the link was read before the PIN")?;
            let stored = passkeys::for_link(&mut vault.passkeys, &link).with_context(|| {
                format!(
                    "this app has no passkey for {}; make one with `passkey register`",
                    link.server
                )
            })?;
            let result = passkeys::answer_link(&device::Client::new(), &link, &request, stored);
            // The counter moved on even if the server refused: keep it.
            vault.save()?;
            result?;
            println!("Signed in: the computer continues by itself");
        }
    }
    Ok(())
}
