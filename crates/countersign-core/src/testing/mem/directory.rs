//! The in-memory directory: tenants, users, groups, roles, applications, audit (`DirectoryStore`).

use super::*;
use crate::error::StoreError;
use async_trait::async_trait;

#[async_trait]
impl DirectoryStore for MemStore {
    async fn insert_tenant(&self, t: &Tenant) -> StoreResult<()> {
        let mut d = self.0.lock().unwrap();
        if d.tenants.values().any(|x| x.name == t.name || x.id == t.id) {
            return Err(StoreError::Conflict(format!("tenant {}", t.name)));
        }
        if let Some(taken) = d.domain_taken(&t.id, &t.domains) {
            return Err(StoreError::Conflict(format!("domain {taken}")));
        }
        d.tenants.insert(t.id.clone(), t.clone());
        Ok(())
    }

    async fn update_tenant(&self, t: &Tenant) -> StoreResult<()> {
        let mut d = self.0.lock().unwrap();
        if let Some(taken) = d.domain_taken(&t.id, &t.domains) {
            return Err(StoreError::Conflict(format!("domain {taken}")));
        }
        d.tenants.insert(t.id.clone(), t.clone());
        Ok(())
    }

    async fn delete_tenant(&self, id: &str) -> StoreResult<bool> {
        let mut d = self.0.lock().unwrap();
        let users: Vec<String> = d
            .users
            .values()
            .filter(|u| u.tenant_id == id)
            .map(|u| u.id.clone())
            .collect();
        for u in users {
            d.delete_user(&u);
        }
        let groups: Vec<String> = d
            .groups
            .values()
            .filter(|g| g.tenant_id == id)
            .map(|g| g.id.clone())
            .collect();
        d.members.retain(|(g, _)| !groups.contains(g));
        d.groups.retain(|_, g| g.tenant_id != id);
        d.clients.retain(|_, c| c.tenant_id != id);
        d.flows.retain(|_, f| f.tenant_id != id);
        d.policies.remove(id);
        d.audit.retain(|e| e.tenant_id != id);
        d.signins.retain(|e| e.tenant_id != id);
        Ok(d.tenants.remove(id).is_some())
    }

    async fn tenant_by_name(&self, name: &str) -> StoreResult<Option<Tenant>> {
        let d = self.0.lock().unwrap();
        Ok(d.tenants.values().find(|t| t.name == name).cloned())
    }

    async fn tenant_by_id(&self, id: &str) -> StoreResult<Option<Tenant>> {
        Ok(self.0.lock().unwrap().tenants.get(id).cloned())
    }

    async fn list_tenants(&self) -> StoreResult<Vec<Tenant>> {
        Ok(self.0.lock().unwrap().tenants.values().cloned().collect())
    }

    async fn insert_user(&self, u: &User) -> StoreResult<()> {
        let mut d = self.0.lock().unwrap();
        if d.users
            .values()
            .any(|x| x.tenant_id == u.tenant_id && x.upn == u.upn)
        {
            return Err(StoreError::Conflict(format!("user {}", u.upn)));
        }
        d.users.insert(u.id.clone(), u.clone());
        Ok(())
    }

    async fn update_user(&self, u: &User) -> StoreResult<()> {
        let mut d = self.0.lock().unwrap();
        if d.users
            .values()
            .any(|x| x.id != u.id && x.tenant_id == u.tenant_id && x.upn == u.upn)
        {
            return Err(StoreError::Conflict(format!("user {}", u.upn)));
        }
        // like the SQL stores: `tokens_valid_after` is written only by `revoke_user_access`, the
        // push block only by the push store
        let old = d.users.get(&u.id);
        let kept = old.map_or(0, |old| old.tokens_valid_after);
        let blocked = old.and_then(|old| old.push_blocked_at);
        d.users.insert(
            u.id.clone(),
            User {
                tokens_valid_after: kept,
                push_blocked_at: blocked,
                ..u.clone()
            },
        );
        Ok(())
    }

    async fn delete_user(&self, id: &str) -> StoreResult<bool> {
        Ok(self.0.lock().unwrap().delete_user(id))
    }

    async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>> {
        Ok(self.0.lock().unwrap().users.get(id).cloned())
    }

    async fn user_by_upn(&self, tenant_id: &str, upn: &str) -> StoreResult<Option<User>> {
        let d = self.0.lock().unwrap();
        Ok(d.users
            .values()
            .find(|u| u.tenant_id == tenant_id && u.upn == upn)
            .cloned())
    }

    async fn list_users(&self, tenant_id: &str) -> StoreResult<Vec<User>> {
        let d = self.0.lock().unwrap();
        Ok(d.users
            .values()
            .filter(|u| u.tenant_id == tenant_id)
            .cloned()
            .collect())
    }

    async fn insert_group(&self, g: &Group) -> StoreResult<()> {
        if self.0.lock().unwrap().groups.contains_key(&g.id) {
            return Err(StoreError::Conflict(format!("group {}", g.name)));
        }
        self.update_group(g).await
    }

