-- Report mails (daily, monthly) and where each stands, so a restart neither loses nor
-- repeats one. `job` is "daily:2026-12-06" or "monthly:2026-11"; `state` is pending (to
-- be tried at next_attempt_at_ms), sent, or failed (given up after the last retry: an
-- alarm was raised). Times are milliseconds since the Unix epoch.
CREATE TABLE IF NOT EXISTS mail_jobs (
    job TEXT PRIMARY KEY NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at_ms BIGINT,
    last_error TEXT,
    updated_at_ms BIGINT NOT NULL
);
