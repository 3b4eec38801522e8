-- The unsent outbox rows by position alone. The relay's claim takes the oldest unsent rows of
-- its partitions (ORDER BY position LIMIT n) and marks them sent by position; with
-- `outbox_unsent (partition, position)` both had to scan every unsent entry of the index (and
-- the entries of rows sent since the last vacuum): 100-250 ms per mark at a 30,000-row backlog.
-- Keyed by position, a claim reads the first n entries and a mark probes its positions.
CREATE INDEX outbox_unsent_position ON outbox (position) WHERE sent_at IS NULL;
DROP INDEX outbox_unsent;
