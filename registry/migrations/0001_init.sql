-- Knooppunt registry: dossiers, their history, idempotent commands, the outbox, reference data.
-- Personal data lives only in dossiers.state and events.envelope (JSONB); indexes hold ids and
-- fingerprints (sha-256 of the person number), never a BSN.

CREATE TABLE dossiers (
    key                uuid PRIMARY KEY,
    -- PersonId::fingerprint() of the person; one dossier per person.
    person_fingerprint text UNIQUE,
    -- The dossier's sequence: optimistic concurrency checks it on every update.
    version            bigint NOT NULL CHECK (version > 0),
    state              jsonb NOT NULL,
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE events (
    dossier_key uuid NOT NULL,
    sequence    bigint NOT NULL CHECK (sequence > 0),
    id          uuid NOT NULL UNIQUE,
    type        text NOT NULL,
    -- The full EventEnvelope (meta + data).
    envelope    jsonb NOT NULL,
    PRIMARY KEY (dossier_key, sequence)
);

-- One row per handled command id: the idempotency key and the stored answer.
CREATE TABLE commands (
    id             uuid PRIMARY KEY,
    dossier_key    uuid NOT NULL,
    -- Accepted: the events are (dossier_key, first_sequence .. first_sequence + event_count - 1).
    first_sequence bigint,
    event_count    integer NOT NULL DEFAULT 0,
    -- Refused: the Rejection as JSON.
    rejection      jsonb,
    handled_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((rejection IS NULL) <> (first_sequence IS NULL))
);

CREATE TABLE outbox (
    position    bigserial PRIMARY KEY,
    -- hash(dossier) % N, see store::outbox_partition; a relay serves whole partitions.
    partition   integer NOT NULL,
    dossier_key uuid NOT NULL,
    sequence    bigint NOT NULL,
    sent_at     timestamptz
);

CREATE INDEX outbox_unsent ON outbox (partition, position) WHERE sent_at IS NULL;

CREATE TABLE reference_data (
    id       integer PRIMARY KEY CHECK (id = 1),
    snapshot jsonb NOT NULL,
    saved_at timestamptz NOT NULL DEFAULT now()
);

-- Aborts the current statement (and so its transaction) with SQLSTATE KN409. Used by the
-- one-statement command write when the dossier changed but the command id was taken meanwhile.
CREATE FUNCTION knooppunt_abort_conflict() RETURNS integer
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'command raced' USING ERRCODE = 'KN409';
END
$$;
