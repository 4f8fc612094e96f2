//! Grievances: recorded by the officer who receives them, within their
//! areas; listed, read (audited: a complainant's name and phone are
//! personal data) and settled — resolved or dismissed with what was done —
//! or opened again, each move by the lifecycle's table.

use chrono::Utc;
use himaya_domain::Problem;
use himaya_domain::access::Permission;
use himaya_domain::grievance::{
    GrievanceCategory, GrievanceChannel, GrievanceStatus, MAX_GRIEVANCE_TEXT, check_grievance_move,
};
use himaya_domain::household::HouseholdId;
use himaya_domain::phone::Phone;
use himaya_domain::text::{check_multiline_text, check_text};
use himaya_store::{GrievanceEventRow, GrievanceFilter, GrievanceRow};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::Record;
use crate::{Actor, App, AppError};

/// The longest name of a complainant kept.
const MAX_COMPLAINANT: usize = 200;
/// The most grievances a list returns at once.
pub const MAX_GRIEVANCE_PAGE: u32 = 200;

/// A grievance as received. Fields are optional here so that each one
/// missing is named, not refused as a body that does not parse.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewGrievance {
    /// The household it concerns, when the registry holds it.
    pub household_id: Option<String>,
    /// Where it was received; the household's area when one is named.
    pub area: Option<String>,
    pub category: Option<String>,
    pub channel: Option<String>,
    /// Who brought it.
    pub complainant: Option<String>,
    pub phone: Option<String>,
    pub description: Option<String>,
}

