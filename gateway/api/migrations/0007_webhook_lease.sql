-- One dispatcher at a time delivers an institution's webhook: the node holding the lease.
-- With several nodes on one database each batch is posted by one of them (the receivers still
-- deduplicate by the items' numbers, for a lease lost in the middle of a POST).
ALTER TABLE api_webhook
    ADD COLUMN IF NOT EXISTS lease_holder uuid,
    ADD COLUMN IF NOT EXISTS lease_until  timestamptz;
