-- Live access events are applied once per (producer, seq) (streams/dedupe.py): the highest seq applied per
-- sending agent instance (<node>/<boot id>), one row per instance, updated in each batch's transaction.
CREATE TABLE access_producers (
    producer   TEXT PRIMARY KEY,
    last_seq   BIGINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
