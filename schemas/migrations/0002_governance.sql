-- What the governance views read: ownership, rollups kept current by the stream workers,
-- crawl/agent/job state. Every rollup is maintained incrementally in the same transaction as
-- the batch that changed it (see streams/), so reads are O(teams x backends), never index scans.

-- storage_files, beyond the spec.
ALTER TABLE storage_files
    ADD COLUMN owner_uid     INT,
    ADD COLUMN owner_gid     INT,
    ADD COLUMN posix_user    TEXT,              -- owner name resolved by the crawler, if any
    ADD COLUMN created_by    TEXT,              -- user who created the file through a mount
    ADD COLUMN atime         TIMESTAMPTZ,
    ADD COLUMN owner_user    TEXT,              -- resolved owner (NULL = none)
    ADD COLUMN owner_team    TEXT NOT NULL DEFAULT 'unowned',
    ADD COLUMN owner_source  TEXT NOT NULL DEFAULT 'none',   -- rule | creator | posix | none
    ADD COLUMN last_access   TIMESTAMPTZ,       -- max over access_log (reads and writes)
    ADD COLUMN crawl_id      TEXT,              -- last crawl that saw the file
    ADD COLUMN deleted_at    TIMESTAMPTZ;       -- set when a complete crawl no longer sees it
-- Live files by activity for stale queries: neither read nor modified since a threshold.
CREATE INDEX idx_files_stale ON storage_files
    (GREATEST(COALESCE(last_access, '-infinity'), COALESCE(last_modified, '-infinity')), size_bytes DESC)
    WHERE deleted_at IS NULL;
CREATE INDEX idx_files_owner ON storage_files(owner_team, owner_user) WHERE deleted_at IS NULL;
CREATE INDEX idx_files_path ON storage_files(backend_name, path text_pattern_ops);

-- Explicit ownership: backend + path prefix -> team (and optionally user). Longest prefix wins.
CREATE TABLE ownership_rules (
    id           SERIAL PRIMARY KEY,
    backend_name TEXT NOT NULL,
    path_prefix  TEXT NOT NULL,     -- '' = the whole backend
    team_name    TEXT NOT NULL,
    user_id      TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    UNIQUE (backend_name, path_prefix)
);

-- Usage by owner, each byte counted once: the source of /usage and quota evaluation.
CREATE TABLE usage_rollup (
    backend_name TEXT NOT NULL,
    owner_team   TEXT NOT NULL,
    owner_user   TEXT NOT NULL DEFAULT '',   -- '' = no owning user
    file_count   BIGINT NOT NULL DEFAULT 0,
    total_bytes  BIGINT NOT NULL DEFAULT 0,
    last_access  TIMESTAMPTZ,
    PRIMARY KEY (backend_name, owner_team, owner_user)
);

-- Who reads what, per day (the second measure: access by reader, not by owner).
CREATE TABLE access_daily (
    date          DATE NOT NULL,
    backend_name  TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    read_count    BIGINT NOT NULL DEFAULT 0,
    bytes_read    BIGINT NOT NULL DEFAULT 0,
    write_count   BIGINT NOT NULL DEFAULT 0,
    bytes_written BIGINT NOT NULL DEFAULT 0,
    files         BIGINT NOT NULL DEFAULT 0,  -- distinct (path) rows in access_log that day
    last_access   TIMESTAMPTZ,
    PRIMARY KEY (date, backend_name, user_id)
);

-- Growth: per-day end-of-day totals per backend and owning team.
CREATE TABLE growth_daily (
    date          DATE NOT NULL,
    backend_name  TEXT NOT NULL,
    owner_team    TEXT NOT NULL,
    total_bytes   BIGINT NOT NULL,
    file_count    BIGINT NOT NULL,
    added_bytes   BIGINT NOT NULL DEFAULT 0,
    removed_bytes BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (backend_name, owner_team, date)
);

-- Since when telemetry has covered each backend (stale claims are only made inside it).
CREATE TABLE telemetry_coverage (
    backend_name TEXT PRIMARY KEY,
    first_event  TIMESTAMPTZ NOT NULL,
    last_event   TIMESTAMPTZ NOT NULL
);

-- Crawls, from their start/finish markers.
CREATE TABLE crawls (
    crawl_id     TEXT PRIMARY KEY,
    backend_name TEXT NOT NULL,
    prefix       TEXT NOT NULL DEFAULT '',
    started_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ,
    files        BIGINT NOT NULL DEFAULT 0,
    bytes        BIGINT NOT NULL DEFAULT 0,
    errors       BIGINT NOT NULL DEFAULT 0,
    status       TEXT NOT NULL DEFAULT 'running'   -- running | complete | partial | failed
);
CREATE INDEX idx_crawls_backend ON crawls(backend_name, started_at DESC);

-- Quota levels as last evaluated (transitions publish QuotaBreach events).
CREATE TABLE quota_state (
    team_name    TEXT NOT NULL,
    backend_name TEXT,
    level        TEXT NOT NULL,          -- ok | soft | hard
    usage_bytes  BIGINT NOT NULL,
    changed_at   TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    UNIQUE NULLS NOT DISTINCT (team_name, backend_name)
);

-- Latest heartbeat per agent.
CREATE TABLE agents (
    node_host      TEXT PRIMARY KEY,
    last_heartbeat TIMESTAMPTZ NOT NULL,
    status         JSONB NOT NULL
);

-- Jobs (move, warm, crawl) submitted through the API and run by workers via the commands topic.
CREATE TABLE jobs (
    job_id      TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    args        JSONB NOT NULL,
    state       TEXT NOT NULL DEFAULT 'queued',  -- queued | running | done | failed | cancelled
    progress    JSONB NOT NULL DEFAULT '{}',
    error       TEXT,
    created_by  TEXT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_jobs_created ON jobs(created_at DESC);

-- Deletion marks: reviewable and reversible; marking never deletes anything.
CREATE TABLE deletion_marks (
    backend_name TEXT NOT NULL,
    path         TEXT NOT NULL,
    marked_by    TEXT,
    marked_at    TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    note         TEXT,
    PRIMARY KEY (backend_name, path)
);
