//! Deduplication: the people a run reads, the runs and the candidate pairs
//! they found with the officers' decisions, and what a merge moves from one
//! person to another.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use himaya_domain::household::HouseholdId;
use himaya_domain::person::{PersonId, PersonRecord};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::registry::{list_params, push_area, push_within, uuid_of};
use crate::{Store, StoreError, Tx, parse_time, time_text};

/// A person as a deduplication run or a match reads them.
#[derive(Clone, Debug)]
pub struct DedupSource {
    pub id: PersonId,
    pub household_id: HouseholdId,
    pub area: String,
    pub record: PersonRecord,
}

/// A finished run.
#[derive(Clone, Debug)]
pub struct DedupRunRow {
    pub id: String,
    pub area: Option<String>,
    pub threshold: f64,
    pub started_by: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub persons: i64,
    pub compared: i64,
    pub pairs_found: i64,
    pub pairs_new: i64,
    pub pairs_decided: i64,
    pub model: String,
}

/// A pair a run found; `left` sorts before `right` as text.
#[derive(Clone, Debug)]
pub struct FoundPair {
    pub left: PersonId,
    pub right: PersonId,
    pub left_area: String,
    pub right_area: String,
    pub probability: f64,
    pub weight: f64,
    /// JSON.
    pub evidence: String,
}

/// A stored pair with where it stands.
#[derive(Clone, Debug)]
pub struct PairRow {
    pub id: String,
    pub left: PersonId,
    pub right: PersonId,
    pub left_area: String,
    pub right_area: String,
    pub run_id: String,
    pub probability: f64,
    pub weight: f64,
    pub evidence: String,
    pub status: String,
    pub found_at: DateTime<Utc>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
    pub survivor: Option<PersonId>,
}

/// A decision to record on a pair.
#[derive(Clone, Debug)]
pub struct PairDecisionRow<'a> {
    /// same_person, different_people or merged.
    pub status: &'a str,
    pub by: &'a str,
    pub at: DateTime<Utc>,
    pub reason: Option<&'a str>,
    pub survivor: Option<PersonId>,
}

/// Filters of the review queue.
#[derive(Clone, Debug, Default)]
pub struct PairFilter {
    pub status: Option<String>,
    /// Pairs with either person in this area or below it.
    pub area: Option<String>,
    /// The caller's areas: both people must lie in them; `None` for everywhere.
    pub within: Option<Vec<String>>,
    /// Keyset: pairs after this (probability, id), most probable first.
    pub after: Option<(f64, String)>,
    pub limit: u32,
}

/// What a merge moved from the merged record to the survivor, and what it
/// left because the survivor already had its like.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Moved {
    pub enrolments: u64,
    pub enrolments_kept: u64,
    pub enrolment_events: u64,
    pub compliance_records: u64,
    pub compliance_records_kept: u64,
    pub accounts: u64,
    pub entitlements: u64,
    pub entitlements_kept: u64,
    pub recipient_of: u64,
}

const PAIR_COLUMNS: &str = "id, left_id, right_id, left_area, right_area, run_id, probability, weight, evidence, \
     status, found_at, decided_by, decided_at, reason, survivor_id";

fn pair_from_row(row: &AnyRow) -> Result<PairRow, StoreError> {
    let time = |c: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
        row.try_get::<Option<String>, _>(c)?
            .as_deref()
            .map(parse_time)
            .transpose()
    };
    let survivor: Option<String> = row.try_get("survivor_id")?;
    Ok(PairRow {
        id: row.try_get("id")?,
        left: PersonId(uuid_of(row, "left_id")?),
        right: PersonId(uuid_of(row, "right_id")?),
        left_area: row.try_get("left_area")?,
        right_area: row.try_get("right_area")?,
        run_id: row.try_get("run_id")?,
        probability: row.try_get("probability")?,
        weight: row.try_get("weight")?,
        evidence: row.try_get("evidence")?,
        status: row.try_get("status")?,
        found_at: parse_time(&row.try_get::<String, _>("found_at")?)?,
        decided_by: row.try_get("decided_by")?,
        decided_at: time("decided_at")?,
        reason: row.try_get("reason")?,
        survivor: survivor
            .map(|s| uuid::Uuid::parse_str(&s).map(PersonId))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("survivor_id: {e}")))?,
    })
}

impl Store {
    /// The active people (in `area` and below, if given, and within the
    /// caller's areas), in id order, with their current records.
    pub async fn dedup_sources(
        &self,
        area: Option<&str>,
        within: Option<&[String]>,
    ) -> Result<Vec<DedupSource>, StoreError> {
        let rows = self.dedup_sources_query(area, within).fetch_all(&self.pool).await?;
        rows.iter().map(dedup_source).collect()
    }

