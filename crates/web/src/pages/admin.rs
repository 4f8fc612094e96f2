//! Administration: staff accounts (added, their roles and areas changed,
//! disabled and enabled, personal API tokens issued and revoked), partner
//! agencies (registered with their first token, further tokens, access
//! withdrawn), and the audit trail for auditors. Every step is a use case,
//! which authorises and audits it; a refusal is shown beside its field, or
//! beside the account, agency or token it concerns, and changes nothing.
//!
//! A secret (a one-time password, a token) is shown once: in the answer to
//! the form that made it, never after a redirect, never in a URL, and the
//! answer is not stored by the browser. Only its hash is kept, so it cannot
//! be shown again.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use himaya_app::{
    AgencyRow, AgencySettings, AppError, AuditPage, AuditQuery, DEFAULT_TOKEN_DAYS, IssuedToken, NewAgency, NewUser,
    TokenView, UserView,
};
use himaya_domain::Problem;
use himaya_domain::access::{AGENCY_PERMISSIONS, HOUSEHOLD_FIELDS, PERSON_FIELDS, Role};

use super::form::parse_urlencoded;
use super::registry::{AreaChoice, area_choices};
use super::{Ctx, FieldErrors, FormData, OrPage, PageResult, html, ok, see, view};
use crate::AppState;

/// The requests a new agency may make a minute unless told otherwise.
const DEFAULT_RATE_LIMIT: u32 = 600;

/// A secret just made, shown only in this answer.
pub(crate) struct Issued {
    pub title: String,
    /// What the secret is: a one-time password, or a token.
    pub label: String,
    pub secret: String,
    pub note: String,
    /// A bearer token's id (to find it in the list and revoke it); none
    /// for a password.
    pub token_id: Option<String>,
}

impl Issued {
    fn password(c: &Ctx, username: &str, password: String) -> Issued {
        Issued {
            title: c.t1("issued-account-title", "name", username),
            label: c.t("issued-one-time-password"),
            secret: password,
            note: c.t1("issued-one-time-note", "name", username),
            token_id: None,
        }
    }

    fn token(c: &Ctx, title: String, token: IssuedToken) -> Issued {
        Issued {
            title,
            label: c.t("issued-token"),
            secret: token.secret,
            note: c.t1("issued-token-note", "time", c.when(&token.expires_at)),
            token_id: Some(token.id),
        }
    }
}

