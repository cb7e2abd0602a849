//! The `devices` scenario: push approvals through the device channel. It registers one device
//! for each of `--users` prepared users (a sign-in, security info's activation link, the
//! authenticator's own registration), connects them all (WebSocket, the authenticator's channel
//! client), measures the server's memory per idle connected device (`--server-pid`), leaves one
//! sign-in flow of each user at "Approve sign-in request", and then sends requests at `--rate`
//! per second ("Send another request" on those flows: no password hashing in the measured part).
//! For each request it measures the delivery (created → received on the device) and the round
//! trip (created → the approval, with the number, seen by the waiting page's status request).
//! "Created" is taken on the client just before "Send another request", the request that creates
//! the sign-in request, so both figures include its way in and its handling up to the creation.
//! With `--server-pid` it also reports the servers' CPU time per request while sending.
//!
//! The `phone` scenario is the same set-up with phone sign-in turned on for every device
//! ("Enable phone sign-in"), and then whole passwordless sign-ins at `--rate` per second, each as a
//! browser that used phone sign-in before does it: the sign-in page, the name, "Approve sign-in
//! request" with the number (the request sent), the page's status request, the device's signed
//! approval with that number (the simulated device answers at once), and the page's continuation
//! to the signed-in session. It measures completed sign-ins per second, the whole sign-in's
//! latency and the delivery (from the first request of the sign-in).

use crate::codes::{between, Site};
use crate::stats::Summary;
use crate::Args;
use anyhow::{bail, Context};
use countersign_authenticator::channel::{self, ChannelEvent};
use countersign_authenticator::device;
use countersign_authenticator::protocol::DeviceAccount;
use countersign_proto::device::{self as proto, Decision};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, Semaphore};

/// Requests one user may be sent within the server's push fatigue window (5 in 10 minutes; the
/// flow's first request is one of them).
const PER_USER: u64 = 4;

type Slot = Mutex<Option<oneshot::Sender<(String, Instant)>>>;

fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// User and system CPU time of a process so far, in clock ticks (fields 14 and 15 of its stat;
/// the command name before them may hold spaces, so count from its closing parenthesis).
pub(crate) fn cpu_ticks(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut rest = s[s.rfind(')')? + 1..].split_whitespace().skip(11);
    Some(rest.next()?.parse::<u64>().ok()? + rest.next()?.parse::<u64>().ok()?)
}

pub(crate) fn servers_cpu_ticks(pids: &[u32]) -> Option<u64> {
    pids.iter().map(|&p| cpu_ticks(p)).sum()
}

/// A signed-in user's activation link, registered by the authenticator's client.
async fn register(site: &Site, user: &str) -> anyhow::Result<DeviceAccount> {
    let (_, page) = site.add_method(user, "authenticator").await?;
    let link =
        between(&page, "id=\"activation-link\" class=\"link-text\">", '<')?.replace("&amp;", "&");
    let link = countersign_authenticator::protocol::parse_activation(&link)?;
    let name = format!("load device {user}");
    let (account, _) =
        tokio::task::spawn_blocking(move || device::Client::new().register(&link, &name)).await??;
    Ok(account)
}

/// A sign-in flow of `user` waiting at "Approve sign-in request": its cookie and anti-CSRF token.
async fn waiting_flow(site: &Site, user: &str) -> anyhow::Result<(String, String)> {
    let (flow, _, _) = site.password_steps(user).await?;
    let page = site
        .http
        .get(site.url("/login"))
        .header("cookie", &flow)
        .send()
        .await?
        .text()
        .await?;
    if !page.contains("Approve sign-in request") {
        bail!("{user}: no push step after the password");
    }
    let csrf = between(&page, "name=\"csrf\" value=\"", '"')?.to_string();
    Ok((flow, csrf))
}

struct User {
    account: DeviceAccount,
    flow: String,
    csrf: String,
}

