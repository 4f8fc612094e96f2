//! Grievances and the moves of each, within area scopes.

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::registry::push_within;
use crate::{Store, StoreError, parse_time, time_text};

/// A grievance as stored.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct GrievanceRow {
    pub id: String,
    pub area_code: String,
    pub household_id: Option<String>,
    pub category: String,
    pub channel: String,
    pub complainant: String,
    pub phone: Option<String>,
    pub description: String,
    pub status: String,
    pub resolution: Option<String>,
    pub opened_at: DateTime<Utc>,
    pub opened_by: String,
    pub changed_at: DateTime<Utc>,
    pub changed_by: String,
}

/// One move of a grievance; the first has no `from_status`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct GrievanceEventRow {
    pub from_status: Option<String>,
    pub to_status: String,
    pub note: String,
    pub actor: String,
    pub at: DateTime<Utc>,
}

/// Which grievances a list shows, newest first.
#[derive(Clone, Debug, Default)]
pub struct GrievanceFilter {
    pub status: Option<String>,
    pub household_id: Option<String>,
    /// Area codes, each with what lies below it; `None` for everywhere.
    pub within: Option<Vec<String>>,
    pub limit: u32,
    pub offset: u32,
}

const COLUMNS: &str = "id, area_code, household_id, category, channel, complainant, phone, description, status, \
     resolution, opened_at, opened_by, changed_at, changed_by";

fn grievance_row(row: &AnyRow) -> Result<GrievanceRow, StoreError> {
    Ok(GrievanceRow {
        id: row.try_get("id")?,
        area_code: row.try_get("area_code")?,
        household_id: row.try_get("household_id")?,
        category: row.try_get("category")?,
        channel: row.try_get("channel")?,
        complainant: row.try_get("complainant")?,
        phone: row.try_get("phone")?,
        description: row.try_get("description")?,
        status: row.try_get("status")?,
        resolution: row.try_get("resolution")?,
        opened_at: parse_time(&row.try_get::<String, _>("opened_at")?)?,
        opened_by: row.try_get("opened_by")?,
        changed_at: parse_time(&row.try_get::<String, _>("changed_at")?)?,
        changed_by: row.try_get("changed_by")?,
    })
}

impl Store {
    /// Records a new grievance and its first event, together.
    pub async fn insert_grievance(&self, g: &GrievanceRow) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO grievances ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        )))
        .bind(g.id.clone())
        .bind(g.area_code.clone())
        .bind(g.household_id.clone())
        .bind(g.category.clone())
        .bind(g.channel.clone())
        .bind(g.complainant.clone())
        .bind(g.phone.clone())
        .bind(g.description.clone())
        .bind(g.status.clone())
        .bind(g.resolution.clone())
        .bind(time_text(g.opened_at))
        .bind(g.opened_by.clone())
        .bind(time_text(g.changed_at))
        .bind(g.changed_by.clone())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO grievance_events (grievance_id, seq, from_status, to_status, note, actor, at) \
             VALUES ($1, 1, NULL, $2, $3, $4, $5)",
        )
        .bind(g.id.clone())
        .bind(g.status.clone())
        .bind(g.description.clone())
        .bind(g.opened_by.clone())
        .bind(time_text(g.opened_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn grievance(&self, id: &str) -> Result<Option<GrievanceRow>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!("SELECT {COLUMNS} FROM grievances WHERE id = $1")))
            .bind(id.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(grievance_row).transpose()
    }

    pub async fn grievance_events(&self, id: &str) -> Result<Vec<GrievanceEventRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT from_status, to_status, note, actor, at FROM grievance_events \
             WHERE grievance_id = $1 ORDER BY seq",
        )
        .bind(id.to_owned())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(GrievanceEventRow {
                    from_status: row.try_get("from_status")?,
                    to_status: row.try_get("to_status")?,
                    note: row.try_get("note")?,
                    actor: row.try_get("actor")?,
                    at: parse_time(&row.try_get::<String, _>("at")?)?,
                })
            })
            .collect()
    }

    /// Grievances matching the filter, newest first, and how many match in all.
    pub async fn grievances(&self, f: &GrievanceFilter) -> Result<(Vec<GrievanceRow>, i64), StoreError> {
        let mut filter = String::from(" WHERE 1 = 1");
        let mut n = 0;
        let mut binds: Vec<String> = Vec::new();
        if let Some(s) = &f.status {
            n += 1;
            filter.push_str(&format!(" AND status = ${n}"));
            binds.push(s.clone());
        }
        if let Some(h) = &f.household_id {
            n += 1;
            filter.push_str(&format!(" AND household_id = ${n}"));
            binds.push(h.clone());
        }
        if let Some(w) = &f.within {
            push_within(&mut filter, "area_code", &mut n, w.len());
            binds.extend(w.iter().cloned());
        }
        let mut count = sqlx::query(AssertSqlSafe(format!("SELECT COUNT(*) AS n FROM grievances{filter}")));
        for b in &binds {
            count = count.bind(b.clone());
        }
        let total: i64 = count.fetch_one(&self.pool).await?.try_get("n")?;
        let sql = format!(
            "SELECT {COLUMNS} FROM grievances{filter} ORDER BY opened_at DESC, id DESC LIMIT {} OFFSET {}",
            f.limit, f.offset
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for b in binds {
            q = q.bind(b);
        }
        let rows = q.fetch_all(&self.pool).await?;
        Ok((rows.iter().map(grievance_row).collect::<Result<_, _>>()?, total))
    }

    /// Moves a grievance from `from` to `to` with its note, and records the
    /// event. `Ok(false)` when it is no longer in `from`, or, with `seen`,
    /// when it has not that many events: someone moved it first. Both are
    /// checked in the update itself, so no move slips in between.
    #[allow(clippy::too_many_arguments)]
    pub async fn move_grievance(
        &self,
        id: &str,
        from: &str,
        seen: Option<usize>,
        to: &str,
        note: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await?;
        // Reopening keeps the earlier resolution in the events only.
        let resolution = (to != "open").then(|| note.to_owned());
        let done = sqlx::query(
            "UPDATE grievances SET status = $1, resolution = $2, changed_at = $3, changed_by = $4 \
             WHERE id = $5 AND status = $6 \
             AND ($7 IS NULL OR (SELECT COUNT(*) FROM grievance_events WHERE grievance_id = $5) = $7)",
        )
        .bind(to.to_owned())
        .bind(resolution)
        .bind(time_text(at))
        .bind(actor.to_owned())
        .bind(id.to_owned())
        .bind(from.to_owned())
        .bind(seen.map(|n| i64::try_from(n).unwrap_or(i64::MAX)))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO grievance_events (grievance_id, seq, from_status, to_status, note, actor, at) \
             SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5, $6 FROM grievance_events WHERE grievance_id = $1",
        )
        .bind(id.to_owned())
        .bind(from.to_owned())
        .bind(to.to_owned())
        .bind(note.to_owned())
        .bind(actor.to_owned())
        .bind(time_text(at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Open grievances within `within` (area codes and what lies below them),
    /// or everywhere when it is `None`.
    pub async fn open_grievances(&self, within: Option<&[String]>) -> Result<i64, StoreError> {
        let mut sql = String::from("SELECT COUNT(*) AS n FROM grievances WHERE status = 'open'");
        let mut n = 0;
        if let Some(w) = within {
            push_within(&mut sql, "area_code", &mut n, w.len());
        }
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for code in within.unwrap_or_default() {
            q = q.bind(code.clone());
        }
        Ok(q.fetch_one(&self.pool).await?.try_get("n")?)
    }
}
