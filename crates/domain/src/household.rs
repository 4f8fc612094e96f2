//! Households: the record, the draft, and the rules that bind members together.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::attributes::Attributes;
use crate::config::Deployment;
use crate::error::Problem;
use crate::person::{PersonRecord, check_reason};
use crate::text::check_text;
use crate::vocab::{HouseholdStatus, Relationship};

crate::ids::uuid_id!(
    /// A household's id: a UUIDv7, so ids sort by creation time.
    HouseholdId
);

/// A WGS 84 point.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoPoint {
    pub latitude: f64,
    pub longitude: f64,
}

/// Everything recorded about a household, as stored in each version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HouseholdRecord {
    pub area: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<GeoPoint>,
    pub status: HouseholdStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    #[serde(default)]
    pub attributes: Attributes,
}

/// A household as read back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Household {
    pub id: HouseholdId,
    pub registration_number: String,
    pub version: i64,
    #[serde(flatten)]
    pub record: HouseholdRecord,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A household as entered; see [`crate::person::PersonDraft`] for why fields are raw.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HouseholdDraft {
    pub area: Option<String>,
    pub address: Option<String>,
    pub location: Option<GeoPoint>,
    pub attributes: Option<serde_json::Map<String, serde_json::Value>>,
}

const MAX_ADDRESS: usize = 500;

impl HouseholdDraft {
    /// Checks the household's own fields. `area_known` answers whether an
    /// area code exists (the caller asks the store).
    pub fn check(
        &self,
        deployment: &Deployment,
        area_known: impl Fn(&str) -> bool,
        path: &str,
    ) -> Result<HouseholdRecord, Problem> {
        let mut problem = Problem::default();
        let f = |name: &str| {
            if path.is_empty() {
                name.to_owned()
            } else {
                format!("{path}.{name}")
            }
        };
        let area = match self.area.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
            None => {
                problem.push(f("area"), "required", "the household's area code is required");
                String::new()
            }
            Some(code) if !area_known(code) => {
                problem.push(
                    f("area"),
                    "area-unknown",
                    format!("{code:?} is not an area of this deployment"),
                );
                String::new()
            }
            Some(code) => code.to_owned(),
        };
        let address = check_text(self.address.as_deref(), &f("address"), MAX_ADDRESS, &mut problem);
        if let Some(p) = self.location {
            if !(-90.0..=90.0).contains(&p.latitude) || p.latitude.is_nan() {
                problem.push(
                    f("location.latitude"),
                    "out-of-range",
                    "latitude must be between -90 and 90",
                );
            }
            if !(-180.0..=180.0).contains(&p.longitude) || p.longitude.is_nan() {
                problem.push(
                    f("location.longitude"),
                    "out-of-range",
                    "longitude must be between -180 and 180",
                );
            }
        }
        let empty = serde_json::Map::new();
        let attributes = deployment.household_attributes.check(
            self.attributes.as_ref().unwrap_or(&empty),
            true,
            &f("attributes"),
            &mut problem,
        );
        problem.into_result(HouseholdRecord {
            area,
            address,
            location: self.location,
            status: HouseholdStatus::Active,
            status_reason: None,
            attributes,
        })
    }
}

impl From<&HouseholdRecord> for HouseholdDraft {
    fn from(r: &HouseholdRecord) -> HouseholdDraft {
        HouseholdDraft {
            area: Some(r.area.clone()),
            address: r.address.clone(),
            location: r.location,
            attributes: Some(r.attributes.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        }
    }
}

/// A household's active members must have exactly one head. `path` names
/// the members list in errors.
pub fn check_one_head<'a>(members: impl IntoIterator<Item = &'a PersonRecord>, path: &str) -> Result<(), Problem> {
    let heads = members
        .into_iter()
        .filter(|m| m.is_active() && m.relationship == Relationship::Head)
        .count();
    match heads {
        1 => Ok(()),
        0 => Err(Problem::single(
            path,
            "household-without-head",
            "the household's active members must include exactly one head; none is given",
        )),
        n => Err(Problem::single(
            path,
            "household-several-heads",
            format!("the household's active members must include exactly one head; {n} are given"),
        )),
    }
}

/// Checks a free-text reason (inactivation, split…), required or not.
pub fn check_change_reason(reason: Option<&str>, field: &str, required: bool) -> Result<Option<String>, Problem> {
    let mut problem = Problem::default();
    let r = check_reason(reason, field, &mut problem);
    if required && r.is_none() && problem.is_empty() {
        problem.push(field, "required", "say why");
    }
    problem.into_result(r)
}
