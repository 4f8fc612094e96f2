//! Programmes and targeting: the list, a programme's rules, a dry run with
//! its breakdowns (nothing written), and why a household is or is not
//! eligible.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use himaya_app::EnrolmentRow;
use himaya_app::{AppError, EligibilityView, ProgrammeView, ResurveyDue, RunReport, Tally, TargetRequest};
use himaya_domain::enrolment::{EnrolmentStatus, ExitReason, PauseReason, check_transition};
use himaya_domain::household::HouseholdId;
use himaya_domain::programme::{Clause, Param, TargetUnit};
use himaya_domain::vocab::PersonStatus;

use super::chart::{Bar, BarChart};
use super::registry::{AreaChoice, area_choices};
use himaya_domain::access::Permission;

use super::{Ctx, FieldErrors, FormData, OrPage, PageResult, html, ok, view};
use crate::AppState;

#[derive(Template)]
#[template(path = "programmes.html")]
struct List<'a> {
    c: &'a Ctx,
    items: Vec<ProgrammeView>,
}

impl List<'_> {
    fn name(&self, p: &ProgrammeView) -> String {
        view::pick(self.c.lang, &p.definition.name)
            .unwrap_or(&p.code)
            .to_owned()
    }
}

pub(crate) async fn list(State(s): State<AppState>, c: Ctx) -> PageResult {
    let actor = c.actor()?;
    let items = s.app.programmes(actor).await.or_page(&c)?;
    ok(&List { c: &c, items })
}

/// How many households due for resurvey the programme's page lists.
const RESURVEY_SHOWN: usize = 50;

#[derive(Template)]
#[template(path = "programme.html")]
struct Show<'a> {
    c: &'a Ctx,
    p: ProgrammeView,
    areas: Vec<AreaChoice>,
    /// The area asked for by the dry run's form, and by the run's.
    area: String,
    run_area: String,
    /// Parameter name, value in force, value asked to simulate.
    parameters: Vec<(String, String, String)>,
    /// The dry run's field errors.
    errors: FieldErrors,
    /// The targeting run's field errors, and why it was refused (`""`: by its fields).
    run_errors: FieldErrors,
    run_refused: Option<String>,
    /// Whether the run's form asked to enrol the eligible.
    enrol: bool,
    report: Option<RunReport>,
    /// Households due for resurvey (at most [`RESURVEY_SHOWN`]), and
    /// whether there are more; `None` when the reader may not see them or
    /// the programme does not recertify.
    resurvey: Option<(Vec<ResurveyDue>, bool)>,
}

impl Show<'_> {
    fn name(&self) -> String {
        view::pick(self.c.lang, &self.p.definition.name)
            .unwrap_or(&self.p.code)
            .to_owned()
    }

    fn description(&self) -> String {
        view::pick(self.c.lang, &self.p.definition.description)
            .unwrap_or_default()
            .to_owned()
    }

    fn target(&self) -> String {
        view::target(self.c, &self.p.definition.target)
    }

    fn frequency(&self) -> String {
        view::frequency(self.c, &self.p.definition.frequency)
    }

    /// The error of a parameter's field (`NAME`) or of another field (`area`).
    fn param_error(&self, name: &str) -> Option<&String> {
        self.errors
            .get(&format!("param.{name}"))
            .or_else(|| self.errors.get(name))
    }

    fn label(&self, clause: &Clause) -> String {
        view::pick(self.c.lang, &clause.label)
            .unwrap_or(&clause.rule)
            .to_owned()
    }

    fn district_chart(&self, tally: &Tally) -> String {
        let bars = tally
            .by_district
            .iter()
            .map(|(code, d)| Bar {
                label: view::area_name(self.c, code),
                value: d.eligible,
                text: self.c.count(&d.eligible),
            })
            .collect();
        BarChart {
            title: self.c.t("chart-eligible-by-district"),
            bars,
            rtl: self.c.lang.is_rtl(),
        }
        .svg()
    }

    fn refusal_label(&self, key: &str) -> String {
        // Refusals are counted by the clause's label in the deployment's
        // first language; show the reader's where the programme has it.
        let d = &self.p.definition;
        d.eligibility
            .iter()
            .find(|cl| cl.label.values().any(|l| l == key) || cl.rule == key)
            .map_or_else(|| key.to_owned(), |cl| self.label(cl))
    }

    fn area_name(&self, code: &str) -> String {
        view::area_name(self.c, code)
    }

    fn months(&self) -> String {
        let m = self.p.definition.recertification_months.unwrap_or_default();
        self.c
            .t1("recertification-period", "months", self.c.count(&u64::from(m)))
    }
}

fn param_text(p: &Param) -> String {
    match p {
        Param::Int(i) => i.to_string(),
        Param::Float(f) => f.to_string(),
    }
}

