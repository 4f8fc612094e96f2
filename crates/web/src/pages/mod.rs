//! The staff pages: server-rendered HTML in four languages, plain forms
//! that work without JavaScript (htmx only enhances them).
//!
//! Handlers only translate: a form becomes a use case's request, its answer
//! a template, its error a translated message beside the field. Who may do
//! what is decided by the use cases, as for the API; the navigation only
//! hides links the actor's permissions would refuse.
//!
//! A new page is a handler in one of these modules, a line in [`routes`]
//! and, if it belongs in the navigation, a line in [`NAV`].

// A page's `Err` is the response that answers the request (a redirect or
// an error page), made once and returned at once: boxing it buys nothing.
#![allow(clippy::result_large_err)]

mod accounts;
mod admin;
mod chart;
mod dashboard;
mod dedup;
mod form;
mod grievances;
mod household_changes;
mod payments;
mod programmes;
mod registry;
mod session;
mod view;

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, get, post};
use himaya_app::{Actor, AppError};
use himaya_domain::access::Permission;

use crate::AppState;
use crate::auth::{SESSION_COOKIE, cookie};
use crate::i18n::{self, LANG_COOKIE, Lang};
use crate::problem::ApiError;

pub(crate) use form::FormData;

/// Every page route: (method, path, handler).
pub(crate) fn routes() -> Vec<(Method, &'static str, MethodRouter<AppState>)> {
    vec![
        (Method::GET, "/", get(dashboard::show)),
        (Method::GET, "/sign-in", get(session::sign_in_form)),
        (Method::POST, "/sign-in", post(session::sign_in)),
        (Method::POST, "/sign-out", post(session::sign_out)),
        (Method::GET, "/password", get(session::password_form)),
        (Method::POST, "/password", post(session::change_password)),
        (Method::GET, "/registry", get(registry::search)),
        (Method::GET, "/households/new", get(registry::new_household_form)),
        (Method::POST, "/households/new", post(registry::register_household)),
        (Method::GET, "/households/{id}", get(registry::household)),
        (Method::GET, "/households/{id}/edit", get(registry::edit_household_form)),
        (Method::POST, "/households/{id}/edit", post(registry::update_household)),
        (
            Method::GET,
            "/households/{id}/members/new",
            get(registry::new_member_form),
        ),
        (Method::POST, "/households/{id}/members/new", post(registry::add_member)),
        (
            Method::GET,
            "/households/{id}/programmes/{code}",
            get(programmes::eligibility),
        ),
        (
            Method::POST,
            "/households/{id}/programmes/{code}/transitions",
            post(programmes::transition),
        ),
        (Method::GET, "/programmes", get(programmes::list)),
        (Method::GET, "/programmes/{code}", get(programmes::show)),
        (Method::POST, "/programmes/{code}/dry-run", post(programmes::dry_run)),
        (Method::POST, "/programmes/{code}/runs", post(programmes::run)),
        (Method::GET, "/cycles", get(payments::all_cycles)),
        (
            Method::GET,
            "/programmes/{code}/cycles",
            get(payments::programme_cycles),
        ),
        (Method::POST, "/programmes/{code}/cycles", post(payments::open)),
        (Method::GET, "/cycles/{id}", get(payments::cycle)),
        (Method::POST, "/cycles/{id}/compute", post(payments::compute)),
        (Method::POST, "/cycles/{id}/submit", post(payments::submit)),
        (Method::POST, "/cycles/{id}/approve", post(payments::approve)),
        (Method::POST, "/cycles/{id}/reject", post(payments::reject)),
        (Method::POST, "/cycles/{id}/cancel", post(payments::cancel)),
        (Method::POST, "/cycles/{id}/issue", post(payments::issue)),
        (Method::POST, "/cycles/{id}/expire", post(payments::expire)),
        (Method::POST, "/cycles/{id}/close", post(payments::close)),
        (Method::POST, "/cycles/{id}/reconcile", post(payments::reconcile)),
        (
            Method::GET,
            "/cycles/{id}/batches/{batch}/file",
            get(payments::batch_file),
        ),
        (Method::GET, "/cycles/{id}/report", get(payments::report)),
        (Method::GET, "/cycles/{id}/report.csv", get(payments::report_csv)),
        (Method::GET, "/households/{id}/changes", get(household_changes::show)),
        (
            Method::POST,
            "/households/{id}/changes/{step}",
            post(household_changes::step),
        ),
        (Method::GET, "/persons/{id}/edit", get(registry::edit_person_form)),
        (Method::POST, "/persons/{id}/edit", post(registry::update_person)),
        (Method::GET, "/persons/{id}/accounts", get(accounts::show)),
        (Method::POST, "/persons/{id}/accounts", post(accounts::add)),
        (Method::POST, "/persons/{id}/accounts/{account}", post(accounts::change)),
        (Method::GET, "/funding", get(payments::funding)),
        (Method::POST, "/funding", post(payments::set_funding)),
        (Method::GET, "/admin/users", get(admin::users)),
        (Method::POST, "/admin/users", post(admin::add_user)),
        (Method::GET, "/admin/users/{username}", get(admin::user)),
        (Method::POST, "/admin/users/{username}", post(admin::change_user)),
        (
            Method::POST,
            "/admin/users/{username}/tokens",
            post(admin::issue_user_token),
        ),
        (
            Method::POST,
            "/admin/users/{username}/tokens/{id}",
            post(admin::revoke_user_token),
        ),
        (Method::GET, "/admin/agencies", get(admin::agencies)),
        (Method::POST, "/admin/agencies", post(admin::add_agency)),
        (Method::GET, "/admin/agencies/{name}", get(admin::agency)),
        (Method::POST, "/admin/agencies/{name}", post(admin::change_agency)),
        (
            Method::POST,
            "/admin/agencies/{name}/tokens",
            post(admin::issue_agency_token),
        ),
        (
            Method::POST,
            "/admin/agencies/{name}/tokens/{id}",
            post(admin::revoke_agency_token),
        ),
        (Method::GET, "/audit", get(admin::audit)),
        (Method::GET, "/grievances", get(grievances::list)),
        (Method::GET, "/grievances/new", get(grievances::new_form)),
        (Method::POST, "/grievances/new", post(grievances::record)),
        (Method::GET, "/grievances/{id}", get(grievances::show)),
        (
            Method::POST,
            "/grievances/{id}/transitions",
            post(grievances::transition),
        ),
        (Method::GET, "/dedup", get(dedup::queue)),
        (Method::POST, "/dedup/runs", post(dedup::start_run)),
        (Method::GET, "/dedup/pairs/{pair}", get(dedup::pair)),
        (Method::POST, "/dedup/pairs/{pair}/decision", post(dedup::decide)),
        (Method::POST, "/dedup/pairs/{pair}/merge", post(dedup::merge)),
        (Method::GET, "/assets/{name}", get(crate::assets::serve)),
    ]
}

