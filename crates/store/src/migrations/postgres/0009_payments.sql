-- G2P payments: people's financial accounts, funding lines, payment cycles
-- with their transitions, one entitlement per beneficiary per cycle, the
-- payment files issued and the status files reconciled.

CREATE TABLE financial_accounts (
    id TEXT PRIMARY KEY,
    person_id TEXT NOT NULL,
    household_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    provider TEXT NOT NULL,
    -- E.164 number, IBAN, ROUTING:ACCOUNT or agent account number.
    number TEXT NOT NULL,
    -- The name the provider holds the account under: the payee's name on payments.
    holder_name TEXT NOT NULL,
    -- Stands for the account in a G2P Connect financial address (token:…@provider).
    token TEXT NOT NULL UNIQUE,
    is_primary BIGINT NOT NULL,
    verified BIGINT NOT NULL,
    verified_at TEXT,
    -- active or closed
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    changed_at TEXT NOT NULL
);
CREATE INDEX financial_accounts_person ON financial_accounts (person_id);
-- One primary account per person among the active ones.
CREATE UNIQUE INDEX financial_accounts_primary ON financial_accounts (person_id) WHERE is_primary = 1 AND status = 'active';

-- Money a cycle may draw on (the treasury, a donor), in minor units.
CREATE TABLE funding_lines (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    currency TEXT NOT NULL,
    allocated BIGINT NOT NULL,
    -- What approved cycles took from it.
    committed BIGINT NOT NULL,
    changed_at TEXT NOT NULL,
    changed_by TEXT NOT NULL
);

CREATE TABLE cycles (
    id TEXT PRIMARY KEY,
    programme_code TEXT NOT NULL,
    -- The programme version whose rules computed the entitlements.
    programme_version BIGINT,
    period TEXT NOT NULL,
    -- What the cycle pays (share, flat amount, skip, areas, funding lines), as JSON.
    plan TEXT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    -- Raised by every change, so that approval can see a cycle changed after submission.
    version BIGINT NOT NULL,
    -- The version the maker submitted.
    submitted_version BIGINT,
    opened_by TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    computed_at TEXT,
    submitted_by TEXT,
    submitted_at TEXT,
    approved_by TEXT,
    approved_at TEXT,
    closed_at TEXT,
    changed_at TEXT NOT NULL
);
-- One live cycle per programme and period.
CREATE UNIQUE INDEX cycles_period ON cycles (programme_code, period) WHERE status NOT IN ('cancelled', 'rejected');

CREATE TABLE cycle_events (
    id TEXT PRIMARY KEY,
    cycle_id TEXT NOT NULL,
    from_status TEXT NOT NULL,
    to_status TEXT NOT NULL,
    actor TEXT NOT NULL,
    at TEXT NOT NULL,
    -- What the step did, as JSON (counts, amounts, files).
    detail TEXT NOT NULL
);
CREATE INDEX cycle_events_cycle ON cycle_events (cycle_id, at);

-- What an approved cycle took from each funding line.
CREATE TABLE cycle_funding (
    cycle_id TEXT NOT NULL,
    funding_line TEXT NOT NULL,
    amount BIGINT NOT NULL,
    PRIMARY KEY (cycle_id, funding_line)
);

CREATE TABLE entitlements (
    -- 32 hexadecimal digits: the end-to-end id of its first payment.
    id TEXT PRIMARY KEY,
    cycle_id TEXT NOT NULL,
    programme_code TEXT NOT NULL,
    beneficiary_id TEXT NOT NULL,
    household_id TEXT NOT NULL,
    recipient_id TEXT,
    area_code TEXT NOT NULL,
    recipient_sex TEXT,
    status TEXT NOT NULL,
    reason TEXT,
    -- In minor units: what the benefit formula gave, the arrears added, what is owed.
    formula_amount BIGINT NOT NULL,
    arrears BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    -- The registry values the rules read when it was computed, as JSON.
    facts TEXT NOT NULL,
    -- Frozen when issued: the provider, the account and the name on the payment.
    provider TEXT,
    account_id TEXT,
    payee_account TEXT,
    payee_name TEXT,
    attempt BIGINT NOT NULL,
    batch_id TEXT,
    -- What the provider last reported, and which status file said it.
    provider_status TEXT,
    provider_reason TEXT,
    reconciled_by TEXT,
    -- A deferred or carried-forward entitlement: the one that paid it as arrears.
    settled_by TEXT,
    changed_at TEXT NOT NULL
);
-- One entitlement per beneficiary per cycle.
CREATE UNIQUE INDEX entitlements_beneficiary ON entitlements (cycle_id, beneficiary_id);
-- In id order within a status: issuing pages through it without sorting.
CREATE INDEX entitlements_cycle_status ON entitlements (cycle_id, status, id);
-- A batch's payments in id order, as its file lists them; only issued ones have a batch,
-- so computing a cycle writes nothing here.
CREATE INDEX entitlements_batch ON entitlements (batch_id, id) WHERE batch_id IS NOT NULL;
CREATE INDEX entitlements_owed ON entitlements (programme_code, beneficiary_id) WHERE status IN ('deferred', 'carried_forward') AND settled_by IS NULL;

-- One payment file: a provider's share of a cycle, cut to its chunk size.
CREATE TABLE payment_batches (
    id TEXT PRIMARY KEY,
    cycle_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    -- 1 for the first issue, then one more for each time failed payments are issued again.
    round BIGINT NOT NULL,
    chunk BIGINT NOT NULL,
    -- The file's message id (pain.001 MsgId), unique.
    message_id TEXT NOT NULL UNIQUE,
    file_name TEXT NOT NULL,
    format TEXT NOT NULL,
    payments BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    -- Of the file's bytes, recorded when it is first written; writing it again must give the same.
    sha256 TEXT,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL
);
CREATE INDEX payment_batches_cycle ON payment_batches (cycle_id, round, provider, chunk);

-- Status files reconciled, so that the same file is never applied twice.
CREATE TABLE reconciliation_files (
    id TEXT PRIMARY KEY,
    cycle_id TEXT NOT NULL,
    sha256 TEXT NOT NULL UNIQUE,
    format TEXT NOT NULL,
    file_name TEXT NOT NULL,
    lines BIGINT NOT NULL,
    applied BIGINT NOT NULL,
    errors BIGINT NOT NULL,
    imported_at TEXT NOT NULL,
    imported_by TEXT NOT NULL
);

-- Lines of status files that were not applied, and why.
CREATE TABLE reconciliation_errors (
    file_id TEXT NOT NULL,
    line BIGINT NOT NULL,
    cycle_id TEXT NOT NULL,
    end_to_end_id TEXT,
    code TEXT NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (file_id, line)
);
CREATE INDEX reconciliation_errors_cycle ON reconciliation_errors (cycle_id);
