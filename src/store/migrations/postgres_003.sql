-- Users created in the same second list in the order they were created: seq follows insertion.
-- Users already there are numbered in the order they listed in before (created_at, then id).
ALTER TABLE users ADD COLUMN seq BIGINT;
UPDATE users SET seq = ordered.n
FROM (SELECT id, row_number() OVER (ORDER BY created_at, id) AS n FROM users) AS ordered
WHERE users.id = ordered.id;
ALTER TABLE users ALTER COLUMN seq SET NOT NULL;
ALTER TABLE users ALTER COLUMN seq ADD GENERATED ALWAYS AS IDENTITY;
SELECT setval(pg_get_serial_sequence('users', 'seq'), COALESCE(max(seq), 0) + 1, false) FROM users;
DROP INDEX users_created;
CREATE INDEX users_created ON users (created_at, seq);
