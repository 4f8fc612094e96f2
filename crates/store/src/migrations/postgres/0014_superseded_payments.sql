-- A payment as an earlier batch carried it, kept when its entitlement is
-- issued again after failing or being returned, so that the earlier batch's
-- file still reads byte for byte as it was sent.
CREATE TABLE superseded_payments (
    batch_id TEXT NOT NULL,
    entitlement_id TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    payee_name TEXT,
    payee_account TEXT,
    account_id TEXT,
    PRIMARY KEY (batch_id, entitlement_id)
);
