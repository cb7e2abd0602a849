//! `countersign-authenticator`: the terminal front end of the authenticator. Accounts live in an
//! encrypted vault in `--home` (or `COUNTERSIGN_AUTHENTICATOR_HOME`); every command unlocks it
//! with the App Lock PIN, asked at the terminal or read from standard input (`--pin-stdin`), so
//! every approval is made with the App Lock. Codes need no network; sign-in requests are
//! fetched from and answered to each account's server.

mod terminal;

use clap::Parser;

fn main() {
    let cli = terminal::Cli::parse();
    if let Err(e) = terminal::run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
