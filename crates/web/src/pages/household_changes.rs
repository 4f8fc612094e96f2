//! What happens to a household as a whole, each step one plain form: another
//! member becomes head, a member moves to another household, some members
//! leave to form a new one, another household joins this one, and the
//! household ends or comes back. The steps are the registry's use cases;
//! each refusal is told beside the step, in the reader's language, and
//! changes nothing.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use himaya_app::{Actor, AppError, ChangeHead, HouseholdQuery, HouseholdView, Merge, Note, Split, Transfer};
use himaya_domain::Problem;
use himaya_domain::digits::to_ascii_digits;
use himaya_domain::household::{HouseholdDraft, HouseholdId};
use himaya_domain::person::PersonId;
use himaya_domain::vocab::{HouseholdStatus, Relationship};

use super::registry::{Choice, household_id, vocab_choices};
use super::{Ctx, FieldErrors, FormData, OrPage, PageResult, html, see, view};
use crate::AppState;

/// The steps, by the name of their form (and of the path they post to).
const STEPS: [&str; 5] = ["head", "transfer", "split", "merge", "status"];

#[derive(Template)]
#[template(path = "household_changes.html")]
struct HouseholdChanges<'a> {
    c: &'a Ctx,
    view: HouseholdView,
    /// Active members: id and name.
    members: Vec<(String, String)>,
    /// The active head's id.
    head: Option<String>,
    /// Relationships another member can have to a head.
    relationships: Vec<Choice>,
    /// The step sent, what it was sent with, and its errors by field.
    step: Option<&'static str>,
    values: BTreeMap<String, Vec<String>>,
    errors: FieldErrors,
    /// Why the step was refused, when it is not about one field.
    refused: Option<String>,
}

impl HouseholdChanges<'_> {
    fn active(&self) -> bool {
        self.view.household.record.status == HouseholdStatus::Active
    }

    /// What the step's form was sent with, when it is the step sent.
    fn v(&self, step: &str, name: &str) -> &str {
        self.sent(step)
            .and_then(|_| self.values.get(name))
            .and_then(|v| v.first())
            .map_or("", String::as_str)
    }

    fn chosen(&self, step: &str, name: &str, value: &str) -> bool {
        self.sent(step)
            .and_then(|_| self.values.get(name))
            .is_some_and(|v| v.iter().any(|x| x == value))
    }

    fn sent(&self, step: &str) -> Option<()> {
        (self.step == Some(step)).then_some(())
    }

    fn e(&self, step: &str, name: &str) -> Option<&String> {
        self.sent(step).and_then(|_| self.errors.get(name))
    }

    /// The error beside a leaving member's relationship to the new head.
    fn relationship_error(&self, member: &str) -> Option<&String> {
        self.e("split", &format!("relationship-{member}"))
    }

    fn relationship_chosen(&self, member: &str, value: &str) -> bool {
        self.chosen("split", &format!("relationship-{member}"), value)
    }

    fn split_relationship_label(&self, name: &str) -> String {
        self.c.t1("step-split-relationship", "name", name)
    }

    fn refused_at(&self, step: &str) -> Option<&String> {
        self.sent(step).and(self.refused.as_ref())
    }

    fn others(&self) -> Vec<&(String, String)> {
        self.members
            .iter()
            .filter(|(id, _)| Some(id) != self.head.as_ref())
            .collect()
    }
}

async fn changes_page<'a>(s: &AppState, c: &'a Ctx, id: HouseholdId) -> Result<HouseholdChanges<'a>, Response> {
    let actor = c.actor()?;
    let view = s.app.household(actor, id).await.or_page(c)?;
    let active: Vec<_> = view.members.iter().filter(|m| m.record.is_active()).collect();
    let members = active.iter().map(|m| (m.id.to_string(), view::full_name(m))).collect();
    let head = active
        .iter()
        .find(|m| m.record.relationship == Relationship::Head)
        .map(|m| m.id.to_string());
    let relationships = vocab_choices(
        c,
        "relationship",
        Relationship::ALL
            .iter()
            .filter(|r| **r != Relationship::Head)
            .map(|r| r.code()),
    );
    Ok(HouseholdChanges {
        c,
        view,
        members,
        head,
        relationships,
        step: None,
        values: BTreeMap::new(),
        errors: FieldErrors::new(),
        refused: None,
    })
}

pub(crate) async fn show(State(s): State<AppState>, c: Ctx, Path(id): Path<String>) -> PageResult {
    let actor = c.actor()?;
    actor
        .require(himaya_domain::access::Permission::HouseholdsWrite)
        .or_page(&c)?;
    let id = household_id(&c, &id)?;
    Ok(html(StatusCode::OK, &changes_page(&s, &c, id).await?))
}

/// The household a registration number typed on a form names, in any digits.
async fn by_number(s: &AppState, actor: &Actor, typed: Option<String>, field: &str) -> Result<HouseholdId, AppError> {
    let Some(typed) = typed else {
        return Err(invalid(field, "required", "give the household's registration number"));
    };
    let number = to_ascii_digits(typed.trim()).into_owned();
    let q = HouseholdQuery {
        registration_number: Some(number),
        limit: Some(1),
        ..HouseholdQuery::default()
    };
    match s.app.list_households(actor, &q).await?.items.first() {
        Some(h) => Ok(h.id),
        None => Err(invalid(field, "household-unknown", "no household has this number")),
    }
}

