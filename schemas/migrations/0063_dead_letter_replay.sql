-- Dead letters can be replayed (warpdrive-ctl deadletters replay): the message key they arrived with is kept,
-- and the API's outbox can send a row to any topic (NULL: the commands topic, as before).
ALTER TABLE dead_letters ADD COLUMN msg_key TEXT;
ALTER TABLE command_outbox ADD COLUMN topic TEXT;
