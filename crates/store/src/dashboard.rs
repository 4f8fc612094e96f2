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

/// Entitlements of the cycles being paid — each programme's latest cycle
/// that is issued or reconciling — by currency and status: (currency,
/// status, count, amount in minor units).
#[derive(Clone, Debug, Default)]
pub struct PaymentCounts {
    pub rows: Vec<(String, String, i64, i64)>,
}

impl Store {
    /// The entitlements of each programme's latest cycle in payment (issued
    /// or reconciling), by currency and status, limited to `within` (area
    /// codes and what lies below them) unless it is `None`.
    pub async fn payment_counts(&self, within: Option<&[String]>) -> Result<PaymentCounts, StoreError> {
        let mut sql =
            "SELECT c.currency, e.status, COUNT(*) AS n, CAST(COALESCE(SUM(e.amount), 0) AS BIGINT) AS total \
             FROM entitlements e JOIN cycles c ON c.id = e.cycle_id \
             WHERE c.status IN ('issued', 'reconciling') \
             AND c.opened_at = (SELECT MAX(l.opened_at) FROM cycles l \
                 WHERE l.programme_code = c.programme_code AND l.status IN ('issued', 'reconciling'))"
                .to_owned();
        let mut n = 0;
        if let Some(w) = within {
            push_within(&mut sql, "e.area_code", &mut n, w.len());
        }
        sql.push_str(" GROUP BY c.currency, e.status ORDER BY c.currency, e.status");
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for code in within.unwrap_or_default() {
            q = q.bind(code.clone());
        }
        let mut out = PaymentCounts::default();
        for row in q.fetch_all(&self.pool).await? {
            out.rows.push((
                row.try_get("currency")?,
                row.try_get("status")?,
                row.try_get("n")?,
                row.try_get("total")?,
            ));
        }
        Ok(out)
    }
}