/// A page that shows a secret: 200 with the page itself (a redirect would
/// need the secret in its URL or kept somewhere), and never stored.
fn secret_page(page: &impl Template) -> PageResult {
    let mut response = html(StatusCode::OK, page);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// A step refused on one row (an account, an agency): its fields'
/// errors, or the step's refusal, and the days typed for a token.
#[derive(Default)]
struct RowRefusal {
    row: String,
    errors: FieldErrors,
    refused: Option<String>,
    days: Option<String>,
}

/// The refused step of a list's page, if any, read row by row.
#[derive(Default)]
struct Refusals(Option<RowRefusal>);

impl Refusals {
    fn on(&self, row: &str) -> Option<&RowRefusal> {
        self.0.as_ref().filter(|r| r.row == row)
    }

    fn err(&self, row: &str, field: &str) -> Option<&String> {
        self.on(row).and_then(|r| r.errors.get(field))
    }

    fn refused_at(&self, row: &str) -> Option<&String> {
        self.on(row).and_then(|r| r.refused.as_ref())
    }

    /// The days typed for a token on the row, or the default.
    fn days(&self, row: &str) -> String {
        self.on(row)
            .and_then(|r| r.days.clone())
            .unwrap_or_else(|| DEFAULT_TOKEN_DAYS.to_string())
    }
}

/// How a refused change reads on its row, and the status it answers with;
/// any other error is the use case's page.
fn refuse_row(c: &Ctx, row: &str, e: AppError) -> Result<(StatusCode, RowRefusal), Response> {
    let mut refusal = RowRefusal {
        row: row.to_owned(),
        ..RowRefusal::default()
    };
    match e {
        AppError::Invalid(p) => {
            refusal.errors = view::field_errors(c, &p);
            Ok((StatusCode::UNPROCESSABLE_ENTITY, refusal))
        }
        e @ AppError::Conflict { .. } => {
            let code = crate::ApiError::from(e).code;
            refusal.refused = Some(view::problem(c, code, "problem-validation-failed"));
            Ok((StatusCode::CONFLICT, refusal))
        }
        e => Err(c.fail(e)),
    }
}

/// Which of a done step's notices to show (`?done=...`).
fn notice(c: &Ctx, raw: Option<String>, known: &[&str], prefix: &str) -> Option<String> {
    parse_urlencoded(raw.unwrap_or_default().as_bytes())
        .into_iter()
        .find(|(k, _)| k == "done")
        .filter(|(_, v)| known.contains(&v.as_str()))
        .map(|(_, v)| c.t(&format!("notice-{prefix}-{v}")))
}

// ---------------------------------------------------------------- accounts

/// The form that adds an account, as typed (never the password).
#[derive(Default)]
struct UserForm {
    username: String,
    roles: Vec<String>,
    areas: Vec<String>,
}

#[derive(Template)]
#[template(path = "users.html")]
struct Users<'a> {
    c: &'a Ctx,
    users: Vec<UserView>,
    /// The accounts' personal tokens (not the agencies').
    tokens: Vec<TokenView>,
    roles: Vec<(&'static str, String)>,
    areas: Vec<AreaChoice>,
    form: UserForm,
    errors: FieldErrors,
    row: Refusals,
    notice: Option<String>,
    issued: Option<Issued>,
}

impl Users<'_> {
    fn err(&self, field: &str) -> Option<&String> {
        self.errors.get(field)
    }

    /// Whether the add form has this role ticked.
    fn ticked(&self, role: &str) -> bool {
        self.form.roles.iter().any(|r| r == role)
    }

    /// Whether the add form has this area chosen.
    fn chosen(&self, area: &str) -> bool {
        self.form.areas.iter().any(|a| a == area)
    }
}

async fn users_page<'a>(s: &AppState, c: &'a Ctx) -> Result<Users<'a>, Response> {
    let actor = c.actor()?;
    let users = s.app.users(actor).await.or_page(c)?;
    let tokens = s
        .app
        .tokens(actor, None)
        .await
        .or_page(c)?
        .into_iter()
        .filter(|t| !t.owner.starts_with("agency:"))
        .collect();
    Ok(Users {
        c,
        users,
        tokens,
        roles: Role::ALL
            .iter()
            .map(|r| (r.code(), view::vocab(c, "role", r.code())))
            .collect(),
        areas: area_choices(c),
        form: UserForm::default(),
        errors: FieldErrors::new(),
        row: Refusals::default(),
        notice: None,
        issued: None,
    })
}

pub(crate) async fn users(State(s): State<AppState>, c: Ctx, RawQuery(raw): RawQuery) -> PageResult {
    let mut page = users_page(&s, &c).await?;
    page.notice = notice(&c, raw, &["added", "changed", "disabled", "enabled", "revoked"], "user");
    ok(&page)
}

