//! Payments: financial accounts, funding lines, cycles and their events,
//! entitlements, payment batches and reconciled status files.
//!
//! The steps that touch every entitlement of a cycle (writing them, issuing
//! them into batches, applying a status file) each run in one transaction,
//! so that a process killed half-way leaves the cycle as it was before the
//! step; on SQLite they go through the bulk connection with prepared
//! statements.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use himaya_domain::payment::{CycleStatus, EntitlementStatus};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::registry::{insert_many, is_unique_violation, values_clause};
use crate::{Backend, Store, StoreError, parse_time, time_text};

/// A person's financial account.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AccountRow {
    pub id: String,
    pub person_id: String,
    pub household_id: String,
    pub kind: String,
    pub provider: String,
    pub number: String,
    pub holder_name: String,
    pub token: String,
    pub primary: bool,
    pub verified: bool,
    pub verified_at: Option<DateTime<Utc>>,
    /// `active` or `closed`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FundingLineRow {
    pub code: String,
    pub name: String,
    pub currency: String,
    pub allocated: i64,
    pub committed: i64,
    pub changed_at: DateTime<Utc>,
    pub changed_by: String,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CycleRow {
    pub id: String,
    pub programme_code: String,
    pub programme_version: Option<i64>,
    pub period: String,
    /// The plan as JSON.
    pub plan: String,
    pub currency: String,
    pub status: CycleStatus,
    pub version: i64,
    pub submitted_version: Option<i64>,
    pub opened_by: String,
    pub opened_at: DateTime<Utc>,
    pub computed_at: Option<DateTime<Utc>>,
    pub submitted_by: Option<String>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub approved_by: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CycleEventRow {
    pub from_status: CycleStatus,
    pub to_status: CycleStatus,
    pub actor: String,
    pub at: DateTime<Utc>,
    /// JSON.
    pub detail: String,
}

/// One beneficiary's entitlement in a cycle.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct EntitlementRow {
    pub id: String,
    pub cycle_id: String,
    pub programme_code: String,
    pub beneficiary_id: String,
    pub household_id: String,
    pub recipient_id: Option<String>,
    pub area_code: String,
    pub recipient_sex: Option<String>,
    pub status: EntitlementStatus,
    pub reason: Option<String>,
    pub formula_amount: i64,
    pub arrears: i64,
    pub amount: i64,
    /// The registry values the rules read, as JSON.
    pub facts: String,
    pub provider: Option<String>,
    pub payee_account: Option<String>,
    pub payee_name: Option<String>,
    pub attempt: i64,
    pub batch_id: Option<String>,
    pub provider_status: Option<String>,
    pub provider_reason: Option<String>,
    pub reconciled_by: Option<String>,
    pub settled_by: Option<String>,
}

/// A payment file as recorded.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BatchRow {
    pub id: String,
    pub cycle_id: String,
    pub provider: String,
    pub round: i64,
    pub chunk: i64,
    pub message_id: String,
    pub file_name: String,
    pub format: String,
    pub payments: i64,
    pub amount: i64,
    pub sha256: Option<String>,
}

/// One payment of a batch, as its file carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchPayment {
    pub entitlement_id: String,
    pub attempt: i64,
    pub amount: i64,
    pub payee_name: String,
    pub payee_account: String,
    pub account_kind: String,
}

/// How a provider's share of a cycle is cut into files, and what its files carry.
#[derive(Clone, Debug)]
pub struct ProviderSpec {
    pub chunk_size: u32,
    pub financial_address: bool,
    /// `pain.001.001.09`, `csv`…: recorded with each batch.
    pub format: String,
}

/// What issuing a cycle did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct IssueOutcome {
    pub round: i64,
    pub batches: Vec<BatchRow>,
    pub issued: u64,
    /// Failed for want of a usable account.
    pub no_account: u64,
}

/// A status a provider reported for one payment.
#[derive(Clone, Debug)]
pub struct StatusUpdate {
    /// The line of the status file.
    pub line: i64,
    pub entitlement: uuid::Uuid,
    pub attempt: i64,
    pub status: EntitlementStatus,
    /// What the file says was paid, when it says.
    pub amount: Option<i64>,
    pub provider_status: String,
    pub provider_reason: Option<String>,
}

impl StatusUpdate {
    /// The entitlement's id as stored: 32 hexadecimal digits.
    fn entitlement_id(&self) -> String {
        self.entitlement.simple().to_string()
    }
}

/// What applying a status file did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Its SHA-256 was applied before: nothing was done again.
    AlreadyReconciled,
    /// Every payment it names belongs to another cycle: nothing was applied.
    OtherCycle,
    Done {
        applied: i64,
        /// Of those applied: how many were paid, failed and returned.
        paid: i64,
        failed: i64,
        returned: i64,
        errors: Vec<ReconciliationError>,
    },
}

/// A status line that was not applied.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ReconciliationError {
    pub line: i64,
    pub end_to_end_id: Option<String>,
    pub code: String,
    pub detail: String,
}

/// A status file to record with the updates it brought.
#[derive(Clone, Debug)]
pub struct ReconciliationFile {
    pub id: String,
    pub cycle_id: String,
    pub sha256: String,
    pub format: String,
    pub file_name: String,
    pub lines: i64,
}

/// Counts and sums by status, and by provider, area and sex within each.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct CycleCounts {
    /// (status, entitlements, amount).
    pub by_status: Vec<(EntitlementStatus, i64, i64)>,
    /// (provider or "", area, recipient sex or "", status, entitlements, amount).
    pub detail: Vec<(String, String, String, EntitlementStatus, i64, i64)>,
}

/// Why approval was refused in its transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApprovalRefusal {
    /// The cycle is not the one submitted: its status or version moved.
    Changed,
    /// Arrears a computed entitlement counted were paid by another cycle since.
    ArrearsChanged(i64),
    /// The funding lines lack this much (minor units).
    Shortfall {
        needed: i64,
        available: i64,
    },
    UnknownFundingLine(String),
}

fn cycle_status(row: &AnyRow, col: &str) -> Result<CycleStatus, StoreError> {
    let s: String = row.try_get(col)?;
    CycleStatus::from_code(&s).ok_or_else(|| StoreError::Corrupt(format!("cycle status {s:?}")))
}

fn entitlement_status(s: &str) -> Result<EntitlementStatus, StoreError> {
    EntitlementStatus::from_code(s).ok_or_else(|| StoreError::Corrupt(format!("entitlement status {s:?}")))
}

fn time_opt(row: &AnyRow, col: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    let t: Option<String> = row.try_get(col)?;
    t.as_deref().map(parse_time).transpose()
}

fn account_row(row: &AnyRow) -> Result<AccountRow, StoreError> {
    Ok(AccountRow {
        id: row.try_get("id")?,
        person_id: row.try_get("person_id")?,
        household_id: row.try_get("household_id")?,
        kind: row.try_get("kind")?,
        provider: row.try_get("provider")?,
        number: row.try_get("number")?,
        holder_name: row.try_get("holder_name")?,
        token: row.try_get("token")?,
        primary: row.try_get::<i64, _>("is_primary")? == 1,
        verified: row.try_get::<i64, _>("verified")? == 1,
        verified_at: time_opt(row, "verified_at")?,
        status: row.try_get("status")?,
        created_at: parse_time(&row.try_get::<String, _>("created_at")?)?,
        created_by: row.try_get("created_by")?,
    })
}

fn funding_row(row: &AnyRow) -> Result<FundingLineRow, StoreError> {
    Ok(FundingLineRow {
        code: row.try_get("code")?,
        name: row.try_get("name")?,
        currency: row.try_get("currency")?,
        allocated: row.try_get("allocated")?,
        committed: row.try_get("committed")?,
        changed_at: parse_time(&row.try_get::<String, _>("changed_at")?)?,
        changed_by: row.try_get("changed_by")?,
    })
}

const CYCLE_COLUMNS: &str = "id, programme_code, programme_version, period, plan, currency, status, version, \
     submitted_version, opened_by, opened_at, computed_at, submitted_by, submitted_at, approved_by, approved_at, closed_at";

fn cycle_row(row: &AnyRow) -> Result<CycleRow, StoreError> {
    Ok(CycleRow {
        id: row.try_get("id")?,
        programme_code: row.try_get("programme_code")?,
        programme_version: row.try_get("programme_version")?,
        period: row.try_get("period")?,
        plan: row.try_get("plan")?,
        currency: row.try_get("currency")?,
        status: cycle_status(row, "status")?,
        version: row.try_get("version")?,
        submitted_version: row.try_get("submitted_version")?,
        opened_by: row.try_get("opened_by")?,
        opened_at: parse_time(&row.try_get::<String, _>("opened_at")?)?,
        computed_at: time_opt(row, "computed_at")?,
        submitted_by: row.try_get("submitted_by")?,
        submitted_at: time_opt(row, "submitted_at")?,
        approved_by: row.try_get("approved_by")?,
        approved_at: time_opt(row, "approved_at")?,
        closed_at: time_opt(row, "closed_at")?,
    })
}

const ENTITLEMENT_COLUMNS: &str = "id, cycle_id, programme_code, beneficiary_id, household_id, recipient_id, area_code, \
     recipient_sex, status, reason, formula_amount, arrears, amount, facts, provider, payee_account, payee_name, attempt, \
     batch_id, provider_status, provider_reason, reconciled_by, settled_by";

