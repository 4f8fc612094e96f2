//! Programmes and targeting: the list, a programme's rules, a dry run with
//! its breakdowns (nothing written), and why a household is or is not
//! eligible.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use himaya_app::EnrolmentRow;
use himaya_app::{AppError, EligibilityView, ProgrammeView, ResurveyDue, RunReport, Tally, TargetRequest};
use himaya_domain::enrolment::{EnrolmentStatus, ExitReason, PauseReason, check_transition};
use himaya_domain::household::HouseholdId;
use himaya_domain::programme::{Clause, Param, TargetUnit};
use himaya_domain::vocab::PersonStatus;

use super::chart::{Bar, BarChart};
use super::form::{encode, encode_component, parse_urlencoded};
use super::registry::{AreaChoice, area_choices};
use himaya_domain::access::Permission;

use super::{Ctx, FieldErrors, FormData, OrPage, PageResult, html, ok, see, view};
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
            page.run_refused = Some(view::problem(&c, code, "run-refused"));
            Err(html(StatusCode::CONFLICT, &page))
        }
        Err(e) => Err(c.fail(e)),
    }
}

/// A move of the enrolment lifecycle a page offers, as the domain's
/// transition table allows it from a standing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Move {
    Enrol,
    Pause,
    Resume,
    Exit,
}

impl Move {
    /// The move from one standing to another, if a person makes it (a
    /// targeting run decides eligibility; the table says what follows).
    fn between(from: EnrolmentStatus, to: EnrolmentStatus) -> Option<Move> {
        check_transition(from, to).ok()?;
        match (from, to) {
            (EnrolmentStatus::Eligible, EnrolmentStatus::Enrolled) => Some(Move::Enrol),
            (EnrolmentStatus::Paused, EnrolmentStatus::Enrolled) => Some(Move::Resume),
            (_, EnrolmentStatus::Paused) => Some(Move::Pause),
            (_, EnrolmentStatus::Exited) => Some(Move::Exit),
            _ => None,
        }
    }

    /// The moves open from a standing, in the table's order.
    fn from(status: EnrolmentStatus) -> Vec<Move> {
        status
            .next()
            .iter()
            .filter_map(|to| Move::between(status, *to))
            .collect()
    }

    /// Its name in forms, ids and messages (`move-pause`, `notice-enrolment-pause`).
    fn key(self) -> &'static str {
        match self {
            Move::Enrol => "enrol",
            Move::Pause => "pause",
            Move::Resume => "resume",
            Move::Exit => "exit",
        }
    }

    fn to(self) -> EnrolmentStatus {
        match self {
            Move::Enrol | Move::Resume => EnrolmentStatus::Enrolled,
            Move::Pause => EnrolmentStatus::Paused,
            Move::Exit => EnrolmentStatus::Exited,
        }
    }

    /// The vocabulary its reason comes from (message prefix, codes); none
    /// for moves that need no reason.
    fn reasons(self) -> Option<(&'static str, Vec<&'static str>)> {
        match self {
            Move::Pause => Some(("pause-reason", PauseReason::ALL.iter().map(|r| r.code()).collect())),
            Move::Exit => Some(("exit-reason", ExitReason::ALL.iter().map(|r| r.code()).collect())),
            Move::Enrol | Move::Resume => None,
        }
    }
}

/// One beneficiary's standing in the programme: the household, or for
/// programmes about people one member.
struct Standing {
    row: EnrolmentRow,
    /// The member's name, for programmes about people.
    who: Option<String>,
    moves: Vec<Move>,
    /// Why a move asked from the page was refused, the move, the reason
    /// chosen and what is wrong with it.
    refused: Option<String>,
    refused_move: Option<Move>,
    reason: String,
    reason_error: Option<String>,
}

impl Standing {
    fn status(&self, c: &Ctx) -> String {
        view::vocab(c, "enrolment", self.row.status.code())
    }

    /// The reason of a pause or an exit, in words.
    fn reason_text(&self, c: &Ctx) -> Option<String> {
        let kind = match self.row.status {
            EnrolmentStatus::Paused => "pause-reason",
            EnrolmentStatus::Exited => "exit-reason",
            _ => return None,
        };
        self.row.reason.as_deref().map(|r| view::vocab(c, kind, r))
    }

