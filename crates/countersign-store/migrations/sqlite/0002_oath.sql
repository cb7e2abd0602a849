-- OATH verification-code tokens (software and hardware), and the second-factor state of flows.
CREATE TABLE oath_tokens (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    serial TEXT,
    manufacturer TEXT,
    model TEXT,
    secret TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    digits BIGINT NOT NULL,
    period BIGINT NOT NULL,
    active BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    last_step BIGINT NOT NULL,
    fail_step BIGINT NOT NULL DEFAULT 0,
    fail_count BIGINT NOT NULL DEFAULT 0,
    UNIQUE (tenant_id, serial)
);
CREATE INDEX oath_tokens_user ON oath_tokens(user_id);
ALTER TABLE signin_flows ADD COLUMN pending_user_id TEXT;
ALTER TABLE signin_flows ADD COLUMN amr TEXT NOT NULL DEFAULT '[]';
ALTER TABLE signin_flows ADD COLUMN return_to TEXT;
