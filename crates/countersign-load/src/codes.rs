//! The `codes` scenario: second-factor code checks through HTTP with replay protection on. A
//! correct code is accepted once per token and time step and ends a sign-in flow that cost a
//! password check, so the scenario prepares, for each of many users (each enrols an authenticator
//! app through security info first), three flows waiting at "Enter code" — one for each time step
//! the server accepts (previous, current, next) — waits for a fresh time step, and then submits
//! every user's codes in step order, all users at once: throughput and latency of the accepted
//! checks.

use crate::stats::Summary;
use crate::Args;
use anyhow::{anyhow, bail, Context};
use countersign_authenticator::{Account, Algorithm, Kind};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Semaphore;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(crate) fn cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or("").to_string())
}

pub(crate) fn between<'a>(html: &'a str, start: &str, end: char) -> anyhow::Result<&'a str> {
    let i = html
        .find(start)
        .ok_or_else(|| anyhow!("'{start}' not on the page"))?
        + start.len();
    let rest = &html[i..];
    Ok(&rest[..rest.find(end).unwrap_or(rest.len())])
}

#[derive(Clone)]
pub(crate) struct Site {
    pub(crate) args: Args,
    pub(crate) http: reqwest::Client,
    /// `{base}/{tenant}`, parsed once: parsing every request's whole URL took a twentieth of
    /// the generator's time in the phone sign-in scenario.
    tenant_url: reqwest::Url,
}

impl Site {
    pub(crate) fn new(args: Args, http: reqwest::Client) -> anyhow::Result<Self> {
        let tenant_url = reqwest::Url::parse(&format!("{}/{}", args.base, args.tenant))
            .context("--base and --tenant do not make a URL")?;
        Ok(Self {
            args,
            http,
            tenant_url,
        })
    }

    /// The tenant's `path` (from `/`).
    pub(crate) fn url(&self, path: &str) -> reqwest::Url {
        let mut u = self.tenant_url.clone();
        u.set_path(&format!("{}{path}", self.tenant_url.path()));
        u
    }

    /// Username and password on a fresh flow: returns (flow cookie, csrf, response).
    pub(crate) async fn password_steps(
        &self,
        user: &str,
    ) -> anyhow::Result<(String, String, reqwest::Response)> {
        let r = self.http.get(self.url("/login")).send().await?;
        let flow = cookie(&r, "cs_flow").ok_or_else(|| anyhow!("no flow cookie"))?;
        let csrf = between(&r.text().await?, "name=\"csrf\" value=\"", '"')?.to_string();
        let r = self
            .http
            .post(self.url("/login/username"))
            .header("cookie", &flow)
            .form(&[("csrf", csrf.as_str()), ("username", user)])
            .send()
            .await?;
        if r.status() != 303 {
            bail!("username step: {}", r.status());
        }
        // A bare visit's flow is stored under a new cookie, with a new token, once named.
        let flow = cookie(&r, "cs_flow").unwrap_or(flow);
        let page = self
            .http
            .get(self.url("/login"))
            .header("cookie", &flow)
            .send()
            .await?
            .text()
            .await?;
        let csrf = between(&page, "name=\"csrf\" value=\"", '"')?.to_string();
        let r = self
            .http
            .post(self.url("/login/password"))
            .header("cookie", &flow)
            .form(&[
                ("csrf", csrf.as_str()),
                ("password", self.args.password.as_str()),
            ])
            .send()
            .await?;
        if r.status() != 303 {
            bail!("password step for {user}: {}", r.status());
        }
        Ok((flow, csrf, r))
    }

    /// Signs in (a user with no second factor yet) and chooses "Add sign-in method" in security
    /// info with `method` (`code` or `authenticator`): the session cookie and the page shown.
    pub(crate) async fn add_method(
        &self,
        user: &str,
        method: &str,
    ) -> anyhow::Result<(String, String)> {
        let (_, _, r) = self.password_steps(user).await?;
        let session = cookie(&r, "cs_session").ok_or_else(|| anyhow!("no session for {user}"))?;
        let page = self
            .http
            .get(self.url("/security-info"))
            .header("cookie", &session)
            .send()
            .await?
            .text()
            .await?;
        let csrf = between(&page, "name=\"csrf\" value=\"", '"')?.to_string();
        let page = self
            .http
            .post(self.url("/security-info/add"))
            .header("cookie", &session)
            .form(&[("csrf", csrf.as_str()), ("method", method)])
            .send()
            .await?
            .text()
            .await?;
        Ok((session, page))
    }

