-- A targeting run or a payment cycle reads, for each page of households,
-- their enrolled and paused enrolments. This index holds all the page needs
-- (an index-only scan), and only for active enrolments, so writing the
-- decisions of a run (eligible, not eligible) does not touch it.
CREATE INDEX enrolments_active_by_household ON enrolments (household_id) INCLUDE (programme_code, beneficiary_id, status)
    WHERE status IN ('enrolled', 'paused');
