-- The (user_id, state) index of push requests goes: the (user_id, created_at) one serves the same
-- queries (a user has a handful of requests at a time), and every insert and settlement of a
-- request maintained both. (SQLite also rebuilds the table WITHOUT ROWID.)
DROP INDEX push_requests_user_state;
