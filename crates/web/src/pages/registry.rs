//! The registry's pages: search, a household's profile with its history
//! and programmes, and the forms that register a household, add a member
//! and change a household's fields (driven by the deployment's attribute
//! schema).
//!
//! Form fields are named by the paths the use cases name in their errors
//! (`household.attributes.rooms`, `members[0].identifiers[0].value`), so
//! every error lands beside its field.

use std::collections::{BTreeMap, BTreeSet};

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use himaya_app::{
    AppError, Changes, EnrolmentRow, HouseholdEntitlementRow, HouseholdView, IntakeCheck, IntakeMatch, NewHousehold,
    NewMember, PersonQuery, VersionEntry,
};
use himaya_domain::Problem;
use himaya_domain::access::Permission;
use himaya_domain::attributes::{AttributeDef, AttributeType};
use himaya_domain::digits::to_ascii_digits;
use himaya_domain::history::merge_patch_between;
use himaya_domain::household::{GeoPoint, HouseholdDraft, HouseholdId};
use himaya_domain::payment::EntitlementStatus;
use himaya_domain::person::{Disability, IdentifierDraft, Name, Person, PersonDraft, PersonId, PersonRecord, School};
use himaya_domain::vocab::{MaritalStatus, MaternalStatus, PersonStatus, Relationship, SchoolLevel, Sex, WgAnswer};
use serde_json::{Map, Value};

use super::form::parse_urlencoded;
use super::{Ctx, FieldErrors, FormData, OrPage, PageResult, html, ok, see, view};
use crate::AppState;

/// Most members one registration form takes; more are added afterwards.
const MAX_MEMBERS: usize = 20;

/// An option of a select: value, label, selected.
pub(crate) struct Choice {
    pub value: String,
    pub label: String,
}

pub(crate) fn vocab_choices(c: &Ctx, kind: &str, codes: impl Iterator<Item = &'static str>) -> Vec<Choice> {
    codes
        .map(|code| Choice {
            value: code.to_owned(),
            label: view::vocab(c, kind, code),
        })
        .collect()
}

/// One area in a select, indented by its depth.
pub(crate) struct AreaChoice {
    pub code: String,
    pub label: String,
}

pub(crate) fn area_choices(c: &Ctx) -> Vec<AreaChoice> {
    let areas = &c.state.app.deployment().areas;
    let depth = |code: &str| {
        let mut d = 0;
        let mut at = code.to_owned();
        while let Some(parent) = areas.iter().find(|a| a.code == at).and_then(|a| a.parent.clone()) {
            d += 1;
            at = parent;
        }
        d
    };
    let in_scope = |code: &str| match c.actor.as_ref().map(|a| a.scope()) {
        Some(himaya_domain::access::Scope::Areas(mine)) => {
            let mut at = Some(code);
            while let Some(a) = at {
                if mine.iter().any(|m| m == a) {
                    return true;
                }
                at = areas.iter().find(|x| x.code == a).and_then(|x| x.parent.as_deref());
            }
            false
        }
        _ => true,
    };
    areas
        .iter()
        .filter(|a| in_scope(&a.code))
        .map(|a| AreaChoice {
            code: a.code.clone(),
            label: format!(
                "{}{}",
                "\u{00A0}\u{00A0}".repeat(depth(&a.code)),
                view::area_name(c, &a.code)
            ),
        })
        .collect()
}

// ---------------------------------------------------------------- search

#[derive(Template)]
#[template(path = "search.html")]
struct Search<'a> {
    c: &'a Ctx,
    q: BTreeMap<String, String>,
    errors: FieldErrors,
    areas: Vec<AreaChoice>,
    results: Option<Vec<Person>>,
    next: Option<String>,
}

impl Search<'_> {
    fn v(&self, name: &str) -> &str {
        self.q.get(name).map_or("", String::as_str)
    }

    fn err(&self, name: &str) -> Option<&String> {
        self.errors.get(name)
    }
}

/// The registry search: by identifier, phone, name in any script, area.
/// A GET form, so a search is a link that can be kept and shared.
pub(crate) async fn search(State(s): State<AppState>, c: Ctx, RawQuery(raw): RawQuery) -> PageResult {
    let actor = c.actor()?;
    let q: BTreeMap<String, String> = parse_urlencoded(raw.unwrap_or_default().as_bytes())
        .into_iter()
        .filter(|(k, v)| k != "lang" && !v.trim().is_empty())
        .collect();
    let get = |k: &str| q.get(k).cloned();
    let asked = ["identifier", "phone", "name", "area"]
        .iter()
        .any(|k| q.contains_key(*k));
    let mut page = Search {
        c: &c,
        errors: FieldErrors::new(),
        areas: area_choices(&c),
        results: None,
        next: None,
        q: q.clone(),
    };
    if asked {
        let query = PersonQuery {
            identifier: get("identifier"),
            phone: get("phone"),
            name: get("name"),
            area: get("area"),
            status: get("status"),
            cursor: get("cursor"),
            limit: Some(25),
            ..Default::default()
        };
        match s.app.search_persons(actor, &query).await {
            Ok(found) => {
                page.next = found.next_cursor.map(|cur| {
                    let mut next = q.clone();
                    next.insert("cursor".into(), cur);
                    format!(
                        "/registry?{}",
                        super::form::encode(&next.into_iter().collect::<Vec<_>>())
                    )
                });
                page.results = Some(found.items);
            }
            Err(AppError::Invalid(p)) => {
                page.errors = view::field_errors(&c, &p);
                return Err(html(StatusCode::UNPROCESSABLE_ENTITY, &page));
            }
            Err(e) => return Err(c.fail(e)),
        }
    }
    ok(&page)
}

