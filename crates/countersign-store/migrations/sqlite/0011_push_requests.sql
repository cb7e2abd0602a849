-- Push requests, rebuilt: keyed by their random id as a WITHOUT ROWID table (one B-tree instead of
-- a table plus its primary-key index), and without the (user_id, state) index, which the
-- (user_id, created_at) one serves as well — a user has a handful of requests at a time. Each
-- request's insert and settlement then writes two or three pages fewer (each a WAL frame at
-- commit), on the path of every push approval and phone sign-in.

CREATE TABLE push_requests_new (
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
    device_id TEXT,
    passwordless BIGINT NOT NULL DEFAULT 0
) WITHOUT ROWID;
INSERT INTO push_requests_new SELECT id, tenant_id, user_id, flow_digest, number, application,
    client_addr, city, country, created_at, expires_at, pushed, state, settled_at, device_id,
    passwordless FROM push_requests;
DROP TABLE push_requests;
ALTER TABLE push_requests_new RENAME TO push_requests;
CREATE INDEX push_requests_user_created ON push_requests(user_id, created_at);
