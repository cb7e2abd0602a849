//! `countersign-load`: drives a running Countersign over HTTP with a fixed number of concurrent
//! workers for a bounded time and prints throughput and latency percentiles per scenario.
//!
//! Scenarios:
//! - `password-signin`: the whole browser-and-client code flow with a password (authorize →
//!   username → password → code → token); one iteration is one sign-in.
//! - `refresh`: refresh-token exchanges, each worker rotating its own token family.
//! - `throttled`: password attempts against a locked account (refused without hashing).
//! - `codes`: accepted second-factor codes, three per prepared user (see `codes.rs`); the users
//!   `{user-prefix}{0..users}@domain` with `--password` must exist.
//! - `devices`: push approvals through the device channel, `--users` devices connected at once,
//!   requests at `--rate` per second; delivery and round-trip latency, and the server's memory per
//!   idle device and CPU time per request with `--server-pid` (see `devices.rs`). The same
//!   prepared users.
//! - `phone`: whole passwordless phone sign-ins at `--rate` per second, the simulated devices
//!   (phone sign-in turned on for each) answering at once; completed sign-ins per second, their
//!   latency and the delivery (see `devices.rs`). The same prepared users.
//!
//! - `passkey`: whole passkey sign-ins with no name typed (name page, options, answer), answered
//!   by a software authenticator; `--user` gets one passkey first (see `passkeys.rs`). `--base`
//!   must be the server's `public_url` (e.g. `http://localhost:8080`): it is the answers' origin.
//! - `passkey-ceremony`: the same sign-ins without the page, which each worker visits once:
//!   begin (options) and finish (answer) only.
//! - `healthz`: `GET /healthz` (the store pinged, a small JSON answer): the cheapest exchange, what
//!   one HTTP request costs the server and this generator at the least.
//!
//! Only loopback targets are accepted: this tool is for measuring a server on this machine.

mod codes;
mod devices;
mod flow;
mod passkeys;
mod stats;

use anyhow::{bail, Context};
use clap::Parser;
use std::time::{Duration, Instant};

#[derive(Parser, Clone)]
#[command(
    name = "countersign-load",
    about = "Load generator for a running Countersign"
)]
pub struct Args {
    /// Base URL of the server (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub base: String,
    #[arg(long, default_value = "contoso")]
    pub tenant: String,
    /// A public client with redirect URI `--redirect-uri` (the demo data has one).
    #[arg(long, default_value = "demo-app")]
    pub client_id: String,
    #[arg(long, default_value = "http://localhost:8081/callback")]
    pub redirect_uri: String,
    #[arg(long, default_value = "alice@contoso.com")]
    pub user: String,
    #[arg(long, default_value = "tulip-harbor-lantern")]
    pub password: String,
    /// Scenarios to run, comma-separated (see the list above).
    #[arg(long, default_value = "password-signin,refresh,throttled")]
    pub scenarios: String,
    /// Concurrent workers per scenario.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Seconds per scenario (after warm-up).
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// For `codes`: how many users (created beforehand) to prepare.
    #[arg(long, default_value_t = 200)]
    pub users: usize,
    #[arg(long, default_value = "load")]
    pub user_prefix: String,
    /// For `password-signin` and `refresh`: spread the workers over this many users
    /// `{user-prefix}{0..n}@domain` (created beforehand, password `--password`) instead of all
    /// signing in as `--user`. One person rarely signs in many times at once, and ten attempts
    /// of one account in flight at once count against its lockout.
    #[arg(long, default_value_t = 0)]
    pub signin_users: usize,
    /// For `devices`: sign-in requests sent per second.
    #[arg(long, default_value_t = 100)]
    pub rate: u64,
    /// For `devices`: where the browsers sign in, when not `--base` (a second instance).
    #[arg(long)]
    pub browser_base: Option<String>,
    /// The server's process id (same machine), to read its CPU time per request or sign-in (and
    /// for `devices` its memory per connected device). Repeat it for a second instance: the
    /// memory is the first one's (where the devices connect), the CPU time the sum of all.
    #[arg(long)]
    pub server_pid: Vec<u32>,
    /// Threads that drive the load: 0 for one per core. With one, the generator wakes no other
    /// thread to hand over a response; on a machine it shares with the server, that leaves the
    /// server more of the cores (see BENCHMARKS.md).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Upper bound on requests per scenario.
    #[arg(long, default_value_t = 2_000_000)]
    pub max_requests: u64,
}

