//! Payment cycles for payment officers and approvers: the cycles of every
//! programme or of one, with their totals; a cycle's plan, its totals by
//! status and whether they balance, who moved it when; the steps it is
//! ready for (compute, submit, approve or reject, issue, reconcile a
//! provider's status file, close) as plain forms; its payment files; and
//! the funding lines cycles draw on.
//!
//! The use cases decide who may take a step (an approver never approves
//! their own submission): a refusal is shown beside the step, in the
//! reader's words, and changes nothing.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use himaya_app::{
    AppError, BatchRow, ComputeReport, CycleBreakdown, CycleEventRow, CycleView, ExpiryReport, FundingLineRow,
    IssueOutcome, OpenCycle, ReconcileReport, ReconciliationError,
};
use himaya_domain::access::Permission;
use himaya_domain::payment::{CyclePlan, CycleStatus, CycleTotals, Tally};

use super::form::{Upload, UploadError};
use super::{Ctx, FieldErrors, FormData, OrPage, PageResult, html, ok, see, view};
use crate::AppState;
use crate::i18n;

/// The status files read without naming a provider.
const FORMATS: &str = "pain.002, camt.054";

/// Reconciliation errors listed on a cycle's page (the API lists them all).
const ERRORS_SHOWN: usize = 50;

/// An amount in the deployment's currency as typed (`13500`, `13,500.50`,
/// in any digits) in minor units; `None` if it is not one.
fn parse_money(text: &str, exponent: u32) -> Option<i64> {
    let ascii = himaya_domain::digits::to_ascii_digits(text.trim());
    let plain: String = ascii
        .chars()
        .filter(|ch| !matches!(ch, ',' | '٬' | ' ' | '\u{a0}'))
        .map(|ch| if ch == '٫' { '.' } else { ch })
        .collect();
    let (whole, fraction) = plain.split_once('.').unwrap_or((&plain, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > exponent as usize {
        return None;
    }
    let scale = 10i64.checked_pow(exponent)?;
    let fraction = format!("{fraction:0<width$}", width = exponent as usize);
    let minor = if fraction.is_empty() {
        0
    } else {
        fraction.parse::<i64>().ok()?
    };
    whole.parse::<i64>().ok()?.checked_mul(scale)?.checked_add(minor)
}

/// What a refused step says, in the reader's words: the problem and the
/// fields at fault. Errors that refuse no step (signed out, nothing there,
/// a failure) become their own page.
struct Refusal {
    status: StatusCode,
    message: String,
    fields: FieldErrors,
}

fn problem_text(c: &Ctx, code: &str) -> String {
    view::problem(c, code, "cycle-step-refused")
}

fn refusal(c: &Ctx, e: AppError) -> Result<Refusal, Response> {
    match e {
        AppError::Invalid(p) => {
            let mut fields = FieldErrors::new();
            for fe in &p.errors {
                // `plan.funding[0]` is the funding lines' field on the form.
                let field = fe.field.strip_prefix("plan.").unwrap_or(&fe.field);
                let field = field.split('[').next().unwrap_or(field).to_owned();
                let text = match (field.as_str(), fe.code) {
                    ("period", _) => c.t("cycle-error-period"),
                    ("share_percent", _) => c.t("cycle-error-share"),
                    ("flat_amount", _) => c.t("cycle-error-flat-amount"),
                    ("funding", "required" | "invalid") => c.t("cycle-error-funding"),
                    // The reader parser's own words name the element and line.
                    ("file", "file-unreadable") => c.t1("field-error-file-unreadable", "formats", FORMATS),
                    ("provider", "required") => c.t1("field-error-status-layout-required", "formats", FORMATS),
                    _ => view::field_error(c, fe.code),
                };
                fields.entry(field).or_insert(text);
            }
            Ok(Refusal {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                message: c.t("problem-validation-failed"),
                fields,
            })
        }
        AppError::Conflict { code, .. } => Ok(Refusal {
            status: StatusCode::CONFLICT,
            message: problem_text(c, code),
            fields: FieldErrors::new(),
        }),
        AppError::Forbidden { code, .. } if code != "password-change-required" => Ok(Refusal {
            status: StatusCode::FORBIDDEN,
            message: problem_text(c, code),
            fields: FieldErrors::new(),
        }),
        e => Err(c.fail(e)),
    }
}

/// The detail of a status file that could not be read (element or column, line).
fn unreadable_detail(e: &AppError) -> Option<String> {
    match e {
        AppError::Invalid(p) => p
            .errors
            .iter()
            .find(|fe| fe.code == "file-unreadable")
            .map(|fe| fe.message.clone()),
        _ => None,
    }
}

fn programme_names(c: &Ctx, items: Vec<himaya_app::ProgrammeView>) -> BTreeMap<String, String> {
    items
        .into_iter()
        .map(|p| {
            let name = view::pick(c.lang, &p.definition.name).unwrap_or(&p.code).to_owned();
            (p.code, name)
        })
        .collect()
}

// ---------------------------------------------------------------- lists

/// The form that opens a cycle, as typed.
#[derive(Default)]
struct OpenForm {
    period: String,
    share_percent: String,
    flat_amount: String,
    skip: bool,
    funding: Vec<String>,
}

#[derive(Template)]
#[template(path = "cycles.html")]
struct Cycles<'a> {
    c: &'a Ctx,
    /// The programme whose cycles these are (code, name), or every programme's.
    programme: Option<(String, String)>,
    names: BTreeMap<String, String>,
    items: Vec<CycleView>,
    lines: Vec<FundingLineRow>,
    form: OpenForm,
    errors: FieldErrors,
    refused: Option<String>,
}

impl Cycles<'_> {
    fn name(&self, code: &str) -> String {
        self.names.get(code).cloned().unwrap_or_else(|| code.to_owned())
    }

    fn money(&self, v: &CycleView, minor: &i64) -> String {
        cycle_money(self.c, &v.cycle.currency, *minor)
    }

    fn err(&self, name: &str) -> Option<&String> {
        self.errors.get(name)
    }

    fn funded(&self, code: &str) -> bool {
        self.form.funding.iter().any(|f| f == code)
    }
}

