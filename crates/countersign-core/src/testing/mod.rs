//! In-memory fakes for the core's unit tests and the store's conformance suite (feature
//! `testing`): a `Store` on hash maps (`mem`), a token signer, a cheap hasher and a fixture
//! (`fakes`). Production builds never compile it.

mod fakes;
mod mem;

pub use fakes::*;
pub use mem::MemStore;