    /// The same people as [`Store::dedup_sources`], one at a time as the
    /// database returns them: a caller that keeps less of each than the
    /// whole record (a run over millions) never holds every record at once.
    pub fn dedup_source_stream<'a>(
        &'a self,
        area: Option<&str>,
        within: Option<&[String]>,
    ) -> futures_util::stream::BoxStream<'a, Result<DedupSource, StoreError>> {
        use futures_util::StreamExt;
        self.dedup_sources_query(area, within)
            .fetch(&self.pool)
            .map(|row| dedup_source(&row?))
            .boxed()
    }

    fn dedup_sources_query(
        &self,
        area: Option<&str>,
        within: Option<&[String]>,
    ) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
        let mut sql = String::from(
            "SELECT p.id, p.household_id, p.area_code, v.data FROM persons p \
             JOIN person_versions v ON v.person_id = p.id AND v.version = p.version WHERE p.status = 'active'",
        );
        let mut n = 0;
        if area.is_some() {
            push_area(&mut sql, "p.area_code", &mut n);
        }
        if let Some(w) = within {
            push_within(&mut sql, "p.area_code", &mut n, w.len());
        }
        sql.push_str(" ORDER BY p.id");
        let mut q = sqlx::query(AssertSqlSafe(sql)).persistent(false);
        if let Some(a) = area {
            q = q.bind(a.to_owned());
        }
        for a in within.unwrap_or_default() {
            q = q.bind(a.clone());
        }
        q
    }

    /// Active people who share an identifier value or the phone with a new
    /// record, or at least `min_tokens` of its name words, within the
    /// caller's areas: the few an intake check scores. At most `limit`.
    pub async fn match_candidates(
        &self,
        identifiers: &[String],
        phone: Option<&str>,
        tokens: &[String],
        min_tokens: usize,
        within: Option<&[String]>,
        limit: u32,
    ) -> Result<Vec<DedupSource>, StoreError> {
        let mut parts = Vec::new();
        let mut n = 0;
        if !identifiers.is_empty() {
            parts.push(format!(
                "SELECT person_id FROM person_identifiers WHERE value IN ({})",
                list_params(self.backend, n + 1, identifiers.len())
            ));
            n += identifiers.len();
        }
        if phone.is_some() {
            n += 1;
            parts.push(format!("SELECT id FROM persons WHERE phone = ${n}"));
        }
        if !tokens.is_empty() {
            parts.push(format!(
                "SELECT person_id FROM person_name_tokens WHERE token IN ({}) GROUP BY person_id HAVING COUNT(*) >= {}",
                list_params(self.backend, n + 1, tokens.len()),
                min_tokens.max(1)
            ));
            n += tokens.len();
        }
        if parts.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = format!(
            "SELECT p.id, p.household_id, p.area_code, v.data FROM persons p \
             JOIN person_versions v ON v.person_id = p.id AND v.version = p.version \
             WHERE p.status = 'active' AND p.id IN ({})",
            parts.join(" UNION ")
        );
        if let Some(w) = within {
            push_within(&mut sql, "p.area_code", &mut n, w.len());
        }
        sql.push_str(&format!(" ORDER BY p.id LIMIT {}", limit.max(1)));
        let mut q = sqlx::query(AssertSqlSafe(sql)).persistent(false);
        for v in identifiers {
            q = q.bind(v.clone());
        }
        if let Some(p) = phone {
            q = q.bind(p.to_owned());
        }
        for t in tokens {
            q = q.bind(t.clone());
        }
        for a in within.unwrap_or_default() {
            q = q.bind(a.clone());
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter().map(dedup_source).collect()
    }

    /// Every stored pair's status, by its two people.
    pub async fn pair_statuses(&self) -> Result<HashMap<(String, String), String>, StoreError> {
        let rows = sqlx::query("SELECT left_id, right_id, status FROM dedup_pairs")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok(((r.try_get(0)?, r.try_get(1)?), r.try_get(2)?)))
            .collect()
    }

    /// Stores a finished run and its pairs in one transaction: new pairs are
    /// inserted pending, pending ones rescored; decided pairs are never
    /// touched (the caller leaves them out and counts them).
    pub async fn save_dedup_run(&self, run: &DedupRunRow, pairs: &[FoundPair]) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "INSERT INTO dedup_runs (id, area_code, threshold, started_by, started_at, finished_at, persons, compared, \
             pairs_found, pairs_new, pairs_decided, model) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(run.id.clone())
        .bind(run.area.clone())
        .bind(run.threshold)
        .bind(run.started_by.clone())
        .bind(time_text(run.started_at))
        .bind(time_text(run.finished_at))
        .bind(run.persons)
        .bind(run.compared)
        .bind(run.pairs_found)
        .bind(run.pairs_new)
        .bind(run.pairs_decided)
        .bind(run.model.clone())
        .execute(&mut *tx)
        .await?;
        let at = time_text(run.finished_at);
        const COLS: usize = 11;
        for chunk in pairs.chunks(500) {
            let values = crate::registry::values_clause(self.backend, chunk.len(), COLS);
            let sql = format!(
                "INSERT INTO dedup_pairs (id, left_id, right_id, left_area, right_area, run_id, probability, weight, \
                 evidence, found_at, status) VALUES {values} \
                 ON CONFLICT (left_id, right_id) DO UPDATE SET run_id = excluded.run_id, \
                 probability = excluded.probability, weight = excluded.weight, evidence = excluded.evidence, \
                 left_area = excluded.left_area, right_area = excluded.right_area \
                 WHERE dedup_pairs.status = 'pending'"
            );
            let mut q = sqlx::query(AssertSqlSafe(sql)).persistent(false);
            for p in chunk {
                q = q
                    .bind(uuid::Uuid::now_v7().to_string())
                    .bind(p.left.to_string())
                    .bind(p.right.to_string())
                    .bind(p.left_area.clone())
                    .bind(p.right_area.clone())
                    .bind(run.id.clone())
                    .bind(p.probability)
                    .bind(p.weight)
                    .bind(p.evidence.clone())
                    .bind(at.clone())
                    .bind("pending");
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The model of the latest run, if any.
    pub async fn latest_dedup_model(&self) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT model FROM dedup_runs ORDER BY finished_at DESC, id DESC LIMIT 1")
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn dedup_run(&self, id: &str) -> Result<Option<DedupRunRow>, StoreError> {
        let row = sqlx::query(
            "SELECT id, area_code, threshold, started_by, started_at, finished_at, persons, compared, pairs_found, \
             pairs_new, pairs_decided, model FROM dedup_runs WHERE id = $1",
        )
        .bind(id.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(DedupRunRow {
                id: r.try_get("id")?,
                area: r.try_get("area_code")?,
                threshold: r.try_get("threshold")?,
                started_by: r.try_get("started_by")?,
                started_at: parse_time(&r.try_get::<String, _>("started_at")?)?,
                finished_at: parse_time(&r.try_get::<String, _>("finished_at")?)?,
                persons: r.try_get("persons")?,
                compared: r.try_get("compared")?,
                pairs_found: r.try_get("pairs_found")?,
                pairs_new: r.try_get("pairs_new")?,
                pairs_decided: r.try_get("pairs_decided")?,
                model: r.try_get("model")?,
            })
        })
        .transpose()
    }

    /// Pairs of the review queue, most probable first.
    pub async fn dedup_pairs(&self, f: &PairFilter) -> Result<Vec<PairRow>, StoreError> {
        let mut sql = format!("SELECT {PAIR_COLUMNS} FROM dedup_pairs WHERE 1 = 1");
        let mut n = 0;
        if f.status.is_some() {
            n += 1;
            sql.push_str(&format!(" AND status = ${n}"));
        }
        if f.area.is_some() {
            sql.push_str(" AND (1 = 0");
            // The same area twice: once for each side.
            let mut one = String::new();
            push_area(&mut one, "left_area", &mut n);
            sql.push_str(&one.replacen(" AND ", " OR ", 1));
            let mut two = String::new();
            push_area(&mut two, "right_area", &mut n);
            sql.push_str(&two.replacen(" AND ", " OR ", 1));
            sql.push(')');
        }
        if let Some(w) = &f.within {
            push_within(&mut sql, "left_area", &mut n, w.len());
            push_within(&mut sql, "right_area", &mut n, w.len());
        }
        if f.after.is_some() {
            sql.push_str(&format!(
                " AND (probability < ${} OR (probability = ${} AND id > ${}))",
                n + 1,
                n + 1,
                n + 2
            ));
        }
        sql.push_str(&format!(" ORDER BY probability DESC, id LIMIT {}", f.limit.max(1)));
        let mut q = sqlx::query(AssertSqlSafe(sql)).persistent(false);
        if let Some(s) = &f.status {
            q = q.bind(s.clone());
        }
        if let Some(a) = &f.area {
            q = q.bind(a.clone()).bind(a.clone());
        }
        if let Some(w) = &f.within {
            for a in w.iter().chain(w.iter()) {
                q = q.bind(a.clone());
            }
        }
        if let Some((p, id)) = &f.after {
            q = q.bind(*p).bind(id.clone());
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter().map(pair_from_row).collect()
    }

    pub async fn dedup_pair(&self, id: &str) -> Result<Option<PairRow>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {PAIR_COLUMNS} FROM dedup_pairs WHERE id = $1"
        )))
        .bind(id.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(pair_from_row).transpose()
    }

    /// The programmes people and their households are in: `(beneficiary, programme, status)`.
    pub async fn programmes_of(&self, beneficiaries: &[String]) -> Result<Vec<(String, String, String)>, StoreError> {
        let mut out = Vec::new();
        for chunk in beneficiaries.chunks(5_000) {
            let sql = format!(
                "SELECT beneficiary_id, programme_code, status FROM enrolments WHERE beneficiary_id IN ({}) \
                 ORDER BY beneficiary_id, programme_code",
                list_params(self.backend, 1, chunk.len())
            );
            let mut q = sqlx::query(AssertSqlSafe(sql)).persistent(false);
            for b in chunk {
                q = q.bind(b.clone());
            }
            for r in q.fetch_all(&self.pool).await? {
                out.push((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?));
            }
        }
        Ok(out)
    }
}