pub(crate) fn cycle_money(c: &Ctx, currency: &str, minor: i64) -> String {
    i18n::money(c.lang, minor, c.state.app.deployment().currency_exponent(), currency)
}

pub(crate) async fn all_cycles(State(s): State<AppState>, c: Ctx) -> PageResult {
    let actor = c.actor()?;
    let items = s.app.cycle_views(actor, None).await.or_page(&c)?;
    let names = programme_names(&c, s.app.programmes(actor).await.unwrap_or_default());
    ok(&Cycles {
        c: &c,
        programme: None,
        names,
        items,
        lines: Vec::new(),
        form: OpenForm::default(),
        errors: FieldErrors::new(),
        refused: None,
    })
}

async fn programme_page<'a>(s: &AppState, c: &'a Ctx, code: &str) -> Result<Cycles<'a>, Response> {
    let actor = c.actor()?;
    let p = s.app.programme(actor, code).await.or_page(c)?;
    let items = s.app.cycle_views(actor, Some(code)).await.or_page(c)?;
    let lines = s.app.funding_lines(actor).await.or_page(c)?;
    let names = programme_names(c, vec![p]);
    let name = names.get(code).cloned().unwrap_or_else(|| code.to_owned());
    Ok(Cycles {
        c,
        programme: Some((code.to_owned(), name)),
        names,
        items,
        lines,
        form: OpenForm {
            share_percent: "100".into(),
            ..OpenForm::default()
        },
        errors: FieldErrors::new(),
        refused: None,
    })
}

pub(crate) async fn programme_cycles(State(s): State<AppState>, c: Ctx, Path(code): Path<String>) -> PageResult {
    ok(&programme_page(&s, &c, &code).await?)
}

/// Opens a cycle of the programme from the form; what cannot be read is
/// refused beside its field before the use case is asked.
pub(crate) async fn open(State(s): State<AppState>, c: Ctx, Path(code): Path<String>, form: FormData) -> PageResult {
    let actor = c.actor()?;
    c.check_csrf(&form)?;
    let mut page = programme_page(&s, &c, &code).await?;
    page.form = OpenForm {
        period: form.text("period").unwrap_or_default(),
        share_percent: form.text("share_percent").unwrap_or_default(),
        flat_amount: form.text("flat_amount").unwrap_or_default(),
        skip: form.checked("skip"),
        funding: form
            .0
            .iter()
            .filter(|(k, v)| k == "funding" && !v.is_empty())
            .map(|(_, v)| v.clone())
            .collect(),
    };
    let exponent = s.app.deployment().currency_exponent();
    let share = if page.form.share_percent.is_empty() {
        Some(100)
    } else {
        himaya_domain::digits::to_ascii_digits(&page.form.share_percent)
            .parse::<u32>()
            .ok()
    };
    if share.is_none() {
        page.errors.insert("share_percent".into(), c.t("cycle-error-share"));
    }
    let flat = if page.form.flat_amount.is_empty() {
        None
    } else {
        let parsed = parse_money(&page.form.flat_amount, exponent);
        if parsed.is_none() {
            page.errors.insert("flat_amount".into(), c.t("cycle-error-flat-amount"));
        }
        parsed
    };
    if !page.errors.is_empty() {
        return Err(html(StatusCode::UNPROCESSABLE_ENTITY, &page));
    }
    let request = OpenCycle {
        programme: code,
        period: himaya_domain::digits::to_ascii_digits(&page.form.period).into_owned(),
        plan: CyclePlan {
            share_percent: share.unwrap_or(100),
            flat_amount: flat,
            skip: page.form.skip,
            areas: Vec::new(),
            funding: page.form.funding.clone(),
        },
    };
    match s.app.open_cycle(actor, request).await {
        Ok(v) => see(&format!("/cycles/{}?done=opened", v.cycle.id)),
        Err(e) => {
            let r = refusal(&c, e)?;
            page.errors = r.fields;
            page.refused = Some(r.message);
            Err(html(r.status, &page))
        }
    }
}

