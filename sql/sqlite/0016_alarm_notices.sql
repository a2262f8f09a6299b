-- Alarm notices (a raise or a clear, per channel) until they are sent, so a restart
-- neither loses nor repeats one. `channel` is "mail" or "webhook"; `raised` is 1 for a
-- raise, 0 for a clear; `state` is pending (to be tried at next_attempt_at_ms), sent,
-- skipped (the channel was not configured when its turn came) or failed (given up after
-- the last retry). Sent in `id` order per channel: a clear never overtakes its raise.
-- Times are milliseconds since the Unix epoch.
CREATE TABLE IF NOT EXISTS alarm_notices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    alarm TEXT NOT NULL,
    raised INTEGER NOT NULL,
    at_ms BIGINT NOT NULL,
    detail TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at_ms BIGINT NOT NULL,
    last_error TEXT,
    updated_at_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS alarm_notices_pending ON alarm_notices (channel, state, id);
