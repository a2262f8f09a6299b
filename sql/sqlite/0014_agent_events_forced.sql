-- A state change a supervisor forced (issue 20, control of the floor): who forced it and
-- the why they gave, on the agent log's own row, so the agent's history and the agent
-- production report say "pausa forçada por <supervisor>: <motivo>". Both NULL when the
-- agent (or the system) changed state. The times stay what they were: a forced pause
-- counts as pause like any other.
ALTER TABLE agent_events ADD COLUMN forced_by TEXT;
ALTER TABLE agent_events ADD COLUMN forced_why TEXT;

-- Forced changes are few: the report finds a period's by a small partial index instead of
-- scanning every state change of it.
CREATE INDEX agent_events_forced_at ON agent_events (at_ms) WHERE forced_by IS NOT NULL;
