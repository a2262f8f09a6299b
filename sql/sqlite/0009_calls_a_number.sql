-- The screen-pop lists a caller's previous calls, newest first: one index walk per offer.
CREATE INDEX IF NOT EXISTS calls_a_number_started ON calls (a_number, started_at_ms);
