-- Stream workers' own state (see docs/schema.md and streams/).

-- Per-file activity from access events, kept even before a crawl has seen the file: a listing that
-- inserts the file takes its last_access and creator from here (an indexed lookup by primary key).
CREATE TABLE file_activity (
    backend_name TEXT NOT NULL,
    path         TEXT NOT NULL,
    last_access  TIMESTAMPTZ,          -- max over reads and writes
    created_by   TEXT,                 -- first user seen creating/writing it through a mount
    created_at   TIMESTAMPTZ,
    PRIMARY KEY (backend_name, path)
);

-- Quota transitions waiting to be published (outbox): written in the transaction that changed the
-- level, published to the quota topics after commit, at least once.
CREATE TABLE quota_outbox (
    id           BIGSERIAL PRIMARY KEY,
    team_name    TEXT NOT NULL,
    backend_name TEXT,
    level        TEXT NOT NULL,
    payload      BYTEA NOT NULL,       -- encode(QuotaBreach)
    created_at   TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    published_at TIMESTAMPTZ
);
CREATE INDEX idx_quota_outbox_pending ON quota_outbox(id) WHERE published_at IS NULL;
