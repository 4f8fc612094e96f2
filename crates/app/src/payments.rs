//! G2P payments: financial accounts, funding lines, and payment cycles —
//! opened by a payment officer, computed from the programme's rules over
//! the registry (each entitlement with the values its rules read), submitted,
//! approved by someone else within the funding lines' balances, issued into
//! payment files per provider, reconciled against the providers' status
//! files and closed. Every step checks that the cycle's totals balance.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use himaya_domain::access::Permission;
use himaya_domain::account::{AccountDraft, ProviderRef};
use himaya_domain::household::HouseholdId;
use himaya_domain::payment::{
    CyclePlan, CycleStatus, CycleTotals, EntitlementReason, EntitlementStatus, Tally, check_cycle_transition,
    parse_end_to_end_id,
};
use himaya_domain::pmt::PmtModel;
use himaya_domain::programme::{FactsRead, Programme, TargetUnit};
use himaya_store::{
    AccountRow, Applied, ApprovalRefusal, AttributesRead, BatchRow, CycleEventRow, CycleRow, EntitlementRow,
    FundingLineRow, HouseholdEntitlementRow, IssueOutcome, ProviderSpec, ReconciliationError, ReconciliationFile,
    StatusUpdate, TargetingCursor, TargetingUnit,
};
use serde::Serialize;
use serde_json::json;

use crate::audit::Record;
use crate::programmes::{AreaLines, facts_of};
use crate::{Actor, App, AppError};

/// Households read per page when computing a cycle.
const PAGE: u32 = 5_000;
/// Pages read ahead of the rules, and computed ahead of the writer.
const QUEUED_PAGES: usize = 2;
/// Payments read per page when writing a batch's file: small enough that
/// the command line's tests of a few hundred payments write several.
const FILE_PAGE: u32 = 200;

/// A cycle as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct CycleView {
    #[serde(flatten)]
    pub cycle: CycleRow,
    pub plan_detail: CyclePlan,
    pub totals: CycleTotals,
}

/// A cycle to open.
#[derive(Clone, Debug)]
pub struct OpenCycle {
    pub programme: String,
    pub period: String,
    pub plan: CyclePlan,
}

/// What computing a cycle did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ComputeReport {
    pub cycle_id: String,
    pub programme_version: i64,
    pub households: u64,
    pub entitlements: u64,
    pub payable: u64,
    pub amount: i64,
    pub arrears: i64,
    pub withheld: BTreeMap<String, u64>,
    pub deferred: u64,
    /// Rule errors, by message, with up to 20 examples of beneficiaries.
    pub errors: BTreeMap<String, u64>,
    pub error_examples: Vec<(String, String)>,
    pub seconds: f64,
    pub reading_seconds: f64,
    pub rules_seconds: f64,
    pub writing_seconds: f64,
}

/// What expiring a cycle's unclaimed payments did.
#[derive(Clone, Debug, Serialize)]
pub struct ExpiryReport {
    /// The programme's payment validity period.
    pub validity_days: u32,
    /// Payments issued at or before this time were past it.
    pub issued_before: chrono::DateTime<Utc>,
    pub expired: Tally,
    /// Payments still unreported and within their validity period.
    pub still_pending: u64,
    /// When the first of those expires.
    pub next_expiry: Option<chrono::DateTime<Utc>>,
    pub totals: CycleTotals,
}

/// What reconciling a status file did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ReconcileReport {
    pub file_id: String,
    pub lines: u64,
    pub applied: i64,
    /// Of the lines applied: payments now paid, failed and returned.
    pub paid: i64,
    pub failed: i64,
    pub returned: i64,
    pub pending: u64,
    pub errors: Vec<ReconciliationError>,
    pub totals: CycleTotals,
}

/// One row of a cycle's report: counts and sums of one status for one
/// provider, area and recipient's sex.
#[derive(Clone, Debug, Serialize)]
pub struct ReportRow {
    pub provider: String,
    pub area: String,
    pub sex: String,
    pub status: EntitlementStatus,
    pub count: i64,
    pub amount: i64,
}

/// A cycle's totals, and the same totals by payment provider (`""`: none
/// yet), by district and by the recipient's sex (`""`: no recipient) — each
/// group balancing as the whole does.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CycleBreakdown {
    pub totals: CycleTotals,
    pub by_provider: BTreeMap<String, CycleTotals>,
    pub by_district: BTreeMap<String, CycleTotals>,
    pub by_sex: BTreeMap<String, CycleTotals>,
}

/// A financial account to record for a person.
#[derive(Clone, Debug)]
pub struct NewAccount {
    pub draft: AccountDraft,
    pub holder_name: Option<String>,
}

/// A change to an account.
#[derive(Clone, Debug, Default)]
pub struct AccountChange {
    pub primary: Option<bool>,
    pub verified: Option<bool>,
    pub close: bool,
}

fn cycle_record(id: &str) -> Record {
    Record::new("cycle", id)
}

/// `2026-07`, `2026-Q3`, `2026`, each optionally with a label (`2026-Q3-flood`).
fn check_period(period: &str) -> Result<(), AppError> {
    let ok = (4..=40).contains(&period.len())
        && period.as_bytes()[..4].iter().all(u8::is_ascii_digit)
        && period.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(AppError::invalid(
            "period",
            "invalid",
            "a period starts with its year (2026-07, 2026-Q3) and has only letters, digits and dashes, at most 40",
        ))
    }
}

fn parse_plan(cycle: &CycleRow) -> Result<CyclePlan, AppError> {
    serde_json::from_str(&cycle.plan).map_err(|e| AppError::Internal(format!("stored cycle plan: {e}")))
}

fn totals_of(counts: &himaya_store::CycleCounts) -> CycleTotals {
    let mut totals = CycleTotals::default();
    for (status, n, amount) in &counts.by_status {
        totals.count_many(*status, (*n).max(0) as u64, *amount);
    }
    totals
}

