-- The call log: an append-only event table and a per-call summary row the event writer
-- keeps up to date. Ids are TEXT and times are BIGINT milliseconds since the Unix epoch.
-- Protocols use the "C" collation so they sort byte-wise, as in SQLite, whatever the
-- server's locale.

-- Summary columns are nullable: events of one call may reach the database out of order
-- (a batch replayed from the spill journal), so any event may create the row.
CREATE TABLE calls (
    protocol TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    call_id TEXT,
    a_number TEXT,
    b_number TEXT,
    service TEXT,
    started_at_ms BIGINT,
    answered_at_ms BIGINT,
    ended_at_ms BIGINT,
    agent TEXT,
    hangup_by TEXT,
    hangup_cause TEXT,
    sip_status BIGINT,
    recording_path TEXT,
    recording_sha256 TEXT,
    recording_duration_ms BIGINT
);

CREATE INDEX calls_started_at_ms ON calls (started_at_ms);

-- UNIQUE (protocol, seq) makes a retried batch a no-op, and its index (protocol first)
-- is the lookup index for one call's events: a second index on protocol would only
-- slow the writer down.
CREATE TABLE call_events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    protocol TEXT COLLATE "C" NOT NULL,
    seq BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    UNIQUE (protocol, seq)
);
