-- What programme rules read, kept beside the current rows so that a
-- targeting run or a payment cycle reads one row per household instead of
-- every member's whole version: a household's attributes (JSON), each
-- person's facts (JSON), and the facts of a household's active members
-- together ([[person id, facts], ...] in id order), refreshed by every
-- write that touches the household's members. Filled from the current
-- versions when this migration is applied.
ALTER TABLE households ADD COLUMN attributes TEXT;
ALTER TABLE households ADD COLUMN member_facts TEXT;
ALTER TABLE persons ADD COLUMN facts TEXT;
