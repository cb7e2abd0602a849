-- Passkeys (same SQL on SQLite and PostgreSQL). A credential's id is unique across every user
-- and tenant (WebAuthn §7.1: a credential id registered to another user is refused), so it is
-- the key. `credential` is the verifier's own record of the public key and its state (opaque to
-- the domain); `sign_count` is kept beside it so that a use is recorded only when the counter
-- moved on (a regression is a possible clone), in one conditional write.
CREATE TABLE passkeys (
    credential_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    aaguid TEXT,
    credential TEXT NOT NULL,
    sign_count BIGINT NOT NULL,
    backup_eligible BIGINT NOT NULL,
    backup_state BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX passkeys_user ON passkeys(user_id);

-- The WebAuthn user handle of a user (random, never the user's id): what a discoverable
-- credential returns, so a usernameless sign-in finds its user.
CREATE TABLE webauthn_handles (
    user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    handle TEXT NOT NULL UNIQUE
);
