//! The JSON API under `/api/v1`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, on};
use himaya_app::TargetRequest;
use himaya_app::{
    Actor, AuditQuery, ChangeHead, Changes, DedupRunRequest, HouseholdQuery, HouseholdView, IntakeCheck, Login,
    MatchRequest, MatchResultsQuery, Merge, NewHousehold, NewMember, Note, PairDecision, PairMerge, PairQuery,
    PasswordChange, PersonQuery, Split, Transfer,
};
use himaya_domain::household::HouseholdId;
use himaya_domain::person::{Person, PersonId};
use himaya_domain::programme::ProgrammeDef;
use serde::de::DeserializeOwned;

use crate::auth::{Authenticated, LOGIN_ATTEMPTS_PER_MINUTE, SESSION_COOKIE};
use crate::grievances_api as grievances;
use crate::payments_api as pay;
use crate::problem::ApiError;
use crate::{AppState, MAX_BODY};

pub(crate) struct Route {
    pub method: Method,
    pub path: &'static str,
    handler: MethodRouter<AppState>,
}

fn route(method: Method, path: &'static str, handler: MethodRouter<AppState>) -> Route {
    Route { method, path, handler }
}

macro_rules! r {
    ($method:ident $path:literal => $handler:expr) => {
        route(
            Method::$method,
            $path,
            on(axum::routing::MethodFilter::$method, $handler),
        )
    };
}