// ---------------------------------------------------------------- a cycle

#[derive(Template)]
#[template(path = "cycle.html")]
struct CyclePage<'a> {
    c: &'a Ctx,
    v: CycleView,
    programme: String,
    events: Vec<CycleEventRow>,
    batches: Vec<BatchRow>,
    /// Stored reconciliation errors (the first [`ERRORS_SHOWN`]) and how many there are.
    errors: Vec<ReconciliationError>,
    error_count: usize,
    lines: Vec<FundingLineRow>,
    /// Providers whose CSV status files can be read: (code, name).
    csv_providers: Vec<(String, String)>,
    notice: Option<String>,
    /// The step refused (its form's id) and why.
    refused: Option<(&'static str, String)>,
    fields: FieldErrors,
    /// The parser's words on a status file it could not read.
    unreadable: Option<String>,
    reason: String,
    computed: Option<ComputeReport>,
    issued: Option<IssueOutcome>,
    reconciled: Option<ReconcileReport>,
    /// The programme's payment validity period, when it sets one.
    validity_days: Option<u32>,
    expired: Option<ExpiryReport>,
}

impl CyclePage<'_> {
    fn money(&self, minor: &i64) -> String {
        cycle_money(self.c, &self.v.cycle.currency, *minor)
    }

    fn status(&self) -> String {
        view::vocab(self.c, "cycle-status", self.v.cycle.status.code())
    }

    /// An event's move, the arrow pointing the way the reader reads.
    fn moved(&self, e: &CycleEventRow) -> String {
        i18n::message(
            self.c.lang,
            "cycle-moved",
            &[
                ("from", view::vocab(self.c, "cycle-status", e.from_status.code())),
                ("to", view::vocab(self.c, "cycle-status", e.to_status.code())),
            ],
        )
    }

    fn refused_at(&self, form: &str) -> Option<&String> {
        self.refused.as_ref().filter(|(f, _)| *f == form).map(|(_, m)| m)
    }

    /// A refusal of a step whose form the page no longer shows (the
    /// cycle moved on since the page was loaded): said above the steps.
    fn refused_elsewhere(&self) -> Option<&String> {
        let (form, message) = self.refused.as_ref()?;
        let shown = match *form {
            "compute" => self.can_compute(),
            "submit" => self.can_submit(),
            "approve" | "reject" => self.can_decide(),
            "cancel" => self.can_cancel(),
            "issue" => self.can_issue(),
            "reconcile" | "close" => self.can_retry(),
            "expire" => self.can_retry() && self.validity_days.is_some(),
            _ => false,
        };
        (!shown).then_some(message)
    }

    fn err(&self, field: &str) -> Option<&String> {
        self.fields.get(field)
    }

    fn may(&self, p: Permission, at: &[CycleStatus]) -> bool {
        self.c.may(p) && at.contains(&self.v.cycle.status)
    }

    fn can_compute(&self) -> bool {
        use CycleStatus::*;
        self.may(Permission::PaymentsManage, &[Draft, Computed, Rejected])
    }

    fn can_submit(&self) -> bool {
        self.may(Permission::PaymentsManage, &[CycleStatus::Computed])
    }

    fn can_cancel(&self) -> bool {
        use CycleStatus::*;
        self.may(Permission::PaymentsManage, &[Draft, Computed, Rejected])
    }

    fn can_decide(&self) -> bool {
        self.may(Permission::PaymentsApprove, &[CycleStatus::Submitted])
    }

    fn can_issue(&self) -> bool {
        use CycleStatus::*;
        self.may(Permission::PaymentsManage, &[Approved, Issued, Reconciling])
    }

    fn can_retry(&self) -> bool {
        use CycleStatus::*;
        self.may(Permission::PaymentsManage, &[Issued, Reconciling])
    }

    fn may_download(&self) -> bool {
        self.c.may(Permission::PaymentsManage)
    }

    fn no_action(&self) -> bool {
        !(self.can_compute() || self.can_submit() || self.can_decide() || self.can_issue())
    }

    /// Each status's count and amount, in the order they are reached:
    /// the entitled and issued always, the others when any are there.
    fn totals(&self) -> Vec<(String, Tally)> {
        let t = &self.v.totals;
        [
            ("entitled", t.entitled),
            ("withheld", t.withheld),
            ("deferred", t.deferred),
            ("awaiting", t.awaiting),
            ("issued", t.issued),
            ("pending", t.pending),
            ("paid", t.paid),
            ("failed", t.failed),
            ("returned", t.returned),
            ("written-off", t.written_off),
            ("carried-forward", t.carried_forward),
            ("expired", t.expired),
            ("cancelled", t.cancelled),
        ]
        .into_iter()
        .filter(|(k, v)| matches!(*k, "entitled" | "issued") || v.count > 0)
        .map(|(k, v)| (self.c.t(&format!("total-{k}")), v))
        .collect()
    }

    /// The two sums that must balance: (the total, what it must equal, its tally, theirs).
    fn balances(&self) -> Vec<(String, String, Tally, Tally)> {
        let t = &self.v.totals;
        let sum = |parts: &[Tally]| {
            parts.iter().fold(Tally::default(), |a, b| Tally {
                count: a.count + b.count,
                amount: a.amount.saturating_add(b.amount),
            })
        };
        vec![
            (
                self.c.t("total-entitled"),
                self.c.t("balance-entitled"),
                t.entitled,
                sum(&[t.issued, t.withheld, t.deferred, t.awaiting]),
            ),
            (
                self.c.t("total-issued"),
                self.c.t("balance-issued"),
                t.issued,
                sum(&[
                    t.paid,
                    t.failed,
                    t.returned,
                    t.pending,
                    t.written_off,
                    t.carried_forward,
                    t.expired,
                ]),
            ),
        ]
    }

    fn balanced(&self) -> bool {
        self.v.totals.check().is_ok()
    }

    fn funding_name(&self, code: &str) -> String {
        self.lines
            .iter()
            .find(|l| l.code == code)
            .map_or_else(|| code.to_owned(), |l| l.name.clone())
    }

    fn share(&self) -> String {
        self.c.t1(
            "plan-share-value",
            "share",
            self.c.digits(&i64::from(self.v.plan_detail.share_percent)),
        )
    }

    /// The reason an event gave (a rejection's), if any.
    fn event_reason(&self, e: &CycleEventRow) -> Option<String> {
        serde_json::from_str::<serde_json::Value>(&e.detail)
            .ok()?
            .get("reason")?
            .as_str()
            .map(str::to_owned)
    }

    fn recon_error(&self, code: &str) -> String {
        view::vocab(self.c, "recon-error", code)
    }

    fn reason(&self, code: &str) -> String {
        view::vocab(self.c, "reason", code)
    }

    fn n(&self, n: usize) -> String {
        self.c.count(&(n as u64))
    }

    fn rule_errors(&self, r: &ComputeReport) -> String {
        self.c.count(&r.errors.values().sum())
    }

    /// What expiring does, for a programme that sets a validity period.
    fn expire_hint(&self) -> Option<String> {
        let days = self.validity_days?;
        Some(self.c.t1("step-expire-hint", "days", self.c.count(&u64::from(days))))
    }

    fn expired_payments(&self, r: &ExpiryReport) -> String {
        i18n::message(
            self.c.lang,
            "expired-payments",
            &[
                ("count", self.c.count(&r.expired.count)),
                ("amount", self.money(&r.expired.amount)),
            ],
        )
    }

    fn still_pending(&self, r: &ExpiryReport) -> Option<String> {
        let next = r.next_expiry?;
        Some(i18n::message(
            self.c.lang,
            "expired-still-pending",
            &[("count", self.c.count(&r.still_pending)), ("time", self.c.when(&next))],
        ))
    }

    fn short_hash(&self, sha: &Option<String>) -> String {
        sha.as_deref().map(|h| h.chars().take(12).collect()).unwrap_or_default()
    }
}

