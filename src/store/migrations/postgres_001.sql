-- Users: emails unique ignoring case through email_key (the email lowercased by sesame, not by
-- the server, so every backend folds case the same way). Ids and keys compare byte by byte
-- (COLLATE "C"), whatever the database's default collation, so ordering matches SQLite's.
CREATE TABLE users (
    id            TEXT COLLATE "C" PRIMARY KEY,
    email         TEXT NOT NULL,
    email_key     TEXT COLLATE "C" NOT NULL UNIQUE,
    password_hash TEXT,
    first_name    TEXT,
    last_name     TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    is_admin      BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX users_created ON users (created_at, id);

-- Sessions, keyed by the SHA-256 digest of their token; the token itself is never stored.
CREATE TABLE sessions (
    digest       BYTEA PRIMARY KEY CHECK (octet_length(digest) = 32),
    id           TEXT COLLATE "C" NOT NULL UNIQUE,
    user_id      TEXT COLLATE "C" NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    ip           TEXT,
    user_agent   TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_created ON sessions (created_at);
CREATE INDEX sessions_last_seen ON sessions (last_seen_at);