// ---------------------------------------------------------------- profile

#[derive(Template)]
#[template(path = "household.html")]
struct Profile<'a> {
    c: &'a Ctx,
    view: HouseholdView,
    attributes: Vec<(String, String)>,
    history: Option<Vec<VersionEntry>>,
    enrolments: Option<Vec<EnrolmentRow>>,
    /// The household's entitlements, for those who may read payments.
    payments: Option<Vec<HouseholdEntitlementRow>>,
    programmes: Vec<(String, String)>,
    notice: Option<String>,
}

impl Profile<'_> {
    fn age(&self, p: &Person) -> String {
        let today = chrono::Utc::now().date_naive();
        p.record
            .date_of_birth
            .and_then(|d| d.age_on(today))
            .map(|a| self.c.digits(&i64::from(a)))
            .unwrap_or_default()
    }

    fn born(&self, p: &Person) -> String {
        p.record.date_of_birth.map(|d| self.c.born(&d)).unwrap_or_default()
    }

    fn programme_name(&self, code: &str) -> String {
        self.programmes
            .iter()
            .find(|(c, _)| c == code)
            .map_or_else(|| code.to_owned(), |(_, n)| n.clone())
    }

    fn pay_amount(&self, e: &HouseholdEntitlementRow) -> String {
        super::payments::cycle_money(self.c, &e.currency, e.amount)
    }

    fn pay_status(&self, e: &HouseholdEntitlementRow) -> String {
        view::vocab(self.c, "entitlement-status", e.status.code())
    }

    /// The day it was paid, for a paid one.
    fn paid_on(&self, e: &HouseholdEntitlementRow) -> String {
        if e.status == EntitlementStatus::Paid {
            self.c.day(&e.changed_at)
        } else {
            String::new()
        }
    }

    /// Who failed to pay it and why, or why it was withheld.
    fn pay_note(&self, e: &HouseholdEntitlementRow) -> String {
        let mut parts = Vec::new();
        if matches!(e.status, EntitlementStatus::Failed | EntitlementStatus::Returned)
            && let Some(p) = &e.provider
        {
            parts.push(p.clone());
        }
        if let Some(r) = &e.reason {
            parts.push(view::vocab(self.c, "reason", r));
        }
        if let Some(r) = &e.provider_reason
            && e.status != EntitlementStatus::Paid
        {
            parts.push(r.clone());
        }
        parts.join(" · ")
    }
}

pub(crate) async fn household(
    State(s): State<AppState>,
    c: Ctx,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> PageResult {
    let actor = c.actor()?;
    let Ok(id) = id.parse::<HouseholdId>() else {
        return Err(c.status_page(StatusCode::NOT_FOUND, "problem-not-found"));
    };
    let view = s.app.household(actor, id).await.or_page(&c)?;
    let history = if c.may(Permission::HouseholdsHistory) {
        Some(s.app.household_history(actor, id).await.or_page(&c)?)
    } else {
        None
    };
    let payments = if c.may(Permission::PaymentsRead) {
        Some(s.app.household_entitlements(actor, id).await.or_page(&c)?)
    } else {
        None
    };
    let (enrolments, programmes) = if c.may(Permission::ProgrammesRead) || payments.is_some() {
        let programmes = s
            .app
            .programmes(actor)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|p| {
                let name = view::pick(c.lang, &p.definition.name).unwrap_or(&p.code).to_owned();
                (p.code, name)
            })
            .collect();
        let enrolments = if c.may(Permission::ProgrammesRead) {
            Some(s.app.household_enrolments(actor, id).await.or_page(&c)?)
        } else {
            None
        };
        (enrolments, programmes)
    } else {
        (None, Vec::new())
    };
    let schema = &s.app.deployment().household_attributes;
    let attributes = schema
        .defs()
        .iter()
        .filter_map(|d| {
            view.household
                .record
                .attributes
                .get(&d.name)
                .map(|v| (view::attribute_label(&c, d), view::attribute_value(&c, Some(d), v)))
        })
        .collect();
    let flags = parse_urlencoded(raw.unwrap_or_default().as_bytes());
    let notice = flags
        .iter()
        .find(|(k, _)| k == "done")
        .and_then(|(_, v)| match v.as_str() {
            "registered" => Some(c.t("notice-registered")),
            "updated" => Some(c.t("notice-updated")),
            "member" => Some(c.t("notice-member-added")),
            "person" => Some(c.t("notice-person-updated")),
            "head" | "transfer" | "split" | "merge" | "status" => Some(c.t(&format!("notice-household-{v}"))),
            _ => None,
        });
    ok(&Profile {
        c: &c,
        view,
        attributes,
        history,
        enrolments,
        payments,
        programmes,
        notice,
    })
}

