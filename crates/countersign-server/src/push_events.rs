//! Push approvals' events inside one server process: a sign-in request was sent to a user, a
//! request was settled (the browser waiting on it wakes up; devices hide it), a device was
//! removed (its open channel closes). Waiters subscribe by topic — a user's id (their devices'
//! channels) or a request's id (the browser waiting on it) — so an event costs only its own
//! subscribers, however many devices are connected. Events are hints: whoever wakes up reads the
//! store, which alone says what happened.
//!
//! Several instances on one PostgreSQL database hear each other's events through the store's bus
//! (LISTEN/NOTIFY, `attach`): a device connected to instance A gets the request created on B, and
//! the approval answered on A wakes the browser waiting on B. Each instance delivers its own
//! events at once and skips them when they come back from the bus.

use crate::sync::lock;
use countersign_store::bus::Bus;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, watch};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Event {
    /// A request was sent to the user (pushed, or waiting for the device to ask).
    Created { request_id: String },
    /// A request left `pending`: answered, expired or withdrawn.
    Settled { request_id: String },
    /// A device was removed.
    DeviceRemoved { device_id: String },
}

type Subscribers = HashMap<String, Vec<(u64, mpsc::UnboundedSender<Event>)>>;

/// The process's subscriptions, and the signal that the server is shutting down.
#[derive(Clone)]
pub struct PushEvents {
    subs: Arc<Mutex<Subscribers>>,
    next: Arc<AtomicU64>,
    closing: watch::Sender<bool>,
    /// The bus to the other instances, once attached, and this instance's name on it.
    bus: Arc<std::sync::OnceLock<Bus>>,
    instance: Arc<str>,
    /// Events handed to the bus and not sent yet (see `flush`).
    in_flight: Arc<(AtomicU64, tokio::sync::Notify)>,
}

impl Default for PushEvents {
    fn default() -> Self {
        let mut id = [0u8; 12];
        aws_lc_rs::rand::fill(&mut id).expect("the system's random generator");
        Self {
            subs: Arc::default(),
            next: Arc::default(),
            closing: watch::channel(false).0,
            bus: Arc::default(),
            in_flight: Arc::default(),
            instance: id
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
                .into(),
        }
    }
}

/// An event as it travels on the bus.
#[derive(Serialize, Deserialize)]
struct Envelope {
    from: String,
    topic: String,
    event: Event,
}

/// A live subscription; dropping it unsubscribes.
pub struct Subscription {
    topic: String,
    id: u64,
    rx: mpsc::UnboundedReceiver<Event>,
    events: PushEvents,
}

impl Subscription {
    /// The next event, or `None` once the server is shutting down.
    pub async fn next(&mut self) -> Option<Event> {
        let mut closing = self.events.closing.subscribe();
        if *closing.borrow() {
            return None;
        }
        tokio::select! {
            e = self.rx.recv() => e,
            _ = closing.wait_for(|c| *c) => None,
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut subs = lock(&self.events.subs);
        if let Some(list) = subs.get_mut(&self.topic) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                subs.remove(&self.topic);
            }
        }
    }
}

impl PushEvents {
    /// Subscribes to `topic` (a user id or a request id). Subscribe before reading the store, so
    /// that nothing published in between is missed.
    pub fn subscribe(&self, topic: &str) -> Subscription {
        let (tx, rx) = mpsc::unbounded_channel();
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        lock(&self.subs)
            .entry(topic.to_string())
            .or_default()
            .push((id, tx));
        Subscription {
            topic: topic.to_string(),
            id,
            rx,
            events: self.clone(),
        }
    }

