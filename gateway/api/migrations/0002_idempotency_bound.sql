-- Idempotency records stay bound to their request (issue 14): a request that failed with a 5xx
-- is released rather than deleted, so its key answers another body with 422 and the same body
-- may be retried at once.
--   released:      an attempt failed transiently; the same request may start again at once.
--   prior_attempt: an earlier attempt of the request may have executed something (it was
--                  released or taken over), so the record is never forgotten on a refusal.

ALTER TABLE api_idempotency ADD COLUMN IF NOT EXISTS released boolean NOT NULL DEFAULT false;
ALTER TABLE api_idempotency ADD COLUMN IF NOT EXISTS prior_attempt boolean NOT NULL DEFAULT false;
