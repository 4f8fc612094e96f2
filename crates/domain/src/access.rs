//! Who may do what, and where: roles, the permissions they grant, area scopes
//! and the field sets that limit what a partner agency is shown.

use serde::{Deserialize, Serialize};

use crate::vocab::vocabulary;

vocabulary!(
    /// A staff member's job in the system. A user holds one or more.
    Role {
        Administrator = "administrator",
        Registrar = "registrar",
        DistrictOfficer = "district_officer",
        ProgrammeOfficer = "programme_officer",
        Approver = "approver",
        PaymentOfficer = "payment_officer",
        GrievanceOfficer = "grievance_officer",
        CaseWorker = "case_worker",
        Auditor = "auditor",
    }
);

vocabulary!(
    /// One operation a role or an agency scope allows. Deny by default: an
    /// operation not granted here is refused.
    Permission {
        AreasRead = "areas.read",
        HouseholdsRead = "households.read",
        HouseholdsWrite = "households.write",
        HouseholdsHistory = "households.history",
        PersonsRead = "persons.read",
        PersonsWrite = "persons.write",
        PersonsHistory = "persons.history",
        AuditRead = "audit.read",
        UsersManage = "users.manage",
        ProgrammesRead = "programmes.read",
        ProgrammesManage = "programmes.manage",
        TargetingRun = "targeting.run",
        EnrolmentsManage = "enrolments.manage",
        AccountsRead = "accounts.read",
        AccountsWrite = "accounts.write",
        PaymentsRead = "payments.read",
        PaymentsManage = "payments.manage",
        PaymentsApprove = "payments.approve",
        FundingManage = "funding.manage",
        DedupRead = "dedup.read",
        DedupReview = "dedup.review",
        DedupMerge = "dedup.merge",
        PersonsMatch = "persons.match",
        GrievancesRead = "grievances.read",
        GrievancesManage = "grievances.manage",
    }
);

impl Role {
    /// What the role may do. The one table of grants: the API's
    /// authorisation matrix test holds an independent copy.
    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        // District officers take complaints at the front desk as well.
        const REGISTER: &[Permission] = &[
            AreasRead,
            HouseholdsRead,
            PersonsRead,
            HouseholdsHistory,
            PersonsHistory,
            HouseholdsWrite,
            PersonsWrite,
            ProgrammesRead,
            DedupRead,
            DedupReview,
            GrievancesRead,
            GrievancesManage,
        ];
        const GRIEVANCES: &[Permission] = &[
            AreasRead,
            HouseholdsRead,
            PersonsRead,
            HouseholdsHistory,
            PersonsHistory,
            ProgrammesRead,
            GrievancesRead,
            GrievancesManage,
        ];
        const CASES: &[Permission] = &[
            AreasRead,
            HouseholdsRead,
            PersonsRead,
            HouseholdsHistory,
            PersonsHistory,
            ProgrammesRead,
            GrievancesRead,
        ];
        const PROGRAMMES: &[Permission] = &[
            AreasRead,
            HouseholdsRead,
            PersonsRead,
            ProgrammesRead,
            ProgrammesManage,
            TargetingRun,
            EnrolmentsManage,
        ];
        const REGISTER_ACCOUNTS: &[Permission] = &[
            AreasRead,
            HouseholdsRead,
            PersonsRead,
            HouseholdsHistory,
            PersonsHistory,
            HouseholdsWrite,
            PersonsWrite,
            ProgrammesRead,
            AccountsRead,
            AccountsWrite,
            DedupRead,
            DedupReview,
            DedupMerge,
            PersonsMatch,
        ];
        // Maker and checker: the officer prepares and pays, the approver approves.
        const PAY: &[Permission] = &[
            AreasRead,
            HouseholdsRead,
            PersonsRead,
            ProgrammesRead,
            AccountsRead,
            AccountsWrite,
            PaymentsRead,
            PaymentsManage,
        ];
        const APPROVE: &[Permission] = &[
            AreasRead,
            HouseholdsRead,
            PersonsRead,
            ProgrammesRead,
            AccountsRead,
            PaymentsRead,
            PaymentsApprove,
        ];
        match self {
            Role::Administrator => Permission::ALL,
            Role::Registrar => REGISTER_ACCOUNTS,
            Role::DistrictOfficer => REGISTER,
            Role::GrievanceOfficer => GRIEVANCES,
            Role::CaseWorker => CASES,
            Role::ProgrammeOfficer => PROGRAMMES,
            Role::Approver => APPROVE,
            Role::PaymentOfficer => PAY,
            Role::Auditor => &[
                AreasRead,
                HouseholdsRead,
                PersonsRead,
                HouseholdsHistory,
                PersonsHistory,
                AuditRead,
                ProgrammesRead,
                AccountsRead,
                PaymentsRead,
                DedupRead,
                GrievancesRead,
            ],
        }
    }

    /// Roles whose work is tied to a place: they must be given an area.
    pub fn needs_area(self) -> bool {
        matches!(self, Role::DistrictOfficer)
    }
}

/// The operations a principal may perform, as a bit set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Permissions(u64);