/// Adds an account. Without a password, the one-time password it gets is
/// shown on the answer, once.
pub(crate) async fn add_user(State(s): State<AppState>, c: Ctx, form: FormData) -> PageResult {
    let actor = c.actor()?;
    c.check_csrf(&form)?;
    let typed = UserForm {
        username: form.text("username").unwrap_or_default(),
        roles: form.all("role"),
        areas: form.all("area"),
    };
    let new = NewUser {
        username: typed.username.clone(),
        roles: typed.roles.clone(),
        areas: typed.areas.clone(),
        // Typed as it is: spaces may be part of a pass phrase.
        password: form.get("password").filter(|p| !p.is_empty()).map(str::to_owned),
    };
    match s.app.add_user(actor, new).await {
        Ok((user, Some(password))) => {
            let mut page = users_page(&s, &c).await?;
            page.issued = Some(Issued::password(&c, &user.username, password));
            secret_page(&page)
        }
        Ok((_, None)) => see("/admin/users?done=added"),
        Err(AppError::Invalid(problem)) => {
            let mut page = users_page(&s, &c).await?;
            page.form = typed;
            page.errors = view::field_errors(&c, &problem);
            Err(html(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(e) => Err(c.fail(e)),
    }
}

/// One account's page: its roles and areas to change. (Each account on
/// the list carrying the form, with every area, would make the list of a
/// national registry's staff too heavy to load.)
#[derive(Template)]
#[template(path = "user.html")]
struct Account<'a> {
    c: &'a Ctx,
    user: UserView,
    roles: Vec<(&'static str, String)>,
    areas: Vec<AreaChoice>,
    /// The roles and areas the form shows: as held, or as posted when refused.
    ticked: Vec<String>,
    chosen: Vec<String>,
    errors: FieldErrors,
    refused: Option<String>,
}

impl Account<'_> {
    fn err(&self, field: &str) -> Option<&String> {
        self.errors.get(field)
    }

    fn ticked(&self, role: &str) -> bool {
        self.ticked.iter().any(|r| r == role)
    }

    fn chosen(&self, area: &str) -> bool {
        self.chosen.iter().any(|a| a == area)
    }
}

async fn account_page<'a>(s: &AppState, c: &'a Ctx, username: &str) -> Result<Account<'a>, Response> {
    let actor = c.actor()?;
    let wanted = username.trim().to_lowercase();
    let user = s
        .app
        .users(actor)
        .await
        .or_page(c)?
        .into_iter()
        .find(|u| u.username == wanted)
        .ok_or_else(|| c.status_page(StatusCode::NOT_FOUND, "problem-not-found"))?;
    Ok(Account {
        c,
        roles: Role::ALL
            .iter()
            .map(|r| (r.code(), view::vocab(c, "role", r.code())))
            .collect(),
        areas: area_choices(c),
        ticked: user.roles.clone(),
        chosen: user.areas.clone(),
        user,
        errors: FieldErrors::new(),
        refused: None,
    })
}

pub(crate) async fn user(State(s): State<AppState>, c: Ctx, Path(username): Path<String>) -> PageResult {
    ok(&account_page(&s, &c, &username).await?)
}

/// Changes an account: its roles and areas (from its page), or disables or
/// enables it (from the list).
pub(crate) async fn change_user(
    State(s): State<AppState>,
    c: Ctx,
    Path(username): Path<String>,
    form: FormData,
) -> PageResult {
    let actor = c.actor()?;
    c.check_csrf(&form)?;
    let done = match form.get("change") {
        Some("roles") => return change_roles(&s, &c, &username, &form).await,
        Some("disable") => s
            .app
            .set_user_disabled(actor, &username, true)
            .await
            .map(|_| "disabled"),
        Some("enable") => s
            .app
            .set_user_disabled(actor, &username, false)
            .await
            .map(|_| "enabled"),
        _ => return Err(c.status_page(StatusCode::UNPROCESSABLE_ENTITY, "problem-validation-failed")),
    };
    match done {
        Ok(done) => see(&format!("/admin/users?done={done}")),
        Err(e) => {
            let (status, refusal) = refuse_row(&c, &username, e)?;
            let mut page = users_page(&s, &c).await?;
            page.row = Refusals(Some(refusal));
            Err(html(status, &page))
        }
    }
}