// ---------------------------------------------------------------- forms

/// One attribute's control on a household form.
pub(crate) struct AttributeField {
    pub path: String,
    pub label: String,
    pub kind: &'static str,
    pub required: bool,
    pub choices: Vec<Choice>,
    pub hint: String,
}

fn attribute_fields(c: &Ctx) -> Vec<AttributeField> {
    c.state
        .app
        .deployment()
        .household_attributes
        .defs()
        .iter()
        .map(|d| attribute_field(c, d))
        .collect()
}

fn attribute_field(c: &Ctx, d: &AttributeDef) -> AttributeField {
    let (kind, choices) = match d.kind {
        AttributeType::Choice => (
            "choice",
            d.choices
                .iter()
                .map(|v| Choice {
                    value: v.clone(),
                    label: view::choice_label(c, d, v),
                })
                .collect(),
        ),
        AttributeType::Boolean => (
            "choice",
            vec![
                Choice {
                    value: "true".into(),
                    label: c.t("yes"),
                },
                Choice {
                    value: "false".into(),
                    label: c.t("no"),
                },
            ],
        ),
        AttributeType::Integer | AttributeType::Decimal => ("number", Vec::new()),
        AttributeType::Date => ("date", Vec::new()),
        AttributeType::Text => ("text", Vec::new()),
    };
    let range = |v: Option<f64>| v.map(|x| crate::i18n::decimal(c.lang, &x.to_string()));
    let hint = match (range(d.min), range(d.max)) {
        (Some(lo), Some(hi)) => i18n_range(c, &lo, &hi),
        _ if d.kind == AttributeType::Date => c.t("hint-date"),
        _ => String::new(),
    };
    AttributeField {
        path: format!("household.attributes.{}", d.name),
        label: view::attribute_label(c, d),
        kind,
        required: d.required,
        choices,
        hint,
    }
}

fn i18n_range(c: &Ctx, lo: &str, hi: &str) -> String {
    crate::i18n::message(c.lang, "hint-range", &[("min", lo.to_owned()), ("max", hi.to_owned())])
}

/// The controls of a person's fieldset.
pub(crate) struct PersonOptions {
    pub sex: Vec<Choice>,
    pub relationship: Vec<Choice>,
    pub marital: Vec<Choice>,
    pub maternal: Vec<Choice>,
    pub school: Vec<Choice>,
    pub wg: Vec<Choice>,
    pub wg_domains: Vec<Choice>,
    pub identifier_types: Vec<Choice>,
}

fn person_options(c: &Ctx) -> PersonOptions {
    PersonOptions {
        sex: vocab_choices(c, "sex", Sex::ALL.iter().map(|v| v.code())),
        relationship: vocab_choices(c, "relationship", Relationship::ALL.iter().map(|v| v.code())),
        marital: vocab_choices(c, "marital", MaritalStatus::ALL.iter().map(|v| v.code())),
        maternal: vocab_choices(c, "maternal", MaternalStatus::ALL.iter().map(|v| v.code())),
        school: vocab_choices(c, "school", SchoolLevel::ALL.iter().map(|v| v.code())),
        wg: vocab_choices(c, "wg", WgAnswer::ALL.iter().map(|v| v.code())),
        wg_domains: vocab_choices(
            c,
            "wg-domain",
            [
                "seeing",
                "hearing",
                "walking",
                "cognition",
                "self_care",
                "communication",
            ]
            .into_iter(),
        ),
        identifier_types: vocab_choices(
            c,
            "identifier",
            c.state.app.deployment().identifier_types.iter().map(|t| t.code()),
        ),
    }
}

#[derive(Template)]
#[template(path = "household_form.html")]
struct HouseholdForm<'a> {
    c: &'a Ctx,
    /// `new`, `edit` or `member`.
    mode: &'static str,
    action: String,
    values: BTreeMap<String, String>,
    errors: FieldErrors,
    areas: Vec<AreaChoice>,
    attributes: Vec<AttributeField>,
    person: PersonOptions,
    members: Vec<String>,
    version: i64,
    /// Errors of fields the form has no control for (the list of members).
    other_errors: Vec<(String, String)>,
    /// Registered people the new members may be, per member: the form is not
    /// saved until the officer has seen them.
    duplicates: Vec<DuplicateWarning>,
    /// Identifier rows per member: one to register, the person's own and a
    /// blank one to change a person.
    identifier_rows: usize,
    /// The form row of each identifier the use case saw (blank rows are
    /// left out), so that its errors land on the row they are about.
    identifier_row_of: Vec<usize>,
    /// Where the form returns: the household's page.
    back: Option<String>,
    /// The name of the person the form changes, as registered.
    person_name: Option<String>,
}