impl Permissions {
    pub fn all() -> Permissions {
        Permissions::from_iter(Permission::ALL.iter().copied())
    }

    pub fn of_roles(roles: &[Role]) -> Permissions {
        Permissions::from_iter(roles.iter().flat_map(|r| r.permissions().iter().copied()))
    }

    pub fn allows(self, p: Permission) -> bool {
        self.0 & bit(p) != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL.iter().copied().filter(move |p| self.allows(*p))
    }
}

impl FromIterator<Permission> for Permissions {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        Permissions(iter.into_iter().fold(0, |acc, p| acc | bit(p)))
    }
}

fn bit(p: Permission) -> u64 {
    let i = Permission::ALL.iter().position(|x| *x == p).unwrap_or(63);
    1 << i
}

/// Permissions an agency may be given: reading and feeding the registry,
/// never its history (older versions would show fields outside the field
/// set) nor the audit trail.
pub const AGENCY_PERMISSIONS: &[Permission] = &[
    Permission::AreasRead,
    Permission::HouseholdsRead,
    Permission::HouseholdsWrite,
    Permission::PersonsRead,
    Permission::PersonsWrite,
    Permission::PersonsMatch,
];

/// Where a principal may act: the whole country, or the listed areas and
/// everything below them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    National,
    Areas(Vec<String>),
}

impl Scope {
    pub fn from_codes(codes: Vec<String>) -> Scope {
        if codes.is_empty() {
            Scope::National
        } else {
            Scope::Areas(codes)
        }
    }

    /// Whether an area, given by its path (`/PK/PB/LHR/`), lies in the scope.
    pub fn covers_path(&self, path: &str) -> bool {
        match self {
            Scope::National => true,
            Scope::Areas(codes) => codes.iter().any(|c| path.split('/').any(|segment| segment == c)),
        }
    }

    /// The area codes, or none for the whole country.
    pub fn codes(&self) -> &[String] {
        match self {
            Scope::National => &[],
            Scope::Areas(c) => c,
        }
    }
}

/// Person fields an agency may be shown (`person.NAME`).
pub const PERSON_FIELDS: &[&str] = &[
    "given_name",
    "family_name",
    "father_name",
    "sex",
    "date_of_birth",
    "birth_date_estimated",
    "relationship",
    "marital_status",
    "disability",
    "maternal_status",
    "school",
    "phone",
    "identifiers",
    "status",
    "status_date",
    "status_reason",
    "created_at",
    "updated_at",
];

/// Household fields an agency may be shown (`household.NAME`, or one
/// attribute as `household.attributes.NAME`).
pub const HOUSEHOLD_FIELDS: &[&str] = &[
    "registration_number",
    "area",
    "address",
    "location",
    "status",
    "status_reason",
    "attributes",
    "created_at",
    "updated_at",
];

/// Fields every projection keeps: they identify the record and its version,
/// and carry no personal data.
pub const ALWAYS_SHOWN: &[&str] = &["id", "household_id", "version"];

/// The fields of personal data an agency receives; everything else is
/// removed from every response it gets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet {
    person: Vec<String>,
    household: Vec<String>,
    /// `household.attributes.NAME` entries.
    attributes: Vec<String>,
    /// `programme.CODE` entries (`programme.*` for all): the programmes whose
    /// enrolments a match may tell the agency about.
    programmes: Vec<String>,
}

/// A field set entry that names no known field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{entry:?} is not a field: use person.NAME, household.NAME, household.attributes.NAME or programme.CODE")]
pub struct UnknownField {
    pub entry: String,
}