/// The one list of routes: the router is built from it, and tests check the
/// OpenAPI document against it.
pub(crate) fn routes() -> Vec<Route> {
    vec![
        r!(GET "/health" => health),
        r!(GET "/api/v1/openapi.json" => openapi),
        r!(POST "/api/v1/session" => login),
        r!(GET "/api/v1/session" => session),
        r!(DELETE "/api/v1/session" => logout),
        r!(POST "/api/v1/session/password" => change_password),
        r!(GET "/api/v1/audit" => search_audit),
        r!(GET "/api/v1/areas" => areas),
        r!(GET "/api/v1/households" => list_households),
        r!(POST "/api/v1/households" => create_household),
        r!(GET "/api/v1/households/{id}" => get_household),
        r!(PATCH "/api/v1/households/{id}" => update_household),
        r!(GET "/api/v1/households/{id}/history" => household_history),
        r!(GET "/api/v1/households/{id}/entitlements" => pay::household_entitlements),
        r!(GET "/api/v1/households/{id}/score" => household_score),
        r!(POST "/api/v1/households/{id}/members" => add_member),
        r!(POST "/api/v1/households/{id}/move" => move_household),
        r!(POST "/api/v1/households/{id}/split" => split_household),
        r!(POST "/api/v1/households/{id}/merge" => merge_households),
        r!(POST "/api/v1/households/{id}/head" => change_head),
        r!(POST "/api/v1/households/{id}/inactivate" => inactivate_household),
        r!(POST "/api/v1/households/{id}/reactivate" => reactivate_household),
        r!(GET "/api/v1/persons" => search_persons),
        r!(GET "/api/v1/persons/{id}" => get_person),
        r!(PATCH "/api/v1/persons/{id}" => update_person),
        r!(GET "/api/v1/persons/{id}/history" => person_history),
        r!(POST "/api/v1/persons/{id}/transfer" => transfer_person),
        r!(GET "/api/v1/programmes" => list_programmes),
        r!(GET "/api/v1/programmes/{code}" => get_programme),
        r!(PUT "/api/v1/programmes/{code}" => save_programme),
        r!(POST "/api/v1/programmes/{code}/runs" => run_programme),
        r!(GET "/api/v1/programmes/{code}/recertification" => recertification),
        r!(POST "/api/v1/programmes/{code}/enrolments/{beneficiary}/transitions" => transition_enrolment),
        r!(GET "/api/v1/households/{id}/programmes/{code}/eligibility" => eligibility),
        r!(POST "/api/v1/compliance" => record_compliance),
        r!(GET "/api/v1/persons/{id}/accounts" => pay::person_accounts),
        r!(POST "/api/v1/persons/{id}/accounts" => pay::add_account),
        r!(PATCH "/api/v1/accounts/{id}" => pay::update_account),
        r!(GET "/api/v1/funding-lines" => pay::funding_lines),
        r!(PUT "/api/v1/funding-lines/{code}" => pay::set_funding_line),
        r!(GET "/api/v1/cycles" => pay::list_cycles),
        r!(POST "/api/v1/cycles" => pay::open_cycle),
        r!(GET "/api/v1/cycles/{id}" => pay::get_cycle),
        r!(GET "/api/v1/cycles/{id}/events" => pay::cycle_events),
        r!(POST "/api/v1/cycles/{id}/compute" => pay::compute_cycle),
        r!(POST "/api/v1/cycles/{id}/submit" => pay::submit_cycle),
        r!(POST "/api/v1/cycles/{id}/approve" => pay::approve_cycle),
        r!(POST "/api/v1/cycles/{id}/reject" => pay::reject_cycle),
        r!(POST "/api/v1/cycles/{id}/cancel" => pay::cancel_cycle),
        r!(POST "/api/v1/cycles/{id}/issue" => pay::issue_cycle),
        r!(POST "/api/v1/cycles/{id}/close" => pay::close_cycle),
        r!(POST "/api/v1/cycles/{id}/expire" => pay::expire_unclaimed),
        r!(GET "/api/v1/cycles/{id}/batches" => pay::cycle_batches),
        r!(GET "/api/v1/cycles/{id}/batches/{batch}/file" => pay::batch_file),
        route(
            Method::POST,
            "/api/v1/cycles/{id}/reconciliations",
            limited(
                on(axum::routing::MethodFilter::POST, pay::reconcile_cycle),
                pay::MAX_STATUS_FILE,
            ),
        ),
        r!(GET "/api/v1/cycles/{id}/reconciliation-errors" => pay::reconciliation_errors),
        r!(GET "/api/v1/cycles/{id}/report" => pay::cycle_report),
        r!(GET "/api/v1/entitlements/{id}" => pay::get_entitlement),
        r!(GET "/api/v1/grievances" => grievances::list_grievances),
        r!(POST "/api/v1/grievances" => grievances::record_grievance),
        r!(GET "/api/v1/grievances/{id}" => grievances::get_grievance),
        r!(POST "/api/v1/grievances/{id}/transitions" => grievances::move_grievance),
        r!(POST "/api/v1/dedup/runs" => run_dedup),
        r!(GET "/api/v1/dedup/pairs" => dedup_pairs),
        r!(GET "/api/v1/dedup/pairs/{pair}" => dedup_pair),
        r!(POST "/api/v1/dedup/pairs/{pair}/decision" => decide_pair),
        r!(POST "/api/v1/dedup/pairs/{pair}/merge" => merge_pair),
        r!(POST "/api/v1/dedup/check" => check_intake),
        route(
            Method::POST,
            "/api/v1/matches",
            limited(on(axum::routing::MethodFilter::POST, match_persons), MAX_MATCH_BODY),
        ),
        route(
            Method::POST,
            "/api/v1/matches/jobs",
            limited(
                on(axum::routing::MethodFilter::POST, submit_match_job),
                MAX_MATCH_JOB_BODY,
            ),
        ),
        r!(GET "/api/v1/matches/jobs/{id}" => match_job),
        r!(GET "/api/v1/matches/jobs/{id}/results" => match_job_results),
    ]
}

/// The body limit of a route that takes more than [`MAX_BODY`], which its
/// requests carry so that a body over it is told the route's own limit.
#[derive(Clone, Copy)]
pub(crate) struct BodyLimit(pub usize);

fn limited(handler: MethodRouter<AppState>, max: usize) -> MethodRouter<AppState> {
    handler
        .layer::<_, std::convert::Infallible>(DefaultBodyLimit::max(max))
        .layer(axum::Extension(BodyLimit(max)))
}

/// A byte count as a person reads it: whole mebibytes as such.
pub(crate) fn size_text(bytes: usize) -> String {
    const MIB: usize = 1024 * 1024;
    if bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{bytes} bytes")
    }
}

pub(crate) fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for r in routes() {
        router = router.route(r.path, r.handler);
    }
    let mut pages = Router::new();
    for (_, path, handler) in crate::pages::routes() {
        pages = pages.route(path, handler);
    }
    router
        .merge(pages.route_layer(axum::middleware::from_fn(crate::pages::page_headers)))
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
                "this resource does not support that method",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::map_response(security_headers))
        .layer(axum::middleware::from_fn(log_request))
        .with_state(state)
}

