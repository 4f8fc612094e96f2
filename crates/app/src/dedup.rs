//! Deduplication in the registry: runs that find the records of one person
//! among the registry's active people (scored by the linkage crate) and
//! store them as candidate pairs; the review queue; decisions, remembered so
//! that a decided pair is never proposed again; merging a duplicate into the
//! record that carries on; the duplicate check at intake; and matching an
//! agency's list of people against the registry.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use himaya_domain::Problem;
use himaya_domain::access::Permission;
use himaya_domain::household::{HouseholdRecord, check_change_reason};
use himaya_domain::identifier::Identifier;
use himaya_domain::person::{Name, Person, PersonDraft, PersonId, PersonRecord};
use himaya_domain::vocab::{ChangeKind, HouseholdStatus, PersonStatus, Relationship, Sex};
use himaya_linkage::{Comparison, Model, Record as LinkRecord, Role, Settings};
use himaya_store::{DedupRunRow, DedupSource, FoundPair, Moved, PairDecisionRow, PairFilter, PairRow};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::Record;
use crate::registry::{not_found_person, page_size, parse_source, person_record};
use crate::{Actor, App, AppError, Page};

/// The fields a registry person is compared on.
///
/// Not the area: members of one household share it (and often the phone),
/// while a person registered twice is as often registered in another
/// district, so EM on a registry learns from the area mostly who lives
/// together. Pairs keep both areas for the review queue's filter.
const ROLES: [Role; 7] = [
    Role::GivenName,
    Role::FamilyName,
    Role::FatherName,
    Role::DateOfBirth,
    Role::Sex,
    Role::NationalId,
    Role::Phone,
];

/// Pairs kept by a run unless it asks otherwise.
pub const DEFAULT_RUN_THRESHOLD: f64 = 0.8;
/// Matches an intake check or an agency match reports unless asked otherwise.
pub const DEFAULT_MATCH_THRESHOLD: f64 = 0.8;
/// The most rows one agency match takes.
pub const MAX_MATCH_ROWS: usize = 100_000;
/// The most existing records an intake check scores, and reports.
const INTAKE_CANDIDATES: u32 = 500;
const INTAKE_MATCHES: usize = 10;

const STATUSES: &[&str] = &["pending", "same_person", "different_people", "merged", "superseded"];

/// A deduplication run over the registry, or one area of it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupRunRequest {
    pub area: Option<String>,
    /// Pairs at or above this match probability are stored (default 0.8).
    pub threshold: Option<f64>,
}

/// What a run did.
#[derive(Clone, Debug, Serialize)]
pub struct DedupRunView {
    pub id: String,
    pub area: Option<String>,
    pub threshold: f64,
    pub started_by: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// Active people compared.
    pub persons: i64,
    /// Candidate pairs scored.
    pub compared: i64,
    /// Pairs at or above the threshold.
    pub pairs_found: i64,
    /// Of those, pairs not seen before: now in the queue.
    pub pairs_new: i64,
    /// Of those, pairs an officer had already decided: not proposed again.
    pub pairs_decided: i64,
}

impl From<DedupRunRow> for DedupRunView {
    fn from(r: DedupRunRow) -> Self {
        DedupRunView {
            id: r.id,
            area: r.area,
            threshold: r.threshold,
            started_by: r.started_by,
            started_at: r.started_at,
            finished_at: r.finished_at,
            persons: r.persons,
            compared: r.compared,
            pairs_found: r.pairs_found,
            pairs_new: r.pairs_new,
            pairs_decided: r.pairs_decided,
        }
    }
}

/// One comparison of a pair: how far the two records agree and what that weighs.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Evidence {
    pub comparison: String,
    pub level: String,
    pub weight: f64,
}

/// A candidate pair with both records side by side.
#[derive(Clone, Debug, Serialize)]
pub struct PairView {
    pub id: String,
    /// pending, same_person, different_people, merged or superseded.
    pub status: String,
    pub probability: f64,
    pub weight: f64,
    pub evidence: Vec<Evidence>,
    pub left: Person,
    pub right: Person,
    pub left_area: String,
    pub right_area: String,
    pub run_id: String,
    pub found_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub survivor: Option<PersonId>,
}

/// Filters of the review queue.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairQuery {
    /// Default `pending`.
    pub status: Option<String>,
    pub area: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// An officer's decision on a pair.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairDecision {
    /// `same_person` or `different_people`.
    pub decision: String,
    pub reason: Option<String>,
}

/// Merging a pair: `survivor` carries on, the other record is marked merged into it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairMerge {
    pub survivor: PersonId,
    pub source: Option<String>,
    pub reason: Option<String>,
}

/// What a merge did.
#[derive(Clone, Debug, Serialize)]
pub struct MergeView {
    pub survivor: Person,
    pub merged: Person,
    pub moved: Moved,
    pub pair: PairView,
}

/// A person about to be registered, checked against the registry first.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeCheck {
    pub person: PersonDraft,
    /// The area of the household the person is to join.
    pub area: Option<String>,
    pub threshold: Option<f64>,
}

/// An existing record that may be the same person.
#[derive(Clone, Debug, Serialize)]
pub struct IntakeMatch {
    pub person: Person,
    pub area: String,
    pub probability: f64,
    pub weight: f64,
    pub evidence: Vec<Evidence>,
}

#[derive(Clone, Debug, Serialize)]
pub struct IntakeView {
    /// False when no deduplication run has trained a model yet: nothing was compared.
    pub checked: bool,
    pub matches: Vec<IntakeMatch>,
}

