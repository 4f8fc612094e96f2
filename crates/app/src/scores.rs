//! Proxy means test scores of registered households: computed in bulk for
//! every household whose score is missing or stale, and on demand, with
//! the contribution of each input, for one household.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use himaya_domain::access::Permission;
use himaya_domain::household::HouseholdId;
use himaya_domain::pmt::{Contribution, PmtModel};
use himaya_store::{ScoreRow, ToScore};
use serde::Serialize;
use serde_json::json;

use crate::registry::household_record;
use crate::{Actor, App, AppError};

/// What a scoring run did, and where its time went.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ScoreRun {
    pub model_version: String,
    pub scored: u64,
    /// Households left unscored for a missing input.
    pub not_scored: u64,
    /// How many households missed each input.
    pub missing: BTreeMap<String, u64>,
    #[serde(skip)]
    pub reading: Duration,
    #[serde(skip)]
    pub scoring: Duration,
    #[serde(skip)]
    pub writing: Duration,
}

/// A household's score and why.
#[derive(Clone, Debug, Serialize)]
pub struct ScoreView {
    pub household_id: HouseholdId,
    pub household_version: i64,
    pub model_version: String,
    /// 0–100, lower is poorer; absent when inputs are missing.
    pub score: Option<f64>,
    pub estimate: Option<f64>,
    pub intercept: f64,
    pub contributions: Vec<Contribution>,
    /// Inputs the household lacks, which keep it from being scored.
    pub missing: Vec<String>,
    pub scored_at: DateTime<Utc>,
}

fn no_model() -> AppError {
    AppError::conflict(
        "no-pmt-model",
        "this deployment has no proxy means test model (pmt_model_file in its configuration)",
    )
}

fn score_row(model: &PmtModel, h: &ToScore, at: DateTime<Utc>) -> ScoreRow {
    let (score, missing) = match model.score(&h.attributes) {
        Ok(s) => (Some(s.score), Vec::new()),
        Err(m) => (None, m.0),
    };
    ScoreRow {
        household_id: h.id,
        model_version: model.version.clone(),
        household_version: h.version,
        score,
        missing,
        scored_at: at,
    }
}

impl App {
    /// Scores every active household (in `area`, if given) whose score is
    /// missing, from another model version, or from an older version of the
    /// household; `progress` hears after each page. Pages are scored on
    /// every core and each page's scores are written in one transaction, so
    /// a run stopped part-way resumes where it stopped.
    pub async fn score_households(
        &self,
        actor: &Actor,
        area: Option<&str>,
        mut progress: impl FnMut(&ScoreRun),
    ) -> Result<ScoreRun, AppError> {
        actor.require(Permission::HouseholdsWrite)?;
        self.require_run_scope(actor, area)?;
        let model = std::sync::Arc::new(self.deployment().pmt.clone().ok_or_else(no_model)?);
        let mut run = ScoreRun {
            model_version: model.version.clone(),
            ..ScoreRun::default()
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut after = None;
        loop {
            let t = Instant::now();
            let page = self
                .store()
                .households_to_score(&model.version, area, after, 5_000)
                .await?;
            run.reading += t.elapsed();
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            let t = Instant::now();
            let at = Utc::now();
            let per = page.len().div_ceil(cores).max(1);
            let mut parts = Vec::new();
            let mut rest = page;
            while !rest.is_empty() {
                let tail = rest.split_off(per.min(rest.len()));
                let part = std::mem::replace(&mut rest, tail);
                let model = model.clone();
                parts.push(tokio::task::spawn_blocking(move || {
                    part.iter().map(|h| score_row(&model, h, at)).collect::<Vec<_>>()
                }));
            }
            let mut rows = Vec::new();
            for part in parts {
                rows.extend(
                    part.await
                        .map_err(|e| AppError::Internal(format!("scoring failed: {e}")))?,
                );
            }
            run.scoring += t.elapsed();
            for r in &rows {
                if r.score.is_some() {
                    run.scored += 1;
                } else {
                    run.not_scored += 1;
                    for m in &r.missing {
                        *run.missing.entry(m.clone()).or_default() += 1;
                    }
                }
            }
            let t = Instant::now();
            self.store().save_scores(&rows).await?;
            run.writing += t.elapsed();
            progress(&run);
        }
        self.audit(
            actor,
            "pmt.score",
            None,
            json!({"model_version": run.model_version, "area": area, "scored": run.scored, "not_scored": run.not_scored}),
        )
        .await?;
        Ok(run)
    }

    /// A household's score with the contribution of each input, computed
    /// afresh — and stored — if the stored one is stale.
    pub async fn household_score(&self, actor: &Actor, id: HouseholdId) -> Result<ScoreView, AppError> {
        actor.require(Permission::HouseholdsRead)?;
        if actor.fields().is_some() {
            // A score would reveal inputs the agency's field set may hide.
            return Err(AppError::forbidden(
                "permission-denied",
                "partner agencies are not shown proxy means test scores",
            ));
        }
        let model = self.deployment().pmt.as_ref().ok_or_else(no_model)?;
        let household = self.store().household(id).await?.ok_or_else(|| AppError::NotFound {
            what: "household",
            id: id.to_string(),
        })?;
        self.require_area(actor, &household.record.area)?;
        let to_score = ToScore {
            id,
            version: household.version,
            attributes: household.record.attributes,
        };
        let stored = self.store().household_score(id).await?;
        let current = stored.filter(|s| s.model_version == model.version && s.household_version == household.version);
        // Computed either way: the stored score keeps no explanation.
        let explained = model.score(&to_score.attributes);
        let row = match current {
            Some(row) => row,
            None => {
                let row = ScoreRow {
                    household_id: id,
                    model_version: model.version.clone(),
                    household_version: household.version,
                    score: explained.as_ref().ok().map(|s| s.score),
                    missing: explained.as_ref().err().map(|m| m.0.clone()).unwrap_or_default(),
                    scored_at: Utc::now(),
                };
                self.store().save_scores(std::slice::from_ref(&row)).await?;
                row
            }
        };
        self.audit_read(
            actor,
            "household.score.read",
            Some(household_record(&id)),
            json!({"model_version": model.version}),
            Vec::new(),
        )
        .await?;
        Ok(ScoreView {
            household_id: id,
            household_version: household.version,
            model_version: row.model_version,
            score: row.score,
            estimate: explained.as_ref().ok().map(|s| s.estimate),
            intercept: model.intercept,
            contributions: explained.map(|s| s.contributions).unwrap_or_default(),
            missing: row.missing,
            scored_at: row.scored_at,
        })
    }
}
