//! Programmes, targeting runs, enrolment and explanations.
//!
//! A targeting run reads the registry page by page, scores each household
//! with the deployment's proxy means test, decides it (or each of its
//! members) on every core, and writes each page's decisions in one
//! transaction; a dry run writes nothing and reports what the rules would
//! do, beside what overridden parameters would do.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Months, NaiveDate, Utc};
use himaya_domain::access::{Permission, Scope};
use himaya_domain::attributes::StoredAttributes;
use himaya_domain::enrolment::{EnrolmentStatus, check_reason, check_transition};
use himaya_domain::household::HouseholdId;
use himaya_domain::person::PersonId;
use himaya_domain::pmt::{Contribution, PmtModel};
use himaya_domain::programme::{
    Explanation, FactsRead, HouseholdFacts, HouseholdView, MemberFacts, Outcome, PersonFacts, Priority, Programme,
    ProgrammeDef, Refusal, TargetUnit,
};
use himaya_domain::vocab::Relationship;
use himaya_store::{
    Admission, AttributesRead, DecisionRow, EnrolmentEvent, EnrolmentRow, NotificationRow, ProgrammeRow, RunRow,
    TargetingCursor, TargetingUnit,
};
use serde::Serialize;
use serde_json::json;

use crate::audit::Record;
use crate::registry::household_record;
use crate::{Actor, App, AppError};

/// A saved programme.
#[derive(Clone, Debug, Serialize)]
pub struct ProgrammeView {
    pub code: String,
    pub version: i64,
    pub definition: ProgrammeDef,
    pub saved_at: DateTime<Utc>,
    pub saved_by: String,
}

/// What a caller asks a targeting run to do.
#[derive(Clone, Debug, Default)]
pub struct TargetRequest {
    pub programme: String,
    pub area: Option<String>,
    pub dry_run: bool,
    /// Enrol the eligible straight away, in priority order, within quota and budget.
    pub enrol: bool,
    /// Parameters to simulate (`pmt_threshold` = `35`); dry runs only.
    pub overrides: Vec<(String, String)>,
}

/// Counts of one set of rules over the units in scope.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Tally {
    pub eligible: u64,
    pub not_eligible: u64,
    /// Units a rule failed on; see `errors`.
    pub failed: u64,
    /// Eligible people: the members of eligible households, or eligible persons.
    pub people: u64,
    /// What the eligible would be paid per cycle, in minor units.
    pub cost_per_cycle: i64,
    /// Of the eligible, how many meet the programme's conditions on the
    /// latest compliance recorded (all of them when it sets none).
    pub meeting_conditions: u64,
    /// Of the eligible, how many the quota and budget take in, poorest first, and at what cost.
    pub within_limits: u64,
    pub cost_within_limits: i64,
    /// Why units were not eligible: the clause's label (or the exclusion) → count.
    pub refusals: BTreeMap<String, u64>,
    /// Eligible units and their cost by district.
    pub by_district: BTreeMap<String, DistrictTally>,
    /// Eligible people by sex.
    pub people_by_sex: BTreeMap<String, u64>,
    /// Eligible people by age band (`0-4`, `5-17`, `18-59`, `60+`, `unknown`).
    pub people_by_age: BTreeMap<String, u64>,
    /// Rule failures: message → count.
    pub errors: BTreeMap<String, u64>,
    /// The first few units a rule failed on.
    pub error_examples: Vec<ErrorExample>,
    #[serde(skip)]
    ranked: Vec<(Option<f64>, i64, u64)>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct DistrictTally {
    pub eligible: u64,
    pub people: u64,
    pub cost_per_cycle: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ErrorExample {
    pub household_id: HouseholdId,
    pub beneficiary_id: String,
    pub message: String,
}

/// Where a run's time went.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Timing {
    pub reading_seconds: f64,
    /// Building facts and scoring them with the proxy means test.
    pub preparing_seconds: f64,
    /// Evaluating the programme's rules (CEL).
    pub rules_seconds: f64,
    pub writing_seconds: f64,
    pub total_seconds: f64,
}

/// What a targeting run did.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    /// Absent for dry runs, which record nothing.
    pub run_id: Option<String>,
    pub programme: String,
    pub programme_version: i64,
    pub area: Option<String>,
    pub dry_run: bool,
    pub target: TargetUnit,
    pub households: u64,
    pub units: u64,
    /// Households evaluated, by district.
    pub households_by_district: BTreeMap<String, u64>,
    /// The rules as saved.
    pub current: Tally,
    /// With the overridden parameters, when any were given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub simulated: Option<Simulation>,
    /// Enrolled or paused units the rules no longer take in (left as they are; see recertification).
    pub enrolled_now_not_eligible: u64,
    /// Units moved to enrolled by this run.
    pub enrolled: u64,
    pub timing: Timing,
}

#[derive(Clone, Debug, Serialize)]
pub struct Simulation {
    pub parameters: BTreeMap<String, String>,
    pub tally: Tally,
}

/// A household's or person's standing in a programme, and why.
#[derive(Clone, Debug, Serialize)]
pub struct EligibilityView {
    pub programme: String,
    pub programme_version: i64,
    pub programme_name: String,
    pub household_id: HouseholdId,
    pub beneficiary_id: String,
    pub language: String,
    pub pmt: Option<PmtPart>,
    pub decision: Explanation,
    /// The stored decision or enrolment, if any run has decided this unit.
    pub enrolment: Option<EnrolmentRow>,
    pub history: Vec<EnrolmentEvent>,
}

/// An enrolment whose household's data is older than the programme's
/// recertification period.
#[derive(Clone, Debug, Serialize)]
pub struct ResurveyDue {
    pub household_id: String,
    pub beneficiary_id: String,
    pub status: EnrolmentStatus,
    pub area_code: String,
    /// When the household's data last changed.
    pub data_updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PmtPart {
    pub model_version: String,
    pub score: Option<f64>,
    pub intercept: f64,
    pub contributions: Vec<Contribution>,
    pub missing: Vec<String>,
}

const PAGE: u32 = 5_000;
const LEASE: Duration = Duration::from_secs(600);
const ERROR_EXAMPLES: usize = 20;

fn lease_from(now: DateTime<Utc>) -> DateTime<Utc> {
    now + chrono::Duration::from_std(LEASE).unwrap_or_default()
}

fn age_band(age: Option<u32>) -> &'static str {
    match age {
        None => "unknown",
        Some(0..=4) => "0-4",
        Some(5..=17) => "5-17",
        Some(18..=59) => "18-59",
        Some(_) => "60+",
    }
}

/// Each area's code with the areas above it, top first (`household.areas`).
pub(crate) type AreaLines = HashMap<String, Arc<[String]>>;

