-- Operators of the web pages and the CTI (issue 18): accounts, server-side sessions and
-- the hash-chained audit log. Times are INTEGER milliseconds since the Unix epoch.
CREATE TABLE users (
    name TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    agent TEXT,
    -- JSON array of queue ids the user is scoped to.
    queues TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    -- argon2 PHC string.
    password_hash TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);

-- A session is found by the sha256 of its cookie: reading this table gives no cookie.
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    user_name TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_name);

-- Append-only; each row's hash is sha256(prev_hash, row content). prev_hash is unique so
-- two writers can never fork the chain.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL UNIQUE,
    hash TEXT NOT NULL
);
