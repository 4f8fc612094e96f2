-- What beneficiaries of conditional transfers did: school attendance and
-- health visits, one value per person, kind and quarter.
CREATE TABLE compliance_records (
    person_id TEXT NOT NULL,
    household_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    -- 2026-Q3
    period TEXT NOT NULL,
    value REAL NOT NULL,
    source TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (person_id, kind, period)
);
CREATE INDEX compliance_household ON compliance_records (household_id);

-- Enrolments of a person, found when the person moves household.
CREATE INDEX enrolments_beneficiary ON enrolments (beneficiary_id);