/// The "Approve sign-in request" page of a flow (`cookies`): the number it shows, and its
/// anti-CSRF token.
async fn number_page(site: &Site, cookies: &str) -> anyhow::Result<(String, String)> {
    let page = site
        .http
        .get(site.url("/login"))
        .header("cookie", cookies)
        .send()
        .await?
        .text()
        .await?;
    let number = between(
        &page,
        "id=\"push-number\" aria-label=\"Number to enter in the app\">",
        '<',
    )
    .context("the number on the page")?
    .to_string();
    let csrf = between(&page, "name=\"csrf\" value=\"", '"')?.to_string();
    Ok((number, csrf))
}

/// The waiting page's status request, sent now: the state it ends with, and when.
fn status_of(
    site: &Site,
    cookies: &str,
) -> tokio::task::JoinHandle<anyhow::Result<(String, Instant)>> {
    let (http, url, cookies) = (
        site.http.clone(),
        site.url("/login/push/status"),
        cookies.to_string(),
    );
    tokio::spawn(async move {
        let v: serde_json::Value = http
            .get(url)
            .header("cookie", cookies)
            .send()
            .await?
            .json()
            .await?;
        Ok((
            v["state"].as_str().unwrap_or("").to_string(),
            Instant::now(),
        ))
    })
}

/// The device, once the request reached it over its channel, approves it with `number` (signed
/// with the phone sign-in key when `passwordless`). When it was delivered.
async fn approve(
    site: &Site,
    account: &DeviceAccount,
    delivered: oneshot::Receiver<(String, Instant)>,
    number: &str,
    passwordless: bool,
) -> anyhow::Result<Instant> {
    let (id, received) = tokio::time::timeout(Duration::from_secs(10), delivered)
        .await
        .context("no delivery within 10 s")??;
    let body = account.answer(&id, Decision::Approve, Some(number), true, passwordless)?;
    let r = site
        .http
        .post(format!(
            "{}{}/requests/{id}/answer",
            account.server,
            proto::PATH_PREFIX
        ))
        .json(&body)
        .send()
        .await?;
    if !r.status().is_success() {
        bail!(
            "answer: {} {}",
            r.status(),
            r.text().await.unwrap_or_default()
        );
    }
    Ok(received)
}

/// Waits for the next request delivered to the user of `slot`.
fn expect_delivery(slot: &Slot) -> oneshot::Receiver<(String, Instant)> {
    let (tx, rx) = oneshot::channel();
    *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
    rx
}

/// One request: sent, delivered, approved with the number the page shows, seen by the page.
async fn one(site: &Site, u: &User, slot: &Slot) -> anyhow::Result<(Duration, Duration)> {
    let delivered = expect_delivery(slot);
    // "Send another request" sends it: the clock starts here.
    let t0 = Instant::now();
    let r = site
        .http
        .post(site.url("/login/push/again"))
        .header("cookie", &u.flow)
        .form(&[("csrf", u.csrf.as_str())])
        .send()
        .await?;
    if r.status() != 303 {
        bail!("send another request: {}", r.status());
    }
    // The page shows the number of the request just sent.
    let (number, _) = number_page(site, &u.flow).await?;
    let status = status_of(site, &u.flow);
    let received = approve(site, &u.account, delivered, &number, false).await?;
    let (state, seen) = status.await??;
    if state != "approved-pin" {
        bail!("the page saw '{state}'");
    }
    Ok((received - t0, seen - t0))
}

