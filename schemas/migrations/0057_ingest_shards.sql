-- Issue 21: no shared hot row on the ingest path. The rollups that nearly every access batch touches — per day
-- and reader (access_daily), per reader (user_reads), per backend (telemetry_coverage), per owner
-- (usage_rollup) — get a `shard`: the lowest Kafka partition of the batch that wrote the row
-- (streams/offsets.py `shard_of`). Two batches that write the same shard both hold that partition's
-- stream_offsets row lock, so they never run at once anyway; batches of different workers (disjoint
-- partitions) write different rows and never wait for each other. Readers sum (counts, bytes) or take
-- min/max (times) over the shards, so every answer is the same, exactly: a rollup is a sum of deltas, and
-- which row a delta lands in changes nothing. At most `kafka.partitions` rows per key (default 6); existing
-- rows are shard 0. Added last, so inserts that list no columns still fit.
-- A later split of access_daily by month (PARTITION BY RANGE (date)) keeps working: the shard is only one more
-- key column, and the date stays the first one.

ALTER TABLE access_daily ADD COLUMN shard SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE access_daily DROP CONSTRAINT access_daily_pkey, ADD PRIMARY KEY (date, backend_name, user_id, shard);

ALTER TABLE user_reads ADD COLUMN shard SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE user_reads DROP CONSTRAINT user_reads_pkey, ADD PRIMARY KEY (user_id, backend_name, shard);

ALTER TABLE telemetry_coverage ADD COLUMN shard SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE telemetry_coverage DROP CONSTRAINT telemetry_coverage_pkey, ADD PRIMARY KEY (backend_name, shard);

ALTER TABLE usage_rollup ADD COLUMN shard SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE usage_rollup DROP CONSTRAINT usage_rollup_pkey, ADD PRIMARY KEY (backend_name, owner_team, owner_user, shard);
