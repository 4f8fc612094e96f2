//! People: the record as stored, the draft as entered, and the rules that turn
//! one into the other.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::config::Deployment;
use crate::date::{PartialDate, parse_full_date};
use crate::error::Problem;
use crate::household::HouseholdId;
use crate::identifier::{Identifier, IdentifierType, IdentifierWarning};
use crate::phone::Phone;
use crate::text::check_text;
use crate::vocab::{MaritalStatus, MaternalStatus, PersonStatus, Relationship, SchoolLevel, Sex, WgAnswer};

crate::ids::uuid_id!(
    /// A person's id: a UUIDv7, so ids sort by creation time.
    PersonId
);

/// A name in the native script and in Latin letters; at least one is present.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Name {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latin: Option<String>,
}

impl Name {
    pub fn is_empty(&self) -> bool {
        self.native.is_none() && self.latin.is_none()
    }

    /// Both spellings, native first.
    pub fn spellings(&self) -> impl Iterator<Item = &str> {
        self.native.as_deref().into_iter().chain(self.latin.as_deref())
    }
}

/// The Washington Group short set: six questions, each answered on a four-point scale.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disability {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seeing: Option<WgAnswer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hearing: Option<WgAnswer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub walking: Option<WgAnswer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cognition: Option<WgAnswer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_care: Option<WgAnswer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub communication: Option<WgAnswer>,
}

impl Disability {
    fn answers(&self) -> [Option<WgAnswer>; 6] {
        [
            self.seeing,
            self.hearing,
            self.walking,
            self.cognition,
            self.self_care,
            self.communication,
        ]
    }

    /// The Washington Group's recommended cut-off: "a lot of difficulty" or
    /// "cannot do at all" in at least one domain.
    pub fn has_disability(&self) -> bool {
        self.answers()
            .iter()
            .flatten()
            .any(|a| matches!(a, WgAnswer::ALotOfDifficulty | WgAnswer::CannotDoAtAll))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct School {
    pub level: SchoolLevel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub school_name: Option<String>,
}

/// Everything recorded about a person, as stored in each version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersonRecord {
    pub given_name: Name,
    #[serde(default, skip_serializing_if = "Name::is_empty")]
    pub family_name: Name,
    /// Father's or husband's name, as registries in the region record it.
    #[serde(default, skip_serializing_if = "Name::is_empty")]
    pub father_name: Name,
    pub sex: Sex,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<PartialDate>,
    #[serde(default)]
    pub birth_date_estimated: bool,
    pub relationship: Relationship,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marital_status: Option<MaritalStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disability: Option<Disability>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maternal_status: Option<MaternalStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub school: Option<School>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<Phone>,
    #[serde(default)]
    pub identifiers: Vec<Identifier>,
    pub status: PersonStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
}

/// A person as read back: the record with its identity and version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Person {
    pub id: PersonId,
    pub household_id: HouseholdId,
    pub version: i64,
    #[serde(flatten)]
    pub record: PersonRecord,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl PersonRecord {
    pub fn is_active(&self) -> bool {
        self.status == PersonStatus::Active
    }

    /// Every spelling of every name, for the search index.
    pub fn all_names(&self) -> impl Iterator<Item = &str> {
        self.given_name
            .spellings()
            .chain(self.family_name.spellings())
            .chain(self.father_name.spellings())
    }

    /// Warnings that never refuse a record (CNIC parity against sex…).
    pub fn warnings(&self) -> Vec<IdentifierWarning> {
        let year = self.date_of_birth.map(|d| d.year());
        self.identifiers
            .iter()
            .flat_map(|i| i.warnings(Some(self.sex), year))
            .collect()
    }
}

/// A person as entered: every field raw, so that every mistake can be named
/// at once instead of failing on the first. The API, pages and imports all
/// fill this and call [`PersonDraft::check`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonDraft {
    pub given_name: Option<Name>,
    pub family_name: Option<Name>,
    pub father_name: Option<Name>,
    pub sex: Option<String>,
    pub date_of_birth: Option<String>,
    pub birth_date_estimated: Option<bool>,
    pub relationship: Option<String>,
    pub marital_status: Option<String>,
    pub disability: Option<Disability>,
    pub maternal_status: Option<String>,
    pub school: Option<School>,
    pub phone: Option<String>,
    pub identifiers: Option<Vec<IdentifierDraft>>,
    pub status: Option<String>,
    pub status_date: Option<String>,
    pub status_reason: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentifierDraft {
    #[serde(rename = "type")]
    pub id_type: String,
    pub value: String,
}

/// What checking needs besides the draft.
pub struct Rules<'a> {
    pub deployment: &'a Deployment,
    pub today: NaiveDate,
}

const MAX_NAME: usize = 100;
const MAX_REASON: usize = 500;
const MAX_SCHOOL_NAME: usize = 200;