async fn cycle_page<'a>(s: &AppState, c: &'a Ctx, id: &str) -> Result<CyclePage<'a>, Response> {
    let actor = c.actor()?;
    let v = s.app.cycle(actor, id).await.or_page(c)?;
    let events = s.app.cycle_events(actor, id).await.or_page(c)?;
    let batches = s.app.cycle_batches(actor, id).await.or_page(c)?;
    let mut errors = s.app.reconciliation_errors(actor, id).await.or_page(c)?;
    let error_count = errors.len();
    errors.truncate(ERRORS_SHOWN);
    let lines = s.app.funding_lines(actor).await.or_page(c)?;
    let programme = match s.app.programme(actor, &v.cycle.programme_code).await {
        Ok(p) => view::pick(c.lang, &p.definition.name).unwrap_or(&p.code).to_owned(),
        Err(_) => v.cycle.programme_code.clone(),
    };
    let validity_days = s.app.cycle_payment_validity(actor, id).await.or_page(c)?;
    let csv_providers = s
        .app
        .deployment()
        .payment_providers
        .iter()
        .filter(|p| p.status_file.is_some())
        .map(|p| (p.code.clone(), p.name.clone()))
        .collect();
    Ok(CyclePage {
        c,
        v,
        programme,
        events,
        batches,
        errors,
        error_count,
        lines,
        csv_providers,
        notice: None,
        refused: None,
        fields: FieldErrors::new(),
        unreadable: None,
        reason: String::new(),
        computed: None,
        issued: None,
        reconciled: None,
        validity_days,
        expired: None,
    })
}

