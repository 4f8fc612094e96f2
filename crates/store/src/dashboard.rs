//! Headline counts for the dashboard, within an area scope: totals by area
//! and by programme, never records.

use sqlx::{AssertSqlSafe, Row};

use crate::registry::push_within;
use crate::{Store, StoreError};

/// Counts by area code (households, people) and by programme and status (enrolments).
#[derive(Clone, Debug, Default)]
pub struct AreaCounts {
    pub households: Vec<(String, i64)>,
    pub persons: Vec<(String, i64)>,
    pub enrolments: Vec<(String, String, i64)>,
}

impl Store {
    /// Active households and people per area, and enrolments per programme
    /// and status, limited to `within` (area codes and what lies below
    /// them) unless it is `None`.
    pub async fn area_counts(&self, within: Option<&[String]>) -> Result<AreaCounts, StoreError> {
        let scoped = |base: &str, column: &str, group: &str| {
            let mut sql = base.to_owned();
            let mut n = 0;
            if let Some(w) = within {
                push_within(&mut sql, column, &mut n, w.len());
            }
            sql.push_str(group);
            sql
        };
        let by_area = |table: &str| {
            scoped(
                &format!("SELECT area_code, COUNT(*) AS n FROM {table} WHERE status = 'active'"),
                "area_code",
                " GROUP BY area_code",
            )
        };
        let mut out = AreaCounts::default();
        for (table, slot) in [("households", &mut out.households), ("persons", &mut out.persons)] {
            let mut q = sqlx::query(AssertSqlSafe(by_area(table)));
            for code in within.unwrap_or_default() {
                q = q.bind(code.clone());
            }
            for row in q.fetch_all(&self.pool).await? {
                slot.push((row.try_get("area_code")?, row.try_get("n")?));
            }
        }
        let sql = scoped(
            "SELECT programme_code, status, COUNT(*) AS n FROM enrolments WHERE 1 = 1",
            "area_code",
            " GROUP BY programme_code, status ORDER BY programme_code, status",
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for code in within.unwrap_or_default() {
            q = q.bind(code.clone());
        }
        for row in q.fetch_all(&self.pool).await? {
            out.enrolments.push((
                row.try_get("programme_code")?,
                row.try_get("status")?,
                row.try_get("n")?,
            ));
        }
        Ok(out)
    }
}