/// One whole phone sign-in of `name`, as a browser that used phone sign-in before: the delivery
/// and the sign-in's latency, both from its first request.
async fn phone_one(
    site: &Site,
    name: &str,
    account: &DeviceAccount,
    slot: &Slot,
) -> anyhow::Result<(Duration, Duration)> {
    let delivered = expect_delivery(slot);
    let t0 = Instant::now();
    let method = "cs_method=phone";
    let r = site
        .http
        .get(site.url("/login"))
        .header("cookie", method)
        .send()
        .await?;
    let visit = crate::codes::cookie(&r, "cs_flow").context("no flow cookie")?;
    let csrf = between(&r.text().await?, "name=\"csrf\" value=\"", '"')?.to_string();
    let r = site
        .http
        .post(site.url("/login/username"))
        .header("cookie", format!("{visit}; {method}"))
        .form(&[("csrf", csrf.as_str()), ("username", name)])
        .send()
        .await?;
    if r.status() != 303 {
        bail!("username step: {}", r.status());
    }
    let flow = crate::codes::cookie(&r, "cs_flow").unwrap_or(visit);
    let cookies = format!("{flow}; {method}");
    // Arriving at the step sends the request; the page shows its number.
    let (number, csrf) = number_page(site, &cookies).await?;
    let status = status_of(site, &cookies);
    let received = approve(site, account, delivered, &number, true).await?;
    let (state, _) = status.await??;
    if state != "approved-pin" {
        bail!("the page saw '{state}'");
    }
    // The page continues: signed in.
    let r = site
        .http
        .post(site.url("/login/push"))
        .header("cookie", &cookies)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await?;
    if r.status() != 303 || crate::codes::cookie(&r, "cs_session").is_none() {
        bail!("finishing the sign-in: {}", r.status());
    }
    Ok((received - t0, t0.elapsed()))
}

