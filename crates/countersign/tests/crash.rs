//! Crash safety: `kill -9` of the server in the middle of a burst of sign-ins, verification codes
//! and code redemptions, then a restart on the same data. After every crash:
//! - every acknowledged write is still there (a session whose cookie the browser got still works);
//! - every consumed single-use credential stays consumed (an accepted verification code and a
//!   redeemed authorization code are refused when presented again);
//! - SQLite's integrity check passes (`countersign admin check`).
//!
//! An attempt in flight at the kill stays counted against its lockout keys (the safe side), so
//! each round comes from client addresses of its own (the server trusts `X-Forwarded-For` here),
//! as a crash every second from one address would end up locking that address.
//!
//! `CRASH_ROUNDS` sets the number of rounds (3 by default; `scripts/crash-loop.sh N` runs
//! hundreds on a release build).

#![allow(clippy::unwrap_used)] // test code: a failing unwrap is a failing test

use countersign_testkit::process::Server;
use countersign_testkit::{csrf_of, location, oathtool_code, pkce, query_param, WebClient};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const BIN: &str = env!("CARGO_BIN_EXE_countersign");
const PASSWORD: &str = "tulip-harbor-lantern"; // alice's demo password, given to every user here
const REDIRECT: &str = "http://localhost:8081/callback"; // the demo app's

