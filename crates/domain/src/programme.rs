//! Programmes: who they are for, what they pay and how often, in rules anyone
//! can read. Eligibility is a list of clauses and the benefit a formula, each
//! a CEL expression over the household (and, for programmes that target
//! people, the person). A definition is checked when it is saved: every rule
//! must parse, read only fields that exist, not divide by a literal zero,
//! compare coded fields only with codes they can hold, and return the right
//! type on a typed sample household.

pub mod facts;
mod fast;
mod stored_facts;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, LazyLock};

use cel::common::ast::{Expr, IdedExpr, LiteralValue, operators};
use cel::common::traits::Indexer;
use cel::common::types::{CelDouble, CelInt, CelString, Type};
use cel::common::value::{CowVal, Val};
use cel::{Context, Env, ExecutionError, Program, Value};
use serde::{Deserialize, Serialize};

use crate::attributes::{AttributeSchema, AttributeType};
use crate::config::Deployment;
use crate::error::Problem;
use crate::household::HouseholdId;
use crate::person::PersonId;
use crate::vocab::{MaritalStatus, MaternalStatus, Relationship, SchoolLevel, Sex};
pub use facts::{HouseholdFacts, HouseholdView, MemberFacts, PersonFacts, Reads};
pub use stored_facts::parse_member_facts;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetUnit {
    Household,
    Person,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Frequency {
    Monthly,
    Quarterly,
}

impl Frequency {
    pub fn months(self) -> u32 {
        match self {
            Frequency::Monthly => 1,
            Frequency::Quarterly => 3,
        }
    }
}

/// Who comes first when more are eligible than the quota or budget takes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Poorest first by the proxy means test; unscored last.
    #[default]
    LowestScoreFirst,
    /// In the order households were registered.
    RegistrationOrder,
}

/// A named constant rules read as `params.NAME`; a run may override it to
/// simulate a policy change.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Param {
    Int(i64),
    Float(f64),
}

/// One eligibility clause: a rule and what it means, in each language.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clause {
    pub rule: String,
    #[serde(default)]
    pub label: BTreeMap<String, String>,
}

/// A programme as written in its configuration file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgrammeDef {
    pub code: String,
    /// By language code; every language of the deployment.
    pub name: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub description: BTreeMap<String, String>,
    pub target: TargetUnit,
    pub frequency: Frequency,
    /// ISO 4217; the deployment's currency.
    pub currency: String,
    /// The budget year the figures apply to (`FY2025-26`), for readers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_year: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, Param>,
    /// All clauses must hold.
    pub eligibility: Vec<Clause>,
    /// For conditional transfers: what a beneficiary must do to be paid in a
    /// cycle (school attendance, health visits); all must hold. They do not
    /// decide eligibility: cycles apply them to each payment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Clause>,
    /// The amount per cycle, in minor units (paisa, poisha, fils, agorot).
    pub benefit: String,
    /// Who is paid, as a rule over a member `m`: the first member (head
    /// first) for whom it holds. Without it, the head, or the person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    /// At most this many enrolled at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<u64>,
    /// At most this much paid per cycle, in minor units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_per_cycle: Option<i64>,
    #[serde(default)]
    pub priority: Priority,
    /// Programmes whose beneficiaries cannot also be in this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclusive_with: Vec<String>,
    /// Months after which an enrolled household's data is too old and it is flagged for resurvey.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recertification_months: Option<u32>,
    /// Days a payment stays collectable once issued (a cash-out at an
    /// agent, a voucher in a wallet); a payment still unclaimed after that
    /// expires. Without it, payments expire only when a cycle is closed
    /// with `expire_pending`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_validity_days: Option<u32>,
    /// SMS text sent on enrolment, by language; `{programme}` and `{amount}` are filled in.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub notification: BTreeMap<String, String>,
}

/// The CEL environment every rule compiles and runs in: the standard
/// library with optional fields (`household.attributes.?has_car.orValue(false)`).
static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| Arc::new(Env::stdlib().with_optional_support(true)));

/// The costly household facts a set of rules may read: the proxy means
/// test score, and the attributes (which the score is computed from).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FactsRead {
    pub pmt_score: bool,
    pub attributes: bool,
}

impl FactsRead {
    pub const ALL: FactsRead = FactsRead {
        pmt_score: true,
        attributes: true,
    };

    /// Whether the household's attributes are needed: read by the rules,
    /// or for the score they are computed into.
    pub fn needs_attributes(self) -> bool {
        self.attributes || self.pmt_score
    }

    /// Read from the rules' text: a rule can reach a field only by naming
    /// it (`household.pmt_score`), unless it indexes (`household[key]`),
    /// which is taken to read everything.
    fn of<'a>(sources: impl Iterator<Item = &'a str>) -> FactsRead {
        let mut read = FactsRead {
            pmt_score: false,
            attributes: false,
        };
        for source in sources {
            let indexes = source.contains('[');
            read.pmt_score |= indexes || source.contains("pmt_score");
            read.attributes |= indexes || source.contains("attributes");
        }
        read
    }
}

#[derive(Debug)]
struct Rule {
    source: String,
    program: Program,
}

/// A checked programme, ready to decide.
#[derive(Clone, Debug)]
pub struct Programme {
    pub def: Arc<ProgrammeDef>,
    rules: Arc<Rules>,
    params: Arc<BTreeMap<String, Param>>,
    /// The rules translated for direct evaluation, with these parameters.
    fast: Arc<FastRules>,
}

/// Each rule's direct form, `None` where it is the interpreter's alone.
#[derive(Debug)]
struct FastRules {
    eligibility: Vec<Option<fast::Node>>,
    conditions: Vec<Option<fast::Node>>,
    benefit: Option<fast::Node>,
    /// `None` when the programme has no recipient rule.
    recipient: Option<Option<fast::Node>>,
}

