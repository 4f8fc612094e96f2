//! Validation errors: every invalid field is named, with a stable code that
//! pages translate and a message in English for API clients and logs.

use serde::Serialize;

/// One invalid field. `field` is a path into the request (`members[0].identifiers[1].value`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            code,
            message: message.into(),
        }
    }
}

/// All the field errors of one input; empty means valid.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Problem {
    pub errors: Vec<FieldError>,
}

impl Problem {
    pub fn push(&mut self, field: impl Into<String>, code: &'static str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, code, message));
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// `Ok(value)` when no error was recorded.
    pub fn into_result<T>(self, value: T) -> Result<T, Problem> {
        if self.errors.is_empty() { Ok(value) } else { Err(self) }
    }

    pub fn single(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Problem {
        Problem {
            errors: vec![FieldError::new(field, code, message)],
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", e.field, e.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for Problem {}
