//! The authentication methods policy of a tenant: the document and its validation (`document`),
//! who it lets use what (`eligibility`, the one place that decides it), and who may change it, with
//! the audit entry of every change (`admin`).

mod admin;
mod document;
mod eligibility;
mod validation;

pub use admin::*;
pub use document::*;
pub use eligibility::Eligibility;
