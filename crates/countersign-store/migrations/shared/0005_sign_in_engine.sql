-- The sign-in engine (same SQL on SQLite and PostgreSQL). A flow keeps the engine's whole state
-- as one JSON value instead of a column per step: flows in progress at the upgrade start again.
DELETE FROM signin_flows;
ALTER TABLE signin_flows DROP COLUMN username;
ALTER TABLE signin_flows DROP COLUMN pending_user_id;
ALTER TABLE signin_flows DROP COLUMN amr;
ALTER TABLE signin_flows ADD COLUMN state TEXT NOT NULL DEFAULT '{}';

-- Applications that require a second factor of every sign-in.
ALTER TABLE oidc_clients ADD COLUMN require_mfa BIGINT NOT NULL DEFAULT 0;

-- Each tenant's authentication methods policy (absent: the default), versioned so that two
-- administrators' changes can't silently overwrite each other.
CREATE TABLE methods_policies (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    document TEXT NOT NULL,
    version BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Every change an administrator makes: who, what, before and after, when. `seq` orders a
-- tenant's entries (several can share a second); it is taken inside the change's transaction.
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    before_value TEXT,
    after_value TEXT
);
CREATE UNIQUE INDEX audit_log_tenant_seq ON audit_log(tenant_id, seq);