pub(crate) async fn cycle(
    State(s): State<AppState>,
    c: Ctx,
    Path(id): Path<String>,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> PageResult {
    let mut page = cycle_page(&s, &c, &id).await?;
    let flags = super::form::parse_urlencoded(raw.unwrap_or_default().as_bytes());
    page.notice = flags
        .iter()
        .find(|(k, _)| k == "done")
        .and_then(|(_, v)| match v.as_str() {
            "opened" | "submitted" | "approved" | "rejected" | "cancelled" | "closed" => {
                Some(c.t(&format!("notice-cycle-{v}")))
            }
            _ => None,
        });
    ok(&page)
}

/// A step of a cycle's lifecycle, taken from its form.
#[derive(Clone, Copy)]
enum Step {
    Compute,
    Submit,
    Approve,
    Reject,
    Cancel,
    Issue,
    Expire,
    Close,
}

impl Step {
    /// The id of the step's form on the page.
    fn form(self) -> &'static str {
        match self {
            Step::Compute => "compute",
            Step::Submit => "submit",
            Step::Approve => "approve",
            Step::Reject => "reject",
            Step::Cancel => "cancel",
            Step::Issue => "issue",
            Step::Expire => "expire",
            Step::Close => "close",
        }
    }
}

enum Done {
    /// Moved on: see the cycle, with a notice.
    Moved(&'static str),
    Computed(ComputeReport),
    Issued(IssueOutcome),
    Expired(ExpiryReport),
}

async fn take_step(s: AppState, c: Ctx, id: String, form: FormData, step: Step) -> PageResult {
    let actor = c.actor()?;
    c.check_csrf(&form)?;
    let app = &s.app;
    let reason = form.get("reason").unwrap_or_default().to_owned();
    let done = match step {
        Step::Compute => app.compute_cycle(actor, &id).await.map(Done::Computed),
        Step::Submit => app.submit_cycle(actor, &id).await.map(|_| Done::Moved("submitted")),
        Step::Approve => app.approve_cycle(actor, &id).await.map(|_| Done::Moved("approved")),
        Step::Reject => app
            .reject_cycle(actor, &id, reason.trim())
            .await
            .map(|_| Done::Moved("rejected")),
        Step::Cancel => app.cancel_cycle(actor, &id).await.map(|_| Done::Moved("cancelled")),
        Step::Issue => app
            .issue_cycle(actor, &id, form.checked("retry"))
            .await
            .map(Done::Issued),
        Step::Expire => app.expire_unclaimed(actor, &id).await.map(Done::Expired),
        Step::Close => app
            .close_cycle(
                actor,
                &id,
                form.checked("carry_forward"),
                form.checked("expire_pending"),
            )
            .await
            .map(|_| Done::Moved("closed")),
    };
    match done {
        // To the notice at the top (a form's own `#steps` would otherwise be kept).
        Ok(Done::Moved(what)) => see(&format!(
            "/cycles/{}?done={what}#notice",
            super::form::encode_component(&id)
        )),
        Ok(Done::Computed(report)) => {
            let mut page = cycle_page(&s, &c, &id).await?;
            page.computed = Some(report);
            ok(&page)
        }
        Ok(Done::Issued(outcome)) => {
            let mut page = cycle_page(&s, &c, &id).await?;
            page.issued = Some(outcome);
            ok(&page)
        }
        Ok(Done::Expired(report)) => {
            let mut page = cycle_page(&s, &c, &id).await?;
            page.expired = Some(report);
            ok(&page)
        }
        Err(e) => {
            let r = refusal(&c, e)?;
            let mut page = cycle_page(&s, &c, &id).await?;
            page.refused = Some((step.form(), r.message));
            page.fields = r.fields;
            page.reason = reason;
            Err(html(r.status, &page))
        }
    }
}

pub(crate) async fn compute(State(s): State<AppState>, c: Ctx, Path(id): Path<String>, f: FormData) -> PageResult {
    take_step(s, c, id, f, Step::Compute).await
}

pub(crate) async fn submit(State(s): State<AppState>, c: Ctx, Path(id): Path<String>, f: FormData) -> PageResult {
    take_step(s, c, id, f, Step::Submit).await
}

pub(crate) async fn approve(State(s): State<AppState>, c: Ctx, Path(id): Path<String>, f: FormData) -> PageResult {
    take_step(s, c, id, f, Step::Approve).await
}

pub(crate) async fn reject(State(s): State<AppState>, c: Ctx, Path(id): Path<String>, f: FormData) -> PageResult {
    take_step(s, c, id, f, Step::Reject).await
}

pub(crate) async fn cancel(State(s): State<AppState>, c: Ctx, Path(id): Path<String>, f: FormData) -> PageResult {
    take_step(s, c, id, f, Step::Cancel).await
}

pub(crate) async fn issue(State(s): State<AppState>, c: Ctx, Path(id): Path<String>, f: FormData) -> PageResult {
    take_step(s, c, id, f, Step::Issue).await
}

pub(crate) async fn expire(State(s): State<AppState>, c: Ctx, Path(id): Path<String>, f: FormData) -> PageResult {
    take_step(s, c, id, f, Step::Expire).await
}

pub(crate) async fn close(State(s): State<AppState>, c: Ctx, Path(id): Path<String>, f: FormData) -> PageResult {
    take_step(s, c, id, f, Step::Close).await
}

/// A provider's status file, uploaded: what it did is shown on the cycle's
/// page (lines, matched, paid, failed, the lines not applied and why).
pub(crate) async fn reconcile(
    State(s): State<AppState>,
    c: Ctx,
    Path(id): Path<String>,
    upload: Result<Upload, UploadError>,
) -> PageResult {
    let actor = c.actor()?;
    let refuse = |status: StatusCode, field: &str, key: &str| {
        let mut fields = FieldErrors::new();
        fields.insert(field.to_owned(), c.t(key));
        (status, fields)
    };
    let upload = match upload {
        Ok(u) => u,
        Err(e) => {
            // Without the form's fields there is no CSRF token to check: nothing is done.
            let (status, key) = match e {
                UploadError::NotMultipart => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "upload-error-not-multipart"),
                UploadError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "upload-error-too-large"),
                UploadError::Malformed => (StatusCode::BAD_REQUEST, "upload-error-malformed"),
            };
            let (status, fields) = refuse(status, "file", key);
            return Err(refused_upload(&s, &c, &id, status, fields, None).await);
        }
    };
    c.check_csrf(&upload.fields)?;
    let Some(file) = upload.file("file").filter(|f| !f.bytes.is_empty()) else {
        let (status, fields) = refuse(StatusCode::UNPROCESSABLE_ENTITY, "file", "upload-error-no-file");
        return Err(refused_upload(&s, &c, &id, status, fields, None).await);
    };
    let provider = upload.fields.text("provider");
    let name = if file.file_name.is_empty() {
        "upload"
    } else {
        file.file_name.as_str()
    };
    match s
        .app
        .reconcile_cycle(actor, &id, name, provider.as_deref(), &file.bytes)
        .await
    {
        Ok(report) => {
            let mut page = cycle_page(&s, &c, &id).await?;
            page.reconciled = Some(report);
            ok(&page)
        }
        Err(e) => {
            let unreadable = unreadable_detail(&e);
            let r = refusal(&c, e)?;
            let mut fields = r.fields;
            if fields.is_empty() {
                fields.insert("reconcile".into(), r.message);
            }
            Err(refused_upload(&s, &c, &id, r.status, fields, unreadable).await)
        }
    }
}

