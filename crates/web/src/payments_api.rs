//! The payments part of the JSON API: financial accounts, funding lines,
//! payment cycles with their steps, payment files and status files.

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use himaya_app::{AccountChange, NewAccount, OpenCycle};
use himaya_domain::account::AccountDraft;
use himaya_domain::payment::CyclePlan;

use crate::AppState;
use crate::api::{StrictJson, query};
use crate::auth::Authenticated;
use crate::problem::ApiError;

/// The largest status file taken over the API: a million lines of pain.002.
pub(crate) const MAX_STATUS_FILE: usize = 256 * 1024 * 1024;

fn json(status: StatusCode, value: impl serde::Serialize) -> Response {
    (status, axum::Json(value)).into_response()
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccountBody {
    #[serde(flatten)]
    draft: AccountDraft,
    holder_name: Option<String>,
}

pub(crate) async fn add_account(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(person): Path<String>,
    StrictJson(body): StrictJson<AccountBody>,
) -> Result<Response, ApiError> {
    let row = s
        .app
        .add_account(
            &actor,
            &person,
            NewAccount {
                draft: body.draft,
                holder_name: body.holder_name,
            },
        )
        .await?;
    Ok(json(StatusCode::CREATED, row))
}

pub(crate) async fn person_accounts(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(person): Path<String>,
) -> Result<Response, ApiError> {
    let rows = s.app.person_accounts(&actor, &person).await?;
    Ok(json(StatusCode::OK, serde_json::json!({ "items": rows })))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccountChangeBody {
    primary: Option<bool>,
    verified: Option<bool>,
    #[serde(default)]
    closed: bool,
}

pub(crate) async fn update_account(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
    StrictJson(body): StrictJson<AccountChangeBody>,
) -> Result<Response, ApiError> {
    let row = s
        .app
        .update_account(
            &actor,
            &id,
            AccountChange {
                primary: body.primary,
                verified: body.verified,
                close: body.closed,
            },
        )
        .await?;
    Ok(json(StatusCode::OK, row))
}

pub(crate) async fn funding_lines(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
) -> Result<Response, ApiError> {
    let rows = s.app.funding_lines(&actor).await?;
    Ok(json(StatusCode::OK, serde_json::json!({ "items": rows })))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FundingBody {
    name: String,
    /// In minor units.
    allocated: i64,
}

pub(crate) async fn set_funding_line(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(code): Path<String>,
    StrictJson(body): StrictJson<FundingBody>,
) -> Result<Response, ApiError> {
    let row = s
        .app
        .set_funding_line(&actor, &code, &body.name, body.allocated)
        .await?;
    Ok(json(StatusCode::OK, row))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CyclesQuery {
    programme: Option<String>,
}

pub(crate) async fn list_cycles(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    q: Result<Query<CyclesQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let rows = s.app.cycles(&actor, q.programme.as_deref()).await?;
    Ok(json(StatusCode::OK, serde_json::json!({ "items": rows })))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OpenBody {
    programme: String,
    period: String,
    plan: CyclePlan,
}

pub(crate) async fn open_cycle(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    StrictJson(body): StrictJson<OpenBody>,
) -> Result<Response, ApiError> {
    let view = s
        .app
        .open_cycle(
            &actor,
            OpenCycle {
                programme: body.programme,
                period: body.period,
                plan: body.plan,
            },
        )
        .await?;
    let mut r = json(StatusCode::CREATED, &view);
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/cycles/{}", view.cycle.id)) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

pub(crate) async fn get_cycle(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, s.app.cycle(&actor, &id).await?))
}

pub(crate) async fn cycle_events(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let rows = s.app.cycle_events(&actor, &id).await?;
    Ok(json(StatusCode::OK, serde_json::json!({ "items": rows })))
}

pub(crate) async fn compute_cycle(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, s.app.compute_cycle(&actor, &id).await?))
}

pub(crate) async fn submit_cycle(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, s.app.submit_cycle(&actor, &id).await?))
}

pub(crate) async fn approve_cycle(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, s.app.approve_cycle(&actor, &id).await?))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RejectBody {
    reason: String,
}

pub(crate) async fn reject_cycle(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
    StrictJson(body): StrictJson<RejectBody>,
) -> Result<Response, ApiError> {
    Ok(json(
        StatusCode::OK,
        s.app.reject_cycle(&actor, &id, &body.reason).await?,
    ))
}

pub(crate) async fn cancel_cycle(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, s.app.cancel_cycle(&actor, &id).await?))
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct IssueBody {
    #[serde(default)]
    retry: bool,
}