fn entitlement_row(row: &AnyRow) -> Result<EntitlementRow, StoreError> {
    Ok(EntitlementRow {
        id: row.try_get("id")?,
        cycle_id: row.try_get("cycle_id")?,
        programme_code: row.try_get("programme_code")?,
        beneficiary_id: row.try_get("beneficiary_id")?,
        household_id: row.try_get("household_id")?,
        recipient_id: row.try_get("recipient_id")?,
        area_code: row.try_get("area_code")?,
        recipient_sex: row.try_get("recipient_sex")?,
        status: entitlement_status(&row.try_get::<String, _>("status")?)?,
        reason: row.try_get("reason")?,
        formula_amount: row.try_get("formula_amount")?,
        arrears: row.try_get("arrears")?,
        amount: row.try_get("amount")?,
        facts: row.try_get("facts")?,
        provider: row.try_get("provider")?,
        payee_account: row.try_get("payee_account")?,
        payee_name: row.try_get("payee_name")?,
        attempt: row.try_get("attempt")?,
        batch_id: row.try_get("batch_id")?,
        provider_status: row.try_get("provider_status")?,
        provider_reason: row.try_get("provider_reason")?,
        reconciled_by: row.try_get("reconciled_by")?,
        settled_by: row.try_get("settled_by")?,
    })
}

const BATCH_COLUMNS: &str =
    "id, cycle_id, provider, round, chunk, message_id, file_name, format, payments, amount, sha256";

fn batch_row(row: &AnyRow) -> Result<BatchRow, StoreError> {
    Ok(BatchRow {
        id: row.try_get("id")?,
        cycle_id: row.try_get("cycle_id")?,
        provider: row.try_get("provider")?,
        round: row.try_get("round")?,
        chunk: row.try_get("chunk")?,
        message_id: row.try_get("message_id")?,
        file_name: row.try_get("file_name")?,
        format: row.try_get("format")?,
        payments: row.try_get("payments")?,
        amount: row.try_get("amount")?,
        sha256: row.try_get("sha256")?,
    })
}

impl Store {
    // ---- Financial accounts -------------------------------------------------

