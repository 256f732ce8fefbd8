-- The leases of the per-instance caches (src/store/shared): who may answer from memory, until
-- when by the database's clock (milliseconds since the Unix epoch).
CREATE TABLE cache_leases (
    holder     TEXT PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);