async fn refused_upload(
    s: &AppState,
    c: &Ctx,
    id: &str,
    status: StatusCode,
    fields: FieldErrors,
    unreadable: Option<String>,
) -> Response {
    match cycle_page(s, c, id).await {
        Ok(mut page) => {
            page.refused = Some(("reconcile", c.t("upload-refused")));
            page.fields = fields;
            page.unreadable = unreadable;
            html(status, &page)
        }
        Err(r) => r,
    }
}

/// A batch's payment file, the same bytes every time.
pub(crate) async fn batch_file(
    State(s): State<AppState>,
    c: Ctx,
    Path((id, batch)): Path<(String, String)>,
) -> PageResult {
    let actor = c.actor()?;
    let mut bytes = Vec::new();
    let (row, sha) = s
        .app
        .write_batch_file(actor, &id, &batch, &mut bytes)
        .await
        .or_page(&c)?;
    let content_type = if row.format == "csv" {
        "text/csv; charset=utf-8"
    } else {
        "application/xml"
    };
    let mut r = (StatusCode::OK, bytes).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", row.file_name)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"{sha}\"")) {
        h.insert(header::ETAG, v);
    }
    Ok(r)
}

// ---------------------------------------------------------------- report

#[derive(Template)]
#[template(path = "cycle_report.html")]
struct Report<'a> {
    c: &'a Ctx,
    id: String,
    period: String,
    programme: String,
    currency: String,
    b: CycleBreakdown,
}

