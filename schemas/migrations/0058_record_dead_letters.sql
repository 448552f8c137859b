-- upgrade: online
-- Issue 15: a record the workers refuse (a path with NUL or '..', a negative size) is dead-lettered by itself
-- and the other records of its message are applied. `record` is its index in the message; NULL = the whole
-- message (undecodable). One message may now leave several rows.
ALTER TABLE dead_letters ADD COLUMN record INT;
ALTER TABLE dead_letters DROP CONSTRAINT dead_letters_consumer_topic_partition_offset_key;
ALTER TABLE dead_letters ADD CONSTRAINT dead_letters_record_key
    UNIQUE NULLS NOT DISTINCT (consumer, topic, partition, "offset", record);