    /// Records an account; a primary one makes the person's other accounts secondary.
    pub async fn add_account(&self, a: &AccountRow) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        if a.primary {
            sqlx::query(
                "UPDATE financial_accounts SET is_primary = 0, changed_at = $1 WHERE person_id = $2 AND is_primary = 1",
            )
            .bind(time_text(a.created_at))
            .bind(a.person_id.clone())
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO financial_accounts (id, person_id, household_id, kind, provider, number, holder_name, token, \
             is_primary, verified, verified_at, status, created_at, created_by, changed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $13)",
        )
        .bind(a.id.clone())
        .bind(a.person_id.clone())
        .bind(a.household_id.clone())
        .bind(a.kind.clone())
        .bind(a.provider.clone())
        .bind(a.number.clone())
        .bind(a.holder_name.clone())
        .bind(a.token.clone())
        .bind(i64::from(a.primary))
        .bind(i64::from(a.verified))
        .bind(a.verified_at.map(time_text))
        .bind(a.status.clone())
        .bind(time_text(a.created_at))
        .bind(a.created_by.clone())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records many new accounts at once (an import), each the primary of
    /// a person who has none.
    pub async fn load_accounts(&self, accounts: &[AccountRow]) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        let rows: Vec<(&AccountRow, String, Option<String>)> = accounts
            .iter()
            .map(|a| (a, time_text(a.created_at), a.verified_at.map(time_text)))
            .collect();
        insert_many(
            &mut tx,
            self.backend,
            "financial_accounts (id, person_id, household_id, kind, provider, number, holder_name, token, is_primary, \
             verified, verified_at, status, created_at, created_by, changed_at)",
            15,
            &rows,
            |q, (a, at, verified_at)| {
                q.bind(a.id.as_str())
                    .bind(a.person_id.as_str())
                    .bind(a.household_id.as_str())
                    .bind(a.kind.as_str())
                    .bind(a.provider.as_str())
                    .bind(a.number.as_str())
                    .bind(a.holder_name.as_str())
                    .bind(a.token.as_str())
                    .bind(i64::from(a.primary))
                    .bind(i64::from(a.verified))
                    .bind(verified_at.as_deref())
                    .bind(a.status.as_str())
                    .bind(at.as_str())
                    .bind(a.created_by.as_str())
                    .bind(at.as_str())
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// (household id, area, status) of each of the given people who exist.
    pub async fn persons_brief(&self, ids: &[String]) -> Result<HashMap<String, (String, String, String)>, StoreError> {
        let mut found = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(1_000) {
            let mut n = 0;
            let list: Vec<String> = chunk.iter().map(|_| self.placeholder(&mut n)).collect();
            let sql = format!(
                "SELECT id, household_id, area_code, status FROM persons WHERE id IN ({})",
                list.join(", ")
            );
            let mut q = sqlx::query(AssertSqlSafe(sql)).persistent(false);
            for id in chunk {
                q = q.bind(id.clone());
            }
            for r in q.fetch_all(&self.pool).await? {
                found.insert(
                    r.try_get("id")?,
                    (
                        r.try_get("household_id")?,
                        r.try_get("area_code")?,
                        r.try_get("status")?,
                    ),
                );
            }
        }
        Ok(found)
    }

    /// The people among `ids` who have an active primary account.
    pub async fn with_primary_account(&self, ids: &[String]) -> Result<std::collections::HashSet<String>, StoreError> {
        let mut found = std::collections::HashSet::new();
        for chunk in ids.chunks(1_000) {
            let mut n = 0;
            let list: Vec<String> = chunk.iter().map(|_| self.placeholder(&mut n)).collect();
            let sql = format!(
                "SELECT person_id FROM financial_accounts WHERE is_primary = 1 AND status = 'active' AND person_id IN ({})",
                list.join(", ")
            );
            let mut q = sqlx::query(AssertSqlSafe(sql)).persistent(false);
            for id in chunk {
                q = q.bind(id.clone());
            }
            for r in q.fetch_all(&self.pool).await? {
                found.insert(r.try_get("person_id")?);
            }
        }
        Ok(found)
    }

    /// The recipients of a programme's active enrolments who have no active
    /// primary account: those a cycle could not pay.
    pub async fn recipients_without_account(&self, programme: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT e.recipient_id FROM enrolments e WHERE e.programme_code = $1 \
             AND e.status IN ('enrolled', 'paused') AND e.recipient_id IS NOT NULL AND NOT EXISTS \
             (SELECT 1 FROM financial_accounts a WHERE a.person_id = e.recipient_id AND a.is_primary = 1 \
             AND a.status = 'active') ORDER BY e.recipient_id",
        )
        .bind(programme.to_owned())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    pub async fn person_accounts(&self, person_id: &str) -> Result<Vec<AccountRow>, StoreError> {
        let rows = sqlx::query("SELECT * FROM financial_accounts WHERE person_id = $1 ORDER BY created_at, id")
            .bind(person_id.to_owned())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(account_row).collect()
    }

    pub async fn account(&self, id: &str) -> Result<Option<AccountRow>, StoreError> {
        let row = sqlx::query("SELECT * FROM financial_accounts WHERE id = $1")
            .bind(id.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(account_row).transpose()
    }

    /// Makes an account primary, verified or closed; a primary one makes the
    /// person's others secondary, a closed one stops being primary.
    pub async fn update_account(
        &self,
        id: &str,
        primary: Option<bool>,
        verified: Option<bool>,
        closed: bool,
        at: DateTime<Utc>,
    ) -> Result<Option<AccountRow>, StoreError> {
        let mut tx = self.writer.begin().await?;
        let Some(row) = sqlx::query("SELECT * FROM financial_accounts WHERE id = $1")
            .bind(id.to_owned())
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(None);
        };
        let mut a = account_row(&row)?;
        if primary == Some(true) && !closed {
            sqlx::query(
                "UPDATE financial_accounts SET is_primary = 0, changed_at = $1 WHERE person_id = $2 AND is_primary = 1 AND id <> $3",
            )
            .bind(time_text(at))
            .bind(a.person_id.clone())
            .bind(a.id.clone())
            .execute(&mut *tx)
            .await?;
            a.primary = true;
        }
        if primary == Some(false) || closed {
            a.primary = false;
        }
        if let Some(v) = verified {
            a.verified = v;
            a.verified_at = v.then_some(at);
        }
        if closed {
            a.status = "closed".into();
        }
        sqlx::query(
            "UPDATE financial_accounts SET is_primary = $1, verified = $2, verified_at = $3, status = $4, changed_at = $5 \
             WHERE id = $6",
        )
        .bind(i64::from(a.primary))
        .bind(i64::from(a.verified))
        .bind(a.verified_at.map(time_text))
        .bind(a.status.clone())
        .bind(time_text(at))
        .bind(a.id.clone())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(a))
    }

    // ---- Funding lines ------------------------------------------------------

    /// Creates or changes a funding line; the allocation cannot fall below
    /// what approved cycles have committed. `Ok(false)` when it would.
    pub async fn set_funding_line(
        &self,
        code: &str,
        name: &str,
        currency: &str,
        allocated: i64,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO funding_lines (code, name, currency, allocated, committed, changed_at, changed_by) \
             VALUES ($1, $2, $3, $4, 0, $5, $6) ON CONFLICT (code) DO UPDATE SET name = excluded.name, \
             allocated = excluded.allocated, changed_at = excluded.changed_at, changed_by = excluded.changed_by \
             WHERE funding_lines.committed <= excluded.allocated AND funding_lines.currency = excluded.currency",
        )
        .bind(code.to_owned())
        .bind(name.to_owned())
        .bind(currency.to_owned())
        .bind(allocated)
        .bind(time_text(at))
        .bind(actor.to_owned())
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn funding_lines(&self) -> Result<Vec<FundingLineRow>, StoreError> {
        let rows = sqlx::query("SELECT * FROM funding_lines ORDER BY code")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(funding_row).collect()
    }

    pub async fn funding_line(&self, code: &str) -> Result<Option<FundingLineRow>, StoreError> {
        let row = sqlx::query("SELECT * FROM funding_lines WHERE code = $1")
            .bind(code.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(funding_row).transpose()
    }

    // ---- Cycles -------------------------------------------------------------

    /// Opens a cycle; `Ok(false)` when the programme has a live cycle for the period.
    pub async fn insert_cycle(&self, c: &CycleRow) -> Result<bool, StoreError> {
        let at = time_text(c.opened_at);
        let done = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO cycles ({CYCLE_COLUMNS}, changed_at) \
             VALUES ($1, $2, NULL, $3, $4, $5, $6, 1, NULL, $7, $8, NULL, NULL, NULL, NULL, NULL, NULL, $8)"
        )))
        .bind(c.id.clone())
        .bind(c.programme_code.clone())
        .bind(c.period.clone())
        .bind(c.plan.clone())
        .bind(c.currency.clone())
        .bind(c.status.code())
        .bind(c.opened_by.clone())
        .bind(at)
        .execute(&self.writer)
        .await;
        match done {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn cycle(&self, id: &str) -> Result<Option<CycleRow>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {CYCLE_COLUMNS} FROM cycles WHERE id = $1"
        )))
        .bind(id.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(cycle_row).transpose()
    }

    pub async fn cycles(&self, programme: Option<&str>) -> Result<Vec<CycleRow>, StoreError> {
        let rows = match programme {
            Some(p) => {
                sqlx::query(AssertSqlSafe(format!(
                    "SELECT {CYCLE_COLUMNS} FROM cycles WHERE programme_code = $1 ORDER BY opened_at DESC, id DESC"
                )))
                .bind(p.to_owned())
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(AssertSqlSafe(format!(
                    "SELECT {CYCLE_COLUMNS} FROM cycles ORDER BY opened_at DESC, id DESC"
                )))
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(cycle_row).collect()
    }

    /// Moves a cycle from `from` to `to` if it is still at `version`, raising
    /// its version, and records the event. `Ok(false)` when it moved meanwhile.
    #[allow(clippy::too_many_arguments)]
    pub async fn transition_cycle(
        &self,
        id: &str,
        from: CycleStatus,
        to: CycleStatus,
        version: i64,
        actor: &str,
        at: DateTime<Utc>,
        detail: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await?;
        let column = match to {
            CycleStatus::Computed => ", computed_at = $6",
            CycleStatus::Submitted => ", submitted_at = $6, submitted_by = $7, submitted_version = version + 1",
            CycleStatus::Closed => ", closed_at = $6",
            _ => "",
        };
        let sql = format!(
            "UPDATE cycles SET status = $1, version = version + 1, changed_at = $2{column} \
             WHERE id = $3 AND status = $4 AND version = $5"
        );
        let mut q = sqlx::query(AssertSqlSafe(sql))
            .bind(to.code())
            .bind(time_text(at))
            .bind(id.to_owned())
            .bind(from.code())
            .bind(version);
        if !column.is_empty() {
            q = q.bind(time_text(at));
        }
        if to == CycleStatus::Submitted {
            q = q.bind(actor.to_owned());
        }
        if q.execute(&mut *tx).await?.rows_affected() != 1 {
            return Ok(false);
        }
        insert_event(&mut tx, id, from, to, actor, at, detail).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn cycle_events(&self, id: &str) -> Result<Vec<CycleEventRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT from_status, to_status, actor, at, detail FROM cycle_events WHERE cycle_id = $1 ORDER BY at, id",
        )
        .bind(id.to_owned())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CycleEventRow {
                    from_status: cycle_status(r, "from_status")?,
                    to_status: cycle_status(r, "to_status")?,
                    actor: r.try_get("actor")?,
                    at: parse_time(&r.try_get::<String, _>("at")?)?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
    }

    // ---- Entitlements -------------------------------------------------------

    /// What earlier cycles of the programme still owe each beneficiary
    /// (deferred or carried forward, not yet settled).
    pub async fn owed_arrears(
        &self,
        programme: &str,
        beneficiaries: &[String],
    ) -> Result<HashMap<String, i64>, StoreError> {
        let mut owed = HashMap::new();
        for chunk in beneficiaries.chunks(1_000) {
            let mut n = 0;
            let first = self.placeholder(&mut n);
            let list: Vec<String> = chunk.iter().map(|_| self.placeholder(&mut n)).collect();
            let sql = format!(
                "SELECT beneficiary_id, CAST(SUM(amount) AS BIGINT) AS owed FROM entitlements \
                 WHERE programme_code = {first} AND status IN ('deferred', 'carried_forward') AND settled_by IS NULL \
                 AND beneficiary_id IN ({}) GROUP BY beneficiary_id",
                list.join(", ")
            );
            let mut q = sqlx::query(AssertSqlSafe(sql))
                .persistent(false)
                .bind(programme.to_owned());
            for b in chunk {
                q = q.bind(b.clone());
            }
            for row in q.fetch_all(&self.pool).await? {
                owed.insert(row.try_get("beneficiary_id")?, row.try_get("owed")?);
            }
        }
        Ok(owed)
    }

    /// Whether earlier cycles of the programme owe anything at all: when
    /// none does, computing a cycle looks up no one's arrears.
    pub async fn owed_arrears_exist(&self, programme: &str) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT 1 FROM entitlements WHERE programme_code = $1 AND status IN ('deferred', 'carried_forward') \
             AND settled_by IS NULL LIMIT 1",
        )
        .bind(programme.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Notes the programme version that computed a cycle.
    pub async fn set_cycle_programme_version(&self, cycle_id: &str, version: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE cycles SET programme_version = $1 WHERE id = $2")
            .bind(version)
            .bind(cycle_id.to_owned())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Marks every entitlement of a cycle given up as cancelled.
    pub async fn cancel_entitlements(&self, cycle_id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE entitlements SET status = 'cancelled', changed_at = $1 WHERE cycle_id = $2")
            .bind(time_text(Utc::now()))
            .bind(cycle_id.to_owned())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Removes a cycle's entitlements before it is computed again.
    pub async fn clear_entitlements(&self, cycle_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM entitlements WHERE cycle_id = $1")
            .bind(cycle_id.to_owned())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Writes a page of computed entitlements.
    pub async fn insert_entitlements(&self, rows: Vec<EntitlementRow>) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let at = time_text(Utc::now());
        if self.sqlite_file() {
            return self
                .with_sqlite_writer(move |conn| {
                    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                    {
                        // Many rows a statement: each execution opens a cursor
                        // on the table and each of its indexes, once for all.
                        let mut full = tx.prepare_cached(&sqlite_entitlements_insert(ROWS_PER_INSERT))?;
                        let chunks = rows.chunks_exact(ROWS_PER_INSERT);
                        let rest = chunks.remainder();
                        for chunk in chunks {
                            full.execute(rusqlite::params_from_iter(entitlement_values(chunk, &at)))?;
                        }
                        if !rest.is_empty() {
                            tx.prepare(&sqlite_entitlements_insert(rest.len()))?
                                .execute(rusqlite::params_from_iter(entitlement_values(rest, &at)))?;
                        }
                    }
                    tx.commit()?;
                    Ok(())
                })
                .await;
        }
        let mut tx = self.writer.begin().await?;
        insert_many(
            &mut tx,
            self.backend,
            ENTITLEMENT_INSERT,
            ENTITLEMENT_INSERT_COLUMNS,
            &rows,
            |q, r| {
                q.bind(r.id.as_str())
                    .bind(r.cycle_id.as_str())
                    .bind(r.programme_code.as_str())
                    .bind(r.beneficiary_id.as_str())
                    .bind(r.household_id.as_str())
                    .bind(r.recipient_id.as_deref())
                    .bind(r.area_code.as_str())
                    .bind(r.recipient_sex.as_deref())
                    .bind(r.status.code())
                    .bind(r.reason.as_deref())
                    .bind(r.formula_amount)
                    .bind(r.arrears)
                    .bind(r.amount)
                    .bind(r.facts.as_str())
                    .bind(0i64)
                    .bind(at.as_str())
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn entitlement(&self, id: &str) -> Result<Option<EntitlementRow>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {ENTITLEMENT_COLUMNS} FROM entitlements WHERE id = $1"
        )))
        .bind(id.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(entitlement_row).transpose()
    }

    /// A page of a cycle's entitlements in id order, after `after`.
    pub async fn cycle_entitlements(
        &self,
        cycle_id: &str,
        status: Option<EntitlementStatus>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<EntitlementRow>, StoreError> {
        let mut sql = format!("SELECT {ENTITLEMENT_COLUMNS} FROM entitlements WHERE cycle_id = $1");
        let mut n = 1;
        if status.is_some() {
            n += 1;
            sql.push_str(&format!(" AND status = ${n}"));
        }
        if after.is_some() {
            n += 1;
            sql.push_str(&format!(" AND id > ${n}"));
        }
        sql.push_str(&format!(" ORDER BY id LIMIT {}", limit.max(1)));
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(cycle_id.to_owned());
        if let Some(s) = status {
            q = q.bind(s.code());
        }
        if let Some(a) = after {
            q = q.bind(a.to_owned());
        }
        q.fetch_all(&self.pool).await?.iter().map(entitlement_row).collect()
    }

    /// Counts and sums of a cycle's entitlements by status, and by
    /// provider, area and recipient's sex.
    pub async fn cycle_counts(&self, cycle_id: &str, detail: bool) -> Result<CycleCounts, StoreError> {
        let mut counts = CycleCounts::default();
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n, CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS total FROM entitlements \
             WHERE cycle_id = $1 GROUP BY status ORDER BY status",
        )
        .bind(cycle_id.to_owned())
        .fetch_all(&self.pool)
        .await?;
        for r in &rows {
            counts.by_status.push((
                entitlement_status(&r.try_get::<String, _>("status")?)?,
                r.try_get("n")?,
                r.try_get("total")?,
            ));
        }
        if detail {
            let rows = sqlx::query(
                "SELECT COALESCE(provider, '') AS provider, area_code, COALESCE(recipient_sex, '') AS sex, status, \
                 COUNT(*) AS n, CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS total FROM entitlements WHERE cycle_id = $1 \
                 GROUP BY COALESCE(provider, ''), area_code, COALESCE(recipient_sex, ''), status \
                 ORDER BY 1, 2, 3, 4",
            )
            .bind(cycle_id.to_owned())
            .fetch_all(&self.pool)
            .await?;
            for r in &rows {
                counts.detail.push((
                    r.try_get("provider")?,
                    r.try_get("area_code")?,
                    r.try_get("sex")?,
                    entitlement_status(&r.try_get::<String, _>("status")?)?,
                    r.try_get("n")?,
                    r.try_get("total")?,
                ));
            }
        }
        Ok(counts)
    }

    /// Approves a submitted cycle in one transaction: checks it is the
    /// version submitted and that the arrears it counted are still owed,
    /// takes its total from the funding lines in order (refusing if they
    /// lack it), approves its computed entitlements and settles the arrears
    /// they pay.
    pub async fn approve_cycle(
        &self,
        cycle_id: &str,
        submitted_version: i64,
        funding: &[String],
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Result<i64, ApprovalRefusal>, StoreError> {
        let mut tx = self.writer.begin().await?;
        let at_text = time_text(at);
        let lock = if self.backend == Backend::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT status, version, submitted_version, programme_code FROM cycles WHERE id = $1{lock}"
        )))
        .bind(cycle_id.to_owned())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(Err(ApprovalRefusal::Changed));
        };
        let status = cycle_status(&row, "status")?;
        let version: i64 = row.try_get("version")?;
        let submitted: Option<i64> = row.try_get("submitted_version")?;
        if status != CycleStatus::Submitted || version != submitted_version || submitted != Some(version) {
            return Ok(Err(ApprovalRefusal::Changed));
        }
        let programme: String = row.try_get("programme_code")?;
        let changed: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM entitlements e WHERE e.cycle_id = $1 AND e.status = 'computed' AND e.arrears > 0 \
             AND e.arrears <> (SELECT COALESCE(SUM(o.amount), 0) FROM entitlements o WHERE o.programme_code = $2 \
             AND o.beneficiary_id = e.beneficiary_id AND o.status IN ('deferred', 'carried_forward') \
             AND o.settled_by IS NULL AND o.cycle_id <> e.cycle_id)",
        )
        .bind(cycle_id.to_owned())
        .bind(programme.clone())
        .fetch_one(&mut *tx)
        .await?;
        if changed > 0 {
            return Ok(Err(ApprovalRefusal::ArrearsChanged(changed)));
        }
        let needed: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM entitlements WHERE cycle_id = $1 AND status = 'computed'",
        )
        .bind(cycle_id.to_owned())
        .fetch_one(&mut *tx)
        .await?;
        let mut lines = Vec::new();
        for code in funding {
            let row = sqlx::query(AssertSqlSafe(format!(
                "SELECT allocated, committed FROM funding_lines WHERE code = $1{lock}"
            )))
            .bind(code.clone())
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                return Ok(Err(ApprovalRefusal::UnknownFundingLine(code.clone())));
            };
            let (allocated, committed): (i64, i64) = (row.try_get("allocated")?, row.try_get("committed")?);
            lines.push((code.clone(), (allocated - committed).max(0)));
        }
        let available: i64 = lines.iter().map(|(_, a)| *a).sum();
        if available < needed {
            return Ok(Err(ApprovalRefusal::Shortfall { needed, available }));
        }
        let mut rest = needed;
        for (code, free) in lines {
            let take = rest.min(free);
            rest -= take;
            if take == 0 {
                continue;
            }
            sqlx::query("UPDATE funding_lines SET committed = committed + $1, changed_at = $2 WHERE code = $3")
                .bind(take)
                .bind(at_text.clone())
                .bind(code.clone())
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO cycle_funding (cycle_id, funding_line, amount) VALUES ($1, $2, $3)")
                .bind(cycle_id.to_owned())
                .bind(code)
                .bind(take)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "UPDATE entitlements SET settled_by = (SELECT n.id FROM entitlements n WHERE n.cycle_id = $1 \
             AND n.beneficiary_id = entitlements.beneficiary_id), changed_at = $2 \
             WHERE programme_code = $3 AND status IN ('deferred', 'carried_forward') AND settled_by IS NULL \
             AND cycle_id <> $1 AND beneficiary_id IN \
             (SELECT beneficiary_id FROM entitlements WHERE cycle_id = $1 AND status = 'computed' AND arrears > 0)",
        )
        .bind(cycle_id.to_owned())
        .bind(at_text.clone())
        .bind(programme)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE entitlements SET status = 'approved', changed_at = $1 WHERE cycle_id = $2 AND status = 'computed'",
        )
        .bind(at_text.clone())
        .bind(cycle_id.to_owned())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE cycles SET status = 'approved', version = version + 1, approved_by = $1, approved_at = $2, \
             changed_at = $2 WHERE id = $3",
        )
        .bind(actor.to_owned())
        .bind(at_text)
        .bind(cycle_id.to_owned())
        .execute(&mut *tx)
        .await?;
        insert_event(
            &mut tx,
            cycle_id,
            CycleStatus::Submitted,
            CycleStatus::Approved,
            actor,
            at,
            &serde_json::json!({"committed": needed}).to_string(),
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(needed))
    }

    /// Issues a round of payments in one transaction: each approved
    /// entitlement (and with `retry`, each failed or returned one) whose
    /// recipient has an active primary account at a known provider is put in
    /// a batch of that provider, in id order, cut at its chunk size; the
    /// others fail for want of an account. The account and name are frozen
    /// on the entitlement, so the batch's file can be written again, the same.
    pub async fn issue_round(
        &self,
        cycle_id: &str,
        retry: bool,
        providers: &BTreeMap<String, ProviderSpec>,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<IssueOutcome, StoreError> {
        let at_text = time_text(at);
        if self.sqlite_file() {
            let (cycle_id, providers, actor) = (cycle_id.to_owned(), providers.clone(), actor.to_owned());
            return self
                .with_sqlite_writer(move |conn| {
                    sqlite_issue_round(conn, &cycle_id, retry, &providers, &actor, &at_text)
                })
                .await;
        }
        let mut tx = self.writer.begin().await?;
        let round: i64 = sqlx::query_scalar(
            "SELECT COALESCE((SELECT MAX(round) FROM payment_batches WHERE cycle_id = $1), 0) + 1 FROM cycles \
             WHERE id = $1 FOR UPDATE",
        )
        .bind(cycle_id.to_owned())
        .fetch_one(&mut *tx)
        .await?;
        if retry {
            sqlx::query(SUPERSEDE)
                .bind(cycle_id.to_owned())
                .execute(&mut *tx)
                .await?;
        }
        let mut batcher = Batcher::new(cycle_id, round, providers);
        let mut no_account = 0u64;
        let mut after = String::new();
        loop {
            let rows = sqlx::query(AssertSqlSafe(format!(
                "SELECT e.id, e.amount, a.id AS account_id, a.kind, a.provider, a.number, a.holder_name, a.token \
                 FROM entitlements e LEFT JOIN financial_accounts a ON a.person_id = e.recipient_id \
                 AND a.is_primary = 1 AND a.status = 'active' \
                 WHERE e.cycle_id = $1 AND e.status IN ({}) AND e.id > $2 ORDER BY e.id LIMIT {ISSUE_PAGE}",
                issuable(retry)
            )))
            .bind(cycle_id.to_owned())
            .bind(after.clone())
            .fetch_all(&mut *tx)
            .await?;
            let Some(last) = rows.last() else { break };
            after = last.try_get("id")?;
            for r in &rows {
                let candidate = Candidate {
                    id: r.try_get("id")?,
                    amount: r.try_get("amount")?,
                    account_id: r.try_get("account_id")?,
                    provider: r.try_get("provider")?,
                    number: r.try_get("number")?,
                    holder_name: r.try_get("holder_name")?,
                    token: r.try_get("token")?,
                };
                match batcher.take(&candidate) {
                    Some(i) => {
                        sqlx::query(ISSUE_ONE)
                            .bind(i.provider)
                            .bind(i.account_id)
                            .bind(i.account)
                            .bind(i.name)
                            .bind(i.batch)
                            .bind(at_text.clone())
                            .bind(candidate.id)
                            .execute(&mut *tx)
                            .await?;
                    }
                    None => {
                        no_account += 1;
                        sqlx::query(NO_ACCOUNT)
                            .bind(at_text.clone())
                            .bind(candidate.id)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
            }
        }
        let outcome = batcher.finish(no_account);
        for b in &outcome.batches {
            sqlx::query(INSERT_BATCH)
                .bind(b.id.clone())
                .bind(b.cycle_id.clone())
                .bind(b.provider.clone())
                .bind(b.round)
                .bind(b.chunk)
                .bind(b.message_id.clone())
                .bind(b.file_name.clone())
                .bind(b.format.clone())
                .bind(b.payments)
                .bind(b.amount)
                .bind(at_text.clone())
                .bind(actor.to_owned())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(outcome)
    }

    pub async fn cycle_batches(&self, cycle_id: &str) -> Result<Vec<BatchRow>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {BATCH_COLUMNS} FROM payment_batches WHERE cycle_id = $1 ORDER BY round, provider, chunk"
        )))
        .bind(cycle_id.to_owned())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(batch_row).collect()
    }

    pub async fn batch_by_message_id(&self, message_id: &str) -> Result<Option<BatchRow>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {BATCH_COLUMNS} FROM payment_batches WHERE message_id = $1"
        )))
        .bind(message_id.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(batch_row).transpose()
    }

    /// A page of a batch's payments in id order, as its file carries them:
    /// the first `limit` whose id comes after `after` ("" for the first page).
    pub async fn batch_payments(
        &self,
        batch_id: &str,
        after: &str,
        limit: u32,
    ) -> Result<Vec<BatchPayment>, StoreError> {
        if self.sqlite_file() {
            let (batch_id, after) = (batch_id.to_owned(), after.to_owned());
            return self
                .with_reader(move |conn| {
                    // SQLite reads `$1` as a numbered parameter too.
                    let mut q = conn.prepare_cached(BATCH_PAYMENTS)?;
                    let rows = q.query_map(rusqlite::params![batch_id, after, limit], |r| {
                        Ok(BatchPayment {
                            entitlement_id: r.get(0)?,
                            attempt: r.get(1)?,
                            amount: r.get(2)?,
                            payee_name: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                            payee_account: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                            account_kind: r.get(5)?,
                        })
                    })?;
                    Ok(rows.collect::<Result<Vec<_>, _>>()?)
                })
                .await;
        }
        let rows = sqlx::query(BATCH_PAYMENTS)
            .bind(batch_id.to_owned())
            .bind(after.to_owned())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(BatchPayment {
                    entitlement_id: r.try_get("id")?,
                    attempt: r.try_get("attempt")?,
                    amount: r.try_get("amount")?,
                    payee_name: r.try_get::<Option<String>, _>("payee_name")?.unwrap_or_default(),
                    payee_account: r.try_get::<Option<String>, _>("payee_account")?.unwrap_or_default(),
                    account_kind: r.try_get("kind")?,
                })
            })
            .collect()
    }

    /// Records a batch file's SHA-256 the first time it is written; returns
    /// the one recorded (which a later writing must equal).
    pub async fn record_batch_hash(&self, batch_id: &str, sha256: &str) -> Result<String, StoreError> {
        sqlx::query("UPDATE payment_batches SET sha256 = $1 WHERE id = $2 AND sha256 IS NULL")
            .bind(sha256.to_owned())
            .bind(batch_id.to_owned())
            .execute(&self.writer)
            .await?;
        let recorded: Option<String> = sqlx::query_scalar("SELECT sha256 FROM payment_batches WHERE id = $1")
            .bind(batch_id.to_owned())
            .fetch_one(&self.pool)
            .await?;
        Ok(recorded.unwrap_or_default())
    }

    /// Applies a status file in one transaction: records the file (its
    /// SHA-256 once only), moves each payment it names from where the
    /// report expects it (issued to paid or failed, paid to returned) when
    /// it is of this cycle, this attempt and this amount, and lists every
    /// line it could not apply with the reason.
    pub async fn apply_reconciliation(
        &self,
        file: &ReconciliationFile,
        updates: Vec<StatusUpdate>,
        errors: Vec<ReconciliationError>,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Applied, StoreError> {
        let at_text = time_text(at);
        if self.sqlite_file() {
            let (file, actor) = (file.clone(), actor.to_owned());
            return self
                .with_sqlite_writer(move |conn| sqlite_reconcile(conn, &file, &updates, errors, &actor, &at_text))
                .await;
        }
        let mut tx = self.writer.begin().await?;
        let recorded = sqlx::query(INSERT_FILE)
            .bind(file.id.clone())
            .bind(file.cycle_id.clone())
            .bind(file.sha256.clone())
            .bind(file.format.clone())
            .bind(file.file_name.clone())
            .bind(file.lines)
            .bind(at_text.clone())
            .bind(actor.to_owned())
            .execute(&mut *tx)
            .await;
        match recorded {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => return Ok(Applied::AlreadyReconciled),
            Err(e) => return Err(e.into()),
        }
        let mut outcome = Reconciled::new(errors);
        for u in &updates {
            let done = sqlx::query(APPLY_STATUS)
                .bind(u.status.code())
                .bind(u.provider_status.clone())
                .bind(u.provider_reason.clone())
                .bind(file.id.clone())
                .bind(at_text.clone())
                .bind(u.entitlement_id())
                .bind(file.cycle_id.clone())
                .bind(u.attempt)
                .bind(from_status(u.status).code())
                .bind(u.amount)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 1 {
                outcome.apply(u.status);
                continue;
            }
            let found = sqlx::query("SELECT cycle_id, status, attempt, amount FROM entitlements WHERE id = $1")
                .bind(u.entitlement_id())
                .fetch_optional(&mut *tx)
                .await?;
            let found = match found {
                Some(r) => Some((
                    r.try_get::<String, _>("cycle_id")?,
                    entitlement_status(&r.try_get::<String, _>("status")?)?,
                    r.try_get::<i64, _>("attempt")?,
                    r.try_get::<i64, _>("amount")?,
                )),
                None => None,
            };
            outcome.refuse(u, &file.cycle_id, found);
        }
        if outcome.only_other_cycles(updates.len()) {
            return Ok(Applied::OtherCycle);
        }
        let rows: Vec<&ReconciliationError> = outcome.errors.iter().collect();
        insert_many(
            &mut tx,
            self.backend,
            "reconciliation_errors (file_id, line, cycle_id, end_to_end_id, code, detail)",
            6,
            &rows,
            |q, e| {
                q.bind(file.id.as_str())
                    .bind(e.line)
                    .bind(file.cycle_id.as_str())
                    .bind(e.end_to_end_id.as_deref())
                    .bind(e.code.as_str())
                    .bind(e.detail.as_str())
            },
        )
        .await?;
        sqlx::query("UPDATE reconciliation_files SET applied = $1, errors = $2 WHERE id = $3")
            .bind(outcome.applied)
            .bind(outcome.errors.len() as i64)
            .bind(file.id.clone())
            .execute(&mut *tx)
            .await?;
        // The first status file moves the cycle to reconciling, in the same transaction.
        let moved = sqlx::query(
            "UPDATE cycles SET status = 'reconciling', version = version + 1, changed_at = $1 WHERE id = $2 AND status = 'issued'",
        )
        .bind(at_text.clone())
        .bind(file.cycle_id.clone())
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() == 1 {
            insert_event(
                &mut tx,
                &file.cycle_id,
                CycleStatus::Issued,
                CycleStatus::Reconciling,
                actor,
                at,
                &reconciled_detail(file, outcome.applied, outcome.errors.len()),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(outcome.done())
    }

    pub async fn reconciliation_errors(
        &self,
        cycle_id: &str,
        limit: u32,
    ) -> Result<Vec<ReconciliationError>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT line, end_to_end_id, code, detail FROM reconciliation_errors WHERE cycle_id = $1 \
             ORDER BY file_id, line LIMIT {}",
            limit.max(1)
        )))
        .bind(cycle_id.to_owned())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ReconciliationError {
                    line: r.try_get("line")?,
                    end_to_end_id: r.try_get("end_to_end_id")?,
                    code: r.try_get("code")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
    }

    /// Settles what is left of a cycle and closes it in one transaction:
    /// failed and returned payments are written off or carried forward as
    /// arrears, pending ones expire if `expire_pending`. `Ok(false)` when
    /// payments are still pending and may not expire, or the cycle moved.
    #[allow(clippy::too_many_arguments)]
    pub async fn close_cycle(
        &self,
        cycle_id: &str,
        from: CycleStatus,
        version: i64,
        carry_forward: bool,
        expire_pending: bool,
        issued_before: Option<DateTime<Utc>>,
        actor: &str,
        at: DateTime<Utc>,
        detail: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await?;
        let at_text = time_text(at);
        if let Some(before) = issued_before {
            expire_issued_before(&mut tx, cycle_id, before, &at_text).await?;
        }
        let pending: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM entitlements WHERE cycle_id = $1 AND status IN ('issued', 'approved', 'computed')",
        )
        .bind(cycle_id.to_owned())
        .fetch_one(&mut *tx)
        .await?;
        if pending > 0 && !expire_pending {
            return Ok(false);
        }
        let unpaid = if carry_forward {
            "carried_forward"
        } else {
            "written_off"
        };
        for (to, statuses) in [
            (unpaid, "'failed', 'returned'"),
            ("expired", "'issued'"),
            ("cancelled", "'approved', 'computed'"),
        ] {
            sqlx::query(AssertSqlSafe(format!(
                "UPDATE entitlements SET status = $1, changed_at = $2 WHERE cycle_id = $3 AND status IN ({statuses})"
            )))
            .bind(to)
            .bind(at_text.clone())
            .bind(cycle_id.to_owned())
            .execute(&mut *tx)
            .await?;
        }
        let done = sqlx::query(
            "UPDATE cycles SET status = 'closed', version = version + 1, closed_at = $1, changed_at = $1 \
             WHERE id = $2 AND status = $3 AND version = $4",
        )
        .bind(at_text)
        .bind(cycle_id.to_owned())
        .bind(from.code())
        .bind(version)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        insert_event(&mut tx, cycle_id, from, CycleStatus::Closed, actor, at, detail).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Expires the cycle's payments issued in batches written at or before
    /// `issued_before` that no provider has reported on; their count and sum.
    pub async fn expire_unclaimed(
        &self,
        cycle_id: &str,
        issued_before: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<(u64, i64), StoreError> {
        let mut tx = self.writer.begin().await?;
        let expired = expire_issued_before(&mut tx, cycle_id, issued_before, &time_text(at)).await?;
        tx.commit().await?;
        Ok(expired)
    }

    /// When the cycle's unreported payments were issued, the earliest first:
    /// the day of each batch they are in, with their count.
    pub async fn unclaimed_by_issue(&self, cycle_id: &str) -> Result<Vec<(DateTime<Utc>, u64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT b.created_at, COUNT(*) AS n FROM entitlements e JOIN payment_batches b ON b.id = e.batch_id \
             WHERE e.cycle_id = $1 AND e.status = 'issued' GROUP BY b.created_at ORDER BY b.created_at",
        )
        .bind(cycle_id.to_owned())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let n: i64 = r.try_get("n")?;
                Ok((
                    parse_time(&r.try_get::<String, _>("created_at")?)?,
                    u64::try_from(n).unwrap_or(0),
                ))
            })
            .collect()
    }

    fn placeholder(&self, n: &mut usize) -> String {
        *n += 1;
        match self.backend {
            Backend::Sqlite => "?".to_owned(),
            Backend::Postgres => format!("${n}"),
        }
    }
}

