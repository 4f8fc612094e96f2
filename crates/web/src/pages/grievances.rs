//! Grievances' pages: the list of a user's areas (open ones first), the
//! form that records one — from the household's page, or for someone the
//! registry does not hold — and one grievance with its moves and the form
//! that resolves, dismisses or reopens it. Plain forms.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use himaya_app::GrievanceRow;
use himaya_app::{AppError, GrievanceMove, GrievancePage, GrievanceQuery, GrievanceView, NewGrievance};
use himaya_domain::access::Permission;
use himaya_domain::grievance::{GrievanceCategory, GrievanceChannel, GrievanceStatus};

use super::form::{encode, parse_urlencoded};
use super::registry::{AreaChoice, area_choices};
use super::{Ctx, FieldErrors, FormData, OrPage, PageResult, html, ok, see, view};
use crate::AppState;

const PAGE: u32 = 50;

fn status_text(c: &Ctx, code: &str) -> String {
    view::vocab(c, "grievance-status", code)
}

fn category_text(c: &Ctx, code: &str) -> String {
    view::vocab(c, "grievance-category", code)
}

#[derive(Template)]
#[template(path = "grievances.html")]
struct List<'a> {
    c: &'a Ctx,
    page: GrievancePage,
    status: String,
    area: String,
    household: String,
    areas: Vec<AreaChoice>,
    next: Option<String>,
}

impl List<'_> {
    fn status_name(&self, code: &str) -> String {
        status_text(self.c, code)
    }

    fn category(&self, code: &str) -> String {
        category_text(self.c, code)
    }

    fn statuses(&self) -> Vec<(&'static str, String)> {
        let mut out: Vec<(&'static str, String)> = GrievanceStatus::ALL
            .iter()
            .map(|s| (s.code(), status_text(self.c, s.code())))
            .collect();
        out.push(("all", self.c.t("grievance-status-all")));
        out
    }
}

pub(crate) async fn list(State(s): State<AppState>, c: Ctx, RawQuery(raw): RawQuery) -> PageResult {
    let actor = c.actor()?;
    let pairs = parse_urlencoded(raw.unwrap_or_default().as_bytes());
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, v)| n == k && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_owned())
    };
    let offset = get("offset").and_then(|o| o.parse::<u32>().ok()).unwrap_or(0);
    let q = GrievanceQuery {
        status: get("status"),
        area: get("area"),
        household_id: get("household"),
        limit: Some(PAGE),
        offset: Some(offset),
    };
    let page = s.app.grievances(actor, &q).await.or_page(&c)?;
    let (status, area, household) = (
        q.status.clone().unwrap_or_else(|| "open".to_owned()),
        q.area.clone().unwrap_or_default(),
        q.household_id.clone().unwrap_or_default(),
    );
    let shown = i64::from(offset) + page.grievances.len() as i64;
    let next = (shown < page.total).then(|| {
        let mut query = vec![
            ("status".to_owned(), status.clone()),
            ("offset".to_owned(), (offset + PAGE).to_string()),
        ];
        for (k, v) in [("area", &area), ("household", &household)] {
            if !v.is_empty() {
                query.push((k.to_owned(), v.clone()));
            }
        }
        format!("/grievances?{}", encode(&query))
    });
    ok(&List {
        c: &c,
        page,
        status,
        area,
        household,
        areas: area_choices(&c),
        next,
    })
}

/// The form that records a grievance, as typed.
#[derive(Default)]
struct Draft {
    household: String,
    area: String,
    category: String,
    channel: String,
    complainant: String,
    phone: String,
    description: String,
}

#[derive(Template)]
#[template(path = "grievance_form.html")]
struct Form<'a> {
    c: &'a Ctx,
    f: Draft,
    /// The named household's registration number, to show.
    registration: Option<String>,
    areas: Vec<AreaChoice>,
    errors: FieldErrors,
}

impl Form<'_> {
    fn err(&self, field: &str) -> Option<&String> {
        self.errors.get(field)
    }

    fn categories(&self) -> Vec<(&'static str, String)> {
        GrievanceCategory::ALL
            .iter()
            .map(|g| (g.code(), category_text(self.c, g.code())))
            .collect()
    }

    fn channels(&self) -> Vec<(&'static str, String)> {
        GrievanceChannel::ALL
            .iter()
            .map(|g| (g.code(), view::vocab(self.c, "grievance-channel", g.code())))
            .collect()
    }
}

pub(crate) async fn new_form(State(s): State<AppState>, c: Ctx, RawQuery(raw): RawQuery) -> PageResult {
    let actor = c.actor()?;
    if !c.may(Permission::GrievancesManage) {
        return Err(c.status_page(StatusCode::FORBIDDEN, "problem-permission-denied"));
    }
    let pairs = parse_urlencoded(raw.unwrap_or_default().as_bytes());
    let household = pairs
        .iter()
        .find(|(k, _)| k == "household")
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default();
    // A household named by its page must be one the officer may see.
    let registration = if household.is_empty() {
        None
    } else {
        let id = super::registry::household_id(&c, &household)?;
        let view = s.app.household(actor, id).await.or_page(&c)?;
        Some(view.household.registration_number)
    };
    ok(&Form {
        c: &c,
        f: Draft {
            household,
            ..Draft::default()
        },
        registration,
        areas: area_choices(&c),
        errors: FieldErrors::new(),
    })
}

