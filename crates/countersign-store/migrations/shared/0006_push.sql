-- Push approvals (same SQL on SQLite and PostgreSQL): devices registered to accounts, the
-- one-time activation codes that register them, and sign-in requests waiting for an answer.

-- One authenticator installation's key for one account. Deleting the row is removing the device:
-- its signatures find no key any more.
CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    public_key TEXT NOT NULL,
    app_version TEXT NOT NULL,
    platform TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT
);
CREATE INDEX devices_user ON devices(user_id);

-- Activation codes, by digest only; `used_at` makes them single-use.
CREATE TABLE device_activations (
    code_digest TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

-- Sign-in requests. `state` leaves 'pending' once, by a conditional update.
CREATE TABLE push_requests (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    flow_digest TEXT NOT NULL,
    number TEXT NOT NULL,
    application TEXT,
    client_addr TEXT,
    city TEXT,
    country TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    pushed BIGINT NOT NULL,
    state TEXT NOT NULL,
    settled_at BIGINT,
    device_id TEXT
);
CREATE INDEX push_requests_user_state ON push_requests(user_id, state);