/// Builds what rules see of a household from its stored rule facts:
/// members head first, ages on `today`, the score. Stored facts that do
/// not parse are an error for this household alone.
pub(crate) fn facts_of(
    unit: TargetingUnit,
    areas: &AreaLines,
    model: Option<&PmtModel>,
    today: NaiveDate,
    read: FactsRead,
) -> Result<HouseholdFacts, (HouseholdId, String)> {
    let corrupt = |e: serde_json::Error| (unit.id, format!("stored data could not be read: {e}"));
    // Rules that read neither are spared parsing the attributes and scoring.
    let attributes = if read.needs_attributes() {
        StoredAttributes::parse(unit.attributes)
    } else {
        StoredAttributes::parse(String::from("{}"))
    }
    .map_err(|e| (unit.id, format!("stored attributes could not be read: {e}")))?;
    let stored = himaya_domain::programme::parse_member_facts(&unit.member_facts).map_err(corrupt)?;
    let household_id = unit.id.to_string();
    // Most enrolments are a household's: members are matched only when one is a person's.
    let person_enrolments = unit.enrolments.iter().any(|(_, b)| *b != household_id);
    let mut members = Vec::with_capacity(stored.len());
    let mut id_text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    for (id, facts) in stored {
        let mut m = MemberFacts::new(id, facts, today);
        if person_enrolments {
            let key: &str = id.0.hyphenated().encode_lower(&mut id_text);
            m.enrolments = unit
                .enrolments
                .iter()
                .filter(|(_, b)| b == key)
                .map(|(c, _)| c.clone())
                .collect();
        }
        // The latest quarter recorded of each kind.
        let latest = |kind: &str| {
            unit.compliance
                .iter()
                .filter(|c| c.person_id == id && c.kind == kind)
                .max_by(|a, b| a.period.cmp(&b.period))
                .map(|c| c.value)
        };
        m.attendance = latest("school_attendance");
        m.health_visits = latest("health_visits").map(|v| v as i64);
        members.push(m);
    }
    members.sort_by_key(|m| m.relationship != Relationship::Head);
    let areas = areas
        .get(&unit.area_code)
        .cloned()
        .unwrap_or_else(|| Arc::from(vec![unit.area_code.clone()]));
    Ok(HouseholdFacts {
        id: unit.id,
        pmt_score: model
            .filter(|_| read.pmt_score)
            .and_then(|m| m.score_value(&attributes)),
        area: unit.area_code,
        areas,
        attributes,
        members,
        enrolments: unit
            .enrolments
            .iter()
            .filter(|(_, b)| *b == household_id)
            .map(|(c, _)| c.clone())
            .collect(),
    })
}

/// Adds `by` to `key`'s count, allocating the key only the first time it is seen.
fn bump(map: &mut BTreeMap<String, u64>, key: &str, by: u64) {
    match map.get_mut(key) {
        Some(n) => *n += by,
        None => {
            map.insert(key.to_owned(), by);
        }
    }
}

/// The district an area lies in: the second level of its path, or the area itself.
fn district(facts: &HouseholdFacts) -> &str {
    facts
        .areas
        .get(1)
        .or(facts.areas.first())
        .map_or(facts.area.as_str(), String::as_str)
}

impl Tally {
    /// Counts one unit's outcome; `active` when it is already enrolled or
    /// paused, so that the quota and budget count it once, among those in.
    fn count(
        &mut self,
        programme: &Programme,
        facts: &HouseholdFacts,
        unit: Unit<'_>,
        outcome: &Outcome,
        active: bool,
    ) {
        match outcome {
            Outcome::Eligible { amount, .. } => {
                self.eligible += 1;
                self.cost_per_cycle = self.cost_per_cycle.saturating_add(*amount);
                let members: &[MemberFacts] = match unit.person {
                    Some(i) => facts.members.get(i..=i).unwrap_or_default(),
                    None => &facts.members,
                };
                self.people += members.len() as u64;
                for m in members {
                    bump(&mut self.people_by_sex, m.sex.code(), 1);
                    bump(&mut self.people_by_age, age_band(m.age), 1);
                }
                let key = district(facts);
                if !self.by_district.contains_key(key) {
                    self.by_district.insert(key.to_owned(), DistrictTally::default());
                }
                let Some(d) = self.by_district.get_mut(key) else { return };
                d.eligible += 1;
                d.people += members.len() as u64;
                d.cost_per_cycle = d.cost_per_cycle.saturating_add(*amount);
                if !active {
                    self.ranked.push((facts.pmt_score, *amount, self.ranked.len() as u64));
                }
            }
            Outcome::NotEligible(refusal) => {
                self.not_eligible += 1;
                match refusal {
                    Refusal::Clause { clause } => bump(
                        &mut self.refusals,
                        programme.clause_label(*clause, "en").unwrap_or("a clause"),
                        1,
                    ),
                    Refusal::Exclusive { programme } => bump(&mut self.refusals, &format!("already in {programme}"), 1),
                    Refusal::NoRecipient => bump(&mut self.refusals, "no member can receive the payment", 1),
                }
            }
            Outcome::Error(message) => self.fail(facts.id, unit.beneficiary.clone(), message.clone()),
        }
    }

    fn fail(&mut self, household_id: HouseholdId, beneficiary_id: String, message: String) {
        self.failed += 1;
        bump(&mut self.errors, &message, 1);
        if self.error_examples.len() < ERROR_EXAMPLES {
            self.error_examples.push(ErrorExample {
                household_id,
                beneficiary_id,
                message,
            });
        }
    }

    fn merge(&mut self, other: Tally) {
        self.eligible += other.eligible;
        self.not_eligible += other.not_eligible;
        self.failed += other.failed;
        self.meeting_conditions += other.meeting_conditions;
        self.people += other.people;
        self.cost_per_cycle = self.cost_per_cycle.saturating_add(other.cost_per_cycle);
        for (k, v) in other.refusals {
            *self.refusals.entry(k).or_default() += v;
        }
        for (k, v) in other.by_district {
            let d = self.by_district.entry(k).or_default();
            d.eligible += v.eligible;
            d.people += v.people;
            d.cost_per_cycle = d.cost_per_cycle.saturating_add(v.cost_per_cycle);
        }
        for (k, v) in other.people_by_sex {
            *self.people_by_sex.entry(k).or_default() += v;
        }
        for (k, v) in other.people_by_age {
            *self.people_by_age.entry(k).or_default() += v;
        }
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        let room = ERROR_EXAMPLES.saturating_sub(self.error_examples.len());
        self.error_examples.extend(other.error_examples.into_iter().take(room));
        self.ranked.extend(other.ranked);
    }