/// A move in a grievance's lifecycle, with what was done or why.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrievanceMove {
    pub to: String,
    pub note: Option<String>,
    /// How many events the mover saw: a move made on a page read before
    /// someone else's move is refused, even where the status came back
    /// to what the mover saw (resolved, then opened again).
    #[serde(default)]
    pub seen: Option<usize>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrievanceQuery {
    pub status: Option<String>,
    pub area: Option<String>,
    pub household_id: Option<String>,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

#[derive(Clone, Debug, Serialize)]
pub struct GrievancePage {
    pub grievances: Vec<GrievanceRow>,
    /// How many match in all.
    pub total: i64,
    pub limit: u32,
    pub offset: u32,
}

/// A grievance with every move made of it.
#[derive(Clone, Debug, Serialize)]
pub struct GrievanceView {
    #[serde(flatten)]
    pub grievance: GrievanceRow,
    pub events: Vec<GrievanceEventRow>,
}

fn record(id: &str) -> Record {
    Record::new("grievance", id)
}

impl App {
    /// Records a grievance, open, in an area of the actor's.
    pub async fn record_grievance(&self, actor: &Actor, new: NewGrievance) -> Result<GrievanceView, AppError> {
        actor.require(Permission::GrievancesManage)?;
        let mut problem = Problem::default();
        let household = match new.household_id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(raw) => match raw.parse::<HouseholdId>() {
                Err(_) => {
                    problem.push("household_id", "invalid", "not a household id");
                    None
                }
                Ok(id) => match self.store().household(id).await? {
                    // Before anything else is checked: an officer of other
                    // areas learns nothing of the household, not even its area.
                    Some(h) => {
                        self.require_area(actor, &h.record.area)?;
                        Some(h)
                    }
                    None => {
                        problem.push(
                            "household_id",
                            "household-unknown",
                            format!("no household has the id {id}"),
                        );
                        None
                    }
                },
            },
        };
        let area = new.area.as_deref().map(str::trim).filter(|s| !s.is_empty());
        let area = match (&household, area) {
            (Some(h), Some(a)) if a != h.record.area => {
                problem.push(
                    "area",
                    "not-allowed",
                    format!("the household is in {}, not {a}", h.record.area),
                );
                None
            }
            (Some(h), _) => Some(h.record.area.clone()),
            (None, Some(a)) if !self.area_known(a) => {
                problem.push(
                    "area",
                    "area-unknown",
                    format!("{a:?} is not an area of this deployment"),
                );
                None
            }
            (None, Some(a)) => Some(a.to_owned()),
            (None, None) if new.household_id.as_deref().is_none_or(|s| s.trim().is_empty()) => {
                problem.push(
                    "area",
                    "required",
                    "name the household, or the area where it was received",
                );
                None
            }
            (None, None) => None,
        };
        let category = vocab(
            new.category.as_deref(),
            "category",
            GrievanceCategory::from_code,
            GrievanceCategory::codes,
            &mut problem,
        );
        let channel = vocab(
            new.channel.as_deref(),
            "channel",
            GrievanceChannel::from_code,
            GrievanceChannel::codes,
            &mut problem,
        );
        let complainant = required_text(new.complainant.as_deref(), "complainant", MAX_COMPLAINANT, &mut problem);
        let description = required_lines(
            new.description.as_deref(),
            "description",
            MAX_GRIEVANCE_TEXT,
            &mut problem,
        );
        let phone = match new.phone.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(raw) => match Phone::parse(raw, self.deployment().country) {
                Ok(p) => Some(p.as_str().to_owned()),
                Err(e) => {
                    problem.push("phone", e.code(), e.to_string());
                    None
                }
            },
        };
        let (Some(area), Some(category), Some(channel), Some(complainant), Some(description), true) =
            (area, category, channel, complainant, description, problem.is_empty())
        else {
            return Err(AppError::Invalid(problem));
        };
        self.require_area(actor, &area)?;
        let now = Utc::now();
        let row = GrievanceRow {
            id: uuid::Uuid::now_v7().to_string(),
            area_code: area,
            household_id: household.map(|h| h.id.to_string()),
            category: category.code().to_owned(),
            channel: channel.code().to_owned(),
            complainant,
            phone,
            description,
            status: GrievanceStatus::Open.code().to_owned(),
            resolution: None,
            opened_at: now,
            opened_by: actor.name.clone(),
            changed_at: now,
            changed_by: actor.name.clone(),
        };
        self.store().insert_grievance(&row).await?;
        self.audit(
            actor,
            "grievance.record",
            Some(record(&row.id)),
            json!({"area": row.area_code, "household": row.household_id, "category": row.category,
                   "channel": row.channel}),
        )
        .await?;
        let events = self.store().grievance_events(&row.id).await?;
        Ok(GrievanceView { grievance: row, events })
    }

    /// Grievances in the actor's areas, newest first: open ones unless a
    /// status is asked for (`all` for every status).
    pub async fn grievances(&self, actor: &Actor, q: &GrievanceQuery) -> Result<GrievancePage, AppError> {
        actor.require(Permission::GrievancesRead)?;
        let mut problem = Problem::default();
        let status = match q.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => Some(GrievanceStatus::Open.code().to_owned()),
            Some("all") => None,
            Some(s) => match GrievanceStatus::from_code(s) {
                Some(s) => Some(s.code().to_owned()),
                None => {
                    problem.push(
                        "status",
                        "not-allowed",
                        format!("status is all or one of {}", GrievanceStatus::codes()),
                    );
                    None
                }
            },
        };
        let household_id = match q.household_id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(raw) => match raw.parse::<HouseholdId>() {
                Ok(id) => Some(id.to_string()),
                Err(_) => {
                    problem.push("household_id", "invalid", "not a household id");
                    None
                }
            },
        };
        let area = q.area.as_deref().map(str::trim).filter(|s| !s.is_empty());
        if let Some(a) = area
            && !self.area_known(a)
        {
            problem.push(
                "area",
                "area-unknown",
                format!("{a:?} is not an area of this deployment"),
            );
        }
        let limit = q.limit.unwrap_or(50);
        if limit == 0 || limit > MAX_GRIEVANCE_PAGE {
            problem.push("limit", "out-of-range", format!("limit is 1 to {MAX_GRIEVANCE_PAGE}"));
        }
        if !problem.is_empty() {
            return Err(AppError::Invalid(problem));
        }
        let within = match area {
            Some(a) => {
                self.require_area(actor, a)?;
                Some(vec![a.to_owned()])
            }
            None => self.scope_filter(actor),
        };
        let offset = q.offset.unwrap_or(0);
        let (grievances, total) = self
            .store()
            .grievances(&GrievanceFilter {
                status,
                household_id,
                within,
                limit,
                offset,
            })
            .await?;
        let showed: Vec<String> = grievances.iter().map(|g| g.id.clone()).collect();
        self.audit_read(
            actor,
            "grievance.list",
            None,
            json!({"status": q.status, "area": area, "household": q.household_id, "grievances": showed}),
            showed.clone(),
        )
        .await?;
        Ok(GrievancePage {
            grievances,
            total,
            limit,
            offset,
        })
    }

    /// A grievance with its moves, within the actor's areas.
    pub async fn grievance(&self, actor: &Actor, id: &str) -> Result<GrievanceView, AppError> {
        actor.require(Permission::GrievancesRead)?;
        let grievance = self.stored_grievance(id).await?;
        self.require_area(actor, &grievance.area_code)?;
        let events = self.store().grievance_events(&grievance.id).await?;
        self.audit_read(
            actor,
            "grievance.read",
            Some(record(&grievance.id)),
            json!({}),
            Vec::new(),
        )
        .await?;
        Ok(GrievanceView { grievance, events })
    }

    /// Resolves or dismisses a grievance, with what was done or why, or
    /// opens a settled one again, with the reason.
    pub async fn move_grievance(
        &self,
        actor: &Actor,
        id: &str,
        step: GrievanceMove,
    ) -> Result<GrievanceView, AppError> {
        actor.require(Permission::GrievancesManage)?;
        let grievance = self.stored_grievance(id).await?;
        self.require_area(actor, &grievance.area_code)?;
        let mut problem = Problem::default();
        let to = GrievanceStatus::from_code(step.to.trim());
        if to.is_none() {
            problem.push(
                "to",
                "not-allowed",
                format!("to is one of {}", GrievanceStatus::codes()),
            );
        }
        let note = required_lines(step.note.as_deref(), "note", MAX_GRIEVANCE_TEXT, &mut problem);
        // Every grievance has its recording event: none was ever seen with no events.
        if step.seen == Some(0) {
            problem.push("seen", "invalid", "seen counts the events read, at least 1");
        }
        let (Some(to), Some(note), true) = (to, note, problem.is_empty()) else {
            return Err(AppError::Invalid(problem));
        };
        let from = GrievanceStatus::from_code(&grievance.status)
            .ok_or_else(|| AppError::Internal(format!("grievance {id} has an unknown status")))?;
        check_grievance_move(from, to).map_err(|e| AppError::conflict("illegal-transition", e.to_string()))?;
        let moved = self
            .store()
            .move_grievance(
                &grievance.id,
                from.code(),
                step.seen,
                to.code(),
                &note,
                &actor.name,
                Utc::now(),
            )
            .await?;
        if !moved {
            return Err(AppError::conflict(
                "grievance-changed",
                "someone moved this grievance since it was read; read it again",
            ));
        }
        let action = match to {
            GrievanceStatus::Open => "grievance.reopen",
            GrievanceStatus::Resolved => "grievance.resolve",
            GrievanceStatus::Dismissed => "grievance.dismiss",
        };
        self.audit(
            actor,
            action,
            Some(record(&grievance.id)),
            json!({"from": from.code(), "to": to.code()}),
        )
        .await?;
        let grievance = self.stored_grievance(id).await?;
        let events = self.store().grievance_events(&grievance.id).await?;
        Ok(GrievanceView { grievance, events })
    }

    async fn stored_grievance(&self, id: &str) -> Result<GrievanceRow, AppError> {
        let not_found = || AppError::NotFound {
            what: "grievance",
            id: id.to_owned(),
        };
        // Ids are UUIDs: anything else names no grievance, and is not looked up.
        let id = uuid::Uuid::parse_str(id).map_err(|_| not_found())?;
        self.store().grievance(&id.to_string()).await?.ok_or_else(not_found)
    }
}

