-- Idempotency records expire (issue 14): when each record was created, indexed for the purge
-- that deletes the records older than the retention (`api.idempotency_retention_hours`). Rows
-- that exist when this runs count as created now.

ALTER TABLE api_idempotency ADD COLUMN IF NOT EXISTS created_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS api_idempotency_created ON api_idempotency (created_at);
