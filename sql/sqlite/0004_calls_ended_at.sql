-- Start-up recovery looks for calls a crash left without an end (ended_at_ms IS NULL) and
-- for the last ones ended before it whose recording may not be sealed yet.
CREATE INDEX calls_ended_at_ms ON calls (ended_at_ms);