/// One person of an agency's list; every field may be empty.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MatchRow {
    /// The agency's own reference, echoed back.
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub father_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub national_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub area: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchRequest {
    pub rows: Vec<MatchRow>,
    pub threshold: Option<f64>,
}

/// A programme a matched person (or their household) is in.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ProgrammeStatus {
    pub programme: String,
    pub status: String,
    /// `person` or `household`: whom the enrolment is for.
    pub beneficiary: &'static str,
}

/// The answer for one input row.
#[derive(Clone, Debug, Serialize)]
pub struct MatchResult {
    pub row: usize,
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The registry person matched, or none.
    pub person_id: Option<PersonId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// The matched person as the caller may see them (an agency: its field set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person: Option<serde_json::Value>,
    pub programmes: Vec<ProgrammeStatus>,
}

#[derive(Clone, Debug, Serialize)]
pub struct MatchView {
    pub rows: Vec<MatchResult>,
    pub matched: usize,
}

/// The model as stored with a run.
#[derive(Serialize, Deserialize)]
struct StoredModel {
    comparisons: Vec<String>,
    m: Vec<Vec<f64>>,
    u: Vec<Vec<f64>>,
    prior: f64,
}

fn model_json(m: &Model) -> String {
    serde_json::to_string(&StoredModel {
        comparisons: m.comparisons.iter().map(|c| c.code().to_owned()).collect(),
        m: m.m.clone(),
        u: m.u.clone(),
        prior: m.prior,
    })
    .unwrap_or_default()
}

