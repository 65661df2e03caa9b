-- The login throttle's memory (docs/security-model.md, "Login throttling"), in the database so
-- that every server on it counts the same failures and a restart forgives nothing. Its twin in
-- migrations/postgres must stay column for column the same. Times are milliseconds since the epoch.

-- Failed logins counted against an account (kind 'account', subject the lowercased username) or
-- a client address (kind 'address', subject the IP address). window_start is when the counted
-- run began; wait_until, when the last wait imposed ends. Both are NULL only in a row a server
-- has just created to lock it, before its first count (never seen outside that transaction).
CREATE TABLE login_failures (
    kind TEXT NOT NULL CHECK (kind IN ('account', 'address')),
    subject TEXT NOT NULL,
    failures BIGINT NOT NULL,
    window_start BIGINT,
    wait_until BIGINT,
    PRIMARY KEY (kind, subject)
);

-- An address that signed in to an account (a teacher's own tablet), and when it last did: for
-- 90 days after, a stranger's failures against that account do not make it wait.
CREATE TABLE login_trust (
    username TEXT NOT NULL,
    address TEXT NOT NULL,
    trusted_at BIGINT NOT NULL,
    PRIMARY KEY (username, address)
);
