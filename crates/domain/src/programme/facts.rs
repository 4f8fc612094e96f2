//! What a programme rule sees of a household: its facts as plain values, and
//! a view of them that CEL reads field by field without copying them into
//! maps first (building maps per household cost more than evaluating).

use std::collections::BTreeMap;
use std::sync::Arc;

use cel::ExecutionError;
use cel::common::traits::{Indexer, Iterable, Iterator as CelIterator, Sizer};
use cel::common::types::{CelBool, CelDouble, CelInt, CelList, CelString, Type};
use cel::common::value::{CowVal, Val};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::attributes::{AttrValue, AttributeLookup, StoredAttributes};
use crate::date::PartialDate;
use crate::household::HouseholdId;
use crate::identifier::IdentifierType;
use crate::person::{PersonId, PersonRecord};
use crate::vocab::{MaritalStatus, MaternalStatus, Relationship, SchoolLevel, Sex};

/// What rules read of a person's record, kept beside the person's current
/// row (written with every version) so that a targeting run or a payment
/// cycle reads a few dozen bytes per member instead of the whole version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersonFacts {
    pub sex: Sex,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<PartialDate>,
    pub relationship: Relationship,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marital_status: Option<MaritalStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maternal_status: Option<MaternalStatus>,
    /// The Washington Group cut-off, as [`MemberFacts::disability`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disability: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub school_level: Option<SchoolLevel>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifier_types: Vec<IdentifierType>,
}

impl PersonFacts {
    pub fn of(record: &PersonRecord) -> PersonFacts {
        PersonFacts {
            sex: record.sex,
            date_of_birth: record.date_of_birth,
            relationship: record.relationship,
            marital_status: record.marital_status,
            maternal_status: record.maternal_status,
            disability: record.disability.as_ref().is_some_and(|d| d.has_disability()),
            school_level: record.school.as_ref().map(|s| s.level),
            identifier_types: record.identifiers.iter().map(|i| i.id_type).collect(),
        }
    }
}

impl MemberFacts {
    /// A member as rules see them on `today`, from their stored facts;
    /// enrolments and compliance are filled in by the caller.
    pub fn new(id: PersonId, facts: PersonFacts, today: NaiveDate) -> MemberFacts {
        MemberFacts {
            id,
            sex: facts.sex,
            age: facts.date_of_birth.and_then(|d| d.age_on(today)),
            relationship: facts.relationship,
            marital_status: facts.marital_status,
            maternal_status: facts.maternal_status,
            disability: facts.disability,
            school_level: facts.school_level,
            identifier_types: facts.identifier_types.iter().map(|t| t.code()).collect(),
            enrolments: Vec::new(),
            attendance: None,
            health_visits: None,
        }
    }
}

/// The registry values rules read while deciding one unit, by path
/// (`household.size`, `household.members[1].age`,
/// `household.attributes.rooms`): what a payment cycle freezes with each
/// entitlement, so that it can be explained and computed again from them.
#[derive(Debug, Default)]
pub struct Reads(std::sync::Mutex<BTreeMap<String, serde_json::Value>>);

impl Reads {
    pub(super) fn record(&self, path: String, value: serde_json::Value) {
        // Poisoned only if a thread panicked while inserting: the map is still whole.
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(path, value);
    }

    pub fn into_map(self) -> BTreeMap<String, serde_json::Value> {
        self.0.into_inner().unwrap_or_else(|e| e.into_inner())
    }
}

pub(super) fn json_of(v: AttrValue<'_>) -> serde_json::Value {
    match v {
        AttrValue::Bool(b) => b.into(),
        AttrValue::Int(i) => i.into(),
        AttrValue::Float(x) => x.into(),
        AttrValue::Text(t) => t.into(),
    }
}

