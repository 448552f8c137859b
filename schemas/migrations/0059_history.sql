-- upgrade: online
-- Issue 15: imported access history (`warpdrive backfill`).

-- The lines of each imported log already applied, as runs [first_line, last_line] per source
-- ('<format>:<log file URL>'): the stream workers apply a (source, line) once however often it is
-- imported, in the transaction that applies it (streams/history.py). Runs of one source never overlap.
CREATE TABLE history_lines (
    source      TEXT NOT NULL,
    first_line  BIGINT NOT NULL,
    last_line   BIGINT NOT NULL,
    PRIMARY KEY (source, first_line)
);

-- What imported history covers per backend and log format (beside telemetry_coverage, which is live
-- telemetry only): the coverage note of /api/v1/backends and the stale list.
CREATE TABLE history_coverage (
    backend_name TEXT NOT NULL,
    format       TEXT NOT NULL,
    first_event  TIMESTAMPTZ NOT NULL,
    last_event   TIMESTAMPTZ NOT NULL,
    events       BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (backend_name, format)
);