impl FastRules {
    fn of(rules: &Rules, params: &BTreeMap<String, Param>) -> FastRules {
        let node = |r: &Rule| fast::Node::translate(r.program.expression(), params);
        FastRules {
            eligibility: rules.eligibility.iter().map(node).collect(),
            conditions: rules.conditions.iter().map(node).collect(),
            benefit: node(&rules.benefit),
            recipient: rules.recipient.as_ref().map(node),
        }
    }
}

#[derive(Debug)]
struct Rules {
    eligibility: Vec<Rule>,
    conditions: Vec<Rule>,
    benefit: Rule,
    recipient: Option<Rule>,
}

/// Why a unit is not eligible.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Refusal {
    /// Eligibility clause `clause` (0-based) does not hold.
    Clause { clause: usize },
    /// Already in a programme this one excludes.
    Exclusive { programme: String },
    /// No member satisfies the recipient rule.
    NoRecipient,
}

/// What one household or person was decided.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Eligible {
        /// Per cycle, in minor units.
        amount: i64,
        /// Index of the member who is paid.
        recipient: Option<usize>,
    },
    NotEligible(Refusal),
    /// A rule failed on this unit's data; nothing was decided.
    Error(String),
}

/// A clause's value for one unit, for explanations.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClauseValue {
    pub rule: String,
    pub label: String,
    /// `None` when the rule failed on this unit's data.
    pub holds: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Why a unit is or is not eligible: every clause evaluated, not just the first that fails.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Explanation {
    pub clauses: Vec<ClauseValue>,
    /// The conditions of a conditional transfer, on the latest compliance recorded.
    pub conditions: Vec<ClauseValue>,
    /// A programme this one excludes that the unit is already in.
    pub excluded_by: Option<String>,
    pub eligible: bool,
    pub amount: Option<i64>,
    pub recipient: Option<PersonId>,
    pub error: Option<String>,
}

fn invalid_name(code: &str) -> bool {
    code.len() < 2
        || code.len() > 40
        || !code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        || code.starts_with('-')
        || code.ends_with('-')
}

impl ProgrammeDef {
    /// Parses a programme file; the definition is checked by [`Programme::compile`].
    pub fn from_toml(text: &str) -> Result<ProgrammeDef, Problem> {
        toml::from_str(text)
            .map_err(|e| Problem::single("programme", "syntax", e.to_string().trim_end().replace('\n', " ")))
    }

    /// The name in `language`, else in English, else any.
    pub fn name_in(&self, language: &str) -> &str {
        label_in(&self.name, language).unwrap_or(&self.code)
    }
}

fn label_in<'a>(labels: &'a BTreeMap<String, String>, language: &str) -> Option<&'a str> {
    labels
        .get(language)
        .or_else(|| labels.get("en"))
        .or_else(|| labels.values().next())
        .map(String::as_str)
}

/// Line and column (1-based, in characters) of a character offset.
fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let mut line = 1;
    let mut col = 1;
    for c in source.chars().take(offset) {
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    (line, col)
}

/// What a rule returns.
#[derive(Clone, Copy, PartialEq)]
enum Returns {
    Bool,
    Int,
}

/// Which variables a rule may read.
#[derive(Clone, Copy, PartialEq)]
enum Scope {
    /// `household`, `params`, and `person` for programmes about people.
    Unit { person: bool },
    /// The recipient rule: also the member `m`.
    Recipient { person: bool },
}

impl Scope {
    fn variables(self) -> &'static [&'static str] {
        match self {
            Scope::Unit { person: false } => &["household", "params"],
            Scope::Unit { person: true } => &["household", "person", "params"],
            Scope::Recipient { person: false } => &["household", "params", "m"],
            Scope::Recipient { person: true } => &["household", "person", "params", "m"],
        }
    }
}

/// Codes a coded field may hold, for refusing comparisons that can never be true.
fn codes_of(field: &str, schema: &AttributeSchema, on_attributes: bool) -> Option<Vec<String>> {
    if on_attributes {
        let def = schema.get(field)?;
        return (def.kind == AttributeType::Choice).then(|| def.choices.clone());
    }
    let codes = match field {
        "sex" => Sex::codes(),
        "relationship" => Relationship::codes(),
        "marital_status" => MaritalStatus::codes(),
        "maternal_status" => MaternalStatus::codes(),
        "school_level" => SchoolLevel::codes(),
        _ => return None,
    };
    Some(codes.split(", ").map(str::to_owned).collect())
}

/// The coded field `e` reads, if it is one: `m.sex`, `household.attributes.roof_material`.
fn coded_field(e: &Expr, schema: &AttributeSchema) -> Option<(String, Vec<String>)> {
    let Expr::Select(s) = e else { return None };
    if s.test {
        return None;
    }
    let on_attributes = matches!(&s.operand.expr, Expr::Select(inner) if inner.field == "attributes");
    codes_of(&s.field, schema, on_attributes).map(|codes| (s.field.clone(), codes))
}

struct Checker<'a> {
    source: &'a str,
    program: &'a Program,
    schema: &'a AttributeSchema,
    scope: Scope,
    params: &'a BTreeMap<String, Param>,
    /// Variables bound by macros (`m` in `members.exists(m, …)`), and
    /// whether each stands for a member.
    bound: Vec<(String, bool)>,
    errors: Vec<(usize, usize, &'static str, String)>,
}

/// What an expression stands for, as far as its fields can be known before it runs.
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    Household,
    Member,
    Params,
    Attributes,
    Unknown,
}