/// Replaces an account's roles and areas; refused, its page shows why
/// beside the field (or the step's refusal) with the form as posted.
async fn change_roles(s: &AppState, c: &Ctx, username: &str, form: &FormData) -> PageResult {
    let actor = c.actor()?;
    let (roles, areas) = (form.all("role"), form.all("area"));
    match s.app.set_user_roles(actor, username, &roles, &areas).await {
        Ok(_) => see("/admin/users?done=changed"),
        Err(e) => {
            let (status, refusal) = refuse_row(c, username, e)?;
            let mut page = account_page(s, c, username).await?;
            page.ticked = roles;
            page.chosen = areas;
            page.errors = refusal.errors;
            page.refused = refusal.refused;
            Err(html(status, &page))
        }
    }
}

/// Issues a personal token for an account, shown on the answer, once.
pub(crate) async fn issue_user_token(
    State(s): State<AppState>,
    c: Ctx,
    Path(username): Path<String>,
    form: FormData,
) -> PageResult {
    let actor = c.actor()?;
    c.check_csrf(&form)?;
    let issued = match token_days(&form) {
        Ok(days) => s.app.create_user_token(actor, &username, days).await,
        Err(e) => Err(e),
    };
    match issued {
        Ok(token) => {
            let mut page = users_page(&s, &c).await?;
            let title = c.t1("issued-token-title", "name", username.trim().to_lowercase());
            page.issued = Some(Issued::token(&c, title, token));
            secret_page(&page)
        }
        Err(e) => {
            let (status, mut refusal) = refuse_row(&c, &username, e)?;
            refusal.days = Some(form.get("expires_days").unwrap_or_default().to_owned());
            let mut page = users_page(&s, &c).await?;
            page.row = Refusals(Some(refusal));
            Err(html(status, &page))
        }
    }
}

/// Revokes one of an account's tokens (or an agency's, from its page):
/// the token must be the owner's whose page it is revoked from.
async fn revoke(s: &AppState, c: &Ctx, owner: &str, id: &str, form: &FormData) -> Result<(), Response> {
    let actor = c.actor()?;
    c.check_csrf(form)?;
    let theirs = s.app.tokens(actor, Some(owner)).await.or_page(c)?;
    let Some(token) = theirs.iter().find(|t| t.id == id) else {
        return Err(c.status_page(StatusCode::NOT_FOUND, "problem-not-found"));
    };
    // Revoked already (a second press of the button): it stays revoked.
    if token.revoked_at.is_none() {
        s.app.revoke_token(actor, id).await.or_page(c)?;
    }
    Ok(())
}

pub(crate) async fn revoke_user_token(
    State(s): State<AppState>,
    c: Ctx,
    Path((username, id)): Path<(String, String)>,
    form: FormData,
) -> PageResult {
    revoke(&s, &c, &username, &id, &form).await?;
    see("/admin/users?done=revoked")
}

/// A number of days or requests as typed, in any of the reader's digits.
fn whole_number(text: &str) -> Option<u32> {
    himaya_domain::digits::to_ascii_digits(text.trim()).parse().ok()
}

/// A whole number from a field, the default when it is left empty.
fn number_field(form: &FormData, field: &str, default: u32) -> Result<u32, AppError> {
    match form.text(field) {
        None => Ok(default),
        Some(t) => whole_number(&t)
            .ok_or_else(|| AppError::Invalid(Problem::single(field, "invalid-type", "give a whole number"))),
    }
}

/// The days a token is to live.
fn token_days(form: &FormData) -> Result<u32, AppError> {
    number_field(form, "expires_days", DEFAULT_TOKEN_DAYS)
}

// ---------------------------------------------------------------- agencies

/// The form that registers an agency, as typed.
struct AgencyForm {
    name: String,
    scopes: Vec<String>,
    fields: Vec<String>,
    areas: Vec<String>,
    rate_limit: String,
    expires_days: String,
}

impl AgencyForm {
    fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    fn shows(&self, field: &str) -> bool {
        self.fields.iter().any(|f| f == field)
    }

    fn chosen(&self, area: &str) -> bool {
        self.areas.iter().any(|a| a == area)
    }
}

