//! `countersign-authenticator`: the terminal front end of the authenticator. Accounts live in an
//! encrypted vault in `--home` (or `COUNTERSIGN_AUTHENTICATOR_HOME`); every command unlocks it
//! with the App Lock PIN, asked at the terminal or read from standard input (`--pin-stdin`).
//! Codes need no network.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use countersign_authenticator::{qr, uri, Vault};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};
use zeroize::Zeroizing;

#[derive(Parser)]
#[command(
    name = "countersign-authenticator",
    version,
    about = "Verification codes, offline, behind a PIN"
)]
struct Cli {
    /// Where the vault lives.
    #[arg(long, global = true, env = "COUNTERSIGN_AUTHENTICATOR_HOME")]
    home: Option<PathBuf>,
    /// Read the PIN (and for `change-pin`, then the new one) from standard input, one per line.
    #[arg(long, global = true)]
    pin_stdin: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the vault and choose its PIN.
    Init,
    /// Add accounts from otpauth:// or otpauth-migration:// URIs, or from a QR image.
    Add {
        uris: Vec<String>,
        /// A PNG image with a QR code (a screenshot of an enrolment page).
        #[arg(long)]
        qr: Option<PathBuf>,
    },
    /// List the accounts.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show every account's current code and the seconds it has left.
    Codes {
        #[arg(long)]
        json: bool,
        /// Keep the codes on screen, refreshed every second, until Ctrl-C.
        #[arg(long)]
        watch: bool,
    },
    /// The next code of an HOTP account (advances its counter).
    Next {
        account: String,
    },
    Rename {
        account: String,
        new_name: String,
    },
    Remove {
        account: String,
    },
    /// Choose a new PIN.
    ChangePin,
}

fn home(cli: &Cli) -> anyhow::Result<PathBuf> {
    if let Some(h) = &cli.home {
        return Ok(h.clone());
    }
    let base = std::env::var_os("HOME").context("set --home or COUNTERSIGN_AUTHENTICATOR_HOME")?;
    Ok(PathBuf::from(base).join(".countersign-authenticator"))
}

struct Pins {
    stdin: bool,
    lines: Vec<Zeroizing<String>>,
}

impl Pins {
    fn new(stdin: bool) -> anyhow::Result<Self> {
        let mut lines = Vec::new();
        if stdin {
            for line in std::io::stdin().lock().lines() {
                lines.push(Zeroizing::new(line?.trim_end_matches('\r').to_string()));
            }
            lines.reverse();
        }
        Ok(Self { stdin, lines })
    }

    fn next(&mut self, prompt: &str) -> anyhow::Result<Zeroizing<String>> {
        if self.stdin {
            return self
                .lines
                .pop()
                .context("standard input has no more PIN lines");
        }
        if !std::io::stdin().is_terminal() {
            bail!("no terminal to ask for the PIN; use --pin-stdin");
        }
        Ok(Zeroizing::new(rpassword::prompt_password(prompt)?))
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn print_codes(vault: &Vault, json: bool) -> anyhow::Result<()> {
    let t = now();
    let codes: Vec<_> = vault.accounts.iter().map(|a| a.code(t)).collect();
    if json {
        println!("{}", serde_json::to_string(&codes)?);
        return Ok(());
    }
    if codes.is_empty() {
        println!("(no accounts; add one with `countersign-authenticator add`)");
    }
    let mut out = std::io::stdout().lock();
    for (c, a) in codes.iter().zip(&vault.accounts) {
        let left = c
            .seconds_left
            .map(|s| format!("{s:>2}s"))
            .unwrap_or_else(|| "  -".into());
        writeln!(out, "{}  {}  {}", c.code, left, a.label())?;
    }
    Ok(())
}

fn run(cli: Cli) -> anyhow::Result<()> {
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
    let pin = pins.next("App Lock PIN: ")?;
    let mut vault = Vault::open(&home, &pin)?;
    drop(pin);
    match cli.command {
        Command::Init => unreachable!("handled above"),
        Command::Add { uris, qr } => {
            let mut texts = uris;
            if let Some(path) = qr {
                texts.push(qr::decode_file(&path)?);
            }
            if texts.is_empty() {
                bail!("give an otpauth:// URI or --qr IMAGE");
            }
            let mut added = Vec::new();
            for t in &texts {
                added.extend(uri::parse_any(t).map_err(|e| anyhow::anyhow!("{e}"))?);
            }
            for a in &added {
                println!("Added {}", a.label());
            }
            vault.accounts.extend(added);
            vault.save()?;
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
    }
    Ok(())
}
