-- Closed months (fechamento): each revision of a month's frozen figures (the month report,
-- all queues and each queue, and the contract panel) as canonical JSON with its sha256.
-- Revision 1 is the close; a later one is a correction (late events, a rebuild that gave
-- other numbers), with who made it, why and when. Rows are never updated or deleted: the
-- newest revision is the month's figures, the older ones stay listed.
CREATE TABLE IF NOT EXISTS month_closures (
    month TEXT NOT NULL,
    revision BIGINT NOT NULL,
    closed_at_ms BIGINT NOT NULL,
    closed_by TEXT NOT NULL,
    reason TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    content TEXT NOT NULL,
    PRIMARY KEY (month, revision)
);
