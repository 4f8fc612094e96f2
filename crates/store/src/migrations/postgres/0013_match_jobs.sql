-- Agency match jobs: lists matched in the background, kept with their input
-- rows (so a job survives a restart: queued and running jobs are run again
-- when the server starts) and their results.

CREATE TABLE match_jobs (
    id TEXT PRIMARY KEY,
    -- Who may see the job: 'user' with the user's id, 'agency' with the
    -- agency's id (any of its tokens), or 'system' with the actor's name.
    owner_kind TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    -- The submitter as the audit trail names them.
    created_by TEXT NOT NULL,
    -- The submitter's areas as a JSON list, or NULL for everywhere: the
    -- list is matched against the people in them.
    within_areas TEXT,
    threshold DOUBLE PRECISION NOT NULL,
    row_count BIGINT NOT NULL,
    -- queued, running, done or failed (with a reason).
    status TEXT NOT NULL,
    reason TEXT,
    matched BIGINT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT
);
CREATE INDEX match_jobs_status ON match_jobs (status, created_at);

-- Each input row as sent (JSON), numbered from 0 in input order.
CREATE TABLE match_job_rows (
    job_id TEXT NOT NULL,
    row_no BIGINT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (job_id, row_no)
);

-- Which registry person each row matched (NULL: none) and how probably.
-- What is shown of that person is read when the results are read.
CREATE TABLE match_job_results (
    job_id TEXT NOT NULL,
    row_no BIGINT NOT NULL,
    person_id TEXT,
    probability DOUBLE PRECISION,
    PRIMARY KEY (job_id, row_no)
);
