//! Recording compliance with the conditions of conditional transfers:
//! school attendance per child per quarter, health visits per mother or
//! child per quarter. Every record is checked before any is written.

use chrono::Utc;
use himaya_domain::Problem;
use himaya_domain::access::Permission;
use himaya_domain::compliance::{ComplianceKind, Quarter, check_value};
use himaya_domain::person::PersonId;
use himaya_domain::vocab::PersonStatus;
use himaya_store::ComplianceRow;
use serde::Deserialize;
use serde_json::json;

use crate::{Actor, App, AppError};

/// One value to record, as a caller sends it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComplianceInput {
    pub person_id: String,
    /// `school_attendance` (percent of school days) or `health_visits` (a count).
    pub kind: String,
    /// `2026-Q3`.
    pub period: String,
    pub value: f64,
}

/// The most records one call takes; larger files are sent in parts.
pub const COMPLIANCE_BATCH: usize = 10_000;

impl App {
    /// Checks records without writing them: every fault is named by its
    /// position (`records[3].value`).
    pub async fn check_compliance(
        &self,
        actor: &Actor,
        records: &[ComplianceInput],
    ) -> Result<Vec<ComplianceRow>, AppError> {
        actor.require(Permission::PersonsWrite)?;
        if records.is_empty() {
            return Err(AppError::invalid("records", "required", "no records were given"));
        }
        if records.len() > COMPLIANCE_BATCH {
            return Err(AppError::invalid(
                "records",
                "too-many",
                format!("at most {COMPLIANCE_BATCH} records at once; send the rest in another call"),
            ));
        }
        let this_quarter = Quarter::of(Utc::now().date_naive());
        let mut problem = Problem::default();
        let mut rows = Vec::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            let key = |field: &str| format!("records[{i}].{field}");
            let kind = ComplianceKind::from_code(&r.kind);
            if kind.is_none() {
                problem.push(
                    key("kind"),
                    "unknown",
                    format!("unknown kind {:?}; expected one of {}", r.kind, ComplianceKind::codes()),
                );
            }
            match Quarter::parse(&r.period) {
                Ok(q) if q > this_quarter => problem.push(key("period"), "in-future", format!("{q} has not begun")),
                Ok(_) => {}
                Err(m) => problem.push(key("period"), "invalid", m),
            }
            if let Some(k) = kind
                && let Err(m) = check_value(k, r.value)
            {
                problem.push(key("value"), "out-of-range", m);
            }
            let Ok(id) = uuid::Uuid::parse_str(r.person_id.trim()) else {
                problem.push(
                    key("person_id"),
                    "invalid",
                    format!("{:?} is not a person id", r.person_id),
                );
                continue;
            };
            let Some(person) = self.store().person(PersonId(id)).await? else {
                problem.push(key("person_id"), "unknown", "no person has this id");
                continue;
            };
            // The caller's scope first: nothing about a person outside it is told.
            let household = self
                .store()
                .household(person.household_id)
                .await?
                .ok_or_else(|| AppError::NotFound {
                    what: "household",
                    id: person.household_id.to_string(),
                })?;
            self.require_area(actor, &household.record.area)?;
            if person.record.status != PersonStatus::Active {
                problem.push(
                    key("person_id"),
                    "inactive",
                    format!("the person is {}", person.record.status),
                );
                continue;
            }
            if let (Some(k), Ok(q)) = (kind, Quarter::parse(&r.period)) {
                rows.push(ComplianceRow {
                    person_id: person.id,
                    household_id: person.household_id,
                    kind: k.code().to_owned(),
                    period: q.to_string(),
                    value: r.value,
                });
            }
        }
        problem.into_result(rows).map_err(AppError::Invalid)
    }

    /// Writes checked records (see [`App::check_compliance`]) in one transaction.
    pub async fn save_compliance(
        &self,
        actor: &Actor,
        source: &str,
        rows: &[ComplianceRow],
    ) -> Result<usize, AppError> {
        actor.require(Permission::PersonsWrite)?;
        if source.trim().is_empty() || source.chars().count() > 60 {
            return Err(AppError::invalid(
                "source",
                "invalid",
                "name the source in 1 to 60 characters",
            ));
        }
        self.store()
            .save_compliance(rows, source, &actor.name, Utc::now())
            .await?;
        let mut periods: Vec<&str> = rows.iter().map(|r| r.period.as_str()).collect();
        periods.sort_unstable();
        periods.dedup();
        self.audit(
            actor,
            "compliance.record",
            None,
            json!({"records": rows.len(), "source": source, "periods": periods}),
        )
        .await?;
        Ok(rows.len())
    }

    /// Checks and records compliance values: all of them, or none.
    pub async fn record_compliance(
        &self,
        actor: &Actor,
        source: &str,
        records: &[ComplianceInput],
    ) -> Result<usize, AppError> {
        let rows = self.check_compliance(actor, records).await?;
        self.save_compliance(actor, source, &rows).await
    }
}