/// One log line per request: the route's template, never the path or query
/// (they carry ids, identifiers, phones and names), the status and the time.
async fn log_request(request: Request, next: axum::middleware::Next) -> Response {
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("(no route)", |p| p.as_str())
        .to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    tracing::info!(
        target: "himaya::http",
        %method,
        route,
        status = response.status().as_u16(),
        ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    response
}

async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // The API serves data: nothing in its responses may run or be framed.
    // Pages and assets set their own policy and caching (`pages::page_headers`).
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    response
}

/// A JSON body parsed strictly: the right content type, within the size
/// limit, no unknown fields, and the path of the first wrong value named.
pub(crate) struct StrictJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for StrictJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| matches!(m.trim(), "application/json" | "application/merge-patch+json"));
        if !json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "The body must be JSON",
                "send Content-Type: application/json",
            ));
        }
        let limit = req.extensions().get::<BodyLimit>().map_or(MAX_BODY, |l| l.0);
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body-too-large",
                    "The body is too large",
                    format!("the limit is {}", size_text(limit)),
                )
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "malformed-json",
                    "The body could not be read",
                    e.body_text(),
                )
            }
        })?;
        // Every shape error is a 400 `malformed-json`; `errors[0]` says which
        // field and how (`required`, `unknown-field`, `invalid-type`).
        let value = himaya_app::json::from_slice(&bytes).map_err(|e| ApiError {
            errors: vec![himaya_domain::FieldError::new(
                e.field.clone(),
                e.code,
                e.message.clone(),
            )],
            ..ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed-json",
                "The body is not valid JSON for this operation",
                if e.field.is_empty() {
                    e.message
                } else {
                    format!("{}: {}", e.field, e.message)
                },
            )
        })?;
        Ok(StrictJson(value))
    }
}

pub(crate) fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(t)| t).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid-query",
            "The query string is not valid",
            e.body_text(),
        )
    })
}

/// The version an `If-Match` header names (`"3"` or `W/"3"`), required.
fn if_match(headers: &HeaderMap) -> Result<i64, ApiError> {
    if_match_optional(headers)?.ok_or_else(|| {
        ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "precondition-required",
            "If-Match is required",
            "send If-Match with the ETag you read, so a stale update cannot overwrite a newer one",
        )
    })
}

fn if_match_optional(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let invalid = |why: &str| ApiError::bad_field(StatusCode::BAD_REQUEST, "invalid-header", "If-Match", why);
    let raw = v.to_str().map(str::trim).unwrap_or_default();
    if raw.starts_with("W/") {
        return Err(invalid(
            "If-Match compares strongly: send the ETag as it was read, without W/",
        ));
    }
    if raw == "*" {
        return Err(invalid(
            "If-Match: * would overwrite whatever version is there: send the ETag you read",
        ));
    }
    let tag = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')).unwrap_or(raw);
    tag.parse::<i64>()
        .map(Some)
        .map_err(|_| invalid("expected an ETag this server issued, such as \"3\""))
}

fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

pub(crate) fn household_id(raw: &str) -> Result<HouseholdId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found())
}

fn person_id(raw: &str) -> Result<PersonId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found())
}

/// A household as the actor may see it: an agency gets only its field set.
fn household_response(actor: &Actor, status: StatusCode, view: HouseholdView) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(header::ETAG, etag(view.household.version));
    if status == StatusCode::CREATED
        && let Ok(v) = HeaderValue::from_str(&format!("/api/v1/households/{}", view.household.id))
    {
        headers.insert(header::LOCATION, v);
    }
    let mut body = serde_json::to_value(&view).unwrap_or_default();
    actor.show_household(&mut body);
    (status, headers, axum::Json(body)).into_response()
}

fn person_response(actor: &Actor, person: Person) -> Response {
    let version = person.version;
    let mut body = serde_json::to_value(&person).unwrap_or_default();
    actor.show_person(&mut body);
    ([(header::ETAG, etag(version))], axum::Json(body)).into_response()
}

/// A page of records, each as the actor may see it.
fn page_response<T: serde::Serialize>(
    actor: &Actor,
    page: himaya_app::Page<T>,
    show: fn(&Actor, &mut serde_json::Value),
) -> Response {
    let mut body = serde_json::to_value(&page).unwrap_or_default();
    if let Some(items) = body.get_mut("items").and_then(|i| i.as_array_mut()) {
        for item in items {
            show(actor, item);
        }
    }
    axum::Json(body).into_response()
}

