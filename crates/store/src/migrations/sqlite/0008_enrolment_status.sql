-- Enrolments by programme and status, without the score: an index ordered
-- by score took every decision a run wrote at a random place, which made
-- writing a run's decisions several times slower. The enrolment queue of a
-- run is now sorted when it is read.
DROP INDEX enrolments_queue;
CREATE INDEX enrolments_status ON enrolments (programme_code, status);
