-- The registry: areas, households, people, and every version of each.
-- Current rows hold only what queries filter on; each record's content lives
-- in its versions, and the current one is the version the row points to.

CREATE TABLE areas (
    code TEXT PRIMARY KEY,
    parent TEXT,
    level TEXT NOT NULL,
    names TEXT NOT NULL,
    -- '/PK-PB/PK-PB-MUL/': descendants share the prefix.
    path TEXT NOT NULL,
    position BIGINT NOT NULL
);

CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);

CREATE TABLE households (
    id TEXT PRIMARY KEY,
    registration_number TEXT NOT NULL UNIQUE,
    area_code TEXT NOT NULL,
    status TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX households_area ON households (area_code, id);

CREATE TABLE household_versions (
    household_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    recorded_at TEXT NOT NULL,
    actor TEXT NOT NULL,
    source TEXT NOT NULL,
    change TEXT NOT NULL,
    reason TEXT,
    data TEXT NOT NULL,
    PRIMARY KEY (household_id, version)
) WITHOUT ROWID;

CREATE TABLE persons (
    id TEXT PRIMARY KEY,
    household_id TEXT NOT NULL,
    area_code TEXT NOT NULL,
    status TEXT NOT NULL,
    phone TEXT,
    version BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX persons_household ON persons (household_id);
CREATE INDEX persons_area ON persons (area_code, id);
CREATE INDEX persons_phone ON persons (phone) WHERE phone IS NOT NULL;

CREATE TABLE person_versions (
    person_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    household_id TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    actor TEXT NOT NULL,
    source TEXT NOT NULL,
    change TEXT NOT NULL,
    reason TEXT,
    data TEXT NOT NULL,
    PRIMARY KEY (person_id, version)
) WITHOUT ROWID;

CREATE TABLE person_identifiers (
    person_id TEXT NOT NULL,
    household_id TEXT NOT NULL,
    id_type TEXT NOT NULL,
    value TEXT NOT NULL,
    active SMALLINT NOT NULL,
    PRIMARY KEY (person_id, id_type, value)
) WITHOUT ROWID;
-- The same typed identifier cannot belong to two active people.
CREATE UNIQUE INDEX person_identifiers_active ON person_identifiers (id_type, value) WHERE active = 1;
CREATE INDEX person_identifiers_value ON person_identifiers (value);

CREATE TABLE person_name_tokens (
    token TEXT NOT NULL,
    person_id TEXT NOT NULL,
    PRIMARY KEY (token, person_id)
) WITHOUT ROWID;
