-- Programmes and every saved version of each; decisions and enrolments;
-- the transitions people made; targeting runs; queued notifications.
CREATE TABLE programmes (
    code TEXT PRIMARY KEY,
    version BIGINT NOT NULL,
    -- The definition as JSON.
    definition TEXT NOT NULL,
    saved_at TEXT NOT NULL,
    saved_by TEXT NOT NULL
);

CREATE TABLE programme_versions (
    code TEXT NOT NULL,
    version BIGINT NOT NULL,
    definition TEXT NOT NULL,
    saved_at TEXT NOT NULL,
    saved_by TEXT NOT NULL,
    PRIMARY KEY (code, version)
);

-- One row per programme and beneficiary (a household, or a person for
-- programmes about people): the latest decision and where it stands.
CREATE TABLE enrolments (
    programme_code TEXT NOT NULL,
    beneficiary_id TEXT NOT NULL,
    household_id TEXT NOT NULL,
    area_code TEXT NOT NULL,
    status TEXT NOT NULL,
    -- The programme version whose rules made the decision.
    programme_version BIGINT NOT NULL,
    run_id TEXT,
    pmt_score REAL,
    -- Per cycle, in minor units, when eligible.
    amount BIGINT,
    recipient_id TEXT,
    reason TEXT,
    decided_at TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    PRIMARY KEY (programme_code, beneficiary_id)
);
CREATE INDEX enrolments_household ON enrolments (household_id);
CREATE INDEX enrolments_queue ON enrolments (programme_code, status, pmt_score);

CREATE TABLE enrolment_events (
    id TEXT PRIMARY KEY,
    programme_code TEXT NOT NULL,
    beneficiary_id TEXT NOT NULL,
    from_status TEXT NOT NULL,
    to_status TEXT NOT NULL,
    reason TEXT,
    actor TEXT NOT NULL,
    at TEXT NOT NULL,
    programme_version BIGINT NOT NULL
);
CREATE INDEX enrolment_events_beneficiary ON enrolment_events (programme_code, beneficiary_id);

CREATE TABLE targeting_runs (
    id TEXT PRIMARY KEY,
    programme_code TEXT NOT NULL,
    programme_version BIGINT NOT NULL,
    area_code TEXT,
    actor TEXT NOT NULL,
    -- running, finished, failed, abandoned
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    -- A running run renews this; past it, the run is taken for dead.
    lease_until TEXT NOT NULL,
    finished_at TEXT,
    report TEXT
);
-- One run of a programme at a time.
CREATE UNIQUE INDEX targeting_runs_one_running ON targeting_runs (programme_code) WHERE status = 'running';

-- SMS to send, in the household's language, for a delivery adapter to pick up.
CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    household_id TEXT NOT NULL,
    person_id TEXT,
    phone TEXT,
    language TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    queued_at TEXT NOT NULL
);
CREATE INDEX notifications_status ON notifications (status, queued_at);