/// The page routes as (method, path), for tests.
pub fn page_table() -> Vec<(Method, &'static str)> {
    routes().into_iter().map(|(m, p, _)| (m, p)).collect()
}

/// One link of the navigation, shown to those holding its permission.
struct NavEntry {
    path: &'static str,
    key: &'static str,
    permission: Permission,
}

const NAV: &[NavEntry] = &[
    NavEntry {
        path: "/",
        key: "nav-dashboard",
        permission: Permission::HouseholdsRead,
    },
    NavEntry {
        path: "/registry",
        key: "nav-registry",
        permission: Permission::PersonsRead,
    },
    NavEntry {
        path: "/households/new",
        key: "nav-register",
        permission: Permission::HouseholdsWrite,
    },
    NavEntry {
        path: "/programmes",
        key: "nav-programmes",
        permission: Permission::ProgrammesRead,
    },
    NavEntry {
        path: "/cycles",
        key: "nav-payments",
        permission: Permission::PaymentsRead,
    },
    NavEntry {
        path: "/dedup",
        key: "nav-dedup",
        permission: Permission::DedupRead,
    },
    NavEntry {
        path: "/grievances",
        key: "nav-grievances",
        permission: Permission::GrievancesRead,
    },
    NavEntry {
        path: "/admin/users",
        key: "nav-users",
        permission: Permission::UsersManage,
    },
    NavEntry {
        path: "/admin/agencies",
        key: "nav-agencies",
        permission: Permission::UsersManage,
    },
    NavEntry {
        path: "/audit",
        key: "nav-audit",
        permission: Permission::AuditRead,
    },
];

pub(crate) struct NavLink {
    pub href: &'static str,
    pub label: String,
    pub current: bool,
}

pub(crate) struct LangLink {
    pub code: &'static str,
    pub name: &'static str,
    pub href: String,
    pub current: bool,
}

