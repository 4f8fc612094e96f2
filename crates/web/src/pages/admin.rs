//! Administration views, as far as the use cases expose them: accounts
//! with their roles and areas, partner agencies and tokens (never their
//! secrets), and the audit trail for auditors. Accounts, agencies and
//! tokens are created and changed on the server's command line.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use himaya_app::{AgencyRow, AppError, AuditPage, AuditQuery, TokenView, UserView};

use super::form::parse_urlencoded;
use super::{Ctx, FieldErrors, OrPage, PageResult, html, ok, view};
use crate::AppState;

#[derive(Template)]
#[template(path = "users.html")]
struct Users<'a> {
    c: &'a Ctx,
    users: Vec<UserView>,
}

pub(crate) async fn users(State(s): State<AppState>, c: Ctx) -> PageResult {
    let actor = c.actor()?;
    let users = s.app.users(actor).await.or_page(&c)?;
    ok(&Users { c: &c, users })
}

#[derive(Template)]
#[template(path = "agencies.html")]
struct Agencies<'a> {
    c: &'a Ctx,
    agencies: Vec<AgencyRow>,
    tokens: Vec<TokenView>,
}

pub(crate) async fn agencies(State(s): State<AppState>, c: Ctx) -> PageResult {
    let actor = c.actor()?;
    let agencies = s.app.agencies(actor).await.or_page(&c)?;
    let tokens = s.app.tokens(actor, None).await.or_page(&c)?;
    ok(&Agencies {
        c: &c,
        agencies,
        tokens,
    })
}

#[derive(Template)]
#[template(path = "audit.html")]
struct Audit<'a> {
    c: &'a Ctx,
    q: AuditQuery,
    page: Option<AuditPage>,
    errors: FieldErrors,
    next: Option<String>,
}

impl Audit<'_> {
    fn v(&self, name: &str) -> &str {
        match name {
            "actor" => self.q.actor.as_deref(),
            "record" => self.q.record.as_deref(),
            "action" => self.q.action.as_deref(),
            "from" => self.q.from.as_deref(),
            "to" => self.q.to.as_deref(),
            _ => None,
        }
        .unwrap_or_default()
    }

    fn err(&self, name: &str) -> Option<&String> {
        self.errors.get(name)
    }
}

pub(crate) async fn audit(State(s): State<AppState>, c: Ctx, RawQuery(raw): RawQuery) -> PageResult {
    let actor = c.actor()?;
    let pairs = parse_urlencoded(raw.unwrap_or_default().as_bytes());
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, v)| n == k && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_owned())
    };
    let q = AuditQuery {
        actor: get("actor"),
        record: get("record"),
        action: get("action"),
        from: get("from"),
        to: get("to"),
        before: get("before").and_then(|b| b.parse().ok()),
        limit: Some(50),
    };
    let mut page = Audit {
        c: &c,
        q: q.clone(),
        page: None,
        errors: FieldErrors::new(),
        next: None,
    };
    match s.app.search_audit(actor, &q).await {
        Ok(found) => {
            page.next = found.next_before.map(|before| {
                let mut keep: Vec<(String, String)> = pairs
                    .iter()
                    .filter(|(k, _)| k != "before" && k != "lang")
                    .cloned()
                    .collect();
                keep.push(("before".into(), before.to_string()));
                format!("/audit?{}", super::form::encode(&keep))
            });
            page.page = Some(found);
            ok(&page)
        }
        Err(AppError::Invalid(p)) => {
            page.errors = view::field_errors(&c, &p);
            Err(html(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(e) => Err(c.fail(e)),
    }
}
