//! The HTTP steps of each scenario, with cookies handled by hand so that all workers share one
//! connection pool.

use crate::Args;
use anyhow::{anyhow, bail, Context};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::Digest;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    PasswordSignIn,
    Refresh,
    Throttled,
}

pub struct Worker {
    args: Args,
    client: reqwest::Client,
    scenario: Scenario,
    refresh_token: String,
    /// For `Throttled`: the flow cookie and CSRF token of a sign-in stuck at the password step.
    flow_cookie: String,
    csrf: String,
    /// Who this worker signs in as.
    user: String,
}

fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or("").to_string())
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

fn csrf_of(html: &str) -> anyhow::Result<String> {
    let key = "name=\"csrf\" value=\"";
    let i = html
        .find(key)
        .ok_or_else(|| anyhow!("no csrf token on the page"))?;
    let rest = &html[i + key.len()..];
    Ok(rest[..rest.find('"').unwrap_or(0)].to_string())
}

fn pkce() -> (String, String) {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    let v = URL_SAFE_NO_PAD.encode(b);
    let c = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(v.as_bytes()));
    (v, c)
}

impl crate::Step for Worker {
    async fn step(&mut self) -> anyhow::Result<()> {
        self.iteration().await
    }
}

impl Worker {
    pub async fn prepare(
        args: &Args,
        client: &reqwest::Client,
        scenario: Scenario,
        index: usize,
    ) -> anyhow::Result<Self> {
        let mut w = Worker {
            args: args.clone(),
            client: client.clone(),
            scenario,
            refresh_token: String::new(),
            flow_cookie: String::new(),
            csrf: String::new(),
            user: match args.signin_users {
                0 => args.user.clone(),
                n => format!(
                    "{}{}@{}",
                    args.user_prefix,
                    index % n,
                    domain_of(&args.user)
                ),
            },
        };
        match scenario {
            Scenario::PasswordSignIn => {}
            Scenario::Refresh => {
                let tokens = w
                    .sign_in()
                    .await
                    .context("signing in to get a refresh token")?;
                w.refresh_token = tokens["refresh_token"]
                    .as_str()
                    .ok_or_else(|| anyhow!("no refresh token (is offline_access allowed?)"))?
                    .to_string();
            }
            Scenario::Throttled => {
                // Each worker locks its own (non-existent) account name with 10 failures, then
                // keeps its flow at the password step.
                let name = format!("load-locked-{index}@{}", domain_of(&args.user));
                let (cookie, csrf) = w.start_flow().await?;
                // A bare visit's flow is stored under a new cookie when the name is posted.
                let cookie = w.post_username(&cookie, &csrf, &name).await?;
                w.csrf = w.csrf_of_page(&cookie).await?;
                w.flow_cookie = cookie;
                for _ in 0..10 {
                    let _ = w.post_password("wrong-password-for-load").await;
                }
            }
        }
        Ok(w)
    }

    async fn iteration(&mut self) -> anyhow::Result<()> {
        match self.scenario {
            Scenario::PasswordSignIn => self.sign_in().await.map(|_| ()),
            Scenario::Refresh => {
                let body = self
                    .token(&[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", &self.refresh_token.clone()),
                        ("client_id", &self.args.client_id.clone()),
                    ])
                    .await?;
                self.refresh_token = body["refresh_token"]
                    .as_str()
                    .ok_or_else(|| anyhow!("no refresh token in {body}"))?
                    .to_string();
                Ok(())
            }
            Scenario::Throttled => {
                let status = self.post_password("wrong-password-for-load").await?;
                if status != 401 {
                    bail!("expected 401 for a locked account, got {status}");
                }
                Ok(())
            }
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}{path}", self.args.base, self.args.tenant)
    }

    async fn start_flow(&self) -> anyhow::Result<(String, String)> {
        let r = self.client.get(self.url("/login")).send().await?;
        let cookie = set_cookie(&r, "cs_flow").ok_or_else(|| anyhow!("no flow cookie"))?;
        let csrf = csrf_of(&r.text().await?)?;
        Ok((cookie, csrf))
    }

    /// Posts the name; returns the flow cookie to go on with (a new one for a bare visit's flow).
    async fn post_username(&self, cookie: &str, csrf: &str, name: &str) -> anyhow::Result<String> {
        let r = self
            .client
            .post(self.url("/login/username"))
            .header("cookie", cookie)
            .form(&[("csrf", csrf), ("username", name)])
            .send()
            .await?;
        if r.status() != 303 {
            bail!("username step: {}", r.status());
        }
        Ok(set_cookie(&r, "cs_flow").unwrap_or_else(|| cookie.to_string()))
    }

    async fn csrf_of_page(&self, cookie: &str) -> anyhow::Result<String> {
        let page = self
            .client
            .get(self.url("/login"))
            .header("cookie", cookie)
            .send()
            .await?
            .text()
            .await?;
        csrf_of(&page)
    }

    async fn post_password(&self, password: &str) -> anyhow::Result<u16> {
        let r = self
            .client
            .post(self.url("/login/password"))
            .header("cookie", &self.flow_cookie)
            .form(&[("csrf", self.csrf.as_str()), ("password", password)])
            .send()
            .await?;
        let status = r.status().as_u16();
        let _ = r.bytes().await;
        Ok(status)
    }

    async fn token(&self, form: &[(&str, &str)]) -> anyhow::Result<serde_json::Value> {
        let r = self
            .client
            .post(self.url("/oauth2/v2.0/token"))
            .form(form)
            .send()
            .await?;
        let status = r.status();
        let body: serde_json::Value = r.json().await?;
        if !status.is_success() {
            bail!("token endpoint: {status} {body}");
        }
        Ok(body)
    }

    /// One complete sign-in: authorize, both pages, the code, the token exchange.
    async fn sign_in(&mut self) -> anyhow::Result<serde_json::Value> {
        let (verifier, challenge) = pkce();
        let r = self
            .client
            .get(self.url("/oauth2/v2.0/authorize"))
            .query(&[
                ("client_id", self.args.client_id.as_str()),
                ("redirect_uri", &self.args.redirect_uri),
                ("response_type", "code"),
                ("scope", "openid profile offline_access"),
                ("state", "load"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ])
            .send()
            .await?;
        let flow = set_cookie(&r, "cs_flow")
            .ok_or_else(|| anyhow!("authorize: no flow ({})", r.status()))?;
        let csrf = self.csrf_of_page(&flow).await?;
        let user = self.user.clone();
        self.post_username(&flow, &csrf, &user).await?;
        let r = self
            .client
            .post(self.url("/login/password"))
            .header("cookie", &flow)
            .form(&[("csrf", csrf.as_str()), ("password", &self.args.password)])
            .send()
            .await?;
        let to = location(&r);
        if r.status() != 303 || !to.starts_with(&self.args.redirect_uri) {
            bail!(
                "password step: {} (throttled or wrong password?)",
                r.status()
            );
        }
        let code = url::Url::parse(&to)?
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .ok_or_else(|| anyhow!("no code in {to}"))?;
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &self.args.redirect_uri.clone()),
            ("code_verifier", &verifier),
            ("client_id", &self.args.client_id.clone()),
        ])
        .await
    }
}

fn domain_of(upn: &str) -> &str {
    upn.split_once('@').map(|(_, d)| d).unwrap_or("contoso.com")
}
