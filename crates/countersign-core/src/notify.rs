//! What the core tells the world after a change it made: a sign-in request was sent, requests
//! were settled, a device was removed. The core calls the [`Notifier`] in `Deps` from the
//! operations themselves (send, answer, withdraw, expiry, removal — whoever asked for it), so
//! no handler has to remember to. The server's event bus implements it; a notification is a hint,
//! never the truth: whoever wakes up reads the store.

/// Receives the core's notifications. Implementations must not block: they hand the event on.
pub trait Notifier: Send + Sync {
    /// A sign-in request was stored for `user_id` (pushed, or waiting for a device to ask).
    fn request_created(&self, user_id: &str, request_id: &str);
    /// Requests of `user_id` left `pending`: answered, expired, withdrawn or superseded.
    fn requests_settled(&self, user_id: &str, request_ids: &[String]);
    /// One of `user_id`'s devices was removed: its open channel must close.
    fn device_removed(&self, user_id: &str, device_id: &str);
}

/// Tells no one: for processes with nobody to tell (unit tests, a one-shot command on SQLite).
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Notifier for Silent {
    fn request_created(&self, _: &str, _: &str) {}
    fn requests_settled(&self, _: &str, _: &[String]) {}
    fn device_removed(&self, _: &str, _: &str) {}
}

/// Records what it is told, for tests that check the core tells it.
#[cfg(any(test, feature = "testing"))]
#[derive(Debug, Default)]
pub struct Recorder(std::sync::Mutex<Vec<Notice>>);

/// One notification, as [`Recorder`] keeps it.
#[cfg(any(test, feature = "testing"))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    Created { user_id: String, request_id: String },
    Settled { user_id: String, request_id: String },
    DeviceRemoved { user_id: String, device_id: String },
}

#[cfg(any(test, feature = "testing"))]
impl Recorder {
    /// What was told so far, emptying the record.
    pub fn take(&self) -> Vec<Notice> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
    fn push(&self, n: Notice) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(n);
    }
}

#[cfg(any(test, feature = "testing"))]
impl Notifier for Recorder {
    fn request_created(&self, user_id: &str, request_id: &str) {
        self.push(Notice::Created {
            user_id: user_id.into(),
            request_id: request_id.into(),
        });
    }
    fn requests_settled(&self, user_id: &str, request_ids: &[String]) {
        for id in request_ids {
            self.push(Notice::Settled {
                user_id: user_id.into(),
                request_id: id.clone(),
            });
        }
    }
    fn device_removed(&self, user_id: &str, device_id: &str) {
        self.push(Notice::DeviceRemoved {
            user_id: user_id.into(),
            device_id: device_id.into(),
        });
    }
}