fn model_from_json(s: &str) -> Result<Model, AppError> {
    let stored: StoredModel =
        serde_json::from_str(s).map_err(|e| AppError::Internal(format!("stored linkage model: {e}")))?;
    let comparisons = stored
        .comparisons
        .iter()
        .map(|c| Comparison::from_code(c).ok_or_else(|| AppError::Internal(format!("stored comparison {c:?}"))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Model::new(comparisons, stored.m, stored.u, stored.prior))
}

fn evidence(model: &Model, levels: &[u8]) -> Vec<Evidence> {
    model
        .comparisons
        .iter()
        .enumerate()
        .map(|(i, c)| Evidence {
            comparison: c.code().to_owned(),
            level: c.level_name(levels[i]).to_owned(),
            weight: (model.level_weight(i, levels[i]) * 1000.0).round() / 1000.0,
        })
        .collect()
}

/// A registry person as linkage reads them.
fn link_record(r: &PersonRecord, area: &str) -> LinkRecord {
    registry_record(r, area, &ROLES)
}

/// The roles a registry person can be compared on: a list matched against
/// the registry may use these. Not a full name: the registry keeps names in
/// parts, and a list of full names with dates of birth and sex gave the
/// model nothing to learn from (of 500 registered people, none found; with
/// the same given and family names in columns of their own, 343).
pub const REGISTRY_ROLES: [Role; 8] = with_area(ROLES);

/// `roles` and the area: a list may give each person's area, which a run
/// over the registry leaves out (see [`ROLES`]).
const fn with_area(roles: [Role; 7]) -> [Role; 8] {
    let mut out = [Role::Area; 8];
    let mut i = 0;
    while i < roles.len() {
        out[i] = roles[i];
        i += 1;
    }
    out
}

/// Refuses roles the registry holds nothing for (an address, a locality, a
/// postcode: the registry keeps areas, not addresses).
pub(crate) fn check_registry_roles(roles: &[Role]) -> Result<(), AppError> {
    match roles.iter().find(|r| !REGISTRY_ROLES.contains(r)) {
        None => Ok(()),
        Some(r) => Err(AppError::invalid(
            "fields",
            "role-not-in-registry",
            format!(
                "the registry's people have no {}: a list matched against the registry may use {}",
                r.code(),
                REGISTRY_ROLES.map(Role::code).join(", ")
            ),
        )),
    }
}

/// A registry person as linkage reads them, with the fields of `roles`:
/// both spellings of each name, and the household's area.
fn registry_record(r: &PersonRecord, area: &str, roles: &[Role]) -> LinkRecord {
    let has = |role| roles.contains(&role);
    let dob = r.date_of_birth.map(|d| d.to_string());
    let mut fields: Vec<(Role, &str)> = Vec::new();
    for (role, name) in [
        (Role::GivenName, &r.given_name),
        (Role::FamilyName, &r.family_name),
        (Role::FatherName, &r.father_name),
    ] {
        if has(role) {
            fields.extend(name.spellings().map(|s| (role, s)));
        }
    }
    if has(Role::DateOfBirth)
        && let Some(d) = &dob
    {
        fields.push((Role::DateOfBirth, d));
    }
    if has(Role::Sex) && r.sex != Sex::Other {
        fields.push((Role::Sex, r.sex.code()));
    }
    if has(Role::NationalId) {
        fields.extend(r.identifiers.iter().map(|i| (Role::NationalId, i.value.as_str())));
    }
    if has(Role::Phone)
        && let Some(p) = &r.phone
    {
        fields.push((Role::Phone, p.as_str()));
    }
    if has(Role::Area) {
        fields.push((Role::Area, area));
    }
    // Stored dates are well formed; a record that did not parse compares as empty.
    LinkRecord::parse(fields).unwrap_or_default()
}

/// Random pairs sampled for u: the default, or fewer for a small registry,
/// where a million pairs would mostly repeat the same few.
fn random_pairs(records: usize) -> usize {
    Settings::default()
        .random_pairs
        .min(records.saturating_mul(50).max(20_000))
}

pub(crate) fn check_threshold(t: Option<f64>, default: f64) -> Result<f64, AppError> {
    match t {
        None => Ok(default),
        Some(t) if t.is_finite() && t > 0.0 && t <= 1.0 => Ok(t),
        Some(t) => Err(AppError::invalid(
            "threshold",
            "out-of-range",
            format!("the threshold is a match probability above 0 and at most 1, not {t}"),
        )),
    }
}

fn pair_record(id: &str) -> Record {
    Record::new("dedup_pair", id)
}

fn not_found_pair(id: &str) -> AppError {
    AppError::NotFound {
        what: "pair",
        id: id.to_owned(),
    }
}

/// Fills what the survivor's record lacks from the duplicate's: the other
/// spelling of each name, the date of birth, the phone; and takes every
/// identifier of the duplicate.
fn merged_record(survivor: &PersonRecord, dup: &PersonRecord) -> PersonRecord {
    let name = |a: &Name, b: &Name| Name {
        native: a.native.clone().or_else(|| b.native.clone()),
        latin: a.latin.clone().or_else(|| b.latin.clone()),
    };
    let mut identifiers: Vec<Identifier> = survivor.identifiers.clone();
    for i in &dup.identifiers {
        if !identifiers.contains(i) {
            identifiers.push(i.clone());
        }
    }
    PersonRecord {
        given_name: name(&survivor.given_name, &dup.given_name),
        family_name: name(&survivor.family_name, &dup.family_name),
        father_name: name(&survivor.father_name, &dup.father_name),
        date_of_birth: survivor.date_of_birth.or(dup.date_of_birth),
        phone: survivor.phone.clone().or_else(|| dup.phone.clone()),
        identifiers,
        ..survivor.clone()
    }
}

impl App {
    /// Finds likely duplicates among the active people of the registry (or
    /// of one area) and stores them as pending pairs, leaving out pairs an
    /// officer already decided.
    pub async fn run_dedup(&self, actor: &Actor, req: DedupRunRequest) -> Result<DedupRunView, AppError> {
        actor.require(Permission::DedupReview)?;
        let threshold = check_threshold(req.threshold, DEFAULT_RUN_THRESHOLD)?;
        let area = self.area_in_scope(actor, req.area.as_deref())?;
        let started_at = Utc::now();
        let within = self.scope_filter(actor);
        let (sources, records) = self.registry_records(area, within.as_deref(), &ROLES).await?;
        if sources.len() < 2 {
            return Err(AppError::conflict(
                "too-few-persons",
                format!("{} active people to compare: a run needs at least two", sources.len()),
            ));
        }
        let settings = Settings {
            threshold,
            random_pairs: random_pairs(sources.len()),
            ..Settings::default()
        };
        let outcome = tokio::task::spawn_blocking(move || himaya_linkage::dedupe(&records, &ROLES, &settings))
            .await
            .map_err(|e| AppError::Internal(format!("deduplication worker: {e}")))?;
        let outcome = outcome.map_err(|e| AppError::conflict("too-few-persons", e.to_string()))?;
        let statuses = self.store().pair_statuses().await?;
        let (mut new, mut decided) = (0i64, 0i64);
        let mut found = Vec::new();
        for p in &outcome.pairs {
            let (a, b) = (&sources[p.left as usize], &sources[p.right as usize]);
            let (a, b) = if a.id.to_string() <= b.id.to_string() {
                (a, b)
            } else {
                (b, a)
            };
            match statuses.get(&(a.id.to_string(), b.id.to_string())).map(String::as_str) {
                Some("pending") => {}
                Some(_) => {
                    decided += 1;
                    continue;
                }
                None => new += 1,
            }
            found.push(FoundPair {
                left: a.id,
                right: b.id,
                left_area: a.area.clone(),
                right_area: b.area.clone(),
                probability: p.probability,
                weight: p.weight,
                evidence: serde_json::to_string(&evidence(&outcome.model, &p.levels)).unwrap_or_default(),
            });
        }
        let run = DedupRunRow {
            id: uuid::Uuid::now_v7().to_string(),
            area: area.map(str::to_owned),
            threshold,
            started_by: actor.name.clone(),
            started_at,
            finished_at: Utc::now(),
            persons: sources.len() as i64,
            compared: outcome.compared() as i64,
            pairs_found: outcome.pairs.len() as i64,
            pairs_new: new,
            pairs_decided: decided,
            model: model_json(&outcome.model),
        };
        self.store().save_dedup_run(&run, &found).await?;
        self.audit(
            actor,
            "dedup.run",
            Some(Record::new("dedup_run", &run.id)),
            json!({"area": run.area, "persons": run.persons, "pairs_found": run.pairs_found,
                   "pairs_new": run.pairs_new, "pairs_decided": run.pairs_decided}),
        )
        .await?;
        Ok(run.into())
    }

    async fn pair_view(&self, row: PairRow) -> Result<PairView, AppError> {
        let left = self
            .store()
            .person(row.left)
            .await?
            .ok_or_else(|| not_found_person(row.left))?;
        let right = self
            .store()
            .person(row.right)
            .await?
            .ok_or_else(|| not_found_person(row.right))?;
        let evidence: Vec<Evidence> = serde_json::from_str(&row.evidence).unwrap_or_default();
        Ok(PairView {
            id: row.id,
            status: row.status,
            probability: row.probability,
            weight: row.weight,
            evidence,
            left,
            right,
            left_area: row.left_area,
            right_area: row.right_area,
            run_id: row.run_id,
            found_at: row.found_at,
            decided_by: row.decided_by,
            decided_at: row.decided_at,
            reason: row.reason,
            survivor: row.survivor,
        })
    }

    /// The review queue: pairs (pending by default) with both people in the
    /// caller's areas, most probable first.
    pub async fn dedup_pairs(&self, actor: &Actor, q: &PairQuery) -> Result<Page<PairView>, AppError> {
        actor.require(Permission::DedupRead)?;
        let mut problem = Problem::default();
        let status = q.status.as_deref().map(str::trim).unwrap_or("pending");
        if !STATUSES.contains(&status) {
            problem.push(
                "status",
                "not-allowed",
                format!("{status:?} is not one of: {}", STATUSES.join(", ")),
            );
        }
        let area = q.area.as_deref().map(str::trim).filter(|a| !a.is_empty());
        if let Some(a) = area
            && !self.area_known(a)
        {
            problem.push("area", "area-unknown", format!("{a:?} is not an area"));
        }
        let after = match q.cursor.as_deref() {
            None => None,
            Some(c) => match c
                .split_once('_')
                .and_then(|(p, id)| Some((p.parse::<f64>().ok()?, id.to_owned())))
            {
                Some(after) => Some(after),
                None => {
                    problem.push("cursor", "cursor-invalid", "not a cursor this server issued");
                    None
                }
            },
        };
        let limit = page_size(q.limit)?;
        if !problem.is_empty() {
            return Err(problem.into());
        }
        if let Some(a) = area {
            self.require_area(actor, a)?;
        }
        let rows = self
            .store()
            .dedup_pairs(&PairFilter {
                status: Some(status.to_owned()),
                area: area.map(str::to_owned),
                within: self.scope_filter(actor),
                after,
                limit: limit + 1,
            })
            .await?;
        let more = rows.len() > limit as usize;
        let mut items = Vec::new();
        for row in rows.into_iter().take(limit as usize) {
            items.push(self.pair_view(row).await?);
        }
        let next_cursor = more
            .then(|| items.last().map(|p| format!("{}_{}", p.probability, p.id)))
            .flatten();
        let showed: Vec<String> = items
            .iter()
            .flat_map(|p| [p.left.id.to_string(), p.right.id.to_string()])
            .collect();
        self.audit_read(
            actor,
            "dedup.pairs.list",
            None,
            json!({"status": status, "area": area, "pairs": items.iter().map(|p| &p.id).collect::<Vec<_>>()}),
            showed,
        )
        .await?;
        Ok(Page { items, next_cursor })
    }

    /// One pair with both records.
    pub async fn dedup_pair(&self, actor: &Actor, id: &str) -> Result<PairView, AppError> {
        actor.require(Permission::DedupRead)?;
        let row = self.store().dedup_pair(id).await?.ok_or_else(|| not_found_pair(id))?;
        self.require_area(actor, &row.left_area)?;
        self.require_area(actor, &row.right_area)?;
        let view = self.pair_view(row).await?;
        self.audit_read(
            actor,
            "dedup.pair.read",
            Some(pair_record(id)),
            json!({}),
            vec![view.left.id.to_string(), view.right.id.to_string()],
        )
        .await?;
        Ok(view)
    }

    /// Records an officer's decision on a pending pair.
    pub async fn decide_pair(&self, actor: &Actor, id: &str, d: PairDecision) -> Result<PairView, AppError> {
        actor.require(Permission::DedupReview)?;
        let decision = d.decision.trim();
        let mut problem = Problem::default();
        if !matches!(decision, "same_person" | "different_people") {
            problem.push(
                "decision",
                "not-allowed",
                format!("{decision:?} is not one of: same_person, different_people"),
            );
        }
        let reason = match check_change_reason(d.reason.as_deref(), "reason", false) {
            Ok(r) => r,
            Err(p) => {
                problem.errors.extend(p.errors);
                None
            }
        };
        if !problem.is_empty() {
            return Err(problem.into());
        }
        let mut tx = self.store().begin().await?;
        let row = tx.dedup_pair(id).await?.ok_or_else(|| not_found_pair(id))?;
        self.require_area(actor, &row.left_area)?;
        self.require_area(actor, &row.right_area)?;
        if row.status != "pending" {
            return Err(pair_decided(&row));
        }
        if !tx
            .decide_pair(
                id,
                "pending",
                &PairDecisionRow {
                    status: decision,
                    by: &actor.name,
                    at: Utc::now(),
                    reason: reason.as_deref(),
                    survivor: None,
                },
            )
            .await?
        {
            return Err(AppError::conflict(
                "concurrent-change",
                "the pair was decided at the same moment",
            ));
        }
        tx.commit().await?;
        self.audit(
            actor,
            "dedup.decide",
            Some(pair_record(id)),
            json!({"decision": decision, "left": row.left, "right": row.right}),
        )
        .await?;
        let row = self.store().dedup_pair(id).await?.ok_or_else(|| not_found_pair(id))?;
        self.pair_view(row).await
    }

    /// Merges the pair's other record into `survivor`: the survivor takes the
    /// other's identifiers, the names, date of birth and phone it lacks, its
    /// enrolments, compliance records, accounts and entitlements; the other
    /// record stays, with its history, marked as merged into the survivor.
    pub async fn merge_pair(&self, actor: &Actor, id: &str, m: PairMerge) -> Result<MergeView, AppError> {
        actor.require(Permission::DedupMerge)?;
        let source = parse_source(m.source.as_deref(), actor)?;
        let reason = check_change_reason(m.reason.as_deref(), "reason", false)?;
        let mut tx = self.store().begin().await?;
        let row = tx.dedup_pair(id).await?.ok_or_else(|| not_found_pair(id))?;
        self.require_area(actor, &row.left_area)?;
        self.require_area(actor, &row.right_area)?;
        let dup_id = if m.survivor == row.left {
            row.right
        } else if m.survivor == row.right {
            row.left
        } else {
            return Err(AppError::invalid(
                "survivor",
                "not-allowed",
                "the survivor must be one of the pair's two people",
            ));
        };
        if !matches!(row.status.as_str(), "pending" | "same_person") {
            return Err(pair_decided(&row));
        }
        let survivor = tx
            .person(m.survivor)
            .await?
            .ok_or_else(|| not_found_person(m.survivor))?;
        let dup = tx.person(dup_id).await?.ok_or_else(|| not_found_person(dup_id))?;
        // Both households locked, in id order, before their members are read again.
        let (hs, hd) = if survivor.household_id == dup.household_id {
            let h = self.household_in(&mut tx, survivor.household_id).await?;
            (h.clone(), h)
        } else {
            let (a, b) = self
                .households_in(&mut tx, survivor.household_id, dup.household_id)
                .await?;
            (
                a.ok_or_else(|| AppError::Internal("survivor's household".into()))?,
                b.ok_or_else(|| AppError::Internal("duplicate's household".into()))?,
            )
        };
        let (survivor, dup) = (
            tx.person(m.survivor)
                .await?
                .ok_or_else(|| not_found_person(m.survivor))?,
            tx.person(dup_id).await?.ok_or_else(|| not_found_person(dup_id))?,
        );
        if !survivor.record.is_active() || !dup.record.is_active() {
            return Err(AppError::conflict(
                "person-inactive",
                "both records must be active to merge: one is deceased, moved out or merged",
            ));
        }
        let dup_members = tx.household_members(hd.id).await?;
        let others_active = dup_members.iter().any(|p| p.id != dup.id && p.record.is_active());
        if dup.record.relationship == Relationship::Head && others_active && hd.id != hs.id {
            return Err(AppError::conflict(
                "household-needs-one-head",
                "the record to be merged heads a household with other members: change its head first, or keep it \
                 as the survivor",
            ));
        }
        if dup.record.relationship == Relationship::Head && hd.id == hs.id {
            return Err(AppError::conflict(
                "household-needs-one-head",
                "the record to be merged is its household's head: keep it as the survivor",
            ));
        }
        let today = Utc::now().date_naive();
        let meta = self.meta(actor, source, ChangeKind::Merge, reason.clone());
        let dup_record = PersonRecord {
            status: PersonStatus::Merged,
            status_date: Some(today),
            status_reason: Some(format!("merged into {}", survivor.id)),
            ..dup.record.clone()
        };
        // The duplicate first: its identifiers become inactive, so the survivor may take them.
        self.write_person(&mut tx, &dup, dup.household_id, &hd.record.area, &dup_record, &meta)
            .await?;
        let survivor_record = merged_record(&survivor.record, &dup.record);
        if survivor_record != survivor.record {
            self.write_person(
                &mut tx,
                &survivor,
                survivor.household_id,
                &hs.record.area,
                &survivor_record,
                &meta,
            )
            .await?;
        }
        let moved = tx
            .move_person_links(dup.id, survivor.id, survivor.household_id, &hs.record.area)
            .await?;
        if hd.id != hs.id && !others_active && hd.record.status == HouseholdStatus::Active {
            // Nobody active remains: the duplicate's household ends with the merge.
            let record = HouseholdRecord {
                status: HouseholdStatus::Inactive,
                status_reason: Some("all members merged into records of other households".into()),
                ..hd.record.clone()
            };
            self.write_household(&mut tx, &hd, &record, &meta).await?;
        }
        if !tx
            .decide_pair(
                id,
                &row.status,
                &PairDecisionRow {
                    status: "merged",
                    by: &actor.name,
                    at: meta.at,
                    reason: reason.as_deref(),
                    survivor: Some(survivor.id),
                },
            )
            .await?
        {
            return Err(AppError::conflict(
                "concurrent-change",
                "the pair was decided at the same moment",
            ));
        }
        tx.supersede_pairs_of(dup.id).await?;
        tx.commit().await?;
        self.audit(
            actor,
            "dedup.merge",
            Some(person_record(&survivor.id)),
            json!({"pair": id, "merged": dup.id, "moved": moved}),
        )
        .await?;
        let row = self.store().dedup_pair(id).await?.ok_or_else(|| not_found_pair(id))?;
        let pair = self.pair_view(row).await?;
        Ok(MergeView {
            survivor: pair_person(&pair, survivor.id).clone(),
            merged: pair_person(&pair, dup.id).clone(),
            moved,
            pair,
        })
    }

    /// The registered people a new record may be, before it is saved: those
    /// sharing an identifier, the phone or its name words, scored with the
    /// model of the latest deduplication run.
    pub async fn check_intake(&self, actor: &Actor, c: IntakeCheck) -> Result<IntakeView, AppError> {
        actor.require(Permission::PersonsRead)?;
        if actor.fields().is_some() {
            // The evidence would reveal fields the agency's field set may hide.
            return Err(AppError::forbidden(
                "permission-denied",
                "partner agencies match people with POST /api/v1/matches",
            ));
        }
        let threshold = check_threshold(c.threshold, DEFAULT_MATCH_THRESHOLD);
        let record = c.person.check(&self.rules(), "person");
        let area = c.area.as_deref().map(str::trim).filter(|a| !a.is_empty());
        let mut problem = Problem::default();
        if let Err(AppError::Invalid(p)) = &threshold {
            problem.errors.extend(p.errors.clone());
        }
        if let Err(p) = &record {
            problem.errors.extend(p.errors.clone());
        }
        if let Some(a) = area
            && !self.area_known(a)
        {
            problem.push("area", "area-unknown", format!("{a:?} is not an area"));
        }
        if !problem.is_empty() {
            return Err(problem.into());
        }
        let (threshold, record) = (threshold?, record?);
        let Some(model) = self.store().latest_dedup_model().await? else {
            return Ok(IntakeView {
                checked: false,
                matches: Vec::new(),
            });
        };
        let model = model_from_json(&model)?;
        let identifiers: Vec<String> = record.identifiers.iter().map(|i| i.value.clone()).collect();
        let tokens = himaya_store::name_tokens(&record);
        let within = self.scope_filter(actor);
        let candidates = self
            .store()
            .match_candidates(
                &identifiers,
                record.phone.as_ref().map(|p| p.as_str()),
                &tokens,
                tokens.len().min(2),
                within.as_deref(),
                INTAKE_CANDIDATES,
            )
            .await?;
        let new = link_record(&record, area.unwrap_or(""));
        let mut matches: Vec<IntakeMatch> = Vec::new();
        for cand in candidates {
            let p = himaya_linkage::score_pair(&model, &new, &link_record(&cand.record, &cand.area));
            if p.probability < threshold {
                continue;
            }
            let person = self
                .store()
                .person(cand.id)
                .await?
                .ok_or_else(|| not_found_person(cand.id))?;
            matches.push(IntakeMatch {
                person,
                area: cand.area,
                probability: p.probability,
                weight: p.weight,
                evidence: evidence(&model, &p.levels),
            });
        }
        matches.sort_by(|a, b| b.probability.total_cmp(&a.probability));
        matches.truncate(INTAKE_MATCHES);
        self.audit_read(
            actor,
            "dedup.intake_check",
            None,
            json!({"matches": matches.len()}),
            matches.iter().map(|m| m.person.id.to_string()).collect(),
        )
        .await?;
        Ok(IntakeView { checked: true, matches })
    }

    /// Matches an agency's list against the registry's active people in the
    /// caller's areas: per row the person found (if any), the probability,
    /// and the programmes the caller may know of.
    pub async fn match_persons(&self, actor: &Actor, req: MatchRequest) -> Result<MatchView, AppError> {
        actor.require(Permission::PersonsMatch)?;
        let threshold = check_threshold(req.threshold, DEFAULT_MATCH_THRESHOLD)?;
        let records =
            self.check_match_rows(&req.rows, MAX_MATCH_ROWS, "per request; split the list or submit a job")?;
        let within = self.scope_filter(actor);
        let registry = self.match_registry(within.as_deref()).await?;
        let best = best_matches(registry.clone(), records, threshold).await?;
        let found = req
            .rows
            .into_iter()
            .zip(best)
            .enumerate()
            .map(|(i, (row, best))| (i, row.reference, best.map(|(r, p)| (&registry.sources[r as usize], p))))
            .collect();
        let rows = self.match_results(actor, found).await?;
        let matched = rows.iter().filter(|r| r.person_id.is_some()).count();
        self.audit_read(
            actor,
            "persons.match",
            None,
            json!({"rows": rows.len(), "matched": matched}),
            revealed(&rows),
        )
        .await?;
        Ok(MatchView { rows, matched })
    }

    /// Links a list of people, read by linkage with `roles`, against the
    /// registry's active people (of `area`, within the actor's areas): the
    /// list is the left of the outcome, the registry the right, in the order
    /// of [`RegistryLink::people`]. The model is learnt from the list and
    /// the registry together, as for two lists: the latest deduplication
    /// run's model, learnt on registrations in both scripts, found fewer of
    /// a list's people (143 against 187 of a test list of 200 in Latin
    /// letters). Every registry person a kept pair names is recorded in the
    /// audit trail.
    pub async fn link_with_registry(
        &self,
        actor: &Actor,
        list: Vec<LinkRecord>,
        roles: &[Role],
        settings: Settings,
        area: Option<&str>,
    ) -> Result<RegistryLink, AppError> {
        actor.require(Permission::PersonsMatch)?;
        check_registry_roles(roles)?;
        if list.is_empty() {
            return Err(AppError::invalid("rows", "required", "the list has no record to match"));
        }
        let area = self.area_in_scope(actor, area)?;
        let within = self.scope_filter(actor);
        let (people, registry) = self.registry_records(area, within.as_deref(), roles).await?;
        if people.is_empty() {
            return Err(AppError::conflict(
                "no-persons",
                "the registry has no active people here to match the list against",
            ));
        }
        let people: Vec<PersonId> = people.into_iter().map(|p| p.id).collect();
        let roles = roles.to_vec();
        let rows = list.len();
        // A short list needs fewer random pairs for u, as a small registry does.
        let settings = Settings {
            random_pairs: settings.random_pairs.min(random_pairs(rows)),
            ..settings
        };
        let outcome = tokio::task::spawn_blocking(move || {
            let mut records = list;
            records.extend(registry);
            himaya_linkage::link(&records, rows, &roles, &settings)
        })
        .await
        .map_err(|e| AppError::Internal(format!("match worker: {e}")))?;
        let outcome = outcome.map_err(|e| AppError::conflict("match-impossible", e.to_string()))?;
        let revealed: Vec<String> = outcome
            .pairs
            .iter()
            .map(|p| people[p.right as usize].to_string())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        self.audit_read(
            actor,
            "persons.match",
            None,
            json!({"rows": rows, "registry": people.len(), "pairs": outcome.pairs.len()}),
            revealed,
        )
        .await?;
        Ok(RegistryLink { people, outcome })
    }

    /// The active people (of `area`, within `within`) as linkage reads them
    /// with `roles`, in id order, with each one's id and area. Records are
    /// read a page at a time, on every core, and only what linkage compares
    /// is kept: over six million people, holding every whole record as well
    /// cost a gigabyte more and 40 s longer.
    async fn registry_records(
        &self,
        area: Option<&str>,
        within: Option<&[String]>,
        roles: &[Role],
    ) -> Result<(Vec<RegistryPerson>, Vec<LinkRecord>), AppError> {
        use futures_util::TryStreamExt;
        const PAGE: usize = 32_768;
        let (mut people, mut records) = (Vec::new(), Vec::new());
        let mut stream = self.store().dedup_source_stream(area, within);
        let mut page = Vec::with_capacity(PAGE);
        loop {
            let next = stream.try_next().await?;
            let done = next.is_none();
            page.extend(next);
            if page.len() < PAGE && !done {
                continue;
            }
            let sources = std::mem::replace(&mut page, Vec::with_capacity(PAGE));
            let roles = roles.to_vec();
            let read = tokio::task::spawn_blocking(move || {
                use rayon::prelude::*;
                sources
                    .into_par_iter()
                    .map(|s| {
                        let record = registry_record(&s.record, &s.area, &roles);
                        (RegistryPerson { id: s.id, area: s.area }, record)
                    })
                    .unzip::<_, _, Vec<_>, Vec<_>>()
            })
            .await
            .map_err(|e| AppError::Internal(format!("linkage reader: {e}")))?;
            people.extend(read.0);
            records.extend(read.1);
            if done {
                return Ok((people, records));
            }
        }
    }

    /// A requested area, trimmed, that exists and lies within the actor's areas.
    fn area_in_scope<'a>(&self, actor: &Actor, area: Option<&'a str>) -> Result<Option<&'a str>, AppError> {
        let area = area.map(str::trim).filter(|a| !a.is_empty());
        if let Some(a) = area {
            if !self.area_known(a) {
                return Err(AppError::invalid(
                    "area",
                    "area-unknown",
                    format!("{a:?} is not an area"),
                ));
            }
            self.require_area(actor, a)?;
        }
        Ok(area)
    }

    /// Every row of an agency's list as linkage reads it, or every row's
    /// problems (the first hundred) before any work.
    pub(crate) fn check_match_rows(
        &self,
        rows: &[MatchRow],
        max: usize,
        advice: &str,
    ) -> Result<Vec<LinkRecord>, AppError> {
        if rows.is_empty() {
            return Err(AppError::invalid("rows", "required", "send at least one row"));
        }
        if rows.len() > max {
            return Err(AppError::invalid(
                "rows",
                "too-many",
                format!("{} rows: at most {max} {advice}", rows.len()),
            ));
        }
        let mut problem = Problem::default();
        let mut records = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            if problem.errors.len() >= 100 {
                break;
            }
            match match_record(row, i, |a| self.area_known(a)) {
                Ok(r) => records.push(r),
                Err(p) => problem.errors.extend(p.errors),
            }
        }
        if !problem.is_empty() {
            return Err(problem.into());
        }
        Ok(records)
    }

    /// What a list is matched against: the active people within `within`.
    pub(crate) async fn match_registry(&self, within: Option<&[String]>) -> Result<Arc<MatchRegistry>, AppError> {
        let sources = self.store().dedup_sources(None, within).await?;
        Ok(Arc::new(MatchRegistry { sources }))
    }

    /// The answers for rows whose best match is known: each matched person as
    /// `actor` may see them and the programmes `actor` may know of.
    pub(crate) async fn match_results(
        &self,
        actor: &Actor,
        found: Vec<Found<'_>>,
    ) -> Result<Vec<MatchResult>, AppError> {
        let mut beneficiaries: BTreeSet<String> = BTreeSet::new();
        for (_, _, m) in &found {
            if let Some((s, _)) = m {
                beneficiaries.insert(s.id.to_string());
                beneficiaries.insert(s.household_id.to_string());
            }
        }
        let beneficiaries: Vec<String> = beneficiaries.into_iter().collect();
        let mut programmes: HashMap<String, Vec<(String, String)>> = HashMap::new();
        for (b, code, status) in self.store().programmes_of(&beneficiaries).await? {
            let allowed = actor.fields().is_none_or(|f| f.shows_programme(&code));
            if allowed {
                programmes.entry(b).or_default().push((code, status));
            }
        }
        let mut rows = Vec::with_capacity(found.len());
        let mut people: HashMap<PersonId, serde_json::Value> = HashMap::new();
        for (i, reference, best) in found {
            let Some((s, probability)) = best else {
                rows.push(MatchResult {
                    row: i,
                    reference,
                    person_id: None,
                    probability: None,
                    person: None,
                    programmes: Vec::new(),
                });
                continue;
            };
            let person = match people.get(&s.id) {
                Some(p) => p.clone(),
                None => {
                    let mut v = serde_json::to_value(Person {
                        id: s.id,
                        household_id: s.household_id,
                        version: 0,
                        record: s.record.clone(),
                        created_at: DateTime::<Utc>::UNIX_EPOCH,
                        updated_at: DateTime::<Utc>::UNIX_EPOCH,
                    })
                    .unwrap_or_default();
                    if let Some(map) = v.as_object_mut() {
                        for k in ["version", "created_at", "updated_at"] {
                            map.remove(k);
                        }
                    }
                    actor.show_person(&mut v);
                    people.insert(s.id, v.clone());
                    v
                }
            };
            let mut list: Vec<ProgrammeStatus> = Vec::new();
            for (key, beneficiary) in [(s.id.to_string(), "person"), (s.household_id.to_string(), "household")] {
                for (code, status) in programmes.get(&key).into_iter().flatten() {
                    list.push(ProgrammeStatus {
                        programme: code.clone(),
                        status: status.clone(),
                        beneficiary,
                    });
                }
            }
            rows.push(MatchResult {
                row: i,
                reference,
                person_id: Some(s.id),
                probability: Some((probability * 1e6).round() / 1e6),
                person: Some(person),
                programmes: list,
            });
        }
        Ok(rows)
    }
}