    async fn update_group(&self, g: &Group) -> StoreResult<()> {
        let mut d = self.0.lock().unwrap();
        if d.groups
            .values()
            .any(|x| x.id != g.id && x.tenant_id == g.tenant_id && x.name == g.name)
        {
            return Err(StoreError::Conflict(format!("group {}", g.name)));
        }
        d.groups.insert(g.id.clone(), g.clone());
        Ok(())
    }

    async fn delete_group(&self, id: &str) -> StoreResult<bool> {
        let mut d = self.0.lock().unwrap();
        d.members.retain(|(g, _)| g != id);
        Ok(d.groups.remove(id).is_some())
    }

    async fn group_by_name(&self, tenant_id: &str, name: &str) -> StoreResult<Option<Group>> {
        let d = self.0.lock().unwrap();
        Ok(d.groups
            .values()
            .find(|g| g.tenant_id == tenant_id && g.name == name)
            .cloned())
    }

    async fn list_groups(&self, tenant_id: &str) -> StoreResult<Vec<Group>> {
        let d = self.0.lock().unwrap();
        Ok(d.groups
            .values()
            .filter(|g| g.tenant_id == tenant_id)
            .cloned()
            .collect())
    }

    async fn add_member(&self, group_id: &str, user_id: &str) -> StoreResult<bool> {
        let mut d = self.0.lock().unwrap();
        let m = (group_id.to_string(), user_id.to_string());
        if d.members.contains(&m) {
            return Ok(false);
        }
        d.members.push(m);
        Ok(true)
    }

    async fn remove_member(&self, group_id: &str, user_id: &str) -> StoreResult<bool> {
        let mut d = self.0.lock().unwrap();
        let before = d.members.len();
        d.members.retain(|(g, u)| !(g == group_id && u == user_id));
        Ok(d.members.len() < before)
    }

    async fn group_members(&self, group_id: &str) -> StoreResult<Vec<User>> {
        let d = self.0.lock().unwrap();
        Ok(d.members
            .iter()
            .filter(|(g, _)| g == group_id)
            .filter_map(|(_, u)| d.users.get(u).cloned())
            .collect())
    }

    async fn groups_of_user(&self, user_id: &str) -> StoreResult<Vec<Group>> {
        let d = self.0.lock().unwrap();
        Ok(d.members
            .iter()
            .filter(|(_, u)| u == user_id)
            .filter_map(|(g, _)| d.groups.get(g).cloned())
            .collect())
    }

    async fn assign_role(&self, user_id: &str, role: AdminRole) -> StoreResult<bool> {
        let mut d = self.0.lock().unwrap();
        let r = (user_id.to_string(), role);
        if d.roles.contains(&r) {
            return Ok(false);
        }
        d.roles.push(r);
        Ok(true)
    }

    async fn unassign_role(&self, user_id: &str, role: AdminRole) -> StoreResult<bool> {
        let mut d = self.0.lock().unwrap();
        let before = d.roles.len();
        d.roles.retain(|(u, r)| !(u == user_id && *r == role));
        Ok(d.roles.len() < before)
    }

    async fn roles_of_user(&self, user_id: &str) -> StoreResult<Vec<AdminRole>> {
        let d = self.0.lock().unwrap();
        Ok(d.roles
            .iter()
            .filter(|(u, _)| u == user_id)
            .map(|(_, r)| *r)
            .collect())
    }

    async fn insert_client(&self, c: &OidcClient) -> StoreResult<()> {
        let mut d = self.0.lock().unwrap();
        if d.clients.contains_key(&c.id) {
            return Err(StoreError::Conflict(format!("application {}", c.id)));
        }
        d.clients.insert(c.id.clone(), c.clone());
        Ok(())
    }

    async fn update_client(&self, c: &OidcClient) -> StoreResult<()> {
        let mut d = self.0.lock().unwrap();
        if let Some(old) = d.clients.get_mut(&c.id) {
            *old = c.clone();
        }
        Ok(())
    }

    async fn delete_client(&self, id: &str) -> StoreResult<bool> {
        let mut d = self.0.lock().unwrap();
        d.codes.retain(|_, c| c.client_id != id);
        let grants: Vec<String> = d
            .grants
            .values()
            .filter(|g| g.client_id == id)
            .map(|g| g.id.clone())
            .collect();
        for g in grants {
            d.delete_grant(&g);
        }
        Ok(d.clients.remove(id).is_some())
    }

    async fn client_by_id(&self, id: &str) -> StoreResult<Option<OidcClient>> {
        Ok(self.0.lock().unwrap().clients.get(id).cloned())
    }

    async fn list_clients(&self, tenant_id: &str) -> StoreResult<Vec<OidcClient>> {
        let d = self.0.lock().unwrap();
        Ok(d.clients
            .values()
            .filter(|c| c.tenant_id == tenant_id)
            .cloned()
            .collect())
    }
}
