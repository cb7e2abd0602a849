//! Push approvals and the devices that answer them: device keys and the number to match (`keys`),
//! devices and their registration (`devices`), sign-in requests (`requests`) and the answers to
//! them (`answer`). The device protocol itself is `docs/device-protocol.md`.
//!
//! What a device signs is built by the caller with `countersign_proto::device` (the core depends
//! on nothing of ours) and passed in as [`Answer::signed`]: the server builds it from the same
//! parsed answer it hands over here, so both describe one answer.

mod answer;
mod devices;
mod keys;
mod requests;

pub use answer::*;
pub use devices::*;
pub use keys::*;
pub use requests::*;

#[cfg(test)]
mod tests;
