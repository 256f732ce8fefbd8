-- Small records by key, with versions and lifetimes: second factors, WebAuthn ceremonies,
-- sign-ins waiting for a second factor, re-authentication times.
CREATE TABLE records (
    key        TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    version    BIGINT NOT NULL,
    expires_at BIGINT
);
CREATE INDEX records_expiry ON records (expires_at) WHERE expires_at IS NOT NULL;

-- Work for the outbox's worker: mails to send and requests that make mails, kept until done.
CREATE TABLE outbox (
    id         TEXT PRIMARY KEY NOT NULL,
    kind       TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    due_at     BIGINT NOT NULL,
    attempts   BIGINT NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX outbox_due ON outbox (due_at);
