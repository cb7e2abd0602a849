//! In-memory devices, activation codes and push requests (`PushStore`).

use super::*;
use crate::clock::Timestamp;
use crate::error::StoreError;
use crate::methods::oath::OathToken;
use crate::methods::push::{Activation, Device, PushRequest, PushState};
use crate::signin::throttle::{LockoutPolicy, Release};
use async_trait::async_trait;

#[async_trait]
impl PushStore for MemStore {
    async fn insert_activation(&self, a: &Activation) -> StoreResult<()> {
        let mut d = self.0.lock().unwrap();
        if d.activations.contains_key(&a.code_digest) {
            return Err(StoreError::Conflict("activation code".into()));
        }
        d.activations
            .insert(a.code_digest.clone(), (a.clone(), false));
        Ok(())
    }

    async fn register_device(
        &self,
        code_digest: &str,
        now: Timestamp,
        device: &Device,
        codes: &OathToken,
    ) -> StoreResult<Option<Device>> {
        let mut d = self.0.lock().unwrap();
        if d.devices.iter().any(|x| x.id == device.id) {
            return Err(StoreError::Conflict(format!("device {}", device.id)));
        }
        let Some((a, used)) = d.activations.get_mut(code_digest) else {
            return Ok(None);
        };
        if *used || a.expires_at <= now || a.tenant_id != device.tenant_id {
            return Ok(None);
        }
        *used = true;
        let a = a.clone();
        let token = a.with_codes.then(|| OathToken {
            tenant_id: a.tenant_id.clone(),
            user_id: a.user_id.clone(),
            ..codes.clone()
        });
        let registered = Device {
            tenant_id: a.tenant_id,
            user_id: a.user_id,
            oath_token_id: token.as_ref().map(|t| t.id.clone()),
            ..device.clone()
        };
        if let Some(t) = token {
            d.oath.push(t);
        }
        d.devices.push(registered.clone());
        Ok(Some(registered))
    }

    async fn device_by_id(&self, id: &str) -> StoreResult<Option<Device>> {
        let d = self.0.lock().unwrap();
        Ok(d.devices.iter().find(|x| x.id == id).cloned())
    }

    async fn devices_of_user(&self, user_id: &str) -> StoreResult<Vec<Device>> {
        let d = self.0.lock().unwrap();
        let mut out: Vec<Device> = d
            .devices
            .iter()
            .filter(|x| x.user_id == user_id)
            .cloned()
            .collect();
        out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(out)
    }

    async fn delete_device(&self, id: &str) -> StoreResult<bool> {
        let mut d = self.0.lock().unwrap();
        let before = d.devices.len();
        let codes = d
            .devices
            .iter()
            .find(|x| x.id == id)
            .and_then(|x| x.oath_token_id.clone());
        if let Some(t) = codes {
            d.oath.retain(|x| x.id != t);
        }
        d.devices.retain(|x| x.id != id);
        d.challenges.retain(|_, (dev, _)| dev != id);
        Ok(d.devices.len() < before)
    }

    async fn insert_push_request(
        &self,
        r: &PushRequest,
        fatigue: crate::methods::push::Fatigue,
        reserve: &[(&str, LockoutPolicy)],
        flow: Option<&SignInFlow>,
    ) -> StoreResult<crate::methods::push::Inserted> {
        use crate::methods::push::Inserted;
        {
            let d = self.0.lock().unwrap();
            if d.pushes.iter().any(|x| x.id == r.id) {
                return Err(StoreError::Conflict("push request".into()));
            }
            let recent = d
                .pushes
                .iter()
                .filter(|x| x.user_id == r.user_id && x.created_at >= fatigue.since)
                .count();
            if fatigue.reached(recent as u64) {
                return Ok(Inserted::Fatigued);
            }
        }
        // The fake's reservation is a step of its own: its tests run one request at a time.
        if !self.reserve_attempt(reserve, r.created_at).await? {
            return Ok(Inserted::Locked);
        }
        let mut d = self.0.lock().unwrap();
        if let Some(f) = flow {
            d.flows.insert(f.id.clone(), f.clone());
        }
        let mut withdrawn = Vec::new();
        for old in d.pushes.iter_mut() {
            if old.user_id == r.user_id && old.state == PushState::Pending {
                old.state = PushState::Withdrawn;
                old.settled_at = Some(r.created_at);
                withdrawn.push(old.id.clone());
            }
        }
        d.pushes.push(r.clone());
        Ok(Inserted::Sent { withdrawn })
    }

    async fn push_request(&self, id: &str) -> StoreResult<Option<PushRequest>> {
        let d = self.0.lock().unwrap();
        Ok(d.pushes.iter().find(|x| x.id == id).cloned())
    }