/// A member's field as a payment cycle freezes it: null for a field members lack.
pub(super) fn member_value(m: &MemberFacts, field: &str) -> serde_json::Value {
    match field {
        "id" => m.id.to_string().into(),
        "sex" => m.sex.code().into(),
        "age" => m.age.into(),
        "relationship" => m.relationship.code().into(),
        "marital_status" => m.marital_status.map(|s| s.code()).into(),
        "maternal_status" => m.maternal_status.map(|s| s.code()).into(),
        "disability" => m.disability.into(),
        "school_level" => m.school_level.map(|s| s.code()).into(),
        "identifier_types" => m.identifier_types.clone().into(),
        "enrolments" => m.enrolments.clone().into(),
        "attendance" => m.attendance.into(),
        "health_visits" => m.health_visits.into(),
        _ => serde_json::Value::Null,
    }
}

/// A household's field as a payment cycle freezes it; `None` for the
/// containers (members, attributes), whose values are noted as they are read.
pub(super) fn household_value(h: &HouseholdFacts, field: &str) -> Option<serde_json::Value> {
    Some(match field {
        "id" => h.id.to_string().into(),
        "area" => h.area.clone().into(),
        "areas" => h.areas.to_vec().into(),
        "pmt_score" => h.pmt_score.into(),
        "enrolments" => h.enrolments.clone().into(),
        _ => return None,
    })
}

/// One active member of a household, as rules see them.
#[derive(Clone, Debug, PartialEq)]
pub struct MemberFacts {
    pub id: PersonId,
    pub sex: Sex,
    /// Completed years on the evaluation date; `None` when the date of birth is unknown.
    pub age: Option<u32>,
    pub relationship: Relationship,
    pub marital_status: Option<MaritalStatus>,
    pub maternal_status: Option<MaternalStatus>,
    /// The Washington Group cut-off: a lot of difficulty, or cannot do at all, in one domain.
    pub disability: bool,
    pub school_level: Option<SchoolLevel>,
    /// Types of the identifiers the member holds (`pk_cnic`, `birth_registration`…).
    pub identifier_types: Vec<&'static str>,
    /// Programmes the member is enrolled in (or paused in).
    pub enrolments: Vec<String>,
    /// School attendance (percent of school days) in the latest quarter recorded.
    pub attendance: Option<f64>,
    /// Health visits in the latest quarter recorded.
    pub health_visits: Option<i64>,
}

/// A household as rules see it.
#[derive(Clone, Debug, PartialEq)]
pub struct HouseholdFacts {
    pub id: HouseholdId,
    pub area: String,
    /// The household's area and every area above it, top first.
    pub areas: Arc<[String]>,
    /// The proxy means test score; `None` when the household cannot be scored.
    pub pmt_score: Option<f64>,
    pub attributes: StoredAttributes,
    /// Active members, head first.
    pub members: Vec<MemberFacts>,
    /// Programmes the household is enrolled in (or paused in).
    pub enrolments: Vec<String>,
}

static HOUSEHOLD: Type = Type::new_unspecified_type("himaya.Household");
static MEMBER: Type = Type::new_unspecified_type("himaya.Member");
static ATTRIBUTES: Type = Type::new_unspecified_type("himaya.Attributes");
static MEMBERS: Type = Type::new_unspecified_type("list");

