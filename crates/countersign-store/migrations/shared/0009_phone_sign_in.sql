-- Phone sign-in (same SQL on SQLite and PostgreSQL): a device's second key for its account, set
-- when phone sign-in is turned on, and the requests that only that key may answer.
ALTER TABLE devices ADD COLUMN phone_key TEXT;
ALTER TABLE devices ADD COLUMN phone_enabled_at BIGINT;
ALTER TABLE push_requests ADD COLUMN passwordless BIGINT NOT NULL DEFAULT 0;