/// A row of a list with its best match: (row, ref, the person matched and
/// the probability).
pub(crate) type Found<'a> = (usize, Option<String>, Option<(&'a DedupSource, f64)>);

/// Who a registry record read for linkage is, and where they live.
struct RegistryPerson {
    id: PersonId,
    area: String,
}

/// A list linked against the registry.
pub struct RegistryLink {
    /// The registry's people, in the order they follow the list in the outcome.
    pub people: Vec<PersonId>,
    pub outcome: himaya_linkage::Outcome,
}

/// The registry a list is matched against.
pub(crate) struct MatchRegistry {
    pub sources: Vec<DedupSource>,
}

/// Each record's most probable registry person (an index into the
/// registry's sources) at or above the threshold: the one matching of
/// agency lists, for a request and for each part of a job alike.
pub(crate) async fn best_matches(
    registry: Arc<MatchRegistry>,
    mut records: Vec<LinkRecord>,
    threshold: f64,
) -> Result<Vec<Option<(u32, f64)>>, AppError> {
    let n = records.len();
    let best = tokio::task::spawn_blocking(move || {
        let mut best: Vec<Option<(u32, f64)>> = vec![None; n];
        if registry.sources.is_empty() {
            return Ok(best);
        }
        records.extend(registry.sources.iter().map(|s| link_record(&s.record, &s.area)));
        let settings = Settings {
            threshold,
            random_pairs: random_pairs(records.len()),
            ..Settings::default()
        };
        // Learnt from the list and the registry together, as a list is
        // matched from the command line: the latest deduplication run's
        // model, learnt on registrations in both scripts with every field,
        // found 254 of a test list of 500 registered people (given, family
        // and father's names, date of birth, sex, CNIC for half, phone) where
        // this finds 461, none wrongly in either.
        let outcome = himaya_linkage::link(&records, n, &ROLES, &settings)?;
        for p in outcome.pairs {
            let slot = &mut best[p.left as usize];
            if slot.is_none_or(|(_, q)| p.probability > q) {
                *slot = Some((p.right, p.probability));
            }
        }
        Ok(best)
    })
    .await
    .map_err(|e| AppError::Internal(format!("match worker: {e}")))?;
    best.map_err(|e: himaya_linkage::LinkError| AppError::conflict("match-impossible", e.to_string()))
}