    /// Signs in, enrols an authenticator app, and returns it.
    async fn enrol(&self, user: &str) -> anyhow::Result<Account> {
        let (session, page) = self.add_method(user, "code").await?;
        let csrf = between(&page, "name=\"csrf\" value=\"", '"')?.to_string();
        let secret = between(&page, "id=\"secret-key\">", '<')?.replace(' ', "");
        let id = between(&page, "name=\"id\" value=\"", '"')?.to_string();
        let account = Account {
            id: id.clone(),
            issuer: String::new(),
            name: user.to_string(),
            secret: base32::decode(base32::Alphabet::Rfc4648 { padding: false }, &secret)
                .ok_or_else(|| anyhow!("bad secret on the page"))?,
            algorithm: Algorithm::Sha1,
            digits: 6,
            kind: Kind::Totp { period: 30 },
        };
        let code = account.code(now()).code;
        let r = self
            .http
            .post(self.url("/security-info/verify"))
            .header("cookie", &session)
            .form(&[
                ("csrf", csrf.as_str()),
                ("id", id.as_str()),
                ("code", code.as_str()),
            ])
            .send()
            .await?;
        if r.status() != 303 {
            bail!("enrolment of {user}: {}", r.status());
        }
        Ok(account)
    }
}

/// A user ready for the burst: one flow waiting at "Enter code" per accepted time step.
struct Waiting {
    flows: Vec<(String, String)>,
    account: Account,
}

/// The time steps (relative to the current one) whose codes the server accepts: ±1 step, each
/// once per token, in increasing order (a later step makes the earlier ones replays).
const STEPS: [i64; 3] = [-1, 0, 1];

pub async fn run(args: &Args, http: &reqwest::Client) -> anyhow::Result<Summary> {
    let site = Site::new(args.clone(), http.clone())?;
    let domain = args
        .user
        .split_once('@')
        .map(|(_, d)| d)
        .unwrap_or("contoso.com");
    // Set-up, bounded in parallel: enrol, then leave flows waiting at "Enter code".
    let gate = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..args.users {
        let user = format!("{}{i}@{domain}", args.user_prefix);
        let (gate, site) = (gate.clone(), site.clone());
        set.spawn(async move {
            let _slot = gate.acquire().await?;
            let account = site.enrol(&user).await?;
            let mut flows = Vec::new();
            for _ in STEPS {
                let (flow, csrf, _) = site.password_steps(&user).await?;
                flows.push((flow, csrf));
            }
            anyhow::Ok(Waiting { flows, account })
        });
    }
    let mut prepared = Vec::new();
    while let Some(r) = set.join_next().await {
        prepared.push(r?.context("preparing a user (did the bench script create them?)")?);
    }
    // The enrolments accepted codes of this step and maybe of the one before: the burst starts at
    // the beginning of the step after next, so that its "previous step" codes are unused.
    let wait = 60 - now() % 30;
    eprintln!(
        "prepared {} users ({} flows) in {:.1} s; burst in {wait} s",
        prepared.len(),
        prepared.len() * STEPS.len(),
        started.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let t = now();
    let begin = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for w in prepared {
        let (gate, site) = (gate.clone(), site.clone());
        set.spawn(async move {
            let mut out = Vec::new();
            for ((flow, csrf), step) in w.flows.iter().zip(STEPS) {
                let code = w.account.code((t as i64 + step * 30) as u64).code;
                let _slot = gate.acquire().await?;
                let t0 = Instant::now();
                let r = site
                    .http
                    .post(site.url("/login/code"))
                    .header("cookie", flow)
                    .form(&[("csrf", csrf.as_str()), ("code", code.as_str())])
                    .send()
                    .await?;
                out.push((r.status() == 303, t0.elapsed()));
            }
            anyhow::Ok(out)
        });
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    while let Some(r) = set.join_next().await {
        match r? {
            Ok(results) => {
                for (ok, d) in results {
                    if ok {
                        lat.push(d);
                    } else {
                        errors += 1;
                    }
                }
            }
            Err(_) => errors += STEPS.len() as u64,
        }
    }
    Ok(Summary::new("codes", lat, errors, begin.elapsed()))
}
