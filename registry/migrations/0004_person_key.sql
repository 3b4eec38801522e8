-- The key of the person index (registry/src/pseudonym.rs): dossiers.person_fingerprint is an
-- HMAC-SHA256 under a secret key from configuration. This table remembers which key (its public
-- key id, never the key) the index was built with, so a node with another key refuses to start
-- instead of opening a second dossier for every student. Empty until PgStore::index_persons
-- has re-keyed the unkeyed fingerprints of earlier releases and recorded the key id.
CREATE TABLE person_key (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    key_id text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