impl Tx {
    /// A pair read inside the transaction.
    pub async fn dedup_pair(&mut self, id: &str) -> Result<Option<PairRow>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {PAIR_COLUMNS} FROM dedup_pairs WHERE id = $1"
        )))
        .bind(id.to_owned())
        .fetch_optional(&mut *self.tx)
        .await?;
        row.as_ref().map(pair_from_row).transpose()
    }

    /// Records a decision on a pair that is still `expected`; false if it
    /// was decided meanwhile.
    pub async fn decide_pair(&mut self, id: &str, expected: &str, d: &PairDecisionRow<'_>) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE dedup_pairs SET status = $1, decided_by = $2, decided_at = $3, reason = $4, survivor_id = $5 \
             WHERE id = $6 AND status = $7",
        )
        .bind(d.status.to_owned())
        .bind(d.by.to_owned())
        .bind(time_text(d.at))
        .bind(d.reason.map(str::to_owned))
        .bind(d.survivor.map(|s| s.to_string()))
        .bind(id.to_owned())
        .bind(expected.to_owned())
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Moves what refers to `from` to `to` (of household `household` in
    /// `area`): enrolments in programmes `to` is not in already (with their
    /// events), compliance records of periods `to` has none for, financial
    /// accounts (`from`'s primary stays primary only if `to` has none),
    /// entitlements of cycles `to` has none in, and being a recipient. Marks
    /// `from` as merged into `to`. What `to` already had stays with `from`,
    /// counted as kept.
    pub async fn move_person_links(
        &mut self,
        from: PersonId,
        to: PersonId,
        household: HouseholdId,
        area: &str,
    ) -> Result<Moved, StoreError> {
        let (f, t, h) = (from.to_string(), to.to_string(), household.to_string());
        let mut m = Moved::default();
        let count = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql);
        let before_enrolments = count("SELECT COUNT(*) FROM enrolments WHERE beneficiary_id = $1")
            .bind(f.clone())
            .fetch_one(&mut *self.tx)
            .await?;
        let moved_codes: Vec<String> = sqlx::query_scalar(
            "SELECT programme_code FROM enrolments e WHERE beneficiary_id = $1 AND NOT EXISTS \
             (SELECT 1 FROM enrolments o WHERE o.programme_code = e.programme_code AND o.beneficiary_id = $2)",
        )
        .bind(f.clone())
        .bind(t.clone())
        .fetch_all(&mut *self.tx)
        .await?;
        for code in &moved_codes {
            sqlx::query(
                "UPDATE enrolments SET beneficiary_id = $1, household_id = $2, area_code = $3 \
                 WHERE programme_code = $4 AND beneficiary_id = $5",
            )
            .bind(t.clone())
            .bind(h.clone())
            .bind(area.to_owned())
            .bind(code.clone())
            .bind(f.clone())
            .execute(&mut *self.tx)
            .await?;
            m.enrolment_events += sqlx::query(
                "UPDATE enrolment_events SET beneficiary_id = $1 WHERE programme_code = $2 AND beneficiary_id = $3",
            )
            .bind(t.clone())
            .bind(code.clone())
            .bind(f.clone())
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
        }
        m.enrolments = moved_codes.len() as u64;
        m.enrolments_kept = before_enrolments as u64 - m.enrolments;
        m.recipient_of += sqlx::query("UPDATE enrolments SET recipient_id = $1 WHERE recipient_id = $2")
            .bind(t.clone())
            .bind(f.clone())
            .execute(&mut *self.tx)
            .await?
            .rows_affected();

        let before = count("SELECT COUNT(*) FROM compliance_records WHERE person_id = $1")
            .bind(f.clone())
            .fetch_one(&mut *self.tx)
            .await?;
        m.compliance_records = sqlx::query(
            "UPDATE compliance_records SET person_id = $1, household_id = $2 WHERE person_id = $3 AND NOT EXISTS \
             (SELECT 1 FROM compliance_records o WHERE o.person_id = $1 AND o.kind = compliance_records.kind \
              AND o.period = compliance_records.period)",
        )
        .bind(t.clone())
        .bind(h.clone())
        .bind(f.clone())
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        m.compliance_records_kept = before as u64 - m.compliance_records;

        let survivor_has_primary = count(
            "SELECT COUNT(*) FROM financial_accounts WHERE person_id = $1 AND is_primary = 1 AND status = 'active'",
        )
        .bind(t.clone())
        .fetch_one(&mut *self.tx)
        .await?
            > 0;
        if survivor_has_primary {
            sqlx::query("UPDATE financial_accounts SET is_primary = 0 WHERE person_id = $1")
                .bind(f.clone())
                .execute(&mut *self.tx)
                .await?;
        }
        m.accounts =
            sqlx::query("UPDATE financial_accounts SET person_id = $1, household_id = $2 WHERE person_id = $3")
                .bind(t.clone())
                .bind(h.clone())
                .bind(f.clone())
                .execute(&mut *self.tx)
                .await?
                .rows_affected();

        // Entitlements are found cycle by cycle through the (cycle_id,
        // beneficiary_id) index: a merge reads its person's rows, never
        // every cycle's million.
        let before = count(
            "SELECT COUNT(*) FROM entitlements WHERE cycle_id IN (SELECT id FROM cycles) AND beneficiary_id = $1",
        )
        .bind(f.clone())
        .fetch_one(&mut *self.tx)
        .await?;
        m.entitlements = sqlx::query(
            "UPDATE entitlements SET beneficiary_id = $1, household_id = $2 WHERE cycle_id IN (SELECT id FROM cycles) \
             AND beneficiary_id = $3 AND NOT EXISTS \
             (SELECT 1 FROM entitlements o WHERE o.cycle_id = entitlements.cycle_id AND o.beneficiary_id = $1)",
        )
        .bind(t.clone())
        .bind(h.clone())
        .bind(f.clone())
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        m.entitlements_kept = before as u64 - m.entitlements;
        // Only payments not yet issued change hands, and only a cycle still
        // open can issue one: closed cycles are not read.
        m.recipient_of += sqlx::query(
            "UPDATE entitlements SET recipient_id = $1 WHERE cycle_id IN \
             (SELECT id FROM cycles WHERE status NOT IN ('closed', 'cancelled')) AND recipient_id = $2 AND batch_id IS NULL",
        )
        .bind(t.clone())
        .bind(f.clone())
        .execute(&mut *self.tx)
        .await?
        .rows_affected();

        sqlx::query("UPDATE persons SET merged_into = $1 WHERE id = $2")
            .bind(t)
            .bind(f)
            .execute(&mut *self.tx)
            .await?;
        Ok(m)
    }

    /// Pending pairs of a person merged into another: nothing left to decide.
    pub async fn supersede_pairs_of(&mut self, id: PersonId) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE dedup_pairs SET status = 'superseded' WHERE status = 'pending' AND (left_id = $1 OR right_id = $1)",
        )
        .bind(id.to_string())
        .execute(&mut *self.tx)
        .await?
        .rows_affected())
    }

    /// People stored as merged into `id`.
    pub async fn merged_into(&mut self, id: PersonId) -> Result<Vec<PersonId>, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar("SELECT id FROM persons WHERE merged_into = $1 ORDER BY id")
            .bind(id.to_string())
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter()
            .map(|s| {
                uuid::Uuid::parse_str(s)
                    .map(PersonId)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect()
    }
}

/// A person as a run or an intake check reads them.
pub(crate) fn dedup_source(row: &sqlx::any::AnyRow) -> Result<DedupSource, StoreError> {
    let data: String = row.try_get("data")?;
    Ok(DedupSource {
        id: PersonId(uuid_of(row, "id")?),
        household_id: HouseholdId(uuid_of(row, "household_id")?),
        area: row.try_get("area_code")?,
        record: serde_json::from_str(&data).map_err(|e| StoreError::Corrupt(format!("person data: {e}")))?,
    })
}