impl Default for AgencyForm {
    fn default() -> Self {
        AgencyForm {
            name: String::new(),
            scopes: Vec::new(),
            fields: Vec::new(),
            areas: Vec::new(),
            rate_limit: DEFAULT_RATE_LIMIT.to_string(),
            expires_days: DEFAULT_TOKEN_DAYS.to_string(),
        }
    }
}

/// A group of the fields an agency may be shown: its legend, and each
/// field's entry (`person.given_name`), the id of its box and its label.
struct FieldGroup {
    legend: String,
    fields: Vec<(String, String, String)>,
    /// The labels are the deployment's (its characteristics), not our messages.
    deployment_labels: bool,
}

#[derive(Template)]
#[template(path = "agencies.html")]
struct Agencies<'a> {
    c: &'a Ctx,
    agencies: Vec<AgencyRow>,
    /// The agencies' tokens (not the accounts').
    tokens: Vec<TokenView>,
    /// The scopes an agency may hold: code, the id of its box, label.
    scopes: Vec<(&'static str, String, String)>,
    field_groups: Vec<FieldGroup>,
    areas: Vec<AreaChoice>,
    form: AgencyForm,
    errors: FieldErrors,
    row: Refusals,
    notice: Option<String>,
    issued: Option<Issued>,
}

impl Agencies<'_> {
    fn err(&self, field: &str) -> Option<&String> {
        self.errors.get(field)
    }

    /// An agency token's holder: the agency's name.
    fn holder<'t>(&self, t: &'t TokenView) -> &'t str {
        t.owner.strip_prefix("agency:").unwrap_or(&t.owner)
    }
}

fn field_groups(c: &Ctx) -> Vec<FieldGroup> {
    let entry = |group: &str, name: &str, label: String| {
        let entry = format!("{group}.{name}");
        let id = format!("shown-{}", entry.replace(['.', '*'], "-"));
        (entry, id, label)
    };
    let attributes = c
        .state
        .app
        .deployment()
        .household_attributes
        .defs()
        .iter()
        .map(|d| entry("household.attributes", &d.name, view::attribute_label(c, d)))
        .collect();
    vec![
        FieldGroup {
            legend: c.t("agency-fields-person"),
            fields: PERSON_FIELDS
                .iter()
                .map(|f| entry("person", f, view::field_label(c, f)))
                .collect(),
            deployment_labels: false,
        },
        FieldGroup {
            legend: c.t("agency-fields-household"),
            fields: HOUSEHOLD_FIELDS
                .iter()
                .map(|f| entry("household", f, view::field_label(c, f)))
                .collect(),
            deployment_labels: false,
        },
        FieldGroup {
            legend: c.t("agency-fields-attributes"),
            fields: attributes,
            deployment_labels: true,
        },
        FieldGroup {
            legend: c.t("agency-fields-enrolments"),
            fields: vec![entry("programme", "*", c.t("agency-fields-every-programme"))],
            deployment_labels: false,
        },
    ]
}

async fn agencies_page<'a>(s: &AppState, c: &'a Ctx) -> Result<Agencies<'a>, Response> {
    let actor = c.actor()?;
    let agencies = s.app.agencies(actor).await.or_page(c)?;
    let tokens = s
        .app
        .tokens(actor, None)
        .await
        .or_page(c)?
        .into_iter()
        .filter(|t| t.owner.starts_with("agency:"))
        .collect();
    Ok(Agencies {
        c,
        agencies,
        tokens,
        scopes: scope_choices(c),
        field_groups: field_groups(c),
        areas: area_choices(c),
        form: AgencyForm::default(),
        errors: FieldErrors::new(),
        row: Refusals::default(),
        notice: None,
        issued: None,
    })
}

pub(crate) async fn agencies(State(s): State<AppState>, c: Ctx, RawQuery(raw): RawQuery) -> PageResult {
    let mut page = agencies_page(&s, &c).await?;
    page.notice = notice(&c, raw, &["disabled", "revoked", "updated"], "agency");
    ok(&page)
}