    /// How many of the eligible the quota and budget take in, in priority
    /// order, counting those already enrolled (`active`, `active_cost`).
    fn limit(&mut self, programme: &Programme, active: u64, active_cost: i64) {
        let def = &programme.def;
        if def.priority == Priority::LowestScoreFirst {
            // Scored poorest first, unscored last, ties in reading order.
            self.ranked.sort_by(|a, b| {
                (a.0.is_none().cmp(&b.0.is_none()))
                    .then(a.0.unwrap_or(0.0).total_cmp(&b.0.unwrap_or(0.0)))
                    .then(a.2.cmp(&b.2))
            });
        }
        let mut cost = active_cost;
        for (_, amount, _) in &self.ranked {
            let count = active + self.within_limits;
            if def.quota.is_some_and(|q| count >= q)
                || def.budget_per_cycle.is_some_and(|b| cost.saturating_add(*amount) > b)
            {
                break;
            }
            cost = cost.saturating_add(*amount);
            self.within_limits += 1;
            self.cost_within_limits = self.cost_within_limits.saturating_add(*amount);
        }
        self.ranked = Vec::new();
    }
}

/// The unit a decision is about.
struct Unit<'a> {
    person: Option<usize>,
    beneficiary: &'a String,
}

/// One page's work on one core.
#[derive(Default)]
struct PageResult {
    decisions: Vec<DecisionRow>,
    current: Tally,
    simulated: Option<Tally>,
    units: u64,
    households_by_district: BTreeMap<String, u64>,
    enrolled_now_not_eligible: u64,
    preparing: Duration,
    rules: Duration,
}

fn decide_page(
    units: Vec<TargetingUnit>,
    programme: &Programme,
    simulated: Option<&Programme>,
    areas: &AreaLines,
    model: Option<&PmtModel>,
    today: NaiveDate,
    keep_decisions: bool,
) -> PageResult {
    let mut out = PageResult {
        simulated: simulated.map(|_| Tally::default()),
        ..PageResult::default()
    };
    let code = programme.code().to_owned();
    let clause_reasons: Vec<String> = (0..programme.def.eligibility.len())
        .map(|c| clause_reason(programme, c))
        .collect();
    for unit in units {
        let t = Instant::now();
        let facts = match facts_of(unit, areas, model, today, FactsRead::ALL) {
            Ok(f) => f,
            Err((household, message)) => {
                out.units += 1;
                out.current.fail(household, household.to_string(), message.clone());
                if let Some(t) = out.simulated.as_mut() {
                    t.fail(household, household.to_string(), message);
                }
                continue;
            }
        };
        let household_id = facts.id.to_string();
        let view = HouseholdView::new(&facts, &household_id);
        bump(&mut out.households_by_district, district(&facts), 1);
        out.preparing += t.elapsed();
        let t = Instant::now();
        let persons: Vec<Option<usize>> = match programme.def.target {
            TargetUnit::Household => vec![None],
            TargetUnit::Person => (0..facts.members.len()).map(Some).collect(),
        };
        for person in persons {
            let member_id;
            let beneficiary = match person {
                Some(i) => {
                    member_id = facts.members[i].id.to_string();
                    &member_id
                }
                None => &household_id,
            };
            let active = match person {
                Some(i) => facts.members[i].enrolments.contains(&code),
                None => facts.enrolments.contains(&code),
            };
            let outcome = programme.decide(&facts, &view, person);
            if matches!(outcome, Outcome::Eligible { .. }) && programme.conditions_met(&view, person) == Ok(true) {
                out.current.meeting_conditions += 1;
            }
            out.units += 1;
            out.current
                .count(programme, &facts, Unit { person, beneficiary }, &outcome, active);
            if let (Some(sim), Some(tally)) = (simulated, out.simulated.as_mut()) {
                let o = sim.decide(&facts, &view, person);
                if matches!(o, Outcome::Eligible { .. }) && sim.conditions_met(&view, person) == Ok(true) {
                    tally.meeting_conditions += 1;
                }
                tally.count(sim, &facts, Unit { person, beneficiary }, &o, active);
            }
            if active && !matches!(outcome, Outcome::Eligible { .. }) {
                out.enrolled_now_not_eligible += 1;
            }
            if keep_decisions {
                out.decisions
                    .push(decision_row(&facts, beneficiary, &outcome, programme, &clause_reasons));
            }
        }
        out.rules += t.elapsed();
    }
    out
}

/// Why a clause refused, as a decision records it.
fn clause_reason(programme: &Programme, clause: usize) -> String {
    format!(
        "clause {}: {}",
        clause + 1,
        programme.clause_label(clause, "en").unwrap_or_default()
    )
}

/// `clause_reasons` are [`clause_reason`] of each clause, made once for a page.
fn decision_row(
    facts: &HouseholdFacts,
    beneficiary: &str,
    outcome: &Outcome,
    programme: &Programme,
    clause_reasons: &[String],
) -> DecisionRow {
    let (status, amount, recipient, reason) = match outcome {
        Outcome::Eligible { amount, recipient } => (
            EnrolmentStatus::Eligible,
            Some(*amount),
            recipient.and_then(|i| facts.members.get(i)).map(|m| m.id),
            None,
        ),
        Outcome::NotEligible(Refusal::Clause { clause }) => (
            EnrolmentStatus::NotEligible,
            None,
            None,
            Some(
                clause_reasons
                    .get(*clause)
                    .cloned()
                    .unwrap_or_else(|| clause_reason(programme, *clause)),
            ),
        ),
        Outcome::NotEligible(Refusal::Exclusive { programme }) => (
            EnrolmentStatus::NotEligible,
            None,
            None,
            Some(format!("already in {programme}")),
        ),
        Outcome::NotEligible(Refusal::NoRecipient) => (
            EnrolmentStatus::NotEligible,
            None,
            None,
            Some("no member can receive the payment".to_owned()),
        ),
        Outcome::Error(e) => (EnrolmentStatus::Candidate, None, None, Some(e.clone())),
    };
    DecisionRow {
        beneficiary_id: beneficiary.to_owned(),
        household_id: facts.id,
        area_code: facts.area.clone(),
        status,
        pmt_score: facts.pmt_score,
        amount,
        recipient_id: recipient,
        reason,
    }
}

/// A record written back to the JSON it is stored as, so that one household
/// is read the way a run reads thousands.
fn stored_json<T: Serialize>(record: &T) -> Result<String, AppError> {
    serde_json::to_string(record).map_err(|e| AppError::Internal(e.to_string()))
}

/// What enrolling into `programme` must respect.
fn admission_of(programme: &Programme) -> Admission {
    Admission {
        quota: programme.def.quota,
        budget: programme.def.budget_per_cycle,
        exclusive_with: programme.def.exclusive_with.clone(),
    }
}

