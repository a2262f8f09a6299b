-- Agents' state changes (login, available, ringing, on call, wrap-up, pause with reason,
-- logout), append-only: agent production reports (logged period, total pause, time in
-- each state) are computed from it. Times are INTEGER milliseconds since the Unix epoch.
CREATE TABLE agent_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    -- The pause reason entered, or the call rung / talked to.
    reason TEXT,
    call TEXT,
    in_previous_ms INTEGER NOT NULL
);

CREATE INDEX agent_events_agent_at ON agent_events (agent, at_ms);
CREATE INDEX agent_events_at ON agent_events (at_ms);