/// What every page knows about its request: the reader's language, who is
/// signed in (by the session cookie; pages take no bearer tokens), and
/// where the page is, for the language links and the return after sign-in.
pub(crate) struct Ctx {
    pub lang: Lang,
    pub actor: Option<Actor>,
    pub state: AppState,
    /// The path and query, without `lang`.
    pub here: String,
    path: String,
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let pairs: Vec<(String, String)> = form::parse_urlencoded(query.as_bytes());
        let asked = pairs.iter().find(|(k, _)| k == "lang").map(|(_, v)| v.as_str());
        let actor = match cookie(&parts.headers, SESSION_COOKIE) {
            Some(secret) => state.app.session_actor(&secret).await.ok(),
            None => None,
        };
        let accept = parts.headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
        let kept = cookie(&parts.headers, LANG_COOKIE);
        let account = actor.as_ref().and_then(Actor::language);
        let lang = i18n::negotiate(asked, kept.as_deref(), account, accept);
        // A signed-in user's choice is kept with their account, for their
        // next sign-in on any device.
        if let (Some(a), Some(chosen)) = (&actor, asked.and_then(Lang::from_tag))
            && a.language() != Some(chosen.code())
            && let Err(e) = state.app.set_language(a, chosen.code()).await
        {
            tracing::warn!(error = %e, "the chosen language could not be kept");
        }
        let rest: Vec<(String, String)> = pairs.into_iter().filter(|(k, _)| k != "lang").collect();
        let path = parts.uri.path().to_owned();
        let here = if rest.is_empty() {
            path.clone()
        } else {
            format!("{path}?{}", form::encode(&rest))
        };
        Ok(Ctx {
            lang,
            actor,
            state: state.clone(),
            here,
            path,
        })
    }
}

impl Ctx {
    /// A message in the reader's language.
    pub fn t(&self, key: &str) -> String {
        i18n::message(self.lang, key, &[])
    }

    /// A message with one argument.
    pub fn t1(&self, key: &str, name: &str, value: impl std::fmt::Display) -> String {
        i18n::message(self.lang, key, &[(name, value.to_string())])
    }

    pub fn lang_code(&self) -> &'static str {
        self.lang.code()
    }

    pub fn dir(&self) -> &'static str {
        self.lang.dir()
    }

    pub fn num(&self, n: &i64) -> String {
        i18n::number(self.lang, *n)
    }

    pub fn count(&self, n: &u64) -> String {
        i18n::number(self.lang, i64::try_from(*n).unwrap_or(i64::MAX))
    }

    pub fn digits(&self, n: &i64) -> String {
        i18n::digits(self.lang, *n)
    }

    pub fn money(&self, minor: &i64) -> String {
        let d = self.state.app.deployment();
        i18n::money(self.lang, *minor, d.currency_exponent(), &d.currency)
    }

    pub fn when(&self, t: &chrono::DateTime<chrono::Utc>) -> String {
        i18n::date_time(self.lang, *t)
    }

    /// The day (UTC) of a moment, as the reader writes dates.
    pub fn day(&self, t: &chrono::DateTime<chrono::Utc>) -> String {
        i18n::date(self.lang, t.date_naive())
    }

    pub fn born(&self, d: &himaya_domain::date::PartialDate) -> String {
        i18n::partial_date(self.lang, *d)
    }

    /// A decimal number given as text, in the reader's digits.
    pub fn dec(&self, text: &str) -> String {
        i18n::decimal(self.lang, text)
    }

    /// A number rounded to `places` decimals, in the reader's digits.
    pub fn fixed(&self, v: &f64, places: usize) -> String {
        i18n::decimal(self.lang, &format!("{v:.places$}"))
    }

    /// An attribute's label by its name.
    pub fn attribute(&self, name: &str) -> String {
        view::field_label(self, &format!("attributes.{name}"))
    }

    pub fn asset(&self, name: &str) -> String {
        crate::assets::url(name)
    }

    pub fn signed_in(&self) -> bool {
        self.actor.is_some()
    }

    pub fn user_name(&self) -> &str {
        self.actor.as_ref().map_or("", |a| a.name.as_str())
    }

    pub fn csrf(&self) -> &str {
        self.actor.as_ref().and_then(Actor::csrf_token).unwrap_or_default()
    }

    pub fn may(&self, permission: Permission) -> bool {
        self.actor
            .as_ref()
            .is_some_and(|a| !a.must_change_password() && a.permissions().allows(permission))
    }

    pub fn nav(&self) -> Vec<NavLink> {
        NAV.iter()
            .filter(|n| self.may(n.permission))
            .map(|n| NavLink {
                href: n.path,
                label: self.t(n.key),
                current: self.path == n.path,
            })
            .collect()
    }

    pub fn languages(&self) -> Vec<LangLink> {
        let sep = if self.here.contains('?') { '&' } else { '?' };
        Lang::ALL
            .iter()
            .map(|l| LangLink {
                code: l.code(),
                name: l.autonym(),
                href: format!("{}{sep}lang={}", self.here, l.code()),
                current: *l == self.lang,
            })
            .collect()
    }

    /// The signed-in actor, or a redirect to sign in and come back (or,
    /// with a one-time password, to change it: nothing else comes first).
    pub fn actor(&self) -> Result<&Actor, Response> {
        match &self.actor {
            Some(a) if a.must_change_password() && self.path != "/password" => {
                Err(Redirect::to("/password").into_response())
            }
            Some(a) => Ok(a),
            None => Err(self.to_sign_in()),
        }
    }

    fn to_sign_in(&self) -> Response {
        let next = if self.path == "/" || self.path == "/sign-in" {
            String::new()
        } else {
            format!("?next={}", form::encode_component(&self.here))
        };
        Redirect::to(&format!("/sign-in{next}")).into_response()
    }

    /// The page for an error of a use case: sign-in or the password form
    /// where those are the way on, otherwise the error in the reader's words.
    pub fn fail(&self, e: AppError) -> Response {
        let problem = ApiError::from(e);
        match problem.code {
            "unauthenticated" | "session-expired" | "invalid-token" => return self.to_sign_in(),
            "password-change-required" => return Redirect::to("/password").into_response(),
            _ => {}
        }
        let fields = problem
            .errors
            .iter()
            .map(|e| (e.field.clone(), view::field_error(self, e.code)))
            .collect();
        let page = ErrorPage {
            c: self,
            title: self.t(&format!("problem-{}", problem.code)),
            detail: (problem.code == "internal").then(|| problem.detail.clone()),
            fields,
        };
        html(problem.status, &page)
    }

    /// A page with this status and no more to say than its title.
    pub fn status_page(&self, status: StatusCode, key: &str) -> Response {
        let page = ErrorPage {
            c: self,
            title: self.t(key),
            detail: None,
            fields: Vec::new(),
        };
        html(status, &page)
    }

    /// Refuses a form posted without this session's CSRF token.
    pub fn check_csrf(&self, form: &FormData) -> Result<(), Response> {
        let expected = self.csrf();
        let given = form.get("csrf").unwrap_or_default();
        if !expected.is_empty() && crate::auth::constant_time_eq(given.as_bytes(), expected.as_bytes()) {
            Ok(())
        } else {
            Err(self.status_page(StatusCode::FORBIDDEN, "problem-csrf-failed"))
        }
    }
}

