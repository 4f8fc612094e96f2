-- A household's attributes (about 600 bytes of JSON) move out of the
-- households table into one of their own. A payment cycle whose rules read
-- only the members, and every query that filters households, then reads
-- rows of about a kilobyte instead of 1.6. Rules that read attributes, or
-- the score computed from them, join this table. (The dropped column's
-- space is reused as rows are written again, or at once by VACUUM FULL.)
CREATE TABLE household_attributes (
    household_id TEXT PRIMARY KEY,
    attributes TEXT NOT NULL
);
INSERT INTO household_attributes (household_id, attributes)
    SELECT id, attributes FROM households WHERE attributes IS NOT NULL ORDER BY id;
ALTER TABLE households DROP COLUMN attributes;
