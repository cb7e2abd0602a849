//! `countersign`: the server binary. `serve` runs the identity provider; `admin` manages tenants,
//! users, groups, roles, applications, keys and reads the sign-in log, on the configured store.

mod admin;
mod config;
mod demo;
mod serve;

use clap::{Parser, Subcommand};

/// mimalloc returns freed memory to the system: with glibc's allocator every Argon2 hash (19 MiB)
/// raised the mmap threshold and the freed blocks stayed resident (480 MB after a sign-in load
/// test, against 16 MB with mimalloc; see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "countersign",
    version,
    about = "Countersign: self-hosted sign-in with OpenID Connect"
)]
struct Cli {
    /// TOML configuration file.
    #[arg(long, global = true, env = "COUNTERSIGN_CONFIG")]
    config: Option<PathBuf>,
    /// Directory of the embedded SQLite database.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// PostgreSQL URL (postgres://user@host/db) instead of the embedded database.
    #[arg(long, global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(serve::ServeArgs),
    /// Manage the directory and read logs.
    Admin(admin::AdminArgs),
}

/// Writes `line` to standard output. When nobody reads it any more (`countersign admin … | head`)
/// the command has nothing left to do and ends quietly; any other failure to write is an error.
/// (`println!` would panic on the closed pipe.)
pub fn print_line(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write the output: {e}");
        std::process::exit(1);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let overrides = config::Overrides {
        data_dir: cli.data_dir.clone(),
        database_url: cli.database_url.clone(),
        ..Default::default()
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let json = matches!(&cli.command, Command::Admin(a) if a.json);
    let result = rt.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(cli.config.as_deref(), overrides, args).await,
            Command::Admin(args) => admin::run(cli.config.as_deref(), overrides, args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `admin --json`: errors are JSON too, so a script reads every outcome the same way.
        Err(e) if json => {
            let body = serde_json::json!({ "error": format!("{e:#}") });
            eprintln!("{}", admin::escape_json(&body.to_string()));
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {}", admin::escape_for_terminal(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}
