//! The policy document (Entra's model): one configuration per method — Authenticator app,
//! software OATH, hardware OATH, passkey (FIDO2), Temporary Access Pass — each enabled or
//! disabled for include targets (all users or groups) minus exclude groups, with the method's own
//! settings; its validation (every refusal names the field), and the tenant's stored version.

use super::validation::bad;
use crate::error::CoreResult;
use crate::model::Tenant;
use crate::Deps;
use serde::{Deserialize, Serialize};

/// The include target meaning every user of the tenant.
pub const ALL_USERS: &str = "all_users";
pub(super) const ALL_USERS_NAME: &str = "All users";

/// Temporary Access Pass lifetimes are bounded by these, in minutes (10 minutes to 30 days).
pub const TAP_MIN_MINUTES: u32 = 10;
pub const TAP_MAX_MINUTES: u32 = 30 * 24 * 60;
/// Temporary Access Pass lengths, in characters.
pub const TAP_LENGTHS: std::ops::RangeInclusive<u32> = 8..=48;
/// Digits of the number a user matches in a push approval.
pub const NUMBER_MATCH_DIGITS: std::ops::RangeInclusive<u8> = 2..=6;

/// The methods the policy configures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MethodId {
    Authenticator,
    SoftwareOath,
    HardwareOath,
    Passkey,
    TemporaryAccessPass,
}

impl MethodId {
    pub const ALL: [MethodId; 5] = [
        Self::Authenticator,
        Self::SoftwareOath,
        Self::HardwareOath,
        Self::Passkey,
        Self::TemporaryAccessPass,
    ];
    /// The method's key in the policy document.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Authenticator => "authenticator",
            Self::SoftwareOath => "softwareOath",
            Self::HardwareOath => "hardwareOath",
            Self::Passkey => "passkey",
            Self::TemporaryAccessPass => "temporaryAccessPass",
        }
    }
    pub fn display(self) -> &'static str {
        match self {
            Self::Authenticator => "Authenticator app (push and phone sign-in)",
            Self::SoftwareOath => "Software OATH tokens (authenticator app codes)",
            Self::HardwareOath => "Hardware OATH tokens",
            Self::Passkey => "Passkey (FIDO2)",
            Self::TemporaryAccessPass => "Temporary Access Pass",
        }
    }
    /// Accepts the document's key in any case, with or without '-' or '_' (`software-oath`),
    /// and `fido2` for the passkey.
    pub fn parse(s: &str) -> Option<Self> {
        let norm: String = s
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .flat_map(char::to_lowercase)
            .collect();
        if norm == "fido2" {
            return Some(Self::Passkey);
        }
        Self::ALL
            .into_iter()
            .find(|m| m.as_str().to_lowercase() == norm)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum State {
    Enabled,
    Disabled,
}

/// How the Authenticator app may be used by an include target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AuthenticationMode {
    /// Push approvals and phone sign-in.
    Any,
    /// Push approvals only (a second factor).
    Push,
    /// Phone sign-in only (passwordless).
    Passwordless,
}

/// A group the configuration applies to, or [`ALL_USERS`]. On input `id` may be a group's id or
/// its name; stored documents hold ids, and `displayName` is filled in on output (ignored on input).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Target {
    #[serde(default = "group_type")]
    pub target_type: String,
    pub id: String,
    /// Only on the Authenticator app's include targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_mode: Option<AuthenticationMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

fn group_type() -> String {
    "group".into()
}

impl Target {
    pub fn all_users() -> Self {
        Self {
            display_name: Some(ALL_USERS_NAME.into()),
            ..Self::group(ALL_USERS)
        }
    }
    pub fn group(id: &str) -> Self {
        Self {
            target_type: group_type(),
            id: id.into(),
            authentication_mode: None,
            display_name: None,
        }
    }
    fn matches(&self, groups: &[String]) -> bool {
        self.id == ALL_USERS || groups.contains(&self.id)
    }
}

/// State and targets, common to every method.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MethodConfig {
    pub state: State,
    #[serde(default = "everyone")]
    pub include_targets: Vec<Target>,
    #[serde(default)]
    pub exclude_targets: Vec<Target>,
}

fn everyone() -> Vec<Target> {
    vec![Target::all_users()]
}