    fn refused_at(&self, m: &Move) -> Option<&String> {
        (self.refused_move == Some(*m))
            .then_some(self.refused.as_ref())
            .flatten()
    }

    fn reason_error_at(&self, m: &Move) -> Option<&String> {
        (self.refused_move == Some(*m))
            .then_some(self.reason_error.as_ref())
            .flatten()
    }
}

#[derive(Template)]
#[template(path = "eligibility.html")]
struct Eligibility<'a> {
    c: &'a Ctx,
    household: String,
    code: String,
    name: String,
    /// Why the household, or the member asked about, is or is not
    /// eligible; `None` for a programme about people when no member is named.
    e: Option<EligibilityView>,
    /// The active members (id, name), for programmes about people.
    members: Vec<(String, String)>,
    standings: Vec<Standing>,
    notice: Option<String>,
    /// A move refused for a beneficiary the household's standings do not show.
    refused: Option<String>,
}

impl Eligibility<'_> {
    fn reason_label(&self, kind: &str, code: &str) -> String {
        view::vocab(self.c, kind, code)
    }

    fn move_label(&self, m: &Move) -> String {
        self.c.t(&format!("move-{}", m.key()))
    }

    fn status_of(&self, m: &Move) -> &'static str {
        m.to().code()
    }
}

async fn eligibility_page<'a>(
    s: &AppState,
    c: &'a Ctx,
    id: HouseholdId,
    code: &str,
    person: Option<&str>,
) -> Result<Eligibility<'a>, Response> {
    let actor = c.actor()?;
    let p = s.app.programme(actor, code).await.or_page(c)?;
    let about_people = p.definition.target == TargetUnit::Person;
    // Clause labels in the reader's language where the deployment has it.
    let lang = c.lang.code();
    let lang = s.app.deployment().languages.iter().any(|l| l == lang).then_some(lang);
    let e = match (about_people, person) {
        (true, None) => None,
        (false, _) => Some(s.app.explain_eligibility(actor, id, code, None, lang).await),
        (true, Some(person)) => Some(s.app.explain_eligibility(actor, id, code, Some(person), lang).await),
    }
    .transpose()
    .or_page(c)?;
    let members: Vec<(String, String)> = if about_people && c.may(Permission::PersonsRead) {
        s.app
            .household(actor, id)
            .await
            .or_page(c)?
            .members
            .iter()
            .filter(|m| m.record.status == PersonStatus::Active)
            .map(|m| (m.id.to_string(), view::full_name(m)))
            .collect()
    } else {
        Vec::new()
    };
    let manage = c.may(Permission::EnrolmentsManage);
    let standings = s
        .app
        .household_enrolments(actor, id)
        .await
        .or_page(c)?
        .into_iter()
        .filter(|r| r.programme_code == code)
        .map(|row| Standing {
            who: about_people.then(|| {
                members
                    .iter()
                    .find(|(m, _)| *m == row.beneficiary_id)
                    .map_or_else(|| row.beneficiary_id.clone(), |(_, n)| n.clone())
            }),
            moves: if manage { Move::from(row.status) } else { Vec::new() },
            refused: None,
            refused_move: None,
            reason: String::new(),
            reason_error: None,
            row,
        })
        .collect();
    Ok(Eligibility {
        c,
        household: id.to_string(),
        code: code.to_owned(),
        name: view::pick(c.lang, &p.definition.name).unwrap_or(&p.code).to_owned(),
        e,
        members,
        standings,
        notice: None,
        refused: None,
    })
}

/// The household's path parameter, or the not-found page.
fn household_id(c: &Ctx, id: &str) -> Result<HouseholdId, Response> {
    id.parse::<HouseholdId>()
        .map_err(|_| c.status_page(StatusCode::NOT_FOUND, "problem-not-found"))
}

