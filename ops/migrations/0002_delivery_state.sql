-- Durable delivery state per consumer (adapter).

-- Inbox: exactly-once effect per (consumer, message id).
CREATE TABLE IF NOT EXISTS ops_inbox (
    consumer   text        NOT NULL,
    message_id uuid        NOT NULL,
    outcome    text        NOT NULL,
    done_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);

-- Per-subject ordering: the message that blocks a subject (retrying or parked).
CREATE TABLE IF NOT EXISTS ops_blocker (
    consumer   text        NOT NULL,
    subject    text        NOT NULL,
    message_id uuid        NOT NULL,
    since      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, subject)
);

-- Messages held behind the blocker, in arrival order (position).
CREATE TABLE IF NOT EXISTS ops_held (
    position   bigserial   PRIMARY KEY,
    consumer   text        NOT NULL,
    subject    text        NOT NULL,
    message_id uuid        NOT NULL,
    headers    jsonb       NOT NULL,
    body       bytea       NOT NULL,
    held_at    timestamptz NOT NULL,
    UNIQUE (consumer, subject, message_id)
);
CREATE INDEX IF NOT EXISTS ops_held_subject_idx ON ops_held (consumer, subject, position);

-- Parked messages, waiting for an operator's replay or discard.
CREATE TABLE IF NOT EXISTS ops_parked (
    consumer      text        NOT NULL,
    message_id    uuid        NOT NULL,
    subject       text,
    partner       text        NOT NULL,
    reason        text        NOT NULL,
    attempts      bigint      NOT NULL,
    first_failure timestamptz NOT NULL,
    last_failure  timestamptz NOT NULL,
    last_error    text        NOT NULL,
    headers       jsonb       NOT NULL,
    body          bytea       NOT NULL,
    PRIMARY KEY (consumer, message_id)
);
