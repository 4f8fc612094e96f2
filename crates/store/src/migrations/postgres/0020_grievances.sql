-- Grievances: complaints and appeals, from received to settled. A grievance
-- may come from someone the registry does not hold, so the household is
-- optional; the area is not, so that area scopes hold.
CREATE TABLE grievances (
    id TEXT PRIMARY KEY,
    area_code TEXT NOT NULL,
    household_id TEXT REFERENCES households (id),
    category TEXT NOT NULL,
    channel TEXT NOT NULL,
    complainant TEXT NOT NULL,
    phone TEXT,
    description TEXT NOT NULL,
    status TEXT NOT NULL,
    -- What was done, or why it was dismissed; the latest.
    resolution TEXT,
    opened_at TEXT NOT NULL,
    opened_by TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    changed_by TEXT NOT NULL
);
CREATE INDEX grievances_by_status_area ON grievances (status, area_code, opened_at);
CREATE INDEX grievances_by_household ON grievances (household_id);

-- Each move of a grievance, with who made it and why.
CREATE TABLE grievance_events (
    grievance_id TEXT NOT NULL REFERENCES grievances (id),
    seq BIGINT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    note TEXT NOT NULL,
    actor TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (grievance_id, seq)
);