/// `Val` for a record CEL reads field by field through its `Indexer`.
macro_rules! record_val {
    ($name:ident, $type:ident) => {
        impl<'a> Val for $name<'a> {
            fn get_type(&self) -> &Type {
                &$type
            }
            fn cel_type() -> &'static Type {
                &$type
            }
            fn as_indexer<'b, 'v>(&'b self) -> Option<&'b (dyn Indexer + 'v)>
            where
                Self: 'v,
            {
                Some(self)
            }
            fn clone_as_boxed<'v>(&self) -> Box<dyn Val + 'v>
            where
                Self: 'v,
            {
                Box::new(self.clone())
            }
        }
    };
}
pub(crate) use record_val;

/// The fields a rule may read on `household`, for messages.
pub const HOUSEHOLD_FIELDS: &[&str] = &[
    "id",
    "area",
    "areas",
    "pmt_score",
    "size",
    "attributes",
    "members",
    "enrolments",
];
/// The fields a rule may read on a member (`m`, `person`), for messages.
pub const MEMBER_FIELDS: &[&str] = &[
    "id",
    "sex",
    "age",
    "relationship",
    "marital_status",
    "maternal_status",
    "disability",
    "school_level",
    "identifier_types",
    "enrolments",
    "attendance",
    "health_visits",
];

fn field_name(idx: &dyn Val) -> Result<&str, ExecutionError> {
    idx.downcast_ref::<CelString>()
        .map(CelString::inner)
        .ok_or_else(|| ExecutionError::UnexpectedType {
            got: idx.get_type().name().to_owned(),
            want: "string".to_owned(),
        })
}

fn strings<S: AsRef<str>>(values: &[S]) -> CelList<'_> {
    CelList::from(
        values
            .iter()
            .map(|s| Box::new(CelString::from(s.as_ref())) as Box<dyn Val + '_>)
            .collect::<Vec<_>>(),
    )
}

/// A member's fields as CEL reads them: scalars converted once when the
/// household's view is built (they borrow, so cost no allocation), lists
/// and the id only when a rule reads them, so that cloning a member for a
/// comprehension (`members.exists(m, …)`) copies no list.
#[derive(Clone, Debug)]
pub struct MemberView<'a> {
    facts: &'a MemberFacts,
    index: usize,
    reads: Option<&'a Reads>,
    sex: CelString<'a>,
    age: Option<CelInt>,
    relationship: CelString<'a>,
    marital_status: Option<CelString<'a>>,
    maternal_status: Option<CelString<'a>>,
    disability: CelBool,
    school_level: Option<CelString<'a>>,
    attendance: Option<CelDouble>,
    health_visits: Option<CelInt>,
}

impl<'a> MemberView<'a> {
    pub fn new(m: &'a MemberFacts, index: usize, reads: Option<&'a Reads>) -> MemberView<'a> {
        MemberView {
            facts: m,
            index,
            reads,
            sex: CelString::from(m.sex.code()),
            age: m.age.map(|a| CelInt::from(i64::from(a))),
            relationship: CelString::from(m.relationship.code()),
            marital_status: m.marital_status.map(|s| CelString::from(s.code())),
            maternal_status: m.maternal_status.map(|s| CelString::from(s.code())),
            disability: CelBool::from(m.disability),
            school_level: m.school_level.map(|s| CelString::from(s.code())),
            attendance: m.attendance.map(CelDouble::from),
            health_visits: m.health_visits.map(CelInt::from),
        }
    }
}

fn missing(field: &str) -> ExecutionError {
    ExecutionError::no_such_key(field)
}

fn borrowed<'b, 'v, T: Val + 'v>(v: &'b Option<T>, field: &str) -> Result<CowVal<'b, 'v>, ExecutionError> {
    v.as_ref()
        .map(|v| CowVal::Borrowed(v as &dyn Val))
        .ok_or_else(|| missing(field))
}

impl<'a> Indexer for MemberView<'a> {
    fn get<'b, 'v>(&'b self, idx: &dyn Val) -> Result<CowVal<'b, 'v>, ExecutionError>
    where
        Self: 'v,
    {
        let field = field_name(idx)?;
        if let Some(reads) = self.reads {
            reads.record(
                format!("household.members[{}].{field}", self.index),
                member_value(self.facts, field),
            );
        }
        match field {
            "id" => Ok(CowVal::owned(CelString::from(self.facts.id.to_string()))),
            "sex" => Ok(CowVal::Borrowed(&self.sex)),
            "age" => borrowed(&self.age, field),
            "relationship" => Ok(CowVal::Borrowed(&self.relationship)),
            "marital_status" => borrowed(&self.marital_status, field),
            "maternal_status" => borrowed(&self.maternal_status, field),
            "disability" => Ok(CowVal::Borrowed(&self.disability)),
            "school_level" => borrowed(&self.school_level, field),
            "identifier_types" => Ok(CowVal::owned(strings(&self.facts.identifier_types))),
            "enrolments" => Ok(CowVal::owned(strings(&self.facts.enrolments))),
            "attendance" => borrowed(&self.attendance, field),
            "health_visits" => borrowed(&self.health_visits, field),
            _ => Err(missing(field)),
        }
    }

    fn steal<'v>(self: Box<Self>, idx: &dyn Val) -> Result<Box<dyn Val + 'v>, ExecutionError>
    where
        Self: 'v,
    {
        self.get(idx).map(CowVal::into_owned)
    }
}

record_val!(MemberView, MEMBER);

/// Household attributes, converted to CEL values as they are read.
#[derive(Clone, Debug)]
struct AttributesView<'a>(&'a StoredAttributes, Option<&'a Reads>);

fn attribute_value<'a>(v: AttrValue<'a>) -> Box<dyn Val + 'a> {
    match v {
        AttrValue::Bool(b) => Box::new(CelBool::from(b)),
        AttrValue::Int(i) => Box::new(CelInt::from(i)),
        AttrValue::Float(x) => Box::new(CelDouble::from(x)),
        AttrValue::Text(s) => Box::new(CelString::from(s)),
    }
}