/// The statuses the report shows, in the order they are reached; the
/// rest (deferred, written off…) are on the cycle's page.
fn report_cells(t: &CycleTotals) -> [Tally; 7] {
    [
        t.entitled, t.withheld, t.issued, t.paid, t.failed, t.returned, t.pending,
    ]
}

/// A grouping's id on the page, its heading, the name of its first column,
/// and a line per group: its name and each status's label and tally.
type ReportGroup = (&'static str, String, String, Vec<(String, Vec<(String, Tally)>)>);

impl Report<'_> {
    fn columns(&self) -> Vec<String> {
        [
            "entitled", "withheld", "issued", "paid", "failed", "returned", "pending",
        ]
        .iter()
        .map(|k| self.c.t(&format!("total-{k}")))
        .collect()
    }

    fn money(&self, minor: &i64) -> String {
        cycle_money(self.c, &self.currency, *minor)
    }

    fn provider_name(&self, code: &str) -> String {
        if code.is_empty() {
            return self.c.t("report-no-provider");
        }
        let providers = &self.c.state.app.deployment().payment_providers;
        providers
            .iter()
            .find(|p| p.code == code)
            .map_or_else(|| code.to_owned(), |p| p.name.clone())
    }

    /// Each grouping, with the whole cycle's line last.
    fn groups(&self) -> Vec<ReportGroup> {
        let c = self.c;
        let columns = self.columns();
        let cells = |t: &CycleTotals| columns.iter().cloned().zip(report_cells(t)).collect::<Vec<_>>();
        let lines = |by: &BTreeMap<String, CycleTotals>, label: &dyn Fn(&str) -> String| {
            let mut lines: Vec<_> = by.iter().map(|(k, t)| (label(k), cells(t))).collect();
            lines.push((c.t("report-all"), cells(&self.b.totals)));
            lines
        };
        let sex = |code: &str| {
            if code.is_empty() {
                c.t("report-no-recipient")
            } else {
                view::vocab(c, "sex", code)
            }
        };
        vec![
            (
                "by-provider",
                c.t("report-by-provider"),
                c.t("provider"),
                lines(&self.b.by_provider, &|k| self.provider_name(k)),
            ),
            (
                "by-district",
                c.t("report-by-district"),
                c.t("field-area"),
                lines(&self.b.by_district, &|k| view::area_name(c, k)),
            ),
            (
                "by-sex",
                c.t("report-by-sex"),
                c.t("field-sex"),
                lines(&self.b.by_sex, &sex),
            ),
        ]
    }
}

/// A cycle's counts and sums by provider, district and recipient's sex.
pub(crate) async fn report(State(s): State<AppState>, c: Ctx, Path(id): Path<String>) -> PageResult {
    let actor = c.actor()?;
    let v = s.app.cycle(actor, &id).await.or_page(&c)?;
    let b = s.app.cycle_breakdown(actor, &id).await.or_page(&c)?;
    let programme = match s.app.programme(actor, &v.cycle.programme_code).await {
        Ok(p) => view::pick(c.lang, &p.definition.name).unwrap_or(&p.code).to_owned(),
        Err(_) => v.cycle.programme_code.clone(),
    };
    ok(&Report {
        c: &c,
        id,
        period: v.cycle.period,
        programme,
        currency: v.cycle.currency,
        b,
    })
}

