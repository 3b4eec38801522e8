-- Runtime controls: operator overrides of a partner's maintenance windows, shadow mode and rate
-- limit, on top of the configuration. One row per partner with overrides; every node polls it.
CREATE TABLE IF NOT EXISTS ops_runtime_controls (
    partner    text        PRIMARY KEY,
    overrides  jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
