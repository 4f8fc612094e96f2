//! Programmes and their versions, targeting runs, decisions and enrolments,
//! enrolment transitions and queued notifications.

use chrono::{DateTime, Utc};
use himaya_domain::enrolment::EnrolmentStatus;
use himaya_domain::household::HouseholdId;
use himaya_domain::person::PersonId;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::registry::{is_unique_violation, uuid_of};
use crate::{Backend, Store, StoreError, parse_time, time_text};

/// A saved version of a programme.
#[derive(Clone, Debug)]
pub struct ProgrammeRow {
    pub code: String,
    pub version: i64,
    /// The definition as JSON.
    pub definition: String,
    pub saved_at: DateTime<Utc>,
    pub saved_by: String,
}

/// A household as targeting reads it: its attributes and its active
/// members' facts (as stored JSON, parsed by the caller on every core),
/// and the programmes it or its members are in.
#[derive(Clone, Debug)]
pub struct TargetingUnit {
    pub id: HouseholdId,
    pub area_code: String,
    pub updated_at: DateTime<Utc>,
    /// The household's attributes, as JSON (`{}` when the page skipped them).
    pub attributes: String,
    /// Its active members' facts, in id order: `[["person id", PersonFacts], …]`.
    pub member_facts: String,
    /// (programme code, beneficiary id) of active enrolments: enrolled or paused.
    pub enrolments: Vec<(String, String)>,
    /// Those of them that are paused.
    pub paused: Vec<(String, String)>,
    /// Compliance recorded for the members: (person, kind, quarter, value).
    pub compliance: Vec<ComplianceRow>,
}

/// One recorded value of compliance with a programme condition.
#[derive(Clone, Debug, PartialEq)]
pub struct ComplianceRow {
    pub person_id: PersonId,
    pub household_id: HouseholdId,
    /// `school_attendance` or `health_visits`.
    pub kind: String,
    /// `2026-Q3`: sorts in time order.
    pub period: String,
    pub value: f64,
}

/// One decision of a run, to be written.
#[derive(Clone, Debug)]
pub struct DecisionRow {
    pub beneficiary_id: String,
    pub household_id: HouseholdId,
    pub area_code: String,
    pub status: EnrolmentStatus,
    pub pmt_score: Option<f64>,
    pub amount: Option<i64>,
    pub recipient_id: Option<PersonId>,
    pub reason: Option<String>,
}

/// Where a beneficiary stands in a programme.
#[derive(Clone, Debug, serde::Serialize)]
pub struct EnrolmentRow {
    pub programme_code: String,
    pub beneficiary_id: String,
    pub household_id: String,
    pub area_code: String,
    pub status: EnrolmentStatus,
    pub programme_version: i64,
    pub run_id: Option<String>,
    pub pmt_score: Option<f64>,
    pub amount: Option<i64>,
    pub recipient_id: Option<String>,
    pub reason: Option<String>,
    pub decided_at: DateTime<Utc>,
    pub changed_at: DateTime<Utc>,
}

/// A recorded transition.
#[derive(Clone, Debug, serde::Serialize)]
pub struct EnrolmentEvent {
    pub from_status: EnrolmentStatus,
    pub to_status: EnrolmentStatus,
    pub reason: Option<String>,
    pub actor: String,
    pub at: DateTime<Utc>,
    pub programme_version: i64,
}

/// What enrolling must respect, checked in the transaction that enrols.
#[derive(Clone, Debug, Default)]
pub struct Admission {
    pub quota: Option<u64>,
    /// Per cycle, in minor units.
    pub budget: Option<i64>,
    /// Programmes whose enrolled or paused beneficiaries cannot join.
    pub exclusive_with: Vec<String>,
}

impl Admission {
    /// Whether a quota or a budget limits how many the programme takes in.
    pub fn is_capped(&self) -> bool {
        self.quota.is_some() || self.budget.is_some()
    }
}

/// A batch of moves along the enrolment lifecycle.
struct Transition<'a> {
    programme: &'a str,
    beneficiaries: &'a [String],
    from: EnrolmentStatus,
    to: EnrolmentStatus,
    reason: Option<&'a str>,
    actor: &'a str,
    version: i64,
    at: &'a str,
    admission: Option<&'a Admission>,
    notifications: &'a [NotificationRow],
}

/// [`Store::transition_enrolments`] on SQLite's own API, with prepared
/// statements: enrolling a million households is a million of each.
fn sqlite_transition(conn: &mut rusqlite::Connection, t: &Transition<'_>) -> Result<Moves, StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut moves = Moves::default();
    let mut totals = (0u64, 0i64);
    if t.admission.is_some_and(Admission::is_capped) {
        totals = tx.query_row(
            "SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM enrolments WHERE programme_code = ?1 \
             AND status IN ('enrolled', 'paused')",
            [t.programme],
            |r| Ok((r.get::<_, i64>(0)?.max(0) as u64, r.get(1)?)),
        )?;
    }
    {
        let mut amount_of = tx.prepare_cached(
            "SELECT amount FROM enrolments WHERE programme_code = ?1 AND beneficiary_id = ?2 AND status = ?3",
        )?;
        let exclusive = t.admission.map(|a| a.exclusive_with.clone()).unwrap_or_default();
        let mut excluded_by = (!exclusive.is_empty())
            .then(|| {
                let list = vec!["?"; exclusive.len()].join(", ");
                tx.prepare(&format!(
                    "SELECT programme_code FROM enrolments WHERE beneficiary_id = ? \
                     AND status IN ('enrolled', 'paused') AND programme_code IN ({list}) LIMIT 1"
                ))
            })
            .transpose()?;
        let mut update = tx.prepare_cached(
            "UPDATE enrolments SET status = ?1, reason = ?2, changed_at = ?3 \
             WHERE programme_code = ?4 AND beneficiary_id = ?5 AND status = ?6",
        )?;
        let mut event = tx.prepare_cached(
            "INSERT INTO enrolment_events (id, programme_code, beneficiary_id, from_status, to_status, reason, actor, at, \
             programme_version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        for b in t.beneficiaries {
            if let Some(a) = t.admission {
                let amount: Option<Option<i64>> = amount_of
                    .query_row(rusqlite::params![t.programme, b, t.from.code()], |r| r.get(0))
                    .map(Some)
                    .or_else(|e| match e {
                        rusqlite::Error::QueryReturnedNoRows => Ok(None),
                        e => Err(e),
                    })?;
                let Some(amount) = amount else { continue };
                let amount = amount.unwrap_or(0);
                if a.quota.is_some_and(|q| totals.0 >= q)
                    || a.budget.is_some_and(|limit| totals.1.saturating_add(amount) > limit)
                {
                    moves.full = true;
                    break;
                }
                if let Some(q) = excluded_by.as_mut() {
                    let params = std::iter::once(b.as_str()).chain(exclusive.iter().map(String::as_str));
                    if q.exists(rusqlite::params_from_iter(params))? {
                        moves.excluded.push(b.clone());
                        continue;
                    }
                }
                totals = (totals.0 + 1, totals.1.saturating_add(amount));
            }
            let done = update.execute(rusqlite::params![
                t.to.code(),
                t.reason,
                t.at,
                t.programme,
                b,
                t.from.code()
            ])?;
            if done == 0 {
                continue;
            }
            event.execute(rusqlite::params![
                uuid::Uuid::now_v7().to_string(),
                t.programme,
                b,
                t.from.code(),
                t.to.code(),
                t.reason,
                t.actor,
                t.at,
                t.version
            ])?;
            moves.moved.push(b.clone());
        }
        let moved: std::collections::HashSet<&String> = moves.moved.iter().collect();
        let mut note = tx.prepare_cached(
            "INSERT INTO notifications (id, household_id, person_id, phone, language, body, status, queued_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7)",
        )?;
        for n in t.notifications.iter().filter(|n| moved.contains(&n.beneficiary_id)) {
            note.execute(rusqlite::params![
                uuid::Uuid::now_v7().to_string(),
                n.household_id.to_string(),
                n.person_id.map(|p| p.to_string()),
                n.phone,
                n.language,
                n.body,
                t.at
            ])?;
        }
    }
    tx.commit()?;
    Ok(moves)
}