/// The payments of a cycle issued at or before a time and still unreported.
const UNCLAIMED_BEFORE: &str = "cycle_id = $1 AND status = 'issued' AND batch_id IN \
     (SELECT id FROM payment_batches WHERE cycle_id = $1 AND created_at <= $2)";

async fn expire_issued_before(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    cycle_id: &str,
    before: DateTime<Utc>,
    at_text: &str,
) -> Result<(u64, i64), StoreError> {
    let before = time_text(before);
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS amount FROM entitlements \
         WHERE {UNCLAIMED_BEFORE}"
    )))
    .bind(cycle_id.to_owned())
    .bind(before.clone())
    .fetch_one(&mut **tx)
    .await?;
    let (n, amount): (i64, i64) = (row.try_get("n")?, row.try_get("amount")?);
    if n > 0 {
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE entitlements SET status = 'expired', changed_at = $3 WHERE {UNCLAIMED_BEFORE}"
        )))
        .bind(cycle_id.to_owned())
        .bind(before)
        .bind(at_text.to_owned())
        .execute(&mut **tx)
        .await?;
    }
    Ok((u64::try_from(n).unwrap_or(0), amount))
}

fn reconciled_detail(file: &ReconciliationFile, applied: i64, errors: usize) -> String {
    serde_json::json!({"file": file.id, "sha256": file.sha256, "lines": file.lines, "applied": applied, "errors": errors})
        .to_string()
}

