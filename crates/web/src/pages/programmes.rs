//! Programmes and targeting: the list, a programme's rules, a dry run with
//! its breakdowns (nothing written), and why a household is or is not
//! eligible.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use himaya_app::{AppError, EligibilityView, ProgrammeView, RunReport, Tally, TargetRequest};
use himaya_domain::household::HouseholdId;
use himaya_domain::programme::{Clause, Param};

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

#[derive(Template)]
#[template(path = "programme.html")]
struct Show<'a> {
    c: &'a Ctx,
    p: ProgrammeView,
    areas: Vec<AreaChoice>,
    area: String,
    /// Parameter name, value in force, value asked to simulate.
    parameters: Vec<(String, String, String)>,
    errors: FieldErrors,
    report: Option<RunReport>,
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
}

fn param_text(p: &Param) -> String {
    match p {
        Param::Int(i) => i.to_string(),
        Param::Float(f) => f.to_string(),
    }
}

fn show_page<'a>(c: &'a Ctx, p: ProgrammeView) -> Show<'a> {
    let parameters = p
        .definition
        .parameters
        .iter()
        .map(|(k, v)| (k.clone(), param_text(v), String::new()))
        .collect();
    Show {
        c,
        areas: area_choices(c),
        area: String::new(),
        parameters,
        errors: FieldErrors::new(),
        report: None,
        p,
    }
}

pub(crate) async fn show(State(s): State<AppState>, c: Ctx, Path(code): Path<String>) -> PageResult {
    let actor = c.actor()?;
    let p = s.app.programme(actor, &code).await.or_page(&c)?;
    ok(&show_page(&c, p))
}

pub(crate) async fn dry_run(State(s): State<AppState>, c: Ctx, Path(code): Path<String>, form: FormData) -> PageResult {
    let actor = c.actor()?;
    c.check_csrf(&form)?;
    let p = s.app.programme(actor, &code).await.or_page(&c)?;
    let mut page = show_page(&c, p);
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
            for e in &problem.errors {
                // `parameters.NAME` or `params.NAME` name a parameter's field here.
                let field = e
                    .field
                    .strip_prefix("parameters.")
                    .or_else(|| e.field.strip_prefix("params."))
                    .map_or_else(|| e.field.clone(), |n| format!("param.{n}"));
                page.errors.insert(field, view::field_error(&c, e.code));
            }
            Err(html(StatusCode::UNPROCESSABLE_ENTITY, &page))
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