/// The likely existing records of one member of the form.
struct DuplicateWarning {
    /// The member's name as typed.
    member: String,
    matches: Vec<IntakeMatch>,
}

impl HouseholdForm<'_> {
    fn v(&self, name: &str) -> &str {
        self.values.get(name).map_or("", String::as_str)
    }

    fn e(&self, name: &str) -> Option<&String> {
        self.errors.get(name)
    }

    /// The path of a member's field: `members[0].` + `sex`.
    fn m(&self, prefix: &str, field: &str) -> String {
        format!("{prefix}{field}")
    }

    /// A member's answer to one Washington Group question: `members[0].disability.seeing`.
    fn wg(&self, prefix: &str, domain: &str) -> String {
        format!("{prefix}disability.{domain}")
    }

    /// The person's fields chosen from a list: path, label key, options.
    fn selects(&self) -> [(&'static str, &'static str, &[Choice]); 5] {
        let p = &self.person;
        [
            ("sex", "field-sex", &p.sex),
            ("relationship", "field-relationship", &p.relationship),
            ("marital_status", "field-marital_status", &p.marital),
            ("maternal_status", "field-maternal_status", &p.maternal),
            ("school.level", "field-school-level", &p.school),
        ]
    }

    fn selected(&self, name: &str, value: &str) -> bool {
        self.v(name) == value
    }

    /// A field's name for the error summary.
    fn label_of(&self, field: &str) -> String {
        let rest = match field.split_once("].") {
            Some((_, rest)) if field.starts_with("members[") => rest,
            _ => field.strip_prefix("household.").unwrap_or(field),
        };
        view::field_label(self.c, rest)
    }

    fn shows_household(&self) -> bool {
        self.mode == "new" || self.mode == "edit"
    }

    fn shows_members(&self) -> bool {
        self.mode != "edit"
    }

    /// Whether the form changes one registered person, with their status.
    fn shows_status(&self) -> bool {
        self.mode == "person"
    }

    /// A member's identifier rows: the value's and the type's control names.
    fn identifier_fields(&self, prefix: &str) -> Vec<(String, String)> {
        (0..self.identifier_rows)
            .map(|i| {
                (
                    format!("{prefix}identifiers[{i}].value"),
                    format!("{prefix}identifiers[{i}].type"),
                )
            })
            .collect()
    }

    fn full_name(&self, p: &Person) -> String {
        view::full_name(p)
    }

    fn born(&self, p: &Person) -> String {
        p.record.date_of_birth.map(|d| self.c.born(&d)).unwrap_or_default()
    }

    fn percent(&self, m: &IntakeMatch) -> String {
        self.c.fixed(&(m.probability * 100.0), 1)
    }

    /// Every record the warnings showed, so that saving again once they have
    /// been seen goes through, and a new likely match warns again.
    fn duplicates_seen(&self) -> String {
        let seen: BTreeSet<String> = self
            .duplicates
            .iter()
            .flat_map(|w| w.matches.iter().map(|m| m.person.id.to_string()))
            .chain(
                self.v("duplicates_seen")
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            )
            .collect();
        seen.into_iter().collect::<Vec<_>>().join(",")
    }

    fn title(&self) -> String {
        self.c.t(match self.mode {
            "edit" => "household-edit-title",
            "member" => "member-new-title",
            "person" => "member-edit-title",
            _ => "household-new-title",
        })
    }
}

fn form_page<'a>(
    c: &'a Ctx,
    mode: &'static str,
    action: String,
    values: BTreeMap<String, String>,
    members: usize,
) -> HouseholdForm<'a> {
    HouseholdForm {
        c,
        mode,
        action,
        values,
        errors: FieldErrors::new(),
        areas: area_choices(c),
        attributes: attribute_fields(c),
        person: person_options(c),
        members: (0..members).map(|i| format!("members[{i}].")).collect(),
        version: 0,
        other_errors: Vec::new(),
        duplicates: Vec::new(),
        identifier_rows: 1,
        identifier_row_of: Vec::new(),
        back: None,
        person_name: None,
    }
}

/// The registered people each new member may be (the duplicate check at
/// intake), leaving out those the officer has already been shown. Nothing
/// is checked for those who may not read the registry's people, nor before
/// a deduplication run has trained a model; a member the check finds
/// invalid is left to the registration, which names the field.
async fn duplicate_warnings(
    s: &AppState,
    c: &Ctx,
    people: &[PersonDraft],
    area: Option<&str>,
    form: &FormData,
) -> Result<Vec<DuplicateWarning>, axum::response::Response> {
    let Ok(actor) = c.actor() else {
        return Ok(Vec::new());
    };
    if !c.may(Permission::PersonsRead) || actor.fields().is_some() {
        return Ok(Vec::new());
    }
    let seen: BTreeSet<String> = form
        .get("duplicates_seen")
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_owned())
        .collect();
    let mut warnings = Vec::new();
    for person in people {
        let check = IntakeCheck {
            person: person.clone(),
            area: area.map(str::to_owned),
            threshold: None,
        };
        let view = match s.app.check_intake(actor, check).await {
            Ok(view) => view,
            Err(AppError::Invalid(_)) => continue,
            Err(e) => return Err(c.fail(e)),
        };
        if !view.checked {
            return Ok(Vec::new());
        }
        if view.matches.iter().all(|m| seen.contains(&m.person.id.to_string())) {
            continue;
        }
        let names = [&person.given_name, &person.father_name, &person.family_name];
        let member = names
            .into_iter()
            .flatten()
            .map(view::name)
            .filter(|n| !n.is_empty())
            .collect::<Vec<_>>()
            .join(" · ");
        warnings.push(DuplicateWarning {
            member,
            matches: view.matches,
        });
    }
    Ok(warnings)
}