impl<'a> Indexer for AttributesView<'a> {
    fn get<'b, 'v>(&'b self, idx: &dyn Val) -> Result<CowVal<'b, 'v>, ExecutionError>
    where
        Self: 'v,
    {
        let field = field_name(idx)?;
        let value = self.0.value(field);
        if let Some(reads) = self.1 {
            reads.record(
                format!("household.attributes.{field}"),
                value.map_or(serde_json::Value::Null, json_of),
            );
        }
        Ok(CowVal::Owned(attribute_value(value.ok_or_else(|| missing(field))?)))
    }

    fn steal<'v>(self: Box<Self>, idx: &dyn Val) -> Result<Box<dyn Val + 'v>, ExecutionError>
    where
        Self: 'v,
    {
        self.get(idx).map(CowVal::into_owned)
    }
}

record_val!(AttributesView, ATTRIBUTES);

/// The members, as a list CEL iterates, indexes and sizes.
#[derive(Clone, Debug)]
pub struct MembersView<'a>(pub Arc<[MemberView<'a>]>);

struct MembersIter<'b, 'a>(std::slice::Iter<'b, MemberView<'a>>);

impl<'b, 'a: 'w, 'w> CelIterator<'b, 'w> for MembersIter<'b, 'a> {
    fn next(&mut self) -> Option<&'b (dyn Val + 'w)> {
        self.0.next().map(|m| m as &dyn Val)
    }
}

