//! Devices, activation codes and push requests (`PushStore`).

use super::*;
use crate::db::query;
use crate::rows::{self, R};
use crate::SqlStore;
use async_trait::async_trait;
use countersign_core::clock::Timestamp;
use countersign_core::methods::oath::OathToken;
use countersign_core::methods::phone;
use countersign_core::methods::push::{self, Activation, Device, PushRequest, PushState};
use countersign_core::model::*;
use countersign_core::signin::throttle::{LockoutPolicy, Release};
use std::sync::LazyLock;

#[async_trait]
impl PushStore for SqlStore {
    async fn insert_activation(&self, a: &Activation) -> R<()> {
        query(
            "INSERT INTO device_activations \
             (code_digest, tenant_id, user_id, created_at, expires_at, with_codes) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&a.code_digest)
        .bind(&a.tenant_id)
        .bind(&a.user_id)
        .bind(a.created_at)
        .bind(a.expires_at)
        .bind(a.with_codes as i64)
        .execute(&self.db)
        .await
        .map_err(|e| conflict(e, || "activation code".into()))?;
        Ok(())
    }

    async fn register_device(
        &self,
        code_digest: &str,
        now: Timestamp,
        device: &Device,
        codes: &OathToken,
    ) -> R<Option<Device>> {
        let mut tx = self.db.begin().await?;
        // The conditional update is the single use: of parallel registrations with one code,
        // one finds the row unused.
        let Some(row) = query(
            "UPDATE device_activations SET used_at = $2 \
             WHERE code_digest = $1 AND tenant_id = $3 AND used_at IS NULL AND expires_at > $2 \
             RETURNING tenant_id, user_id, with_codes",
        )
        .bind(code_digest)
        .bind(now)
        .bind(&device.tenant_id)
        .fetch_in(&mut tx)
        .await?
        else {
            tx.rollback().await?;
            return Ok(None);
        };
        let (tenant_id, user_id): (String, String) = (row.get("tenant_id")?, row.get("user_id")?);
        let mut oath_token_id = None;
        if row.get::<i64>("with_codes")? != 0 {
            let t = OathToken {
                tenant_id: tenant_id.clone(),
                user_id: user_id.clone(),
                ..codes.clone()
            };
            self.insert_oath_in(&mut tx, &t).await?;
            oath_token_id = Some(t.id);
        }
        let registered = Device {
            tenant_id,
            user_id,
            oath_token_id,
            ..device.clone()
        };
        Self::insert_device_in(&mut tx, &registered).await?;
        tx.commit().await?;
        Ok(Some(registered))
    }

    async fn device_by_id(&self, id: &str) -> R<Option<Device>> {
        let sql = once!("SELECT {} FROM devices WHERE id = $1", rows::DEVICE_COLS);
        self.fetch_opt(query(sql).bind(id), rows::device).await
    }

    async fn devices_of_user(&self, user_id: &str) -> R<Vec<Device>> {
        self.fetch_all(devices_of_user(user_id), rows::device).await
    }

    async fn delete_device(&self, id: &str) -> R<bool> {
        let mut tx = self.db.begin().await?;
        query(
            "DELETE FROM oath_tokens WHERE id = (SELECT oath_token_id FROM devices WHERE id = $1)",
        )
        .bind(id)
        .execute_in(&mut tx)
        .await?;
        let n = query("DELETE FROM devices WHERE id = $1")
            .bind(id)
            .execute_in(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(n == 1)
    }

    async fn insert_push_request(
        &self,
        r: &PushRequest,
        fatigue: push::Fatigue,
        reserve: &[(&str, LockoutPolicy)],
        flow: Option<&SignInFlow>,
    ) -> R<push::Inserted> {
        let mut tx = self.db.begin().await?;
        // The fatigue count and the insert in one transaction, the user's row locked: parallel
        // sign-ins can't pass the limit together. An early return rolls back.
        self.lock_user_in(&mut tx, &r.user_id).await?;
        let recent = Self::count_in(
            &mut tx,
            query("SELECT COUNT(*) FROM push_requests WHERE user_id = $1 AND created_at >= $2")
                .bind(&r.user_id)
                .bind(fatigue.since),
        )
        .await?;
        if fatigue.reached(recent) {
            return Ok(push::Inserted::Fatigued);
        }
        for (key, p) in reserve {
            if !Self::reserve_in(&mut tx, key, p, r.created_at).await? {
                return Ok(push::Inserted::Locked);
            }
        }
        if let Some(f) = flow {
            flow_update(f).execute_in(&mut tx).await?;
        }
        let withdrawn = tx
            .fetch_all(
                query(
                    "UPDATE push_requests SET state = $3, settled_at = $4 \
                     WHERE user_id = $1 AND state = $2 RETURNING id",
                )
                .bind(&r.user_id)
                .bind(PushState::Pending.as_str())
                .bind(PushState::Withdrawn.as_str())
                .bind(r.created_at),
            )
            .await?
            .iter()
            .map(|row| row.first::<String>())
            .collect::<R<Vec<String>>>()?;
        query(&format!(
            "INSERT INTO push_requests ({}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
            rows::PUSH_COLS
        ))
        .bind(&r.id)
        .bind(&r.tenant_id)
        .bind(&r.user_id)
        .bind(&r.flow_digest)
        .bind(&r.number)
        .bind(&r.application)
        .bind(&r.client_addr)
        .bind(&r.city)
        .bind(&r.country)
        .bind(r.created_at)
        .bind(r.expires_at)
        .bind(r.pushed as i64)
        .bind(r.state.as_str())
        .bind(r.settled_at)
        .bind(&r.device_id)
        .bind(r.passwordless as i64)
        .bind(&r.client_id)
        .execute_in(&mut tx)
        .await
        .map_err(|e| conflict(e, || "push request".into()))?;
        tx.commit().await?;
        Ok(push::Inserted::Sent { withdrawn })
    }

    async fn push_request(&self, id: &str) -> R<Option<PushRequest>> {
        let sql = once!(
            "SELECT {} FROM push_requests WHERE id = $1",
            rows::PUSH_COLS
        );
        self.fetch_opt(query(sql).bind(id), rows::push).await
    }

    async fn pending_push_requests(&self, user_id: &str, now: Timestamp) -> R<Vec<PushRequest>> {
        let sql = once!(
            "SELECT {} FROM push_requests WHERE user_id = $1 AND state = $2 AND expires_at > $3 \
             ORDER BY created_at, id",
            rows::PUSH_COLS
        );
        let q = query(sql)
            .bind(user_id)
            .bind(PushState::Pending.as_str())
            .bind(now);
        self.fetch_all(q, rows::push).await
    }

    async fn settle_push_request(
        &self,
        id: &str,
        state: PushState,
        device_id: Option<&str>,
        now: Timestamp,
        release: &[(&str, Release)],
    ) -> R<bool> {
        // `PushState::may_settle` as SQL, inside the one conditional update that makes it final.
        let when = match state {
            PushState::Pending => return Ok(false),
            PushState::Expired => "expires_at <= $5",
            PushState::Withdrawn => "1 = 1",
            _ => "expires_at > $5",
        };
        let sql = format!(
            "UPDATE push_requests SET state = $2, device_id = $3, settled_at = $5 \
             WHERE id = $1 AND state = $4 AND {when}"
        );
        let settle = query(&sql)
            .bind(id)
            .bind(state.as_str())
            .bind(device_id.map(str::to_string))
            .bind(PushState::Pending.as_str())
            .bind(now);
        if state != PushState::NotMe && release.is_empty() {
            return self.consume(settle, None).await;
        }
        let mut tx = self.db.begin().await?;
        if !self.consume(settle, Some(&mut tx)).await? {
            tx.rollback().await?;
            return Ok(false);
        }
        if state == PushState::NotMe {
            // "It's not me" blocks the user's push requests with the same write that records it.
            query(
                "UPDATE users SET push_blocked_at = $2 \
                 WHERE id = (SELECT user_id FROM push_requests WHERE id = $1)",
            )
            .bind(id)
            .bind(now)
            .execute_in(&mut tx)
            .await?;
        }
        Self::release_in(&mut tx, release).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn set_push_block(&self, user_id: &str, at: Option<Timestamp>) -> R<bool> {
        Ok(self
            .exec(
                query("UPDATE users SET push_blocked_at = $2 WHERE id = $1")
                    .bind(user_id)
                    .bind(at),
            )
            .await?
            == 1)
    }

    async fn insert_device_challenge(
        &self,
        digest: &str,
        device_id: &str,
        expires_at: Timestamp,
    ) -> R<()> {
        query("INSERT INTO device_challenges (digest, device_id, expires_at) VALUES ($1, $2, $3)")
            .bind(digest)
            .bind(device_id)
            .bind(expires_at)
            .execute(&self.db)
            .await
            .map_err(|e| conflict(e, || "device challenge".into()))?;
        Ok(())
    }

    async fn take_device_challenge(
        &self,
        digest: &str,
        device_id: &str,
        now: Timestamp,
    ) -> R<bool> {
        self.consume(
            query(
                "DELETE FROM device_challenges \
                 WHERE digest = $1 AND device_id = $2 AND expires_at > $3",
            )
            .bind(digest)
            .bind(device_id)
            .bind(now),
            None,
        )
        .await
    }

    async fn touch_device(&self, id: &str, at: Timestamp) -> R<()> {
        self.exec(
            query("UPDATE devices SET last_seen_at = $2 WHERE id = $1")
                .bind(id)
                .bind(at),
        )
        .await?;
        Ok(())
    }

    async fn enable_phone_sign_in(
        &self,
        device_id: &str,
        phone_key: &str,
        now: Timestamp,
        limit: u32,
    ) -> R<phone::Enabled> {
        let mut tx = self.db.begin().await?;
        let Some(row) = query("SELECT user_id FROM devices WHERE id = $1")
            .bind(device_id)
            .fetch_in(&mut tx)
            .await?
        else {
            return Ok(phone::Enabled::UnknownDevice);
        };
        let user_id: String = row.first()?;
        self.lock_user_in(&mut tx, &user_id).await?;
        if Self::phone_devices_in(&mut tx, &user_id, device_id).await? >= u64::from(limit) {
            return Ok(phone::Enabled::LimitReached);
        }
        tx.exec(
            query("UPDATE devices SET phone_key = $2, phone_enabled_at = $3 WHERE id = $1")
                .bind(device_id)
                .bind(phone_key)
                .bind(now),
        )
        .await?;
        tx.commit().await?;
        Ok(phone::Enabled::Enabled)
    }

    async fn register_with_pass(
        &self,
        pass_id: &str,
        now: Timestamp,
        device: &Device,
        codes: Option<&OathToken>,
        limit: u32,
    ) -> R<phone::Registered> {
        let mut tx = self.db.begin().await?;
        self.lock_user_in(&mut tx, &device.user_id).await?;
        // The pass's single use, as `use_tap` does it, inside the registration's transaction.
        let used = tx
            .exec(query(USE_TAP).bind(&device.user_id).bind(pass_id).bind(now))
            .await?;
        if used != 1 {
            return Ok(phone::Registered::PassRefused);
        }
        if Self::phone_devices_in(&mut tx, &device.user_id, &device.id).await? >= u64::from(limit) {
            return Ok(phone::Registered::LimitReached);
        }
        if let Some(t) = codes {
            self.insert_oath_in(&mut tx, t).await?;
        }
        Self::insert_device_in(&mut tx, device).await?;
        tx.commit().await?;
        Ok(phone::Registered::Registered)
    }
}
