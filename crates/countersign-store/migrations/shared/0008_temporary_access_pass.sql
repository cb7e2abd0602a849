-- Temporary Access Passes (same SQL on SQLite and PostgreSQL). One row per user: the user's
-- current pass, or their last one until it is a day past its expiry (`admin tap list` shows it).
-- A new pass replaces the row only when the old one is no longer current (revoked, used up or
-- expired), in one conditional upsert: at most one live pass per user, even under parallel
-- issuing. The pass itself is kept only as an Argon2id hash, like a password.
CREATE TABLE temporary_access_passes (
    user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    id TEXT NOT NULL UNIQUE,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    pass_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    starts_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    one_time BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    -- The last use (a one-time pass: its only one).
    used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX temporary_access_passes_tenant ON temporary_access_passes(tenant_id);
