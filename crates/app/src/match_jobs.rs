//! Agency match jobs: a list longer than one request takes, queued in the
//! database with its rows and matched in the background, one job at a time,
//! by the same matching as `POST /api/v1/matches`.
//!
//! A job is stored whole (its rows with it) before it is acknowledged, so a
//! server that stops loses none: when a server starts its worker, jobs left
//! running are queued again and every queued job runs. A rerun first clears
//! what the interrupted run wrote, and results are keyed by row, so a row
//! has one result however often its job ran. A run writes and ends its job
//! only while the job is still in that run (named by its start), so a run a
//! restarted server's rerun took over neither writes nor ends it.
//!
//! Results store only which person each row matched and how probably. What
//! is shown of that person (the record within the reader's field set, and
//! the programmes the field set names) is read when the results are read:
//! an agency whose field set was narrowed after its job ran sees no more
//! than it may see now, and no copy of a registry record outlives it in the
//! job's tables.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use himaya_domain::access::Permission;
use himaya_store::{DedupSource, MatchJobRow};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::Record;
use crate::dedup::{
    DEFAULT_MATCH_THRESHOLD, MAX_MATCH_ROWS, MatchRequest, MatchResult, MatchRow, best_matches, check_threshold,
    match_record, revealed,
};
use crate::{Actor, ActorKind, App, AppError};

/// The most rows one job takes.
pub const MAX_MATCH_JOB_ROWS: usize = 1_000_000;
/// Rows matched at a time: each part of a job is matched exactly as one
/// synchronous request of those rows would be, and memory stays that of one
/// request whatever the job's size.
const JOB_PART: usize = MAX_MATCH_ROWS;
pub const DEFAULT_RESULT_PAGE: u32 = 1_000;
pub const MAX_RESULT_PAGE: u32 = 10_000;
/// How often an idle worker looks for jobs queued by another server on the
/// same database (its own server wakes it at once).
const IDLE_POLL: Duration = Duration::from_secs(30);
const ERROR_PAUSE: Duration = Duration::from_secs(5);

/// A job as its owner sees it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct MatchJobView {
    pub id: String,
    /// queued, running, done or failed.
    pub status: String,
    /// Why a job failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub rows: i64,
    /// Rows matched to a registry person, once done.
    pub matched: Option<i64>,
    pub threshold: f64,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<MatchJobRow> for MatchJobView {
    fn from(j: MatchJobRow) -> Self {
        MatchJobView {
            id: j.id,
            status: j.status,
            reason: j.reason,
            rows: j.rows,
            matched: j.matched,
            threshold: j.threshold,
            created_at: j.created_at,
            started_at: j.started_at,
            finished_at: j.finished_at,
        }
    }
}

/// A page of a job's results: rows after row `after`, at most `limit`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchResultsQuery {
    pub after: Option<u64>,
    pub limit: Option<u32>,
}

#[derive(Clone, Debug, Serialize)]
pub struct MatchResultsPage {
    /// In input order, each as the synchronous route answers it.
    pub rows: Vec<MatchResult>,
    /// The `after` of the next page; `None` after the last row.
    pub next_after: Option<usize>,
}

/// The background worker's state, shared by the app's clones.
#[derive(Default)]
pub(crate) struct MatchJobs {
    wake: tokio::sync::Notify,
    started: AtomicBool,
}

/// Who may see a job: the user who submitted it, or any token of the agency.
fn owner(actor: &Actor) -> (&'static str, String) {
    match actor.kind() {
        ActorKind::User { id } => ("user", id.clone()),
        ActorKind::Agency { id, .. } => ("agency", id.clone()),
        ActorKind::System => ("system", actor.name.clone()),
    }
}

fn not_found_job(id: &str) -> AppError {
    AppError::NotFound {
        what: "match job",
        id: id.to_owned(),
    }
}

fn job_record(id: &str) -> Record {
    Record::new("match_job", id)
}