/// What a batch of moves did.
#[derive(Clone, Debug, Default)]
pub struct Moves {
    pub moved: Vec<String>,
    /// The quota or budget stopped the moves before the end of the batch.
    pub full: bool,
    /// Left where they were: already in a programme this one excludes.
    pub excluded: Vec<String>,
}

/// A targeting run as recorded.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RunRow {
    pub id: String,
    pub programme_code: String,
    pub programme_version: i64,
    pub area_code: Option<String>,
    pub actor: String,
    pub status: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The run's report as JSON.
    pub report: Option<String>,
}

/// An SMS waiting for a delivery adapter.
#[derive(Clone, Debug)]
pub struct NotificationRow {
    /// The enrolment it announces: queued only if that enrolment is made.
    pub beneficiary_id: String,
    pub household_id: HouseholdId,
    pub person_id: Option<PersonId>,
    pub phone: Option<String>,
    pub language: String,
    pub body: String,
}

fn status_of(row: &AnyRow, col: &str) -> Result<EnrolmentStatus, StoreError> {
    let s: String = row.try_get(col)?;
    EnrolmentStatus::from_code(&s).ok_or_else(|| StoreError::Corrupt(format!("enrolment status {s:?}")))
}

fn programme_row(row: &AnyRow) -> Result<ProgrammeRow, StoreError> {
    Ok(ProgrammeRow {
        code: row.try_get("code")?,
        version: row.try_get("version")?,
        definition: row.try_get("definition")?,
        saved_at: parse_time(&row.try_get::<String, _>("saved_at")?)?,
        saved_by: row.try_get("saved_by")?,
    })
}

fn enrolment_row(row: &AnyRow) -> Result<EnrolmentRow, StoreError> {
    Ok(EnrolmentRow {
        programme_code: row.try_get("programme_code")?,
        beneficiary_id: row.try_get("beneficiary_id")?,
        household_id: row.try_get("household_id")?,
        area_code: row.try_get("area_code")?,
        status: status_of(row, "status")?,
        programme_version: row.try_get("programme_version")?,
        run_id: row.try_get("run_id")?,
        pmt_score: row.try_get("pmt_score")?,
        amount: row.try_get("amount")?,
        recipient_id: row.try_get("recipient_id")?,
        reason: row.try_get("reason")?,
        decided_at: parse_time(&row.try_get::<String, _>("decided_at")?)?,
        changed_at: parse_time(&row.try_get::<String, _>("changed_at")?)?,
    })
}

fn compliance_row(row: &AnyRow) -> Result<ComplianceRow, StoreError> {
    Ok(ComplianceRow {
        person_id: PersonId(uuid_of(row, "person_id")?),
        household_id: HouseholdId(uuid_of(row, "household_id")?),
        kind: row.try_get("kind")?,
        period: row.try_get("period")?,
        value: row.try_get("value")?,
    })
}

fn run_row(row: &AnyRow) -> Result<RunRow, StoreError> {
    let finished: Option<String> = row.try_get("finished_at")?;
    Ok(RunRow {
        id: row.try_get("id")?,
        programme_code: row.try_get("programme_code")?,
        programme_version: row.try_get("programme_version")?,
        area_code: row.try_get("area_code")?,
        actor: row.try_get("actor")?,
        status: row.try_get("status")?,
        started_at: parse_time(&row.try_get::<String, _>("started_at")?)?,
        finished_at: finished.as_deref().map(parse_time).transpose()?,
        report: row.try_get("report")?,
    })
}

/// A decision written over the last one, unless the beneficiary is enrolled,
/// paused or exited: runs only decide candidates.
const UPSERT_DECISION: &str = "INSERT INTO enrolments (programme_code, beneficiary_id, household_id, area_code, status, \
     programme_version, run_id, pmt_score, amount, recipient_id, reason, decided_at, changed_at)";
const UPSERT_DECISION_CONFLICT: &str = " ON CONFLICT (programme_code, beneficiary_id) DO UPDATE SET \
     household_id = excluded.household_id, area_code = excluded.area_code, programme_version = excluded.programme_version, \
     changed_at = CASE WHEN enrolments.status = excluded.status THEN enrolments.changed_at ELSE excluded.changed_at END, \
     status = excluded.status, run_id = excluded.run_id, pmt_score = excluded.pmt_score, amount = excluded.amount, \
     recipient_id = excluded.recipient_id, reason = excluded.reason, decided_at = excluded.decided_at \
     WHERE enrolments.status IN ('candidate', 'eligible', 'not_eligible')";