fn check_name(name: Option<&Name>, field: &str, required: bool, problem: &mut Problem) -> Name {
    let mut out = Name::default();
    if let Some(n) = name {
        for (part, value, slot) in [
            ("native", &n.native, &mut out.native),
            ("latin", &n.latin, &mut out.latin),
        ] {
            let field = format!("{field}.{part}");
            let v = value
                .as_deref()
                .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "));
            if let Some(v) = check_text(v.as_deref(), &field, MAX_NAME, problem) {
                if v.chars().any(char::is_alphabetic) {
                    *slot = Some(v);
                } else {
                    problem.push(field, "invalid-character", "a name needs at least one letter");
                }
            }
        }
    }
    if required && out.is_empty() && !problem.errors.iter().any(|e| e.field.starts_with(field)) {
        problem.push(
            field,
            "required",
            "give the name in the native script, in Latin letters, or both",
        );
    }
    out
}

fn vocab<T: Copy>(
    value: Option<&str>,
    field: &str,
    required: bool,
    from_code: fn(&str) -> Option<T>,
    codes: fn() -> String,
    problem: &mut Problem,
) -> Option<T> {
    match value.map(str::trim) {
        None | Some("") => {
            if required {
                problem.push(field, "required", format!("required; one of: {}", codes()));
            }
            None
        }
        Some(v) => {
            let found = from_code(v);
            if found.is_none() {
                problem.push(field, "not-allowed", format!("{v:?} is not one of: {}", codes()));
            }
            found
        }
    }
}

pub(crate) fn check_reason(reason: Option<&str>, field: &str, problem: &mut Problem) -> Option<String> {
    check_text(reason, field, MAX_REASON, problem)
}

impl PersonDraft {
    /// Checks every field, recording every error under `path` (`members[2]`).
    /// Returns the record only when nothing was wrong.
    pub fn check(&self, rules: &Rules<'_>, path: &str) -> Result<PersonRecord, Problem> {
        let mut problem = Problem::default();
        let f = |name: &str| {
            if path.is_empty() {
                name.to_owned()
            } else {
                format!("{path}.{name}")
            }
        };

        let given_name = check_name(self.given_name.as_ref(), &f("given_name"), true, &mut problem);
        let family_name = check_name(self.family_name.as_ref(), &f("family_name"), false, &mut problem);
        let father_name = check_name(self.father_name.as_ref(), &f("father_name"), false, &mut problem);
        let sex = vocab(
            self.sex.as_deref(),
            &f("sex"),
            true,
            Sex::from_code,
            Sex::codes,
            &mut problem,
        );
        let relationship = vocab(
            self.relationship.as_deref(),
            &f("relationship"),
            true,
            Relationship::from_code,
            Relationship::codes,
            &mut problem,
        );
        let marital_status = vocab(
            self.marital_status.as_deref(),
            &f("marital_status"),
            false,
            MaritalStatus::from_code,
            MaritalStatus::codes,
            &mut problem,
        );
        let maternal_status = vocab(
            self.maternal_status.as_deref(),
            &f("maternal_status"),
            false,
            MaternalStatus::from_code,
            MaternalStatus::codes,
            &mut problem,
        );
        let status = vocab(
            self.status.as_deref(),
            &f("status"),
            false,
            PersonStatus::from_code,
            PersonStatus::codes,
            &mut problem,
        )
        .unwrap_or(PersonStatus::Active);
        // A record becomes merged only by merging it into its duplicate, and stays so.
        let status = if status == PersonStatus::Merged {
            problem.push(
                f("status"),
                "not-allowed",
                "a record is merged by deduplication's merge, not by setting its status",
            );
            PersonStatus::Active
        } else {
            status
        };

        let date_of_birth = match self.date_of_birth.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(raw) => match PartialDate::parse(raw) {
                Ok(d) if d.is_in_future(rules.today) => {
                    problem.push(
                        f("date_of_birth"),
                        "date-in-future",
                        "a date of birth cannot be in the future",
                    );
                    None
                }
                Ok(d) => Some(d),
                Err(e) => {
                    problem.push(f("date_of_birth"), e.code(), e.to_string());
                    None
                }
            },
        };
        if self.birth_date_estimated == Some(true) && date_of_birth.is_none() {
            problem.push(
                f("birth_date_estimated"),
                "requires-date-of-birth",
                "an estimated date of birth needs the estimate in date_of_birth",
            );
        }

        if maternal_status.is_some() && sex.is_some_and(|s| s != Sex::Female) {
            problem.push(
                f("maternal_status"),
                "not-allowed",
                "pregnancy and lactation are recorded for women only",
            );
        }