impl App {
    /// Queues an agency's list to be matched in the background, once every
    /// row has been checked as the synchronous route checks it.
    pub async fn submit_match_job(&self, actor: &Actor, req: MatchRequest) -> Result<MatchJobView, AppError> {
        actor.require(Permission::PersonsMatch)?;
        let threshold = check_threshold(req.threshold, DEFAULT_MATCH_THRESHOLD)?;
        self.check_match_rows(&req.rows, MAX_MATCH_JOB_ROWS, "per job; split the list")?;
        let rows: Vec<String> = req
            .rows
            .iter()
            .map(|r| serde_json::to_string(r).map_err(|e| AppError::Internal(format!("match row: {e}"))))
            .collect::<Result<_, _>>()?;
        let (owner_kind, owner_id) = owner(actor);
        let job = MatchJobRow {
            id: uuid::Uuid::now_v7().to_string(),
            owner_kind: owner_kind.to_owned(),
            owner_id,
            created_by: actor.name.clone(),
            within: self.scope_filter(actor),
            threshold,
            rows: rows.len() as i64,
            status: "queued".into(),
            reason: None,
            matched: None,
            // As stored (to the microsecond), so the answer equals what later reads give.
            created_at: Utc::now().trunc_subsecs(6),
            started_at: None,
            finished_at: None,
        };
        self.store().insert_match_job(&job, &rows).await?;
        self.audit(
            actor,
            "persons.match_job.submit",
            Some(job_record(&job.id)),
            json!({"rows": job.rows, "threshold": threshold}),
        )
        .await?;
        self.match_jobs.wake.notify_one();
        Ok(job.into())
    }

    /// A job of the caller's (or the caller's agency's); anyone else's is not found.
    pub async fn match_job(&self, actor: &Actor, id: &str) -> Result<MatchJobView, AppError> {
        Ok(self.own_match_job(actor, id).await?.into())
    }

    async fn own_match_job(&self, actor: &Actor, id: &str) -> Result<MatchJobRow, AppError> {
        actor.require(Permission::PersonsMatch)?;
        let job = self.store().match_job(id).await?.ok_or_else(|| not_found_job(id))?;
        let (kind, owner_id) = owner(actor);
        if job.owner_kind != kind || job.owner_id != owner_id {
            return Err(not_found_job(id));
        }
        Ok(job)
    }

    /// A page of a done job's results, shown as the caller may see them now.
    pub async fn match_job_results(
        &self,
        actor: &Actor,
        id: &str,
        q: &MatchResultsQuery,
    ) -> Result<MatchResultsPage, AppError> {
        let limit = match q.limit {
            None => DEFAULT_RESULT_PAGE,
            Some(n) if (1..=MAX_RESULT_PAGE).contains(&n) => n,
            Some(_) => {
                return Err(AppError::invalid(
                    "limit",
                    "out-of-range",
                    format!("limit must be between 1 and {MAX_RESULT_PAGE}"),
                ));
            }
        };
        let after = match q.after {
            None => None,
            Some(a) => Some(
                i64::try_from(a)
                    .map_err(|_| AppError::invalid("after", "out-of-range", "after is a row number of the job"))?,
            ),
        };
        let job = self.own_match_job(actor, id).await?;
        match job.status.as_str() {
            "done" => {}
            "failed" => {
                return Err(AppError::conflict(
                    "job-failed",
                    format!(
                        "the job failed: {}",
                        job.reason.as_deref().unwrap_or("no reason recorded")
                    ),
                ));
            }
            s => {
                return Err(AppError::conflict(
                    "job-not-done",
                    format!("the job is {s}: results are read once it is done"),
                ));
            }
        }
        let stored = self.store().match_job_results(id, after, limit).await?;
        let ids: Vec<_> = stored.iter().filter_map(|r| r.person_id).collect();
        let people: HashMap<_, DedupSource> = self
            .store()
            .persons_as_sources(&ids)
            .await?
            .into_iter()
            .map(|s| (s.id, s))
            .collect();
        let mut found = Vec::with_capacity(stored.len());
        for r in &stored {
            let row: MatchRow = serde_json::from_str(&r.data)
                .map_err(|e| AppError::Internal(format!("match job {id} row {}: {e}", r.row)))?;
            let best = match (r.person_id, r.probability) {
                (Some(p), Some(probability)) => Some((
                    people.get(&p).ok_or_else(|| {
                        AppError::Internal(format!("match job {id} row {}: person {p} is gone", r.row))
                    })?,
                    probability,
                )),
                _ => None,
            };
            found.push((r.row as usize, row.reference, best));
        }
        let rows = self.match_results(actor, found).await?;
        let next_after = if rows.len() == limit as usize {
            rows.last().map(|r| r.row)
        } else {
            None
        };
        self.audit_read(
            actor,
            "persons.match_job.results",
            Some(job_record(id)),
            json!({"after": after, "rows": rows.len(), "matched": rows.iter().filter(|r| r.person_id.is_some()).count()}),
            revealed(&rows),
        )
        .await?;
        Ok(MatchResultsPage { rows, next_after })
    }

