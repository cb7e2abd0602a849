//! The device channel's client (`docs/device-protocol.md`, "The channel"): one WebSocket per
//! registered account, proved with the account's key over the server's challenge; sign-in
//! requests and withdrawals are handed to the caller as they arrive. A dropped connection is
//! opened again after a wait that doubles from 1 s to 60 s, with full jitter; after `ready` the
//! server sends every pending request again, so nothing is lost across a reconnect. Heartbeats
//! start at a random point of the first interval (see [`first_heartbeat`]).

use crate::protocol::DeviceAccount;
use countersign_proto::device::{self as proto, DeviceMessage, ServerMessage};
use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// What the channel of one account reports.
#[derive(Debug, Clone)]
pub enum ChannelEvent {
    /// Connected and proved: requests follow.
    Ready,
    Request(proto::SignInRequest),
    /// Answered elsewhere, expired or superseded: hide it.
    Withdrawn(String),
    /// The connection ended (with why); it will be opened again after `retry_in`.
    Disconnected {
        reason: String,
        retry_in: Duration,
    },
    /// The server refused this device for good (removed, too old): no more retries.
    Refused {
        code: String,
        message: String,
    },
}

/// The channel URL of an account: its base URL with `ws`/`wss`.
pub fn channel_url(server: &str) -> String {
    let ws = if let Some(rest) = server.strip_prefix("https://") {
        format!("wss://{rest}")
    } else {
        format!("ws://{}", server.trim_start_matches("http://"))
    };
    format!("{ws}{}/channel", proto::PATH_PREFIX)
}

/// The wait before reconnect attempt `n` (0-based): full jitter over 1 s doubling to 60 s.
pub fn backoff(n: u32) -> Duration {
    let cap = (1u64 << n.min(6)).min(60) * 1000;
    Duration::from_millis(rand::thread_rng().gen_range(0..=cap))
}

/// When the first heartbeat goes out after `ready`: at a random point within the interval, then
/// every interval. Devices that connected together — all of them, after a server restart —
/// would otherwise ping together every interval for as long as they stay connected: a burst
/// the size of the whole fleet (10,000 pings within a few seconds, every 20 s, in the load
/// generator's set-up) instead of a steady trickle.
pub fn first_heartbeat(heartbeat: Duration) -> Duration {
    let ms = heartbeat.as_millis().max(1) as u64;
    Duration::from_millis(rand::thread_rng().gen_range(1..=ms))
}

/// Keeps the channel of `account` open until `events` is dropped or the server refuses the
/// device; reports to `events` tagged with `tag`.
pub async fn run<T: Clone + Send + 'static>(
    account: DeviceAccount,
    tag: T,
    events: mpsc::UnboundedSender<(T, ChannelEvent)>,
) {
    let mut attempt = 0u32;
    loop {
        let outcome = session(&account, |e| {
            if matches!(e, ChannelEvent::Ready) {
                attempt = 0;
            }
            events.send((tag.clone(), e)).is_ok()
        })
        .await;
        let reason = match outcome {
            Ok(()) => return,
            Err(Ended::Refused { code, message }) => {
                let _ = events.send((tag.clone(), ChannelEvent::Refused { code, message }));
                return;
            }
            Err(Ended::Dropped(reason)) => reason,
        };
        let retry_in = backoff(attempt);
        attempt = attempt.saturating_add(1);
        let e = ChannelEvent::Disconnected { reason, retry_in };
        if events.send((tag.clone(), e)).is_err() {
            return;
        }
        tokio::time::sleep(retry_in).await;
    }
}

enum Ended {
    Dropped(String),
    Refused { code: String, message: String },
}

fn dropped(e: impl std::fmt::Display) -> Ended {
    Ended::Dropped(e.to_string())
}

/// One connection: `Ok` when the receiver went away, `Err` when the connection ended.
async fn session(
    a: &DeviceAccount,
    mut report: impl FnMut(ChannelEvent) -> bool,
) -> Result<(), Ended> {
    let (ws, _) = tokio_tungstenite::connect_async(channel_url(&a.server))
        .await
        .map_err(dropped)?;
    let (mut tx, mut rx) = ws.split();
    let mut ticker: Option<tokio::time::Interval> = None;
    loop {
        let msg = tokio::select! {
            m = rx.next() => m,
            _ = async { ticker.as_mut().expect("set").tick().await }, if ticker.is_some() => {
                let ping = serde_json::to_string(&DeviceMessage::Ping).expect("serialises");
                tx.send(Message::Text(ping.into())).await.map_err(dropped)?;
                continue;
            }
        };
        let text = match msg {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Close(f))) => {
                return Err(dropped(f.map_or("closed".into(), |f| f.reason.to_string())))
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(dropped(e)),
            None => return Err(dropped("the connection closed")),
        };
        // Unknown message types are ignored (the protocol may add some).
        let Ok(m) = serde_json::from_str::<ServerMessage>(&text) else {
            continue;
        };
        let event = match m {
            ServerMessage::Challenge { challenge, .. } => {
                let proof = a.hello(challenge).map_err(dropped)?;
                let hello = DeviceMessage::Hello {
                    device_id: proof.device_id,
                    signature: proof.signature,
                    app_version: proof.app_version,
                };
                let hello = serde_json::to_string(&hello).expect("serialises");
                tx.send(Message::Text(hello.into()))
                    .await
                    .map_err(dropped)?;
                continue;
            }
            ServerMessage::Ready { heartbeat_secs } => {
                let heartbeat = Duration::from_secs(u64::from(heartbeat_secs.max(1)));
                let first = tokio::time::Instant::now() + first_heartbeat(heartbeat);
                let mut t = tokio::time::interval_at(first, heartbeat);
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                ticker = Some(t);
                ChannelEvent::Ready
            }
            ServerMessage::Request { request } => ChannelEvent::Request(request),
            ServerMessage::Withdrawn { id } => ChannelEvent::Withdrawn(id),
            ServerMessage::Pong => continue,
            ServerMessage::Error { error, message } => {
                // A refusal of the device itself is final; anything else is worth a retry.
                if matches!(
                    error.as_str(),
                    proto::codes::DEVICE_UNKNOWN | proto::codes::APP_VERSION_UNSUPPORTED
                ) {
                    return Err(Ended::Refused {
                        code: error,
                        message,
                    });
                }
                return Err(Ended::Dropped(message));
            }
        };
        if !report(event) {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_backoff() {
        assert_eq!(
            channel_url("https://id.example.com/contoso"),
            "wss://id.example.com/contoso/device/v1/channel"
        );
        assert_eq!(
            channel_url("http://127.0.0.1:8080/contoso"),
            "ws://127.0.0.1:8080/contoso/device/v1/channel"
        );
        for n in 0..20 {
            assert!(backoff(n) <= Duration::from_secs(60));
        }
        assert!(backoff(0) <= Duration::from_secs(1));
    }

    /// First heartbeats spread over the whole interval, never later than it (the server closes
    /// after three silent intervals). 200 draws all in one half would be a 2^-199 chance.
    #[test]
    fn first_heartbeats_are_spread_over_the_interval() {
        let beat = Duration::from_secs(20);
        let draws: Vec<Duration> = (0..200).map(|_| first_heartbeat(beat)).collect();
        assert!(draws.iter().all(|d| *d > Duration::ZERO && *d <= beat));
        assert!(draws.iter().any(|d| *d < beat / 2));
        assert!(draws.iter().any(|d| *d > beat / 2));
    }
}
