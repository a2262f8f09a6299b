-- Quality monitoring (IMQ): evaluation forms (versioned, never deleted), the month's
-- random sample of answered calls (drawn once, with its seed and filters kept), and
-- evaluations (immutable; a correction is a new row that `revises` the old one).
-- Times are BIGINT milliseconds since the Unix epoch.

CREATE TABLE quality_forms (
    form_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    title TEXT NOT NULL,
    -- JSON array of {key, label, weight}; weights sum to 100.
    criteria TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (form_id, version)
);

CREATE TABLE quality_samples (
    -- "YYYY-MM", local month of the calls' arrival.
    month TEXT PRIMARY KEY NOT NULL,
    -- 32 random bytes, hex: the draw is recomputable from it and the candidate list.
    seed TEXT NOT NULL,
    per_agent BIGINT NOT NULL,
    min_talk_ms BIGINT NOT NULL,
    candidates BIGINT NOT NULL,
    candidates_sha256 TEXT NOT NULL,
    drawn_at_ms BIGINT NOT NULL,
    drawn_by TEXT NOT NULL
);

CREATE TABLE quality_sample_calls (
    month TEXT NOT NULL REFERENCES quality_samples (month),
    protocol TEXT NOT NULL,
    agent TEXT NOT NULL,
    queue TEXT,
    talk_ms BIGINT NOT NULL,
    -- 1-based place in the agent's draw order.
    draw_rank BIGINT NOT NULL,
    PRIMARY KEY (month, protocol)
);

CREATE TABLE quality_evaluations (
    id BIGSERIAL PRIMARY KEY,
    month TEXT NOT NULL,
    protocol TEXT NOT NULL,
    agent TEXT NOT NULL,
    form_id TEXT NOT NULL,
    form_version BIGINT NOT NULL,
    evaluator TEXT NOT NULL,
    -- JSON object criterion key -> grade 0..100.
    grades TEXT NOT NULL,
    -- Sum of weight x grade: the call's score in hundredths of a point (0..10000).
    score BIGINT NOT NULL,
    note TEXT NOT NULL,
    -- A correction names the evaluation it replaces; each is corrected at most once.
    revises BIGINT UNIQUE REFERENCES quality_evaluations (id),
    submitted_at_ms BIGINT NOT NULL,
    FOREIGN KEY (month, protocol) REFERENCES quality_sample_calls (month, protocol),
    FOREIGN KEY (form_id, form_version) REFERENCES quality_forms (form_id, version)
);

-- One first evaluation per call, form and evaluator (corrections chain from it).
CREATE UNIQUE INDEX quality_evaluations_first
    ON quality_evaluations (protocol, form_id, evaluator) WHERE revises IS NULL;
CREATE INDEX quality_evaluations_month ON quality_evaluations (month);

-- Nothing here is ever changed or deleted.
CREATE FUNCTION quality_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on %: quality records are immutable', TG_OP, TG_TABLE_NAME;
END;
$$;
CREATE TRIGGER quality_forms_immutable BEFORE UPDATE OR DELETE ON quality_forms
    FOR EACH ROW EXECUTE FUNCTION quality_refuse_change();
CREATE TRIGGER quality_samples_immutable BEFORE UPDATE OR DELETE ON quality_samples
    FOR EACH ROW EXECUTE FUNCTION quality_refuse_change();
CREATE TRIGGER quality_sample_calls_immutable BEFORE UPDATE OR DELETE ON quality_sample_calls
    FOR EACH ROW EXECUTE FUNCTION quality_refuse_change();
CREATE TRIGGER quality_evaluations_immutable BEFORE UPDATE OR DELETE ON quality_evaluations
    FOR EACH ROW EXECUTE FUNCTION quality_refuse_change();