/// Where a reported status moves a payment from.
fn from_status(to: EntitlementStatus) -> EntitlementStatus {
    match to {
        EntitlementStatus::Returned => EntitlementStatus::Paid,
        _ => EntitlementStatus::Issued,
    }
}

const INSERT_FILE: &str = "INSERT INTO reconciliation_files (id, cycle_id, sha256, format, file_name, lines, applied, \
     errors, imported_at, imported_by) VALUES ($1, $2, $3, $4, $5, $6, 0, 0, $7, $8)";

/// One status line applied if the payment is of this cycle and attempt, where
/// the status expects it, for the amount the file gives (if it gives one).
const APPLY_STATUS: &str = "UPDATE entitlements SET status = $1, provider_status = $2, provider_reason = $3, \
     reconciled_by = $4, reason = CASE WHEN $1 = 'failed' THEN 'rejected_by_provider' ELSE reason END, changed_at = $5 \
     WHERE id = $6 AND cycle_id = $7 AND attempt = $8 AND status = $9 AND ($10 IS NULL OR amount = $10)";

/// The lines of a status file applied and refused so far.
struct Reconciled {
    applied: i64,
    paid: i64,
    failed: i64,
    returned: i64,
    errors: Vec<ReconciliationError>,
    other_cycle: usize,
}

