-- Revocation after account events: tokens issued before `tokens_valid_after` are refused, and a
-- user's grants and unredeemed codes are found by user.
ALTER TABLE users ADD COLUMN tokens_valid_after BIGINT NOT NULL DEFAULT 0;
CREATE INDEX grants_user ON grants(user_id);
CREATE INDEX auth_codes_user ON auth_codes(user_id);
-- Sign-in flows are now stored under the digest of their id (a bearer secret, like session
-- cookies): flows in progress at the upgrade start again.
DELETE FROM signin_flows;
