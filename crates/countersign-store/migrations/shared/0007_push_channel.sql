-- Push approvals, continued (same SQL on SQLite and PostgreSQL): the fraud block of "It's not
-- me", and the single-use challenges a device signs to prove its key.

-- Set when the user answers a request with "It's not me": no more push requests until an
-- administrator clears it. Written only by the settling of such an answer and by that clearing.
ALTER TABLE users ADD COLUMN push_blocked_at BIGINT;

-- A challenge a device asked for, by digest; deleting the row is using it.
CREATE TABLE device_challenges (
    digest TEXT PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL
);
CREATE INDEX push_requests_user_created ON push_requests(user_id, created_at);

-- A device registered while the policy allowed software OATH tokens also gets verification codes
-- for offline use: the activation says whether, and the device names its token ("Authenticator
-- app — Notification and code"; removing the device removes its codes).
ALTER TABLE device_activations ADD COLUMN with_codes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN oath_token_id TEXT;
