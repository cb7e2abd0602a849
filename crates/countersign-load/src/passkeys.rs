//! The `passkey` scenario: whole passkey sign-ins with no name typed, answered by a software
//! authenticator (`countersign_testkit::passkey`). Preparation signs `--user` in with
//! `--password` and registers one passkey in security info (passkeys must be on in the policy,
//! and `--base` must be the server's `public_url`: the answers carry it as their origin). The
//! passkey reports no signature counter, as synced passkeys do, so that every worker may use it
//! at once. One iteration is one sign-in: the name page (a bare visit), the options, the answer
//! — three requests, ending in a session.

use crate::codes::between;
use crate::stats::Summary;
use crate::Args;
use anyhow::{anyhow, bail, Context};
use countersign_testkit::passkey::{Answer, SoftPasskey};
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::Mutex;

fn csrf_of(html: &str) -> anyhow::Result<String> {
    hidden(html, "csrf")
}

/// The value of the hidden input `name`.
fn hidden(html: &str, name: &str) -> anyhow::Result<String> {
    Ok(between(html, &format!("name=\"{name}\" value=\""), '"')?.to_string())
}

fn cookie(r: &reqwest::Response, name: &str) -> anyhow::Result<String> {
    crate::codes::cookie(r, name).ok_or_else(|| anyhow!("no {name} cookie"))
}

/// Signs `--user` in with the password and registers a counter-less passkey.
async fn register(args: &Args) -> anyhow::Result<SoftPasskey> {
    let web = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let t = format!("{}/{}", args.base, args.tenant);
    let page = web.get(format!("{t}/login")).send().await?.text().await?;
    let form = [("csrf", csrf_of(&page)?), ("username", args.user.clone())];
    web.post(format!("{t}/login/username"))
        .form(&form)
        .send()
        .await?;
    let page = web.get(format!("{t}/login")).send().await?.text().await?;
    let form = [
        ("csrf", csrf_of(&page)?),
        ("password", args.password.clone()),
    ];
    let r = web
        .post(format!("{t}/login/password"))
        .form(&form)
        .send()
        .await?;
    if r.status() != 303 {
        bail!("signing in {} with the password failed", args.user);
    }
    let page = web
        .get(format!("{t}/security-info"))
        .send()
        .await?
        .text()
        .await?;
    let csrf = csrf_of(&page)?;
    let form = [("csrf", csrf.as_str()), ("method", "passkey")];
    let r = web
        .post(format!("{t}/security-info/add"))
        .form(&form)
        .send()
        .await?;
    if r.status() != 200 {
        bail!(
            "security info refused a passkey ({}): are passkeys on in the policy, and has {} no \
             passkey yet (a fresh data directory)?",
            r.status(),
            args.user
        );
    }
    let page = r.text().await?;
    let options = between(&page, "data-passkey-create=\"", '"')?
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    let options: Value = serde_json::from_str(&options).context("the passkey options")?;
    let synced = Answer {
        synced: true,
        ..Answer::default()
    };
    let (passkey, answer) = SoftPasskey::register(&options, &args.base, &synced);
    let form = [
        ("csrf", csrf.as_str()),
        ("ceremony", &hidden(&page, "ceremony")?),
        ("credential", &answer.to_string()),
    ];
    let r = web
        .post(format!("{t}/security-info/passkey"))
        .form(&form)
        .send()
        .await?;
    if r.status() != 303 {
        bail!("registering the passkey failed ({})", r.status());
    }
    Ok(passkey)
}

/// One sign-in with no name: a bare visit of the name page, the options, the answer.
async fn sign_in(
    client: &reqwest::Client,
    args: &Args,
    passkey: &Mutex<SoftPasskey>,
) -> anyhow::Result<()> {
    let t = format!("{}/{}", args.base, args.tenant);
    let r = client.get(format!("{t}/login")).send().await?;
    let flow = cookie(&r, "cs_flow")?;
    let csrf = csrf_of(&r.text().await?)?;
    let r = client
        .post(format!("{t}/login/passkey/options"))
        .header("cookie", &flow)
        .form(&[("csrf", &csrf)])
        .send()
        .await?;
    if r.status() != 200 {
        bail!("options: {}", r.status());
    }
    let options: Value = r.json().await?;
    let no_counter = Answer {
        counter: Some(0),
        ..Answer::default()
    };
    let answer = passkey
        .lock()
        .await
        .assert(&options, &args.base, &no_counter);
    let ceremony = options["ceremony"].as_str().unwrap_or_default();
    let form = [
        ("csrf", csrf.as_str()),
        ("ceremony", ceremony),
        ("credential", &answer.to_string()),
    ];
    let r = client
        .post(format!("{t}/login/passkey"))
        .header("cookie", &flow)
        .form(&form)
        .send()
        .await?;
    if r.status() != 303 || cookie(&r, "cs_session").is_err() {
        bail!("the answer was refused: {}", r.status());
    }
    Ok(())
}

struct Worker {
    client: reqwest::Client,
    args: Args,
    passkey: Arc<Mutex<SoftPasskey>>,
}

impl crate::Step for Worker {
    async fn step(&mut self) -> anyhow::Result<()> {
        sign_in(&self.client, &self.args, &self.passkey).await
    }
}

pub async fn run(args: &Args, client: &reqwest::Client) -> anyhow::Result<Summary> {
    let passkey = Arc::new(Mutex::new(register(args).await?));
    let workers = (0..args.concurrency)
        .map(|_| Worker {
            client: client.clone(),
            args: args.clone(),
            passkey: passkey.clone(),
        })
        .collect();
    // The load generator shares the machine: what it costs says how much is left to the server.
    let me = std::process::id();
    let before = crate::devices::cpu_ticks(me);
    let summary = crate::drive(args, "passkey", workers).await?;
    if let (Some(b), Some(a)) = (before, crate::devices::cpu_ticks(me)) {
        println!(
            "load generator CPU per sign-in: {:.3} ms",
            // /proc counts in USER_HZ: 100 per second.
            (a - b) as f64 * 10.0 / summary.ok.max(1) as f64
        );
    }
    Ok(summary)
}
