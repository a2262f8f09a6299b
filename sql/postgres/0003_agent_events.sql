-- Agents' state changes (login, available, ringing, on call, wrap-up, pause with reason,
-- logout), append-only: agent production reports (logged period, total pause, time in
-- each state) are computed from it. Times are milliseconds since the Unix epoch.
CREATE TABLE IF NOT EXISTS agent_events (
    id BIGSERIAL PRIMARY KEY,
    agent TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    -- The pause reason entered, or the call rung / talked to.
    reason TEXT,
    call TEXT,
    in_previous_ms BIGINT NOT NULL
);

CREATE INDEX IF NOT EXISTS agent_events_agent_at ON agent_events (agent, at_ms);
CREATE INDEX IF NOT EXISTS agent_events_at ON agent_events (at_ms);