impl<'a> Iterable for MembersView<'a> {
    fn iter<'b, 'v>(&'b self) -> Box<dyn CelIterator<'b, 'v> + 'b>
    where
        Self: 'v,
    {
        Box::new(MembersIter(self.0.iter()))
    }
}

impl<'a> Sizer for MembersView<'a> {
    fn size(&self) -> CelInt {
        CelInt::from(self.0.len() as i64)
    }
}

impl<'a> Indexer for MembersView<'a> {
    fn get<'b, 'v>(&'b self, idx: &dyn Val) -> Result<CowVal<'b, 'v>, ExecutionError>
    where
        Self: 'v,
    {
        let i = idx
            .downcast_ref::<CelInt>()
            .map(|i| *i.inner())
            .ok_or_else(|| ExecutionError::UnexpectedType {
                got: idx.get_type().name().to_owned(),
                want: "int".to_owned(),
            })?;
        usize::try_from(i)
            .ok()
            .and_then(|i| self.0.get(i))
            .map(|m| CowVal::Borrowed(m as &dyn Val))
            .ok_or_else(|| ExecutionError::IndexOutOfBounds(cel::Value::Int(i)))
    }

    fn steal<'v>(self: Box<Self>, idx: &dyn Val) -> Result<Box<dyn Val + 'v>, ExecutionError>
    where
        Self: 'v,
    {
        self.get(idx).map(CowVal::into_owned)
    }
}

impl<'a> Val for MembersView<'a> {
    fn get_type(&self) -> &Type {
        &MEMBERS
    }
    fn cel_type() -> &'static Type {
        &MEMBERS
    }
    fn as_indexer<'b, 'v>(&'b self) -> Option<&'b (dyn Indexer + 'v)>
    where
        Self: 'v,
    {
        Some(self)
    }
    fn as_iterable<'b, 'v>(&'b self) -> Option<&'b (dyn Iterable + 'v)>
    where
        Self: 'v,
    {
        Some(self)
    }
    fn as_sizer(&self) -> Option<&dyn Sizer> {
        Some(self)
    }
    fn clone_as_boxed<'v>(&self) -> Box<dyn Val + 'v>
    where
        Self: 'v,
    {
        Box::new(self.clone())
    }
}

/// A household's fields as CEL reads them; lists are made when read.
#[derive(Clone, Debug)]
pub struct HouseholdView<'a> {
    facts: &'a HouseholdFacts,
    reads: Option<&'a Reads>,
    id: CelString<'a>,
    area: CelString<'a>,
    pmt_score: Option<CelDouble>,
    size: CelInt,
    attributes: AttributesView<'a>,
    members: MembersView<'a>,
}

impl<'a> HouseholdView<'a> {
    /// `id` is the household's id as text, which the caller keeps.
    pub fn new(h: &'a HouseholdFacts, id: &'a str) -> HouseholdView<'a> {
        HouseholdView::recording(h, id, None)
    }

    /// A view that notes in `reads` every value a rule reads through it.
    pub fn recording(h: &'a HouseholdFacts, id: &'a str, reads: Option<&'a Reads>) -> HouseholdView<'a> {
        if let Some(r) = reads {
            // How many members there are, whether or not a rule asks: a
            // household is rebuilt from its reads with its members in place.
            r.record("household.size".into(), h.members.len().into());
        }
        HouseholdView {
            facts: h,
            reads,
            id: CelString::from(id),
            area: CelString::from(h.area.as_str()),
            pmt_score: h.pmt_score.map(CelDouble::from),
            size: CelInt::from(h.members.len() as i64),
            attributes: AttributesView(&h.attributes, reads),
            members: MembersView(
                h.members
                    .iter()
                    .enumerate()
                    .map(|(i, m)| MemberView::new(m, i, reads))
                    .collect(),
            ),
        }
    }

    /// The household's id as text.
    pub fn id(&self) -> &str {
        self.id.inner()
    }

    /// The facts this view shows.
    pub fn facts(&self) -> &'a HouseholdFacts {
        self.facts
    }

    /// Whether the values rules read through this view are noted.
    pub fn is_recording(&self) -> bool {
        self.reads.is_some()
    }

    /// The view of member `i`, for rules about one person.
    pub fn member(&self, i: usize) -> Option<&MemberView<'a>> {
        self.members.0.get(i)
    }
}

impl<'a> Indexer for HouseholdView<'a> {
    fn get<'b, 'v>(&'b self, idx: &dyn Val) -> Result<CowVal<'b, 'v>, ExecutionError>
    where
        Self: 'v,
    {
        let field = field_name(idx)?;
        if let Some(reads) = self.reads
            && let Some(value) = household_value(self.facts, field)
        {
            reads.record(format!("household.{field}"), value);
        }
        match field {
            "id" => Ok(CowVal::Borrowed(&self.id)),
            "area" => Ok(CowVal::Borrowed(&self.area)),
            "areas" => Ok(CowVal::owned(strings(&self.facts.areas))),
            "pmt_score" => borrowed(&self.pmt_score, field),
            "size" => Ok(CowVal::Borrowed(&self.size)),
            "attributes" => Ok(CowVal::Borrowed(&self.attributes)),
            "members" => Ok(CowVal::Borrowed(&self.members)),
            "enrolments" => Ok(CowVal::owned(strings(&self.facts.enrolments))),
            _ => Err(missing(field)),
        }
    }

    fn steal<'v>(self: Box<Self>, idx: &dyn Val) -> Result<Box<dyn Val + 'v>, ExecutionError>
    where
        Self: 'v,
    {
        self.get(idx).map(CowVal::into_owned)
    }
}

record_val!(HouseholdView, HOUSEHOLD);