fn admin(dir: &Path, args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new(BIN)
        .arg("--data-dir")
        .arg(dir)
        .arg("admin")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "admin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A cookie-keeping browser that comes from client address `addr`.
fn browser(base: &str, addr: &str) -> WebClient {
    let mut h = reqwest::header::HeaderMap::new();
    h.insert("x-forwarded-for", addr.parse().unwrap());
    WebClient {
        http: reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(h)
            .build()
            .unwrap(),
        base: base.to_string(),
    }
}

/// The documentation range 198.18.0.0/15, one address per round and worker.
fn addr(round: usize, worker: usize) -> String {
    format!("198.18.{}.{}", round % 256, worker + 1)
}

/// What the burst got acknowledged, to be checked after the crash.
#[derive(Default)]
struct Acknowledged {
    /// Browsers whose sign-in completed (they hold a session cookie).
    sessions: Vec<WebClient>,
    /// (user, code) pairs the server accepted.
    codes: Vec<(String, String)>,
    /// (authorization code, PKCE verifier) pairs the token endpoint redeemed.
    redeemed: Vec<(String, String)>,
}

/// A fresh user with an authenticator enrolled through security info; returns its secret.
async fn user_with_authenticator(dir: &Path, base: &str, name: &str) -> String {
    let upn = format!("{name}@contoso.com");
    admin(
        dir,
        &[
            "user",
            "create",
            &upn,
            "--tenant",
            "contoso",
            "--display-name",
            name,
            "--password-stdin",
        ],
        Some(&format!("{PASSWORD}\n")),
    );
    let web = WebClient::new(base);
    assert_eq!(web.sign_in("contoso", &upn, PASSWORD).await.status(), 303);
    let at = now();
    web.enrol_authenticator("contoso", |s| oathtool_code(s, at, &[]))
        .await
        .expect("oathtool")
}

/// A browser at the "Enter code" step of `upn`'s sign-in; returns it with the step's CSRF token.
async fn at_code_step(base: &str, upn: &str, from: &str) -> (WebClient, String) {
    let web = browser(base, from);
    assert_eq!(web.sign_in("contoso", upn, PASSWORD).await.status(), 303);
    let page = web.get("/contoso/login").await.text().await.unwrap();
    assert!(page.contains("Enter code"), "{upn}");
    (web, csrf_of(&page).unwrap())
}

/// A password sign-in that gives up quietly when the server goes away; the final response.
async fn try_sign_in(web: &WebClient, upn: &str, password: &str) -> Option<reqwest::Response> {
    let page = web
        .http
        .get(web.url("/contoso/login"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let csrf = csrf_of(&page)?;
    let form = [("csrf", csrf.as_str()), ("username", upn)];
    web.http
        .post(web.url("/contoso/login/username"))
        .form(&form)
        .send()
        .await
        .ok()?;
    // the flow is stored under a new cookie and token once the name is posted
    let page = web
        .http
        .get(web.url("/contoso/login"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let csrf = csrf_of(&page)?;
    let form = [("csrf", csrf.as_str()), ("password", password)];
    web.http
        .post(web.url("/contoso/login/password"))
        .form(&form)
        .send()
        .await
        .ok()
}

/// Sign-in to the demo app (public client, PKCE) up to an authorization code.
async fn authorization_code(base: &str, from: &str) -> Option<(String, String)> {
    let web = browser(base, from);
    let (verifier, challenge) = pkce();
    let mut url = url::Url::parse(&format!("{base}/contoso/oauth2/v2.0/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", "demo-app")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    web.http.get(url.as_str()).send().await.ok()?;
    let r = try_sign_in(&web, "bob", "granite-meadow-violin").await?;
    Some((query_param(&location(&r), "code")?, verifier))
}

async fn redeem(base: &str, code: &str, verifier: &str) -> Option<u16> {
    let r = reqwest::Client::new()
        .post(format!("{base}/contoso/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", "demo-app"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .ok()?;
    Some(r.status().as_u16())
}

/// One round: a burst of work, `kill -9` at a random moment in it, a restart, and the checks.
/// One round; returns how many sign-ins it acknowledged (and checked).
async fn round(dir: &Path, n: usize, users: &[(String, String)]) -> usize {
    let trust = [("COUNTERSIGN_TRUST_FORWARDED_FOR", "true")];
    let mut s = Server::start(BIN, dir, &[], &trust);
    let base = s.base.clone();
    // Browsers waiting at "Enter code", and codes for the previous, current and next time step.
    let mut waiting = Vec::new();
    for (upn, secret) in users {
        let t = now();
        let codes: Vec<String> = [t - 30, t, t + 30]
            .iter()
            .map(|at| oathtool_code(secret, *at, &[]).unwrap())
            .collect();
        waiting.push((
            upn.clone(),
            at_code_step(&base, upn, &addr(n, 9)).await,
            codes,
        ));
    }
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Acknowledged::default()));
    let mut tasks = Vec::new();
    for (upn, (web, csrf), codes) in waiting {
        let acked = acked.clone();
        tasks.push(tokio::spawn(async move {
            for code in codes {
                let Ok(r) = web
                    .http
                    .post(web.url("/contoso/login/code"))
                    .form(&[("csrf", csrf.as_str()), ("code", code.as_str())])
                    .send()
                    .await
                else {
                    return;
                };
                if r.status() == 303 {
                    acked.lock().unwrap().codes.push((upn.clone(), code));
                    return; // the flow is finished; later codes would need a new one
                }
            }
        }));
    }
    for i in 0..6 {
        let (acked, base) = (acked.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                if i % 2 == 0 {
                    // a password sign-in to the account page
                    let web = browser(&base, &addr(n, i));
                    let Some(r) = try_sign_in(&web, "alice", PASSWORD).await else {
                        return;
                    };
                    if r.status() == 303 {
                        acked.lock().unwrap().sessions.push(web);
                    }
                } else {
                    let Some((code, verifier)) = authorization_code(&base, &addr(n, i)).await
                    else {
                        return;
                    };
                    match redeem(&base, &code, &verifier).await {
                        Some(200) => acked.lock().unwrap().redeemed.push((code, verifier)),
                        Some(_) => {}
                        None => return,
                    }
                }
            }
        }));
    }
    // kill -9 somewhere in the burst
    let delay = 150 + (now() as u64 * 7919 + n as u64 * 104_729) % 600;
    tokio::time::sleep(Duration::from_millis(delay)).await;
    s.kill();
    for t in tasks {
        let _ = t.await;
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());

    assert!(
        admin(dir, &["check"], None).contains("ok"),
        "round {n}: integrity"
    );
    let s = Server::start(BIN, dir, &[], &trust);
    for web in &acked.sessions {
        let web2 = WebClient {
            http: web.http.clone(),
            base: s.base.clone(),
        };
        let page = web2.get("/contoso/").await.text().await.unwrap();
        assert!(
            page.contains("My account"),
            "round {n}: an acknowledged session was lost"
        );
    }
    for (upn, code) in &acked.codes {
        let (web, csrf) = at_code_step(&s.base, upn, &addr(n, 10)).await;
        let r = web
            .post_form("/contoso/login/code", &[("csrf", &csrf), ("code", code)])
            .await;
        assert_eq!(r.status(), 401, "round {n}: an accepted code worked again");
    }
    for (code, verifier) in &acked.redeemed {
        assert_eq!(
            redeem(&s.base, code, verifier).await,
            Some(400),
            "round {n}: a redeemed authorization code worked again"
        );
    }
    println!(
        "round {n}: killed after {delay} ms; {} sessions, {} codes, {} redemptions acknowledged and intact",
        acked.sessions.len(),
        acked.codes.len(),
        acked.redeemed.len()
    );
    drop(s);
    acked.sessions.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_a_burst_loses_no_acknowledged_write() {
    if oathtool_code("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", 0, &[]).is_none() {
        return;
    }
    let rounds: usize = std::env::var("CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let dir = tempfile::tempdir().unwrap();
    let setup = Server::start(BIN, dir.path(), &["--demo"], &[]);
    let mut users = Vec::new();
    for i in 0..3 {
        let name = format!("crash{i}");
        let secret = user_with_authenticator(dir.path(), &setup.base, &name).await;
        users.push((format!("{name}@contoso.com"), secret));
    }
    drop(setup);
    let mut checked = 0;
    for n in 1..=rounds {
        // a refused code counts against its user: start each round unlocked
        for (upn, _) in &users {
            admin(
                dir.path(),
                &["user", "unlock", upn, "--tenant", "contoso"],
                None,
            );
        }
        checked += round(dir.path(), n, &users).await;
    }
    // A burst that never signed anyone in would check nothing: the walk itself must work.
    assert!(
        checked > 0,
        "no sign-in was acknowledged in {rounds} rounds"
    );
}