/// Registers an agency; its first token is shown on the answer, once.
pub(crate) async fn add_agency(State(s): State<AppState>, c: Ctx, form: FormData) -> PageResult {
    let actor = c.actor()?;
    c.check_csrf(&form)?;
    let typed = AgencyForm {
        name: form.text("name").unwrap_or_default(),
        scopes: form.all("scope"),
        fields: form.all("field"),
        areas: form.all("area"),
        rate_limit: form.get("rate_limit").unwrap_or_default().to_owned(),
        expires_days: form.get("expires_days").unwrap_or_default().to_owned(),
    };
    let numbers = number_field(&form, "rate_limit", DEFAULT_RATE_LIMIT).and_then(|rate| Ok((rate, token_days(&form)?)));
    let added = match numbers {
        Ok((rate_limit, expires_days)) => {
            let new = NewAgency {
                name: typed.name.clone(),
                scopes: typed.scopes.clone(),
                fields: typed.fields.clone(),
                areas: typed.areas.clone(),
                rate_limit,
                expires_days,
            };
            s.app.add_agency(actor, new).await
        }
        Err(e) => Err(e),
    };
    match added {
        Ok(token) => {
            let mut page = agencies_page(&s, &c).await?;
            let title = c.t1("issued-agency-title", "name", typed.name.to_lowercase());
            page.issued = Some(Issued::token(&c, title, token));
            secret_page(&page)
        }
        Err(AppError::Invalid(problem)) => {
            let mut page = agencies_page(&s, &c).await?;
            page.form = typed;
            page.errors = view::field_errors(&c, &problem);
            Err(html(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(e) => Err(c.fail(e)),
    }
}

/// An agency's own page: what it may do and see, to change.
#[derive(Template)]
#[template(path = "agency.html")]
struct AgencyPage<'a> {
    c: &'a Ctx,
    agency: AgencyRow,
    scopes: Vec<(&'static str, String, String)>,
    field_groups: Vec<FieldGroup>,
    areas: Vec<AreaChoice>,
    form: AgencyForm,
    errors: FieldErrors,
}

impl AgencyPage<'_> {
    fn err(&self, field: &str) -> Option<&String> {
        self.errors.get(field)
    }
}

fn scope_choices(c: &Ctx) -> Vec<(&'static str, String, String)> {
    AGENCY_PERMISSIONS
        .iter()
        .map(|p| {
            let id = format!("scope-{}", p.code().replace('.', "-"));
            (p.code(), id, view::vocab(c, "permission", p.code()))
        })
        .collect()
}

async fn agency_page<'a>(s: &AppState, c: &'a Ctx, name: &str) -> Result<AgencyPage<'a>, Response> {
    let actor = c.actor()?;
    let wanted = name.trim().to_lowercase();
    let Some(agency) = s
        .app
        .agencies(actor)
        .await
        .or_page(c)?
        .into_iter()
        .find(|a| a.name == wanted)
    else {
        return Err(c.status_page(StatusCode::NOT_FOUND, "field-error-not-found"));
    };
    let form = AgencyForm {
        name: agency.name.clone(),
        scopes: agency.scopes.clone(),
        fields: agency.fields.clone(),
        areas: agency.areas.clone(),
        rate_limit: agency.rate_limit.to_string(),
        expires_days: String::new(),
    };
    Ok(AgencyPage {
        c,
        agency,
        scopes: scope_choices(c),
        field_groups: field_groups(c),
        areas: area_choices(c),
        form,
        errors: FieldErrors::new(),
    })
}

pub(crate) async fn agency(State(s): State<AppState>, c: Ctx, Path(name): Path<String>) -> PageResult {
    ok(&agency_page(&s, &c, &name).await?)
}

