-- A targeting run or a payment cycle reads, for each page of households,
-- their enrolled and paused enrolments. Through the household index each
-- one cost a lookup in the table as well; for a district's households,
-- spread over the whole file, that was a page read per enrolment. This
-- index holds all the page needs, and only for active enrolments, so
-- writing the decisions of a run (eligible, not eligible) does not touch it.
-- Its condition is the one the page's query states, word for word.
CREATE INDEX enrolments_active_by_household ON enrolments (household_id, programme_code, beneficiary_id, status)
    WHERE status IN ('enrolled', 'paused');