async fn health(State(s): State<AppState>) -> Response {
    match s.app.health().await {
        Ok(()) => axum::Json(serde_json::json!({"status": "ok", "database": "reachable"})).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({"status": "unavailable", "database": "unreachable"})),
            )
                .into_response()
        }
    }
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("openapi.json"),
    )
        .into_response()
}

async fn login(
    State(s): State<AppState>,
    crate::auth::ClientIp(ip): crate::auth::ClientIp,
    StrictJson(body): StrictJson<Login>,
) -> Result<Response, ApiError> {
    let client = ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    s.limits.logins.check(&client, LOGIN_ATTEMPTS_PER_MINUTE)?;
    let session = s.app.login(body).await?;
    let max_age = (session.expires_at - chrono::Utc::now()).num_seconds().max(0);
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=Strict",
        session.secret
    );
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        headers.insert(header::SET_COOKIE, v);
    }
    Ok((
        StatusCode::CREATED,
        headers,
        axum::Json(serde_json::json!({
            "csrf_token": session.csrf_token,
            "expires_at": session.expires_at,
            "must_change_password": session.must_change_password,
        })),
    )
        .into_response())
}

async fn session(State(s): State<AppState>, Authenticated(actor): Authenticated) -> Response {
    axum::Json(s.app.me(&actor)).into_response()
}

async fn logout(State(s): State<AppState>, Authenticated(actor): Authenticated) -> Result<Response, ApiError> {
    s.app.logout(&actor).await?;
    let clear = format!("{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict");
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&clear) {
        headers.insert(header::SET_COOKIE, v);
    }
    Ok((StatusCode::NO_CONTENT, headers).into_response())
}

