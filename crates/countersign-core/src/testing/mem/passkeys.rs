//! In-memory passkeys and WebAuthn handles (`PasskeyStore`).

use super::*;
use crate::error::StoreError;
use crate::methods::passkey::{PasskeyCredential, PasskeyUse, Recorded};
use async_trait::async_trait;

#[async_trait]
impl PasskeyStore for MemStore {
    async fn insert_passkey(&self, p: &PasskeyCredential) -> StoreResult<()> {
        let mut d = self.0.lock().unwrap();
        if d.passkeys
            .iter()
            .any(|x| x.credential_id == p.credential_id)
        {
            return Err(StoreError::Conflict(format!("passkey {}", p.credential_id)));
        }
        d.passkeys.push(p.clone());
        Ok(())
    }

    async fn passkey(&self, credential_id: &str) -> StoreResult<Option<PasskeyCredential>> {
        let d = self.0.lock().unwrap();
        Ok(d.passkeys
            .iter()
            .find(|p| p.credential_id == credential_id)
            .cloned())
    }

    async fn passkeys_of_user(&self, user_id: &str) -> StoreResult<Vec<PasskeyCredential>> {
        let d = self.0.lock().unwrap();
        let mut out: Vec<PasskeyCredential> = d
            .passkeys
            .iter()
            .filter(|p| p.user_id == user_id)
            .cloned()
            .collect();
        out.sort_by(|a, b| (a.created_at, &a.credential_id).cmp(&(b.created_at, &b.credential_id)));
        Ok(out)
    }

    async fn record_passkey_use(
        &self,
        credential_id: &str,
        u: &PasskeyUse,
    ) -> StoreResult<Recorded> {
        let mut d = self.0.lock().unwrap();
        let Some(p) = d
            .passkeys
            .iter_mut()
            .find(|p| p.credential_id == credential_id)
        else {
            return Ok(Recorded::Unknown);
        };
        if !crate::methods::passkey::counter_moves_on(p.sign_count, u.sign_count) {
            return Ok(Recorded::CounterRegressed);
        }
        p.sign_count = u.sign_count;
        p.backup_eligible = u.backup_eligible;
        p.backup_state = u.backup_state;
        p.last_used_at = Some(u.at);
        Ok(Recorded::Recorded)
    }

    async fn rename_passkey(
        &self,
        user_id: &str,
        credential_id: &str,
        name: &str,
    ) -> StoreResult<bool> {
        let mut d = self.0.lock().unwrap();
        match d
            .passkeys
            .iter_mut()
            .find(|p| p.credential_id == credential_id && p.user_id == user_id)
        {
            Some(p) => {
                p.name = name.into();
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn delete_passkey(&self, user_id: &str, credential_id: &str) -> StoreResult<bool> {
        let mut d = self.0.lock().unwrap();
        let before = d.passkeys.len();
        d.passkeys
            .retain(|p| !(p.credential_id == credential_id && p.user_id == user_id));
        Ok(d.passkeys.len() < before)
    }

    async fn webauthn_handle(&self, user_id: &str, new: &str) -> StoreResult<String> {
        let mut d = self.0.lock().unwrap();
        if d.handles.values().any(|h| h == new) && !d.handles.contains_key(user_id) {
            return Err(StoreError::Conflict("WebAuthn user handle".into()));
        }
        Ok(d.handles
            .entry(user_id.to_string())
            .or_insert_with(|| new.to_string())
            .clone())
    }

    async fn user_of_webauthn_handle(&self, handle: &str) -> StoreResult<Option<String>> {
        let d = self.0.lock().unwrap();
        Ok(d.handles
            .iter()
            .find(|(_, h)| h.as_str() == handle)
            .map(|(u, _)| u.clone()))
    }
}
