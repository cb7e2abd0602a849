//! A sign-in's circumstances, as the HTTP edge saw them when the person acted: the client's
//! address and browser, and the place its address is in. Built once per request at the edge,
//! kept in the flow's state (`FlowState::context`), and seen by the engine and the risk rules.
//! Stored as JSON with defaults, so facts added later (a place proved by the authenticator's GPS)
//! need no migration.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SignInContext {
    /// The client's address (behind a trusted proxy, `X-Forwarded-For`'s last entry).
    pub client_addr: Option<String>,
    /// The browser's `User-Agent`, at most [`USER_AGENT_MAX`] characters of it.
    pub user_agent: Option<String>,
    /// The address's city and country, when a GeoIP database is configured.
    pub city: Option<String>,
    pub country: Option<String>,
}

/// How much of a `User-Agent` is kept: enough to recognise any browser, bounded for the store.
pub const USER_AGENT_MAX: usize = 256;

impl SignInContext {
    /// The context of a request: `user_agent` is cut to [`USER_AGENT_MAX`] characters, and
    /// control characters in it are dropped (it is shown to people and written to logs).
    pub fn new(client_addr: Option<String>, user_agent: Option<&str>) -> Self {
        let user_agent = user_agent
            .map(|ua| {
                ua.chars()
                    .filter(|c| !c.is_control())
                    .take(USER_AGENT_MAX)
                    .collect::<String>()
            })
            .filter(|ua| !ua.is_empty());
        Self {
            client_addr,
            user_agent,
            city: None,
            country: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_agent_is_bounded_and_has_no_control_characters() {
        let long = "x".repeat(1000);
        let c = SignInContext::new(None, Some(&long));
        assert_eq!(c.user_agent.unwrap().len(), USER_AGENT_MAX);
        let c = SignInContext::new(Some("192.0.2.1".into()), Some("Mozilla\n\u{7}/5.0"));
        assert_eq!(c.user_agent.as_deref(), Some("Mozilla/5.0"));
        assert_eq!(SignInContext::new(None, Some("\n")).user_agent, None);
    }
}
