-- Commands the API accepted (jobs, reown, quota) and has not yet published to the COMMANDS topic.
-- Written in the same transaction as the change that needs them; the API's publisher sends them in
-- order and deletes them once Kafka has acknowledged (at least once: consumers key on command_id).
CREATE TABLE command_outbox (
    id          BIGSERIAL PRIMARY KEY,
    target      TEXT NOT NULL,
    payload     BYTEA NOT NULL,        -- encode_batch([Command])
    created_at  TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