/// The programme's page as first shown: its rules, the forms, and the
/// households due for resurvey.
async fn show_page<'a>(s: &AppState, c: &'a Ctx, code: &str) -> Result<Show<'a>, Response> {
    let actor = c.actor()?;
    let p = s.app.programme(actor, code).await.or_page(c)?;
    let resurvey = match p.definition.recertification_months {
        // One more than shown, to know whether there are more.
        Some(_) if c.may(Permission::ProgrammesRead) => {
            let limit = u32::try_from(RESURVEY_SHOWN + 1).unwrap_or(u32::MAX);
            let mut due = s.app.recertification_due(actor, code, limit).await.or_page(c)?;
            let more = due.len() > RESURVEY_SHOWN;
            due.truncate(RESURVEY_SHOWN);
            Some((due, more))
        }
        _ => None,
    };
    let parameters = p
        .definition
        .parameters
        .iter()
        .map(|(k, v)| (k.clone(), param_text(v), String::new()))
        .collect();
    Ok(Show {
        c,
        areas: area_choices(c),
        area: String::new(),
        run_area: String::new(),
        parameters,
        errors: FieldErrors::new(),
        run_errors: FieldErrors::new(),
        run_refused: None,
        enrol: false,
        report: None,
        resurvey,
        p,
    })
}

pub(crate) async fn show(State(s): State<AppState>, c: Ctx, Path(code): Path<String>) -> PageResult {
    ok(&show_page(&s, &c, &code).await?)
}

/// Every `param.NAME` field a form posted, as overrides (any digits, read as ASCII).
fn overrides_of(form: &FormData) -> Vec<(String, String)> {
    form.0
        .iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix("param.")?;
            let v = v.trim();
            (!v.is_empty()).then(|| (name.to_owned(), himaya_domain::digits::to_ascii_digits(v).into_owned()))
        })
        .collect()
}

/// A use case's field errors as the programme page's fields: `parameters.NAME`
/// or `params.NAME` name a parameter's field.
fn run_field_errors(c: &Ctx, problem: &himaya_domain::Problem) -> FieldErrors {
    let mut out = FieldErrors::new();
    for e in &problem.errors {
        let field = e
            .field
            .strip_prefix("parameters.")
            .or_else(|| e.field.strip_prefix("params."))
            .map_or_else(|| e.field.clone(), |n| format!("param.{n}"));
        out.entry(field).or_insert_with(|| view::field_error(c, e.code));
    }
    out
}

pub(crate) async fn dry_run(State(s): State<AppState>, c: Ctx, Path(code): Path<String>, form: FormData) -> PageResult {
    let actor = c.actor()?;
    c.check_csrf(&form)?;
    let mut page = show_page(&s, &c, &code).await?;
    page.area = form.text("area").unwrap_or_default();
    let mut overrides = Vec::new();
    for (name, _, asked) in &mut page.parameters {
        if let Some(v) = form.text(&format!("param.{name}")) {
            *asked = v.clone();
            overrides.push((name.clone(), himaya_domain::digits::to_ascii_digits(&v).into_owned()));
        }
    }
    let request = TargetRequest {
        programme: code,
        area: form.text("area"),
        dry_run: true,
        enrol: false,
        overrides,
    };
    match s.app.target_run(actor, request, |_| {}).await {
        Ok(report) => {
            page.report = Some(report);
            ok(&page)
        }
        Err(AppError::Invalid(problem)) => {
            page.errors = run_field_errors(&c, &problem);
            Err(html(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(e) => Err(c.fail(e)),
    }
}

/// A targeting run that decides and records: every unit's decision is
/// written and, if asked, the eligible are enrolled. Its report is shown
/// at once, as a dry run's and a cycle's computation are; posting again
/// runs again, which decides the same and enrols no one twice.
pub(crate) async fn run(State(s): State<AppState>, c: Ctx, Path(code): Path<String>, form: FormData) -> PageResult {
    let actor = c.actor()?;
    c.check_csrf(&form)?;
    let mut page = show_page(&s, &c, &code).await?;
    page.run_area = form.text("area").unwrap_or_default();
    page.enrol = form.checked("enrol");
    // The run's form has no parameters: a posted one is refused by the use
    // case (parameters are for dry runs), not silently dropped.
    let request = TargetRequest {
        programme: code,
        area: form.text("area"),
        dry_run: false,
        enrol: page.enrol,
        overrides: overrides_of(&form),
    };
    match s.app.target_run(actor, request, |_| {}).await {
        Ok(report) => {
            page.report = Some(report);
            ok(&page)
        }
        Err(AppError::Invalid(problem)) => {
            page.run_errors = run_field_errors(&c, &problem);
            page.run_refused = Some(c.t("problem-validation-failed"));
            Err(html(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(AppError::Conflict { code, .. }) => {
            page.run_refused = Some(view::problem_text(&c, code, "run-refused"));
            Err(html(StatusCode::CONFLICT, &page))
        }
        Err(e) => Err(c.fail(e)),
    }
}

#[derive(Template)]
#[template(path = "eligibility.html")]
struct Eligibility<'a> {
    c: &'a Ctx,
    household: String,
    e: EligibilityView,
}

pub(crate) async fn eligibility(
    State(s): State<AppState>,
    c: Ctx,
    Path((id, code)): Path<(String, String)>,
) -> PageResult {
    let actor = c.actor()?;
    let Ok(id) = id.parse::<HouseholdId>() else {
        return Err(c.status_page(StatusCode::NOT_FOUND, "problem-not-found"));
    };
    // Clause labels in the reader's language where the deployment has it.
    let lang = c.lang.code();
    let lang = s.app.deployment().languages.iter().any(|l| l == lang).then_some(lang);
    let e = s
        .app
        .explain_eligibility(actor, id, &code, None, lang)
        .await
        .or_page(&c)?;
    ok(&Eligibility {
        c: &c,
        household: id.to_string(),
        e,
    })
}