    async fn pending_push_requests(
        &self,
        user_id: &str,
        now: Timestamp,
    ) -> StoreResult<Vec<PushRequest>> {
        let d = self.0.lock().unwrap();
        let mut out: Vec<PushRequest> = d
            .pushes
            .iter()
            .filter(|x| x.user_id == user_id && x.state == PushState::Pending && x.expires_at > now)
            .cloned()
            .collect();
        out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(out)
    }

    async fn settle_push_request(
        &self,
        id: &str,
        state: PushState,
        device_id: Option<&str>,
        now: Timestamp,
        release: &[(&str, Release)],
    ) -> StoreResult<bool> {
        let settled = {
            let mut d = self.0.lock().unwrap();
            match d.pushes.iter_mut().find(|x| x.id == id) {
                Some(r) if r.state == PushState::Pending && state.may_settle(r.expires_at, now) => {
                    r.state = state;
                    r.settled_at = Some(now);
                    r.device_id = device_id.map(str::to_string);
                    let user_id = r.user_id.clone();
                    if state == PushState::NotMe {
                        if let Some(u) = d.users.get_mut(&user_id) {
                            u.push_blocked_at = Some(now);
                        }
                    }
                    true
                }
                _ => false,
            }
        };
        if settled {
            self.release_attempt(release).await?;
        }
        Ok(settled)
    }

    async fn set_push_block(&self, user_id: &str, at: Option<Timestamp>) -> StoreResult<bool> {
        let mut d = self.0.lock().unwrap();
        Ok(d.users
            .get_mut(user_id)
            .map(|u| u.push_blocked_at = at)
            .is_some())
    }

    async fn insert_device_challenge(
        &self,
        digest: &str,
        device_id: &str,
        expires_at: Timestamp,
    ) -> StoreResult<()> {
        let mut d = self.0.lock().unwrap();
        if d.challenges.contains_key(digest) {
            return Err(StoreError::Conflict("device challenge".into()));
        }
        d.challenges
            .insert(digest.into(), (device_id.into(), expires_at));
        Ok(())
    }

    async fn take_device_challenge(
        &self,
        digest: &str,
        device_id: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut d = self.0.lock().unwrap();
        let fits = d
            .challenges
            .get(digest)
            .is_some_and(|(dev, exp)| dev == device_id && *exp > now);
        if fits {
            d.challenges.remove(digest);
        }
        Ok(fits)
    }

    async fn touch_device(&self, id: &str, at: Timestamp) -> StoreResult<()> {
        let mut d = self.0.lock().unwrap();
        if let Some(x) = d.devices.iter_mut().find(|x| x.id == id) {
            x.last_seen_at = Some(at);
        }
        Ok(())
    }

    async fn enable_phone_sign_in(
        &self,
        device_id: &str,
        phone_key: &str,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<crate::methods::phone::Enabled> {
        use crate::methods::phone::Enabled;
        let mut d = self.0.lock().unwrap();
        let Some(user) = d
            .devices
            .iter()
            .find(|x| x.id == device_id)
            .map(|x| x.user_id.clone())
        else {
            return Ok(Enabled::UnknownDevice);
        };
        if d.phone_devices(&user, Some(device_id)) >= limit as usize {
            return Ok(Enabled::LimitReached);
        }
        let x = d.devices.iter_mut().find(|x| x.id == device_id).unwrap();
        x.phone_key = Some(phone_key.into());
        x.phone_enabled_at = Some(now);
        Ok(Enabled::Enabled)
    }

    async fn register_with_pass(
        &self,
        pass_id: &str,
        now: Timestamp,
        device: &Device,
        codes: Option<&OathToken>,
        limit: u32,
    ) -> StoreResult<crate::methods::phone::Registered> {
        use crate::methods::phone::Registered;
        let mut d = self.0.lock().unwrap();
        let live = d.taps.get(&device.user_id).is_some_and(|p| {
            p.id == pass_id && p.state(now) == crate::methods::tap::PassState::Live
        });
        if !live {
            return Ok(Registered::PassRefused);
        }
        if d.phone_devices(&device.user_id, None) >= limit as usize {
            return Ok(Registered::LimitReached);
        }
        if d.devices.iter().any(|x| x.id == device.id) {
            return Err(StoreError::Conflict(format!("device {}", device.id)));
        }
        d.taps.get_mut(&device.user_id).unwrap().used_at = Some(now);
        d.oath.extend(codes.cloned());
        d.devices.push(device.clone());
        Ok(Registered::Registered)
    }
}