impl Reconciled {
    fn new(errors: Vec<ReconciliationError>) -> Reconciled {
        Reconciled {
            applied: 0,
            paid: 0,
            failed: 0,
            returned: 0,
            errors,
            other_cycle: 0,
        }
    }

    /// Counts a line that moved its payment to `status`.
    fn apply(&mut self, status: EntitlementStatus) {
        self.applied += 1;
        match status {
            EntitlementStatus::Paid => self.paid += 1,
            EntitlementStatus::Failed => self.failed += 1,
            EntitlementStatus::Returned => self.returned += 1,
            _ => {}
        }
    }

    fn done(self) -> Applied {
        Applied::Done {
            applied: self.applied,
            paid: self.paid,
            failed: self.failed,
            returned: self.returned,
            errors: self.errors,
        }
    }

    /// Says why a line did not apply, from the payment as it stands.
    fn refuse(&mut self, u: &StatusUpdate, cycle_id: &str, found: Option<(String, EntitlementStatus, i64, i64)>) {
        let (code, detail) = match found {
            None => ("unknown-id", "no payment of this registry has this id".to_owned()),
            Some((c, _, _, _)) if c != cycle_id => {
                self.other_cycle += 1;
                ("wrong-cycle", format!("the payment belongs to cycle {c}"))
            }
            Some((_, _, attempt, _)) if attempt != u.attempt => (
                "stale-attempt",
                format!(
                    "reports attempt {} of a payment issued again since (attempt {attempt}); look into it with the provider",
                    u.attempt
                ),
            ),
            Some((_, _, _, amount)) if u.amount.is_some_and(|a| a != amount) => (
                "amount-mismatch",
                format!(
                    "the file says {}, the payment was {amount} (minor units)",
                    u.amount.unwrap_or_default()
                ),
            ),
            Some((_, status, _, _)) if status == u.status => ("duplicate", format!("the payment is {status} already")),
            Some((_, EntitlementStatus::Expired, _, _)) => (
                "expired",
                format!(
                    "the payment expired unclaimed after the programme's validity period; the file says {}: look into it with the provider",
                    u.status
                ),
            ),
            Some((_, status, _, _)) => (
                "unexpected-status",
                format!("the payment is {status}; the file says {}", u.status),
            ),
        };
        self.errors.push(ReconciliationError {
            line: u.line,
            end_to_end_id: Some(himaya_domain::payment::end_to_end_id(
                u.entitlement,
                u32::try_from(u.attempt).unwrap_or(1),
            )),
            code: code.to_owned(),
            detail,
        });
    }

    fn only_other_cycles(&self, updates: usize) -> bool {
        updates > 0 && self.applied == 0 && self.other_cycle == updates
    }
}