impl Checker<'_> {
    fn at(&self, id: u64) -> (usize, usize) {
        self.program
            .source_info()
            .offset_for(id)
            .map_or((1, 1), |(start, _)| line_col(self.source, start as usize))
    }

    fn fail(&mut self, id: u64, code: &'static str, message: String) {
        let (line, col) = self.at(id);
        self.errors.push((line, col, code, message));
    }

    fn walk(&mut self, e: &IdedExpr) {
        match &e.expr {
            Expr::Ident(name) => {
                let known = self.scope.variables().contains(&name.as_str())
                    || self.bound.iter().any(|(b, _)| b == name)
                    || name.starts_with('@');
                if !known {
                    self.fail(
                        e.id,
                        "rule-unknown-field",
                        format!(
                            "unknown name {name:?}; a rule may read {}",
                            self.scope.variables().join(", ")
                        ),
                    );
                }
            }
            Expr::Call(call) => {
                if (call.func_name == operators::DIVIDE || call.func_name == operators::MODULO)
                    && let Some(divisor) = call.args.get(1)
                    && is_zero(&divisor.expr)
                {
                    self.fail(divisor.id, "rule-divides-by-zero", "divides by zero".to_owned());
                }
                if call.func_name == operators::EQUALS || call.func_name == operators::NOT_EQUALS {
                    self.check_codes(&call.args);
                }
                if call.func_name == operators::IN
                    && let [item, list] = call.args.as_slice()
                    && let Expr::List(l) = &list.expr
                {
                    for el in &l.elements {
                        self.check_codes(&[item.clone(), el.clone()]);
                    }
                }
                if call.func_name == "_?._"
                    && let [operand, field] = call.args.as_slice()
                    && let Expr::Literal(LiteralValue::String(f)) = &field.expr
                {
                    self.check_field(field.id, &operand.expr, f.inner());
                }
                if let Some(t) = &call.target {
                    self.walk(t);
                }
                for a in &call.args {
                    self.walk(a);
                }
            }
            Expr::Comprehension(c) => {
                self.walk(&c.iter_range);
                self.walk(&c.accu_init);
                // `household.members.exists(m, …)`: `m` is a member.
                let over_members = matches!(&c.iter_range.expr, Expr::Select(r)
                    if r.field == "members" && self.shape(&r.operand.expr) == Shape::Household);
                self.bound.push((c.iter_var.clone(), over_members));
                if let Some(v) = &c.iter_var2 {
                    self.bound.push((v.clone(), false));
                }
                self.bound.push((c.accu_var.clone(), false));
                self.walk(&c.loop_cond);
                self.walk(&c.loop_step);
                self.walk(&c.result);
                self.bound.pop();
                if c.iter_var2.is_some() {
                    self.bound.pop();
                }
                self.bound.pop();
            }
            Expr::List(l) => l.elements.iter().for_each(|x| self.walk(x)),
            Expr::Map(m) => {
                for entry in &m.entries {
                    match &entry.expr {
                        cel::common::ast::EntryExpr::MapEntry(me) => {
                            self.walk(&me.key);
                            self.walk(&me.value);
                        }
                        cel::common::ast::EntryExpr::StructField(f) => self.walk(&f.value),
                    }
                }
            }
            Expr::Select(sel) => {
                self.check_field(e.id, &sel.operand.expr, &sel.field);
                self.walk(&sel.operand);
            }
            Expr::Literal(_) | Expr::Struct(_) | Expr::Unspecified => {}
        }
    }

    fn shape(&self, e: &Expr) -> Shape {
        match e {
            Expr::Ident(name) => {
                if let Some((_, member)) = self.bound.iter().rev().find(|(b, _)| b == name) {
                    return if *member { Shape::Member } else { Shape::Unknown };
                }
                match name.as_str() {
                    "household" => Shape::Household,
                    "params" => Shape::Params,
                    "person" | "m" if self.scope.variables().contains(&name.as_str()) => Shape::Member,
                    _ => Shape::Unknown,
                }
            }
            Expr::Select(sel) if sel.field == "attributes" && self.shape(&sel.operand.expr) == Shape::Household => {
                Shape::Attributes
            }
            _ => Shape::Unknown,
        }
    }

    /// A field read on something whose fields are known must be one of them,
    /// on every branch of the rule, not only those a sample takes.
    fn check_field(&mut self, id: u64, operand: &Expr, field: &str) {
        let message = match self.shape(operand) {
            Shape::Household if !facts::HOUSEHOLD_FIELDS.contains(&field) => format!(
                "a household has no field {field:?}; it has: {}",
                facts::HOUSEHOLD_FIELDS.join(", ")
            ),
            Shape::Member if !facts::MEMBER_FIELDS.contains(&field) => format!(
                "no field is named {field:?}; a member has: {}",
                facts::MEMBER_FIELDS.join(", ")
            ),
            Shape::Params if !self.params.contains_key(field) => format!(
                "no parameter is named {field:?}; the programme has: {}",
                self.params.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
            Shape::Attributes if self.schema.get(field).is_none() => {
                format!("no household attribute is named {field:?}")
            }
            _ => return,
        };
        self.fail(id, "rule-unknown-field", message);
    }

    /// `m.sex == "F"` can never hold where sex is coded `female`: refuse it.
    fn check_codes(&mut self, args: &[IdedExpr]) {
        let [a, b] = args else { return };
        for (field, literal) in [(a, b), (b, a)] {
            if let Some((name, codes)) = coded_field(&field.expr, self.schema)
                && let Expr::Literal(LiteralValue::String(s)) = &literal.expr
                && !codes.iter().any(|c| c == s.inner())
            {
                self.fail(
                    literal.id,
                    "rule-unknown-value",
                    format!("{name} is never {:?}; it is one of {}", s.inner(), codes.join(", ")),
                );
            }
        }
    }
}

