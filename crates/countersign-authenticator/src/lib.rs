//! The Countersign authenticator as a library: accounts and their verification codes (TOTP,
//! HOTP), `otpauth://` URIs, QR images and Google Authenticator exports (`account`, `uri`, `qr`);
//! the vault that keeps them encrypted under the App Lock PIN (`vault`); the device protocol's
//! signed messages (`protocol`), signed through a [`keys::Signer`] so that a key could live in a
//! phone's secure hardware; and the app as a passkey provider (`passkeys`, passkey-rs' software
//! authenticator). None of this needs the network or a terminal: another front end (a native app
//! through FFI) can sit on it. With the feature `terminal` (on by default) come the I/O the
//! terminal front end (`main.rs`) uses: the protocol over HTTPS (`device`) and its WebSocket
//! (`channel`). It talks to the server only through `countersign-proto` types and never links the
//! server's domain or storage code.

pub mod account;
#[cfg(feature = "terminal")]
pub mod channel;
#[cfg(feature = "terminal")]
pub mod device;
pub mod keys;
pub mod passkeys;
pub mod protocol;
pub mod qr;
pub mod uri;
pub mod vault;

pub use account::{Account, Algorithm, CodeView, Kind};
pub use vault::{Vault, VaultError};