/// A unit a rule failed on: a new row is a candidate with the reason; an
/// existing decision stands, with the reason the run could not decide again.
const UPSERT_UNDECIDED_CONFLICT: &str = " ON CONFLICT (programme_code, beneficiary_id) DO UPDATE SET \
     reason = excluded.reason WHERE enrolments.status IN ('candidate', 'eligible', 'not_eligible')";

/// A decision that leaves the beneficiary where it stood (same status, same
/// household): written without touching any index, which re-runs that
/// confirm most decisions would otherwise rewrite. Only decided statuses
/// come here, so the row cannot be enrolled, paused or exited.
const CONFIRM_DECISION: &str = "UPDATE enrolments SET area_code = ?1, programme_version = ?2, run_id = ?3, \
     pmt_score = ?4, amount = ?5, recipient_id = ?6, reason = ?7, decided_at = ?8 \
     WHERE programme_code = ?9 AND beneficiary_id = ?10 AND household_id = ?11 AND status = ?12";

const ENROLMENT_COLUMNS: &str = "programme_code, beneficiary_id, household_id, area_code, status, programme_version, \
     run_id, pmt_score, amount, recipient_id, reason, decided_at, changed_at";

/// Where a page of targeting resumes: households are read in id order over
/// the whole country, and in (area, id) order within an area, so that an
/// area's households come through its index rather than a scan of all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetingCursor {
    pub area_code: String,
    pub id: HouseholdId,
}

/// Whether a page of targeting brings each household's attributes: rules
/// that read neither them nor the score are spared reading their table
/// (several hundred bytes of JSON a household).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttributesRead {
    Yes,
    /// Each unit's attributes are `{}`.
    No,
}

impl AttributesRead {
    /// The attributes column, and what the households are joined to for it.
    fn column_and_join(self) -> (&'static str, &'static str) {
        match self {
            AttributesRead::Yes => (
                "a.attributes",
                " LEFT JOIN household_attributes a ON a.household_id = h.id",
            ),
            AttributesRead::No => ("'{}' AS attributes", ""),
        }
    }
}

const TARGETING_ENROLMENTS: &str = "SELECT programme_code, beneficiary_id, household_id, status FROM enrolments \
     WHERE status IN ('enrolled', 'paused') AND ";
const TARGETING_COMPLIANCE: &str = "SELECT person_id, household_id, kind, period, value FROM compliance_records WHERE ";

/// The households of a page, as the other tables are filtered to them: a
/// range of ids when the page is every household between two ids, a list
/// when it is an area's.
enum Span {
    Range(String, String),
    Ids(Vec<String>),
}

impl Span {
    fn of(units: &[TargetingUnit], by_area: bool) -> Option<Span> {
        let (first, last) = (units.first()?, units.last()?);
        Some(if by_area {
            Span::Ids(units.iter().map(|u| u.id.to_string()).collect())
        } else {
            Span::Range(first.id.to_string(), last.id.to_string())
        })
    }

    /// The condition on `column`, with placeholders from `param`.
    fn sql(&self, column: &str, mut param: impl FnMut() -> String) -> String {
        match self {
            Span::Range(..) => format!("{column} >= {} AND {column} <= {}", param(), param()),
            Span::Ids(ids) => {
                let list: Vec<String> = ids.iter().map(|_| param()).collect();
                format!("{column} IN ({})", list.join(", "))
            }
        }
    }

    fn values(&self) -> Vec<&str> {
        match self {
            Span::Range(low, high) => vec![low, high],
            Span::Ids(ids) => ids.iter().map(String::as_str).collect(),
        }
    }
}

/// Which households a page's query reads within an area: the rest of the
/// area the last page stopped in (through the area index, from where it
/// stopped), or the areas after it, each from its start.
#[derive(Clone, Copy, PartialEq)]
enum Step {
    Everywhere,
    RestOfArea,
    NextAreas,
}

/// The households query of a page and its parameters; `param` makes placeholders.
fn households_sql(
    attributes: AttributesRead,
    area: Option<&str>,
    after: Option<&TargetingCursor>,
    step: Step,
    limit: usize,
    mut param: impl FnMut() -> String,
) -> (String, Vec<String>) {
    let (column, join) = attributes.column_and_join();
    let mut sql = format!(
        "SELECT h.id, h.area_code, h.updated_at, {column}, h.member_facts FROM households h{join} \
         WHERE h.status = 'active'"
    );
    let mut values = Vec::new();
    match step {
        Step::Everywhere => {
            if let Some(c) = after {
                values.push(c.id.to_string());
                sql.push_str(&format!(" AND h.id > {}", param()));
            }
            sql.push_str(" ORDER BY h.id");
        }
        Step::RestOfArea => {
            if let Some(c) = after {
                values.push(c.area_code.clone());
                values.push(c.id.to_string());
                sql.push_str(&format!(" AND h.area_code = {} AND h.id > {}", param(), param()));
            }
            sql.push_str(" ORDER BY h.id");
        }
        Step::NextAreas => {
            values.push(area.unwrap_or_default().to_owned());
            sql.push_str(&format!(
                " AND h.area_code IN (SELECT d.code FROM areas d, areas a \
                   WHERE a.code = {} AND substr(d.path, 1, length(a.path)) = a.path)",
                param()
            ));
            if let Some(c) = after {
                values.push(c.area_code.clone());
                sql.push_str(&format!(" AND h.area_code > {}", param()));
            }
            sql.push_str(" ORDER BY h.area_code, h.id");
        }
    }
    sql.push_str(&format!(" LIMIT {}", limit.max(1)));
    (sql, values)
}

/// The queries that make up a page, in order, each run while the page has room.
fn steps(area: Option<&str>, after: Option<&TargetingCursor>) -> &'static [Step] {
    match (area, after) {
        (None, _) => &[Step::Everywhere],
        (Some(_), Some(_)) => &[Step::RestOfArea, Step::NextAreas],
        (Some(_), None) => &[Step::NextAreas],
    }
}

fn parse_uuid(s: &str) -> Result<uuid::Uuid, StoreError> {
    uuid::Uuid::parse_str(s).map_err(|e| StoreError::Corrupt(format!("id {s:?}: {e}")))
}

/// Sorts enrolments and compliance read for a page of households into them.
fn distribute(
    units: &mut [TargetingUnit],
    enrolments: Vec<(String, String, HouseholdId, bool)>,
    compliance: Vec<ComplianceRow>,
) {
    let index: std::collections::HashMap<HouseholdId, usize> =
        units.iter().enumerate().map(|(i, u)| (u.id, i)).collect();
    for (code, beneficiary, household, paused) in enrolments {
        if let Some(&i) = index.get(&household) {
            if paused {
                units[i].paused.push((code.clone(), beneficiary.clone()));
            }
            units[i].enrolments.push((code, beneficiary));
        }
    }
    for row in compliance {
        if let Some(&i) = index.get(&row.household_id) {
            units[i].compliance.push(row);
        }
    }
}