/// The people a list of results reveals, each once.
pub(crate) fn revealed(rows: &[MatchResult]) -> Vec<String> {
    rows.iter()
        .filter_map(|r| r.person_id.map(|p| p.to_string()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn pair_person(p: &PairView, id: PersonId) -> &Person {
    if p.left.id == id { &p.left } else { &p.right }
}

fn pair_decided(row: &PairRow) -> AppError {
    AppError::conflict(
        "pair-decided",
        format!(
            "the pair was already decided ({}) by {}",
            row.status,
            row.decided_by.as_deref().unwrap_or("a run")
        ),
    )
}

fn text(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// One agency row as linkage reads it, or what is wrong with it.
pub(crate) fn match_record(row: &MatchRow, i: usize, area_known: impl Fn(&str) -> bool) -> Result<LinkRecord, Problem> {
    let mut problem = Problem::default();
    let f = |name: &str| format!("rows[{i}].{name}");
    for (name, v) in [
        ("ref", &row.reference),
        ("given_name", &row.given_name),
        ("family_name", &row.family_name),
        ("father_name", &row.father_name),
        ("national_id", &row.national_id),
        ("phone", &row.phone),
    ] {
        if let Some(s) = text(v) {
            if s.chars().count() > 200 {
                problem.push(f(name), "too-long", "at most 200 characters");
            } else if s.chars().any(char::is_control) {
                problem.push(f(name), "invalid-character", "control characters are not allowed");
            }
        }
    }
    if let Some(s) = text(&row.sex)
        && Sex::from_code(s).is_none()
    {
        problem.push(
            f("sex"),
            "not-allowed",
            format!("{s:?} is not one of: {}", Sex::codes()),
        );
    }
    if let Some(a) = text(&row.area)
        && !area_known(a)
    {
        problem.push(f("area"), "area-unknown", format!("{a:?} is not an area"));
    }
    let mut fields: Vec<(Role, &str)> = Vec::new();
    for (role, v) in [
        (Role::GivenName, &row.given_name),
        (Role::FamilyName, &row.family_name),
        (Role::FatherName, &row.father_name),
        (Role::DateOfBirth, &row.date_of_birth),
        (Role::Sex, &row.sex),
        (Role::NationalId, &row.national_id),
        (Role::Phone, &row.phone),
    ] {
        if let Some(s) = text(v) {
            fields.push((role, s));
        }
    }
    if fields.iter().all(|(r, _)| *r == Role::Sex) {
        problem.push(
            f("given_name"),
            "required",
            "a row needs a name, a date of birth, an identifier or a phone to be matched",
        );
    }
    let record = LinkRecord::parse(fields);
    match &record {
        Err(e @ himaya_linkage::ValueError::Date(..)) => problem.push(f("date_of_birth"), "date-format", e.to_string()),
        Err(e @ himaya_linkage::ValueError::Sex(_)) => problem.push(f("sex"), "not-allowed", e.to_string()),
        Ok(_) => {}
    }
    if !problem.is_empty() {
        return Err(problem);
    }
    record.map_err(|_| problem)
}