fn parse_definition(row_definition: &str) -> Result<ProgrammeDef, AppError> {
    serde_json::from_str(row_definition).map_err(|e| AppError::Internal(format!("stored programme: {e}")))
}

impl ProgrammeView {
    fn of(row: ProgrammeRow) -> Result<ProgrammeView, AppError> {
        Ok(ProgrammeView {
            definition: parse_definition(&row.definition)?,
            code: row.code,
            version: row.version,
            saved_at: row.saved_at,
            saved_by: row.saved_by,
        })
    }
}

impl App {
    /// The line of areas above each of `codes`, for rules' `household.areas`.
    pub(crate) fn area_lines<'a>(&self, codes: impl IntoIterator<Item = &'a str>) -> AreaLines {
        codes
            .into_iter()
            .filter_map(|code| {
                let path = self.area_path(code)?;
                let line: Vec<String> = path.split('/').filter(|s| !s.is_empty()).map(str::to_owned).collect();
                Some((code.to_owned(), Arc::from(line)))
            })
            .collect()
    }

    /// Checks a programme definition and saves it as the programme's next
    /// version (unchanged definitions keep their version).
    pub async fn save_programme(&self, actor: &Actor, def: ProgrammeDef) -> Result<ProgrammeView, AppError> {
        actor.require(Permission::ProgrammesManage)?;
        let programme = Programme::compile(def, self.deployment())?;
        let def = (*programme.def).clone();
        let text = serde_json::to_string(&def).map_err(|e| AppError::Internal(e.to_string()))?;
        let now = Utc::now();
        let (version, changed) = self.store().save_programme(&def.code, &text, &actor.name, now).await?;
        if changed {
            self.audit(
                actor,
                "programme.save",
                Some(Record::new("programme", &def.code)),
                json!({"version": version}),
            )
            .await?;
        }
        ProgrammeView::of(self.stored_programme(&def.code).await?)
    }

    pub async fn programmes(&self, actor: &Actor) -> Result<Vec<ProgrammeView>, AppError> {
        actor.require(Permission::ProgrammesRead)?;
        self.store()
            .programmes()
            .await?
            .into_iter()
            .map(ProgrammeView::of)
            .collect()
    }

    pub async fn programme(&self, actor: &Actor, code: &str) -> Result<ProgrammeView, AppError> {
        actor.require(Permission::ProgrammesRead)?;
        ProgrammeView::of(self.stored_programme(code).await?)
    }

    async fn stored_programme(&self, code: &str) -> Result<ProgrammeRow, AppError> {
        self.store().programme(code).await?.ok_or_else(|| AppError::NotFound {
            what: "programme",
            id: code.to_owned(),
        })
    }

    /// A programme's definition as one of its versions saved it.
    pub(crate) async fn programme_definition(&self, code: &str, version: i64) -> Result<ProgrammeDef, AppError> {
        let row = self
            .store()
            .programme_version(code, version)
            .await?
            .ok_or_else(|| AppError::NotFound {
                what: "programme version",
                id: format!("{code} v{version}"),
            })?;
        parse_definition(&row.definition)
    }

    /// The programme in force, compiled, with its version.
    pub(crate) async fn current_programme(&self, code: &str) -> Result<(Programme, i64), AppError> {
        let row = self.stored_programme(code).await?;
        let def = parse_definition(&row.definition)?;
        // Saved definitions were checked; one that no longer compiles (the
        // deployment's attributes changed since) is refused, not run.
        let programme = Programme::compile(def, self.deployment()).map_err(|p| {
            AppError::conflict(
                "programme-invalid",
                format!("the saved programme no longer fits this deployment; save it again: {p}"),
            )
        })?;
        Ok((programme, row.version))
    }

    /// Evaluates every household or person in scope against a programme.
    /// A dry run writes nothing; otherwise each page's decisions are written
    /// in one transaction and, with `enrol`, the eligible are enrolled in
    /// priority order within the quota and budget. `progress` hears the
    /// number of households read after each page.
    pub async fn target_run(
        &self,
        actor: &Actor,
        request: TargetRequest,
        mut progress: impl FnMut(u64),
    ) -> Result<RunReport, AppError> {
        actor.require(Permission::TargetingRun)?;
        if request.enrol {
            actor.require(Permission::EnrolmentsManage)?;
        }
        let area = request.area.as_deref();
        self.require_run_scope(actor, area)?;
        if request.dry_run && request.enrol {
            return Err(AppError::invalid(
                "enrol",
                "conflict",
                "a dry run enrols no one; drop one of the two",
            ));
        }
        if !request.dry_run && !request.overrides.is_empty() {
            return Err(AppError::invalid(
                "parameters",
                "dry-run-only",
                "overridden parameters are for dry runs; save a new version of the programme to decide with them",
            ));
        }
        let started = Instant::now();
        let (programme, version) = self.current_programme(&request.programme).await?;
        let simulated = if request.overrides.is_empty() {
            None
        } else {
            Some(programme.with_parameters(&request.overrides)?)
        };
        let now = Utc::now();
        let run_id = (!request.dry_run).then(|| uuid::Uuid::now_v7().to_string());
        if let Some(id) = &run_id {
            let row = RunRow {
                id: id.clone(),
                programme_code: programme.code().to_owned(),
                programme_version: version,
                area_code: request.area.clone(),
                actor: actor.name.clone(),
                status: "running".into(),
                started_at: now,
                finished_at: None,
                report: None,
            };
            if let Some(blocking) = self.store().start_run(&row, lease_from(now)).await? {
                return Err(AppError::conflict(
                    "run-in-progress",
                    format!(
                        "a run of {} started by {} at {} is still going; wait for it to finish",
                        blocking.programme_code, blocking.actor, blocking.started_at
                    ),
                ));
            }
        }
        let result = self
            .run_pages(
                &programme,
                simulated.as_ref(),
                version,
                &request,
                run_id.as_deref(),
                &mut progress,
            )
            .await;
        let mut report = match result {
            Ok(report) => report,
            Err(e) => {
                if let Some(id) = &run_id {
                    let _ = self
                        .store()
                        .finish_run(id, "failed", &json!({"error": e.to_string()}).to_string(), Utc::now())
                        .await;
                }
                return Err(e);
            }
        };
        if let (true, Some(id)) = (request.enrol, &run_id) {
            let t = Instant::now();
            match self.enrol_eligible(actor, &programme, version, id).await {
                Ok(n) => report.enrolled = n,
                Err(e) => {
                    let _ = self
                        .store()
                        .finish_run(id, "failed", &json!({"error": e.to_string()}).to_string(), Utc::now())
                        .await;
                    return Err(e);
                }
            }
            report.timing.writing_seconds += t.elapsed().as_secs_f64();
        }
        report.timing.total_seconds = started.elapsed().as_secs_f64();
        if let Some(id) = &run_id {
            let text = serde_json::to_string(&report).map_err(|e| AppError::Internal(e.to_string()))?;
            self.store().finish_run(id, "finished", &text, Utc::now()).await?;
        }
        self.audit(
            actor,
            if request.dry_run {
                "targeting.dry_run"
            } else {
                "targeting.run"
            },
            Some(Record::new("programme", programme.code())),
            json!({
                "run_id": run_id, "version": version, "area": area, "enrol": request.enrol,
                "parameters": request.overrides.iter().cloned().collect::<BTreeMap<_, _>>(),
                "eligible": report.current.eligible, "not_eligible": report.current.not_eligible,
                "failed": report.current.failed, "enrolled": report.enrolled,
            }),
        )
        .await?;
        Ok(report)
    }

    async fn run_pages(
        &self,
        programme: &Programme,
        simulated: Option<&Programme>,
        version: i64,
        request: &TargetRequest,
        run_id: Option<&str>,
        progress: &mut impl FnMut(u64),
    ) -> Result<RunReport, AppError> {
        let area = request.area.as_deref();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let model = self.deployment().pmt.clone().map(Arc::new);
        let paths = Arc::new(self.area_lines(self.deployment().areas.iter().map(|a| a.code.as_str())));
        let today = Utc::now().date_naive();
        let mut report = RunReport {
            run_id: run_id.map(str::to_owned),
            programme: programme.code().to_owned(),
            programme_version: version,
            area: request.area.clone(),
            dry_run: request.dry_run,
            target: programme.def.target,
            households: 0,
            units: 0,
            households_by_district: BTreeMap::new(),
            current: Tally::default(),
            simulated: simulated.map(|_| Simulation {
                parameters: request.overrides.iter().cloned().collect(),
                tally: Tally::default(),
            }),
            enrolled_now_not_eligible: 0,
            enrolled: 0,
            timing: Timing::default(),
        };
        let (mut reading, mut preparing, mut rules, mut writing) =
            (Duration::ZERO, Duration::ZERO, Duration::ZERO, Duration::ZERO);
        let mut after = None;
        // The next page is read while this one is decided and written.
        let store = self.store().clone();
        let owned_area = area.map(str::to_owned);
        let read = move |after: Option<TargetingCursor>| {
            let store = store.clone();
            let area = owned_area.clone();
            async move {
                store
                    .targeting_page(AttributesRead::Yes, area.as_deref(), after.as_ref(), PAGE)
                    .await
            }
        };
        let t = Instant::now();
        let mut page = read(None).await?;
        reading += t.elapsed();
        let mut lease_renewed = Instant::now();
        let mut pending_write: Option<tokio::task::JoinHandle<Result<(), himaya_store::StoreError>>> = None;
        // Whatever stops the loop, a write still going is waited for: a run
        // is not reported failed while its last page is being written.
        let pages: Result<(), AppError> = async {
            while !page.is_empty() {
                after = page.last().map(|u| TargetingCursor {
                    area_code: u.area_code.clone(),
                    id: u.id,
                });
                let households = page.len() as u64;
                let next = tokio::spawn(read(after.clone()));
                let per = page.len().div_ceil(cores).max(1);
                let mut parts = Vec::new();
                let mut rest = page;
                while !rest.is_empty() {
                    let tail = rest.split_off(per.min(rest.len()));
                    let part = std::mem::replace(&mut rest, tail);
                    let (programme, simulated, paths, model) =
                        (programme.clone(), simulated.cloned(), paths.clone(), model.clone());
                    let keep = run_id.is_some();
                    parts.push(tokio::task::spawn_blocking(move || {
                        decide_page(
                            part,
                            &programme,
                            simulated.as_ref(),
                            &paths,
                            model.as_deref(),
                            today,
                            keep,
                        )
                    }));
                }
                let mut decisions = Vec::new();
                // Parts run side by side: a page takes as long as its slowest part.
                let (mut page_preparing, mut page_rules) = (Duration::ZERO, Duration::ZERO);
                for part in parts {
                    let r = part
                        .await
                        .map_err(|e| AppError::Internal(format!("targeting failed: {e}")))?;
                    report.units += r.units;
                    for (d, n) in r.households_by_district {
                        *report.households_by_district.entry(d).or_default() += n;
                    }
                    report.enrolled_now_not_eligible += r.enrolled_now_not_eligible;
                    report.current.merge(r.current);
                    if let (Some(s), Some(t)) = (report.simulated.as_mut(), r.simulated) {
                        s.tally.merge(t);
                    }
                    page_preparing = page_preparing.max(r.preparing);
                    page_rules = page_rules.max(r.rules);
                    decisions.extend(r.decisions);
                }
                preparing += page_preparing;
                rules += page_rules;
                if let Some(id) = run_id {
                    // This page's decisions are written while the next is decided;
                    // the time counted is the wait for the previous page's write.
                    let t = Instant::now();
                    if let Some(previous) = pending_write.take() {
                        previous
                            .await
                            .map_err(|e| AppError::Internal(format!("writing decisions failed: {e}")))??;
                    }
                    let (store, code, run) = (self.store().clone(), programme.code().to_owned(), id.to_owned());
                    pending_write = Some(tokio::spawn(async move {
                        store.save_decisions(&code, version, &run, Utc::now(), decisions).await
                    }));
                    if lease_renewed.elapsed() > LEASE / 4 {
                        self.store().renew_run(id, lease_from(Utc::now())).await?;
                        lease_renewed = Instant::now();
                    }
                    writing += t.elapsed();
                }
                report.households += households;
                progress(report.households);
                let t = Instant::now();
                page = next
                    .await
                    .map_err(|e| AppError::Internal(format!("reading failed: {e}")))??;
                reading += t.elapsed();
            }
            Ok(())
        }
        .await;
        if let Some(last) = pending_write.take() {
            let t = Instant::now();
            let written = last
                .await
                .map_err(|e| AppError::Internal(format!("writing decisions failed: {e}")));
            writing += t.elapsed();
            pages?;
            written??;
        } else {
            pages?;
        }
        let (active, active_cost) = self.store().active_totals(programme.code()).await?;
        report.current.limit(programme, active, active_cost);
        if let (Some(s), Some(sim)) = (report.simulated.as_mut(), simulated) {
            s.tally.limit(sim, active, active_cost);
        }
        report.timing = Timing {
            reading_seconds: reading.as_secs_f64(),
            preparing_seconds: preparing.as_secs_f64(),
            rules_seconds: rules.as_secs_f64(),
            writing_seconds: writing.as_secs_f64(),
            total_seconds: 0.0,
        };
        Ok(report)
    }

    /// Enrols eligible units in the programme's priority order until the
    /// quota or the budget per cycle is reached; queues each one's SMS.
    async fn enrol_eligible(
        &self,
        actor: &Actor,
        programme: &Programme,
        version: i64,
        run_id: &str,
    ) -> Result<u64, AppError> {
        let def = &programme.def;
        let admission = admission_of(programme);
        let mut enrolled = 0;
        let queue = self
            .store()
            .enrolment_queue(programme.code(), run_id, def.priority == Priority::LowestScoreFirst)
            .await?;
        for ids in queue.chunks(10_000) {
            let batch = self.store().enrolments_of(programme.code(), ids).await?;
            let take: Vec<&EnrolmentRow> = batch.iter().collect();
            let notes = self.notifications(programme, &take).await?;
            let moves = self
                .store()
                .transition_enrolments(
                    programme.code(),
                    ids,
                    EnrolmentStatus::Eligible,
                    EnrolmentStatus::Enrolled,
                    Some("targeting run"),
                    &actor.name,
                    version,
                    Utc::now(),
                    Some(&admission),
                    &notes,
                )
                .await?;
            enrolled += moves.moved.len() as u64;
            self.store().renew_run(run_id, lease_from(Utc::now())).await?;
            if moves.full {
                break;
            }
        }
        Ok(enrolled)
    }

    /// The SMS each newly enrolled unit is sent, in the deployment's local
    /// language where the programme has a text in it.
    async fn notifications(
        &self,
        programme: &Programme,
        enrolled: &[&EnrolmentRow],
    ) -> Result<Vec<NotificationRow>, AppError> {
        let def = &programme.def;
        if def.notification.is_empty() {
            return Ok(Vec::new());
        }
        let language = self
            .deployment()
            .languages
            .iter()
            .find(|l| *l != "en" && def.notification.contains_key(*l))
            .or_else(|| {
                self.deployment()
                    .languages
                    .iter()
                    .find(|l| def.notification.contains_key(*l))
            })
            .cloned()
            .unwrap_or_else(|| def.notification.keys().next().cloned().unwrap_or_default());
        let template = def.notification.get(&language).cloned().unwrap_or_default();
        let mut notes = Vec::with_capacity(enrolled.len());
        for e in enrolled {
            let household =
                HouseholdId(uuid::Uuid::parse_str(&e.household_id).map_err(|err| AppError::Internal(err.to_string()))?);
            let recipient = match &e.recipient_id {
                Some(r) => uuid::Uuid::parse_str(r).ok().map(himaya_domain::person::PersonId),
                None => None,
            };
            let phone = match recipient {
                Some(p) => self
                    .store()
                    .person(p)
                    .await?
                    .and_then(|p| p.record.phone.map(|ph| ph.to_string())),
                None => None,
            };
            let amount = format!(
                "{} {}",
                self.deployment().currency,
                money(e.amount.unwrap_or(0), self.deployment().currency_exponent())
            );
            notes.push(NotificationRow {
                beneficiary_id: e.beneficiary_id.clone(),
                household_id: household,
                person_id: recipient,
                phone,
                language: language.clone(),
                body: template
                    .replace("{programme}", def.name_in(&language))
                    .replace("{amount}", &amount),
            });
        }
        Ok(notes)
    }

    /// Moves one enrolment along the lifecycle (enrol, pause, resume, exit),
    /// refusing moves the transition table does not allow.
    pub async fn transition_enrolment(
        &self,
        actor: &Actor,
        code: &str,
        beneficiary: &str,
        to: &str,
        reason: Option<&str>,
    ) -> Result<EnrolmentRow, AppError> {
        actor.require(Permission::EnrolmentsManage)?;
        let to = EnrolmentStatus::from_code(to).ok_or_else(|| {
            AppError::invalid(
                "to",
                "unknown",
                format!("unknown status {to:?}; expected one of {}", EnrolmentStatus::codes()),
            )
        })?;
        check_reason(to, reason).map_err(|m| AppError::invalid("reason", "invalid", m))?;
        let (programme, version) = self.current_programme(code).await?;
        let current = self
            .store()
            .enrolment(code, beneficiary)
            .await?
            .ok_or_else(|| AppError::NotFound {
                what: "enrolment",
                id: format!("{code}/{beneficiary}"),
            })?;
        self.require_area(actor, &current.area_code)?;
        check_transition(current.status, to).map_err(|e| AppError::conflict("illegal-transition", e.to_string()))?;
        if !matches!(
            to,
            EnrolmentStatus::Enrolled | EnrolmentStatus::Paused | EnrolmentStatus::Exited
        ) {
            return Err(AppError::conflict(
                "illegal-transition",
                "eligibility is decided by targeting runs; enrol, pause, resume or exit here",
            ));
        }
        let enrolling = to == EnrolmentStatus::Enrolled && current.status == EnrolmentStatus::Eligible;
        if enrolling {
            // A decision made under another version of the rules, or about a
            // household that has since left the registry, is not enrolled.
            if current.programme_version != version {
                return Err(AppError::conflict(
                    "stale-decision",
                    format!(
                        "this decision was made under version {} of the programme, now at version {version}; run targeting again",
                        current.programme_version
                    ),
                ));
            }
            let household = uuid::Uuid::parse_str(&current.household_id)
                .map(HouseholdId)
                .map_err(|e| AppError::Internal(e.to_string()))?;
            let active = self
                .store()
                .household(household)
                .await?
                .is_some_and(|h| h.record.status == himaya_domain::vocab::HouseholdStatus::Active);
            if !active {
                return Err(AppError::conflict(
                    "stale-decision",
                    "the household is no longer active; run targeting again",
                ));
            }
        }
        let notes = if enrolling {
            self.notifications(&programme, &[&current]).await?
        } else {
            Vec::new()
        };
        let admission = admission_of(&programme);
        let moves = self
            .store()
            .transition_enrolments(
                code,
                &[beneficiary.to_owned()],
                current.status,
                to,
                reason,
                &actor.name,
                version,
                Utc::now(),
                enrolling.then_some(&admission),
                &notes,
            )
            .await?;
        if moves.full {
            return Err(AppError::conflict(
                "quota-reached",
                "the programme's quota or its budget per cycle is reached",
            ));
        }
        if !moves.excluded.is_empty() {
            return Err(AppError::conflict(
                "excluded-programme",
                format!(
                    "already enrolled in a programme this one excludes ({})",
                    programme.def.exclusive_with.join(", ")
                ),
            ));
        }
        if moves.moved.is_empty() {
            return Err(AppError::conflict(
                "concurrent-change",
                "the enrolment changed while this was being done; look again",
            ));
        }
        self.audit(
            actor,
            "enrolment.transition",
            Some(Record::new("enrolment", format!("{code}/{beneficiary}"))),
            json!({"from": current.status.code(), "to": to.code(), "reason": reason, "household": current.household_id}),
        )
        .await?;
        self.store()
            .enrolment(code, beneficiary)
            .await?
            .ok_or_else(|| AppError::NotFound {
                what: "enrolment",
                id: format!("{code}/{beneficiary}"),
            })
    }

    /// A household's standing in every programme that has decided it or its members.
    pub async fn household_enrolments(
        &self,
        actor: &Actor,
        household_id: HouseholdId,
    ) -> Result<Vec<EnrolmentRow>, AppError> {
        actor.require(Permission::ProgrammesRead)?;
        actor.require(Permission::HouseholdsRead)?;
        let household = self
            .store()
            .household(household_id)
            .await?
            .ok_or_else(|| AppError::NotFound {
                what: "household",
                id: household_id.to_string(),
            })?;
        self.require_area(actor, &household.record.area)?;
        let rows = self.store().household_enrolments(household_id).await?;
        self.audit_read(
            actor,
            "household.enrolments",
            Some(household_record(&household_id)),
            json!({}),
            Vec::new(),
        )
        .await?;
        Ok(rows)
    }

    /// Why a household (or one member, for programmes about people) is or
    /// is not eligible: the proxy means test term by term, every clause
    /// with its value, the decision, and the stored standing.
    pub async fn explain_eligibility(
        &self,
        actor: &Actor,
        household_id: HouseholdId,
        code: &str,
        person: Option<&str>,
        language: Option<&str>,
    ) -> Result<EligibilityView, AppError> {
        actor.require(Permission::ProgrammesRead)?;
        actor.require(Permission::HouseholdsRead)?;
        if actor.fields().is_some() {
            return Err(AppError::forbidden(
                "permission-denied",
                "partner agencies are not shown eligibility explanations",
            ));
        }
        let language = match language {
            Some(l) if self.deployment().languages.iter().any(|x| x == l) => l.to_owned(),
            Some(l) => {
                return Err(AppError::invalid(
                    "lang",
                    "unknown",
                    format!(
                        "{l:?} is not a language of this deployment ({})",
                        self.deployment().languages.join(", ")
                    ),
                ));
            }
            None => self.deployment().default_language().to_owned(),
        };
        let household = self
            .store()
            .household(household_id)
            .await?
            .ok_or_else(|| AppError::NotFound {
                what: "household",
                id: household_id.to_string(),
            })?;
        self.require_area(actor, &household.record.area)?;
        let (programme, version) = self.current_programme(code).await?;
        let members = self.store().household_members(household_id).await?;
        let (mut enrolments, mut paused) = (Vec::new(), Vec::new());
        for e in self.store().household_enrolments(household_id).await? {
            if e.status == EnrolmentStatus::Paused {
                paused.push((e.programme_code.clone(), e.beneficiary_id.clone()));
            }
            if e.status.is_active() {
                enrolments.push((e.programme_code, e.beneficiary_id));
            }
        }
        let member_facts: Vec<(PersonId, PersonFacts)> = members
            .iter()
            .filter(|p| p.record.status == himaya_domain::vocab::PersonStatus::Active)
            .map(|p| (p.id, PersonFacts::of(&p.record)))
            .collect();
        let unit = TargetingUnit {
            id: household_id,
            area_code: household.record.area.clone(),
            updated_at: household.updated_at,
            attributes: stored_json(&household.record.attributes)?,
            member_facts: stored_json(&member_facts)?,
            enrolments,
            paused,
            compliance: self.store().household_compliance(household_id).await?,
        };
        let paths = self.area_lines([unit.area_code.as_str()]);
        let model = self.deployment().pmt.as_ref();
        let facts = facts_of(unit, &paths, model, Utc::now().date_naive(), FactsRead::ALL)
            .map_err(|(_, message)| AppError::Internal(message))?;
        let person_index = match (programme.def.target, person) {
            (TargetUnit::Household, None) => None,
            (TargetUnit::Household, Some(_)) => {
                return Err(AppError::invalid(
                    "person",
                    "not-applicable",
                    "this programme is for households, not people",
                ));
            }
            (TargetUnit::Person, None) => {
                return Err(AppError::invalid(
                    "person",
                    "required",
                    "this programme is for people: name the member",
                ));
            }
            (TargetUnit::Person, Some(p)) => Some(
                facts
                    .members
                    .iter()
                    .position(|m| m.id.to_string() == p)
                    .ok_or_else(|| AppError::NotFound {
                        what: "active member",
                        id: p.to_owned(),
                    })?,
            ),
        };
        let beneficiary = match person_index {
            Some(i) => facts.members[i].id.to_string(),
            None => household_id.to_string(),
        };
        let pmt = model.map(|m| match m.score(&household.record.attributes) {
            Ok(s) => PmtPart {
                model_version: m.version.clone(),
                score: Some(s.score),
                intercept: m.intercept,
                contributions: s.contributions,
                missing: Vec::new(),
            },
            Err(missing) => PmtPart {
                model_version: m.version.clone(),
                score: None,
                intercept: m.intercept,
                contributions: Vec::new(),
                missing: missing.0,
            },
        });
        let decision = programme.explain(&facts, person_index, &language);
        let enrolment = self.store().enrolment(code, &beneficiary).await?;
        let history = self.store().enrolment_events(code, &beneficiary).await?;
        self.audit_read(
            actor,
            "eligibility.read",
            Some(household_record(&household_id)),
            json!({"programme": code, "beneficiary": beneficiary}),
            Vec::new(),
        )
        .await?;
        Ok(EligibilityView {
            programme: code.to_owned(),
            programme_version: version,
            programme_name: programme.def.name_in(&language).to_owned(),
            household_id,
            beneficiary_id: beneficiary,
            language,
            pmt,
            decision,
            enrolment,
            history,
        })
    }

    /// Enrolled or paused households of a programme whose data is older
    /// than its recertification period, longest unchanged first (at most
    /// `limit`): to be surveyed again.
    pub async fn recertification_due(
        &self,
        actor: &Actor,
        code: &str,
        limit: u32,
    ) -> Result<Vec<ResurveyDue>, AppError> {
        actor.require(Permission::ProgrammesRead)?;
        let (programme, _) = self.current_programme(code).await?;
        let Some(months) = programme.def.recertification_months else {
            return Ok(Vec::new());
        };
        let before = Utc::now()
            .checked_sub_months(Months::new(months))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let within = match actor.scope() {
            Scope::National => None,
            Scope::Areas(codes) => Some(codes.as_slice()),
        };
        let due = self
            .store()
            .due_for_recertification(code, before, within, limit.clamp(1, 10_000))
            .await?;
        let out: Vec<ResurveyDue> = due
            .iter()
            .map(|(e, updated)| ResurveyDue {
                household_id: e.household_id.clone(),
                beneficiary_id: e.beneficiary_id.clone(),
                status: e.status,
                area_code: e.area_code.clone(),
                data_updated_at: *updated,
            })
            .collect();
        self.audit_read(
            actor,
            "recertification.read",
            Some(Record::new("programme", code)),
            json!({"households": out.len()}),
            due.iter().map(|(e, _)| e.household_id.clone()).collect(),
        )
        .await?;
        Ok(out)
    }
}

