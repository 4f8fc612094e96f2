//! RFC 9457 problem details. Every error the API returns is one of these,
//! with a stable `code` (also the tail of `type`) that pages translate.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use himaya_app::AppError;
use himaya_domain::FieldError;
use serde::Serialize;

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub title: &'static str,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub current_version: Option<i64>,
    /// Seconds, for 429.
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    code: &'a str,
    detail: &'a str,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
    #[serde(skip_serializing_if = "Option::is_none")]
    current_version: Option<i64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, title: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            title,
            detail: detail.into(),
            errors: Vec::new(),
            current_version: None,
            retry_after: None,
        }
    }

    /// A malformed request that names one field.
    pub fn bad_field(
        status: StatusCode,
        code: &'static str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> ApiError {
        let message = message.into();
        let field = field.into();
        ApiError {
            errors: vec![FieldError::new(field.clone(), code, message.clone())],
            ..ApiError::new(status, code, title_of(code), format!("{field}: {message}"))
        }
    }

    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not-found", "Not found", "no such resource")
    }
}

fn title_of(code: &str) -> &'static str {
    match code {
        "validation-failed" => "The input is not valid",
        "malformed-json" => "The body is not valid JSON for this operation",
        "unsupported-media-type" => "The body must be JSON",
        "body-too-large" => "The body is too large",
        "invalid-query" => "The query string is not valid",
        "precondition-required" => "If-Match is required",
        "invalid-header" => "A header is not valid",
        _ => "The request cannot be carried out",
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> ApiError {
        let code = e.code();
        match e {
            AppError::Invalid(p) => ApiError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                detail: p.to_string(),
                errors: p.errors,
                ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, "The input is not valid", "")
            },
            AppError::NotFound { what, id } => ApiError::new(
                StatusCode::NOT_FOUND,
                code,
                "Not found",
                format!("{what} {id} does not exist"),
            ),
            AppError::VersionConflict { current } => ApiError {
                current_version: Some(current),
                ..ApiError::new(
                    StatusCode::CONFLICT,
                    code,
                    "The record changed since you read it",
                    format!("the record is now at version {current}: read it again and reapply your change"),
                )
            },
            AppError::Conflict { message, .. } => ApiError::new(
                StatusCode::CONFLICT,
                code,
                "The change conflicts with the registry",
                message,
            ),
            AppError::Unauthenticated { message, .. } => {
                ApiError::new(StatusCode::UNAUTHORIZED, code, "Authentication is required", message)
            }
            AppError::Forbidden { message, .. } => ApiError::new(StatusCode::FORBIDDEN, code, "Not allowed", message),
            e @ (AppError::Store(_) | AppError::Internal(_)) => {
                // Details go to the log under an id the client can quote; never to the client.
                let incident = uuid::Uuid::now_v7();
                tracing::error!(%incident, error = %e, "internal error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal error",
                    format!("an internal error occurred; incident {incident}"),
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            kind: format!("urn:himaya:problem:{}", self.code),
            title: self.title,
            status: self.status.as_u16(),
            code: self.code,
            detail: &self.detail,
            errors: &self.errors,
            current_version: self.current_version,
        };
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"himaya\""),
            );
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