    /// Delivers `event` to the subscribers of `topic` in this process and, through the bus, in
    /// the other instances.
    pub fn publish(&self, topic: &str, event: Event) {
        if let Some(bus) = self.bus.get() {
            let env = Envelope {
                from: self.instance.to_string(),
                topic: topic.to_string(),
                event: event.clone(),
            };
            let payload = serde_json::to_string(&env).expect("events serialise");
            let bus = bus.clone();
            let in_flight = self.in_flight.clone();
            in_flight.0.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                if let Err(e) = bus.notify(&payload).await {
                    tracing::warn!(error = %e, "telling the other instances failed");
                }
                if in_flight.0.fetch_sub(1, Ordering::SeqCst) == 1 {
                    in_flight.1.notify_waiters();
                }
            });
        }
        self.deliver(topic, event);
    }

    fn deliver(&self, topic: &str, event: Event) {
        if let Some(list) = lock(&self.subs).get(topic) {
            for (_, tx) in list {
                let _ = tx.send(event.clone());
            }
        }
    }

    /// Joins the other instances on `bus`: listens from now on (until shutdown), and publishes
    /// there too. Returns once listening, so nothing published after it is missed.
    pub async fn attach(&self, bus: Bus) -> Result<(), countersign_core::StoreError> {
        let mut listener = bus.listen().await?;
        let _ = self.bus.set(bus);
        let me = self.clone();
        tokio::spawn(async move {
            let mut closing = me.closing.subscribe();
            loop {
                let payload = tokio::select! {
                    p = listener.recv() => p,
                    _ = closing.wait_for(|c| *c) => return,
                };
                match payload {
                    Ok(p) => match serde_json::from_str::<Envelope>(&p) {
                        Ok(env) if *env.from != *me.instance => me.deliver(&env.topic, env.event),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "an unreadable event on the bus"),
                    },
                    Err(e) => {
                        tracing::warn!(error = %e, "the bus failed; listening again in 1 s");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(())
    }

    /// Tells the other instances through `bus`, without listening to them: for a process that
    /// only changes what the servers serve (the admin command line), so that a device removed
    /// there is told at once by the server it is connected to.
    pub fn tell_others_through(&self, bus: Bus) {
        let _ = self.bus.set(bus);
    }

    /// Waits until every event published so far has been handed to the bus, for at most
    /// `within`: a process about to exit calls it, or its last events would be lost.
    pub async fn flush(&self, within: std::time::Duration) {
        let (count, done) = &*self.in_flight;
        let all_sent = async {
            loop {
                let sent = done.notified();
                tokio::pin!(sent);
                sent.as_mut().enable();
                if count.load(Ordering::SeqCst) == 0 {
                    return;
                }
                sent.await;
            }
        };
        if tokio::time::timeout(within, all_sent).await.is_err() {
            tracing::warn!("some events did not reach the other instances in time");
        }
    }

    /// How many subscriptions are open (for metrics and tests).
    pub fn subscriptions(&self) -> usize {
        lock(&self.subs).values().map(Vec::len).sum()
    }

    /// The server is shutting down: every waiter's `next` returns `None` now.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    pub fn is_closing(&self) -> bool {
        *self.closing.borrow()
    }
}

/// The core's notifications become events: a request's own topic wakes the browser waiting on
/// it, the user's topic reaches their devices' channels.
impl countersign_core::notify::Notifier for PushEvents {
    fn request_created(&self, user_id: &str, request_id: &str) {
        let e = Event::Created {
            request_id: request_id.to_string(),
        };
        self.publish(user_id, e);
    }

    fn requests_settled(&self, user_id: &str, request_ids: &[String]) {
        for id in request_ids {
            let e = Event::Settled {
                request_id: id.clone(),
            };
            self.publish(id, e.clone());
            self.publish(user_id, e);
        }
    }

    fn device_removed(&self, user_id: &str, device_id: &str) {
        let e = Event::DeviceRemoved {
            device_id: device_id.to_string(),
        };
        self.publish(user_id, e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn events_reach_their_topic_only_and_close_ends_waiting() {
        let events = PushEvents::default();
        let mut alice = events.subscribe("u-alice");
        let mut bob = events.subscribe("u-bob");
        let created = Event::Created {
            request_id: "r1".into(),
        };
        events.publish("u-alice", created.clone());
        assert_eq!(alice.next().await, Some(created));
        assert!(bob.rx.try_recv().is_err());
        assert_eq!(events.subscriptions(), 2);
        drop(bob);
        assert_eq!(events.subscriptions(), 1);
        events.close();
        assert_eq!(alice.next().await, None);
    }
}