    /// Starts the server's match-job worker (once; later calls do nothing):
    /// jobs a stopped server left running are queued again, then queued jobs
    /// run one at a time, oldest first.
    pub fn start_match_jobs(&self) {
        if self.match_jobs.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let app = self.clone();
        tokio::spawn(async move { app.match_job_worker().await });
    }

    async fn match_job_worker(self) {
        loop {
            match self.store().requeue_running_match_jobs().await {
                Ok(n) => {
                    if n > 0 {
                        tracing::info!(jobs = n, "match jobs left running are queued again");
                    }
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot requeue match jobs");
                    tokio::time::sleep(ERROR_PAUSE).await;
                }
            }
        }
        loop {
            match self.store().claim_match_job(Utc::now()).await {
                Ok(Some(job)) => self.run_match_job(job).await,
                Ok(None) => {
                    let _ = tokio::time::timeout(IDLE_POLL, self.match_jobs.wake.notified()).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot take a match job");
                    tokio::time::sleep(ERROR_PAUSE).await;
                }
            }
        }
    }

    /// Runs a claimed job to its end. If even recording the end fails, the
    /// job stays running and the next start of a server runs it again.
    async fn run_match_job(&self, job: MatchJobRow) {
        let Some(run) = job.started_at else {
            tracing::warn!(job = %job.id, "a claimed match job has no start time");
            return;
        };
        let outcome = self.match_job_parts(&job, run).await;
        if let Err(AppError::Conflict {
            code: "run-superseded", ..
        }) = &outcome
        {
            tracing::warn!(job = %job.id, "another run of the match job took over");
            return;
        }
        let (status, reason, matched) = match &outcome {
            Ok(m) => ("done", None, Some(*m)),
            Err(e) => ("failed", Some(e.to_string()), None),
        };
        match self
            .store()
            .finish_match_job(&job.id, run, status, reason.as_deref(), matched, Utc::now())
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(job = %job.id, "another run of the match job took over");
                return;
            }
            Err(e) => {
                tracing::warn!(job = %job.id, error = %e, "cannot record the end of a match job");
                return;
            }
        }
        let detail = json!({"rows": job.rows, "matched": matched, "status": status, "reason": reason});
        if let Err(e) = self
            .audit(
                &Actor::system("match-job"),
                "persons.match_job.run",
                Some(job_record(&job.id)),
                detail,
            )
            .await
        {
            tracing::warn!(job = %job.id, error = %e, "cannot audit a match job");
        }
    }

    /// Matches a job's rows part by part and stores each part's results;
    /// returns how many rows matched.
    async fn match_job_parts(&self, job: &MatchJobRow, run: DateTime<Utc>) -> Result<i64, AppError> {
        let registry = self.match_registry(job.within.as_deref()).await?;
        let mut matched = 0;
        let mut from = 0;
        while from < job.rows {
            let to = (from + JOB_PART as i64).min(job.rows);
            let inputs = self.store().match_job_inputs(&job.id, from, to).await?;
            if inputs.len() as i64 != to - from {
                return Err(AppError::Internal(format!(
                    "match job {}: {} stored rows of {from}..{to}",
                    job.id,
                    inputs.len()
                )));
            }
            let mut records = Vec::with_capacity(inputs.len());
            for (row, data) in &inputs {
                let r: MatchRow = serde_json::from_str(data)
                    .map_err(|e| AppError::Internal(format!("match job {} row {row}: {e}", job.id)))?;
                // Checked when submitted; an area removed since fails the job here.
                records.push(match_record(&r, *row as usize, |a| self.area_known(a)).map_err(AppError::Invalid)?);
            }
            let best = best_matches(registry.clone(), records, job.threshold).await?;
            let results: Vec<_> = inputs
                .iter()
                .zip(best)
                .map(|((row, _), b)| (*row, b.map(|(r, _)| registry.sources[r as usize].id), b.map(|(_, p)| p)))
                .collect();
            matched += results.iter().filter(|r| r.1.is_some()).count() as i64;
            if !self.store().save_match_job_results(&job.id, run, &results).await? {
                return Err(AppError::conflict(
                    "run-superseded",
                    "a server that started since runs the job again",
                ));
            }
            from = to;
        }
        Ok(matched)
    }
}
