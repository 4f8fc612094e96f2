//! Agency match jobs: the job, its input rows and its results.

use chrono::{DateTime, Utc};
use himaya_domain::person::PersonId;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::dedup::{DedupSource, dedup_source};
use crate::registry::{list_params, values_clause};
use crate::{Store, StoreError, parse_time, time_text};

/// A stored match job.
#[derive(Clone, Debug, PartialEq)]
pub struct MatchJobRow {
    pub id: String,
    /// `user`, `agency` or `system`.
    pub owner_kind: String,
    pub owner_id: String,
    pub created_by: String,
    /// The submitter's areas; `None` for everywhere.
    pub within: Option<Vec<String>>,
    pub threshold: f64,
    pub rows: i64,
    /// queued, running, done or failed.
    pub status: String,
    pub reason: Option<String>,
    pub matched: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// One row of a job's results: the input row as sent (JSON) and the person
/// it matched, if the run has scored it.
#[derive(Clone, Debug)]
pub struct MatchJobResultRow {
    pub row: i64,
    pub data: String,
    pub person_id: Option<PersonId>,
    pub probability: Option<f64>,
}

const JOB_COLUMNS: &str = "id, owner_kind, owner_id, created_by, within_areas, threshold, row_count, status, reason, \
     matched, created_at, started_at, finished_at";

fn job_from_row(row: &AnyRow) -> Result<MatchJobRow, StoreError> {
    let time = |c: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
        row.try_get::<Option<String>, _>(c)?
            .as_deref()
            .map(parse_time)
            .transpose()
    };
    let within: Option<String> = row.try_get("within_areas")?;
    Ok(MatchJobRow {
        id: row.try_get("id")?,
        owner_kind: row.try_get("owner_kind")?,
        owner_id: row.try_get("owner_id")?,
        created_by: row.try_get("created_by")?,
        within: within
            .map(|w| serde_json::from_str(&w))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("match job areas: {e}")))?,
        threshold: row.try_get("threshold")?,
        rows: row.try_get("row_count")?,
        status: row.try_get("status")?,
        reason: row.try_get("reason")?,
        matched: row.try_get("matched")?,
        created_at: parse_time(&row.try_get::<String, _>("created_at")?)?,
        started_at: time("started_at")?,
        finished_at: time("finished_at")?,
    })
}

fn person_id_of(s: Option<String>) -> Result<Option<PersonId>, StoreError> {
    s.map(|s| uuid::Uuid::parse_str(&s).map(PersonId))
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("match result person_id: {e}")))
}

/// Rows per multi-row INSERT: well under PostgreSQL's 65,535 parameters.
const CHUNK: usize = 1_000;

