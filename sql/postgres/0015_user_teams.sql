-- Teams in a user's scope (issue 18): a JSON array of `[teams.NAME]` keys, next to the
-- queues; the config says which agents and queues each team has.
ALTER TABLE users ADD COLUMN teams TEXT NOT NULL DEFAULT '[]';
