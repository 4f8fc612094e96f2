use himaya_domain::Problem;
use himaya_store::StoreError;

/// Why a use case did not happen. Each variant maps to one stable error code.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The input is wrong; every wrong field is listed.
    #[error("invalid input: {0}")]
    Invalid(Problem),
    #[error("{what} {id} does not exist")]
    NotFound { what: &'static str, id: String },
    /// Optimistic concurrency: someone else changed the record first.
    #[error("the record is at version {current}, not the version given")]
    VersionConflict { current: i64 },
    /// The change contradicts the registry's state (inactive household…).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// No valid credentials: sign in again or send a live token.
    #[error("{message}")]
    Unauthenticated { code: &'static str, message: String },
    /// Signed in, but no rule allows this action here.
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// A bug or a failed worker thread; nothing the caller can fix.
    #[error("internal error: {0}")]
    Internal(String),
    /// The database failed; nothing the caller can fix.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::VersionConflict { current } => AppError::VersionConflict { current },
            StoreError::IdentifierTaken => AppError::Conflict {
                code: "identifier-taken",
                message: "an identifier was registered to another active person at the same moment; try again".into(),
            },
            e if e.is_retryable() => AppError::Conflict {
                code: "concurrent-change",
                message: "another change to the same records was made at the same moment; try again".into(),
            },
            e => AppError::Store(e),
        }
    }
}

impl From<Problem> for AppError {
    fn from(p: Problem) -> Self {
        AppError::Invalid(p)
    }
}

impl AppError {
    pub(crate) fn conflict(code: &'static str, message: impl Into<String>) -> AppError {
        AppError::Conflict {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn forbidden(code: &'static str, message: impl Into<String>) -> AppError {
        AppError::Forbidden {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn unauthenticated(code: &'static str, message: impl Into<String>) -> AppError {
        AppError::Unauthenticated {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> AppError {
        AppError::Invalid(Problem::single(field, code, message))
    }

    /// The stable machine code of this error (the problem `type` on the API).
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Invalid(_) => "validation-failed",
            AppError::NotFound { .. } => "not-found",
            AppError::VersionConflict { .. } => "version-conflict",
            AppError::Conflict { code, .. }
            | AppError::Unauthenticated { code, .. }
            | AppError::Forbidden { code, .. } => code,
            AppError::Store(_) | AppError::Internal(_) => "internal",
        }
    }
}
