//! The checks a policy document must pass before it is stored — every refusal names its field —
//! and the resolution of group names to ids (and back, for showing it).

use super::document::*;
use crate::error::{CoreError, CoreResult};
use crate::model::Group;

impl MethodsPolicy {
    /// Every target with the document path of its `id`, for validation and group resolution.
    fn targets_mut(&mut self) -> Vec<(String, &mut Target)> {
        let mut out = Vec::new();
        let names = MethodId::ALL.map(MethodId::as_str);
        let MethodsPolicy {
            authenticator,
            software_oath,
            hardware_oath,
            passkey,
            temporary_access_pass,
            ..
        } = self;
        let AuthenticatorConfig {
            method: auth_method,
            feature_settings,
        } = authenticator;
        let configs = [
            auth_method,
            software_oath,
            hardware_oath,
            &mut passkey.method,
            &mut temporary_access_pass.method,
        ];
        for (name, c) in names.into_iter().zip(configs) {
            for (i, t) in c.include_targets.iter_mut().enumerate() {
                out.push((format!("{name}.includeTargets[{i}]"), t));
            }
            for (i, t) in c.exclude_targets.iter_mut().enumerate() {
                out.push((format!("{name}.excludeTargets[{i}]"), t));
            }
        }
        for (key, s) in [
            (
                "displayAppInformation",
                &mut feature_settings.display_app_information,
            ),
            (
                "displayLocationInformation",
                &mut feature_settings.display_location_information,
            ),
        ] {
            let base = format!("authenticator.featureSettings.{key}");
            out.push((format!("{base}.includeTarget"), &mut s.include_target));
            if let Some(t) = s.exclude_target.as_mut() {
                out.push((format!("{base}.excludeTarget"), t));
            }
        }
        out
    }

    /// Checks the rules the types alone do not, and resolves group names to ids against the
    /// tenant's `groups`. Display names are refreshed; the result is what gets stored.
    pub fn validated(mut self, groups: &[Group]) -> CoreResult<Self> {
        for (path, t) in self.targets_mut() {
            if t.target_type != "group" {
                return Err(bad(format!("{path}.targetType"), "must be \"group\""));
            }
            let is_auth_include = path.starts_with("authenticator.includeTargets");
            if t.authentication_mode.is_some() && !is_auth_include {
                return Err(bad(
                    format!("{path}.authenticationMode"),
                    "only the Authenticator app's include targets have an authentication mode",
                ));
            }
            if is_auth_include && t.authentication_mode.is_none() {
                t.authentication_mode = Some(AuthenticationMode::Any);
            }
            if t.id == ALL_USERS {
                if path.contains("exclude") {
                    return Err(bad(
                        format!("{path}.id"),
                        "all_users can't be excluded: disable the method instead",
                    ));
                }
                t.display_name = Some(ALL_USERS_NAME.into());
                continue;
            }
            let Some(g) = groups
                .iter()
                .find(|g| g.id == t.id || g.name.eq_ignore_ascii_case(&t.id))
            else {
                return Err(bad(
                    format!("{path}.id"),
                    format!("there is no group '{}' in this tenant", t.id),
                ));
            };
            t.id = g.id.clone();
            t.display_name = Some(g.name.clone());
        }
        for m in MethodId::ALL {
            if self.method(m).include_targets.is_empty() {
                return Err(bad(
                    format!("{}.includeTargets", m.as_str()),
                    "name at least one group, or all_users",
                ));
            }
        }
        let digits = self.authenticator.feature_settings.number_matching_digits;
        if !NUMBER_MATCH_DIGITS.contains(&digits) {
            return Err(bad(
                "authenticator.featureSettings.numberMatchingDigits".into(),
                "must be 2 to 6",
            ));
        }
        let fatigue = self.authenticator.feature_settings.push_fatigue_limit;
        if !(1..=PushFatigueLimit::MAX_REQUESTS).contains(&fatigue.requests) {
            return Err(bad(
                "authenticator.featureSettings.pushFatigueLimit.requests".into(),
                format!("must be 1 to {}", PushFatigueLimit::MAX_REQUESTS),
            ));
        }
        if !(1..=PushFatigueLimit::MAX_WINDOW_MINUTES).contains(&fatigue.window_minutes) {
            return Err(bad(
                "authenticator.featureSettings.pushFatigueLimit.windowMinutes".into(),
                format!("must be 1 to {}", PushFatigueLimit::MAX_WINDOW_MINUTES),
            ));
        }
        for (i, g) in self
            .passkey
            .key_restrictions
            .aa_guids
            .iter_mut()
            .enumerate()
        {
            *g = normalize_aaguid(g).ok_or_else(|| {
                bad(
                    format!("passkey.keyRestrictions.aaGuids[{i}]"),
                    "must be an AAGUID like cb69481e-8ff7-4039-93ec-0a2729a154a8",
                )
            })?;
        }
        let tap = &self.temporary_access_pass;
        let lifetimes = [
            ("minimumLifetimeInMinutes", tap.minimum_lifetime_in_minutes),
            ("defaultLifetimeInMinutes", tap.default_lifetime_in_minutes),
            ("maximumLifetimeInMinutes", tap.maximum_lifetime_in_minutes),
        ];
        for (name, v) in lifetimes {
            if !(TAP_MIN_MINUTES..=TAP_MAX_MINUTES).contains(&v) {
                return Err(bad(
                    format!("temporaryAccessPass.{name}"),
                    format!("must be {TAP_MIN_MINUTES} to {TAP_MAX_MINUTES} minutes (10 minutes to 30 days)"),
                ));
            }
        }
        if tap.minimum_lifetime_in_minutes > tap.maximum_lifetime_in_minutes {
            return Err(bad(
                "temporaryAccessPass.minimumLifetimeInMinutes".into(),
                "must not be more than maximumLifetimeInMinutes",
            ));
        }
        if !(tap.minimum_lifetime_in_minutes..=tap.maximum_lifetime_in_minutes)
            .contains(&tap.default_lifetime_in_minutes)
        {
            return Err(bad(
                "temporaryAccessPass.defaultLifetimeInMinutes".into(),
                "must lie between minimumLifetimeInMinutes and maximumLifetimeInMinutes",
            ));
        }
        if !TAP_LENGTHS.contains(&tap.default_length) {
            return Err(bad(
                "temporaryAccessPass.defaultLength".into(),
                "must be 8 to 48 characters",
            ));
        }
        Ok(self)
    }
}

impl MethodsPolicy {
    /// Refreshes the targets' display names from the tenant's `groups` for showing the document
    /// (a group renamed since shows its new name; a deleted one says so).
    pub fn with_names(mut self, groups: &[Group]) -> Self {
        for (_, t) in self.targets_mut() {
            if t.id != ALL_USERS {
                t.display_name = Some(
                    groups
                        .iter()
                        .find(|g| g.id == t.id)
                        .map_or_else(|| "(deleted group)".into(), |g| g.name.clone()),
                );
            }
        }
        self
    }
}

pub(super) fn bad(field: String, reason: impl Into<String>) -> CoreError {
    CoreError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

/// An AAGUID in its canonical lowercase 8-4-4-4-12 form, or `None`.
fn normalize_aaguid(s: &str) -> Option<String> {
    let s = s.trim().to_ascii_lowercase();
    let parts: Vec<&str> = s.split('-').collect();
    let shape = [8, 4, 4, 4, 12];
    let ok = parts.len() == 5
        && parts
            .iter()
            .zip(shape)
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()));
    ok.then_some(s)
}
