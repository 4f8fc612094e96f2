-- A household programme's entitlement has the household as its beneficiary,
-- so (cycle_id, beneficiary_id) already finds it. This index keeps only the
-- entitlements of a household's members, and computing a household
-- programme's cycle writes one index at places spread over the cycle, not two.
DROP INDEX entitlements_cycle_household;
CREATE INDEX entitlements_cycle_member_household ON entitlements (cycle_id, household_id) WHERE household_id <> beneficiary_id;
