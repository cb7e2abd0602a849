//! The command line: commands, their flags and help lines, and where the vault lives.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "countersign-authenticator",
    version,
    about = "Sign-in approvals and verification codes, behind a PIN"
)]
pub struct Cli {
    /// Where the vault lives.
    #[arg(long, global = true, env = "COUNTERSIGN_AUTHENTICATOR_HOME")]
    pub(super) home: Option<PathBuf>,
    /// Read the PIN (and for `change-pin`, then the new one) from standard input, one per line.
    #[arg(long, global = true)]
    pub(super) pin_stdin: bool,
    #[command(subcommand)]
    pub(super) command: Command,
}

#[derive(Subcommand)]
pub(super) enum Command {
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
pub(super) enum PasskeyCmd {
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
pub(super) enum PhoneCmd {
    /// "Enable phone sign-in" for an account registered for sign-in requests.
    Enable {
        /// The account: its sign-in name, or the start of it.
        account: String,
    },
}

pub(super) fn home(cli: &Cli) -> anyhow::Result<PathBuf> {
    if let Some(h) = &cli.home {
        return Ok(h.clone());
    }
    let base = std::env::var_os("HOME").context("set --home or COUNTERSIGN_AUTHENTICATOR_HOME")?;
    Ok(PathBuf::from(base).join(".countersign-authenticator"))
}
