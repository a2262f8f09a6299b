-- A supervisor's overrides of a queue (issue 20, control of the floor): closed by hand on
-- top of its schedule, and the priority given to every caller of it. One row per queue
-- with an override in force, written by the ACD whenever the set changes and read back at
-- start, so an emergency close or a priority outlives a restart until a supervisor lifts
-- it. Who did it and why are in the audit log.
CREATE TABLE IF NOT EXISTS queue_overrides (
    queue TEXT PRIMARY KEY,
    closed_by_hand BOOLEAN NOT NULL DEFAULT FALSE,
    -- NULL: the callers keep their own priority.
    priority INTEGER,
    -- When the set was last saved (milliseconds since the Unix epoch).
    saved_at_ms BIGINT NOT NULL
);
