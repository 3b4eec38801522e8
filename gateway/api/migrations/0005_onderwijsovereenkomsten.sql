-- Onderwijs- and praktijkovereenkomsten through the API (issue 13): the institutions' OOK
-- templates with their versions, the OOK index (OOK id → dossier and the template version it
-- was made from), the BPV index (BPV id → dossier and enrolment), and feed items about
-- agreements. No personal data: ids, codes and the templates' own text.

CREATE TABLE IF NOT EXISTS api_ook_sjabloon (
    sjabloon   uuid        PRIMARY KEY,
    brin       text        NOT NULL,
    seq        bigserial   UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS api_ook_sjabloon_brin ON api_ook_sjabloon (brin, seq);

-- One row per version; `request` is the derived id of the API request that made it, so a
-- retried request finds its version instead of making another.
CREATE TABLE IF NOT EXISTS api_ook_sjabloon_versie (
    sjabloon      uuid        NOT NULL REFERENCES api_ook_sjabloon (sjabloon),
    versie        integer     NOT NULL CHECK (versie >= 1),
    request       uuid        NOT NULL UNIQUE,
    inhoud        jsonb       NOT NULL,
    aangemaakt_op timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sjabloon, versie)
);

CREATE TABLE IF NOT EXISTS api_ook_index (
    ook        uuid        PRIMARY KEY,
    brin       text        NOT NULL,
    dossier    uuid        NOT NULL,
    aanmelding uuid,
    sjabloon   uuid        NOT NULL,
    versie     integer     NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS api_bpv_index (
    bpv        uuid        PRIMARY KEY,
    brin       text        NOT NULL,
    dossier    uuid        NOT NULL,
    ook        uuid        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Feed items about onderwijs- and praktijkovereenkomsten and their signing: the aanmelding is
-- not always known, so it becomes optional.
ALTER TABLE api_feed ALTER COLUMN aanmelding DROP NOT NULL;
ALTER TABLE api_feed ADD COLUMN IF NOT EXISTS ook uuid;
ALTER TABLE api_feed ADD COLUMN IF NOT EXISTS bpv uuid;
ALTER TABLE api_feed ADD COLUMN IF NOT EXISTS ondertekenaar text;