fn check_loopback(base: &str) -> anyhow::Result<()> {
    let u = url::Url::parse(base).context("--base is not a URL")?;
    match u.host_str() {
        Some("127.0.0.1" | "localhost" | "[::1]") => Ok(()),
        other => bail!("refusing to load {other:?}: only loopback targets are allowed"),
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    check_loopback(&args.base)?;
    let mut rt = if args.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    if args.threads > 1 {
        rt.worker_threads(args.threads);
    }
    rt.enable_all().build()?.block_on(run_scenarios(args))
}

async fn run_scenarios(args: Args) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(args.concurrency * 2)
        .build()?;
    println!(
        "target {}  tenant {}  concurrency {}  duration {} s",
        args.base, args.tenant, args.concurrency, args.duration
    );
    println!("{}", stats::Summary::header());
    let mut passkey = None;
    for scenario in args.scenarios.split(',').map(str::trim) {
        let summary = match scenario {
            "password-signin" => {
                run(&args, &client, scenario, flow::Scenario::PasswordSignIn).await?
            }
            "refresh" => run(&args, &client, scenario, flow::Scenario::Refresh).await?,
            "throttled" => run(&args, &client, scenario, flow::Scenario::Throttled).await?,
            "codes" => codes::run(&args, &client).await?,
            "passkey" => passkeys::run(&args, &client, false, &mut passkey).await?,
            "passkey-ceremony" => passkeys::run(&args, &client, true, &mut passkey).await?,
            "healthz" => {
                let workers = (0..args.concurrency)
                    .map(|_| Healthz {
                        client: client.clone(),
                        url: format!("{}/healthz", args.base),
                    })
                    .collect();
                drive_measured(&args, scenario, "request", workers).await?
            }
            "devices" | "phone" => {
                for s in devices::run(&args, &client, scenario == "phone").await? {
                    println!("{}", s.line());
                }
                continue;
            }
            other => bail!("unknown scenario '{other}'"),
        };
        println!("{}", summary.line());
    }
    Ok(())
}

/// One worker's iteration: one request, or one whole sign-in.
pub trait Step: Send + 'static {
    fn step(&mut self) -> impl std::future::Future<Output = anyhow::Result<()>> + Send;
}

async fn run(
    args: &Args,
    client: &reqwest::Client,
    name: &str,
    scenario: flow::Scenario,
) -> anyhow::Result<stats::Summary> {
    let mut workers = Vec::new();
    for w in 0..args.concurrency {
        workers.push(flow::Worker::prepare(args, client, scenario, w).await?);
    }
    drive(args, name, workers).await
}

/// `GET /healthz`, which must answer 200.
struct Healthz {
    client: reqwest::Client,
    url: String,
}

impl Step for Healthz {
    async fn step(&mut self) -> anyhow::Result<()> {
        let r = self.client.get(&self.url).send().await?;
        if r.status() != 200 {
            bail!("healthz: {}", r.status());
        }
        r.bytes().await?;
        Ok(())
    }
}

/// [`drive`], then prints the CPU time per iteration (`per`: what one is called) of this
/// generator and, with `--server-pid`, of the server. The two share the machine: what the
/// generator costs says how much is left to the server.
pub async fn drive_measured<W: Step>(
    args: &Args,
    name: &str,
    per: &str,
    workers: Vec<W>,
) -> anyhow::Result<stats::Summary> {
    let me = std::process::id();
    let before = (
        devices::cpu_ticks(me),
        devices::servers_cpu_ticks(&args.server_pid),
    );
    let summary = drive(args, name, workers).await?;
    let after = (
        devices::cpu_ticks(me),
        devices::servers_cpu_ticks(&args.server_pid),
    );
    // /proc counts in USER_HZ: 100 per second.
    let ms = |b: u64, a: u64| (a - b) as f64 * 10.0 / summary.ok.max(1) as f64;
    if let (Some(b), Some(a)) = (before.0, after.0) {
        println!("{name}: load generator CPU per {per}: {:.3} ms", ms(b, a));
    }
    if let (Some(b), Some(a), false) = (before.1, after.1, args.server_pid.is_empty()) {
        println!("{name}: server CPU per {per}: {:.3} ms", ms(b, a));
    }
    Ok(summary)
}

/// Runs the workers for `--duration` (or until `--max-requests` iterations in all) and sums up.
pub async fn drive<W: Step>(
    args: &Args,
    name: &str,
    workers: Vec<W>,
) -> anyhow::Result<stats::Summary> {
    let deadline = Duration::from_secs(args.duration);
    let budget = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(args.max_requests));
    let mut tasks = Vec::new();
    for mut state in workers {
        let budget = budget.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            let start = Instant::now();
            while start.elapsed() < deadline
                && budget
                    .fetch_update(
                        std::sync::atomic::Ordering::Relaxed,
                        std::sync::atomic::Ordering::Relaxed,
                        |b| b.checked_sub(1),
                    )
                    .is_ok()
            {
                let t = Instant::now();
                match state.step().await {
                    Ok(()) => lat.push(t.elapsed()),
                    Err(e) => {
                        errors += 1;
                        if errors <= 3 {
                            eprintln!("error: {e:#}");
                        }
                        // Nothing works: stop instead of hammering the server with failures.
                        if errors >= 50 && lat.is_empty() {
                            break;
                        }
                    }
                }
            }
            (lat, errors, start.elapsed())
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    let mut elapsed = Duration::ZERO;
    for t in tasks {
        let (lat, e, el) = t.await?;
        all.extend(lat);
        errors += e;
        elapsed = elapsed.max(el);
    }
    Ok(stats::Summary::new(name, all, errors, elapsed))
}