fn is_zero(e: &Expr) -> bool {
    match e {
        Expr::Literal(LiteralValue::Int(i)) => *i.inner() == 0,
        Expr::Literal(LiteralValue::UInt(u)) => *u.inner() == 0,
        Expr::Literal(LiteralValue::Double(d)) => *d.inner() == 0.0,
        _ => false,
    }
}

static PARAMS: Type = Type::new_unspecified_type("himaya.Params");

/// `params`, read without copying the parameters for every household.
#[derive(Clone, Debug)]
struct ParamsView<'a>(&'a BTreeMap<String, Param>);

impl Indexer for ParamsView<'_> {
    fn get<'b, 'v>(&'b self, idx: &dyn Val) -> Result<CowVal<'b, 'v>, ExecutionError>
    where
        Self: 'v,
    {
        let name = idx
            .downcast_ref::<CelString>()
            .map(CelString::inner)
            .unwrap_or_default();
        match self.0.get(name) {
            Some(Param::Int(i)) => Ok(CowVal::Owned(Box::new(CelInt::from(*i)))),
            Some(Param::Float(f)) => Ok(CowVal::Owned(Box::new(CelDouble::from(*f)))),
            None => Err(ExecutionError::no_such_key(name)),
        }
    }

    fn steal<'v>(self: Box<Self>, idx: &dyn Val) -> Result<Box<dyn Val + 'v>, ExecutionError>
    where
        Self: 'v,
    {
        self.get(idx).map(CowVal::into_owned)
    }
}

facts::record_val!(ParamsView, PARAMS);

/// A runtime error as a family's officer would read it.
fn describe(e: &ExecutionError) -> String {
    match e {
        ExecutionError::NoSuchKey(k) if k.as_str() == "pmt_score" => {
            "the household has no proxy means test score (inputs are missing)".to_owned()
        }
        ExecutionError::NoSuchKey(k) => format!("the record has no value for {k}"),
        other => other.to_string(),
    }
}

/// A household the sample check runs every rule on: every attribute present
/// with a value of its type, and members who fill every field.
fn sample(deployment: &Deployment) -> HouseholdFacts {
    let attributes: crate::attributes::Attributes = deployment
        .household_attributes
        .defs()
        .iter()
        .map(|d| {
            // Non-zero where the range allows, so that a division by an attribute is not flagged here.
            let low = d.min.unwrap_or(0.0).max(d.max.unwrap_or(1.0).min(1.0));
            let value = match d.kind {
                AttributeType::Integer => serde_json::json!(low as i64),
                AttributeType::Decimal => serde_json::json!(low + 0.5),
                AttributeType::Boolean => serde_json::json!(false),
                AttributeType::Choice => serde_json::json!(d.choices.first().cloned().unwrap_or_default()),
                AttributeType::Date => serde_json::json!("2020-01-01"),
                AttributeType::Text => serde_json::json!("sample"),
            };
            (d.name.clone(), value)
        })
        .collect();
    let area = deployment.areas.first().map(|a| a.code.clone()).unwrap_or_default();
    let member = |sex, age, relationship, marital, school| MemberFacts {
        id: PersonId(uuid::Uuid::nil()),
        sex,
        age: Some(age),
        relationship,
        marital_status: Some(marital),
        maternal_status: Some(MaternalStatus::Lactating),
        disability: false,
        school_level: Some(school),
        identifier_types: vec!["birth_registration"],
        enrolments: Vec::new(),
        attendance: Some(80.0),
        health_visits: Some(2),
    };
    HouseholdFacts {
        id: HouseholdId(uuid::Uuid::nil()),
        areas: Arc::from(vec![area.clone()]),
        area,
        pmt_score: Some(25.0),
        attributes: crate::attributes::StoredAttributes::of(&attributes),
        members: vec![
            member(
                Sex::Female,
                34,
                Relationship::Head,
                MaritalStatus::Married,
                SchoolLevel::NotEnrolled,
            ),
            member(
                Sex::Male,
                9,
                Relationship::Child,
                MaritalStatus::NeverMarried,
                SchoolLevel::Primary,
            ),
        ],
        enrolments: Vec::new(),
    }
}