impl App {
    fn providers_as_refs(&self) -> Vec<ProviderRef<'_>> {
        self.deployment()
            .payment_providers
            .iter()
            .map(|p| ProviderRef {
                code: &p.code,
                kind: p.kind,
            })
            .collect()
    }

    // ---- Financial accounts -------------------------------------------------

    /// Records a financial account for a person; the first one a person has
    /// is primary, and a primary one makes the others secondary.
    pub async fn add_account(&self, actor: &Actor, person_id: &str, new: NewAccount) -> Result<AccountRow, AppError> {
        actor.require(Permission::AccountsWrite)?;
        let person = self.person_in_scope(actor, person_id).await?;
        let record = new.draft.check(self.deployment().country, &self.providers_as_refs())?;
        let holder = match new.holder_name {
            Some(name) => {
                let name = name.trim().to_owned();
                if name.is_empty() || name.chars().count() > 140 || name.chars().any(char::is_control) {
                    return Err(AppError::invalid(
                        "holder_name",
                        "invalid",
                        "the account holder's name is 1 to 140 characters, without control characters",
                    ));
                }
                name
            }
            None => person_name(&person.record),
        };
        let existing = self.store().person_accounts(person_id).await?;
        let primary = record.primary || !existing.iter().any(|a| a.primary && a.status == "active");
        let now = Utc::now();
        let row = AccountRow {
            id: uuid::Uuid::now_v7().to_string(),
            person_id: person.id.to_string(),
            household_id: person.household_id.to_string(),
            kind: record.kind.code().to_owned(),
            provider: record.provider,
            number: record.number,
            holder_name: holder,
            token: new_token()?,
            primary,
            verified: record.verified,
            verified_at: record.verified.then_some(now),
            status: "active".into(),
            created_at: now,
            created_by: actor.name.clone(),
        };
        self.store().add_account(&row).await?;
        self.audit(
            actor,
            "account.add",
            Some(Record::new("person", person_id)),
            json!({"account": row.id, "kind": row.kind, "provider": row.provider, "primary": row.primary}),
        )
        .await?;
        Ok(row)
    }

    /// Records many accounts at once (an import): every row is checked
    /// before any is written, and a person's account is primary unless the
    /// person already has one. Returns how many were recorded.
    pub async fn import_accounts(
        &self,
        actor: &Actor,
        rows: Vec<(usize, String, NewAccount)>,
    ) -> Result<u64, AppError> {
        actor.require(Permission::AccountsWrite)?;
        let ids: Vec<String> = rows.iter().map(|(_, p, _)| p.clone()).collect();
        let people = self.store().persons_brief(&ids).await?;
        let has_primary = self.store().with_primary_account(&ids).await?;
        let providers = self.providers_as_refs();
        let country = self.deployment().country;
        let mut problem = himaya_domain::Problem::default();
        let mut accounts = Vec::with_capacity(rows.len());
        let mut given = std::collections::HashSet::new();
        let now = Utc::now();
        for (line, person_id, new) in rows {
            let at = |f: &str| format!("line {line}.{f}");
            let Some((household, area, status)) = people.get(&person_id) else {
                problem.push(
                    at("person_id"),
                    "not-found",
                    format!("no person has the id {person_id:?}"),
                );
                continue;
            };
            if status != "active" {
                problem.push(at("person_id"), "person-inactive", format!("{person_id} is {status}"));
                continue;
            }
            if self.require_area(actor, area).is_err() {
                problem.push(at("person_id"), "outside-area", "the person is outside your areas");
                continue;
            }
            let record = match new.draft.check(country, &providers) {
                Ok(r) => r,
                Err(p) => {
                    for e in p.errors {
                        problem.push(at(&e.field), e.code, e.message);
                    }
                    continue;
                }
            };
            let holder = match new.holder_name.map(|n| n.trim().to_owned()) {
                Some(n) if !n.is_empty() && n.chars().count() <= 140 && !n.chars().any(char::is_control) => n,
                Some(_) => {
                    problem.push(
                        at("holder_name"),
                        "invalid",
                        "1 to 140 characters, without control characters",
                    );
                    continue;
                }
                None => match self.store().person(parse_person(&person_id)?).await? {
                    Some(p) => person_name(&p.record),
                    None => String::new(),
                },
            };
            let primary = !has_primary.contains(&person_id) && given.insert(person_id.clone());
            accounts.push(AccountRow {
                id: uuid::Uuid::now_v7().to_string(),
                person_id,
                household_id: household.clone(),
                kind: record.kind.code().to_owned(),
                provider: record.provider,
                number: record.number,
                holder_name: holder,
                token: new_token()?,
                primary,
                verified: record.verified,
                verified_at: record.verified.then_some(now),
                status: "active".into(),
                created_at: now,
                created_by: actor.name.clone(),
            });
        }
        if !problem.is_empty() {
            return Err(problem.into());
        }
        for chunk in accounts.chunks(5_000) {
            self.store().load_accounts(chunk).await?;
        }
        self.audit(actor, "accounts.import", None, json!({"accounts": accounts.len()}))
            .await?;
        Ok(accounts.len() as u64)
    }

    /// The recipients of a programme's beneficiaries who have no account to
    /// be paid through: to be given one before a cycle is issued.
    pub async fn recipients_without_account(&self, actor: &Actor, programme: &str) -> Result<Vec<String>, AppError> {
        self.require_payments(actor, Permission::PaymentsRead)?;
        let rows = self.store().recipients_without_account(programme).await?;
        self.audit_read(
            actor,
            "accounts.missing",
            Some(Record::new("programme", programme)),
            json!({"recipients": rows.len()}),
            Vec::new(),
        )
        .await?;
        Ok(rows)
    }

    /// A person's accounts.
    pub async fn person_accounts(&self, actor: &Actor, person_id: &str) -> Result<Vec<AccountRow>, AppError> {
        actor.require(Permission::AccountsRead)?;
        self.person_in_scope(actor, person_id).await?;
        let rows = self.store().person_accounts(person_id).await?;
        self.audit_read(
            actor,
            "accounts.read",
            Some(Record::new("person", person_id)),
            json!({"accounts": rows.len()}),
            vec![person_id.to_owned()],
        )
        .await?;
        Ok(rows)
    }

    /// Makes an account primary or not, verified or not, or closes it.
    pub async fn update_account(
        &self,
        actor: &Actor,
        account_id: &str,
        change: AccountChange,
    ) -> Result<AccountRow, AppError> {
        actor.require(Permission::AccountsWrite)?;
        let account = self
            .store()
            .account(account_id)
            .await?
            .ok_or_else(|| AppError::NotFound {
                what: "account",
                id: account_id.to_owned(),
            })?;
        self.person_in_scope(actor, &account.person_id).await?;
        if account.status == "closed" {
            return Err(AppError::conflict("account-closed", "the account is closed"));
        }
        let updated = self
            .store()
            .update_account(account_id, change.primary, change.verified, change.close, Utc::now())
            .await?
            .ok_or_else(|| AppError::NotFound {
                what: "account",
                id: account_id.to_owned(),
            })?;
        self.audit(
            actor,
            "account.update",
            Some(Record::new("person", &account.person_id)),
            json!({"account": account_id, "primary": change.primary, "verified": change.verified, "closed": change.close}),
        )
        .await?;
        Ok(updated)
    }

    async fn person_in_scope(&self, actor: &Actor, person_id: &str) -> Result<himaya_domain::person::Person, AppError> {
        let person = self
            .store()
            .person(parse_person(person_id)?)
            .await?
            .ok_or_else(|| AppError::NotFound {
                what: "person",
                id: person_id.to_owned(),
            })?;
        let household = self
            .store()
            .household(person.household_id)
            .await?
            .ok_or_else(|| AppError::Internal(format!("person {person_id} has no household")))?;
        self.require_area(actor, &household.record.area)?;
        Ok(person)
    }

    // ---- Funding lines ------------------------------------------------------

    /// Creates or changes a funding line in the deployment's currency.
    pub async fn set_funding_line(
        &self,
        actor: &Actor,
        code: &str,
        name: &str,
        allocated: i64,
    ) -> Result<FundingLineRow, AppError> {
        actor.require(Permission::FundingManage)?;
        if code.is_empty()
            || code.len() > 64
            || !code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(AppError::invalid(
                "code",
                "invalid",
                "a funding line's code is 1 to 64 of a-z, A-Z, 0-9, - and _",
            ));
        }
        if name.trim().is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
            return Err(AppError::invalid("name", "invalid", "a name is 1 to 200 characters"));
        }
        if allocated < 0 {
            return Err(AppError::invalid(
                "allocated",
                "out-of-range",
                "an allocation is zero or more, in minor units",
            ));
        }
        let currency = self.deployment().currency.clone();
        let done = self
            .store()
            .set_funding_line(code, name.trim(), &currency, allocated, &actor.name, Utc::now())
            .await?;
        if !done {
            return Err(AppError::conflict(
                "funding-committed",
                "approved cycles have committed more than that from this line; it cannot be allocated less",
            ));
        }
        self.audit(
            actor,
            "funding.set",
            Some(Record::new("funding_line", code)),
            json!({"name": name, "allocated": allocated}),
        )
        .await?;
        self.store()
            .funding_line(code)
            .await?
            .ok_or_else(|| AppError::Internal("funding line vanished".into()))
    }

    pub async fn funding_lines(&self, actor: &Actor) -> Result<Vec<FundingLineRow>, AppError> {
        actor.require(Permission::PaymentsRead)?;
        Ok(self.store().funding_lines().await?)
    }

    // ---- Cycles -------------------------------------------------------------

    async fn stored_cycle(&self, id: &str) -> Result<CycleRow, AppError> {
        self.store().cycle(id).await?.ok_or_else(|| AppError::NotFound {
            what: "cycle",
            id: id.to_owned(),
        })
    }

    async fn view_of(&self, cycle: CycleRow) -> Result<CycleView, AppError> {
        let plan_detail = parse_plan(&cycle)?;
        let counts = self.store().cycle_counts(&cycle.id, false).await?;
        Ok(CycleView {
            cycle,
            plan_detail,
            totals: totals_of(&counts),
        })
    }

    /// The totals of a cycle, refusing the step if they do not balance.
    async fn balanced(&self, cycle_id: &str) -> Result<CycleTotals, AppError> {
        let totals = totals_of(&self.store().cycle_counts(cycle_id, false).await?);
        totals.check().map_err(|reason| {
            AppError::conflict(
                "totals-unbalanced",
                format!("the cycle's totals do not balance, so nothing more is done with it: {reason}"),
            )
        })?;
        Ok(totals)
    }

    fn require_payments(&self, actor: &Actor, permission: Permission) -> Result<(), AppError> {
        actor.require(permission)?;
        // A cycle pays the whole programme: those who run it work nationally.
        self.require_run_scope(actor, None)
    }

    fn check_move(from: CycleStatus, to: CycleStatus) -> Result<(), AppError> {
        check_cycle_transition(from, to).map_err(|e| AppError::conflict("illegal-transition", e.to_string()))
    }

    async fn moved(
        &self,
        actor: &Actor,
        cycle: &CycleRow,
        to: CycleStatus,
        detail: serde_json::Value,
    ) -> Result<(), AppError> {
        let done = self
            .store()
            .transition_cycle(
                &cycle.id,
                cycle.status,
                to,
                cycle.version,
                &actor.name,
                Utc::now(),
                &detail.to_string(),
            )
            .await?;
        if !done {
            return Err(AppError::conflict(
                "cycle-changed",
                "the cycle changed while this was being done; look at it again",
            ));
        }
        self.audit(
            actor,
            &format!("cycle.{to}"),
            Some(cycle_record(&cycle.id)),
            json!({"from": cycle.status, "detail": detail}),
        )
        .await
    }

    /// Opens a cycle of a programme for a period.
    pub async fn open_cycle(&self, actor: &Actor, open: OpenCycle) -> Result<CycleView, AppError> {
        self.require_payments(actor, Permission::PaymentsManage)?;
        check_period(&open.period)?;
        let (programme, _) = self.current_programme(&open.programme).await?;
        let mut problem = himaya_domain::Problem::default();
        for (field, reason) in open.plan.check(|a| self.area_path(a).is_some()) {
            problem.push(format!("plan.{field}"), "invalid", reason);
        }
        for (i, code) in open.plan.funding.iter().enumerate() {
            match self.store().funding_line(code).await? {
                None => problem.push(
                    format!("plan.funding[{i}]"),
                    "not-found",
                    format!("no funding line has the code {code:?}"),
                ),
                Some(line) if line.currency != programme.def.currency => problem.push(
                    format!("plan.funding[{i}]"),
                    "currency-mismatch",
                    format!(
                        "{code} is in {}, the programme pays in {}",
                        line.currency, programme.def.currency
                    ),
                ),
                Some(_) => {}
            }
        }
        if !problem.is_empty() {
            return Err(problem.into());
        }
        let now = Utc::now();
        let row = CycleRow {
            id: uuid::Uuid::now_v7().to_string(),
            programme_code: open.programme.clone(),
            programme_version: None,
            period: open.period.clone(),
            plan: serde_json::to_string(&open.plan).map_err(|e| AppError::Internal(e.to_string()))?,
            currency: programme.def.currency.clone(),
            status: CycleStatus::Draft,
            version: 1,
            submitted_version: None,
            opened_by: actor.name.clone(),
            opened_at: now,
            computed_at: None,
            submitted_by: None,
            submitted_at: None,
            approved_by: None,
            approved_at: None,
            closed_at: None,
        };
        if !self.store().insert_cycle(&row).await? {
            return Err(AppError::conflict(
                "cycle-exists",
                format!("{} already has a cycle for {}", open.programme, open.period),
            ));
        }
        self.audit(
            actor,
            "cycle.open",
            Some(cycle_record(&row.id)),
            json!({"programme": open.programme, "period": open.period, "plan": open.plan}),
        )
        .await?;
        self.view_of(row).await
    }

    pub async fn cycle(&self, actor: &Actor, id: &str) -> Result<CycleView, AppError> {
        actor.require(Permission::PaymentsRead)?;
        let cycle = self.stored_cycle(id).await?;
        self.view_of(cycle).await
    }

    pub async fn cycles(&self, actor: &Actor, programme: Option<&str>) -> Result<Vec<CycleRow>, AppError> {
        actor.require(Permission::PaymentsRead)?;
        Ok(self.store().cycles(programme).await?)
    }

    /// Cycles, newest first, each with its totals (for the pages' lists).
    pub async fn cycle_views(&self, actor: &Actor, programme: Option<&str>) -> Result<Vec<CycleView>, AppError> {
        actor.require(Permission::PaymentsRead)?;
        let mut views = Vec::new();
        for cycle in self.store().cycles(programme).await? {
            views.push(self.view_of(cycle).await?);
        }
        Ok(views)
    }

    pub async fn cycle_events(&self, actor: &Actor, id: &str) -> Result<Vec<CycleEventRow>, AppError> {
        actor.require(Permission::PaymentsRead)?;
        self.stored_cycle(id).await?;
        Ok(self.store().cycle_events(id).await?)
    }

    /// Computes what each active beneficiary of the programme is owed this
    /// cycle, replacing any earlier computation of it.
    pub async fn compute_cycle(&self, actor: &Actor, id: &str) -> Result<ComputeReport, AppError> {
        self.require_payments(actor, Permission::PaymentsManage)?;
        let started = Instant::now();
        let cycle = self.stored_cycle(id).await?;
        Self::check_move(cycle.status, CycleStatus::Computed)?;
        let plan = parse_plan(&cycle)?;
        let (programme, version) = self.current_programme(&cycle.programme_code).await?;
        self.store().clear_entitlements(id).await?;
        let mut report = ComputeReport {
            cycle_id: id.to_owned(),
            programme_version: version,
            ..ComputeReport::default()
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let areas = Arc::new(self.area_lines(self.deployment().areas.iter().map(|a| a.code.as_str())));
        let model = self.deployment().pmt.clone().map(Arc::new);
        let today = Utc::now().date_naive();
        let any_arrears = self.store().owed_arrears_exist(&cycle.programme_code).await?;
        let shared = Arc::new(ComputeShared {
            reads: programme.entitlement_reads(),
            programme,
            plan,
            cycle_id: id.to_owned(),
            version,
            areas,
            model,
            today,
        });
        let (mut reading, mut rules, mut writing) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        // Three stages joined by short queues, so that the one writer never
        // waits for a page to be read or computed, nor the rules for a write
        // to finish: on two cores a lock-step loop left one of them idle.
        let (page_tx, mut pages) = tokio::sync::mpsc::channel::<Vec<TargetingUnit>>(QUEUED_PAGES);
        let store = self.store().clone();
        let attributes = if shared.reads.needs_attributes() {
            AttributesRead::Yes
        } else {
            AttributesRead::No
        };
        let reader = tokio::spawn(async move {
            let mut after: Option<TargetingCursor> = None;
            loop {
                let page = store.targeting_page(attributes, None, after.as_ref(), PAGE).await?;
                let Some(last) = page.last() else { return Ok(()) };
                after = Some(TargetingCursor {
                    area_code: last.area_code.clone(),
                    id: last.id,
                });
                if page_tx.send(page).await.is_err() {
                    // Computing stopped: its error is the one to report.
                    return Ok::<(), himaya_store::StoreError>(());
                }
            }
        });
        let (rows_tx, mut written) = tokio::sync::mpsc::channel::<Vec<EntitlementRow>>(QUEUED_PAGES);
        let store = self.store().clone();
        let writer = tokio::spawn(async move {
            while let Some(rows) = written.recv().await {
                store.insert_entitlements(rows).await?;
            }
            Ok::<(), himaya_store::StoreError>(())
        });
        // Should computing fail, the reader and writer stop with it rather
        // than write on into a cycle that is computed again.
        let _stages = AbortOnDrop([reader.abort_handle(), writer.abort_handle()]);
        loop {
            let t = Instant::now();
            let Some(page) = pages.recv().await else { break };
            reading += t.elapsed();
            report.households += page.len() as u64;
            let t = Instant::now();
            let per = page.len().div_ceil(cores).max(1);
            let mut parts = Vec::new();
            let mut rest = page;
            while !rest.is_empty() {
                let tail = rest.split_off(per.min(rest.len()));
                let part = std::mem::replace(&mut rest, tail);
                let (shared, ids) = (shared.clone(), EntitlementIds::new()?);
                parts.push(tokio::task::spawn_blocking(move || compute_part(part, &shared, ids)));
            }
            let mut rows = Vec::new();
            for part in parts {
                let r = part
                    .await
                    .map_err(|e| AppError::Internal(format!("computing failed: {e}")))?;
                for (message, beneficiary) in r.errors {
                    *report.errors.entry(message.clone()).or_default() += 1;
                    if report.error_examples.len() < 20 {
                        report.error_examples.push((beneficiary, message));
                    }
                }
                rows.extend(r.rows);
            }
            rules += t.elapsed();
            if any_arrears {
                let owed_by: Vec<String> = rows
                    .iter()
                    .filter(|r| r.status == EntitlementStatus::Computed)
                    .map(|r| r.beneficiary_id.clone())
                    .collect();
                let owed = self.store().owed_arrears(&cycle.programme_code, &owed_by).await?;
                for r in rows.iter_mut().filter(|r| r.status == EntitlementStatus::Computed) {
                    if let Some(a) = owed.get(&r.beneficiary_id) {
                        r.arrears = *a;
                        r.amount = r.amount.saturating_add(*a);
                    }
                }
            }
            for r in &rows {
                report.entitlements += 1;
                match r.status {
                    EntitlementStatus::Computed => {
                        report.payable += 1;
                        report.amount = report.amount.saturating_add(r.amount);
                        report.arrears = report.arrears.saturating_add(r.arrears);
                    }
                    EntitlementStatus::Deferred => report.deferred += 1,
                    _ => *report.withheld.entry(r.reason.clone().unwrap_or_default()).or_default() += 1,
                }
            }
            let t = Instant::now();
            let sent = rows_tx.send(rows).await;
            writing += t.elapsed();
            if sent.is_err() {
                // The writer stopped on an error, which it returns below.
                break;
            }
        }
        drop((pages, rows_tx));
        let t = Instant::now();
        writer
            .await
            .map_err(|e| AppError::Internal(format!("writing entitlements failed: {e}")))??;
        writing += t.elapsed();
        reader
            .await
            .map_err(|e| AppError::Internal(format!("reading failed: {e}")))??;
        self.balanced(id).await?;
        let detail = json!({"version": version, "entitlements": report.entitlements, "payable": report.payable,
                            "amount": report.amount, "arrears": report.arrears});
        self.store().set_cycle_programme_version(id, version).await?;
        let cycle = self.stored_cycle(id).await?;
        self.moved(actor, &cycle, CycleStatus::Computed, detail).await?;
        report.reading_seconds = reading.as_secs_f64();
        report.rules_seconds = rules.as_secs_f64();
        report.writing_seconds = writing.as_secs_f64();
        report.seconds = started.elapsed().as_secs_f64();
        Ok(report)
    }

    /// The maker submits a computed cycle for approval.
    pub async fn submit_cycle(&self, actor: &Actor, id: &str) -> Result<CycleView, AppError> {
        self.require_payments(actor, Permission::PaymentsManage)?;
        let cycle = self.stored_cycle(id).await?;
        Self::check_move(cycle.status, CycleStatus::Submitted)?;
        let totals = self.balanced(id).await?;
        self.moved(actor, &cycle, CycleStatus::Submitted, json!({"totals": totals}))
            .await?;
        self.cycle(actor, id).await
    }

    /// The checker, who is not the maker, approves a submitted cycle that
    /// has not changed since, within its funding lines' balances.
    pub async fn approve_cycle(&self, actor: &Actor, id: &str) -> Result<CycleView, AppError> {
        self.require_payments(actor, Permission::PaymentsApprove)?;
        let cycle = self.stored_cycle(id).await?;
        Self::check_move(cycle.status, CycleStatus::Approved)?;
        if cycle.submitted_by.as_deref() == Some(actor.name.as_str()) {
            return Err(AppError::forbidden(
                "own-submission",
                "the person who submitted a cycle cannot approve it: another approver must",
            ));
        }
        self.balanced(id).await?;
        let plan = parse_plan(&cycle)?;
        let submitted = cycle.submitted_version.unwrap_or(-1);
        let exponent = self.deployment().currency_exponent();
        match self
            .store()
            .approve_cycle(id, submitted, &plan.funding, &actor.name, Utc::now())
            .await?
        {
            Ok(committed) => {
                self.audit(
                    actor,
                    "cycle.approved",
                    Some(cycle_record(id)),
                    json!({"committed": committed, "funding": plan.funding}),
                )
                .await?;
            }
            Err(ApprovalRefusal::Changed) => {
                return Err(AppError::conflict(
                    "cycle-changed",
                    "the cycle is not the one submitted (it was changed, approved or rejected meanwhile)",
                ));
            }
            Err(ApprovalRefusal::ArrearsChanged(n)) => {
                return Err(AppError::conflict(
                    "cycle-changed",
                    format!(
                        "{n} entitlements count arrears that another cycle has paid since: compute the cycle again"
                    ),
                ));
            }
            Err(ApprovalRefusal::UnknownFundingLine(code)) => {
                return Err(AppError::conflict(
                    "insufficient-funds",
                    format!("the funding line {code} no longer exists"),
                ));
            }
            Err(ApprovalRefusal::Shortfall { needed, available }) => {
                return Err(AppError::conflict(
                    "insufficient-funds",
                    format!(
                        "the cycle needs {} {} but its funding lines have {} left: {} short",
                        crate::programmes::money(needed, exponent),
                        cycle.currency,
                        crate::programmes::money(available, exponent),
                        crate::programmes::money(needed - available, exponent)
                    ),
                ));
            }
        }
        self.cycle(actor, id).await
    }

    /// The checker sends a submitted cycle back; it can be computed again.
    pub async fn reject_cycle(&self, actor: &Actor, id: &str, reason: &str) -> Result<CycleView, AppError> {
        self.require_payments(actor, Permission::PaymentsApprove)?;
        if reason.trim().is_empty() || reason.chars().count() > 500 {
            return Err(AppError::invalid(
                "reason",
                "required",
                "say why, in at most 500 characters",
            ));
        }
        let cycle = self.stored_cycle(id).await?;
        Self::check_move(cycle.status, CycleStatus::Rejected)?;
        self.moved(actor, &cycle, CycleStatus::Rejected, json!({"reason": reason}))
            .await?;
        self.cycle(actor, id).await
    }

    /// Gives up a cycle that was never approved.
    pub async fn cancel_cycle(&self, actor: &Actor, id: &str) -> Result<CycleView, AppError> {
        self.require_payments(actor, Permission::PaymentsManage)?;
        let cycle = self.stored_cycle(id).await?;
        Self::check_move(cycle.status, CycleStatus::Cancelled)?;
        self.store().cancel_entitlements(id).await?;
        self.moved(actor, &cycle, CycleStatus::Cancelled, json!({})).await?;
        self.cycle(actor, id).await
    }

    /// Puts an approved cycle's entitlements into payment batches per
    /// provider (and with `retry`, failed and returned ones whose recipient
    /// now has a usable account, in a new round). Issuing again issues
    /// nothing twice; the batches' files are written by [`App::write_batch_file`].
    pub async fn issue_cycle(&self, actor: &Actor, id: &str, retry: bool) -> Result<IssueOutcome, AppError> {
        self.require_payments(actor, Permission::PaymentsManage)?;
        let cycle = self.stored_cycle(id).await?;
        if !matches!(
            cycle.status,
            CycleStatus::Approved | CycleStatus::Issued | CycleStatus::Reconciling
        ) {
            return Err(AppError::conflict(
                "illegal-transition",
                format!("a {} cycle cannot be issued; it must be approved first", cycle.status),
            ));
        }
        if retry && cycle.status == CycleStatus::Approved {
            return Err(AppError::invalid(
                "retry",
                "not-allowed",
                "nothing has failed yet: issue the cycle first",
            ));
        }
        self.balanced(id).await?;
        let providers: BTreeMap<String, ProviderSpec> = self
            .deployment()
            .payment_providers
            .iter()
            .map(|p| {
                (
                    p.code.clone(),
                    ProviderSpec {
                        chunk_size: p.chunk_size,
                        financial_address: p.financial_address,
                        format: p.file.code().to_owned(),
                    },
                )
            })
            .collect();
        let outcome = self
            .store()
            .issue_round(id, retry, &providers, &actor.name, Utc::now())
            .await?;
        let detail = json!({"round": outcome.round, "issued": outcome.issued, "no_account": outcome.no_account,
                            "batches": outcome.batches.iter().map(|b| &b.message_id).collect::<Vec<_>>()});
        let cycle = self.stored_cycle(id).await?;
        let moved = cycle.status == CycleStatus::Approved
            && self
                .store()
                .transition_cycle(
                    id,
                    cycle.status,
                    CycleStatus::Issued,
                    cycle.version,
                    &actor.name,
                    Utc::now(),
                    &detail.to_string(),
                )
                .await?;
        if moved {
            self.audit(
                actor,
                "cycle.issued",
                Some(cycle_record(id)),
                json!({"from": cycle.status, "detail": detail}),
            )
            .await?;
        } else {
            // Issued already, or moved to issued by an officer issuing at
            // the same time: this round's payments are committed all the
            // same, so they are reported, not refused.
            let now = self.stored_cycle(id).await?;
            if !matches!(now.status, CycleStatus::Issued | CycleStatus::Reconciling) {
                return Err(AppError::conflict(
                    "cycle-changed",
                    "the cycle changed while this was being done; look at it again",
                ));
            }
            self.audit(actor, "cycle.issue", Some(cycle_record(id)), detail).await?;
        }
        self.balanced(id).await?;
        Ok(outcome)
    }

    pub async fn cycle_batches(&self, actor: &Actor, id: &str) -> Result<Vec<BatchRow>, AppError> {
        actor.require(Permission::PaymentsRead)?;
        self.stored_cycle(id).await?;
        Ok(self.store().cycle_batches(id).await?)
    }

    /// Writes a batch's payment file to `out` and returns its SHA-256:
    /// the same bytes every time (the first writing records the hash; a
    /// later one that differed would be refused).
    pub async fn write_batch_file(
        &self,
        actor: &Actor,
        cycle_id: &str,
        batch_id: &str,
        out: &mut (dyn std::io::Write + Send),
    ) -> Result<(BatchRow, String), AppError> {
        self.require_payments(actor, Permission::PaymentsManage)?;
        let cycle = self.stored_cycle(cycle_id).await?;
        let batch = self
            .store()
            .cycle_batches(cycle_id)
            .await?
            .into_iter()
            .find(|b| b.id == batch_id)
            .ok_or_else(|| AppError::NotFound {
                what: "batch",
                id: batch_id.to_owned(),
            })?;
        let provider = self
            .deployment()
            .payment_provider(&batch.provider)
            .ok_or_else(|| {
                AppError::conflict(
                    "provider-unknown",
                    format!("{} is no longer a payment provider of this deployment", batch.provider),
                )
            })?
            .clone();
        let (programme, _) = self.current_programme(&cycle.programme_code).await?;
        let remittance = format!(
            "{} {}",
            programme
                .def
                .name
                .get("en")
                .cloned()
                .unwrap_or_else(|| programme.code().to_owned()),
            cycle.period
        );
        let mut hashing = crate::payfile::Hashing::new(out);
        let header = crate::payfile::BatchFileHeader {
            provider: &provider,
            batch: &batch,
            currency: &cycle.currency,
            exponent: self.deployment().currency_exponent(),
            created_at: cycle.approved_at.unwrap_or(cycle.opened_at),
            initiating_party: &self.deployment().name,
            remittance: &remittance,
        };
        let mut writer = crate::payfile::BatchFileWriter::start(header, &mut hashing)?;
        let mut after = String::new();
        loop {
            let page = self.store().batch_payments(batch_id, &after, FILE_PAGE).await?;
            let Some(last) = page.last() else { break };
            after.clone_from(&last.entitlement_id);
            for p in &page {
                writer.add(p)?;
            }
        }
        let file = writer.finish()?;
        let sha = hashing.sha256();
        let recorded = self.store().record_batch_hash(batch_id, &sha).await?;
        if recorded != sha {
            return Err(AppError::Internal(format!(
                "batch {batch_id} wrote differently from when it was first issued ({recorded}, now {sha})"
            )));
        }
        self.audit(
            actor,
            "batch.file",
            Some(cycle_record(cycle_id)),
            json!({"batch": batch_id, "message_id": batch.message_id, "sha256": sha, "payments": file}),
        )
        .await?;
        Ok((batch, sha))
    }

    /// Applies a provider's status file (pain.002, camt.054, or the
    /// provider's CSV, given `provider`) to a cycle: each line matched by
    /// end-to-end id; payments move to paid, failed or returned; unknown
    /// ids, duplicates, amount mismatches and lines of another cycle are
    /// listed, never applied. The same file is applied once only.
    pub async fn reconcile_cycle(
        &self,
        actor: &Actor,
        id: &str,
        file_name: &str,
        provider: Option<&str>,
        bytes: &[u8],
    ) -> Result<ReconcileReport, AppError> {
        self.require_payments(actor, Permission::PaymentsManage)?;
        let cycle = self.stored_cycle(id).await?;
        if !matches!(cycle.status, CycleStatus::Issued | CycleStatus::Reconciling) {
            return Err(AppError::conflict(
                "illegal-transition",
                format!("a {} cycle has no payments to reconcile", cycle.status),
            ));
        }
        let exponent = self.deployment().currency_exponent();
        // Each line becomes an update as it is read; duplicates and ids not
        // ours are set aside with their reason.
        let mut updates = Vec::new();
        let mut line_errors = Vec::new();
        // By payment and attempt: 24 bytes a line.
        let mut seen: HashMap<(u128, u32), u64> = HashMap::new();
        let mut pending = 0;
        let parsed =
            crate::payfile::read_statuses(bytes, provider, self.deployment(), &cycle.currency, exponent, |line| {
                let error = |code: &str, detail: String| ReconciliationError {
                    line: line.line as i64,
                    end_to_end_id: Some(line.end_to_end_id.clone()),
                    code: code.to_owned(),
                    detail,
                };
                let Some((entitlement, attempt)) = parse_end_to_end_id(&line.end_to_end_id) else {
                    line_errors.push(error("unknown-id", "not an end-to-end id this registry issued".into()));
                    return;
                };
                if let Some(first) = seen.insert((entitlement.as_u128(), attempt), line.line) {
                    line_errors.push(error(
                        "duplicate",
                        format!("the payment was already reported on line {first} of this file"),
                    ));
                    return;
                }
                let Some(to) = line.status else {
                    pending += 1;
                    return;
                };
                updates.push(StatusUpdate {
                    line: line.line as i64,
                    entitlement,
                    attempt: i64::from(attempt),
                    status: to,
                    amount: line.amount,
                    provider_status: line.provider_status,
                    provider_reason: line.reason,
                });
            })?;
        drop(seen);
        let sha = crate::payfile::sha256_hex(bytes);
        // A file answering another cycle's batches is refused whole.
        for m in &parsed.message_ids {
            match self.store().batch_by_message_id(m).await? {
                Some(b) if b.cycle_id == id => {}
                Some(b) => {
                    return Err(AppError::conflict(
                        "wrong-cycle",
                        format!(
                            "the file reports on {m}, a payment file of cycle {}, not this one",
                            b.cycle_id
                        ),
                    ));
                }
                None => {
                    return Err(AppError::conflict(
                        "wrong-cycle",
                        format!("the file reports on {m}, which is no payment file of this registry"),
                    ));
                }
            }
        }
        let lines = parsed.lines as i64;
        let mut errors = parsed.errors;
        errors.append(&mut line_errors);
        let file = ReconciliationFile {
            id: uuid::Uuid::now_v7().to_string(),
            cycle_id: id.to_owned(),
            sha256: sha.clone(),
            format: parsed.format.to_owned(),
            file_name: file_name.chars().take(200).collect(),
            lines,
        };
        let (applied, paid, failed, returned, errors) = match self
            .store()
            .apply_reconciliation(&file, updates, errors, &actor.name, Utc::now())
            .await?
        {
            Applied::Done {
                applied,
                paid,
                failed,
                returned,
                errors,
            } => (applied, paid, failed, returned, errors),
            Applied::AlreadyReconciled => {
                return Err(AppError::conflict(
                    "file-already-reconciled",
                    format!("this file (SHA-256 {sha}) was reconciled before; nothing was applied again"),
                ));
            }
            Applied::OtherCycle => {
                return Err(AppError::conflict(
                    "wrong-cycle",
                    "every payment in the file belongs to another cycle: nothing was applied",
                ));
            }
        };
        // The store moved the cycle to reconciling with the first file, in its transaction.
        let detail = json!({"file": file.id, "sha256": sha, "lines": file.lines, "applied": applied,
                            "errors": errors.len(), "pending": pending});
        self.audit(actor, "cycle.reconcile", Some(cycle_record(id)), detail)
            .await?;
        let totals = self.balanced(id).await?;
        Ok(ReconcileReport {
            file_id: file.id,
            lines: file.lines as u64,
            applied,
            paid,
            failed,
            returned,
            pending,
            errors,
            totals,
        })
    }

    pub async fn reconciliation_errors(&self, actor: &Actor, id: &str) -> Result<Vec<ReconciliationError>, AppError> {
        actor.require(Permission::PaymentsRead)?;
        self.stored_cycle(id).await?;
        Ok(self.store().reconciliation_errors(id, 1_000).await?)
    }

    /// The programme's payment validity period, in days, as the version
    /// that computed the cycle set it.
    async fn payment_validity_days(&self, cycle: &CycleRow) -> Result<Option<u32>, AppError> {
        let def = match cycle.programme_version {
            Some(version) => self.programme_definition(&cycle.programme_code, version).await?,
            None => self
                .current_programme(&cycle.programme_code)
                .await?
                .0
                .def
                .as_ref()
                .clone(),
        };
        Ok(def.payment_validity_days)
    }

    /// The payment validity period of a cycle's programme, in days, if it sets one.
    pub async fn cycle_payment_validity(&self, actor: &Actor, id: &str) -> Result<Option<u32>, AppError> {
        actor.require(Permission::PaymentsRead)?;
        let cycle = self.stored_cycle(id).await?;
        self.payment_validity_days(&cycle).await
    }

    /// Expires the payments of a cycle that were issued longer ago than the
    /// programme's payment validity period and that no provider has
    /// reported paid, failed or returned. A status file that later reports
    /// one of them is listed among the reconciliation errors, never applied.
    pub async fn expire_unclaimed(&self, actor: &Actor, id: &str) -> Result<ExpiryReport, AppError> {
        self.require_payments(actor, Permission::PaymentsManage)?;
        let cycle = self.stored_cycle(id).await?;
        if !matches!(cycle.status, CycleStatus::Issued | CycleStatus::Reconciling) {
            return Err(AppError::conflict(
                "cycle-not-issued",
                format!(
                    "only a cycle whose files are issued has payments to expire; this one is {}",
                    cycle.status
                ),
            ));
        }
        let days = self.payment_validity_days(&cycle).await?.ok_or_else(|| {
            AppError::conflict(
                "no-validity-period",
                format!(
                    "programme {} sets no payment_validity_days: its payments expire only when the cycle is closed with expire_pending",
                    cycle.programme_code
                ),
            )
        })?;
        self.balanced(id).await?;
        let now = Utc::now();
        let issued_before = now - chrono::Duration::days(i64::from(days));
        let (count, amount) = self.store().expire_unclaimed(id, issued_before, now).await?;
        let expired = Tally { count, amount };
        let left = self.store().unclaimed_by_issue(id).await?;
        let still_pending = left.iter().map(|(_, n)| n).sum();
        let next_expiry = left
            .first()
            .map(|(at, _)| *at + chrono::Duration::days(i64::from(days)));
        self.audit(
            actor,
            "cycle.expire",
            Some(cycle_record(id)),
            json!({"validity_days": days, "issued_before": issued_before, "expired": expired, "still_pending": still_pending}),
        )
        .await?;
        let totals = self.balanced(id).await?;
        Ok(ExpiryReport {
            validity_days: days,
            issued_before,
            expired,
            still_pending,
            next_expiry,
            totals,
        })
    }

    /// Closes a cycle once every entitlement is settled: those that failed
    /// are written off or carried forward as arrears (`carry_forward`);
    /// payments unclaimed past the programme's validity period expire, and
    /// with `expire_pending` so do those still within it.
    pub async fn close_cycle(
        &self,
        actor: &Actor,
        id: &str,
        carry_forward: bool,
        expire_pending: bool,
    ) -> Result<CycleView, AppError> {
        self.require_payments(actor, Permission::PaymentsManage)?;
        let cycle = self.stored_cycle(id).await?;
        Self::check_move(cycle.status, CycleStatus::Closed)?;
        let totals = self.balanced(id).await?;
        let validity_days = self.payment_validity_days(&cycle).await?;
        let now = Utc::now();
        let issued_before = validity_days.map(|d| now - chrono::Duration::days(i64::from(d)));
        let detail = json!({"carry_forward": carry_forward, "expire_pending": expire_pending,
                            "expire_issued_before": issued_before, "totals": totals});
        let done = self
            .store()
            .close_cycle(
                id,
                cycle.status,
                cycle.version,
                carry_forward,
                expire_pending,
                issued_before,
                &actor.name,
                now,
                &detail.to_string(),
            )
            .await?;
        if !done {
            let waiting = totals.pending.count + totals.awaiting.count;
            let message = match (validity_days, self.store().unclaimed_by_issue(id).await?.first()) {
                (Some(days), Some((first, _))) => format!(
                    "{waiting} payments are still waiting for the provider's word; the first of them expire on {} \
                     ({days} days after issue); reconcile them, or close with expire_pending",
                    (*first + chrono::Duration::days(i64::from(days))).format("%Y-%m-%d %H:%M UTC")
                ),
                _ => format!(
                    "{waiting} payments are still waiting for the provider's word; reconcile them, or close with expire_pending"
                ),
            };
            return Err(AppError::conflict("payments-pending", message));
        }
        self.audit(actor, "cycle.closed", Some(cycle_record(id)), detail)
            .await?;
        self.balanced(id).await?;
        self.cycle(actor, id).await
    }

    /// A cycle's counts and sums by provider, area, recipient's sex and status.
    pub async fn cycle_report(&self, actor: &Actor, id: &str) -> Result<(CycleTotals, Vec<ReportRow>), AppError> {
        actor.require(Permission::PaymentsRead)?;
        self.stored_cycle(id).await?;
        let counts = self.store().cycle_counts(id, true).await?;
        let rows = counts
            .detail
            .iter()
            .map(|(provider, area, sex, status, count, amount)| ReportRow {
                provider: provider.clone(),
                area: area.clone(),
                sex: sex.clone(),
                status: *status,
                count: *count,
                amount: *amount,
            })
            .collect();
        Ok((totals_of(&counts), rows))
    }

    /// The cycle's report grouped three ways for reading: by provider, by
    /// district (the second level of the area tree) and by the recipient's sex.
    pub async fn cycle_breakdown(&self, actor: &Actor, id: &str) -> Result<CycleBreakdown, AppError> {
        let (totals, rows) = self.cycle_report(actor, id).await?;
        let mut b = CycleBreakdown {
            totals,
            ..CycleBreakdown::default()
        };
        for r in &rows {
            let count = u64::try_from(r.count).unwrap_or(0);
            let groups = [
                (&mut b.by_provider, r.provider.clone()),
                (&mut b.by_district, self.district_of(&r.area)),
                (&mut b.by_sex, r.sex.clone()),
            ];
            for (by, key) in groups {
                by.entry(key).or_default().count_many(r.status, count, r.amount);
            }
        }
        Ok(b)
    }

    /// A household's entitlements in every cycle, the latest cycle first:
    /// what each paid or why not. Read within the actor's areas, audited as
    /// a read of the household and of the recipients it names.
    pub async fn household_entitlements(
        &self,
        actor: &Actor,
        household_id: HouseholdId,
    ) -> Result<Vec<HouseholdEntitlementRow>, AppError> {
        actor.require(Permission::PaymentsRead)?;
        let household = self
            .store()
            .household(household_id)
            .await?
            .ok_or_else(|| AppError::NotFound {
                what: "household",
                id: household_id.to_string(),
            })?;
        self.require_area(actor, &household.record.area)?;
        let id = household_id.to_string();
        let rows = self.store().household_entitlements(&id).await?;
        let mut recipients: Vec<String> = rows.iter().filter_map(|r| r.recipient_id.clone()).collect();
        recipients.sort();
        recipients.dedup();
        self.audit_read(
            actor,
            "household.entitlements",
            Some(Record::new("household", &id)),
            json!({"entitlements": rows.len()}),
            recipients,
        )
        .await?;
        Ok(rows)
    }

    /// One entitlement with the registry values its rules read.
    pub async fn entitlement(&self, actor: &Actor, id: &str) -> Result<EntitlementRow, AppError> {
        actor.require(Permission::PaymentsRead)?;
        let e = self.store().entitlement(id).await?.ok_or_else(|| AppError::NotFound {
            what: "entitlement",
            id: id.to_owned(),
        })?;
        self.require_area(actor, &e.area_code)?;
        self.audit_read(
            actor,
            "entitlement.read",
            Some(Record::new("household", &e.household_id)),
            json!({"entitlement": id, "cycle": e.cycle_id}),
            e.recipient_id.iter().cloned().collect(),
        )
        .await?;
        Ok(e)
    }
}

