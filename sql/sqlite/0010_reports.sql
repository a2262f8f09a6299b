-- The reports' projection (docs/reports.md): derived from call_events and agent_events by
-- the projector, and rebuilt from them by `atende reports rebuild`; never a source.
-- Times are INTEGER milliseconds since the Unix epoch; local_date is YYYY-MM-DD in the
-- reporting time zone.

-- One row per call: the `CallFact` as JSON plus the columns reports filter and page on.
CREATE TABLE call_facts (
    protocol TEXT PRIMARY KEY NOT NULL,
    arrived_ms INTEGER NOT NULL,
    slot_start_ms INTEGER NOT NULL,
    local_date TEXT NOT NULL,
    queue TEXT,
    outcome TEXT NOT NULL,
    first_agent TEXT,
    fact TEXT NOT NULL
);
CREATE INDEX call_facts_slot ON call_facts (slot_start_ms);
CREATE INDEX call_facts_arrived ON call_facts (arrived_ms, protocol);

-- Each agent's part in each call (agent production: calls answered, talk).
CREATE TABLE report_call_agents (
    protocol TEXT NOT NULL,
    agent TEXT NOT NULL,
    local_date TEXT NOT NULL,
    answered_ms INTEGER NOT NULL,
    talk_ms INTEGER NOT NULL,
    PRIMARY KEY (protocol, agent)
);
CREATE INDEX report_call_agents_agent ON report_call_agents (agent, local_date);

-- Additive statistics per 30-minute interval, per queue and overall (queue '*').
CREATE TABLE report_slots (
    slot_start_ms INTEGER NOT NULL,
    queue TEXT NOT NULL,
    local_date TEXT NOT NULL,
    slot_index INTEGER NOT NULL,
    stats TEXT NOT NULL,
    PRIMARY KEY (slot_start_ms, queue)
);
CREATE INDEX report_slots_date ON report_slots (local_date, queue);

-- Agent time per interval, state and pause reason ('' unless paused), cut at borders.
CREATE TABLE report_agent_time (
    agent TEXT NOT NULL,
    slot_start_ms INTEGER NOT NULL,
    local_date TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    ms INTEGER NOT NULL,
    PRIMARY KEY (agent, slot_start_ms, state, reason)
);
CREATE INDEX report_agent_time_date ON report_agent_time (local_date, agent);

-- After-call work: one wrap-up of one agent for one call.
CREATE TABLE report_after_call (
    agent TEXT NOT NULL,
    started_ms INTEGER NOT NULL,
    call TEXT NOT NULL,
    ms INTEGER NOT NULL,
    PRIMARY KEY (agent, started_ms)
);
CREATE INDEX report_after_call_call ON report_after_call (call);

-- How far the projector has read each log (`calls`, `agents`: the last id projected).
CREATE TABLE report_watermarks (
    name TEXT PRIMARY KEY NOT NULL,
    last_id INTEGER NOT NULL
);
