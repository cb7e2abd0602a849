//! The Countersign authenticator as a library: accounts and their verification codes (TOTP,
//! HOTP), parsing of `otpauth://` URIs, QR images and Google Authenticator exports, and the vault
//! that keeps accounts encrypted under the App Lock PIN, and push approvals (`device`: the device
//! protocol's client, its keys kept in the vault). The terminal front end (`main.rs`) is one
//! user of it; a mobile or web front end can be another. It talks to the server only through
//! `countersign-proto` types and never links the server's domain or storage code. `passkeys`: the app
//! as a passkey provider (passkey-rs' software authenticator, its keys kept in the vault).

pub mod account;
pub mod channel;
pub mod device;
pub mod passkeys;
pub mod qr;
pub mod uri;
pub mod vault;

pub use account::{Account, Algorithm, CodeView, Kind};
pub use vault::{Vault, VaultError};