async fn change_password(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    StrictJson(body): StrictJson<PasswordChange>,
) -> Result<Response, ApiError> {
    s.app.change_password(&actor, body).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn search_audit(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    Ok(axum::Json(s.app.search_audit(&actor, &query(q)?).await?).into_response())
}

async fn areas(State(s): State<AppState>, Authenticated(actor): Authenticated) -> Result<Response, ApiError> {
    Ok(axum::Json(serde_json::json!({ "items": s.app.areas(&actor).await? })).into_response())
}

async fn list_households(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    q: Result<Query<HouseholdQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let page = s.app.list_households(&actor, &query(q)?).await?;
    Ok(page_response(&actor, page, Actor::show_household))
}

async fn create_household(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    StrictJson(body): StrictJson<NewHousehold>,
) -> Result<Response, ApiError> {
    let view = s.app.register_household(&actor, body).await?;
    Ok(household_response(&actor, StatusCode::CREATED, view))
}

async fn get_household(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let view = s.app.household(&actor, household_id(&id)?).await?;
    Ok(household_response(&actor, StatusCode::OK, view))
}

async fn update_household(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    StrictJson(body): StrictJson<Changes>,
) -> Result<Response, ApiError> {
    let view = s
        .app
        .update_household(&actor, household_id(&id)?, if_match(&headers)?, body)
        .await?;
    Ok(household_response(&actor, StatusCode::OK, view))
}

async fn move_household(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    StrictJson(body): StrictJson<Changes>,
) -> Result<Response, ApiError> {
    let view = s
        .app
        .move_household(&actor, household_id(&id)?, if_match(&headers)?, body)
        .await?;
    Ok(household_response(&actor, StatusCode::OK, view))
}

async fn household_history(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let items = s.app.household_history(&actor, household_id(&id)?).await?;
    Ok(axum::Json(serde_json::json!({ "items": items })).into_response())
}

async fn household_score(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let view = s.app.household_score(&actor, household_id(&id)?).await?;
    Ok(axum::Json(view).into_response())
}

async fn add_member(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    StrictJson(body): StrictJson<NewMember>,
) -> Result<Response, ApiError> {
    let view = s
        .app
        .add_member(&actor, household_id(&id)?, if_match_optional(&headers)?, body)
        .await?;
    Ok(household_response(&actor, StatusCode::OK, view))
}

async fn split_household(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    StrictJson(body): StrictJson<Split>,
) -> Result<Response, ApiError> {
    let view = s
        .app
        .split_household(&actor, household_id(&id)?, if_match_optional(&headers)?, body)
        .await?;
    Ok(household_response(&actor, StatusCode::CREATED, view))
}

async fn merge_households(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    StrictJson(body): StrictJson<Merge>,
) -> Result<Response, ApiError> {
    let view = s
        .app
        .merge_households(&actor, household_id(&id)?, if_match_optional(&headers)?, body)
        .await?;
    Ok(household_response(&actor, StatusCode::OK, view))
}

async fn change_head(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    StrictJson(body): StrictJson<ChangeHead>,
) -> Result<Response, ApiError> {
    let view = s
        .app
        .change_head(&actor, household_id(&id)?, if_match_optional(&headers)?, body)
        .await?;
    Ok(household_response(&actor, StatusCode::OK, view))
}

async fn inactivate_household(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    StrictJson(body): StrictJson<Note>,
) -> Result<Response, ApiError> {
    let view = s
        .app
        .set_household_status(&actor, household_id(&id)?, if_match(&headers)?, false, body)
        .await?;
    Ok(household_response(&actor, StatusCode::OK, view))
}

async fn reactivate_household(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    StrictJson(body): StrictJson<Note>,
) -> Result<Response, ApiError> {
    let view = s
        .app
        .set_household_status(&actor, household_id(&id)?, if_match(&headers)?, true, body)
        .await?;
    Ok(household_response(&actor, StatusCode::OK, view))
}

async fn search_persons(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    q: Result<Query<PersonQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let page = s.app.search_persons(&actor, &query(q)?).await?;
    Ok(page_response(&actor, page, Actor::show_person))
}

async fn get_person(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let person = s.app.person(&actor, person_id(&id)?).await?;
    Ok(person_response(&actor, person))
}

async fn update_person(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    StrictJson(body): StrictJson<Changes>,
) -> Result<Response, ApiError> {
    Ok(person_response(
        &actor,
        s.app
            .update_person(&actor, person_id(&id)?, if_match(&headers)?, body)
            .await?,
    ))
}

async fn person_history(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let items = s.app.person_history(&actor, person_id(&id)?).await?;
    Ok(axum::Json(serde_json::json!({ "items": items })).into_response())
}

async fn transfer_person(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    StrictJson(body): StrictJson<Transfer>,
) -> Result<Response, ApiError> {
    Ok(person_response(
        &actor,
        s.app
            .transfer_person(&actor, person_id(&id)?, if_match(&headers)?, body)
            .await?,
    ))
}

async fn list_programmes(State(s): State<AppState>, Authenticated(actor): Authenticated) -> Result<Response, ApiError> {
    let items = s.app.programmes(&actor).await?;
    Ok(axum::Json(serde_json::json!({ "items": items })).into_response())
}

async fn get_programme(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    Ok(axum::Json(s.app.programme(&actor, &code).await?).into_response())
}

async fn save_programme(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(code): Path<String>,
    StrictJson(def): StrictJson<ProgrammeDef>,
) -> Result<Response, ApiError> {
    if def.code != code {
        return Err(himaya_app::AppError::Invalid(himaya_domain::Problem::single(
            "code",
            "mismatch",
            format!("the body's code {:?} is not the path's {code:?}", def.code),
        ))
        .into());
    }
    Ok(axum::Json(s.app.save_programme(&actor, def).await?).into_response())
}

/// A targeting run asked for over the API.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RunBody {
    area: Option<String>,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    enrol: bool,
    /// Parameters to simulate beside the rules in force (dry runs only).
    #[serde(default)]
    parameters: std::collections::BTreeMap<String, serde_json::Value>,
}

