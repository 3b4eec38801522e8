-- An institution's own history (registry/src/domain/institution.rs): its participation level
-- changes (an operator action) and the record that its RO import ran to its end. Append-only;
-- `sequence` is gapless per institution, so two nodes recording at once cannot both win: the
-- loser's insert conflicts on the key and is decided again on the fresh history. No personal
-- data: BRIN, levels, the operator's name, a reason checked for person numbers, counts.
CREATE TABLE institution_history (
    brin text NOT NULL,
    sequence bigint NOT NULL CHECK (sequence > 0),
    recorded_at timestamptz NOT NULL,
    event jsonb NOT NULL,
    PRIMARY KEY (brin, sequence)
);
