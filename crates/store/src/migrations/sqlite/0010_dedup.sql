-- Deduplication: runs over the registry, the candidate pairs they found
-- (one row per pair of people, kept with the officer's decision so that a
-- decided pair is never proposed again), and the record a merged person
-- was merged into.

CREATE TABLE dedup_runs (
    id TEXT PRIMARY KEY,
    -- The area the run covered, or NULL for the whole registry.
    area_code TEXT,
    threshold REAL NOT NULL,
    started_by TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    persons BIGINT NOT NULL,
    compared BIGINT NOT NULL,
    pairs_found BIGINT NOT NULL,
    pairs_new BIGINT NOT NULL,
    -- Pairs found again that an officer had already decided: not proposed.
    pairs_decided BIGINT NOT NULL,
    -- The Fellegi-Sunter model the run trained (comparisons, m, u, prior) as
    -- JSON: intake checks and agency matches score with the latest one.
    model TEXT NOT NULL
);
CREATE INDEX dedup_runs_finished ON dedup_runs (finished_at);

-- left_id < right_id (as text), so a pair has one row whichever way it is found.
CREATE TABLE dedup_pairs (
    id TEXT PRIMARY KEY,
    left_id TEXT NOT NULL,
    right_id TEXT NOT NULL,
    left_area TEXT NOT NULL,
    right_area TEXT NOT NULL,
    -- The run that last scored it.
    run_id TEXT NOT NULL,
    probability REAL NOT NULL,
    weight REAL NOT NULL,
    -- [{"comparison", "level", "weight"}...] as JSON.
    evidence TEXT NOT NULL,
    -- pending, same_person, different_people, merged
    status TEXT NOT NULL,
    found_at TEXT NOT NULL,
    decided_by TEXT,
    decided_at TEXT,
    reason TEXT,
    -- After a merge: the record that carries on.
    survivor_id TEXT
);
CREATE UNIQUE INDEX dedup_pairs_persons ON dedup_pairs (left_id, right_id);
CREATE INDEX dedup_pairs_status ON dedup_pairs (status, probability);
CREATE INDEX dedup_pairs_right ON dedup_pairs (right_id);

-- A merged person's record points to the one it was merged into.
ALTER TABLE persons ADD COLUMN merged_into TEXT;
