-- Small records by key, with versions and lifetimes: second factors, WebAuthn ceremonies,
-- sign-ins waiting for a second factor, re-authentication times.
CREATE TABLE records (
    key        TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    version    BIGINT NOT NULL,
    expires_at BIGINT
);
CREATE INDEX records_expiry ON records (expires_at) WHERE expires_at IS NOT NULL;