impl Programme {
    /// Checks a definition against the deployment and compiles its rules;
    /// every fault is reported with the key that holds it and, for rules,
    /// the line and column.
    pub fn compile(def: ProgrammeDef, deployment: &Deployment) -> Result<Programme, Problem> {
        let mut problem = Problem::default();
        if invalid_name(&def.code) {
            problem.push(
                "code",
                "invalid",
                "use 2 to 40 lower-case letters, digits and dashes (pk-kafalat)",
            );
        }
        for lang in &deployment.languages {
            if def.name.get(lang).is_none_or(|n| n.trim().is_empty()) {
                problem.push(
                    format!("name.{lang}"),
                    "required",
                    "the programme needs a name in each language of the deployment",
                );
            }
        }
        if def.currency != deployment.currency {
            problem.push(
                "currency",
                "invalid",
                format!("the deployment pays in {}, not {}", deployment.currency, def.currency),
            );
        }
        if def.eligibility.is_empty() {
            problem.push("eligibility", "required", "at least one eligibility clause is needed");
        }
        for name in def.parameters.keys() {
            if invalid_name(&name.replace('_', "-")) || name.contains('-') {
                problem.push(
                    format!("parameters.{name}"),
                    "invalid",
                    "use lower-case letters, digits and underscores",
                );
            }
        }
        if def.quota == Some(0) {
            problem.push("quota", "invalid", "a quota must be at least 1");
        }
        if def.budget_per_cycle.is_some_and(|b| b <= 0) {
            problem.push("budget_per_cycle", "invalid", "a budget must be more than zero");
        }
        for (i, other) in def.exclusive_with.iter().enumerate() {
            if invalid_name(other) || *other == def.code {
                problem.push(
                    format!("exclusive_with[{i}]"),
                    "invalid",
                    format!("{other:?} is not another programme's code"),
                );
            }
        }
        if def.recertification_months == Some(0) {
            problem.push(
                "recertification_months",
                "invalid",
                "use a number of months of at least 1",
            );
        }
        if def
            .payment_validity_days
            .is_some_and(|d| !(1..=MAX_PAYMENT_VALIDITY_DAYS).contains(&d))
        {
            problem.push(
                "payment_validity_days",
                "invalid",
                format!("use a number of days from 1 to {MAX_PAYMENT_VALIDITY_DAYS}"),
            );
        }
        let person = def.target == TargetUnit::Person;
        let mut compile = |key: String, source: &str, scope: Scope, returns: Returns| -> Option<Rule> {
            check_rule(&key, source, scope, returns, deployment, &def.parameters, &mut problem)
        };
        let eligibility: Vec<Option<Rule>> = def
            .eligibility
            .iter()
            .enumerate()
            .map(|(i, c)| {
                compile(
                    format!("eligibility[{i}].rule"),
                    &c.rule,
                    Scope::Unit { person },
                    Returns::Bool,
                )
            })
            .collect();
        let conditions: Vec<Option<Rule>> = def
            .conditions
            .iter()
            .enumerate()
            .map(|(i, c)| {
                compile(
                    format!("conditions[{i}].rule"),
                    &c.rule,
                    Scope::Unit { person },
                    Returns::Bool,
                )
            })
            .collect();
        let benefit = compile("benefit".into(), &def.benefit, Scope::Unit { person }, Returns::Int);
        let recipient = def
            .recipient
            .as_ref()
            .map(|r| compile("recipient".into(), r, Scope::Recipient { person }, Returns::Bool));
        let labelled = def.eligibility.iter().map(|c| ("eligibility", c));
        let labelled = labelled.chain(def.conditions.iter().map(|c| ("conditions", c)));
        let mut counts = (0, 0);
        for (list, c) in labelled {
            let i = if list == "eligibility" {
                &mut counts.0
            } else {
                &mut counts.1
            };
            if c.label.get("en").is_none_or(|l| l.trim().is_empty()) {
                problem.push(
                    format!("{list}[{i}].label.en"),
                    "required",
                    "each clause needs a label in English at least, to explain decisions",
                );
            }
            *i += 1;
        }
        if !problem.is_empty() {
            return Err(problem);
        }
        let rules = Rules {
            eligibility: eligibility.into_iter().flatten().collect(),
            conditions: conditions.into_iter().flatten().collect(),
            benefit: benefit.ok_or_else(|| Problem::single("benefit", "invalid", "does not compile"))?,
            recipient: recipient.flatten(),
        };
        let params = Arc::new(def.parameters.clone());
        Ok(Programme {
            def: Arc::new(def),
            fast: Arc::new(FastRules::of(&rules, &params)),
            rules: Arc::new(rules),
            params,
        })
    }

    pub fn code(&self) -> &str {
        &self.def.code
    }

    /// Which of the costly household facts the rules that set an
    /// entitlement (benefit, conditions, recipient) may read, so that a
    /// payment cycle prepares no more than they need.
    pub fn entitlement_reads(&self) -> FactsRead {
        let rules = self
            .rules
            .conditions
            .iter()
            .chain([&self.rules.benefit])
            .chain(&self.rules.recipient);
        FactsRead::of(rules.map(|r| r.source.as_str()))
    }

    /// The parameters in force, overrides included.
    pub fn parameters(&self) -> &BTreeMap<String, Param> {
        &self.params
    }