pub(crate) async fn record(State(s): State<AppState>, c: Ctx, form: FormData) -> PageResult {
    let actor = c.actor()?;
    c.check_csrf(&form)?;
    let text = |k: &str| form.text(k).unwrap_or_default();
    let f = Draft {
        household: text("household"),
        area: text("area"),
        category: text("category"),
        channel: text("channel"),
        complainant: text("complainant"),
        phone: text("phone"),
        description: text("description"),
    };
    let some = |v: &str| (!v.trim().is_empty()).then(|| v.to_owned());
    let new = NewGrievance {
        household_id: some(&f.household),
        // The household's area is the grievance's: the form sends none with one.
        area: if f.household.trim().is_empty() {
            some(&f.area)
        } else {
            None
        },
        category: some(&f.category),
        channel: some(&f.channel),
        complainant: some(&f.complainant),
        phone: some(&f.phone),
        description: some(&f.description),
    };
    match s.app.record_grievance(actor, new).await {
        Ok(v) => see(&format!("/grievances/{}?done=recorded", v.grievance.id)),
        Err(AppError::Invalid(problem)) => {
            let mut errors = view::field_errors(&c, &problem);
            if let Some(e) = errors.remove("household_id") {
                errors.insert("household".into(), e);
            }
            let registration = match f.household.parse() {
                Ok(id) if !errors.contains_key("household") => s
                    .app
                    .household(actor, id)
                    .await
                    .ok()
                    .map(|v| v.household.registration_number),
                _ => None,
            };
            Err(html(
                StatusCode::UNPROCESSABLE_ENTITY,
                &Form {
                    c: &c,
                    f,
                    registration,
                    areas: area_choices(&c),
                    errors,
                },
            ))
        }
        Err(e) => Err(c.fail(e)),
    }
}

#[derive(Template)]
#[template(path = "grievance.html")]
struct Show<'a> {
    c: &'a Ctx,
    v: GrievanceView,
    note: String,
    errors: FieldErrors,
    refused: Option<String>,
    notice: Option<String>,
}

impl Show<'_> {
    fn g(&self) -> &GrievanceRow {
        &self.v.grievance
    }

    fn status_name(&self, code: &str) -> String {
        status_text(self.c, code)
    }

    fn category(&self) -> String {
        category_text(self.c, &self.v.grievance.category)
    }

    fn channel(&self) -> String {
        view::vocab(self.c, "grievance-channel", &self.v.grievance.channel)
    }

    fn area(&self) -> String {
        view::area_name(self.c, &self.v.grievance.area_code)
    }

    fn err(&self, field: &str) -> Option<&String> {
        self.errors.get(field)
    }

    /// The moves the lifecycle allows from here: (status, button's label).
    fn moves(&self) -> Vec<(&'static str, String)> {
        GrievanceStatus::from_code(&self.v.grievance.status)
            .map(|s| s.next())
            .unwrap_or_default()
            .iter()
            .map(|to| (to.code(), self.c.t(&format!("grievance-move-{}", to.code()))))
            .collect()
    }
}

async fn show_page<'a>(s: &AppState, c: &'a Ctx, id: &str) -> Result<Show<'a>, Response> {
    let actor = c.actor()?;
    let v = s.app.grievance(actor, id).await.or_page(c)?;
    Ok(Show {
        c,
        v,
        note: String::new(),
        errors: FieldErrors::new(),
        refused: None,
        notice: None,
    })
}

pub(crate) async fn show(
    State(s): State<AppState>,
    c: Ctx,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> PageResult {
    let mut page = show_page(&s, &c, &id).await?;
    let flags = parse_urlencoded(raw.unwrap_or_default().as_bytes());
    page.notice = flags
        .iter()
        .find(|(k, _)| k == "done")
        .and_then(|(_, v)| match v.as_str() {
            "recorded" | "moved" => Some(c.t(&format!("notice-grievance-{v}"))),
            _ => None,
        });
    ok(&page)
}

pub(crate) async fn transition(
    State(s): State<AppState>,
    c: Ctx,
    Path(id): Path<String>,
    form: FormData,
) -> PageResult {
    let actor = c.actor()?;
    c.check_csrf(&form)?;
    let step = GrievanceMove {
        to: form.text("to").unwrap_or_default(),
        note: form.text("note"),
        // A form that lost its count is still a move, checked by its status.
        seen: form.text("seen").and_then(|n| n.trim().parse().ok()),
    };
    match s.app.move_grievance(actor, &id, step).await {
        Ok(_) => see(&format!("/grievances/{id}?done=moved")),
        Err(AppError::Invalid(problem)) => {
            let mut page = show_page(&s, &c, &id).await?;
            page.note = form.text("note").unwrap_or_default();
            page.errors = view::field_errors(&c, &problem);
            Err(html(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(AppError::Conflict { code, .. }) => {
            let mut page = show_page(&s, &c, &id).await?;
            page.note = form.text("note").unwrap_or_default();
            // The lifecycle's refusal in a grievance's words, not a cycle's.
            page.refused = Some(if code == "illegal-transition" {
                c.t("problem-grievance-move-not-allowed")
            } else {
                view::problem(&c, code, "problem-grievance-changed")
            });
            Err(html(StatusCode::CONFLICT, &page))
        }
        Err(e) => Err(c.fail(e)),
    }
}
