-- The call log: an append-only event table and a per-call summary row the event writer
-- keeps up to date. Ids are TEXT and times are INTEGER milliseconds since the Unix epoch.

-- Summary columns are nullable: events of one call may reach the database out of order
-- (a batch replayed from the spill journal), so any event may create the row.
CREATE TABLE calls (
    protocol TEXT PRIMARY KEY NOT NULL,
    call_id TEXT,
    a_number TEXT,
    b_number TEXT,
    service TEXT,
    started_at_ms INTEGER,
    answered_at_ms INTEGER,
    ended_at_ms INTEGER,
    agent TEXT,
    hangup_by TEXT,
    hangup_cause TEXT,
    sip_status INTEGER,
    recording_path TEXT,
    recording_sha256 TEXT,
    recording_duration_ms INTEGER
);

CREATE INDEX calls_started_at_ms ON calls (started_at_ms);

-- UNIQUE (protocol, seq) makes a retried batch a no-op, and its index (protocol first)
-- is the lookup index for one call's events: a second index on protocol would only
-- slow the writer down.
CREATE TABLE call_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    protocol TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    UNIQUE (protocol, seq)
);
