-- The language a staff member chose for the pages (ISO 639-1), kept with
-- the account so that it follows them to any device at their next sign-in.
-- NULL: never chosen; the browser's cookie or Accept-Language decides.
ALTER TABLE users ADD COLUMN language TEXT;
