-- The audit trail: append-only, hash-chained (docs/audit.md).
CREATE TABLE IF NOT EXISTS ops_audit (
    chain        text        NOT NULL,
    seq          bigint      NOT NULL CHECK (seq >= 1),
    hop          text        NOT NULL,
    at           timestamptz NOT NULL,
    message_id   uuid,
    subject      uuid,
    partner      text,
    endpoint     text,
    status       text,
    duration_ms  bigint,
    payload_hash text,
    actor        text,
    reason       text,
    attempt      bigint,
    prev_hash    text        NOT NULL,
    hash         text        NOT NULL,
    PRIMARY KEY (chain, seq)
);

CREATE INDEX IF NOT EXISTS ops_audit_message_idx ON ops_audit (message_id) WHERE message_id IS NOT NULL;

-- The head (last seq and hash) of every chain; appends lock this row FOR UPDATE.
CREATE TABLE IF NOT EXISTS ops_audit_head (
    chain text   PRIMARY KEY,
    seq   bigint NOT NULL,
    hash  text   NOT NULL
);

-- Append-only: refuse UPDATE, DELETE and TRUNCATE on the trail itself.
CREATE OR REPLACE FUNCTION ops_audit_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ops_audit is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

DROP TRIGGER IF EXISTS ops_audit_no_change ON ops_audit;
CREATE TRIGGER ops_audit_no_change
    BEFORE UPDATE OR DELETE ON ops_audit
    FOR EACH ROW EXECUTE FUNCTION ops_audit_refuse_change();

DROP TRIGGER IF EXISTS ops_audit_no_truncate ON ops_audit;
CREATE TRIGGER ops_audit_no_truncate
    BEFORE TRUNCATE ON ops_audit
    FOR EACH STATEMENT EXECUTE FUNCTION ops_audit_refuse_change();
