//! The device channel, `GET /{tenant}/device/v1/channel` (WebSocket, `docs/device-protocol.md`):
//! the server sends a challenge, the device proves its key over it (`hello`), and from then on
//! receives every sign-in request of its user as it is sent — all pending ones first, so nothing
//! is lost across a reconnect — and `withdrawn` when one is settled. Pings keep it open; three
//! missed heartbeats close it; a shutdown closes it with code 1012. The device is read again
//! before every delivery and on every ping, so a removed device is sent nothing more.

use super::endpoints::{prove, to_wire, HEARTBEAT_SECS};
use crate::error::ApiError;
use crate::push_events::Event;
use crate::AppState;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::Response;
use countersign_core::error::DeviceError;
use countersign_core::methods::push::{self, PushState};
use countersign_core::model::{Tenant, User};
use countersign_proto::device::{self as proto, DeviceMessage, ServerMessage};
use std::time::Duration;

/// WebSocket close code "service restart" (RFC 6455 §7.4.1 registry): the device reconnects.
const CLOSE_RESTART: u16 = 1012;
/// Policy violation: a bad hello, a removed device.
const CLOSE_POLICY: u16 = 1008;

/// Upgrades to the channel. Small buffers: an idle connected device should cost little memory.
pub async fn channel(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let tenant = crate::http::tenant(&state, &name).await?;
    Ok(ws
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(64 * 1024)
        .on_upgrade(move |socket| async move {
            if let Err(e) = serve(state, tenant, socket).await {
                tracing::debug!(error = %e, "device channel ended");
            }
        }))
}

fn text(m: &ServerMessage) -> Message {
    Message::Text(
        serde_json::to_string(m)
            .expect("protocol messages serialise")
            .into(),
    )
}

async fn close(socket: &mut WebSocket, code: u16, reason: &str) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.to_string().into(),
        })))
        .await;
}

async fn refuse(socket: &mut WebSocket, e: ApiError) {
    let m = ServerMessage::Error {
        error: e.code.to_string(),
        message: e.message,
    };
    let _ = socket.send(text(&m)).await;
    close(socket, CLOSE_POLICY, "refused").await;
}

/// Whether the device is still registered (not removed since it connected).
/// The device as stored now (phone sign-in may have been turned on since it connected); `None`
/// once it is removed.
async fn registered(state: &AppState, device_id: &str) -> Option<push::Device> {
    state
        .deps
        .store
        .device_by_id(device_id)
        .await
        .ok()
        .flatten()
}

async fn serve(state: AppState, tenant: Tenant, mut socket: WebSocket) -> anyhow::Result<()> {
    let challenge = state.deps.secret_token();
    socket
        .send(text(&ServerMessage::Challenge {
            protocol: proto::VERSION,
            challenge: challenge.clone(),
        }))
        .await?;
    let wait = Duration::from_secs(u64::from(HEARTBEAT_SECS));
    let hello = match tokio::time::timeout(wait, socket.recv()).await {
        Ok(Some(Ok(Message::Text(t)))) => serde_json::from_str::<DeviceMessage>(&t).ok(),
        _ => None,
    };
    let Some(DeviceMessage::Hello {
        device_id,
        signature,
        app_version,
    }) = hello
    else {
        refuse(&mut socket, ApiError::bad_request("Send hello first.")).await;
        return Ok(());
    };
    let hello = proto::Hello {
        device_id,
        challenge,
        signature,
        app_version,
    };
    let (device, user) = match prove(&state, &tenant, &hello, true).await {
        Ok(v) => v,
        Err(e) => {
            refuse(&mut socket, e).await;
            return Ok(());
        }
    };
    // Subscribed before the pending requests are read: one sent in between is not missed.
    let mut events = state.push.subscribe(&user.id);
    socket
        .send(text(&ServerMessage::Ready {
            heartbeat_secs: HEARTBEAT_SECS,
        }))
        .await?;
    for r in push::pending_for(&state.deps, &device, &user).await? {
        socket.send(text(&request(&tenant, &user, &r))).await?;
    }
    // Three heartbeats without a word from the device: it is gone.
    let silence = wait * 3;
    let mut heard = tokio::time::Instant::now();
    loop {
        tokio::select! {
            e = events.next() => match e {
                None => {
                    close(&mut socket, CLOSE_RESTART, "server restarting").await;
                    return Ok(());
                }
                Some(Event::Created { request_id }) => {
                    let Some(now) = registered(&state, &device.id).await else {
                        break;
                    };
                    let r = state.deps.store.push_request(&request_id).await?;
                    if let Some(r) = r.filter(|r| r.user_id == user.id && r.pushed
                        && r.state == PushState::Pending && push::shown_to(&now, r))
                    {
                        socket.send(text(&request(&tenant, &user, &r))).await?;
                    }
                }
                Some(Event::Settled { request_id }) => {
                    socket.send(text(&ServerMessage::Withdrawn { id: request_id })).await?;
                }
                Some(Event::DeviceRemoved { device_id }) if device_id == device.id => break,
                Some(Event::DeviceRemoved { .. }) => {}
            },
            m = socket.recv() => {
                heard = tokio::time::Instant::now();
                match m {
                    Some(Ok(Message::Text(t))) => {
                        if let Ok(DeviceMessage::Ping) = serde_json::from_str::<DeviceMessage>(&t) {
                            if registered(&state, &device.id).await.is_none() {
                                break;
                            }
                            socket.send(text(&ServerMessage::Pong)).await?;
                        }
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Ok(()),
                    Some(Ok(_)) => {}
                }
            },
            _ = tokio::time::sleep_until(heard + silence) => {
                close(&mut socket, CLOSE_POLICY, "heartbeat missed").await;
                return Ok(());
            },
        }
    }
    let gone = countersign_core::CoreError::from(DeviceError::DeviceUnknown);
    refuse(&mut socket, gone.into()).await;
    Ok(())
}

fn request(tenant: &Tenant, user: &User, r: &push::PushRequest) -> ServerMessage {
    ServerMessage::Request {
        request: to_wire(tenant, user, r),
    }
}
