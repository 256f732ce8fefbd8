-- Failed logins in a row per key ("account:<email>" or "ip:<address>"), for throttling.
CREATE TABLE login_failures (
    key             TEXT COLLATE "C" PRIMARY KEY,
    failures        INTEGER NOT NULL,
    last_failure_at BIGINT NOT NULL
);
CREATE INDEX login_failures_last ON login_failures (last_failure_at);