impl FieldSet {
    /// Parses `person.given_name`, `household.area`,
    /// `household.attributes.monthly_income`…; `attribute_known` says which
    /// attribute names the deployment defines.
    pub fn parse<'a>(
        entries: impl IntoIterator<Item = &'a str>,
        attribute_known: impl Fn(&str) -> bool,
    ) -> Result<FieldSet, UnknownField> {
        let mut set = FieldSet::default();
        for raw in entries {
            let entry = raw.trim();
            let unknown = || UnknownField {
                entry: entry.to_owned(),
            };
            if let Some(f) = entry.strip_prefix("person.") {
                if !PERSON_FIELDS.contains(&f) {
                    return Err(unknown());
                }
                push_unique(&mut set.person, f);
            } else if let Some(code) = entry.strip_prefix("programme.") {
                let code_like = !code.is_empty()
                    && code.len() <= 64
                    && code
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
                if !(code == "*" || code_like) {
                    return Err(unknown());
                }
                push_unique(&mut set.programmes, code);
            } else if let Some(a) = entry.strip_prefix("household.attributes.") {
                if !attribute_known(a) {
                    return Err(unknown());
                }
                push_unique(&mut set.attributes, a);
            } else if let Some(f) = entry.strip_prefix("household.") {
                if !HOUSEHOLD_FIELDS.contains(&f) {
                    return Err(unknown());
                }
                push_unique(&mut set.household, f);
            } else {
                return Err(unknown());
            }
        }
        Ok(set)
    }

    /// The entries, in the form [`FieldSet::parse`] reads.
    pub fn entries(&self) -> Vec<String> {
        let p = self.person.iter().map(|f| format!("person.{f}"));
        let h = self.household.iter().map(|f| format!("household.{f}"));
        let a = self.attributes.iter().map(|f| format!("household.attributes.{f}"));
        let g = self.programmes.iter().map(|c| format!("programme.{c}"));
        p.chain(h).chain(a).chain(g).collect()
    }

    /// Whether the enrolments of programme `code` are in the set.
    pub fn shows_programme(&self, code: &str) -> bool {
        self.programmes.iter().any(|c| c == "*" || c == code)
    }

    /// Whether `person.NAME` is in the set.
    pub fn shows_person(&self, name: &str) -> bool {
        self.person.iter().any(|f| f == name)
    }

    /// Keeps only the shown fields of a person as serialised.
    pub fn project_person(&self, person: &mut serde_json::Value) {
        if let Some(map) = person.as_object_mut() {
            map.retain(|k, _| ALWAYS_SHOWN.contains(&k.as_str()) || self.person.iter().any(|f| f == k));
        }
    }

    /// Keeps only the shown fields of a household as serialised, and of
    /// each of its members.
    pub fn project_household(&self, household: &mut serde_json::Value) {
        let Some(map) = household.as_object_mut() else {
            return;
        };
        let whole_attributes = self.household.iter().any(|f| f == "attributes");
        map.retain(|k, _| {
            ALWAYS_SHOWN.contains(&k.as_str())
                || k == "members"
                || (k == "attributes" && !self.attributes.is_empty())
                || self.household.iter().any(|f| f == k)
        });
        if !whole_attributes && let Some(attributes) = map.get_mut("attributes").and_then(|a| a.as_object_mut()) {
            attributes.retain(|k, _| self.attributes.iter().any(|a| a == k));
        }
        if let Some(members) = map.get_mut("members").and_then(|m| m.as_array_mut()) {
            for m in members {
                self.project_person(m);
            }
        }
    }
}

fn push_unique(v: &mut Vec<String>, s: &str) {
    if !v.iter().any(|x| x == s) {
        v.push(s.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn roles_grant_only_their_permissions() {
        let registrar = Permissions::of_roles(&[Role::Registrar]);
        assert!(registrar.allows(Permission::HouseholdsWrite));
        assert!(!registrar.allows(Permission::AuditRead));
        let auditor = Permissions::of_roles(&[Role::Auditor]);
        assert!(auditor.allows(Permission::AuditRead));
        assert!(!auditor.allows(Permission::PersonsWrite));
        assert!(!Permissions::default().allows(Permission::AreasRead));
        assert_eq!(Permissions::all().iter().count(), Permission::ALL.len());
    }

    #[test]
    fn scope_covers_an_area_and_what_lies_below_it() {
        let s = Scope::from_codes(vec!["PK-PB-LHR".into()]);
        assert!(s.covers_path("/PK/PK-PB/PK-PB-LHR/"));
        assert!(s.covers_path("/PK/PK-PB/PK-PB-LHR/PK-PB-LHR-1/"));
        assert!(!s.covers_path("/PK/PK-PB/PK-PB-MUL/"));
        // A code that is a prefix of another is not its ancestor.
        assert!(!Scope::from_codes(vec!["PK-PB-L".into()]).covers_path("/PK/PK-PB/PK-PB-LHR/"));
        assert!(Scope::National.covers_path("/anything/"));
    }

    #[test]
    fn field_set_keeps_only_its_fields() {
        let set = FieldSet::parse(
            ["person.given_name", "person.school", "household.attributes.rooms"],
            |a| a == "rooms",
        )
        .unwrap();
        let mut h = json!({
            "id": "h1", "version": 2, "registration_number": "PK-1", "area": "A", "address": "street",
            "attributes": {"rooms": 2, "monthly_income": 9000},
            "members": [{"id": "p1", "household_id": "h1", "version": 1, "given_name": {"latin": "Ali"},
                         "school": {"level": "primary"}, "identifiers": [{"type": "pk_cnic"}], "phone": "+92"}]
        });
        set.project_household(&mut h);
        assert_eq!(
            h,
            json!({"id": "h1", "version": 2, "attributes": {"rooms": 2},
                   "members": [{"id": "p1", "household_id": "h1", "version": 1, "given_name": {"latin": "Ali"},
                                "school": {"level": "primary"}}]})
        );
        assert!(FieldSet::parse(["person.income"], |_| true).is_err());
        assert!(FieldSet::parse(["household.attributes.x"], |_| false).is_err());
        assert!(FieldSet::parse(["name"], |_| true).is_err());
        let programmes = FieldSet::parse(["programme.pk-kafalat"], |_| true).unwrap();
        assert!(programmes.shows_programme("pk-kafalat") && !programmes.shows_programme("pk-taleemi"));
        assert!(
            FieldSet::parse(["programme.*"], |_| true)
                .unwrap()
                .shows_programme("any")
        );
        assert!(FieldSet::parse(["programme.Bad Code"], |_| true).is_err());
        assert_eq!(
            set.entries(),
            ["person.given_name", "person.school", "household.attributes.rooms"]
        );
    }
}
