-- The application a push request signs in to, by its client_id (same SQL on SQLite and
-- PostgreSQL): the device's answer settles the request, and its line in the sign-in log names the
-- application as the browser's attempts do. Requests made before have none.
ALTER TABLE push_requests ADD COLUMN client_id TEXT;
