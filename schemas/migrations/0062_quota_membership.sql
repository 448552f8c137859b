-- Quotas that hold (issue 16): wake-ups after commit, tombstones for ended quotas, membership for agents.

-- A quota that ends (deleted, its team or backend removed) queues its 'ok' transition and then a row
-- with no payload: a tombstone for the compacted state topic (the breach topic gets only the 'ok').
ALTER TABLE quota_outbox ALTER COLUMN payload DROP NOT NULL;

-- What the stream workers last published on the team-membership topic, per user: the publisher
-- sends the difference between this and the teams table, so no edit path (API, seed, SQL) is missed.
CREATE TABLE membership_published (
    user_id  TEXT PRIMARY KEY,
    teams    TEXT[] NOT NULL
);

-- NOTIFY is delivered at commit, never before: the publishers LISTEN and wake when there is work
-- they can see, instead of polling (a wake-up before the commit found nothing and slept its timeout).
CREATE FUNCTION warpdrive_notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('warpdrive_' || TG_TABLE_NAME, '');
    RETURN NULL;
END $$;

CREATE TRIGGER quota_outbox_notify AFTER INSERT ON quota_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION warpdrive_notify_outbox();
CREATE TRIGGER teams_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON teams
    FOR EACH STATEMENT EXECUTE FUNCTION warpdrive_notify_outbox();
CREATE TRIGGER command_outbox_notify AFTER INSERT ON command_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION warpdrive_notify_outbox();

-- The limits a level was evaluated against: an ended quota's last 'ok' still names them.
ALTER TABLE quota_state ADD COLUMN soft_limit BIGINT, ADD COLUMN hard_limit BIGINT;
-- A team's latest transition time (timestamps are kept monotonic per team).
CREATE INDEX idx_quota_outbox_team ON quota_outbox(team_name, created_at);