        let phone = match self.phone.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(raw) => match Phone::parse(raw, rules.deployment.country) {
                Ok(p) => Some(p),
                Err(e) => {
                    problem.push(f("phone"), e.code(), e.to_string());
                    None
                }
            },
        };

        let mut identifiers: Vec<Identifier> = Vec::new();
        for (i, d) in self.identifiers.iter().flatten().enumerate() {
            let field = f(&format!("identifiers[{i}]"));
            let Some(t) = IdentifierType::from_code(d.id_type.trim()) else {
                problem.push(
                    format!("{field}.type"),
                    "not-allowed",
                    format!("{:?} is not one of: {}", d.id_type, IdentifierType::codes()),
                );
                continue;
            };
            if !rules.deployment.identifier_types.contains(&t) {
                problem.push(
                    format!("{field}.type"),
                    "identifier-type-not-used",
                    format!("this deployment does not record {t} identifiers"),
                );
                continue;
            }
            match Identifier::parse(t, &d.value) {
                Ok(id)
                    if identifiers
                        .iter()
                        .any(|o| o.id_type == id.id_type && o.value == id.value) =>
                {
                    problem.push(
                        format!("{field}.value"),
                        "identifier-repeated",
                        "the same identifier is given twice",
                    );
                }
                Ok(id) => identifiers.push(id),
                Err(e) => problem.push(format!("{field}.value"), e.code(), e.to_string()),
            }
        }

        let status_date = match self.status_date.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(raw) => match parse_full_date(raw) {
                Ok(d) if d > rules.today => {
                    problem.push(f("status_date"), "date-in-future", "the date cannot be in the future");
                    None
                }
                Ok(d) if date_of_birth.is_some_and(|b| d < b.earliest()) => {
                    problem.push(
                        f("status_date"),
                        "date-before-birth",
                        "the date is before the date of birth",
                    );
                    None
                }
                Ok(d) => Some(d),
                Err(e) => {
                    problem.push(f("status_date"), e.code(), e.to_string());
                    None
                }
            },
        };
        if status != PersonStatus::Active
            && status_date.is_none()
            && !problem.errors.iter().any(|e| e.field == f("status_date"))
        {
            problem.push(f("status_date"), "required", "a death or move-out needs its date");
        }
        let status_reason = check_reason(self.status_reason.as_deref(), &f("status_reason"), &mut problem);
        if status == PersonStatus::Active {
            // A date and reason describe a death or move-out; an active person has neither.
            if status_date.is_some() {
                problem.push(
                    f("status_date"),
                    "not-allowed",
                    "an active person has no status date: remove it (null)",
                );
            }
            if status_reason.is_some() {
                problem.push(
                    f("status_reason"),
                    "not-allowed",
                    "an active person has no status reason: remove it (null)",
                );
            }
        }
        let school = self.school.as_ref().map(|s| School {
            level: s.level,
            school_name: check_text(
                s.school_name.as_deref(),
                &f("school.school_name"),
                MAX_SCHOOL_NAME,
                &mut problem,
            ),
        });

        let (Some(sex), Some(relationship)) = (sex, relationship) else {
            return Err(problem);
        };
        problem.into_result(PersonRecord {
            given_name,
            family_name,
            father_name,
            sex,
            date_of_birth,
            birth_date_estimated: self.birth_date_estimated.unwrap_or(false),
            relationship,
            marital_status,
            disability: self.disability.clone().filter(|d| *d != Disability::default()),
            maternal_status,
            school,
            phone,
            identifiers,
            status,
            status_date,
            status_reason,
        })
    }
}

impl From<&PersonRecord> for PersonDraft {
    /// The draft that checks back to the same record: the base a partial
    /// update is laid over.
    fn from(r: &PersonRecord) -> PersonDraft {
        let opt_name = |n: &Name| (!n.is_empty()).then(|| n.clone());
        PersonDraft {
            given_name: Some(r.given_name.clone()),
            family_name: opt_name(&r.family_name),
            father_name: opt_name(&r.father_name),
            sex: Some(r.sex.code().to_owned()),
            date_of_birth: r.date_of_birth.map(|d| d.to_string()),
            birth_date_estimated: Some(r.birth_date_estimated),
            relationship: Some(r.relationship.code().to_owned()),
            marital_status: r.marital_status.map(|m| m.code().to_owned()),
            disability: r.disability.clone(),
            maternal_status: r.maternal_status.map(|m| m.code().to_owned()),
            school: r.school.clone(),
            phone: r.phone.as_ref().map(|p| p.as_str().to_owned()),
            identifiers: Some(
                r.identifiers
                    .iter()
                    .map(|i| IdentifierDraft {
                        id_type: i.id_type.code().to_owned(),
                        value: i.value.clone(),
                    })
                    .collect(),
            ),
            status: Some(r.status.code().to_owned()),
            status_date: r.status_date.map(|d| d.to_string()),
            status_reason: r.status_reason.clone(),
        }
    }
}