async fn run_programme(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(code): Path<String>,
    StrictJson(body): StrictJson<RunBody>,
) -> Result<Response, ApiError> {
    let mut overrides = Vec::new();
    for (name, value) in body.parameters {
        let text = match value {
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::String(t) => t,
            other => {
                return Err(himaya_app::AppError::Invalid(himaya_domain::Problem::single(
                    format!("parameters.{name}"),
                    "invalid",
                    format!("{other} is not a number"),
                ))
                .into());
            }
        };
        overrides.push((name, text));
    }
    let request = TargetRequest {
        programme: code,
        area: body.area,
        dry_run: body.dry_run,
        enrol: body.enrol,
        overrides,
    };
    let report = s.app.target_run(&actor, request, |_| {}).await?;
    let status = if report.dry_run {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, axum::Json(report)).into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitQuery {
    limit: Option<u32>,
}

async fn recertification(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(code): Path<String>,
    q: Result<Query<LimitQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let items = s.app.recertification_due(&actor, &code, q.limit.unwrap_or(100)).await?;
    Ok(axum::Json(serde_json::json!({ "items": items })).into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TransitionBody {
    to: String,
    reason: Option<String>,
}

async fn transition_enrolment(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((code, beneficiary)): Path<(String, String)>,
    StrictJson(body): StrictJson<TransitionBody>,
) -> Result<Response, ApiError> {
    let row = s
        .app
        .transition_enrolment(&actor, &code, &beneficiary, &body.to, body.reason.as_deref())
        .await?;
    Ok(axum::Json(row).into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EligibilityQuery {
    /// For programmes about people: the member.
    person: Option<String>,
    lang: Option<String>,
    /// `json` (default) or `text`: a letter to print for the family.
    format: Option<String>,
}

async fn eligibility(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((id, code)): Path<(String, String)>,
    q: Result<Query<EligibilityQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let text = match q.format.as_deref() {
        None | Some("json") => false,
        Some("text") => true,
        Some(other) => {
            return Err(himaya_app::AppError::Invalid(himaya_domain::Problem::single(
                "format",
                "unknown",
                format!("{other:?} is not a format; use json or text"),
            ))
            .into());
        }
    };
    let view = s
        .app
        .explain_eligibility(
            &actor,
            household_id(&id)?,
            &code,
            q.person.as_deref(),
            q.lang.as_deref(),
        )
        .await?;
    if text {
        let letter = s.app.eligibility_letter(&view);
        return Ok((
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            )],
            letter,
        )
            .into_response());
    }
    Ok(axum::Json(view).into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ComplianceBody {
    records: Vec<himaya_app::ComplianceInput>,
    /// Where the values come from (`school_census`, `health_facility`); `api` if not given.
    source: Option<String>,
}

async fn record_compliance(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    StrictJson(body): StrictJson<ComplianceBody>,
) -> Result<Response, ApiError> {
    let source = body.source.unwrap_or_else(|| "api".to_owned());
    let recorded = s.app.record_compliance(&actor, &source, &body.records).await?;
    Ok(axum::Json(serde_json::json!({ "recorded": recorded })).into_response())
}

/// The largest agency match request: 100,000 rows of a few fields each.
pub(crate) const MAX_MATCH_BODY: usize = 32 * 1024 * 1024;
/// The largest match job: ten times a request, for 1,000,000 rows.
pub(crate) const MAX_MATCH_JOB_BODY: usize = 10 * MAX_MATCH_BODY;

async fn run_dedup(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    StrictJson(body): StrictJson<DedupRunRequest>,
) -> Result<Response, ApiError> {
    let run = s.app.run_dedup(&actor, body).await?;
    Ok((StatusCode::CREATED, axum::Json(run)).into_response())
}

async fn dedup_pairs(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    q: Result<Query<PairQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let page = s.app.dedup_pairs(&actor, &query(q)?).await?;
    Ok(axum::Json(page).into_response())
}

async fn dedup_pair(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(axum::Json(s.app.dedup_pair(&actor, &id).await?).into_response())
}

async fn decide_pair(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
    StrictJson(body): StrictJson<PairDecision>,
) -> Result<Response, ApiError> {
    Ok(axum::Json(s.app.decide_pair(&actor, &id, body).await?).into_response())
}

async fn merge_pair(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
    StrictJson(body): StrictJson<PairMerge>,
) -> Result<Response, ApiError> {
    Ok(axum::Json(s.app.merge_pair(&actor, &id, body).await?).into_response())
}

async fn check_intake(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    StrictJson(body): StrictJson<IntakeCheck>,
) -> Result<Response, ApiError> {
    Ok(axum::Json(s.app.check_intake(&actor, body).await?).into_response())
}

async fn match_persons(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    StrictJson(body): StrictJson<MatchRequest>,
) -> Result<Response, ApiError> {
    Ok(axum::Json(s.app.match_persons(&actor, body).await?).into_response())
}

async fn submit_match_job(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    StrictJson(body): StrictJson<MatchRequest>,
) -> Result<Response, ApiError> {
    let job = s.app.submit_match_job(&actor, body).await?;
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/matches/jobs/{}", job.id)) {
        headers.insert(header::LOCATION, v);
    }
    Ok((StatusCode::ACCEPTED, headers, axum::Json(job)).into_response())
}

async fn match_job(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(axum::Json(s.app.match_job(&actor, &id).await?).into_response())
}

async fn match_job_results(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
    q: Result<Query<MatchResultsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    Ok(axum::Json(s.app.match_job_results(&actor, &id, &query(q)?).await?).into_response())
}
