-- Each household's latest proxy means test score: current while its model
-- version and household version are the deployment's model and the
-- household's own; otherwise it is computed again before use.
CREATE TABLE household_scores (
    household_id TEXT PRIMARY KEY,
    model_version TEXT NOT NULL,
    household_version BIGINT NOT NULL,
    -- NULL when inputs were missing; they are listed in missing (JSON).
    score DOUBLE PRECISION,
    missing TEXT,
    scored_at TEXT NOT NULL
);
CREATE INDEX household_scores_score ON household_scores (model_version, score);
