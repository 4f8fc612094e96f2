-- A household's entitlements across cycles, as its profile and the API list
-- them: without it each profile would read every cycle's entitlements.
CREATE INDEX entitlements_household ON entitlements (household_id, cycle_id);
