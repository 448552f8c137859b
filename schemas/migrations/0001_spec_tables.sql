-- The spec's tables (M4.2), with the columns correctness needs beside them.

-- Storage index: one row per file across all backends.
CREATE TABLE storage_files (
    id              BIGSERIAL PRIMARY KEY,
    backend_name    TEXT NOT NULL,
    path            TEXT NOT NULL,
    size_bytes      BIGINT NOT NULL,
    etag            TEXT,
    last_modified   TIMESTAMPTZ,
    first_seen      TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    last_crawled    TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    UNIQUE (backend_name, path)
);
CREATE INDEX idx_files_backend ON storage_files(backend_name);
CREATE INDEX idx_files_size ON storage_files(size_bytes DESC);

-- Access log: aggregated per file per day per user.
CREATE TABLE access_log (
    id              BIGSERIAL PRIMARY KEY,
    backend_name    TEXT NOT NULL,
    path            TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    date            DATE NOT NULL,
    read_count      INT NOT NULL DEFAULT 0,
    bytes_read      BIGINT NOT NULL DEFAULT 0,
    last_access     TIMESTAMPTZ NOT NULL,
    -- beyond the spec: writes and metadata operations (weighted estimates for sampled ops)
    write_count     INT NOT NULL DEFAULT 0,
    bytes_written   BIGINT NOT NULL DEFAULT 0,
    meta_count      DOUBLE PRECISION NOT NULL DEFAULT 0,
    cache_hits      BIGINT NOT NULL DEFAULT 0,
    error_count     INT NOT NULL DEFAULT 0,
    UNIQUE (backend_name, path, user_id, date)
);
CREATE INDEX idx_access_last ON access_log(last_access);
CREATE INDEX idx_access_user ON access_log(user_id);

-- Team mapping.
CREATE TABLE teams (
    user_id     TEXT NOT NULL,
    team_name   TEXT NOT NULL,
    PRIMARY KEY (user_id, team_name)
);

-- Quotas. NULLS NOT DISTINCT: one "all backends" quota per team, as the spec's UNIQUE intends.
CREATE TABLE quotas (
    id           SERIAL PRIMARY KEY,
    team_name    TEXT NOT NULL,
    backend_name TEXT,              -- NULL = all backends
    soft_limit   BIGINT NOT NULL,   -- bytes
    hard_limit   BIGINT NOT NULL,   -- bytes
    CHECK (soft_limit >= 0 AND hard_limit >= soft_limit),
    UNIQUE NULLS NOT DISTINCT (team_name, backend_name)
);

-- Exactly once into PostgreSQL: the next offset to apply per consumer and topic-partition,
-- committed in the same transaction as the aggregates that batch changed.
CREATE TABLE stream_offsets (
    consumer     TEXT NOT NULL,
    topic        TEXT NOT NULL,
    partition    INT NOT NULL,
    next_offset  BIGINT NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (consumer, topic, partition)
);

-- Messages a consumer could not decode: kept for inspection, never retried in a loop.
CREATE TABLE dead_letters (
    id          BIGSERIAL PRIMARY KEY,
    consumer    TEXT NOT NULL,
    topic       TEXT NOT NULL,
    partition   INT NOT NULL,
    "offset"    BIGINT NOT NULL,
    error       TEXT NOT NULL,
    payload     BYTEA,
    received_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    UNIQUE (consumer, topic, partition, "offset")
);