/// The SQLite page read: straight through SQLite's API on a connection of
/// its own, several times faster than through the pool for pages of
/// thousands of rows.
fn sqlite_targeting_page(
    conn: &rusqlite::Connection,
    attributes: AttributesRead,
    area: Option<&str>,
    after: Option<&TargetingCursor>,
    limit: u32,
) -> Result<Vec<TargetingUnit>, StoreError> {
    let q = || "?".to_owned();
    let mut units = Vec::with_capacity(limit as usize);
    for step in steps(area, after) {
        let room = limit as usize - units.len();
        if room == 0 {
            break;
        }
        let (sql, values) = households_sql(attributes, area, after, *step, room, q);
        let mut statement = conn.prepare_cached(&sql)?;
        let mut rows = statement.query(rusqlite::params_from_iter(values.iter()))?;
        while let Some(row) = rows.next()? {
            let id: String = row.get(0)?;
            let updated: String = row.get(2)?;
            units.push(TargetingUnit {
                id: HouseholdId(parse_uuid(&id)?),
                area_code: row.get(1)?,
                updated_at: parse_time(&updated)?,
                attributes: stored_facts(row.get(3)?, &id)?,
                member_facts: stored_facts(row.get(4)?, &id)?,
                enrolments: Vec::new(),
                paused: Vec::new(),
                compliance: Vec::new(),
            });
        }
    }
    let Some(span) = Span::of(&units, area.is_some()) else {
        return Ok(units);
    };
    // Lists of ids differ in length from page to page: prepared afresh, not cached.
    let mut enrolments = Vec::new();
    let sql = format!("{TARGETING_ENROLMENTS}{}", span.sql("household_id", q));
    let mut statement = conn.prepare(&sql)?;
    let mut rows = statement.query(rusqlite::params_from_iter(span.values()))?;
    while let Some(row) = rows.next()? {
        let household: String = row.get(2)?;
        let status: String = row.get(3)?;
        enrolments.push((
            row.get(0)?,
            row.get(1)?,
            HouseholdId(parse_uuid(&household)?),
            status == "paused",
        ));
    }
    let mut compliance = Vec::new();
    let sql = format!("{TARGETING_COMPLIANCE}{}", span.sql("household_id", q));
    let mut statement = conn.prepare(&sql)?;
    let mut rows = statement.query(rusqlite::params_from_iter(span.values()))?;
    while let Some(row) = rows.next()? {
        let (person, household): (String, String) = (row.get(0)?, row.get(1)?);
        compliance.push(ComplianceRow {
            person_id: PersonId(parse_uuid(&person)?),
            household_id: HouseholdId(parse_uuid(&household)?),
            kind: row.get(2)?,
            period: row.get(3)?,
            value: row.get(4)?,
        });
    }
    distribute(&mut units, enrolments, compliance);
    Ok(units)
}

/// A rule-facts column, which every write since migration 0007 fills.
fn stored_facts(value: Option<String>, household: &str) -> Result<String, StoreError> {
    value.ok_or_else(|| StoreError::Corrupt(format!("household {household} has no rule facts")))
}

impl Store {
    fn param(&self, n: &mut usize) -> String {
        *n += 1;
        match self.backend {
            Backend::Sqlite => "?".to_owned(),
            Backend::Postgres => format!("${n}"),
        }
    }

    /// Saves a programme definition as its next version, unless it is the
    /// same as the current one. Returns the version in force and whether a
    /// new one was written.
    pub async fn save_programme(
        &self,
        code: &str,
        definition: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<(i64, bool), StoreError> {
        let mut tx = self.writer.begin().await?;
        let current = sqlx::query("SELECT version, definition FROM programmes WHERE code = $1")
            .bind(code.to_owned())
            .fetch_optional(&mut *tx)
            .await?;
        let version = match &current {
            Some(row) if row.try_get::<String, _>("definition")? == definition => {
                return Ok((row.try_get("version")?, false));
            }
            Some(row) => row.try_get::<i64, _>("version")? + 1,
            None => 1,
        };
        let inserted = sqlx::query(
            "INSERT INTO programme_versions (code, version, definition, saved_at, saved_by) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(code.to_owned())
        .bind(version)
        .bind(definition.to_owned())
        .bind(time_text(at))
        .bind(actor.to_owned())
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            // Someone saved the same programme at the same moment.
            Err(e) if is_unique_violation(&e) => return Err(StoreError::VersionConflict { current: version }),
            Err(e) => return Err(e.into()),
        }
        sqlx::query(
            "INSERT INTO programmes (code, version, definition, saved_at, saved_by) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (code) DO UPDATE SET version = excluded.version, definition = excluded.definition, \
             saved_at = excluded.saved_at, saved_by = excluded.saved_by",
        )
        .bind(code.to_owned())
        .bind(version)
        .bind(definition.to_owned())
        .bind(time_text(at))
        .bind(actor.to_owned())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((version, true))
    }

    pub async fn programme(&self, code: &str) -> Result<Option<ProgrammeRow>, StoreError> {
        let row = sqlx::query("SELECT code, version, definition, saved_at, saved_by FROM programmes WHERE code = $1")
            .bind(code.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(programme_row).transpose()
    }

    pub async fn programme_version(&self, code: &str, version: i64) -> Result<Option<ProgrammeRow>, StoreError> {
        let row = sqlx::query(
            "SELECT code, version, definition, saved_at, saved_by FROM programme_versions WHERE code = $1 AND version = $2",
        )
        .bind(code.to_owned())
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(programme_row).transpose()
    }

    pub async fn programmes(&self) -> Result<Vec<ProgrammeRow>, StoreError> {
        let rows = sqlx::query("SELECT code, version, definition, saved_at, saved_by FROM programmes ORDER BY code")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(programme_row).collect()
    }

    /// Starts a run unless one of the same programme is running; a run
    /// whose lease ran out (its process died) is marked abandoned first.
    /// Returns the running run that blocks this one, if any.
    pub async fn start_run(&self, run: &RunRow, lease_until: DateTime<Utc>) -> Result<Option<RunRow>, StoreError> {
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "UPDATE targeting_runs SET status = 'abandoned', finished_at = $1 \
             WHERE programme_code = $2 AND status = 'running' AND lease_until < $1",
        )
        .bind(time_text(run.started_at))
        .bind(run.programme_code.clone())
        .execute(&mut *tx)
        .await?;
        let inserted = sqlx::query(
            "INSERT INTO targeting_runs (id, programme_code, programme_version, area_code, actor, status, started_at, lease_until) \
             VALUES ($1, $2, $3, $4, $5, 'running', $6, $7)",
        )
        .bind(run.id.clone())
        .bind(run.programme_code.clone())
        .bind(run.programme_version)
        .bind(run.area_code.clone())
        .bind(run.actor.clone())
        .bind(time_text(run.started_at))
        .bind(time_text(lease_until))
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {
                tx.commit().await?;
                Ok(None)
            }
            Err(e) if is_unique_violation(&e) => {
                drop(tx);
                let row = sqlx::query(
                    "SELECT id, programme_code, programme_version, area_code, actor, status, started_at, finished_at, report \
                     FROM targeting_runs WHERE programme_code = $1 AND status = 'running'",
                )
                .bind(run.programme_code.clone())
                .fetch_optional(&self.pool)
                .await?;
                Ok(Some(
                    row.as_ref().map(run_row).transpose()?.unwrap_or_else(|| run.clone()),
                ))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Extends a running run's lease; fails if the run is no longer running
    /// (its lease ran out and another run took over).
    pub async fn renew_run(&self, id: &str, lease_until: DateTime<Utc>) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE targeting_runs SET lease_until = $1 WHERE id = $2 AND status = 'running'")
            .bind(time_text(lease_until))
            .bind(id.to_owned())
            .execute(&self.writer)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::LeaseLost(id.to_owned()));
        }
        Ok(())
    }