/// A required code of a vocabulary, or its error.
fn vocab<T>(
    value: Option<&str>,
    field: &str,
    parse: fn(&str) -> Option<T>,
    codes: fn() -> String,
    problem: &mut Problem,
) -> Option<T> {
    match value.map(str::trim).filter(|s| !s.is_empty()) {
        None => {
            problem.push(field, "required", format!("{field} is one of {}", codes()));
            None
        }
        Some(v) => {
            let parsed = parse(v);
            if parsed.is_none() {
                problem.push(field, "not-allowed", format!("{field} is one of {}", codes()));
            }
            parsed
        }
    }
}

fn required_text(value: Option<&str>, field: &str, max: usize, problem: &mut Problem) -> Option<String> {
    required(field, problem, |problem| check_text(value, field, max, problem))
}

/// As [`required_text`], for text over several lines.
fn required_lines(value: Option<&str>, field: &str, max: usize, problem: &mut Problem) -> Option<String> {
    required(field, problem, |problem| {
        check_multiline_text(value, field, max, problem)
    })
}

fn required(field: &str, problem: &mut Problem, check: impl FnOnce(&mut Problem) -> Option<String>) -> Option<String> {
    let before = problem.errors.len();
    let text = check(problem);
    if text.is_none() && problem.errors.len() == before {
        problem.push(field, "required", format!("{field} is required"));
    }
    text
}
