-- A household's version is about a kilobyte of JSON, just over the most a
-- WITHOUT ROWID table keeps on its page (about 1,000 bytes of 4,096): each
-- version spilled the rest onto an overflow page of its own, and the table
-- took 3.6 times its data's size. An ordinary table keeps rows of up to
-- 4,000 bytes on its pages; the primary key becomes an index beside it.
CREATE TABLE household_versions_rowid (
    household_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    recorded_at TEXT NOT NULL,
    actor TEXT NOT NULL,
    source TEXT NOT NULL,
    change TEXT NOT NULL,
    reason TEXT,
    data TEXT NOT NULL,
    PRIMARY KEY (household_id, version)
);
INSERT INTO household_versions_rowid (household_id, version, recorded_at, actor, source, change, reason, data)
    SELECT household_id, version, recorded_at, actor, source, change, reason, data FROM household_versions
    ORDER BY household_id, version;
DROP TABLE household_versions;
ALTER TABLE household_versions_rowid RENAME TO household_versions;