impl MethodConfig {
    fn new(state: State) -> Self {
        Self {
            state,
            include_targets: everyone(),
            exclude_targets: Vec::new(),
        }
    }
    /// The include target that lets a member of `groups` use the method, if any.
    pub fn target_for(&self, groups: &[String]) -> Option<&Target> {
        if self.state == State::Disabled || self.exclude_targets.iter().any(|t| t.matches(groups)) {
            return None;
        }
        self.include_targets.iter().find(|t| t.matches(groups))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FeatureState {
    Enabled,
    Disabled,
    /// Countersign's choice: shown (as Entra's Microsoft-managed value is today).
    Default,
}

/// One feature of the Authenticator app's requests (show the application name, show the location).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FeatureSetting {
    pub state: FeatureState,
    #[serde(default = "Target::all_users")]
    pub include_target: Target,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_target: Option<Target>,
}

impl FeatureSetting {
    fn default_on() -> Self {
        Self {
            state: FeatureState::Default,
            include_target: Target::all_users(),
            exclude_target: None,
        }
    }
    /// Whether the feature is on for a member of `groups`.
    pub fn on_for(&self, groups: &[String]) -> bool {
        self.state != FeatureState::Disabled
            && self.include_target.matches(groups)
            && !self
                .exclude_target
                .as_ref()
                .is_some_and(|t| t.matches(groups))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthenticatorFeatures {
    #[serde(default = "FeatureSetting::default_on")]
    pub display_app_information: FeatureSetting,
    #[serde(default = "FeatureSetting::default_on")]
    pub display_location_information: FeatureSetting,
    /// Digits of the number shown at sign-in and typed in the app.
    #[serde(default = "two")]
    pub number_matching_digits: u8,
    /// At most this many sign-in requests to one user in this window (push fatigue).
    #[serde(default)]
    pub push_fatigue_limit: PushFatigueLimit,
}

/// The push fatigue limit: at most `requests` sign-in requests to one user within
/// `window_minutes`, whatever became of them, so nobody can wear a person down with prompts until
/// one is approved. A Countersign setting (Entra's limit is fixed): 5 in 10 minutes by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PushFatigueLimit {
    /// 1 to [`PushFatigueLimit::MAX_REQUESTS`].
    pub requests: u32,
    /// 1 to [`PushFatigueLimit::MAX_WINDOW_MINUTES`].
    pub window_minutes: u32,
}

impl PushFatigueLimit {
    /// More would make the limit no limit: a person is not asked to approve 20 sign-ins in a
    /// short while by anyone but an attacker.
    pub const MAX_REQUESTS: u32 = 20;
    /// A day: a longer window would lock out a person who signs in often.
    pub const MAX_WINDOW_MINUTES: u32 = 24 * 60;
}

impl Default for PushFatigueLimit {
    fn default() -> Self {
        Self {
            requests: 5,
            window_minutes: 10,
        }
    }
}

fn two() -> u8 {
    2
}

impl Default for AuthenticatorFeatures {
    fn default() -> Self {
        Self {
            display_app_information: FeatureSetting::default_on(),
            display_location_information: FeatureSetting::default_on(),
            number_matching_digits: 2,
            push_fatigue_limit: PushFatigueLimit::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthenticatorConfig {
    #[serde(flatten)]
    pub method: MethodConfig,
    #[serde(default)]
    pub feature_settings: AuthenticatorFeatures,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EnforcementType {
    Allow,
    Block,
}

/// Which security keys and passkey providers may be registered, by AAGUID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyRestrictions {
    pub is_enforced: bool,
    pub enforcement_type: EnforcementType,
    #[serde(default)]
    pub aa_guids: Vec<String>,
}

impl Default for KeyRestrictions {
    fn default() -> Self {
        Self {
            is_enforced: false,
            enforcement_type: EnforcementType::Block,
            aa_guids: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PasskeyConfig {
    #[serde(flatten)]
    pub method: MethodConfig,
    #[serde(default = "yes")]
    pub is_self_service_registration_allowed: bool,
    #[serde(default)]
    pub is_attestation_enforced: bool,
    #[serde(default)]
    pub key_restrictions: KeyRestrictions,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TapConfig {
    #[serde(flatten)]
    pub method: MethodConfig,
    #[serde(default = "sixty")]
    pub default_lifetime_in_minutes: u32,
    #[serde(default = "sixty")]
    pub minimum_lifetime_in_minutes: u32,
    #[serde(default = "eight_hours")]
    pub maximum_lifetime_in_minutes: u32,
    #[serde(default = "yes")]
    pub is_usable_once: bool,
    #[serde(default = "eight")]
    pub default_length: u32,
}

fn sixty() -> u32 {
    60
}
fn eight_hours() -> u32 {
    480
}
fn eight() -> u32 {
    8
}

/// A tenant's whole policy document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MethodsPolicy {
    /// "Require multifactor authentication for everyone": every sign-in needs a second factor.
    #[serde(default)]
    pub require_mfa_for_everyone: bool,
    pub authenticator: AuthenticatorConfig,
    pub software_oath: MethodConfig,
    pub hardware_oath: MethodConfig,
    pub passkey: PasskeyConfig,
    pub temporary_access_pass: TapConfig,
}

impl Default for MethodsPolicy {
    /// What a new tenant gets: the Authenticator app and OATH tokens for everyone; passkeys and
    /// Temporary Access Passes off until an administrator turns them on (as in Entra).
    fn default() -> Self {
        Self {
            require_mfa_for_everyone: false,
            authenticator: AuthenticatorConfig {
                method: MethodConfig {
                    state: State::Enabled,
                    include_targets: vec![Target {
                        authentication_mode: Some(AuthenticationMode::Any),
                        ..Target::all_users()
                    }],
                    exclude_targets: Vec::new(),
                },
                feature_settings: AuthenticatorFeatures::default(),
            },
            software_oath: MethodConfig::new(State::Enabled),
            hardware_oath: MethodConfig::new(State::Enabled),
            passkey: PasskeyConfig {
                method: MethodConfig::new(State::Disabled),
                is_self_service_registration_allowed: true,
                is_attestation_enforced: false,
                key_restrictions: KeyRestrictions::default(),
            },
            temporary_access_pass: TapConfig {
                method: MethodConfig::new(State::Disabled),
                default_lifetime_in_minutes: 60,
                minimum_lifetime_in_minutes: 60,
                maximum_lifetime_in_minutes: 480,
                is_usable_once: true,
                default_length: 8,
            },
        }
    }
}

impl MethodsPolicy {
    /// Parses a document; a refusal names the field (`softwareOath.state`) and says why.
    pub fn from_json(text: &str) -> CoreResult<Self> {
        let de = &mut serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." { "policy".into() } else { path };
            bad(field, e.into_inner().to_string())
        })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a policy always serialises")
    }

    pub fn method(&self, m: MethodId) -> &MethodConfig {
        match m {
            MethodId::Authenticator => &self.authenticator.method,
            MethodId::SoftwareOath => &self.software_oath,
            MethodId::HardwareOath => &self.hardware_oath,
            MethodId::Passkey => &self.passkey.method,
            MethodId::TemporaryAccessPass => &self.temporary_access_pass.method,
        }
    }

    pub fn method_mut(&mut self, m: MethodId) -> &mut MethodConfig {
        match m {
            MethodId::Authenticator => &mut self.authenticator.method,
            MethodId::SoftwareOath => &mut self.software_oath,
            MethodId::HardwareOath => &mut self.hardware_oath,
            MethodId::Passkey => &mut self.passkey.method,
            MethodId::TemporaryAccessPass => &mut self.temporary_access_pass.method,
        }
    }

    /// Whether a member of `groups` may use method `m`.
    pub fn allows(&self, m: MethodId, groups: &[String]) -> bool {
        self.method(m).target_for(groups).is_some()
    }

    /// Whether the key restrictions let a passkey of the model `aaguid` be registered and used,
    /// whoever holds it. Without an AAGUID (an authenticator that sends zeros) only a block list
    /// lets it through. (Whether passkeys are on for a user is `Eligibility::passkey`.)
    pub fn allows_passkey_model(&self, aaguid: Option<&str>) -> bool {
        let r = &self.passkey.key_restrictions;
        if !r.is_enforced {
            return true;
        }
        let listed = aaguid.is_some_and(|a| r.aa_guids.iter().any(|g| g.eq_ignore_ascii_case(a)));
        match r.enforcement_type {
            EnforcementType::Allow => listed,
            EnforcementType::Block => !listed,
        }
    }

    /// Whether any target names a group: if none does, who may use what does not depend on
    /// membership and the sign-in path need not read it.
    pub fn names_groups(&self) -> bool {
        let by_group = |t: &Target| t.id != ALL_USERS;
        let f = &self.authenticator.feature_settings;
        MethodId::ALL.into_iter().any(|m| {
            let c = self.method(m);
            c.include_targets.iter().any(by_group) || c.exclude_targets.iter().any(by_group)
        }) || [&f.display_app_information, &f.display_location_information]
            .into_iter()
            .any(|s| by_group(&s.include_target) || s.exclude_target.as_ref().is_some_and(by_group))
    }
}

/// A tenant's policy as stored, with the version its next change must name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPolicy {
    pub policy: MethodsPolicy,
    /// 0 while the tenant still has the default policy.
    pub version: i64,
}

/// The tenant's policy (the default until an administrator changes it).
pub async fn load(deps: &Deps, tenant: &Tenant) -> CoreResult<StoredPolicy> {
    Ok(deps
        .store
        .methods_policy(&tenant.id)
        .await?
        .unwrap_or_else(|| StoredPolicy {
            policy: MethodsPolicy::default(),
            version: 0,
        }))
}