/// Places a use case's field errors beside the form's fields; `from`/`to`
/// rename a use case's prefix (`changes.` → `household.`).
fn place_errors(c: &Ctx, page: &mut HouseholdForm<'_>, problem: &Problem, from: &str, to: &str) {
    for e in &problem.errors {
        let field = match e.field.strip_prefix(from) {
            Some(rest) if !from.is_empty() => format!("{to}{rest}"),
            _ => e.field.clone(),
        };
        let field = identifier_row(&page.identifier_row_of, field);
        let message = view::field_error(c, e.code);
        let shown = page.values.contains_key(&field) || known_control(page, &field);
        if shown {
            page.errors.entry(field).or_insert(message);
        } else {
            page.other_errors.push((field, message));
        }
    }
}

/// `members[0].identifiers[1].value` named by the use case is the form's
/// row 2 when row 1 was left blank.
fn identifier_row(rows: &[usize], field: String) -> String {
    let Some(rest) = field.strip_prefix("members[0].identifiers[") else {
        return field;
    };
    let Some((index, tail)) = rest.split_once(']') else {
        return field;
    };
    match index.parse::<usize>().ok().and_then(|i| rows.get(i)) {
        Some(row) => format!("members[0].identifiers[{row}]{tail}"),
        None => field,
    }
}

/// Whether the form has a control of this name (blank controls are not in `values`).
fn known_control(page: &HouseholdForm<'_>, field: &str) -> bool {
    if field.starts_with("household.") {
        return page.shows_household();
    }
    page.members.iter().any(|p| {
        field.strip_prefix(p.as_str()).is_some_and(|rest| {
            let status = rest == "status" || rest.starts_with("status_");
            !rest.is_empty() && (page.shows_status() || !status) && !rest.ends_with(".type")
        })
    })
}

fn form_values(form: &FormData) -> BTreeMap<String, String> {
    form.0
        .iter()
        .filter(|(k, _)| k != "csrf")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn number(form: &FormData, name: &str, problem: &mut Problem) -> Option<f64> {
    let raw = form.text(name)?;
    match to_ascii_digits(&raw).replace(['٫', ','], ".").parse::<f64>() {
        Ok(v) if v.is_finite() => Some(v),
        _ => {
            problem.push(name, "invalid-type", "not a number");
            None
        }
    }
}

/// The household's own fields as the form gave them.
fn household_draft(c: &Ctx, form: &FormData, problem: &mut Problem) -> HouseholdDraft {
    let lat = number(form, "household.location.latitude", problem);
    let lon = number(form, "household.location.longitude", problem);
    let location = match (lat, lon) {
        (Some(latitude), Some(longitude)) => Some(GeoPoint { latitude, longitude }),
        (None, None) => None,
        (None, Some(_)) => {
            problem.push("household.location.latitude", "required", "give both");
            None
        }
        (Some(_), None) => {
            problem.push("household.location.longitude", "required", "give both");
            None
        }
    };
    let mut attributes = Map::new();
    for d in c.state.app.deployment().household_attributes.defs() {
        if let Some(v) = form.text(&format!("household.attributes.{}", d.name)) {
            attributes.insert(d.name.clone(), Value::String(v));
        }
    }
    HouseholdDraft {
        area: form.text("household.area"),
        address: form.text("household.address"),
        location,
        attributes: Some(attributes),
    }
}

/// A person's fields under `prefix` (`members[0].`) as the form gave them.
fn person_draft(form: &FormData, prefix: &str, problem: &mut Problem) -> PersonDraft {
    let f = |name: &str| form.text(&format!("{prefix}{name}"));
    let name = |part: &str| {
        let n = Name {
            native: f(&format!("{part}.native")),
            latin: f(&format!("{part}.latin")),
        };
        (!n.is_empty()).then_some(n)
    };
    let mut disability = Disability::default();
    for (domain, slot) in [
        ("seeing", &mut disability.seeing),
        ("hearing", &mut disability.hearing),
        ("walking", &mut disability.walking),
        ("cognition", &mut disability.cognition),
        ("self_care", &mut disability.self_care),
        ("communication", &mut disability.communication),
    ] {
        let field = format!("{prefix}disability.{domain}");
        if let Some(v) = form.text(&field) {
            match WgAnswer::from_code(&v) {
                Some(a) => *slot = Some(a),
                None => problem.push(field, "not-allowed", "not an answer of the Washington Group scale"),
            }
        }
    }
    let school = f("school.level").and_then(|v| match SchoolLevel::from_code(&v) {
        Some(level) => Some(School {
            level,
            school_name: f("school.school_name"),
        }),
        None => {
            problem.push(format!("{prefix}school.level"), "not-allowed", "not a school level");
            None
        }
    });
    let rows = identifier_rows(form, prefix);
    let identifiers: Vec<IdentifierDraft> = rows
        .iter()
        .filter_map(|i| {
            Some(IdentifierDraft {
                id_type: f(&format!("identifiers[{i}].type")).unwrap_or_default(),
                value: f(&format!("identifiers[{i}].value"))?,
            })
        })
        .collect();
    let identifiers = (!identifiers.is_empty()).then_some(identifiers);
    PersonDraft {
        given_name: name("given_name"),
        family_name: name("family_name"),
        father_name: name("father_name"),
        sex: f("sex"),
        date_of_birth: f("date_of_birth"),
        birth_date_estimated: Some(form.checked(&format!("{prefix}birth_date_estimated"))),
        relationship: f("relationship"),
        marital_status: f("marital_status"),
        disability: (disability != Disability::default()).then_some(disability),
        maternal_status: f("maternal_status"),
        school,
        phone: f("phone"),
        identifiers,
        // Only the form that changes a registered person has a status; the others register.
        status: Some(f("status").unwrap_or_else(|| PersonStatus::Active.code().to_owned())),
        status_date: f("status_date"),
        status_reason: f("status_reason"),
    }
}

/// Most identifiers one person's form takes.
const MAX_IDENTIFIERS: usize = 10;

/// The form rows under `prefix` whose identifier value is filled in.
fn identifier_rows(form: &FormData, prefix: &str) -> Vec<usize> {
    (0..MAX_IDENTIFIERS)
        .filter(|i| form.text(&format!("{prefix}identifiers[{i}].value")).is_some())
        .collect()
}

fn member_count(form: &FormData) -> usize {
    form.get("member_count")
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, MAX_MEMBERS)
}

