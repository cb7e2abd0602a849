-- Sign-in flows, sessions and throttle counters are keyed by random text: as WITHOUT ROWID
-- tables each is one B-tree instead of a table plus its primary-key index, so creating or
-- deleting a row writes one page fewer (each page written is a WAL frame at commit).

CREATE TABLE signin_flows_new (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    request TEXT,
    username TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    pending_user_id TEXT,
    amr TEXT NOT NULL DEFAULT '[]',
    return_to TEXT
) WITHOUT ROWID;
INSERT INTO signin_flows_new SELECT id, tenant_id, csrf, request, username, created_at, expires_at,
    pending_user_id, amr, return_to FROM signin_flows;
DROP TABLE signin_flows;
ALTER TABLE signin_flows_new RENAME TO signin_flows;

CREATE TABLE sessions_new (
    id_digest TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    amr TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
) WITHOUT ROWID;
INSERT INTO sessions_new SELECT id_digest, tenant_id, user_id, csrf, auth_time, amr, created_at,
    last_seen_at FROM sessions;
DROP TABLE sessions;
ALTER TABLE sessions_new RENAME TO sessions;
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE throttle_new (
    key TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL
) WITHOUT ROWID;
INSERT INTO throttle_new SELECT key, failures, last_failure_at FROM throttle;
DROP TABLE throttle;
ALTER TABLE throttle_new RENAME TO throttle;