pub(crate) async fn issue_cycle(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
    StrictJson(body): StrictJson<IssueBody>,
) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, s.app.issue_cycle(&actor, &id, body.retry).await?))
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct CloseBody {
    #[serde(default)]
    carry_forward: bool,
    #[serde(default)]
    expire_pending: bool,
}

pub(crate) async fn close_cycle(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
    StrictJson(body): StrictJson<CloseBody>,
) -> Result<Response, ApiError> {
    Ok(json(
        StatusCode::OK,
        s.app
            .close_cycle(&actor, &id, body.carry_forward, body.expire_pending)
            .await?,
    ))
}

pub(crate) async fn expire_unclaimed(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, s.app.expire_unclaimed(&actor, &id).await?))
}

pub(crate) async fn cycle_batches(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let rows = s.app.cycle_batches(&actor, &id).await?;
    Ok(json(StatusCode::OK, serde_json::json!({ "items": rows })))
}

/// A batch's payment file, the same bytes every time it is fetched.
pub(crate) async fn batch_file(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((id, batch)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let mut bytes = Vec::new();
    let (row, sha) = s.app.write_batch_file(&actor, &id, &batch, &mut bytes).await?;
    let content_type = if row.format == "csv" {
        "text/csv; charset=utf-8"
    } else {
        "application/xml"
    };
    let mut r = (StatusCode::OK, bytes).into_response();
    let headers = r.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", row.file_name)) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"{sha}\"")) {
        headers.insert(header::ETAG, v);
    }
    Ok(r)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReconcileQuery {
    /// The provider whose CSV layout a CSV status file follows.
    provider: Option<String>,
    /// The file's name, for the record.
    file_name: Option<String>,
}

/// A status file in the body, as the provider sent it.
pub(crate) async fn reconcile_cycle(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
    q: Result<Query<ReconcileQuery>, QueryRejection>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    if body.is_empty() {
        return Err(himaya_app::AppError::Invalid(himaya_domain::Problem::single(
            "file",
            "required",
            "send the status file as the request body",
        ))
        .into());
    }
    let name = q.file_name.unwrap_or_else(|| "upload".into());
    let report = s
        .app
        .reconcile_cycle(&actor, &id, &name, q.provider.as_deref(), &body)
        .await?;
    Ok(json(StatusCode::OK, report))
}

pub(crate) async fn reconciliation_errors(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let rows = s.app.reconciliation_errors(&actor, &id).await?;
    Ok(json(StatusCode::OK, serde_json::json!({ "items": rows })))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReportQuery {
    /// `json` (default) or `csv`.
    format: Option<String>,
}

pub(crate) async fn cycle_report(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
    q: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(himaya_app::AppError::Invalid(himaya_domain::Problem::single(
                "format",
                "unknown",
                format!("{other:?} is not a format; use json or csv"),
            ))
            .into());
        }
    };
    let (totals, rows) = s.app.cycle_report(&actor, &id).await?;
    if !csv {
        return Ok(json(
            StatusCode::OK,
            serde_json::json!({ "totals": totals, "rows": rows }),
        ));
    }
    Ok(report_csv(&rows, None))
}

/// A cycle's report as CSV: one line per provider, area, recipient's sex
/// and status; offered as a download named `file_name` when one is given.
pub(crate) fn report_csv(rows: &[himaya_app::ReportRow], file_name: Option<&str>) -> Response {
    let mut text = String::from("provider,area,sex,status,count,amount_minor\n");
    for r in rows {
        text.push_str(&format!(
            "{},{},{},{},{},{}\n",
            csv_field(&r.provider),
            csv_field(&r.area),
            r.sex,
            r.status,
            r.count,
            r.amount
        ));
    }
    let mut r = (StatusCode::OK, text).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Some(v) = file_name.and_then(|n| HeaderValue::from_str(&format!("attachment; filename=\"{n}\"")).ok()) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

/// A CSV field, quoted when the deployment's codes hold a comma or quote.
fn csv_field(value: &str) -> std::borrow::Cow<'_, str> {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\"")).into()
    } else {
        value.into()
    }
}

pub(crate) async fn get_entitlement(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let row = s.app.entitlement(&actor, &id).await?;
    let facts: serde_json::Value = serde_json::from_str(&row.facts).unwrap_or_default();
    let mut body = serde_json::to_value(&row).unwrap_or_default();
    body["facts"] = facts;
    Ok(json(StatusCode::OK, body))
}

pub(crate) async fn household_entitlements(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = crate::api::household_id(&id)?;
    let items = s.app.household_entitlements(&actor, id).await?;
    Ok(json(StatusCode::OK, serde_json::json!({ "items": items })))
}