pub(crate) async fn eligibility(
    State(s): State<AppState>,
    c: Ctx,
    Path((id, code)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> PageResult {
    let id = household_id(&c, &id)?;
    let query = parse_urlencoded(raw.unwrap_or_default().as_bytes());
    let asked = |name: &str| {
        query
            .iter()
            .find(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_owned())
    };
    let person = asked("person");
    let mut page = eligibility_page(&s, &c, id, &code, person.as_deref()).await?;
    page.notice = asked("done").and_then(|d| match d.as_str() {
        "enrol" | "pause" | "resume" | "exit" => Some(c.t(&format!("notice-enrolment-{d}"))),
        _ => None,
    });
    ok(&page)
}

/// A move of one beneficiary's enrolment, from its form on the household's
/// eligibility page: the use case checks it against the transition table
/// and the reason's vocabulary; a refusal is told beside the form and
/// changes nothing.
pub(crate) async fn transition(
    State(s): State<AppState>,
    c: Ctx,
    Path((id, code)): Path<(String, String)>,
    form: FormData,
) -> PageResult {
    let actor = c.actor()?;
    c.check_csrf(&form)?;
    let id = household_id(&c, &id)?;
    let beneficiary = form.text("beneficiary").unwrap_or_default();
    let to = form.text("to").unwrap_or_default();
    let reason = form.text("reason");
    // The beneficiary must be one of this household's in this programme.
    let standing = s
        .app
        .household_enrolments(actor, id)
        .await
        .or_page(&c)?
        .into_iter()
        .find(|r| r.programme_code == code && r.beneficiary_id == beneficiary)
        .ok_or_else(|| c.status_page(StatusCode::NOT_FOUND, "problem-not-found"))?;
    let asked = EnrolmentStatus::from_code(&to).and_then(|t| Move::between(standing.status, t));
    let result = s
        .app
        .transition_enrolment(actor, &code, &beneficiary, &to, reason.as_deref())
        .await;
    // For programmes about people, the page then explains the member moved.
    let person = (beneficiary != id.to_string()).then_some(beneficiary.as_str());
    let (refusal, status, reason_error) = match result {
        Ok(_) => {
            let mut query: Vec<(String, String)> = asked
                .map(|m| ("done".to_owned(), m.key().to_owned()))
                .into_iter()
                .collect();
            if let Some(p) = person {
                query.push(("person".to_owned(), p.to_owned()));
            }
            return see(&format!(
                "/households/{id}/programmes/{}?{}#standing-{}",
                encode_component(&code),
                encode(&query),
                encode_component(&beneficiary)
            ));
        }
        Err(AppError::Invalid(problem)) => {
            let reason_error = problem.errors.iter().find(|e| e.field == "reason").map(|_| {
                let kind = if to == EnrolmentStatus::Paused.code() {
                    "pause"
                } else {
                    "exit"
                };
                c.t(&format!("enrolment-error-{kind}-reason"))
            });
            let fields = view::field_errors(&c, &problem);
            let message = if reason_error.is_some() {
                c.t("problem-validation-failed")
            } else {
                fields
                    .values()
                    .next()
                    .cloned()
                    .unwrap_or_else(|| c.t("problem-validation-failed"))
            };
            (message, StatusCode::UNPROCESSABLE_ENTITY, reason_error)
        }
        // A move the table does not allow is bad input from the form, not a
        // clash with someone else's change.
        Err(AppError::Conflict {
            code: "illegal-transition",
            ..
        }) => (
            c.t1(
                "enrolment-error-illegal-transition",
                "status",
                view::vocab(&c, "enrolment", standing.status.code()),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
        ),
        Err(AppError::Conflict { code, .. }) => (
            view::problem(&c, code, "enrolment-move-refused"),
            StatusCode::CONFLICT,
            None,
        ),
        Err(e) => return Err(c.fail(e)),
    };
    let mut page = eligibility_page(&s, &c, id, &code, person).await?;
    match page
        .standings
        .iter_mut()
        .find(|st| st.row.beneficiary_id == beneficiary)
    {
        Some(st) if asked.is_some_and(|m| st.moves.contains(&m)) => {
            st.refused = Some(refusal);
            st.refused_move = asked;
            st.reason = reason.unwrap_or_default();
            st.reason_error = reason_error;
        }
        // A move the page does not offer from here: told beside the standing.
        Some(st) => st.refused = Some(refusal),
        None => page.refused = Some(refusal),
    }
    Err(html(status, &page))
}