/// Minor units as major units with `exponent` decimals, for messages.
pub fn money(minor: i64, exponent: u32) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let minor = minor.unsigned_abs();
    let unit = 10u64.pow(exponent);
    let major = minor / unit;
    let mut digits = major.to_string();
    let mut grouped = String::new();
    while digits.len() > 3 {
        let tail = digits.split_off(digits.len() - 3);
        grouped = format!(",{tail}{grouped}");
    }
    if exponent == 0 {
        return format!("{sign}{digits}{grouped}");
    }
    format!(
        "{sign}{digits}{grouped}.{:0width$}",
        minor % unit,
        width = exponent as usize
    )
}

/// The fixed words of a printed explanation, by language (the clause labels
/// come from the programme). Until the pages' message files exist, these few
/// phrases live here.
struct LetterWords {
    title: &'static str,
    household: &'static str,
    score: &'static str,
    missing: &'static str,
    clauses: &'static str,
    met: &'static str,
    not_met: &'static str,
    undecided: &'static str,
    eligible: &'static str,
    amount: &'static str,
    not_eligible: &'static str,
    excluded: &'static str,
}

fn letter_words(language: &str) -> LetterWords {
    match language {
        "ur" => LetterWords {
            title: "{p} کے لیے اہلیت",
            household: "گھرانہ",
            score: "غربت اسکور",
            missing: "اسکور نہیں: یہ معلومات موجود نہیں",
            clauses: "شرائط",
            met: "پوری",
            not_met: "پوری نہیں",
            undecided: "طے نہیں ہو سکا",
            eligible: "فیصلہ: اہل",
            amount: "فی ادائیگی رقم",
            not_eligible: "فیصلہ: اہل نہیں",
            excluded: "پہلے سے ایسے پروگرام میں شامل جس کے ساتھ یہ نہیں مل سکتا",
        },
        "ar" => LetterWords {
            title: "الأهلية لـ{p}",
            household: "الأسرة",
            score: "درجة اختبار الموارد",
            missing: "لا درجة: بيانات ناقصة",
            clauses: "الشروط",
            met: "متحقق",
            not_met: "غير متحقق",
            undecided: "تعذر البت",
            eligible: "القرار: مؤهل",
            amount: "المبلغ لكل دفعة",
            not_eligible: "القرار: غير مؤهل",
            excluded: "مسجل في برنامج لا يجتمع مع هذا البرنامج",
        },
        "bn" => LetterWords {
            title: "{p}-এর যোগ্যতা",
            household: "খানা",
            score: "দারিদ্র্য স্কোর",
            missing: "স্কোর নেই: তথ্য অনুপস্থিত",
            clauses: "শর্তাবলি",
            met: "পূরণ হয়েছে",
            not_met: "পূরণ হয়নি",
            undecided: "নির্ধারণ করা যায়নি",
            eligible: "সিদ্ধান্ত: যোগ্য",
            amount: "প্রতি কিস্তিতে পরিমাণ",
            not_eligible: "সিদ্ধান্ত: যোগ্য নন",
            excluded: "এমন একটি কর্মসূচিতে আছেন যার সাথে এটি একসাথে পাওয়া যায় না",
        },
        _ => LetterWords {
            title: "Eligibility for {p}",
            household: "Household",
            score: "Proxy means test score",
            missing: "Not scored: missing",
            clauses: "Conditions",
            met: "met",
            not_met: "not met",
            undecided: "could not be decided",
            eligible: "Decision: eligible",
            amount: "Amount per payment",
            not_eligible: "Decision: not eligible",
            excluded: "Already in a programme this one excludes",
        },
    }
}

