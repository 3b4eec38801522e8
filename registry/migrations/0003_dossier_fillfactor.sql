-- Room on every page for a dossier's next version: every accepted command rewrites the
-- dossier's row, and with free space on its page that is a HOT update (no new entries in the
-- key and person indexes, less WAL). Applies to pages written from now on.
ALTER TABLE dossiers SET (fillfactor = 80);