/// The same report, one line per provider, area, sex and status, as the API's CSV.
pub(crate) async fn report_csv(State(s): State<AppState>, c: Ctx, Path(id): Path<String>) -> PageResult {
    let actor = c.actor()?;
    let v = s.app.cycle(actor, &id).await.or_page(&c)?;
    let (_, rows) = s.app.cycle_report(actor, &id).await.or_page(&c)?;
    let name = format!("cycle-{}-{}-report.csv", v.cycle.programme_code, v.cycle.period);
    Ok(crate::payments_api::report_csv(&rows, Some(&name)))
}

// ---------------------------------------------------------------- funding

#[derive(Template)]
#[template(path = "funding.html")]
struct Funding<'a> {
    c: &'a Ctx,
    lines: Vec<FundingLineRow>,
    code: String,
    name: String,
    allocated: String,
    errors: FieldErrors,
    refused: Option<String>,
    notice: Option<String>,
}

impl Funding<'_> {
    fn money(&self, l: &FundingLineRow, minor: &i64) -> String {
        cycle_money(self.c, &l.currency, *minor)
    }

    fn left(&self, l: &FundingLineRow) -> String {
        self.money(l, &l.allocated.saturating_sub(l.committed))
    }

    fn err(&self, name: &str) -> Option<&String> {
        self.errors.get(name)
    }

    /// The form's fields: (name, label key, value as typed).
    fn inputs(&self) -> [(&'static str, &'static str, &str); 3] {
        [
            ("code", "funding-code", &self.code),
            ("name", "funding-name", &self.name),
            ("allocated", "funding-allocated", &self.allocated),
        ]
    }
}

async fn funding_page<'a>(s: &AppState, c: &'a Ctx) -> Result<Funding<'a>, Response> {
    let actor = c.actor()?;
    let lines = s.app.funding_lines(actor).await.or_page(c)?;
    Ok(Funding {
        c,
        lines,
        code: String::new(),
        name: String::new(),
        allocated: String::new(),
        errors: FieldErrors::new(),
        refused: None,
        notice: None,
    })
}

pub(crate) async fn funding(
    State(s): State<AppState>,
    c: Ctx,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> PageResult {
    let mut page = funding_page(&s, &c).await?;
    let saved = super::form::parse_urlencoded(raw.unwrap_or_default().as_bytes())
        .iter()
        .any(|(k, v)| k == "done" && v == "saved");
    page.notice = saved.then(|| c.t("notice-funding-saved"));
    ok(&page)
}

pub(crate) async fn set_funding(State(s): State<AppState>, c: Ctx, form: FormData) -> PageResult {
    let actor = c.actor()?;
    c.check_csrf(&form)?;
    let mut page = funding_page(&s, &c).await?;
    page.code = form.text("code").unwrap_or_default();
    page.name = form.text("name").unwrap_or_default();
    page.allocated = form.text("allocated").unwrap_or_default();
    let exponent = s.app.deployment().currency_exponent();
    let Some(allocated) = parse_money(&page.allocated, exponent) else {
        page.errors.insert("allocated".into(), c.t("cycle-error-flat-amount"));
        return Err(html(StatusCode::UNPROCESSABLE_ENTITY, &page));
    };
    match s.app.set_funding_line(actor, &page.code, &page.name, allocated).await {
        Ok(_) => see("/funding?done=saved"),
        Err(e) => {
            let r = refusal(&c, e)?;
            page.errors = r.fields;
            page.refused = Some(r.message);
            Err(html(r.status, &page))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_read_in_any_digits_to_minor_units() {
        assert_eq!(parse_money("13500", 2), Some(1_350_000));
        assert_eq!(parse_money("13,500.5", 2), Some(1_350_050));
        assert_eq!(parse_money("۱۳٬۵۰۰٫۲۵", 2), Some(1_350_025));
        assert_eq!(parse_money("১৩৫০০", 2), Some(1_350_000));
        assert_eq!(parse_money("12.500", 3), Some(12_500));
        assert_eq!(parse_money("7", 0), Some(7));
        for bad in ["", "-5", "1.234", "1e3", "abc", "1.2.3", ".5", "99999999999999999999"] {
            assert_eq!(parse_money(bad, 2), None, "{bad}");
        }
    }
}
