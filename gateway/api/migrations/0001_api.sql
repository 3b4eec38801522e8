-- The open API's own tables (gateway/src/api/store.rs). No personal data: ids, codes and
-- stored API responses (which never hold a BSN).

CREATE TABLE IF NOT EXISTS api_idempotency (
    oin          text        NOT NULL,
    key          text        NOT NULL,
    request_hash text        NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    status       integer,
    location     text,
    body         jsonb,
    PRIMARY KEY (oin, key)
);

CREATE TABLE IF NOT EXISTS api_aanmelding_index (
    seq        bigserial   UNIQUE,
    aanmelding uuid        PRIMARY KEY,
    brin       text        NOT NULL,
    dossier    uuid        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS api_aanmelding_index_brin ON api_aanmelding_index (brin, seq);

CREATE TABLE IF NOT EXISTS api_feed_counter (
    brin text   PRIMARY KEY,
    last bigint NOT NULL
);

CREATE TABLE IF NOT EXISTS api_feed (
    brin                 text        NOT NULL,
    wijzigingsvolgnummer bigint      NOT NULL,
    event_id             uuid        NOT NULL UNIQUE,
    kind                 text        NOT NULL,
    tijd                 timestamptz NOT NULL,
    aanmelding           uuid        NOT NULL,
    status               text,
    partner              text,
    reden                text,
    PRIMARY KEY (brin, wijzigingsvolgnummer)
);

CREATE TABLE IF NOT EXISTS api_webhook (
    brin   text   PRIMARY KEY,
    url    text   NOT NULL,
    secret text   NOT NULL,
    cursor bigint NOT NULL
);
