-- Room on every page of the chain heads for their next version. A head is created and moved
-- in the same transaction, and moved again with every record of its chain; with free space
-- on its page the move is a HOT update (no new primary-key entry, less WAL). Applies to pages
-- written from now on.
ALTER TABLE ops_audit_head SET (fillfactor = 70);
