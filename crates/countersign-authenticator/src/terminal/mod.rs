//! The terminal front end: the command line, PIN prompts, and the commands, each doing its I/O
//! (the vault's files, the protocol over HTTPS and its WebSocket) around the library.

use anyhow::{bail, Context};
use countersign_authenticator::device;
use countersign_authenticator::protocol::{self};
use countersign_authenticator::{qr, uri, Vault};
use std::io::Write;

mod cli;
mod codes;
mod listen;
mod passkey;
mod pins;
mod requests;

pub use cli::Cli;
use cli::*;
use codes::*;
use listen::*;
use passkey::*;
use pins::*;
use requests::*;

/// The name a registered device gets in security info: this machine's host name.
pub(super) fn device_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "this computer".into());
    format!("Terminal on {host}")
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let home = home(&cli)?;
    let mut pins = Pins::new(cli.pin_stdin)?;
    if let Command::Init = cli.command {
        let pin = pins.next("Choose an App Lock PIN: ")?;
        if !cli.pin_stdin {
            let again = pins.next("Repeat the PIN: ")?;
            if *again != *pin {
                bail!("the PINs differ");
            }
        }
        Vault::create(&home, &pin)?;
        println!("Created the vault in {}", home.display());
        return Ok(());
    }
    if !Vault::exists(&home) {
        bail!(countersign_authenticator::VaultError::Missing(
            home.display().to_string()
        ));
    }
    // A cross-device sign-in shows what it is for before the PIN is asked.
    let link = match &cli.command {
        Command::Passkey(PasskeyCmd::SignIn { link, qr }) => Some(show_link(link, qr)?),
        _ => None,
    };
    let pin = pins.next("App Lock PIN: ")?;
    let mut vault = Vault::open(&home, &pin)?;
    drop(pin);
    match cli.command {
        Command::Init => unreachable!("handled above"),
        Command::Add {
            links,
            qr,
            name,
            server,
            user,
            tap,
        } => {
            let name = name.unwrap_or_else(device_name);
            if tap {
                let (server, user) = (server.unwrap_or_default(), user.unwrap_or_default());
                let pass = pins.next("Temporary Access Pass: ")?;
                let (account, otpauth) =
                    device::Client::new().register_with_pass(&server, &user, &pass, &name)?;
                let codes = match otpauth {
                    Some(u) => uri::parse_any(&u).map_err(|e| anyhow::anyhow!("{e}"))?,
                    None => Vec::new(),
                };
                println!(
                    "Added {} with phone sign-in: approve sign-ins without a password",
                    account.label()
                );
                vault.devices.push(account);
                vault.add_accounts(codes);
                vault.save()?;
                return Ok(());
            }
            let mut texts = links;
            if let Some(path) = qr {
                texts.push(qr::decode_file(&path)?);
            }
            if texts.is_empty() {
                bail!(
                    "give an activation link, an otpauth:// URI, --qr IMAGE, or --server, --user \
                     and --tap"
                );
            }
            let client = device::Client::new();
            for t in &texts {
                if t.trim()
                    .starts_with(countersign_proto::device::ACTIVATION_SCHEME)
                {
                    let link = protocol::parse_activation(t)?;
                    let (account, otpauth) = client.register(&link, &name)?;
                    let codes = match otpauth {
                        Some(u) => uri::parse_any(&u).map_err(|e| anyhow::anyhow!("{e}"))?,
                        None => Vec::new(),
                    };
                    let what = if codes.is_empty() {
                        "sign-in requests"
                    } else {
                        "sign-in requests and codes"
                    };
                    println!("Added {} for {what}", account.label());
                    vault.devices.push(account);
                    vault.add_accounts(codes);
                } else {
                    let parsed = uri::parse_any(t).map_err(|e| anyhow::anyhow!("{e}"))?;
                    let (added, kept) = vault.add_accounts(parsed);
                    for label in added {
                        println!("Added {label}");
                    }
                    for label in kept {
                        println!("{label} is in the app already: not added again");
                    }
                }
                // Saved after each: a registration made on a server is never lost by a later
                // failure.
                vault.save()?;
            }
        }
        Command::Requests { json } => {
            let found = fetch_requests(&vault)?;
            if json {
                let v: Vec<_> = found
                    .iter()
                    .map(|(a, r)| serde_json::json!({ "server": a.server, "request": r }))
                    .collect();
                println!("{}", serde_json::Value::Array(v));
            } else if found.is_empty() {
                println!("No sign-in requests are waiting.");
            } else {
                for (a, r) in &found {
                    println!("{}", describe(a, r));
                }
            }
        }
        Command::Approve { request, number } => {
            let (a, r) = one_request(&vault, &request)?;
            let result = device::Client::new().answer(
                &a,
                &r.id,
                countersign_proto::device::Decision::Approve,
                Some(&number),
                true,
                r.passwordless,
            )?;
            println!("{}", result_text(result, &a));
        }
        Command::Listen { json } => listen(vault.devices.clone(), json)?,
        Command::Deny { request, not_me } => {
            let (a, r) = one_request(&vault, &request)?;
            let decision = if not_me {
                countersign_proto::device::Decision::NotMe
            } else {
                countersign_proto::device::Decision::Deny
            };
            let result =
                device::Client::new().answer(&a, &r.id, decision, None, true, r.passwordless)?;
            println!("{}", result_text(result, &a));
        }
        Command::List { json } => {
            if json {
                let v: Vec<_> = vault
                    .accounts
                    .iter()
                    .map(|a| {
                        serde_json::json!({ "id": a.id, "issuer": a.issuer, "name": a.name,
                            "algorithm": a.algorithm.as_str(), "digits": a.digits, "kind": a.kind })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(v));
            } else {
                for a in &vault.accounts {
                    println!("{}  {}", a.id, a.label());
                }
                for d in &vault.devices {
                    let phone = if d.phone_sign_in() {
                        ", phone sign-in on"
                    } else {
                        ""
                    };
                    println!(
                        "{}  {}  sign-in requests from {}{phone}",
                        d.device_id,
                        d.label(),
                        d.server
                    );
                }
            }
        }
        Command::Codes { json, watch } => {
            if !watch {
                return print_codes(&vault, json);
            }
            loop {
                // Clear the screen and redraw: a live view with the countdown.
                print!("\x1b[2J\x1b[H");
                print_codes(&vault, json)?;
                std::io::stdout().flush()?;
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
        }
        Command::Next { account } => {
            let a = vault
                .find(&account)
                .with_context(|| format!("no single account matches '{account}'"))?;
            let code = a
                .next_hotp()
                .with_context(|| format!("'{account}' is time-based; use `codes`"))?;
            vault.save()?;
            println!("{code}");
        }
        Command::Rename { account, new_name } => {
            let a = vault
                .find(&account)
                .with_context(|| format!("no single account matches '{account}'"))?;
            a.name = new_name.trim().to_string();
            vault.save()?;
            println!("Renamed");
        }
        Command::Remove { account } => {
            let id = vault
                .find(&account)
                .map(|a| a.id.clone())
                .with_context(|| format!("no single account matches '{account}'"))?;
            vault.accounts.retain(|a| a.id != id);
            vault.save()?;
            println!("Removed");
        }
        Command::ChangePin => {
            let new = pins.next("New PIN: ")?;
            vault.change_pin(&new)?;
            println!("Changed the PIN");
        }
        Command::PhoneSignIn(PhoneCmd::Enable { account }) => {
            let wanted = account.trim().to_lowercase();
            let mut matching: Vec<usize> = (0..vault.devices.len())
                .filter(|i| vault.devices[*i].upn.starts_with(&wanted))
                .collect();
            let i = match matching.len() {
                1 => matching.remove(0),
                0 => bail!("no account registered for sign-in requests matches '{account}'"),
                _ => bail!("more than one account matches '{account}'; give more of its name"),
            };
            device::Client::new().enable_phone_sign_in(&mut vault.devices[i])?;
            vault.save()?;
            println!(
                "Phone sign-in is on for {}: approve sign-ins without a password",
                vault.devices[i].label()
            );
        }
        Command::Passkey(cmd) => passkey(&mut vault, cmd, link)?,
    }
    Ok(())
}