pub(crate) async fn new_household_form(c: Ctx) -> PageResult {
    c.actor()?;
    let mut values = BTreeMap::new();
    values.insert("members[0].relationship".into(), "head".into());
    values.insert("source".into(), "field_survey".into());
    ok(&form_page(&c, "new", "/households/new".into(), values, 1))
}

pub(crate) async fn register_household(State(s): State<AppState>, c: Ctx, form: FormData) -> PageResult {
    let actor = c.actor()?;
    c.check_csrf(&form)?;
    let mut members = member_count(&form);
    let values = form_values(&form);
    if form.get("add_member").is_some() {
        // Another member's fieldset, without registering: works without JavaScript.
        members = (members + 1).min(MAX_MEMBERS);
        let mut page = form_page(&c, "new", "/households/new".into(), values, members);
        page.values.insert("member_count".into(), members.to_string());
        return ok(&page);
    }
    let mut problem = Problem::default();
    let household = household_draft(&c, &form, &mut problem);
    let people: Vec<PersonDraft> = (0..members)
        .map(|i| person_draft(&form, &format!("members[{i}]."), &mut problem))
        .collect();
    let mut page = form_page(&c, "new", "/households/new".into(), values, members);
    if problem.is_empty() {
        page.duplicates = duplicate_warnings(&s, &c, &people, household.area.as_deref(), &form).await?;
        if !page.duplicates.is_empty() {
            return ok(&page);
        }
        let new = NewHousehold {
            household,
            members: people,
            source: form.text("source"),
            reason: form.text("reason"),
        };
        match s.app.register_household(actor, new).await {
            Ok(view) => return see(&format!("/households/{}?done=registered", view.household.id)),
            Err(AppError::Invalid(p)) => problem = p,
            Err(e) => return Err(c.fail(e)),
        }
    }
    place_errors(&c, &mut page, &problem, "", "");
    Err(html(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

pub(crate) fn household_id(c: &Ctx, raw: &str) -> Result<HouseholdId, axum::response::Response> {
    raw.parse()
        .map_err(|_| c.status_page(StatusCode::NOT_FOUND, "problem-not-found"))
}

/// The form's values for a household as stored.
fn household_values(view: &HouseholdView) -> BTreeMap<String, String> {
    let r = &view.household.record;
    let mut values = BTreeMap::new();
    values.insert("household.area".to_owned(), r.area.clone());
    if let Some(a) = &r.address {
        values.insert("household.address".to_owned(), a.clone());
    }
    if let Some(p) = r.location {
        values.insert("household.location.latitude".to_owned(), p.latitude.to_string());
        values.insert("household.location.longitude".to_owned(), p.longitude.to_string());
    }
    for (k, v) in &r.attributes {
        let text = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        values.insert(format!("household.attributes.{k}"), text);
    }
    values
}

pub(crate) async fn edit_household_form(State(s): State<AppState>, c: Ctx, Path(id): Path<String>) -> PageResult {
    let actor = c.actor()?;
    let id = household_id(&c, &id)?;
    let view = s.app.household(actor, id).await.or_page(&c)?;
    let mut page = form_page(&c, "edit", format!("/households/{id}/edit"), household_values(&view), 0);
    page.version = view.household.version;
    page.values.insert("source".into(), "desk_update".into());
    ok(&page)
}

pub(crate) async fn update_household(
    State(s): State<AppState>,
    c: Ctx,
    Path(id): Path<String>,
    form: FormData,
) -> PageResult {
    let actor = c.actor()?;
    c.check_csrf(&form)?;
    let id = household_id(&c, &id)?;
    let mut problem = Problem::default();
    let draft = household_draft(&c, &form, &mut problem);
    let version = form.get("version").and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
    let mut page = form_page(&c, "edit", format!("/households/{id}/edit"), form_values(&form), 0);
    page.version = version;
    if problem.is_empty() {
        // The whole form is the new state: a blank field removes its value.
        let mut changes = Map::new();
        changes.insert("area".into(), draft.area.map_or(Value::Null, Value::String));
        changes.insert("address".into(), draft.address.map_or(Value::Null, Value::String));
        changes.insert(
            "location".into(),
            draft.location.map_or(
                Value::Null,
                |p| serde_json::json!({"latitude": p.latitude, "longitude": p.longitude}),
            ),
        );
        let given = draft.attributes.unwrap_or_default();
        let attributes: Map<String, Value> = s
            .app
            .deployment()
            .household_attributes
            .defs()
            .iter()
            .map(|d| (d.name.clone(), given.get(&d.name).cloned().unwrap_or(Value::Null)))
            .collect();
        changes.insert("attributes".into(), Value::Object(attributes));
        let request = Changes {
            changes,
            source: form.text("source"),
            reason: form.text("reason"),
        };
        match s.app.update_household(actor, id, version, request).await {
            Ok(_) => return see(&format!("/households/{id}?done=updated")),
            Err(AppError::Invalid(p)) => problem = p,
            Err(AppError::VersionConflict { current }) => {
                page.version = current;
                problem.push("version", "version-conflict", "changed meanwhile");
            }
            Err(e) => return Err(c.fail(e)),
        }
    }
    place_errors(&c, &mut page, &problem, "changes.", "household.");
    Err(html(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

pub(crate) async fn new_member_form(State(s): State<AppState>, c: Ctx, Path(id): Path<String>) -> PageResult {
    let actor = c.actor()?;
    let id = household_id(&c, &id)?;
    let view = s.app.household(actor, id).await.or_page(&c)?;
    let mut values = BTreeMap::new();
    values.insert("members[0].relationship".into(), "child".into());
    values.insert("source".into(), "desk_update".into());
    let mut page = form_page(&c, "member", format!("/households/{id}/members/new"), values, 1);
    page.version = view.household.version;
    ok(&page)
}

pub(crate) async fn add_member(
    State(s): State<AppState>,
    c: Ctx,
    Path(id): Path<String>,
    form: FormData,
) -> PageResult {
    let actor = c.actor()?;
    c.check_csrf(&form)?;
    let id = household_id(&c, &id)?;
    let mut problem = Problem::default();
    let person = person_draft(&form, "members[0].", &mut problem);
    let version = form.get("version").and_then(|v| v.parse::<i64>().ok());
    let mut page = form_page(
        &c,
        "member",
        format!("/households/{id}/members/new"),
        form_values(&form),
        1,
    );
    page.version = version.unwrap_or(0);
    if problem.is_empty() {
        let area = s.app.household(actor, id).await.or_page(&c)?.household.record.area;
        page.duplicates = duplicate_warnings(&s, &c, std::slice::from_ref(&person), Some(&area), &form).await?;
        if !page.duplicates.is_empty() {
            return ok(&page);
        }
        let new = NewMember {
            person,
            source: form.text("source"),
            reason: form.text("reason"),
        };
        match s.app.add_member(actor, id, version, new).await {
            Ok(_) => return see(&format!("/households/{id}?done=member")),
            Err(AppError::Invalid(p)) => problem = p,
            Err(AppError::VersionConflict { current }) => {
                page.version = current;
                problem.push("version", "version-conflict", "changed meanwhile");
            }
            Err(e) => return Err(c.fail(e)),
        }
    }
    place_errors(&c, &mut page, &problem, "person.", "members[0].");
    Err(html(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

pub(crate) fn person_id(c: &Ctx, raw: &str) -> Result<PersonId, axum::response::Response> {
    raw.parse()
        .map_err(|_| c.status_page(StatusCode::NOT_FOUND, "problem-not-found"))
}

/// The form's values for a person as stored, under `members[0].`.
fn person_values(record: &PersonRecord) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            values.insert(format!("members[0].{k}"), v);
        }
    };
    for (part, n) in [
        ("given_name", &record.given_name),
        ("father_name", &record.father_name),
        ("family_name", &record.family_name),
    ] {
        put(&format!("{part}.native"), n.native.clone());
        put(&format!("{part}.latin"), n.latin.clone());
    }
    put("sex", Some(record.sex.code().to_owned()));
    put("date_of_birth", record.date_of_birth.map(|d| d.to_string()));
    put(
        "birth_date_estimated",
        record.birth_date_estimated.then(|| "true".to_owned()),
    );
    put("relationship", Some(record.relationship.code().to_owned()));
    put("marital_status", record.marital_status.map(|m| m.code().to_owned()));
    put("maternal_status", record.maternal_status.map(|m| m.code().to_owned()));
    if let Some(school) = &record.school {
        put("school.level", Some(school.level.code().to_owned()));
        put("school.school_name", school.school_name.clone());
    }
    put("phone", record.phone.as_ref().map(|p| p.as_str().to_owned()));
    for (i, id) in record.identifiers.iter().enumerate() {
        put(&format!("identifiers[{i}].type"), Some(id.id_type.code().to_owned()));
        put(&format!("identifiers[{i}].value"), Some(id.value.clone()));
    }
    if let Some(d) = &record.disability {
        for (domain, answer) in [
            ("seeing", d.seeing),
            ("hearing", d.hearing),
            ("walking", d.walking),
            ("cognition", d.cognition),
            ("self_care", d.self_care),
            ("communication", d.communication),
        ] {
            put(&format!("disability.{domain}"), answer.map(|a| a.code().to_owned()));
        }
    }
    put("status", Some(record.status.code().to_owned()));
    put("status_date", record.status_date.map(|d| d.to_string()));
    put("status_reason", record.status_reason.clone());
    values
}

fn person_form<'a>(c: &'a Ctx, person: &Person, values: BTreeMap<String, String>) -> HouseholdForm<'a> {
    let mut page = form_page(c, "person", format!("/persons/{}/edit", person.id), values, 1);
    page.version = person.version;
    page.identifier_rows = (person.record.identifiers.len() + 1).min(MAX_IDENTIFIERS);
    page.back = Some(format!("/households/{}", person.household_id));
    page.person_name = Some(view::full_name(person));
    page
}

/// The person a member's form changes. One whose record was merged into
/// their duplicate is changed through the survivor.
async fn changeable(s: &AppState, c: &Ctx, raw_id: &str) -> Result<Person, axum::response::Response> {
    let person = s.app.person(c.actor()?, person_id(c, raw_id)?).await.or_page(c)?;
    if person.record.status == PersonStatus::Merged {
        return Err(c.status_page(StatusCode::CONFLICT, "problem-person-merged"));
    }
    Ok(person)
}

pub(crate) async fn edit_person_form(State(s): State<AppState>, c: Ctx, Path(id): Path<String>) -> PageResult {
    let actor = c.actor()?;
    actor.require(Permission::PersonsWrite).or_page(&c)?;
    let person = changeable(&s, &c, &id).await?;
    let mut values = person_values(&person.record);
    values.insert("source".into(), "desk_update".into());
    ok(&person_form(&c, &person, values))
}

pub(crate) async fn update_person(
    State(s): State<AppState>,
    c: Ctx,
    Path(id): Path<String>,
    form: FormData,
) -> PageResult {
    let actor = c.actor()?;
    c.check_csrf(&form)?;
    let person = changeable(&s, &c, &id).await?;
    let id = person.id;
    let mut problem = Problem::default();
    let draft = person_draft(&form, "members[0].", &mut problem);
    let version = form.get("version").and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
    let mut page = person_form(&c, &person, form_values(&form));
    page.version = version;
    // The rows the officer filled in, and one blank row more.
    let rows = identifier_rows(&form, "members[0].");
    page.identifier_rows = (rows.last().map_or(0, |r| r + 1) + 1).clamp(page.identifier_rows, MAX_IDENTIFIERS);
    page.identifier_row_of = rows;
    if problem.is_empty() {
        // The whole form is the person's new state: a blank field removes its value.
        let before = serde_json::to_value(PersonDraft::from(&person.record)).unwrap_or(Value::Null);
        let after = serde_json::to_value(&draft).unwrap_or(Value::Null);
        let changes = match merge_patch_between(&before, &after) {
            Value::Object(changes) => changes,
            _ => Map::new(),
        };
        let request = Changes {
            changes,
            source: form.text("source"),
            reason: form.text("reason"),
        };
        match s.app.update_person(actor, id, version, request).await {
            Ok(p) => return see(&format!("/households/{}?done=person", p.household_id)),
            Err(AppError::Invalid(p)) => problem = p,
            Err(AppError::VersionConflict { current }) => {
                page.version = current;
                problem.push("version", "version-conflict", "changed meanwhile");
            }
            Err(AppError::Conflict { code, .. }) => {
                page.other_errors
                    .push((String::new(), view::problem(&c, code, "problem-validation-failed")));
            }
            Err(e) => return Err(c.fail(e)),
        }
    }
    place_errors(&c, &mut page, &problem, "changes.", "members[0].");
    Err(html(StatusCode::UNPROCESSABLE_ENTITY, &page))
}