/// [`Store::apply_reconciliation`] on SQLite's own API.
fn sqlite_reconcile(
    conn: &mut rusqlite::Connection,
    file: &ReconciliationFile,
    updates: &[StatusUpdate],
    errors: Vec<ReconciliationError>,
    actor: &str,
    at: &str,
) -> Result<Applied, StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let recorded = tx.execute(
        "INSERT INTO reconciliation_files (id, cycle_id, sha256, format, file_name, lines, applied, errors, imported_at, \
         imported_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, 0, ?7, ?8)",
        rusqlite::params![file.id, file.cycle_id, file.sha256, file.format, file.file_name, file.lines, at, actor],
    );
    match recorded {
        Ok(_) => {}
        Err(e) if crate::bulk::sqlite_unique_violation(&e) => return Ok(Applied::AlreadyReconciled),
        Err(e) => return Err(e.into()),
    }
    let mut outcome = Reconciled::new(errors);
    {
        let mut apply = tx.prepare(
            "UPDATE entitlements SET status = ?1, provider_status = ?2, provider_reason = ?3, reconciled_by = ?4, \
             reason = CASE WHEN ?1 = 'failed' THEN 'rejected_by_provider' ELSE reason END, changed_at = ?5 \
             WHERE id = ?6 AND cycle_id = ?7 AND attempt = ?8 AND status = ?9 AND (?10 IS NULL OR amount = ?10)",
        )?;
        let mut find = tx.prepare("SELECT cycle_id, status, attempt, amount FROM entitlements WHERE id = ?1")?;
        let mut id_text = [0u8; uuid::fmt::Simple::LENGTH];
        for u in updates {
            let id: &str = u.entitlement.simple().encode_lower(&mut id_text);
            let done = apply.execute(rusqlite::params![
                u.status.code(),
                u.provider_status,
                u.provider_reason,
                file.id,
                at,
                id,
                file.cycle_id,
                u.attempt,
                from_status(u.status).code(),
                u.amount,
            ])?;
            if done == 1 {
                outcome.apply(u.status);
                continue;
            }
            let found = {
                let mut rows = find.query([id])?;
                match rows.next()? {
                    Some(r) => {
                        let status: String = r.get(1)?;
                        Some((r.get(0)?, entitlement_status(&status)?, r.get(2)?, r.get(3)?))
                    }
                    None => None,
                }
            };
            outcome.refuse(u, &file.cycle_id, found);
        }
        if outcome.only_other_cycles(updates.len()) {
            return Ok(Applied::OtherCycle);
        }
        let mut error = tx.prepare(
            "INSERT INTO reconciliation_errors (file_id, line, cycle_id, end_to_end_id, code, detail) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for e in &outcome.errors {
            error.execute(rusqlite::params![
                file.id,
                e.line,
                file.cycle_id,
                e.end_to_end_id,
                e.code,
                e.detail
            ])?;
        }
    }
    tx.execute(
        "UPDATE reconciliation_files SET applied = ?1, errors = ?2 WHERE id = ?3",
        rusqlite::params![outcome.applied, outcome.errors.len() as i64, file.id],
    )?;
    // The first status file moves the cycle to reconciling, in the same transaction.
    let moved = tx.execute(
        "UPDATE cycles SET status = 'reconciling', version = version + 1, changed_at = ?1 WHERE id = ?2 AND status = 'issued'",
        rusqlite::params![at, file.cycle_id],
    )?;
    if moved == 1 {
        tx.execute(
            "INSERT INTO cycle_events (id, cycle_id, from_status, to_status, actor, at, detail) \
             VALUES (?1, ?2, 'issued', 'reconciling', ?3, ?4, ?5)",
            rusqlite::params![
                uuid::Uuid::now_v7().to_string(),
                file.cycle_id,
                actor,
                at,
                reconciled_detail(file, outcome.applied, outcome.errors.len())
            ],
        )?;
    }
    tx.commit()?;
    Ok(outcome.done())
}

/// Entitlements issued per page of the issuing transaction.
const ISSUE_PAGE: u32 = 10_000;

const ISSUE_ONE: &str = "UPDATE entitlements SET status = 'issued', reason = NULL, provider = $1, account_id = $2, \
     payee_account = $3, payee_name = $4, batch_id = $5, attempt = attempt + 1, provider_status = NULL, \
     provider_reason = NULL, changed_at = $6 WHERE id = $7";
const NO_ACCOUNT: &str =
    "UPDATE entitlements SET status = 'failed', reason = 'no_account', changed_at = $1 WHERE id = $2";
const INSERT_BATCH: &str = "INSERT INTO payment_batches (id, cycle_id, provider, round, chunk, message_id, file_name, \
     format, payments, amount, sha256, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, $11, $12)";

/// Before a retry issues failed or returned payments again, each one's
/// earlier batch keeps it as it carried it (`$1` the cycle).
const SUPERSEDE: &str = "INSERT INTO superseded_payments (batch_id, entitlement_id, attempt, amount, payee_name, \
     payee_account, account_id) SELECT batch_id, id, attempt, amount, payee_name, payee_account, account_id \
     FROM entitlements WHERE cycle_id = $1 AND status IN ('failed', 'returned') AND batch_id IS NOT NULL \
     ON CONFLICT DO NOTHING";

/// A page of a batch's payments in id order: those it carries now, and
/// those it carried before they were issued again (`$1` the batch, `$2`
/// the id after which, `$3` how many).
const BATCH_PAYMENTS: &str = "SELECT e.id, e.attempt, e.amount, e.payee_name, e.payee_account, COALESCE(a.kind, '') AS kind \
     FROM entitlements e LEFT JOIN financial_accounts a ON a.id = e.account_id \
     WHERE e.batch_id = $1 AND e.id > $2 \
     AND NOT EXISTS (SELECT 1 FROM superseded_payments s WHERE s.batch_id = $1 AND s.entitlement_id = e.id) \
     UNION ALL \
     SELECT s.entitlement_id, s.attempt, s.amount, s.payee_name, s.payee_account, COALESCE(a.kind, '') AS kind \
     FROM superseded_payments s LEFT JOIN financial_accounts a ON a.id = s.account_id \
     WHERE s.batch_id = $1 AND s.entitlement_id > $2 \
     ORDER BY 1 LIMIT $3";

fn issuable(retry: bool) -> &'static str {
    if retry {
        "'approved', 'failed', 'returned'"
    } else {
        "'approved'"
    }
}

/// An entitlement to issue, with its recipient's primary account if any.
struct Candidate {
    id: String,
    amount: i64,
    account_id: Option<String>,
    provider: Option<String>,
    number: Option<String>,
    holder_name: Option<String>,
    token: Option<String>,
}

/// Cuts a round's payments into batches per provider, in the order they come.
struct Batcher<'a> {
    cycle_id: String,
    /// The random end of the cycle's id: cycles opened in the same millisecond differ there.
    short: String,
    round: i64,
    providers: &'a BTreeMap<String, ProviderSpec>,
    open: BTreeMap<String, BatchRow>,
    outcome: IssueOutcome,
}

impl<'a> Batcher<'a> {
    fn new(cycle_id: &str, round: i64, providers: &'a BTreeMap<String, ProviderSpec>) -> Batcher<'a> {
        let simple = cycle_id.replace('-', "");
        Batcher {
            cycle_id: cycle_id.to_owned(),
            short: simple[simple.len().saturating_sub(12)..].to_owned(),
            round,
            providers,
            open: BTreeMap::new(),
            outcome: IssueOutcome {
                round,
                ..IssueOutcome::default()
            },
        }
    }

    /// Where the payment goes, or `None` when it has no usable account.
    fn take(&mut self, c: &Candidate) -> Option<Issued> {
        let (provider, spec) = c
            .provider
            .as_ref()
            .and_then(|p| self.providers.get(p).map(|s| (p.clone(), s)))
            .filter(|_| c.account_id.is_some())?;
        let entry = self
            .open
            .entry(provider.clone())
            .or_insert_with(|| new_batch(&self.cycle_id, &self.short, &provider, self.round, 1, spec));
        if entry.payments >= i64::from(spec.chunk_size) {
            let next = entry.chunk + 1;
            let full = std::mem::replace(
                entry,
                new_batch(&self.cycle_id, &self.short, &provider, self.round, next, spec),
            );
            self.outcome.batches.push(full);
        }
        entry.payments += 1;
        entry.amount = entry.amount.saturating_add(c.amount);
        let account = if spec.financial_address {
            himaya_domain::account::financial_address(c.token.as_deref().unwrap_or_default(), &provider)
        } else {
            c.number.clone().unwrap_or_default()
        };
        self.outcome.issued += 1;
        Some(Issued {
            provider,
            account_id: c.account_id.clone().unwrap_or_default(),
            account,
            name: c.holder_name.clone().unwrap_or_default(),
            batch: entry.id.clone(),
        })
    }

    fn finish(mut self, no_account: u64) -> IssueOutcome {
        self.outcome.no_account = no_account;
        self.outcome
            .batches
            .extend(std::mem::take(&mut self.open).into_values());
        self.outcome
    }
}

/// [`Store::issue_round`] on SQLite's own API: one transaction, a page of
/// entitlements at a time, each updated by a prepared statement.
fn sqlite_issue_round(
    conn: &mut rusqlite::Connection,
    cycle_id: &str,
    retry: bool,
    providers: &BTreeMap<String, ProviderSpec>,
    actor: &str,
    at: &str,
) -> Result<IssueOutcome, StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let round: i64 = tx.query_row(
        "SELECT COALESCE(MAX(round), 0) + 1 FROM payment_batches WHERE cycle_id = ?1",
        [cycle_id],
        |r| r.get(0),
    )?;
    if retry {
        tx.execute(SUPERSEDE, [cycle_id])?;
    }
    let mut batcher = Batcher::new(cycle_id, round, providers);
    let mut no_account = 0u64;
    {
        let mut page = tx.prepare(&format!(
            "SELECT e.id, e.amount, a.id, a.provider, a.number, a.holder_name, a.token, e.rowid \
             FROM entitlements e LEFT JOIN financial_accounts a ON a.person_id = e.recipient_id \
             AND a.is_primary = 1 AND a.status = 'active' \
             WHERE e.cycle_id = ?1 AND e.status IN ({}) AND e.id > ?2 ORDER BY e.id LIMIT {ISSUE_PAGE}",
            issuable(retry)
        ))?;
        let mut issue = tx.prepare(
            "UPDATE entitlements SET status = 'issued', reason = NULL, provider = ?1, account_id = ?2, \
             payee_account = ?3, payee_name = ?4, batch_id = ?5, attempt = attempt + 1, provider_status = NULL, \
             provider_reason = NULL, changed_at = ?6 WHERE rowid = ?7",
        )?;
        let mut fail = tx.prepare(
            "UPDATE entitlements SET status = 'failed', reason = 'no_account', changed_at = ?1 WHERE rowid = ?2",
        )?;
        let mut after = String::new();
        loop {
            // Updated by rowid: the row is found without going through its id's index.
            let candidates: Vec<(Candidate, i64)> = page
                .query_map(rusqlite::params![cycle_id, after], |r| {
                    Ok((
                        Candidate {
                            id: r.get(0)?,
                            amount: r.get(1)?,
                            account_id: r.get(2)?,
                            provider: r.get(3)?,
                            number: r.get(4)?,
                            holder_name: r.get(5)?,
                            token: r.get(6)?,
                        },
                        r.get(7)?,
                    ))
                })?
                .collect::<Result<_, _>>()?;
            let Some((last, _)) = candidates.last() else { break };
            after = last.id.clone();
            for (c, rowid) in &candidates {
                match batcher.take(c) {
                    Some(i) => {
                        issue.execute(rusqlite::params![
                            i.provider,
                            i.account_id,
                            i.account,
                            i.name,
                            i.batch,
                            at,
                            rowid
                        ])?;
                    }
                    None => {
                        no_account += 1;
                        fail.execute(rusqlite::params![at, rowid])?;
                    }
                }
            }
        }
    }
    let outcome = batcher.finish(no_account);
    {
        let mut insert = tx.prepare(
            "INSERT INTO payment_batches (id, cycle_id, provider, round, chunk, message_id, file_name, format, payments, \
             amount, sha256, created_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, NULL, ?11, ?12)",
        )?;
        for b in &outcome.batches {
            insert.execute(rusqlite::params![
                b.id,
                b.cycle_id,
                b.provider,
                b.round,
                b.chunk,
                b.message_id,
                b.file_name,
                b.format,
                b.payments,
                b.amount,
                at,
                actor
            ])?;
        }
    }
    tx.commit()?;
    Ok(outcome)
}