/// `result.or_page(&ctx)?`: a use case's error becomes its page.
pub(crate) trait OrPage<T> {
    fn or_page(self, ctx: &Ctx) -> Result<T, Response>;
}

impl<T> OrPage<T> for Result<T, AppError> {
    fn or_page(self, ctx: &Ctx) -> Result<T, Response> {
        self.map_err(|e| ctx.fail(e))
    }
}

pub(crate) type PageResult = Result<Response, Response>;

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    c: &'a Ctx,
    title: String,
    detail: Option<String>,
    fields: Vec<(String, String)>,
}

/// A rendered template with its status.
pub(crate) fn html(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            )],
            body,
        )
            .into_response(),
        Err(e) => {
            let incident = uuid::Uuid::now_v7();
            tracing::error!(%incident, error = %e, "page template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("internal error; incident {incident}"),
            )
                .into_response()
        }
    }
}

pub(crate) fn ok(page: &impl Template) -> PageResult {
    Ok(html(StatusCode::OK, page))
}

/// After a successful form: see the result (303, so a reload does not post again).
pub(crate) fn see(path: &str) -> PageResult {
    Ok(Redirect::to(path).into_response())
}

/// Field errors by field path, in the reader's language.
pub(crate) type FieldErrors = BTreeMap<String, String>;

/// Page headers: pages may run only our own scripts and styles, load only
/// our own fonts, post only to us, and never be framed; a page is never
/// cached (it carries personal data). `?lang=` is remembered in a cookie.
pub(crate) async fn page_headers(request: Request, next: axum::middleware::Next) -> Response {
    let chosen = request.uri().query().and_then(|q| {
        form::parse_urlencoded(q.as_bytes())
            .into_iter()
            .find(|(k, _)| k == "lang")
            .and_then(|(_, v)| Lang::from_tag(&v))
    });
    let is_asset = request.uri().path().starts_with("/assets/");
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    if !is_asset {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if let Some(v) = chosen.and_then(lang_cookie) {
        h.append(header::SET_COOKIE, v);
    }
    response
}

/// The cookie that keeps a choice of language on this browser.
pub(crate) fn lang_cookie(lang: Lang) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax",
        lang.code()
    ))
    .ok()
}
