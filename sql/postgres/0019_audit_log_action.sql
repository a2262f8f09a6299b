-- The audit log read by kind (issue 18, the admin page): each user's last login for the
-- users' list, and the log filtered by action. Without it both read the whole log.
CREATE INDEX IF NOT EXISTS audit_log_action ON audit_log (action, actor, at_ms);