    pub async fn finish_run(&self, id: &str, status: &str, report: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("UPDATE targeting_runs SET status = $1, report = $2, finished_at = $3 WHERE id = $4")
            .bind(status.to_owned())
            .bind(report.to_owned())
            .bind(time_text(at))
            .bind(id.to_owned())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    pub async fn run(&self, id: &str) -> Result<Option<RunRow>, StoreError> {
        let row = sqlx::query(
            "SELECT id, programme_code, programme_version, area_code, actor, status, started_at, finished_at, report \
             FROM targeting_runs WHERE id = $1",
        )
        .bind(id.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(run_row).transpose()
    }

    /// A page of active households (in `area`, if given) after `after`,
    /// with their active members, active enrolments and compliance records.
    pub async fn targeting_page(
        &self,
        attributes: AttributesRead,
        area: Option<&str>,
        after: Option<&TargetingCursor>,
        limit: u32,
    ) -> Result<Vec<TargetingUnit>, StoreError> {
        if self.sqlite_file() {
            let (area, after) = (area.map(str::to_owned), after.cloned());
            return self
                .with_reader(move |conn| {
                    sqlite_targeting_page(conn, attributes, area.as_deref(), after.as_ref(), limit)
                })
                .await;
        }
        let mut units = Vec::with_capacity(limit as usize);
        for step in steps(area, after) {
            let room = limit as usize - units.len();
            if room == 0 {
                break;
            }
            let mut n = 0;
            let (sql, values) = households_sql(attributes, area, after, *step, room, || self.param(&mut n));
            let mut q = sqlx::query(AssertSqlSafe(sql)).persistent(false);
            for v in values {
                q = q.bind(v);
            }
            for row in &q.fetch_all(&self.pool).await? {
                let id: String = row.try_get("id")?;
                units.push(TargetingUnit {
                    id: HouseholdId(parse_uuid(&id)?),
                    area_code: row.try_get("area_code")?,
                    updated_at: parse_time(&row.try_get::<String, _>("updated_at")?)?,
                    attributes: stored_facts(row.try_get("attributes")?, &id)?,
                    member_facts: stored_facts(row.try_get("member_facts")?, &id)?,
                    enrolments: Vec::new(),
                    paused: Vec::new(),
                    compliance: Vec::new(),
                });
            }
        }
        let Some(span) = Span::of(&units, area.is_some()) else {
            return Ok(units);
        };
        let query = |base: &str, column: &str| {
            let mut n = 0;
            format!("{base}{}", span.sql(column, || self.param(&mut n)))
        };
        let bind_span = |sql: String| {
            let mut q = sqlx::query(AssertSqlSafe(sql)).persistent(false);
            for v in span.values() {
                q = q.bind(v.to_owned());
            }
            q
        };
        let enrolled = bind_span(query(TARGETING_ENROLMENTS, "household_id"))
            .fetch_all(&self.pool)
            .await?;
        let enrolments = enrolled
            .iter()
            .map(|row| {
                Ok((
                    row.try_get("programme_code")?,
                    row.try_get("beneficiary_id")?,
                    HouseholdId(uuid_of(row, "household_id")?),
                    row.try_get::<String, _>("status")? == "paused",
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let recorded = bind_span(query(TARGETING_COMPLIANCE, "household_id"))
            .fetch_all(&self.pool)
            .await?;
        let compliance = recorded
            .iter()
            .map(compliance_row)
            .collect::<Result<Vec<_>, StoreError>>()?;
        distribute(&mut units, enrolments, compliance);
        Ok(units)
    }

    /// For households that came in by import: each one's source key and
    /// whether the programme selected it (eligible, enrolled or paused).
    /// For measuring decisions against a synthetic population's truth.
    pub async fn selection_by_source_key(&self, programme: &str) -> Result<Vec<(String, bool)>, StoreError> {
        let rows = sqlx::query(
            "SELECT k.source_key, e.status FROM import_keys k LEFT JOIN enrolments e \
             ON e.beneficiary_id = k.record_id AND e.programme_code = $1 WHERE k.kind = 'household'",
        )
        .bind(programme.to_owned())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let status: Option<String> = row.try_get("status")?;
                let selected = matches!(status.as_deref(), Some("eligible" | "enrolled" | "paused"));
                Ok((row.try_get("source_key")?, selected))
            })
            .collect()
    }

    /// Records compliance values, replacing any for the same person, kind and quarter.
    pub async fn save_compliance(
        &self,
        rows: &[ComplianceRow],
        source: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        for r in rows {
            sqlx::query(
                "INSERT INTO compliance_records (person_id, household_id, kind, period, value, source, recorded_by, recorded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (person_id, kind, period) DO UPDATE SET \
                 household_id = excluded.household_id, value = excluded.value, source = excluded.source, \
                 recorded_by = excluded.recorded_by, recorded_at = excluded.recorded_at",
            )
            .bind(r.person_id.to_string())
            .bind(r.household_id.to_string())
            .bind(r.kind.clone())
            .bind(r.period.clone())
            .bind(r.value)
            .bind(source.to_owned())
            .bind(actor.to_owned())
            .bind(time_text(at))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Compliance recorded for a household's members.
    pub async fn household_compliance(&self, household: HouseholdId) -> Result<Vec<ComplianceRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT person_id, household_id, kind, period, value FROM compliance_records WHERE household_id = $1 \
             ORDER BY person_id, kind, period",
        )
        .bind(household.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(compliance_row).collect()
    }

    /// Writes a run's decisions in one transaction. A beneficiary already
    /// enrolled, paused or exited keeps where it stands: runs only decide
    /// candidates.
    pub async fn save_decisions(
        &self,
        programme: &str,
        version: i64,
        run_id: &str,
        at: DateTime<Utc>,
        rows: Vec<DecisionRow>,
    ) -> Result<(), StoreError> {
        let at = time_text(at);
        if self.sqlite_file() {
            // One prepared statement, one row per step: several times faster
            // on SQLite than multi-row statements through the pool.
            let (programme, run_id) = (programme.to_owned(), run_id.to_owned());
            return self
                .with_sqlite_writer(move |conn| {
                    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                    {
                        let values = "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
                        let mut decided =
                            tx.prepare_cached(&format!("{UPSERT_DECISION} {values}{UPSERT_DECISION_CONFLICT}"))?;
                        let mut undecided =
                            tx.prepare_cached(&format!("{UPSERT_DECISION} {values}{UPSERT_UNDECIDED_CONFLICT}"))?;
                        let mut confirmed = tx.prepare_cached(CONFIRM_DECISION)?;
                        for r in &rows {
                            if r.status != EnrolmentStatus::Candidate {
                                let household = r.household_id.to_string();
                                let recipient = r.recipient_id.map(|p| p.to_string());
                                let done = confirmed.execute(rusqlite::params![
                                    r.area_code,
                                    version,
                                    run_id,
                                    r.pmt_score,
                                    r.amount,
                                    recipient,
                                    r.reason,
                                    at,
                                    programme,
                                    r.beneficiary_id,
                                    household,
                                    r.status.code(),
                                ])?;
                                if done == 1 {
                                    continue;
                                }
                            }
                            let upsert = if r.status == EnrolmentStatus::Candidate {
                                &mut undecided
                            } else {
                                &mut decided
                            };
                            upsert.execute(rusqlite::params![
                                programme,
                                r.beneficiary_id,
                                r.household_id.to_string(),
                                r.area_code,
                                r.status.code(),
                                version,
                                run_id,
                                r.pmt_score,
                                r.amount,
                                r.recipient_id.map(|p| p.to_string()),
                                r.reason,
                                at,
                                at,
                            ])?;
                        }
                    }
                    tx.commit()?;
                    Ok(())
                })
                .await;
        }
        let mut tx = self.writer.begin().await?;
        let (undecided, decided): (Vec<DecisionRow>, Vec<DecisionRow>) =
            rows.into_iter().partition(|r| r.status == EnrolmentStatus::Candidate);
        for (rows, conflict) in [
            (decided, UPSERT_DECISION_CONFLICT),
            (undecided, UPSERT_UNDECIDED_CONFLICT),
        ] {
            for chunk in rows.chunks(500) {
                let mut values = String::new();
                let mut n = 0;
                for (i, r) in chunk.iter().enumerate() {
                    if i > 0 {
                        values.push_str(", ");
                    }
                    let mut cols = Vec::with_capacity(13);
                    for _ in 0..7 {
                        cols.push(self.param(&mut n));
                    }
                    // NULLs written as such: PostgreSQL types a bound NULL once per cached statement.
                    cols.push(if r.pmt_score.is_some() {
                        self.param(&mut n)
                    } else {
                        "NULL".into()
                    });
                    cols.push(if r.amount.is_some() {
                        self.param(&mut n)
                    } else {
                        "NULL".into()
                    });
                    cols.push(if r.recipient_id.is_some() {
                        self.param(&mut n)
                    } else {
                        "NULL".into()
                    });
                    cols.push(if r.reason.is_some() {
                        self.param(&mut n)
                    } else {
                        "NULL".into()
                    });
                    cols.push(self.param(&mut n));
                    cols.push(self.param(&mut n));
                    values.push('(');
                    values.push_str(&cols.join(", "));
                    values.push(')');
                }
                let sql = format!("{UPSERT_DECISION} VALUES {values}{conflict}");
                let mut q = sqlx::query(AssertSqlSafe(sql)).persistent(false);
                for r in chunk {
                    q = q
                        .bind(programme.to_owned())
                        .bind(r.beneficiary_id.clone())
                        .bind(r.household_id.to_string())
                        .bind(r.area_code.clone())
                        .bind(r.status.code())
                        .bind(version)
                        .bind(run_id.to_owned());
                    if let Some(s) = r.pmt_score {
                        q = q.bind(s);
                    }
                    if let Some(a) = r.amount {
                        q = q.bind(a);
                    }
                    if let Some(p) = r.recipient_id {
                        q = q.bind(p.to_string());
                    }
                    if let Some(reason) = &r.reason {
                        q = q.bind(reason.clone());
                    }
                    q = q.bind(at.clone()).bind(at.clone());
                }
                q.execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn enrolment(&self, programme: &str, beneficiary: &str) -> Result<Option<EnrolmentRow>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {ENROLMENT_COLUMNS} FROM enrolments WHERE programme_code = $1 AND beneficiary_id = $2"
        )))
        .bind(programme.to_owned())
        .bind(beneficiary.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(enrolment_row).transpose()
    }

    pub async fn household_enrolments(&self, household: HouseholdId) -> Result<Vec<EnrolmentRow>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {ENROLMENT_COLUMNS} FROM enrolments WHERE household_id = $1 ORDER BY programme_code, beneficiary_id"
        )))
        .bind(household.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(enrolment_row).collect()
    }

    /// The beneficiaries run `run_id` decided eligible, of households still
    /// active, in the order the programme enrols them: sorted as they are
    /// read (about 60 bytes each), so that writing decisions keeps no index
    /// ordered by score.
    pub async fn enrolment_queue(
        &self,
        programme: &str,
        run_id: &str,
        lowest_score_first: bool,
    ) -> Result<Vec<String>, StoreError> {
        let order = if lowest_score_first {
            "(pmt_score IS NULL), pmt_score, household_id, beneficiary_id"
        } else {
            "household_id, beneficiary_id"
        };
        let sql = format!(
            "SELECT beneficiary_id FROM enrolments e WHERE programme_code = $1 AND status = 'eligible' \
             AND run_id = $2 AND EXISTS (SELECT 1 FROM households h WHERE h.id = e.household_id AND h.status = 'active') \
             ORDER BY {order}"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(programme.to_owned())
            .bind(run_id.to_owned())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// The standing of the given beneficiaries in a programme, in no particular order.
    pub async fn enrolments_of(
        &self,
        programme: &str,
        beneficiaries: &[String],
    ) -> Result<Vec<EnrolmentRow>, StoreError> {
        let mut found = Vec::with_capacity(beneficiaries.len());
        for chunk in beneficiaries.chunks(1_000) {
            let mut n = 0;
            let first = self.param(&mut n);
            let list: Vec<String> = chunk.iter().map(|_| self.param(&mut n)).collect();
            let sql = format!(
                "SELECT {ENROLMENT_COLUMNS} FROM enrolments WHERE programme_code = {first} AND beneficiary_id IN ({})",
                list.join(", ")
            );
            let mut q = sqlx::query(AssertSqlSafe(sql))
                .persistent(false)
                .bind(programme.to_owned());
            for b in chunk {
                q = q.bind(b.clone());
            }
            for row in q.fetch_all(&self.pool).await? {
                found.push(enrolment_row(&row)?);
            }
        }
        Ok(found)
    }

    /// How many are enrolled or paused, and what they are owed per cycle.
    pub async fn active_totals(&self, programme: &str) -> Result<(u64, i64), StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS total FROM enrolments \
             WHERE programme_code = $1 AND status IN ('enrolled', 'paused')",
        )
        .bind(programme.to_owned())
        .fetch_one(&self.pool)
        .await?;
        let n: i64 = row.try_get("n")?;
        // Cast: a SUM of BIGINT is NUMERIC on PostgreSQL, which the Any driver cannot read.
        let total: i64 = row.try_get("total")?;
        Ok((n.max(0) as u64, total))
    }

    /// Moves beneficiaries from `from` to `to`, recording each move; those no
    /// longer at `from` are left alone. With `admission`, each enrolment is
    /// checked against the quota, the budget and exclusive programmes in the
    /// same transaction (on PostgreSQL under a lock on the programme), so
    /// concurrent enrolments cannot overshoot them.
    #[allow(clippy::too_many_arguments)]
    pub async fn transition_enrolments(
        &self,
        programme: &str,
        beneficiaries: &[String],
        from: EnrolmentStatus,
        to: EnrolmentStatus,
        reason: Option<&str>,
        actor: &str,
        version: i64,
        at: DateTime<Utc>,
        admission: Option<&Admission>,
        notifications: &[NotificationRow],
    ) -> Result<Moves, StoreError> {
        let at_text = time_text(at);
        if self.sqlite_file() {
            let (programme, beneficiaries, reason, actor) = (
                programme.to_owned(),
                beneficiaries.to_vec(),
                reason.map(str::to_owned),
                actor.to_owned(),
            );
            let (admission, notifications) = (admission.cloned(), notifications.to_vec());
            return self
                .with_sqlite_writer(move |conn| {
                    sqlite_transition(
                        conn,
                        &Transition {
                            programme: &programme,
                            beneficiaries: &beneficiaries,
                            from,
                            to,
                            reason: reason.as_deref(),
                            actor: &actor,
                            version,
                            at: &at_text,
                            admission: admission.as_ref(),
                            notifications: &notifications,
                        },
                    )
                })
                .await;
        }
        let mut tx = self.writer.begin().await?;
        let mut moves = Moves::default();
        let mut totals = (0u64, 0i64);
        if admission.is_some() {
            if self.backend == Backend::Postgres {
                // This programme and those it excludes, in one order for every
                // caller, so that enrolments that could clash take turns.
                let mut codes: Vec<&str> =
                    admission.map_or(Vec::new(), |a| a.exclusive_with.iter().map(String::as_str).collect());
                codes.push(programme);
                codes.sort_unstable();
                codes.dedup();
                for code in codes {
                    sqlx::query("SELECT code FROM programmes WHERE code = $1 FOR UPDATE")
                        .bind(code.to_owned())
                        .fetch_optional(&mut *tx)
                        .await?;
                }
            }
            if admission.is_some_and(Admission::is_capped) {
                let row = sqlx::query(
                    "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS total FROM enrolments \
                     WHERE programme_code = $1 AND status IN ('enrolled', 'paused')",
                )
                .bind(programme.to_owned())
                .fetch_one(&mut *tx)
                .await?;
                totals = (row.try_get::<i64, _>("n")?.max(0) as u64, row.try_get("total")?);
            }
        }
        for b in beneficiaries {
            if let Some(a) = admission {
                let Some(row) = sqlx::query(
                    "SELECT amount FROM enrolments WHERE programme_code = $1 AND beneficiary_id = $2 AND status = $3",
                )
                .bind(programme.to_owned())
                .bind(b.clone())
                .bind(from.code())
                .fetch_optional(&mut *tx)
                .await?
                else {
                    continue;
                };
                let amount: i64 = row.try_get::<Option<i64>, _>("amount")?.unwrap_or(0);
                if a.quota.is_some_and(|q| totals.0 >= q)
                    || a.budget.is_some_and(|limit| totals.1.saturating_add(amount) > limit)
                {
                    moves.full = true;
                    break;
                }
                if !a.exclusive_with.is_empty() {
                    let mut n = 1;
                    let list: Vec<String> = a.exclusive_with.iter().map(|_| self.param(&mut n)).collect();
                    let sql = format!(
                        "SELECT programme_code FROM enrolments WHERE beneficiary_id = $1 \
                         AND status IN ('enrolled', 'paused') AND programme_code IN ({}) LIMIT 1",
                        list.join(", ")
                    );
                    let sql = match self.backend {
                        Backend::Sqlite => sql.replace("$1", "?"),
                        Backend::Postgres => sql,
                    };
                    let mut q = sqlx::query(AssertSqlSafe(sql)).persistent(false).bind(b.clone());
                    for code in &a.exclusive_with {
                        q = q.bind(code.clone());
                    }
                    if q.fetch_optional(&mut *tx).await?.is_some() {
                        moves.excluded.push(b.clone());
                        continue;
                    }
                }
                totals = (totals.0 + 1, totals.1.saturating_add(amount));
            }
            let done = sqlx::query(
                "UPDATE enrolments SET status = $1, reason = $2, changed_at = $3 \
                 WHERE programme_code = $4 AND beneficiary_id = $5 AND status = $6",
            )
            .bind(to.code())
            .bind(reason.map(str::to_owned))
            .bind(at_text.clone())
            .bind(programme.to_owned())
            .bind(b.clone())
            .bind(from.code())
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                continue;
            }
            sqlx::query(
                "INSERT INTO enrolment_events (id, programme_code, beneficiary_id, from_status, to_status, reason, actor, at, programme_version) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(programme.to_owned())
            .bind(b.clone())
            .bind(from.code())
            .bind(to.code())
            .bind(reason.map(str::to_owned))
            .bind(actor.to_owned())
            .bind(at_text.clone())
            .bind(version)
            .execute(&mut *tx)
            .await?;
            moves.moved.push(b.clone());
        }
        let moved: std::collections::HashSet<&String> = moves.moved.iter().collect();
        for note in notifications.iter().filter(|n| moved.contains(&n.beneficiary_id)) {
            sqlx::query(
                "INSERT INTO notifications (id, household_id, person_id, phone, language, body, status, queued_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7)",
            )
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(note.household_id.to_string())
            .bind(note.person_id.map(|p| p.to_string()))
            .bind(note.phone.clone())
            .bind(note.language.clone())
            .bind(note.body.clone())
            .bind(at_text.clone())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(moves)
    }

    pub async fn enrolment_events(
        &self,
        programme: &str,
        beneficiary: &str,
    ) -> Result<Vec<EnrolmentEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT from_status, to_status, reason, actor, at, programme_version FROM enrolment_events \
             WHERE programme_code = $1 AND beneficiary_id = $2 ORDER BY id",
        )
        .bind(programme.to_owned())
        .bind(beneficiary.to_owned())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(EnrolmentEvent {
                    from_status: status_of(row, "from_status")?,
                    to_status: status_of(row, "to_status")?,
                    reason: row.try_get("reason")?,
                    actor: row.try_get("actor")?,
                    at: parse_time(&row.try_get::<String, _>("at")?)?,
                    programme_version: row.try_get("programme_version")?,
                })
            })
            .collect()
    }

    /// Queued notifications of a household, oldest first.
    pub async fn household_notifications(
        &self,
        household: HouseholdId,
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        let rows = sqlx::query("SELECT language, body, status FROM notifications WHERE household_id = $1 ORDER BY id")
            .bind(household.to_string())
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("language")?, r.try_get("body")?, r.try_get("status")?)))
            .collect()
    }

    /// Enrolled or paused beneficiaries of a programme whose household's
    /// data was last changed before `before`: due for a resurvey.
    /// `within`, if given, are the area codes the reader may see (with the
    /// areas below them); households in unknown areas are then left out.
    pub async fn due_for_recertification(
        &self,
        programme: &str,
        before: DateTime<Utc>,
        within: Option<&[String]>,
        limit: u32,
    ) -> Result<Vec<(EnrolmentRow, DateTime<Utc>)>, StoreError> {
        let columns: Vec<String> = ENROLMENT_COLUMNS.split(", ").map(|c| format!("e.{c}")).collect();
        let mut sql = format!(
            "SELECT {}, h.updated_at AS household_updated_at FROM enrolments e JOIN households h ON h.id = e.household_id \
             WHERE e.programme_code = $1 AND e.status IN ('enrolled', 'paused') AND h.updated_at < $2",
            columns.join(", ")
        );
        if let Some(codes) = within {
            let mut n = 2;
            let list: Vec<String> = codes.iter().map(|_| self.param(&mut n)).collect();
            let list = if list.is_empty() {
                "NULL".to_owned()
            } else {
                list.join(", ")
            };
            sql.push_str(&format!(
                " AND e.area_code IN (SELECT d.code FROM areas d, areas a WHERE a.code IN ({list}) \
                   AND substr(d.path, 1, length(a.path)) = a.path)"
            ));
        }
        sql.push_str(&format!(
            " ORDER BY h.updated_at, e.beneficiary_id LIMIT {}",
            limit.max(1)
        ));
        if self.backend == Backend::Sqlite {
            sql = sql.replace("$1", "?").replace("$2", "?");
        }
        let mut q = sqlx::query(AssertSqlSafe(sql))
            .persistent(false)
            .bind(programme.to_owned())
            .bind(time_text(before));
        for code in within.unwrap_or_default() {
            q = q.bind(code.clone());
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok((
                    enrolment_row(r)?,
                    parse_time(&r.try_get::<String, _>("household_updated_at")?)?,
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page's enrolments come from the index of migration 0019 alone, with
    /// no lookup in the table; that holds only while the index's condition and
    /// the query's are the same words.
    #[tokio::test]
    async fn a_page_reads_active_enrolments_from_their_index_alone() {
        // SQLite's plan, whatever server the other tests use.
        let file = std::env::temp_dir().join(format!("himaya-plan-{}.db", uuid::Uuid::now_v7()));
        let test = crate::testing::TestDatabase {
            url: format!("sqlite://{}", file.display()),
            file: Some(file.clone()),
        };
        let store = Store::connect(&test.url).await.unwrap();
        store.migrate().await.unwrap();
        store.close().await;
        let conn = rusqlite::Connection::open(&file).unwrap();
        for span in [
            Span::Range("a".into(), "b".into()),
            Span::Ids(vec!["a".into(), "b".into()]),
        ] {
            let sql = format!(
                "EXPLAIN QUERY PLAN {TARGETING_ENROLMENTS}{}",
                span.sql("household_id", || "?".to_owned())
            );
            let mut statement = conn.prepare(&sql).unwrap();
            let plan: Vec<String> = statement
                .query_map(rusqlite::params_from_iter(span.values()), |row| row.get(3))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert!(
                plan.iter()
                    .any(|step| step.contains("COVERING INDEX enrolments_active_by_household")),
                "{plan:?}"
            );
        }
        drop(conn);
        test.remove();
    }
}
