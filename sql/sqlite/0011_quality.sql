-- Quality monitoring (IMQ): evaluation forms (versioned, never deleted), the month's
-- random sample of answered calls (drawn once, with its seed and filters kept), and
-- evaluations (immutable; a correction is a new row that `revises` the old one).
-- Times are INTEGER milliseconds since the Unix epoch.

CREATE TABLE quality_forms (
    form_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    title TEXT NOT NULL,
    -- JSON array of {key, label, weight}; weights sum to 100.
    criteria TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (form_id, version)
);

CREATE TABLE quality_samples (
    -- "YYYY-MM", local month of the calls' arrival.
    month TEXT PRIMARY KEY NOT NULL,
    -- 32 random bytes, hex: the draw is recomputable from it and the candidate list.
    seed TEXT NOT NULL,
    per_agent INTEGER NOT NULL,
    min_talk_ms INTEGER NOT NULL,
    candidates INTEGER NOT NULL,
    candidates_sha256 TEXT NOT NULL,
    drawn_at_ms INTEGER NOT NULL,
    drawn_by TEXT NOT NULL
);

CREATE TABLE quality_sample_calls (
    month TEXT NOT NULL REFERENCES quality_samples (month),
    protocol TEXT NOT NULL,
    agent TEXT NOT NULL,
    queue TEXT,
    talk_ms INTEGER NOT NULL,
    -- 1-based place in the agent's draw order.
    draw_rank INTEGER NOT NULL,
    PRIMARY KEY (month, protocol)
);

CREATE TABLE quality_evaluations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    month TEXT NOT NULL,
    protocol TEXT NOT NULL,
    agent TEXT NOT NULL,
    form_id TEXT NOT NULL,
    form_version INTEGER NOT NULL,
    evaluator TEXT NOT NULL,
    -- JSON object criterion key -> grade 0..100.
    grades TEXT NOT NULL,
    -- Sum of weight x grade: the call's score in hundredths of a point (0..10000).
    score INTEGER NOT NULL,
    note TEXT NOT NULL,
    -- A correction names the evaluation it replaces; each is corrected at most once.
    revises INTEGER UNIQUE REFERENCES quality_evaluations (id),
    submitted_at_ms INTEGER NOT NULL,
    FOREIGN KEY (month, protocol) REFERENCES quality_sample_calls (month, protocol),
    FOREIGN KEY (form_id, form_version) REFERENCES quality_forms (form_id, version)
);

-- One first evaluation per call, form and evaluator (corrections chain from it).
CREATE UNIQUE INDEX quality_evaluations_first
    ON quality_evaluations (protocol, form_id, evaluator) WHERE revises IS NULL;
CREATE INDEX quality_evaluations_month ON quality_evaluations (month);

-- Nothing here is ever changed or deleted.
CREATE TRIGGER quality_forms_immutable BEFORE UPDATE ON quality_forms
BEGIN SELECT RAISE(ABORT, 'quality forms are immutable'); END;
CREATE TRIGGER quality_forms_kept BEFORE DELETE ON quality_forms
BEGIN SELECT RAISE(ABORT, 'quality forms are never deleted'); END;
CREATE TRIGGER quality_samples_immutable BEFORE UPDATE ON quality_samples
BEGIN SELECT RAISE(ABORT, 'a drawn sample is immutable'); END;
CREATE TRIGGER quality_samples_kept BEFORE DELETE ON quality_samples
BEGIN SELECT RAISE(ABORT, 'a drawn sample is never deleted'); END;
CREATE TRIGGER quality_sample_calls_immutable BEFORE UPDATE ON quality_sample_calls
BEGIN SELECT RAISE(ABORT, 'a drawn sample is immutable'); END;
CREATE TRIGGER quality_sample_calls_kept BEFORE DELETE ON quality_sample_calls
BEGIN SELECT RAISE(ABORT, 'a drawn sample is never deleted'); END;
CREATE TRIGGER quality_evaluations_immutable BEFORE UPDATE ON quality_evaluations
BEGIN SELECT RAISE(ABORT, 'an evaluation is immutable: submit a revision'); END;
CREATE TRIGGER quality_evaluations_kept BEFORE DELETE ON quality_evaluations
BEGIN SELECT RAISE(ABORT, 'an evaluation is never deleted'); END;