    /// The same programme with some parameters overridden (`pmt_threshold=35`),
    /// to simulate a policy change; each value keeps its parameter's type.
    pub fn with_parameters(&self, overrides: &[(String, String)]) -> Result<Programme, Problem> {
        let mut params = (*self.params).clone();
        let mut problem = Problem::default();
        for (name, raw) in overrides {
            let key = format!("parameters.{name}");
            match params.get_mut(name) {
                None => problem.push(
                    key,
                    "unknown",
                    format!(
                        "the programme has no parameter {name:?}; it has: {}",
                        self.params.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                ),
                Some(Param::Int(v)) => match raw.trim().parse() {
                    Ok(n) => *v = n,
                    Err(_) => problem.push(key, "invalid", format!("{raw:?} is not a whole number")),
                },
                Some(Param::Float(v)) => match raw.trim().parse::<f64>() {
                    Ok(n) if n.is_finite() => *v = n,
                    _ => problem.push(key, "invalid", format!("{raw:?} is not a number")),
                },
            }
        }
        problem.into_result(Programme {
            def: self.def.clone(),
            fast: Arc::new(FastRules::of(&self.rules, &params)),
            rules: self.rules.clone(),
            params: Arc::new(params),
        })
    }

    fn run_rule(rule: &Rule, ctx: &Context<'_, '_>) -> Result<Value, String> {
        rule.program.execute(ctx).map_err(|e| describe(&e))
    }

    fn holds(rule: &Rule, ctx: &Context<'_, '_>) -> Result<bool, String> {
        match Self::run_rule(rule, ctx)? {
            Value::Bool(b) => Ok(b),
            other => Err(format!("the rule {:?} gave {other:?}, not true or false", rule.source)),
        }
    }

    fn excluded_by(&self, facts: &HouseholdFacts, person: Option<usize>) -> Option<String> {
        let enrolments = match person {
            Some(i) => &facts.members.get(i)?.enrolments,
            None => &facts.enrolments,
        };
        self.def
            .exclusive_with
            .iter()
            .find(|code| enrolments.contains(code))
            .cloned()
    }

    fn recipient<'v>(
        &self,
        ctx: &Context<'_, 'v>,
        view: &'v HouseholdView<'v>,
        members: usize,
        person: Option<usize>,
    ) -> Result<Option<usize>, String> {
        let Some(rule) = &self.rules.recipient else {
            return Ok(person.or((members > 0).then_some(0)));
        };
        for i in 0..members {
            let mut scope = ctx.new_inner_scope();
            if let Some(m) = view.member(i) {
                scope.add_variable_as_val("m", Box::new(ByRef(m)));
            }
            if Self::holds(rule, &scope)? {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    fn amount(&self, ctx: &Context<'_, '_>) -> Result<i64, String> {
        match Self::run_rule(&self.rules.benefit, ctx)? {
            Value::Int(n) if n >= 0 => Ok(n),
            Value::UInt(n) => i64::try_from(n).map_err(|_| "the benefit is too large".to_owned()),
            Value::Int(n) => Err(format!("the benefit came to {n}, below zero")),
            other => Err(format!("the benefit gave {other:?}, not a whole amount in minor units")),
        }
    }

    /// Decides one unit: the household (`person` = `None`) or its member
    /// `person`. Stops at the first clause that does not hold.
    pub fn decide<'v>(&self, facts: &HouseholdFacts, view: &'v HouseholdView<'v>, person: Option<usize>) -> Outcome {
        if let Some(programme) = self.excluded_by(facts, person) {
            return Outcome::NotEligible(Refusal::Exclusive { programme });
        }
        if let Some(outcome) = self.decide_fast(facts, view.id(), person) {
            return outcome;
        }
        self.decide_interpreted(view, person)
    }

    /// [`Programme::decide`] by the rules' direct forms; `None` where a
    /// rule has none, or would be an error, for the interpreter to answer.
    fn decide_fast(&self, facts: &HouseholdFacts, household_id: &str, person: Option<usize>) -> Option<Outcome> {
        let rules = &*self.fast;
        let mut unit = fast::Unit::new(facts, household_id, person);
        for (clause, rule) in rules.eligibility.iter().enumerate() {
            if !unit.holds(rule.as_ref()?)? {
                return Some(Outcome::NotEligible(Refusal::Clause { clause }));
            }
        }
        let recipient = match &rules.recipient {
            None => person.or((!facts.members.is_empty()).then_some(0)),
            Some(rule) => unit.recipient(rule.as_ref()?)?,
        };
        let Some(recipient) = recipient else {
            return Some(Outcome::NotEligible(Refusal::NoRecipient));
        };
        let amount = unit.amount(rules.benefit.as_ref()?)?;
        Some(Outcome::Eligible {
            amount,
            recipient: Some(recipient),
        })
    }

    /// [`Programme::decide`] by the interpreter, after the exclusions.
    fn decide_interpreted<'v>(&self, view: &'v HouseholdView<'v>, person: Option<usize>) -> Outcome {
        let facts = view.facts();
        // One set of variables for every rule of this unit.
        let ctx = context(view, &self.params, person, None);
        for (clause, rule) in self.rules.eligibility.iter().enumerate() {
            match Self::holds(rule, &ctx) {
                Ok(true) => {}
                Ok(false) => return Outcome::NotEligible(Refusal::Clause { clause }),
                Err(e) => return Outcome::Error(format!("eligibility clause {}: {e}", clause + 1)),
            }
        }
        let recipient = match self.recipient(&ctx, view, facts.members.len(), person) {
            Ok(Some(r)) => Some(r),
            Ok(None) => return Outcome::NotEligible(Refusal::NoRecipient),
            Err(e) => return Outcome::Error(format!("recipient rule: {e}")),
        };
        match self.amount(&ctx) {
            Ok(amount) => Outcome::Eligible { amount, recipient },
            Err(e) => Outcome::Error(format!("benefit: {e}")),
        }
    }

    /// What a payment cycle needs of one unit: the benefit formula's amount,
    /// whether the conditions hold, and who receives it, each or the rule's
    /// error; with every registry value the rules read, to freeze.
    pub fn entitle(&self, facts: &HouseholdFacts, person: Option<usize>) -> Entitled {
        let id = facts.id.to_string();
        self.entitle_fast(facts, &id, person)
            .unwrap_or_else(|| self.entitle_interpreted(facts, &id, person))
    }

    /// [`Programme::entitle`] by the rules' direct forms, noting the same reads.
    fn entitle_fast(&self, facts: &HouseholdFacts, household_id: &str, person: Option<usize>) -> Option<Entitled> {
        let rules = &*self.fast;
        let reads = facts::Reads::default();
        let (amount, conditions, recipient) = {
            let mut unit = fast::Unit::recording(facts, household_id, person, &reads);
            let amount = unit.amount(rules.benefit.as_ref()?)?;
            let mut conditions = true;
            for rule in &rules.conditions {
                if !unit.holds(rule.as_ref()?)? {
                    conditions = false;
                    break;
                }
            }
            let recipient = match &rules.recipient {
                None => person.or((!facts.members.is_empty()).then_some(0)),
                Some(rule) => unit.recipient(rule.as_ref()?)?,
            };
            (amount, conditions, recipient)
        };
        Some(Entitled {
            amount: Ok(amount),
            conditions: Ok(conditions),
            recipient: Ok(recipient),
            reads: reads.into_map(),
        })
    }

    fn entitle_interpreted(&self, facts: &HouseholdFacts, id: &str, person: Option<usize>) -> Entitled {
        let reads = facts::Reads::default();
        let (amount, conditions, recipient) = {
            let view = HouseholdView::recording(facts, id, Some(&reads));
            let ctx = context(&view, &self.params, person, None);
            let amount = self.amount(&ctx);
            let conditions = self.conditions_met(&view, person);
            let recipient = self.recipient(&ctx, &view, facts.members.len(), person);
            (amount, conditions, recipient)
        };
        Entitled {
            amount,
            conditions,
            recipient,
            reads: reads.into_map(),
        }
    }

    /// Whether the unit meets the conditions on its latest compliance record
    /// (true when the programme sets none).
    pub fn conditions_met<'v>(&self, view: &'v HouseholdView<'v>, person: Option<usize>) -> Result<bool, String> {
        if self.rules.conditions.is_empty() {
            return Ok(true);
        }
        // The direct forms note no reads: a view that records them is the interpreter's.
        if !view.is_recording()
            && let Some(met) = self.conditions_fast(view.facts(), view.id(), person)
        {
            return Ok(met);
        }
        self.conditions_interpreted(view, person)
    }

