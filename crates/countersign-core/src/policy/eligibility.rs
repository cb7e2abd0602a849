//! Who may use what: the tenant's authentication methods policy as it applies to one user. Every
//! offer, check and registration of a method the policy governs asks an [`Eligibility`], so the
//! rules of targets, modes and key restrictions are written here alone.

use super::document::{load, AuthenticationMode, MethodId, MethodsPolicy};
use crate::error::CoreResult;
use crate::model::{OathKind, Tenant, User};
use crate::Deps;

/// A policy and the groups of the user it is applied to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eligibility {
    policy: MethodsPolicy,
    /// The user's group ids, read only when a target names a group (empty otherwise).
    groups: Vec<String>,
}

impl Eligibility {
    /// The tenant's policy (read now: a change applies at once) for `user`.
    pub async fn load(deps: &Deps, tenant: &Tenant, user: &User) -> CoreResult<Self> {
        let policy = load(deps, tenant).await?.policy;
        Self::of(deps, policy, user).await
    }

    /// `policy`, read already, for `user`: their groups are read only when a target names one.
    pub async fn of(deps: &Deps, policy: MethodsPolicy, user: &User) -> CoreResult<Self> {
        let groups = if policy.names_groups() {
            let groups = deps.store.groups_of_user(&user.id).await?;
            groups.into_iter().map(|g| g.id).collect()
        } else {
            Vec::new()
        };
        Ok(Self { policy, groups })
    }

    /// For a member of `groups` (tests; callers that know them).
    pub fn with_groups(policy: MethodsPolicy, groups: Vec<String>) -> Self {
        Self { policy, groups }
    }

    pub fn policy(&self) -> &MethodsPolicy {
        &self.policy
    }

    /// Whether the policy's configuration of `m` includes the user (and does not exclude them).
    pub fn allows(&self, m: MethodId) -> bool {
        self.policy.allows(m, &self.groups)
    }

    /// The Authenticator app: registering a device for requests (and codes, where allowed).
    pub fn authenticator(&self) -> bool {
        self.allows(MethodId::Authenticator)
    }

    /// Push approvals as a second factor: the Authenticator app in the `Any` or `Push` mode
    /// (`Passwordless` is phone sign-in only).
    pub fn push(&self) -> bool {
        self.mode_allows(AuthenticationMode::Push)
    }

    /// Phone sign-in: the Authenticator app in the `Any` or `Passwordless` mode (`Push` refuses
    /// the passwordless credential).
    pub fn phone(&self) -> bool {
        self.mode_allows(AuthenticationMode::Passwordless)
    }

    fn mode_allows(&self, wanted: AuthenticationMode) -> bool {
        let target = self.policy.authenticator.method.target_for(&self.groups);
        target.is_some_and(|t| {
            let mode = t.authentication_mode.unwrap_or(AuthenticationMode::Any);
            mode == AuthenticationMode::Any || mode == wanted
        })
    }

    /// OATH tokens of `kind`.
    pub fn oath(&self, kind: OathKind) -> bool {
        self.allows(match kind {
            OathKind::Software => MethodId::SoftwareOath,
            OathKind::Hardware => MethodId::HardwareOath,
        })
    }

    /// The OATH token kinds the user may use.
    pub fn oath_kinds(&self) -> Vec<OathKind> {
        [OathKind::Software, OathKind::Hardware]
            .into_iter()
            .filter(|k| self.oath(*k))
            .collect()
    }

    /// A passkey of the model `aaguid`: passkeys are on for the user and the key restrictions let
    /// the model be registered and used. Without an AAGUID (an authenticator that sends zeros)
    /// only a block list lets it through.
    pub fn passkey(&self, aaguid: Option<&str>) -> bool {
        self.allows(MethodId::Passkey) && self.policy.allows_passkey_model(aaguid)
    }

    /// A Temporary Access Pass.
    pub fn tap(&self) -> bool {
        self.allows(MethodId::TemporaryAccessPass)
    }

    /// Whether a feature of the Authenticator's requests (application name, location) is on.
    pub fn feature(&self, f: &super::FeatureSetting) -> bool {
        f.on_for(&self.groups)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{EnforcementType, State, Target};

    fn with_mode(mode: AuthenticationMode) -> Eligibility {
        let mut p = MethodsPolicy::default();
        p.authenticator.method.state = State::Enabled;
        p.authenticator.method.include_targets = vec![Target {
            authentication_mode: Some(mode),
            ..Target::all_users()
        }];
        Eligibility::with_groups(p, Vec::new())
    }

    #[test]
    fn the_authenticator_mode_decides_push_and_phone_sign_in() {
        let any = with_mode(AuthenticationMode::Any);
        assert!(any.push() && any.phone());
        let push = with_mode(AuthenticationMode::Push);
        assert!(push.push() && !push.phone());
        let phone = with_mode(AuthenticationMode::Passwordless);
        assert!(!phone.push() && phone.phone());
    }

    #[test]
    fn key_restrictions_allow_or_block_models() {
        let mut p = MethodsPolicy::default();
        p.passkey.method.state = State::Enabled;
        let e = Eligibility::with_groups(p.clone(), Vec::new());
        assert!(e.passkey(None) && e.passkey(Some("any")));
        let model = "cb69481e-8ff7-4039-93ec-0a2729a154a8";
        p.passkey.key_restrictions.is_enforced = true;
        p.passkey.key_restrictions.aa_guids = vec![model.into()];
        p.passkey.key_restrictions.enforcement_type = EnforcementType::Allow;
        let allow = Eligibility::with_groups(p.clone(), Vec::new());
        assert!(allow.passkey(Some(&model.to_uppercase())));
        assert!(!allow.passkey(None) && !allow.passkey(Some("other")));
        p.passkey.key_restrictions.enforcement_type = EnforcementType::Block;
        let block = Eligibility::with_groups(p.clone(), Vec::new());
        assert!(!block.passkey(Some(model)) && block.passkey(None));
        p.passkey.method.state = State::Disabled;
        let off = Eligibility::with_groups(p, Vec::new());
        assert!(!off.passkey(None) && off.policy().allows_passkey_model(None));
    }
}