fn invalid(field: &str, code: &'static str, message: &str) -> AppError {
    AppError::Invalid(Problem::single(field, code, message))
}

fn person(form: &FormData, name: &str) -> Result<PersonId, AppError> {
    form.get(name)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| invalid(name, "required", "choose a member"))?
        .parse()
        .map_err(|_| invalid(name, "not-a-member", "not a member of this household"))
}

/// Runs one step from its form; success returns to a household's page.
pub(crate) async fn step(
    State(s): State<AppState>,
    c: Ctx,
    Path((id, step)): Path<(String, String)>,
    form: FormData,
) -> PageResult {
    let actor = c.actor()?;
    c.check_csrf(&form)?;
    let id = household_id(&c, &id)?;
    let Some(step) = STEPS.into_iter().find(|s| *s == step) else {
        return Err(c.status_page(StatusCode::NOT_FOUND, "problem-not-found"));
    };
    let version = form.get("version").and_then(|v| v.parse::<i64>().ok());
    let source = form.text("source").or_else(|| Some("desk_update".to_owned()));
    let reason = form.text("reason");
    let done = async || -> Result<HouseholdId, AppError> {
        match step {
            "head" => {
                let change = ChangeHead {
                    person: person(&form, "person")?,
                    previous_head_relationship: form.text("previous_head_relationship"),
                    source,
                    reason,
                };
                s.app.change_head(actor, id, version, change).await.map(|_| id)
            }
            "transfer" => {
                let who = person(&form, "person")?;
                let to_household = by_number(&s, actor, form.text("to_household"), "to_household").await?;
                let current = s.app.person(actor, who).await?;
                if current.household_id != id {
                    return Err(invalid("person", "not-a-member", "not a member of this household"));
                }
                let t = Transfer {
                    to_household,
                    relationship: form.text("relationship").unwrap_or_default(),
                    source,
                    reason,
                };
                s.app.transfer_person(actor, who, current.version, t).await.map(|_| id)
            }
            "split" => {
                let members = form
                    .all("members")
                    .iter()
                    .map(|v| v.parse::<PersonId>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| invalid("members", "not-a-member", "not a member of this household"))?;
                let head = person(&form, "head")?;
                // Those who leave, other than the new head, each with the
                // relationship chosen beside them; the rest keep theirs.
                let relationships = members
                    .iter()
                    .filter(|m| **m != head)
                    .filter_map(|m| form.text(&format!("relationship-{m}")).map(|r| (*m, r)))
                    .collect();
                let split = Split {
                    members,
                    head,
                    relationships,
                    household: HouseholdDraft::default(),
                    source,
                    reason,
                };
                s.app
                    .split_household(actor, id, version, split)
                    .await
                    .map(|v| v.household.id)
            }
            "merge" => {
                let from = by_number(&s, actor, form.text("from"), "from").await?;
                let merge = Merge {
                    from,
                    relationships: BTreeMap::new(),
                    source,
                    reason,
                };
                s.app.merge_households(actor, id, version, merge).await.map(|_| id)
            }
            _ => {
                let active = form.get("to") == Some("active");
                let note = Note { source, reason };
                let Some(version) = version else {
                    return Err(invalid("version", "required", "reload the page"));
                };
                s.app
                    .set_household_status(actor, id, version, active, note)
                    .await
                    .map(|_| id)
            }
        }
    };
    match done().await {
        Ok(to) => see(&format!("/households/{to}?done={step}")),
        Err(e @ (AppError::Invalid(_) | AppError::Conflict { .. } | AppError::VersionConflict { .. })) => {
            let mut page = changes_page(&s, &c, id).await?;
            page.step = Some(step);
            for (k, v) in form.0.iter().filter(|(k, _)| k != "csrf") {
                page.values.entry(k.clone()).or_default().push(v.clone());
            }
            let status = match &e {
                AppError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
                _ => StatusCode::CONFLICT,
            };
            match e {
                AppError::Invalid(problem) => place(&c, &mut page, step, &problem),
                e => {
                    let code = crate::ApiError::from(e).code;
                    page.refused = Some(view::problem(&c, code, "problem-validation-failed"));
                }
            }
            Err(html(status, &page))
        }
        Err(e) => Err(c.fail(e)),
    }
}

/// A step's field errors beside its form's controls; an error about a
/// field the step's form has no control for is the step's refusal.
fn place(c: &Ctx, page: &mut HouseholdChanges<'_>, step: &str, problem: &Problem) {
    let controls: &[&str] = match step {
        "head" => &["person", "previous_head_relationship", "reason"],
        "transfer" => &["person", "to_household", "relationship", "reason"],
        "split" => &["members", "head", "reason"],
        "merge" => &["from", "reason"],
        _ => &["reason"],
    };
    for e in &problem.errors {
        // `members[1]`: the list of checkboxes.
        let field = e.field.split('[').next().unwrap_or_default();
        let message = view::field_error(c, e.code);
        if let Some(member) = e.field.strip_prefix("relationships.").filter(|_| step == "split") {
            // A leaving member's relationship, beside its select.
            page.errors.entry(format!("relationship-{member}")).or_insert(message);
        } else if controls.contains(&field) {
            page.errors.entry(field.to_owned()).or_insert(message);
        } else if page.refused.is_none() {
            page.refused = Some(message);
        }
    }
}