/// What issuing freezes on an entitlement.
struct Issued {
    provider: String,
    account_id: String,
    account: String,
    name: String,
    batch: String,
}

fn new_batch(cycle_id: &str, short: &str, provider: &str, round: i64, chunk: i64, spec: &ProviderSpec) -> BatchRow {
    // Unique per initiating party and stable: the cycle, the round, the
    // provider and the chunk, within pain.001's 35 characters (provider
    // codes are at most 12).
    let message_id = format!("{short}-R{round}-{provider}-{chunk}");
    let extension = if spec.format == "csv" { "csv" } else { "xml" };
    BatchRow {
        id: uuid::Uuid::now_v7().to_string(),
        cycle_id: cycle_id.to_owned(),
        provider: provider.to_owned(),
        round,
        chunk,
        file_name: format!("{message_id}.{extension}"),
        message_id,
        format: spec.format.clone(),
        payments: 0,
        amount: 0,
        sha256: None,
    }
}

async fn insert_event(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    cycle_id: &str,
    from: CycleStatus,
    to: CycleStatus,
    actor: &str,
    at: DateTime<Utc>,
    detail: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO cycle_events (id, cycle_id, from_status, to_status, actor, at, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(cycle_id.to_owned())
    .bind(from.code())
    .bind(to.code())
    .bind(actor.to_owned())
    .bind(time_text(at))
    .bind(detail.to_owned())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One of a household's entitlements with its cycle's period and currency,
/// as its profile lists them.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct HouseholdEntitlementRow {
    pub id: String,
    pub cycle_id: String,
    pub programme_code: String,
    pub period: String,
    pub currency: String,
    pub cycle_status: CycleStatus,
    pub beneficiary_id: String,
    pub recipient_id: Option<String>,
    pub area_code: String,
    pub status: EntitlementStatus,
    pub reason: Option<String>,
    /// In minor units: what is owed, arrears included.
    pub amount: i64,
    pub arrears: i64,
    pub provider: Option<String>,
    pub provider_status: Option<String>,
    pub provider_reason: Option<String>,
    /// When it was last changed: for a paid one, when the provider's word
    /// that it was paid was applied.
    pub changed_at: DateTime<Utc>,
}

impl Store {
    /// A household's entitlements in every cycle, the latest cycle first:
    /// its own through (cycle_id, beneficiary_id), its members' through the
    /// index that holds only theirs; one look-up per cycle each, cycles
    /// first (a cross join keeps SQLite to that order).
    pub async fn household_entitlements(&self, household_id: &str) -> Result<Vec<HouseholdEntitlementRow>, StoreError> {
        // The same columns in both halves; a macro keeps the query a literal.
        macro_rules! select_from {
            () => {
                "SELECT e.id, e.cycle_id, e.programme_code, c.period, c.currency, c.status AS cycle_status, \
                 e.beneficiary_id, e.recipient_id, e.area_code, e.status, e.reason, e.amount, e.arrears, e.provider, \
                 e.provider_status, e.provider_reason, e.changed_at, c.opened_at FROM cycles c CROSS JOIN entitlements e "
            };
        }
        let rows = sqlx::query(concat!(
            "SELECT * FROM (",
            select_from!(),
            "WHERE e.cycle_id = c.id AND e.beneficiary_id = $1 AND e.household_id = $1 UNION ALL ",
            select_from!(),
            "WHERE e.cycle_id = c.id AND e.household_id = $1 AND e.household_id <> e.beneficiary_id) AS found \
             ORDER BY opened_at DESC, cycle_id DESC, id"
        ))
        .bind(household_id.to_owned())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(HouseholdEntitlementRow {
                    id: row.try_get("id")?,
                    cycle_id: row.try_get("cycle_id")?,
                    programme_code: row.try_get("programme_code")?,
                    period: row.try_get("period")?,
                    currency: row.try_get("currency")?,
                    cycle_status: cycle_status(row, "cycle_status")?,
                    beneficiary_id: row.try_get("beneficiary_id")?,
                    recipient_id: row.try_get("recipient_id")?,
                    area_code: row.try_get("area_code")?,
                    status: entitlement_status(&row.try_get::<String, _>("status")?)?,
                    reason: row.try_get("reason")?,
                    amount: row.try_get("amount")?,
                    arrears: row.try_get("arrears")?,
                    provider: row.try_get("provider")?,
                    provider_status: row.try_get("provider_status")?,
                    provider_reason: row.try_get("provider_reason")?,
                    changed_at: parse_time(&row.try_get::<String, _>("changed_at")?)?,
                })
            })
            .collect()
    }
}

/// The table and columns a new entitlement is written to, values in
/// [`entitlement_values`]'s order.
const ENTITLEMENT_INSERT: &str = "entitlements (id, cycle_id, programme_code, beneficiary_id, household_id, \
     recipient_id, area_code, recipient_sex, status, reason, formula_amount, arrears, amount, facts, attempt, changed_at)";
const ENTITLEMENT_INSERT_COLUMNS: usize = 16;

/// Entitlements written by one SQLite statement: 16 values each, well
/// under SQLite's limit of 32,766 parameters.
const ROWS_PER_INSERT: usize = 64;

/// An insert of `rows` new entitlements on SQLite.
fn sqlite_entitlements_insert(rows: usize) -> String {
    format!(
        "INSERT INTO {ENTITLEMENT_INSERT} VALUES {}",
        values_clause(Backend::Sqlite, rows, ENTITLEMENT_INSERT_COLUMNS)
    )
}

fn entitlement_values<'a>(
    rows: &'a [EntitlementRow],
    at: &'a str,
) -> impl Iterator<Item = rusqlite::types::ToSqlOutput<'a>> {
    use rusqlite::types::{ToSqlOutput, ValueRef};
    let text = |s: &'a str| ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes()));
    let maybe = move |s: Option<&'a str>| s.map_or(ToSqlOutput::Borrowed(ValueRef::Null), text);
    let int = |n: i64| ToSqlOutput::Borrowed(ValueRef::Integer(n));
    rows.iter().flat_map(move |r| {
        [
            text(&r.id),
            text(&r.cycle_id),
            text(&r.programme_code),
            text(&r.beneficiary_id),
            text(&r.household_id),
            maybe(r.recipient_id.as_deref()),
            text(&r.area_code),
            maybe(r.recipient_sex.as_deref()),
            text(r.status.code()),
            maybe(r.reason.as_deref()),
            int(r.formula_amount),
            int(r.arrears),
            int(r.amount),
            text(&r.facts),
            // A new entitlement has had no payment attempt.
            int(0),
            text(at),
        ]
    })
}
