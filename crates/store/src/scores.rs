//! Proxy means test scores: each household's latest, with the model version
//! and household version it was computed from, so that a stale score is
//! recognised and computed again.

use chrono::{DateTime, Utc};
use himaya_domain::attributes::Attributes;
use himaya_domain::household::{HouseholdId, HouseholdRecord};
use sqlx::{AssertSqlSafe, Row};

use crate::registry::{push_area, uuid_of};
use crate::{Backend, Store, StoreError, parse_time, time_text};

/// A stored score; `score` is `None` when inputs were missing.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreRow {
    pub household_id: HouseholdId,
    pub model_version: String,
    pub household_version: i64,
    pub score: Option<f64>,
    pub missing: Vec<String>,
    pub scored_at: DateTime<Utc>,
}

/// A household to score: its id, version and attributes.
pub struct ToScore {
    pub id: HouseholdId,
    pub version: i64,
    pub attributes: Attributes,
}

impl Store {
    /// Active households (in `area`, if given) whose score is missing or was
    /// computed by another model version or from an older version of the
    /// household, in id order after `after`.
    pub async fn households_to_score(
        &self,
        model_version: &str,
        area: Option<&str>,
        after: Option<HouseholdId>,
        limit: u32,
    ) -> Result<Vec<ToScore>, StoreError> {
        let mut sql = String::from(
            "SELECT h.id, h.version, v.data FROM households h \
             JOIN household_versions v ON v.household_id = h.id AND v.version = h.version \
             LEFT JOIN household_scores s ON s.household_id = h.id \
             WHERE h.status = 'active' \
             AND (s.household_id IS NULL OR s.model_version <> $1 OR s.household_version <> h.version)",
        );
        let mut n = 1;
        if area.is_some() {
            push_area(&mut sql, "h.area_code", &mut n);
        }
        if after.is_some() {
            n += 1;
            sql.push_str(&format!(" AND h.id > ${n}"));
        }
        sql.push_str(&format!(" ORDER BY h.id LIMIT {}", limit.max(1)));
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(model_version.to_owned());
        if let Some(a) = area {
            q = q.bind(a.to_owned());
        }
        if let Some(a) = after {
            q = q.bind(a.to_string());
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                let data: String = row.try_get("data")?;
                let record: HouseholdRecord =
                    serde_json::from_str(&data).map_err(|e| StoreError::Corrupt(format!("household data: {e}")))?;
                Ok(ToScore {
                    id: HouseholdId(uuid_of(row, "id")?),
                    version: row.try_get("version")?,
                    attributes: record.attributes,
                })
            })
            .collect()
    }

    /// Stores scores, replacing each household's previous one, in one transaction.
    pub async fn save_scores(&self, rows: &[ScoreRow]) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        for chunk in rows.chunks(1000) {
            // NULLs are written as such, not bound: PostgreSQL would type a
            // bound NULL once for a cached statement and refuse the number
            // bound there next time.
            let mut values = String::new();
            let mut n = 0;
            let param = |n: &mut usize| {
                *n += 1;
                match self.backend {
                    Backend::Sqlite => "?".to_owned(),
                    Backend::Postgres => format!("${n}"),
                }
            };
            for (i, r) in chunk.iter().enumerate() {
                if i > 0 {
                    values.push_str(", ");
                }
                let (a, b, c) = (param(&mut n), param(&mut n), param(&mut n));
                let score = if r.score.is_some() {
                    param(&mut n)
                } else {
                    "NULL".into()
                };
                let missing = if r.missing.is_empty() {
                    "NULL".into()
                } else {
                    param(&mut n)
                };
                let at = param(&mut n);
                values.push_str(&format!("({a}, {b}, {c}, {score}, {missing}, {at})"));
            }
            let sql = format!(
                "INSERT INTO household_scores (household_id, model_version, household_version, score, missing, scored_at) \
                 VALUES {values} ON CONFLICT (household_id) DO UPDATE SET model_version = excluded.model_version, \
                 household_version = excluded.household_version, score = excluded.score, \
                 missing = excluded.missing, scored_at = excluded.scored_at"
            );
            let mut q = sqlx::query(AssertSqlSafe(sql)).persistent(false);
            for r in chunk {
                q = q
                    .bind(r.household_id.to_string())
                    .bind(r.model_version.clone())
                    .bind(r.household_version);
                if let Some(score) = r.score {
                    q = q.bind(score);
                }
                if !r.missing.is_empty() {
                    q = q.bind(serde_json::to_string(&r.missing).unwrap_or_default());
                }
                q = q.bind(time_text(r.scored_at));
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn household_score(&self, id: HouseholdId) -> Result<Option<ScoreRow>, StoreError> {
        let row = sqlx::query(
            "SELECT household_id, model_version, household_version, score, missing, scored_at \
             FROM household_scores WHERE household_id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let missing: Option<String> = row.try_get("missing")?;
            Ok(ScoreRow {
                household_id: HouseholdId(uuid_of(&row, "household_id")?),
                model_version: row.try_get("model_version")?,
                household_version: row.try_get("household_version")?,
                score: row.try_get("score")?,
                missing: missing
                    .map(|m| serde_json::from_str(&m))
                    .transpose()
                    .map_err(|e| StoreError::Corrupt(format!("missing inputs: {e}")))?
                    .unwrap_or_default(),
                scored_at: parse_time(&row.try_get::<String, _>("scored_at")?)?,
            })
        })
        .transpose()
    }
}
