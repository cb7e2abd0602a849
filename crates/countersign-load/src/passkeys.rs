//! The passkey scenarios, answered by a software authenticator (`countersign_testkit::passkey`).
//! Preparation signs `--user` in with `--password` and registers one passkey in security info
//! (passkeys must be on in the policy, and `--base` must be the server's `public_url`: the answers
//! carry it as their origin). The passkey reports no signature counter, as synced passkeys do, so
//! that every worker may use it at once.
//! - `passkey`: one iteration is a whole sign-in with no name typed: the name page (a bare visit),
//!   the options, the answer — three requests, ending in a session.
//! - `passkey-ceremony`: one iteration is the ceremony alone, begin (the options) and finish (the
//!   answer, ending in a session), on the page each worker visited once: what a browser does when
//!   its person signs in again from the same page, and the benchmark's shape in the passkey issue.

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

/// A bare visit of the name page: its flow cookie and anti-CSRF token.
async fn visit(client: &reqwest::Client, t: &str) -> anyhow::Result<(String, String)> {
    let r = client.get(format!("{t}/login")).send().await?;
    let flow = cookie(&r, "cs_flow")?;
    Ok((flow, csrf_of(&r.text().await?)?))
}

/// A sign-in with no name on the page `(flow, csrf)`: the options, then the answer.
async fn ceremony(
    client: &reqwest::Client,
    args: &Args,
    t: &str,
    (flow, csrf): &(String, String),
    passkey: &Mutex<SoftPasskey>,
) -> anyhow::Result<()> {
    let r = client
        .post(format!("{t}/login/passkey/options"))
        .header("cookie", flow)
        .form(&[("csrf", csrf)])
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
        .header("cookie", flow)
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
    tenant_url: String,
    passkey: Arc<Mutex<SoftPasskey>>,
    /// `passkey-ceremony`: the page visited once, for every sign-in. `None`: a visit each time.
    page: Option<(String, String)>,
}

impl crate::Step for Worker {
    async fn step(&mut self) -> anyhow::Result<()> {
        let visited;
        let page = match &self.page {
            Some(p) => p,
            None => {
                visited = visit(&self.client, &self.tenant_url).await?;
                &visited
            }
        };
        ceremony(
            &self.client,
            &self.args,
            &self.tenant_url,
            page,
            &self.passkey,
        )
        .await
    }
}

/// The passkey registered for `--user` by the first passkey scenario of a run, for the next.
pub type Registered = Option<Arc<Mutex<SoftPasskey>>>;

/// Runs `passkey` (`page_once`: false) or `passkey-ceremony` (true).
pub async fn run(
    args: &Args,
    client: &reqwest::Client,
    page_once: bool,
    registered: &mut Registered,
) -> anyhow::Result<Summary> {
    let passkey = match registered {
        Some(p) => p.clone(),
        None => registered
            .insert(Arc::new(Mutex::new(register(args).await?)))
            .clone(),
    };
    let tenant_url = format!("{}/{}", args.base, args.tenant);
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let page = match page_once {
            true => Some(visit(client, &tenant_url).await?),
            false => None,
        };
        workers.push(Worker {
            client: client.clone(),
            args: args.clone(),
            tenant_url: tenant_url.clone(),
            passkey: passkey.clone(),
            page,
        });
    }
    let name = if page_once {
        "passkey-ceremony"
    } else {
        "passkey"
    };
    crate::drive_measured(args, name, "sign-in", workers).await
}
