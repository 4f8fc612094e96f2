-- A household's entitlements are now found cycle by cycle (there are tens of
-- cycles, not millions): computing a cycle appends to this index in household
-- order, where (household_id, cycle_id) took a write at a random place of a
-- table-sized index for every entitlement, and slowed each cycle more than the last.
DROP INDEX entitlements_household;
CREATE INDEX entitlements_cycle_household ON entitlements (cycle_id, household_id);