/// Changes an agency: its settings (from its page), withdraws its access,
/// or gives a withdrawn one its access back with a new token (from the list).
pub(crate) async fn change_agency(
    State(s): State<AppState>,
    c: Ctx,
    Path(name): Path<String>,
    form: FormData,
) -> PageResult {
    let actor = c.actor()?;
    c.check_csrf(&form)?;
    match form.get("change") {
        Some("disable") => {
            s.app.disable_agency(actor, &name).await.or_page(&c)?;
            see("/admin/agencies?done=disabled")
        }
        Some("settings") => change_agency_settings(&s, &c, &name, &form).await,
        Some("restore") => {
            let restored = match token_days(&form) {
                Ok(days) => s.app.restore_agency(actor, &name, days).await,
                Err(e) => Err(e),
            };
            match restored {
                Ok(token) => {
                    let mut page = agencies_page(&s, &c).await?;
                    let title = c.t1("issued-agency-restored", "name", name.trim().to_lowercase());
                    page.issued = Some(Issued::token(&c, title, token));
                    secret_page(&page)
                }
                Err(e) => {
                    let (status, mut refusal) = refuse_row(&c, name.trim(), e)?;
                    refusal.days = Some(form.get("expires_days").unwrap_or_default().to_owned());
                    let mut page = agencies_page(&s, &c).await?;
                    page.row = Refusals(Some(refusal));
                    Err(html(status, &page))
                }
            }
        }
        _ => Err(c.status_page(StatusCode::UNPROCESSABLE_ENTITY, "problem-validation-failed")),
    }
}

async fn change_agency_settings(s: &AppState, c: &Ctx, name: &str, form: &FormData) -> PageResult {
    let actor = c.actor()?;
    let mut page = agency_page(s, c, name).await?;
    let typed = AgencyForm {
        name: page.agency.name.clone(),
        scopes: form.all("scope"),
        fields: form.all("field"),
        areas: form.all("area"),
        rate_limit: form.get("rate_limit").unwrap_or_default().to_owned(),
        expires_days: String::new(),
    };
    let changed = match number_field(form, "rate_limit", DEFAULT_RATE_LIMIT) {
        Ok(rate_limit) => {
            let settings = AgencySettings {
                scopes: typed.scopes.clone(),
                fields: typed.fields.clone(),
                areas: typed.areas.clone(),
                rate_limit,
            };
            s.app.update_agency(actor, name, settings).await
        }
        Err(e) => Err(e),
    };
    match changed {
        Ok(_) => see("/admin/agencies?done=updated"),
        Err(AppError::Invalid(problem)) => {
            page.form = typed;
            page.errors = view::field_errors(c, &problem);
            Err(html(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(e) => Err(c.fail(e)),
    }
}

/// Issues a further token for an agency, shown on the answer, once.
pub(crate) async fn issue_agency_token(
    State(s): State<AppState>,
    c: Ctx,
    Path(name): Path<String>,
    form: FormData,
) -> PageResult {
    let actor = c.actor()?;
    c.check_csrf(&form)?;
    let issued = match token_days(&form) {
        Ok(days) => s.app.create_agency_token(actor, &name, days).await,
        Err(e) => Err(e),
    };
    match issued {
        Ok(token) => {
            let mut page = agencies_page(&s, &c).await?;
            let title = c.t1("issued-token-title", "name", name.trim().to_lowercase());
            page.issued = Some(Issued::token(&c, title, token));
            secret_page(&page)
        }
        Err(e) => {
            let (status, mut refusal) = refuse_row(&c, &name, e)?;
            refusal.days = Some(form.get("expires_days").unwrap_or_default().to_owned());
            let mut page = agencies_page(&s, &c).await?;
            page.row = Refusals(Some(refusal));
            Err(html(status, &page))
        }
    }
}

pub(crate) async fn revoke_agency_token(
    State(s): State<AppState>,
    c: Ctx,
    Path((name, id)): Path<(String, String)>,
    form: FormData,
) -> PageResult {
    revoke(&s, &c, &format!("agency:{name}"), &id, &form).await?;
    see("/admin/agencies?done=revoked")
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