    fn conditions_fast(&self, facts: &HouseholdFacts, household_id: &str, person: Option<usize>) -> Option<bool> {
        let mut unit = fast::Unit::new(facts, household_id, person);
        for rule in &self.fast.conditions {
            if !unit.holds(rule.as_ref()?)? {
                return Some(false);
            }
        }
        Some(true)
    }

    fn conditions_interpreted<'v>(&self, view: &'v HouseholdView<'v>, person: Option<usize>) -> Result<bool, String> {
        let ctx = context(view, &self.params, person, None);
        for rule in &self.rules.conditions {
            if !Self::holds(rule, &ctx)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Every clause's value for one unit, with labels in `language`.
    pub fn explain(&self, facts: &HouseholdFacts, person: Option<usize>, language: &str) -> Explanation {
        let id = facts.id.to_string();
        let view = HouseholdView::new(facts, &id);
        let ctx = context(&view, &self.params, person, None);
        let values = |rules: &[Rule], clauses: &[Clause]| -> Vec<ClauseValue> {
            rules
                .iter()
                .zip(clauses)
                .map(|(rule, clause)| {
                    let result = Self::holds(rule, &ctx);
                    ClauseValue {
                        rule: rule.source.clone(),
                        label: label_in(&clause.label, language).unwrap_or(&rule.source).to_owned(),
                        holds: result.as_ref().ok().copied(),
                        error: result.err(),
                    }
                })
                .collect()
        };
        let clauses = values(&self.rules.eligibility, &self.def.eligibility);
        let conditions = values(&self.rules.conditions, &self.def.conditions);
        let excluded_by = self.excluded_by(facts, person);
        let outcome = self.decide(facts, &view, person);
        let (eligible, amount, recipient, error) = match outcome {
            Outcome::Eligible { amount, recipient } => (
                true,
                Some(amount),
                recipient.and_then(|i| facts.members.get(i)).map(|m| m.id),
                None,
            ),
            Outcome::NotEligible(_) => (false, None, None, None),
            Outcome::Error(e) => (false, None, None, Some(e)),
        };
        Explanation {
            clauses,
            conditions,
            excluded_by,
            eligible,
            amount,
            recipient,
            error,
        }
    }

    /// The label of clause `i` in `language`.
    pub fn clause_label(&self, i: usize, language: &str) -> Option<&str> {
        self.def.eligibility.get(i).and_then(|c| label_in(&c.label, language))
    }
}

/// One unit as a payment cycle computes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Entitled {
    /// The benefit formula's amount in minor units.
    pub amount: Result<i64, String>,
    pub conditions: Result<bool, String>,
    /// The member who receives the payment.
    pub recipient: Result<Option<usize>, String>,
    /// The registry values the rules read, by path.
    pub reads: BTreeMap<String, serde_json::Value>,
}

/// The variables of one evaluation, lent to CEL rather than copied.
fn context<'v>(
    view: &'v HouseholdView<'v>,
    params: &'v BTreeMap<String, Param>,
    person: Option<usize>,
    m: Option<usize>,
) -> Context<'v, 'v> {
    let mut ctx = Context::with_env(ENV.clone());
    ctx.add_variable_as_val("household", Box::new(ByRef(view)));
    ctx.add_variable_as_val("params", Box::new(ParamsView(params)));
    if let Some(p) = person.and_then(|i| view.member(i)) {
        ctx.add_variable_as_val("person", Box::new(ByRef(p)));
    }
    if let Some(m) = m.and_then(|i| view.member(i)) {
        ctx.add_variable_as_val("m", Box::new(ByRef(m)));
    }
    ctx
}

/// A value lent to a rule: binding a household or member costs no copy.
#[derive(Debug)]
struct ByRef<'a, T>(&'a T);

