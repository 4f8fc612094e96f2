-- Source keys of imported records: an import that runs again (or resumes
-- after a crash) skips what is already here.
CREATE TABLE import_keys (
    kind TEXT NOT NULL,
    source_key TEXT NOT NULL,
    record_id TEXT NOT NULL,
    PRIMARY KEY (kind, source_key)
);
