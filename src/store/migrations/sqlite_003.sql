-- Users list oldest first, those created in the same second in the order they were created:
-- an index on created_at ends with the rowid, which follows insertion.
DROP INDEX users_created;
CREATE INDEX users_created ON users (created_at);
