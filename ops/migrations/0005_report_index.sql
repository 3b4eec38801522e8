-- The sector reports (ops/src/report/) read the delivered, parked, replayed and discarded
-- records of a period. Without an index that is a scan of the whole trail; this partial index
-- holds only those hops (about one entry per delivered message per consumer), by hop and time.
CREATE INDEX IF NOT EXISTS ops_audit_report_idx ON ops_audit (hop, at)
    WHERE hop IN ('delivered', 'parked', 'replayed', 'discarded');