impl App {
    /// An explanation as a letter to print for the family, in its language.
    pub fn eligibility_letter(&self, view: &EligibilityView) -> String {
        let w = letter_words(&view.language);
        let mut out = String::new();
        out.push_str(&w.title.replace("{p}", &view.programme_name));
        out.push_str(&format!(" (v{})\n", view.programme_version));
        out.push_str(&format!("{}: {}\n", w.household, view.household_id));
        if let Some(pmt) = &view.pmt {
            match pmt.score {
                Some(score) => out.push_str(&format!("{}: {score:.1} ({})\n", w.score, pmt.model_version)),
                None => out.push_str(&format!("{}: {}\n", w.missing, pmt.missing.join(", "))),
            }
        }
        out.push_str(&format!("\n{}:\n", w.clauses));
        for c in &view.decision.clauses {
            let (mark, word) = match c.holds {
                Some(true) => ("✓", w.met),
                Some(false) => ("✗", w.not_met),
                None => ("?", w.undecided),
            };
            out.push_str(&format!("{mark} {} — {word}\n", c.label));
        }
        if let Some(other) = &view.decision.excluded_by {
            out.push_str(&format!("✗ {}: {other}\n", w.excluded));
        }
        out.push('\n');
        if view.decision.eligible {
            out.push_str(w.eligible);
            out.push('\n');
            if let Some(amount) = view.decision.amount {
                out.push_str(&format!(
                    "{}: {} {}\n",
                    w.amount,
                    self.deployment().currency,
                    money(amount, self.deployment().currency_exponent())
                ));
            }
        } else {
            out.push_str(w.not_eligible);
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_grouped_in_thousands() {
        assert_eq!(money(1_350_000, 2), "13,500.00");
        assert_eq!(money(65_000, 2), "650.00");
        assert_eq!(money(5, 2), "0.05");
        assert_eq!(money(123_456_789, 2), "1,234,567.89");
        assert_eq!(money(136_000, 3), "136.000");
        assert_eq!(money(-1_500, 0), "-1,500");
    }

    #[test]
    fn age_bands_cover_every_age() {
        assert_eq!(age_band(Some(0)), "0-4");
        assert_eq!(age_band(Some(17)), "5-17");
        assert_eq!(age_band(Some(60)), "60+");
        assert_eq!(age_band(None), "unknown");
    }
}