/// Tasks that end when this is dropped, if they have not already.
struct AbortOnDrop<const N: usize>([tokio::task::AbortHandle; N]);

impl<const N: usize> Drop for AbortOnDrop<N> {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// What every part of a page needs to compute entitlements.
struct ComputeShared {
    programme: Programme,
    plan: CyclePlan,
    cycle_id: String,
    version: i64,
    areas: Arc<AreaLines>,
    model: Option<Arc<PmtModel>>,
    today: NaiveDate,
    /// What of each household the entitlement's rules read.
    reads: FactsRead,
}

#[derive(Default)]
struct PartResult {
    rows: Vec<EntitlementRow>,
    errors: Vec<(String, String)>,
}

/// Entitlement ids for one part of a page: UUIDv7 (time first) whose
/// random bits are a random start counted up, so that a million ids do not
/// cost a million requests for randomness. The count lies in the last seven
/// bytes, which the version and variant bits leave alone.
struct EntitlementIds {
    millis: u64,
    random: [u8; 10],
    count: u64,
}

impl EntitlementIds {
    fn new() -> Result<EntitlementIds, AppError> {
        let millis = u64::try_from(Utc::now().timestamp_millis()).unwrap_or_default();
        let random = crate::accounts::random_bytes::<10>()?;
        let mut start = [0u8; 8];
        start[1..].copy_from_slice(&random[3..]);
        Ok(EntitlementIds {
            millis,
            random,
            count: u64::from_be_bytes(start),
        })
    }

