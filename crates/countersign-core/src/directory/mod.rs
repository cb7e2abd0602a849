//! Directory administration: creating and changing tenants, users, groups, memberships, admin roles
//! and OIDC clients, with every value validated before anything is written.

use crate::error::{CoreError, CoreResult};
use crate::model::*;

mod apps;
mod groups;
mod tenants;
mod users;

pub use apps::*;
pub use groups::*;
pub use tenants::*;
pub use users::*;

/// `value` trimmed, if it is 1 to `max` printable characters (no control or bidirectional
/// characters); otherwise an error naming `field`.
pub(crate) fn clean_text(field: &'static str, value: &str, max: usize) -> CoreResult<String> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max || crate::text::has_unsafe_chars(v) {
        return Err(CoreError::invalid(
            field,
            format!("must be 1 to {max} printable characters"),
        ));
    }
    Ok(v.to_string())
}
