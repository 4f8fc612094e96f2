//! The grievances part of the JSON API: record one, list and read them,
//! settle or reopen one.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use himaya_app::{GrievanceMove, GrievanceQuery, NewGrievance};

use crate::AppState;
use crate::api::{StrictJson, query};
use crate::auth::Authenticated;
use crate::problem::ApiError;

pub(crate) async fn record_grievance(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    StrictJson(body): StrictJson<NewGrievance>,
) -> Result<Response, ApiError> {
    let view = s.app.record_grievance(&actor, body).await?;
    let mut r = (StatusCode::CREATED, axum::Json(&view)).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/grievances/{}", view.grievance.id)) {
        r.headers_mut().insert(header::LOCATION, location);
    }
    Ok(r)
}

pub(crate) async fn list_grievances(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    q: Result<Query<GrievanceQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let page = s.app.grievances(&actor, &q).await?;
    Ok((StatusCode::OK, axum::Json(page)).into_response())
}

pub(crate) async fn get_grievance(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let view = s.app.grievance(&actor, &id).await?;
    Ok((StatusCode::OK, axum::Json(view)).into_response())
}

pub(crate) async fn move_grievance(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
    StrictJson(body): StrictJson<GrievanceMove>,
) -> Result<Response, ApiError> {
    let view = s.app.move_grievance(&actor, &id, body).await?;
    Ok((StatusCode::OK, axum::Json(view)).into_response())
}