impl<'a, T: Val + 'a> Val for ByRef<'a, T> {
    fn get_type(&self) -> &Type {
        self.0.get_type()
    }
    fn cel_type() -> &'static Type
    where
        Self: Sized,
    {
        T::cel_type()
    }
    fn as_indexer<'b, 'v>(&'b self) -> Option<&'b (dyn Indexer + 'v)>
    where
        Self: 'v,
    {
        self.0.as_indexer()
    }
    fn as_iterable<'b, 'v>(&'b self) -> Option<&'b (dyn cel::common::traits::Iterable + 'v)>
    where
        Self: 'v,
    {
        self.0.as_iterable()
    }
    fn as_sizer(&self) -> Option<&dyn cel::common::traits::Sizer> {
        self.0.as_sizer()
    }
    fn clone_as_boxed<'v>(&self) -> Box<dyn Val + 'v>
    where
        Self: 'v,
    {
        Box::new(ByRef(self.0))
    }
}

/// The longest a payment may stay collectable: ten years.
pub const MAX_PAYMENT_VALIDITY_DAYS: u32 = 3_650;

/// The longest rule accepted, in characters.
pub const MAX_RULE_CHARS: usize = 2_000;

/// Compiles one rule and checks it statically and on the sample household.
fn check_rule(
    key: &str,
    source: &str,
    scope: Scope,
    returns: Returns,
    deployment: &Deployment,
    params: &BTreeMap<String, Param>,
    problem: &mut Problem,
) -> Option<Rule> {
    if source.trim().is_empty() {
        problem.push(key, "required", "the rule is empty");
        return None;
    }
    // Parsing, checking and evaluating recurse over the expression: a bound
    // on its length bounds their depth (a rule of 50,000 terms would
    // overflow the stack). Real rules are a few hundred characters.
    if source.chars().count() > MAX_RULE_CHARS {
        problem.push(
            key,
            "too-long",
            format!("a rule may have at most {MAX_RULE_CHARS} characters; split it into clauses"),
        );
        return None;
    }
    let program = match ENV.compile(source) {
        Ok(p) => p,
        Err(errors) => {
            for e in errors.errors.iter().take(1) {
                problem.push(
                    key,
                    "rule-syntax",
                    format!("line {}, column {}: {}", e.pos.0, e.pos.1 + 1, e.msg),
                );
            }
            return None;
        }
    };
    let mut checker = Checker {
        source,
        program: &program,
        schema: &deployment.household_attributes,
        scope,
        params,
        bound: Vec::new(),
        errors: Vec::new(),
    };
    checker.walk(program.expression());
    let errors = std::mem::take(&mut checker.errors);
    let mut seen = HashSet::new();
    for (line, col, code, message) in &errors {
        if seen.insert((line, col)) {
            problem.push(key, code, format!("line {line}, column {col}: {message}"));
        }
    }
    if !errors.is_empty() {
        return None;
    }
    let rule = Rule {
        source: source.to_owned(),
        program,
    };
    // Run on the sample: unknown fields, wrong types and runtime faults show here.
    let facts = sample(deployment);
    let id = facts.id.to_string();
    let view = HouseholdView::new(&facts, &id);
    let person = matches!(scope, Scope::Unit { person: true } | Scope::Recipient { person: true }).then_some(0);
    let m = matches!(scope, Scope::Recipient { .. }).then_some(0);
    let ctx = context(&view, params, person, m);
    let fields = |on: &str| match on {
        "household" => facts::HOUSEHOLD_FIELDS.join(", "),
        _ => facts::MEMBER_FIELDS.join(", "),
    };
    match rule.program.execute(&ctx) {
        Err(ExecutionError::NoSuchKey(name)) => {
            let (line, col, on) = select_of(&rule, &name).unwrap_or((1, 1, String::new()));
            let message = match on.as_str() {
                "attributes" => format!("no household attribute is named {name:?}"),
                "params" => format!(
                    "no parameter is named {name:?}; the programme has: {}",
                    params.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
                "household" => format!("a household has no field {name:?}; it has: {}", fields("household")),
                _ => format!("no field is named {name:?}; a member has: {}", fields("member")),
            };
            problem.push(
                key,
                "rule-unknown-field",
                format!("line {line}, column {col}: {message}"),
            );
            None
        }
        Err(ExecutionError::DivisionByZero(_) | ExecutionError::RemainderByZero(_)) => {
            problem.push(key, "rule-divides-by-zero", "divides by zero on a sample household");
            None
        }
        Err(e) => {
            problem.push(key, "rule-invalid", format!("fails on a sample household: {e}"));
            None
        }
        Ok(value) => {
            let ok = match returns {
                Returns::Bool => matches!(value, Value::Bool(_)),
                Returns::Int => matches!(value, Value::Int(_) | Value::UInt(_)),
            };
            if ok {
                Some(rule)
            } else {
                let want = match returns {
                    Returns::Bool => "true or false",
                    Returns::Int => "a whole amount in minor units (an int; write 1350000, not 13500.0)",
                };
                problem.push(
                    key,
                    "rule-type",
                    format!("gives {} on a sample household; it must give {want}", type_name(&value)),
                );
                None
            }
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Bool(_) => "a bool",
        Value::Int(_) => "an int",
        Value::UInt(_) => "a uint",
        Value::Float(_) => "a double",
        Value::String(_) => "a string",
        Value::List(_) => "a list",
        Value::Map(_) => "a map",
        Value::Null => "null",
        _ => "another type",
    }
}

/// Where a rule selects `field`, and on what (`attributes`, `params`, `household`, or a member).
fn select_of(rule: &Rule, field: &str) -> Option<(usize, usize, String)> {
    fn find<'e>(e: &'e IdedExpr, field: &str) -> Option<(&'e IdedExpr, String)> {
        match &e.expr {
            Expr::Select(s) if s.field == field => {
                let on = match &s.operand.expr {
                    Expr::Ident(n) => n.clone(),
                    Expr::Select(inner) => inner.field.clone(),
                    _ => String::new(),
                };
                Some((e, on))
            }
            Expr::Select(s) => find(&s.operand, field),
            Expr::Call(c) => c
                .target
                .as_deref()
                .and_then(|t| find(t, field))
                .or_else(|| c.args.iter().find_map(|a| find(a, field))),
            Expr::Comprehension(c) => [&c.iter_range, &c.accu_init, &c.loop_cond, &c.loop_step, &c.result]
                .into_iter()
                .find_map(|x| find(x, field)),
            Expr::List(l) => l.elements.iter().find_map(|x| find(x, field)),
            _ => None,
        }
    }
    let (e, on) = find(rule.program.expression(), field)?;
    let (start, _) = rule.program.source_info().offset_for(e.id)?;
    let (line, col) = line_col(&rule.source, start as usize);
    Some((line, col, on))
}

#[cfg(test)]
mod tests;