    fn next(&mut self) -> String {
        self.count = (self.count + 1) & 0x00ff_ffff_ffff_ffff;
        self.random[3..].copy_from_slice(&self.count.to_be_bytes()[1..]);
        uuid::Builder::from_unix_timestamp_millis(self.millis, &self.random)
            .into_uuid()
            .simple()
            .to_string()
    }
}

fn compute_part(units: Vec<TargetingUnit>, s: &ComputeShared, mut ids: EntitlementIds) -> PartResult {
    let mut out = PartResult::default();
    let code = s.programme.code();
    for unit in units {
        if !unit.enrolments.iter().any(|(c, _)| c == code) {
            continue;
        }
        let paused: Vec<String> = unit
            .paused
            .iter()
            .filter(|(c, _)| c == code)
            .map(|(_, b)| b.clone())
            .collect();
        let beneficiaries: Vec<String> = unit
            .enrolments
            .iter()
            .filter(|(c, _)| c == code)
            .map(|(_, b)| b.clone())
            .collect();
        let facts = match facts_of(unit, &s.areas, s.model.as_deref(), s.today, s.reads) {
            Ok(f) => f,
            Err((household, message)) => {
                out.errors.push((message, household.to_string()));
                continue;
            }
        };
        if !s.plan.areas.is_empty() && !facts.areas.iter().any(|a| s.plan.areas.contains(a)) {
            continue;
        }
        let household_id = facts.id.to_string();
        for beneficiary in beneficiaries {
            let person = match s.programme.def.target {
                TargetUnit::Household => None,
                TargetUnit::Person => match facts.members.iter().position(|m| m.id.to_string() == beneficiary) {
                    Some(i) => Some(i),
                    // Enrolled, but no longer an active member here.
                    None => continue,
                },
            };
            let entitled = s.programme.entitle(&facts, person);
            let recipient = entitled.recipient.as_ref().ok().copied().flatten();
            let member = recipient.and_then(|i| facts.members.get(i));
            let mut reads = entitled.reads.clone();
            reads.insert("programme_version".into(), s.version.into());
            let mut row = EntitlementRow {
                id: ids.next(),
                cycle_id: s.cycle_id.clone(),
                programme_code: code.to_owned(),
                beneficiary_id: beneficiary.clone(),
                household_id: household_id.clone(),
                recipient_id: member.map(|m| m.id.to_string()),
                area_code: facts.area.clone(),
                recipient_sex: member.map(|m| m.sex.code().to_owned()),
                status: EntitlementStatus::Computed,
                reason: None,
                formula_amount: 0,
                arrears: 0,
                amount: 0,
                facts: serde_json::to_string(&reads).unwrap_or_else(|_| "{}".into()),
                provider: None,
                payee_account: None,
                payee_name: None,
                attempt: 0,
                batch_id: None,
                provider_status: None,
                provider_reason: None,
                reconciled_by: None,
                settled_by: None,
            };
            let withhold = |row: &mut EntitlementRow, reason: EntitlementReason| {
                row.status = EntitlementStatus::Withheld;
                row.reason = Some(reason.code().to_owned());
                row.amount = 0;
            };
            match (&entitled.amount, &entitled.conditions, &entitled.recipient) {
                (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                    out.errors.push((e.clone(), beneficiary.clone()));
                    withhold(&mut row, EntitlementReason::RuleError);
                }
                (Ok(formula), Ok(conditions), Ok(recipient)) => {
                    row.formula_amount = *formula;
                    row.amount = s.plan.amount_of(*formula);
                    if paused.contains(&beneficiary) {
                        withhold(&mut row, EntitlementReason::Suspended);
                    } else if !conditions {
                        withhold(&mut row, EntitlementReason::ConditionNotMet);
                    } else if recipient.is_none() {
                        withhold(&mut row, EntitlementReason::NoRecipient);
                    } else if row.amount <= 0 {
                        withhold(&mut row, EntitlementReason::NothingOwed);
                    } else if s.plan.skip {
                        row.status = EntitlementStatus::Deferred;
                    }
                }
            }
            out.rows.push(row);
        }
    }
    out
}

fn parse_person(id: &str) -> Result<himaya_domain::person::PersonId, AppError> {
    uuid::Uuid::parse_str(id)
        .map(himaya_domain::person::PersonId)
        .map_err(|_| AppError::NotFound {
            what: "person",
            id: id.to_owned(),
        })
}

/// The name an account is held under when none is given: the person's
/// Latin name, or their name as written.
fn person_name(p: &himaya_domain::person::PersonRecord) -> String {
    let pick = |n: &himaya_domain::person::Name| n.latin.clone().or_else(|| n.native.clone()).unwrap_or_default();
    let name = format!("{} {}", pick(&p.given_name), pick(&p.family_name));
    name.trim().to_owned()
}

/// A random token that stands for an account in a financial address.
fn new_token() -> Result<String, AppError> {
    Ok(himaya_domain::audit::hex(&crate::accounts::random_bytes::<16>()?))
}

#[cfg(test)]
mod tests {
    use super::EntitlementIds;

    #[test]
    fn entitlement_ids_are_distinct_version_7_uuids_even_within_a_millisecond() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2 {
            // Two parts start their counts apart, in the same millisecond or not.
            let mut ids = EntitlementIds::new().unwrap();
            for _ in 0..100_000 {
                let id = ids.next();
                let uuid = uuid::Uuid::parse_str(&id).unwrap();
                assert_eq!(uuid.get_version_num(), 7, "{id}");
                assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122, "{id}");
                assert_eq!(id.len(), 32, "{id}");
                assert!(seen.insert(id), "an id came twice");
            }
        }
        // The count wraps within its seven bytes, never into the variant bits.
        let mut ids = EntitlementIds::new().unwrap();
        ids.count = 0x00ff_ffff_ffff_fffe;
        let (a, b) = (ids.next(), ids.next());
        assert_ne!(a, b);
        assert_eq!(uuid::Uuid::parse_str(&b).unwrap().get_variant(), uuid::Variant::RFC4122);
    }
}