impl Store {
    /// Stores a queued job with all its input rows, in one transaction: a
    /// job is queued whole or not at all.
    pub async fn insert_match_job(&self, job: &MatchJobRow, rows: &[String]) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO match_jobs ({JOB_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        )))
        .bind(job.id.clone())
        .bind(job.owner_kind.clone())
        .bind(job.owner_id.clone())
        .bind(job.created_by.clone())
        .bind(
            job.within
                .as_ref()
                .map(|w| serde_json::to_string(w).unwrap_or_default()),
        )
        .bind(job.threshold)
        .bind(job.rows)
        .bind(job.status.clone())
        .bind(job.reason.clone())
        .bind(job.matched)
        .bind(time_text(job.created_at))
        .bind(job.started_at.map(time_text))
        .bind(job.finished_at.map(time_text))
        .execute(&mut *tx)
        .await?;
        for (c, chunk) in rows.chunks(CHUNK).enumerate() {
            let values = values_clause(self.backend, chunk.len(), 3);
            let sql = format!("INSERT INTO match_job_rows (job_id, row_no, data) VALUES {values}");
            let mut q = sqlx::query(AssertSqlSafe(sql)).persistent(false);
            for (i, data) in chunk.iter().enumerate() {
                q = q.bind(job.id.clone()).bind((c * CHUNK + i) as i64).bind(data.clone());
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn match_job(&self, id: &str) -> Result<Option<MatchJobRow>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM match_jobs WHERE id = $1"
        )))
        .bind(id.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// Puts jobs left running (by a server that stopped) back in the queue;
    /// returns how many.
    pub async fn requeue_running_match_jobs(&self) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("UPDATE match_jobs SET status = 'queued', started_at = NULL WHERE status = 'running'")
                .execute(&self.writer)
                .await?
                .rows_affected(),
        )
    }

    /// Takes the oldest queued job and marks it running, clearing whatever
    /// results an interrupted run left, so a rerun replaces them. `None`
    /// when the queue is empty. The returned `started_at` names the run.
    pub async fn claim_match_job(&self, at: DateTime<Utc>) -> Result<Option<MatchJobRow>, StoreError> {
        let mut tx = self.writer.begin().await?;
        let id = loop {
            let id: Option<String> =
                sqlx::query_scalar("SELECT id FROM match_jobs WHERE status = 'queued' ORDER BY created_at, id LIMIT 1")
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some(id) = id else {
                return Ok(None);
            };
            let taken = sqlx::query(
                "UPDATE match_jobs SET status = 'running', started_at = $1, reason = NULL, matched = NULL \
                 WHERE id = $2 AND status = 'queued'",
            )
            .bind(time_text(at))
            .bind(id.clone())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            // Another server took it between the two statements: the next one, then.
            if taken == 1 {
                break id;
            }
        };
        sqlx::query("DELETE FROM match_job_results WHERE job_id = $1")
            .bind(id.clone())
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM match_jobs WHERE id = $1"
        )))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        job_from_row(&row).map(Some)
    }

    /// Input rows `from..to` of a job, in order, as `(row, JSON)`.
    pub async fn match_job_inputs(&self, id: &str, from: i64, to: i64) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT row_no, data FROM match_job_rows WHERE job_id = $1 AND row_no >= $2 AND row_no < $3 \
             ORDER BY row_no",
        )
        .bind(id.to_owned())
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
    }

    /// Writes results `(row, person, probability)` of the job's run that
    /// started at `run`; a row written again replaces what it had. False,
    /// writing nothing, if the job is no longer in that run (a server that
    /// started since queued it again and another run took it over).
    pub async fn save_match_job_results(
        &self,
        id: &str,
        run: DateTime<Utc>,
        results: &[(i64, Option<PersonId>, Option<f64>)],
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await?;
        let current: Option<Option<String>> =
            sqlx::query_scalar("SELECT started_at FROM match_jobs WHERE id = $1 AND status = 'running'")
                .bind(id.to_owned())
                .fetch_optional(&mut *tx)
                .await?;
        if current.flatten() != Some(time_text(run)) {
            return Ok(false);
        }
        for chunk in results.chunks(CHUNK) {
            let values = values_clause(self.backend, chunk.len(), 4);
            let sql = format!(
                "INSERT INTO match_job_results (job_id, row_no, person_id, probability) VALUES {values} \
                 ON CONFLICT (job_id, row_no) DO UPDATE SET person_id = excluded.person_id, \
                 probability = excluded.probability"
            );
            let mut q = sqlx::query(AssertSqlSafe(sql)).persistent(false);
            for (row, person, probability) in chunk {
                q = q
                    .bind(id.to_owned())
                    .bind(*row)
                    .bind(person.map(|p| p.to_string()))
                    .bind(*probability);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Ends the job's run that started at `run` as `done` (with the matched
    /// count) or `failed` (with the reason); false if the job is no longer
    /// in that run.
    pub async fn finish_match_job(
        &self,
        id: &str,
        run: DateTime<Utc>,
        status: &str,
        reason: Option<&str>,
        matched: Option<i64>,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE match_jobs SET status = $1, reason = $2, matched = $3, finished_at = $4 \
             WHERE id = $5 AND status = 'running' AND started_at = $6",
        )
        .bind(status.to_owned())
        .bind(reason.map(str::to_owned))
        .bind(matched)
        .bind(time_text(at))
        .bind(id.to_owned())
        .bind(time_text(run))
        .execute(&self.writer)
        .await?
        .rows_affected()
            == 1)
    }

    /// A page of a job's rows after row `after` (or from the first), in
    /// input order, with what each matched.
    pub async fn match_job_results(
        &self,
        id: &str,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<MatchJobResultRow>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT i.row_no, i.data, r.person_id, r.probability FROM match_job_rows i \
             LEFT JOIN match_job_results r ON r.job_id = i.job_id AND r.row_no = i.row_no \
             WHERE i.job_id = $1 AND i.row_no > $2 ORDER BY i.row_no LIMIT {}",
            limit.max(1)
        )))
        .bind(id.to_owned())
        .bind(after.unwrap_or(-1))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(MatchJobResultRow {
                    row: r.try_get(0)?,
                    data: r.try_get(1)?,
                    person_id: person_id_of(r.try_get(2)?)?,
                    probability: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// People by id, whatever their status, with their current records: a
    /// match job's results show the people it matched as they are now.
    pub async fn persons_as_sources(&self, ids: &[PersonId]) -> Result<Vec<DedupSource>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            let sql = format!(
                "SELECT p.id, p.household_id, p.area_code, v.data FROM persons p \
                 JOIN person_versions v ON v.person_id = p.id AND v.version = p.version WHERE p.id IN ({})",
                list_params(self.backend, 1, chunk.len())
            );
            let mut q = sqlx::query(AssertSqlSafe(sql)).persistent(false);
            for id in chunk {
                q = q.bind(id.to_string());
            }
            for r in q.fetch_all(&self.pool).await? {
                out.push(dedup_source(&r)?);
            }
        }
        Ok(out)
    }
}
