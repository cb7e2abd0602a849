//! `countersign-authenticator`: the terminal front end of the authenticator. Accounts live in an
//! encrypted vault in `--home` (or `COUNTERSIGN_AUTHENTICATOR_HOME`); every command unlocks it
//! with the App Lock PIN, asked at the terminal or read from standard input (`--pin-stdin`), so
//! every approval is made with the App Lock. Codes need no network; sign-in requests are
//! fetched from and answered to each account's server.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use countersign_authenticator::device::{self, DeviceAccount};
use countersign_authenticator::{passkeys, qr, uri, Vault};
use countersign_proto::device::{self as proto, SignInRequest};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};
use zeroize::Zeroizing;

#[derive(Parser)]
#[command(
    name = "countersign-authenticator",
    version,
    about = "Sign-in approvals and verification codes, behind a PIN"
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
    /// Add accounts: an activation link (countersign://activate?…, from security info) registers
    /// this device for sign-in requests, and for codes when the server gives them; otpauth:// and
    /// otpauth-migration:// URIs add code-only accounts. With --server, --user and --tap: direct
    /// phone sign-in registration with a Temporary Access Pass (asked after the PIN; with
    /// --pin-stdin, the line after it).
    Add {
        links: Vec<String>,
        /// The account's server: the tenant's address, e.g. https://login.contoso.com/contoso
        /// (with --tap).
        #[arg(long, requires = "tap")]
        server: Option<String>,
        /// The account's sign-in name (with --tap).
        #[arg(long, requires = "tap")]
        user: Option<String>,
        /// Sign in with a Temporary Access Pass, register this device and turn on phone sign-in,
        /// all at once.
        #[arg(long, requires_all = ["server", "user"], conflicts_with = "qr")]
        tap: bool,
        /// A PNG image with a QR code (a screenshot of the set-up page).
        #[arg(long)]
        qr: Option<PathBuf>,
        /// The name this device gets in the account's security info.
        #[arg(long)]
        name: Option<String>,
    },
    /// Fetch the sign-in requests waiting now, from every registered server ("pull to
    /// refresh").
    Requests {
        #[arg(long)]
        json: bool,
    },
    /// Approve a sign-in request with the number the sign-in page shows.
    Approve {
        /// The request's id, or the start of it as `requests` shows it.
        request: String,
        #[arg(long)]
        number: String,
    },
    /// Stay connected to every registered server and show sign-in requests as they arrive.
    Listen {
        /// One JSON line per event (`request`, `withdrawn`), for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Deny a sign-in request.
    Deny {
        request: String,
        /// "It's not me": report the sign-in as not yours (your administrator is told, and no
        /// more requests are sent until they clear it).
        #[arg(long)]
        not_me: bool,
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
    Next { account: String },
    /// Give a code account another name (its id, its name, or its issuer).
    Rename { account: String, new_name: String },
    /// Remove a code account from this app (its id, its name, or its issuer); remove it on the
    /// service too, or you may be locked out there.
    Remove { account: String },
    /// Choose a new PIN.
    ChangePin,
    /// Phone sign-in: approve sign-ins with this device instead of a password.
    #[command(subcommand, name = "phone-sign-in")]
    PhoneSignIn(PhoneCmd),
    /// Passkeys this app keeps (device-bound, never exported): make one for an account, list
    /// and remove them, and sign in on a computer with one.
    #[command(subcommand)]
    Passkey(PasskeyCmd),
}

#[derive(Subcommand)]
enum PasskeyCmd {
    /// Make a passkey for an account registered for sign-in requests (the server lists it in
    /// security info); <account> is its sign-in name, or the start of it.
    Register { account: String },
    /// The passkeys this app keeps.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove a passkey from this app (delete it in security info too); give the start of its id.
    Remove { passkey: String },
    /// Sign in on a computer with a passkey: the link of its "Sign in with a passkey on another
    /// device" page (countersign://passkey?…), or --qr a PNG image of its QR code. Shows the site
    /// and the code to compare with the computer's page before asking for the PIN.
    SignIn {
        link: Option<String>,
        #[arg(long)]
        qr: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum PhoneCmd {
    /// "Enable phone sign-in" for an account registered for sign-in requests.
    Enable {
        /// The account: its sign-in name, or the start of it.
        account: String,
    },
}

fn home(cli: &Cli) -> anyhow::Result<PathBuf> {
    if let Some(h) = &cli.home {
        return Ok(h.clone());
    }
    let base = std::env::var_os("HOME").context("set --home or COUNTERSIGN_AUTHENTICATOR_HOME")?;
    Ok(PathBuf::from(base).join(".countersign-authenticator"))
}

/// Where PINs come from: the terminal, or one line of standard input each (`--pin-stdin`), read
/// only when needed — `listen` goes on reading its commands from the lines after the PIN.
struct Pins {
    stdin: bool,
}

impl Pins {
    fn new(stdin: bool) -> anyhow::Result<Self> {
        Ok(Self { stdin })
    }

    fn next(&mut self, prompt: &str) -> anyhow::Result<Zeroizing<String>> {
        if self.stdin {
            let mut line = Zeroizing::new(String::new());
            if std::io::stdin().lock().read_line(&mut line)? == 0 {
                bail!("standard input has no more PIN lines");
            }
            return Ok(Zeroizing::new(
                line.trim_end_matches(['\r', '\n']).to_string(),
            ));
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

/// The name a registered device gets in security info: this machine's host name.
fn device_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "this computer".into());
    format!("Terminal on {host}")
}

type Found = Vec<(DeviceAccount, SignInRequest)>;

/// The requests waiting for every registered account. A server that can't be reached is
/// reported and the others are still asked.
fn fetch_requests(vault: &Vault) -> anyhow::Result<Found> {
    let client = device::Client::new();
    let mut found = Vec::new();
    for a in &vault.devices {
        match client.pending(a) {
            Ok(list) => found.extend(list.into_iter().map(|r| (a.clone(), r))),
            Err(e) => eprintln!("{}: {e}", a.label()),
        }
    }
    Ok(found)
}

/// What a line typed during `listen` does to the request shown last.
#[derive(Debug, PartialEq, Eq)]
enum Typed {
    Approve(String),
    Deny,
    NotMe,
    CantSee,
}

fn typed(line: &str) -> Option<Typed> {
    let t = line.trim();
    match t {
        "d" | "deny" => Some(Typed::Deny),
        "n" | "not-me" => Some(Typed::NotMe),
        "?" => Some(Typed::CantSee),
        _ if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => {
            Some(Typed::Approve(t.to_string()))
        }
        _ => None,
    }
}

const LISTEN_HELP: &str =
    "    type the number shown on the sign-in page and Enter to approve; d to deny; n for \
                           \"It's not me\"; ? if you can't see the number";

/// `listen`: one channel per account; requests are printed as they arrive (and withdrawn ones
/// said so), until Ctrl-C or until no account may listen any more. Lines typed meanwhile answer
/// the request shown last (the App Lock was unlocked to start listening, so approvals carry it).
fn listen(accounts: Vec<DeviceAccount>, json: bool) -> anyhow::Result<()> {
    use countersign_authenticator::channel::{self, ChannelEvent};
    if accounts.is_empty() {
        bail!("no account is registered for sign-in requests; add one with an activation link");
    }
    // One TLS provider for the process (the WebSocket client's rustls).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    // Typed lines, read on a thread of their own (reading standard input blocks).
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    rt.block_on(async move {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut live = accounts.len();
        for (i, a) in accounts.iter().enumerate() {
            tokio::spawn(channel::run(a.clone(), i, tx.clone()));
        }
        let redisplay = tx.clone();
        drop(tx);
        let mut out = std::io::stdout();
        // The requests shown and not withdrawn, newest last.
        let mut shown: Vec<(usize, SignInRequest)> = Vec::new();
        loop {
            let (i, event) = tokio::select! {
                e = rx.recv() => match e {
                    Some(e) => e,
                    None => return Ok(()),
                },
                Some(line) = lines.recv() => {
                    let Some(cmd) = typed(&line) else {
                        eprintln!("{LISTEN_HELP}");
                        continue;
                    };
                    let Some((i, r)) = shown.last().cloned() else {
                        eprintln!("No sign-in request is waiting.");
                        continue;
                    };
                    let a = accounts[i].clone();
                    use countersign_proto::device::Decision;
                    let (decision, number) = match cmd {
                        Typed::Approve(n) => (Decision::Approve, Some(n)),
                        Typed::Deny => (Decision::Deny, None),
                        Typed::NotMe => (Decision::NotMe, None),
                        Typed::CantSee => {
                            // Hidden for 3 seconds: time to look at the sign-in page.
                            shown.pop();
                            eprintln!("Hidden for 3 seconds: look at the sign-in page for the number.");
                            let again = redisplay.clone();
                            tokio::spawn(async move {
                                tokio::time::sleep(std::time::Duration::from_secs(3)).await;
                                let _ = again.send((i, ChannelEvent::Request(r)));
                            });
                            continue;
                        }
                    };
                    let id = r.id.clone();
                    let answered = tokio::task::spawn_blocking(move || {
                        let res = device::Client::new().answer(&a, &id, decision, number.as_deref(), true, r.passwordless);
                        (a, res)
                    })
                    .await?;
                    shown.retain(|(_, s)| s.id != r.id);
                    let line = match answered {
                        (a, Ok(result)) => result_text(result, &a),
                        (_, Err(e)) => format!("Not answered: {e}"),
                    };
                    writeln!(out, "{line}")?;
                    out.flush()?;
                    continue;
                }
            };
            match &event {
                ChannelEvent::Request(r) => {
                    shown.retain(|(_, s)| s.id != r.id);
                    shown.push((i, r.clone()));
                }
                ChannelEvent::Withdrawn(id) => {
                    let before = shown.len();
                    shown.retain(|(_, s)| &s.id != id);
                    if before == shown.len() {
                        continue; // answered here, or never shown
                    }
                }
                _ => {}
            }
            let a = &accounts[i];
            let line = match (&event, json) {
                (ChannelEvent::Request(r), true) => serde_json::json!({
                    "type": "request", "server": a.server, "request": r,
                })
                .to_string(),
                (ChannelEvent::Withdrawn(id), true) => serde_json::json!({
                    "type": "withdrawn", "server": a.server, "id": id,
                })
                .to_string(),
                (ChannelEvent::Request(r), false) => format!("{}\n{LISTEN_HELP}", describe(a, r)),
                (ChannelEvent::Withdrawn(id), false) => {
                    format!("{:.10}  answered, expired or replaced: no longer waiting", id)
                }
                (ChannelEvent::Ready, _) => {
                    eprintln!("{}: listening", a.label());
                    continue;
                }
                (ChannelEvent::Disconnected { reason, retry_in }, _) => {
                    eprintln!(
                        "{}: disconnected ({reason}); retrying in {:.1} s",
                        a.label(),
                        retry_in.as_secs_f32()
                    );
                    continue;
                }
                (ChannelEvent::Refused { message, .. }, _) => {
                    eprintln!("{}: {message}", a.label());
                    live -= 1;
                    if live == 0 {
                        return Err(anyhow::anyhow!("no account can receive requests"));
                    }
                    continue;
                }
            };
            writeln!(out, "{line}")?;
            out.flush()?;
        }
    })
}

/// What every sign-in request's id starts with.
const REQUEST_ID_START: &str = "req_";

/// The one pending request whose id is or starts with `prefix`: at least 6 characters after the
/// `req_` every id starts with, which may be left out.
fn one_request(vault: &Vault, prefix: &str) -> anyhow::Result<(DeviceAccount, SignInRequest)> {
    let prefix = prefix.trim();
    let distinct = |id: &str| id.strip_prefix(REQUEST_ID_START).unwrap_or(id).to_string();
    let given = distinct(prefix);
    if given.len() < 6 {
        bail!("give at least the first 6 characters of the request's id after 'req_' (see `requests`)");
    }
    let mut matching: Vec<_> = fetch_requests(vault)?
        .into_iter()
        .filter(|(_, r)| distinct(&r.id).starts_with(&given))
        .collect();
    match matching.len() {
        1 => Ok(matching.remove(0)),
        0 => bail!("no waiting sign-in request starts with '{prefix}' (it may have expired or been answered)"),
        _ => bail!("more than one request starts with '{prefix}'; give more of its id"),
    }
}

/// One request as a line: what a person needs to decide.
fn describe(a: &DeviceAccount, r: &SignInRequest) -> String {
    let app = r.application.as_deref().unwrap_or("an application");
    let place = match &r.location {
        Some(l) => {
            let named: Vec<&str> = [l.city.as_deref(), l.country.as_deref()]
                .into_iter()
                .flatten()
                .collect();
            if named.is_empty() {
                format!(" from {}", l.address)
            } else {
                format!(" from {} ({})", named.join(", "), l.address)
            }
        }
        None => String::new(),
    };
    let short: String = r.id.chars().take(10).collect();
    let left = (r.expires_at - now() as i64).max(0);
    // A phone sign-in request signs the person in with no password: it says so.
    let how = if r.passwordless {
        " without a password (phone sign-in)"
    } else {
        ""
    };
    format!(
        "{short}  {}: sign in to {app}{place}{how} at {} — expires in {left} s; enter the {}-digit number shown",
        a.label(),
        clock_time(r.created_at),
        r.digits
    )
}

/// `HH:MM:SS UTC` of a Unix time.
fn clock_time(t: i64) -> String {
    let s = t.rem_euclid(86_400);
    format!("{:02}:{:02}:{:02} UTC", s / 3600, s / 60 % 60, s % 60)
}

fn result_text(r: countersign_proto::device::AnswerResult, a: &DeviceAccount) -> String {
    use countersign_proto::device::AnswerResult as R;
    match r {
        R::Approved => format!("Approved: {} is signing in", a.upn),
        R::Denied => "Denied: the sign-in was refused".into(),
        R::Reported => {
            "Reported: the sign-in was refused and your organization was told it wasn't you".into()
        }
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
                    let link = device::parse_activation(t)?;
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

/// Reads a cross-device link (or its QR image), asks the server what it is for, and shows the
/// site and the code to compare with the computer's page.
fn show_link(
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

fn passkey(
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
