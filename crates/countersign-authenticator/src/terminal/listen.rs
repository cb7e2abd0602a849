//! `listen`: one channel per account; requests are printed as they arrive, and lines typed
//! meanwhile answer the request shown last.

use super::*;
use anyhow::bail;
use countersign_authenticator::device;
use countersign_authenticator::protocol::DeviceAccount;
use countersign_proto::device::SignInRequest;
use std::io::{BufRead, Write};

/// What a line typed during `listen` does to the request shown last.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Typed {
    Approve(String),
    Deny,
    NotMe,
    CantSee,
}

pub(super) fn typed(line: &str) -> Option<Typed> {
    let t = line.trim();
    match t {
        "d" | "deny" => Some(Typed::Deny),
        "n" | "not-me" => Some(Typed::NotMe),
        "?" => Some(Typed::CantSee),
        _ if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => {
            Some(Typed::Approve(t.to_string()))
        }
        _ => None,
    }
}

pub(super) const LISTEN_HELP: &str =
    "    type the number shown on the sign-in page and Enter to approve; d to deny; n for \
                           \"It's not me\"; ? if you can't see the number";

/// `listen`: one channel per account; requests are printed as they arrive (and withdrawn ones
/// said so), until Ctrl-C or until no account may listen any more. Lines typed meanwhile answer
/// the request shown last (the App Lock was unlocked to start listening, so approvals carry it).
pub(super) fn listen(accounts: Vec<DeviceAccount>, json: bool) -> anyhow::Result<()> {
    use countersign_authenticator::channel::{self, ChannelEvent};
    if accounts.is_empty() {
        bail!("no account is registered for sign-in requests; add one with an activation link");
    }
    // One TLS provider for the process (the WebSocket client's rustls).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    // Typed lines, read on a thread of their own (reading standard input blocks).
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    rt.block_on(async move {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut live = accounts.len();
        for (i, a) in accounts.iter().enumerate() {
            tokio::spawn(channel::run(a.clone(), i, tx.clone()));
        }
        let redisplay = tx.clone();
        drop(tx);
        let mut out = std::io::stdout();
        // The requests shown and not withdrawn, newest last.
        let mut shown: Vec<(usize, SignInRequest)> = Vec::new();
        loop {
            let (i, event) = tokio::select! {
                e = rx.recv() => match e {
                    Some(e) => e,
                    None => return Ok(()),
                },
                Some(line) = lines.recv() => {
                    let Some(cmd) = typed(&line) else {
                        eprintln!("{LISTEN_HELP}");
                        continue;
                    };
                    let Some((i, r)) = shown.last().cloned() else {
                        eprintln!("No sign-in request is waiting.");
                        continue;
                    };
                    let a = accounts[i].clone();
                    use countersign_proto::device::Decision;
                    let (decision, number) = match cmd {
                        Typed::Approve(n) => (Decision::Approve, Some(n)),
                        Typed::Deny => (Decision::Deny, None),
                        Typed::NotMe => (Decision::NotMe, None),
                        Typed::CantSee => {
                            // Hidden for 3 seconds: time to look at the sign-in page.
                            shown.pop();
                            eprintln!("Hidden for 3 seconds: look at the sign-in page for the number.");
                            let again = redisplay.clone();
                            tokio::spawn(async move {
                                tokio::time::sleep(std::time::Duration::from_secs(3)).await;
                                let _ = again.send((i, ChannelEvent::Request(r)));
                            });
                            continue;
                        }
                    };
                    let id = r.id.clone();
                    let answered = tokio::task::spawn_blocking(move || {
                        let res = device::Client::new().answer(&a, &id, decision, number.as_deref(), true, r.passwordless);
                        (a, res)
                    })
                    .await?;
                    shown.retain(|(_, s)| s.id != r.id);
                    let line = match answered {
                        (a, Ok(result)) => result_text(result, &a),
                        (_, Err(e)) => format!("Not answered: {e}"),
                    };
                    writeln!(out, "{line}")?;
                    out.flush()?;
                    continue;
                }
            };
            match &event {
                ChannelEvent::Request(r) => {
                    shown.retain(|(_, s)| s.id != r.id);
                    shown.push((i, r.clone()));
                }
                ChannelEvent::Withdrawn(id) => {
                    let before = shown.len();
                    shown.retain(|(_, s)| &s.id != id);
                    if before == shown.len() {
                        continue; // answered here, or never shown
                    }
                }
                _ => {}
            }
            let a = &accounts[i];
            let line = match (&event, json) {
                (ChannelEvent::Request(r), true) => serde_json::json!({
                    "type": "request", "server": a.server, "request": r,
                })
                .to_string(),
                (ChannelEvent::Withdrawn(id), true) => serde_json::json!({
                    "type": "withdrawn", "server": a.server, "id": id,
                })
                .to_string(),
                (ChannelEvent::Request(r), false) => format!("{}\n{LISTEN_HELP}", describe(a, r)),
                (ChannelEvent::Withdrawn(id), false) => {
                    format!("{:.10}  answered, expired or replaced: no longer waiting", id)
                }
                (ChannelEvent::Ready, _) => {
                    eprintln!("{}: listening", a.label());
                    continue;
                }
                (ChannelEvent::Disconnected { reason, retry_in }, _) => {
                    eprintln!(
                        "{}: disconnected ({reason}); retrying in {:.1} s",
                        a.label(),
                        retry_in.as_secs_f32()
                    );
                    continue;
                }
                (ChannelEvent::Refused { message, .. }, _) => {
                    eprintln!("{}: {message}", a.label());
                    live -= 1;
                    if live == 0 {
                        return Err(anyhow::anyhow!("no account can receive requests"));
                    }
                    continue;
                }
            };
            writeln!(out, "{line}")?;
            out.flush()?;
        }
    })
}