/// Push approvals (`passwordless` false: the `devices` scenario) or whole phone sign-ins (true:
/// the `phone` scenario).
pub async fn run(
    args: &Args,
    http: &reqwest::Client,
    passwordless: bool,
) -> anyhow::Result<Vec<Summary>> {
    let site = Site::new(args.clone(), http.clone())?;
    let n = args.users;
    let names: Vec<String> = (0..n)
        .map(|i| format!("{}{i}@contoso.com", args.user_prefix))
        .collect();
    // 1. Devices, registered a few at a time (each costs a password check).
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let mut tasks = Vec::new();
    for name in &names {
        let (site, name, gate) = (site.clone(), name.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let _p = gate.acquire_owned().await?;
            let mut account = register(&site, &name).await?;
            if passwordless {
                account = tokio::task::spawn_blocking(move || {
                    device::Client::new()
                        .enable_phone_sign_in(&mut account)
                        .map(|_| account)
                })
                .await??;
            }
            Ok::<_, anyhow::Error>(account)
        }));
    }
    let mut accounts = Vec::new();
    for t in tasks {
        accounts.push(t.await??);
    }
    eprintln!(
        "registered {n} devices in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    // 2. All of them connected; the server's memory per idle device.
    let memory_of = args.server_pid.first().copied();
    let before = memory_of.and_then(rss_kib);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for (i, a) in accounts.iter().enumerate() {
        tokio::spawn(channel::run(a.clone(), i, tx.clone()));
    }
    drop(tx);
    let mut ready = 0;
    while ready < n {
        match rx.recv().await {
            Some((_, ChannelEvent::Ready)) => ready += 1,
            Some((_, ChannelEvent::Refused { message, .. })) => {
                bail!("a device was refused: {message}")
            }
            Some(_) => {}
            None => bail!("channels ended"),
        }
    }
    // Measured 3 s after the last device connected, and again 15 s after: the allocator gives
    // back the buffers of the connection burst gradually, so the later figure is the steady one.
    for (after, wait) in [(3, 3), (15, 12)] {
        tokio::time::sleep(Duration::from_secs(wait)).await;
        if let (Some(b), Some(a)) = (before, memory_of.and_then(rss_kib)) {
            println!(
                "server RSS {b} KiB → {a} KiB with {n} idle devices connected, {after} s after \
                 the last: {:.1} KiB per device",
                (a.saturating_sub(b)) as f64 / n as f64
            );
        }
    }
    // 3. Deliveries go to whoever waits for the user's next request.
    let slots: Arc<Vec<Slot>> = Arc::new((0..n).map(|_| Mutex::new(None)).collect());
    {
        let slots = slots.clone();
        tokio::spawn(async move {
            while let Some((i, e)) = rx.recv().await {
                if let ChannelEvent::Request(r) = e {
                    let now = Instant::now();
                    if let Some(tx) = slots[i].lock().unwrap_or_else(|e| e.into_inner()).take() {
                        let _ = tx.send((r.id, now));
                    }
                }
            }
        });
    }
    // 4. One waiting flow per user, on the browsers' instance.
    let mut browsers = args.clone();
    if let Some(b) = &args.browser_base {
        crate::check_loopback(b)?;
        browsers.base = b.clone();
    }
    let site = Site::new(browsers, http.clone())?;
    let mut tasks = Vec::new();
    for (name, account) in names.iter().zip(accounts) {
        let (site, name, gate) = (site.clone(), name.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            if passwordless {
                // Each phone sign-in starts its own flow.
                let (flow, csrf) = (String::new(), String::new());
                return Ok::<_, anyhow::Error>((
                    name,
                    User {
                        account,
                        flow,
                        csrf,
                    },
                ));
            }
            let _p = gate.acquire_owned().await?;
            let (flow, csrf) = waiting_flow(&site, &name).await?;
            Ok((
                name,
                User {
                    account,
                    flow,
                    csrf,
                },
            ))
        }));
    }
    let mut users = Vec::new();
    for t in tasks {
        users.push(t.await??);
    }
    let users = Arc::new(users);
    // 5. Requests at the rate asked for, each user in turn.
    let total = (args.rate * args.duration).min(PER_USER * n as u64);
    let interval = Duration::from_secs_f64(1.0 / args.rate.max(1) as f64);
    let results = Arc::new(Mutex::new((Vec::new(), Vec::new(), 0u64)));
    eprintln!("sending {total} requests at {} per second", args.rate);
    let cpu_before = servers_cpu_ticks(&args.server_pid);
    let own_before = cpu_ticks(std::process::id());
    let start = Instant::now();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut running = Vec::new();
    for k in 0..total {
        ticker.tick().await;
        let i = (k % n as u64) as usize;
        let (site, users, slots, results) =
            (site.clone(), users.clone(), slots.clone(), results.clone());
        running.push(tokio::spawn(async move {
            let (name, user) = &users[i];
            let r = if passwordless {
                phone_one(&site, name, &user.account, &slots[i]).await
            } else {
                one(&site, user, &slots[i]).await
            };
            let mut res = results.lock().unwrap_or_else(|e| e.into_inner());
            match r {
                Ok((d, rt)) => {
                    res.0.push(d);
                    res.1.push(rt);
                }
                Err(e) => {
                    res.2 += 1;
                    if res.2 <= 3 {
                        eprintln!("error: {e:#}");
                    }
                }
            }
        }));
    }
    let sent_for = start.elapsed();
    for t in running {
        t.await?;
    }
    let (delivery, round_trip, errors) =
        std::mem::take(&mut *results.lock().unwrap_or_else(|e| e.into_inner()));
    // /proc counts in USER_HZ, which Linux fixes at 100 on x86 and Arm.
    let per_request = |who: &str, b: u64, a: u64| {
        let hz = 100.0;
        println!(
            "{who} CPU while sending: {:.2} s for {} requests: {:.3} ms per request",
            (a - b) as f64 / hz,
            total,
            (a - b) as f64 / hz * 1000.0 / total.max(1) as f64
        );
    };
    if let (Some(b), Some(a)) = (cpu_before, servers_cpu_ticks(&args.server_pid)) {
        per_request("server", b, a);
    }
    // The load generator shares the machine: what it costs says how much is left to the server.
    if let (Some(b), Some(a)) = (own_before, cpu_ticks(std::process::id())) {
        per_request("load generator", b, a);
    }
    let (first, second) = if passwordless {
        ("phone-delivery", "phone-signin")
    } else {
        ("push-delivery", "push-roundtrip")
    };
    Ok(vec![
        Summary::new(first, delivery, errors, sent_for),
        Summary::new(second, round_trip, errors, sent_for),
    ])
}
