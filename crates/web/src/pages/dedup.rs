//! Deduplication's pages: the review queue, a run started from it, and one
//! pair side by side with the evidence and the buttons for the decisions
//! and the merge. Plain forms: they work without JavaScript.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use himaya_app::{DedupRunRequest, DedupRunView, Evidence, Page, PairDecision, PairMerge, PairQuery, PairView};
use himaya_domain::access::Permission;
use himaya_domain::person::{Person, PersonId};

use super::form::parse_urlencoded;
use super::registry::{AreaChoice, area_choices};
use super::{Ctx, FormData, OrPage, PageResult, ok, see, view};
use crate::AppState;

#[derive(Template)]
#[template(path = "dedup.html")]
struct Queue<'a> {
    c: &'a Ctx,
    page: Page<PairView>,
    area: String,
    areas: Vec<AreaChoice>,
    next: Option<String>,
    run: Option<DedupRunView>,
}

impl Queue<'_> {
    fn name(&self, p: &Person) -> String {
        view::full_name(p)
    }

    fn percent(&self, p: &PairView) -> String {
        self.c.fixed(&(p.probability * 100.0), 1)
    }
}

pub(crate) async fn queue(State(s): State<AppState>, c: Ctx, RawQuery(raw): RawQuery) -> PageResult {
    let actor = c.actor()?;
    let pairs = parse_urlencoded(raw.unwrap_or_default().as_bytes());
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, v)| n == k && !v.trim().is_empty())
            .map(|(_, v)| v.clone())
    };
    let q = PairQuery {
        status: None,
        area: get("area"),
        cursor: get("cursor"),
        limit: None,
    };
    let page = s.app.dedup_pairs(actor, &q).await.or_page(&c)?;
    let area = q.area.clone().unwrap_or_default();
    let next = page.next_cursor.as_ref().map(|cur| {
        let mut query = vec![("cursor".to_owned(), cur.clone())];
        if !area.is_empty() {
            query.push(("area".to_owned(), area.clone()));
        }
        format!("/dedup?{}", super::form::encode(&query))
    });
    ok(&Queue {
        c: &c,
        page,
        area,
        areas: area_choices(&c),
        next,
        run: None,
    })
}

pub(crate) async fn start_run(State(s): State<AppState>, c: Ctx, form: FormData) -> PageResult {
    let actor = c.actor()?;
    c.check_csrf(&form)?;
    let area = form.text("area");
    let run = s
        .app
        .run_dedup(
            actor,
            DedupRunRequest {
                area: area.clone(),
                threshold: None,
            },
        )
        .await
        .or_page(&c)?;
    let q = PairQuery {
        area: area.clone(),
        ..PairQuery::default()
    };
    let page = s.app.dedup_pairs(actor, &q).await.or_page(&c)?;
    ok(&Queue {
        c: &c,
        page,
        area: area.unwrap_or_default(),
        areas: area_choices(&c),
        next: None,
        run: Some(run),
    })
}

#[derive(Template)]
#[template(path = "dedup_pair.html")]
struct PairPage<'a> {
    c: &'a Ctx,
    p: PairView,
}

/// One line of the side-by-side table: the field's label and both values.
struct Line {
    label: String,
    left: String,
    right: String,
    same: bool,
}

impl PairPage<'_> {
    fn lines(&self) -> Vec<Line> {
        let c = self.c;
        let (l, r) = (&self.p.left.record, &self.p.right.record);
        let ids = |p: &Person| {
            p.record
                .identifiers
                .iter()
                .map(|i| format!("{}: {}", view::vocab(c, "identifier", i.id_type.code()), i.display()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let born = |p: &Person| p.record.date_of_birth.map(|d| c.born(&d)).unwrap_or_default();
        let phone = |p: &Person| {
            p.record
                .phone
                .as_ref()
                .map(|x| x.as_str().to_owned())
                .unwrap_or_default()
        };
        let rows = [
            ("field-given_name", view::name(&l.given_name), view::name(&r.given_name)),
            (
                "field-family_name",
                view::name(&l.family_name),
                view::name(&r.family_name),
            ),
            (
                "field-father_name",
                view::name(&l.father_name),
                view::name(&r.father_name),
            ),
            (
                "field-sex",
                view::vocab(c, "sex", l.sex.code()),
                view::vocab(c, "sex", r.sex.code()),
            ),
            (
                "field-relationship",
                view::vocab(c, "relationship", l.relationship.code()),
                view::vocab(c, "relationship", r.relationship.code()),
            ),
            ("field-date_of_birth", born(&self.p.left), born(&self.p.right)),
            ("field-identifiers", ids(&self.p.left), ids(&self.p.right)),
            ("field-phone", phone(&self.p.left), phone(&self.p.right)),
            (
                "field-area",
                view::area_name(c, &self.p.left_area),
                view::area_name(c, &self.p.right_area),
            ),
            (
                "field-status",
                view::vocab(c, "person-status", l.status.code()),
                view::vocab(c, "person-status", r.status.code()),
            ),
        ];
        rows.into_iter()
            .map(|(key, left, right)| Line {
                label: c.t(key),
                same: left == right,
                left,
                right,
            })
            .collect()
    }

    fn comparison(&self, e: &Evidence) -> String {
        view::vocab(self.c, "dedup-comparison", &e.comparison)
    }

    fn level(&self, e: &Evidence) -> String {
        let code: String = e
            .level
            .chars()
            .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '-' })
            .collect::<String>()
            .split('-')
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join("-");
        view::vocab(self.c, "dedup-level", &code)
    }

    fn percent(&self) -> String {
        self.c.fixed(&(self.p.probability * 100.0), 1)
    }

    fn weight(&self, e: &Evidence) -> String {
        self.c.fixed(&e.weight, 1)
    }

    fn status(&self) -> String {
        view::vocab(self.c, "dedup-status", &self.p.status)
    }

    fn pending(&self) -> bool {
        self.p.status == "pending"
    }

    fn mergeable(&self) -> bool {
        matches!(self.p.status.as_str(), "pending" | "same_person") && self.c.may(Permission::DedupMerge)
    }
}

fn pair_path(id: &str) -> String {
    format!("/dedup/pairs/{id}")
}

pub(crate) async fn pair(State(s): State<AppState>, c: Ctx, Path(id): Path<String>) -> PageResult {
    let actor = c.actor()?;
    let p = s.app.dedup_pair(actor, &id).await.or_page(&c)?;
    ok(&PairPage { c: &c, p })
}

pub(crate) async fn decide(State(s): State<AppState>, c: Ctx, Path(id): Path<String>, form: FormData) -> PageResult {
    let actor = c.actor()?;
    c.check_csrf(&form)?;
    let d = PairDecision {
        decision: form.text("decision").unwrap_or_default(),
        reason: form.text("reason"),
    };
    s.app.decide_pair(actor, &id, d).await.or_page(&c)?;
    see(&pair_path(&id))
}

pub(crate) async fn merge(State(s): State<AppState>, c: Ctx, Path(id): Path<String>, form: FormData) -> PageResult {
    let actor = c.actor()?;
    c.check_csrf(&form)?;
    let survivor = form
        .text("survivor")
        .and_then(|v| v.parse::<PersonId>().ok())
        .ok_or_else(|| c.status_page(axum::http::StatusCode::UNPROCESSABLE_ENTITY, "dedup-choose-survivor"))?;
    let m = PairMerge {
        survivor,
        source: None,
        reason: form.text("reason"),
    };
    s.app.merge_pair(actor, &id, m).await.or_page(&c)?;
    see(&pair_path(&id))
}
