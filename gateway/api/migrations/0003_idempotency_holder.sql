-- The API instance handling an unfinished idempotency record (issue 14). An instance is live
-- while it holds its session advisory lock (key 1: hashtext('knooppunt-api-instance:' ||
-- schema), key 2: the instance id) on a connection of its own; the server drops the lock the
-- moment the process dies, so a record whose holder holds no lock is free at once. NULL: a
-- record of a version before this column (never live).

ALTER TABLE api_idempotency ADD COLUMN IF NOT EXISTS holder integer;
