//! JSON input parsed strictly, with the field at fault named: the API's
//! bodies and the merge-patched documents of partial updates.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// Why a JSON document does not fit the expected shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// Dotted path of the field at fault; empty for the whole document.
    pub field: String,
    /// `malformed-json` (not JSON), `unknown-field`, `required` or `invalid-type`.
    pub code: &'static str,
    pub message: String,
}

/// Parses a request body.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| describe("", e))?;
    // Trailing content after the document is malformed too.
    de.end().map_err(|e| JsonError {
        field: String::new(),
        code: "malformed-json",
        message: e.to_string(),
    })?;
    Ok(value)
}

/// Reads a document built in memory; `prefix` is prepended to field paths.
pub fn from_value<T: DeserializeOwned>(value: Value, prefix: &str) -> Result<T, JsonError> {
    serde_path_to_error::deserialize(value).map_err(|e| describe(prefix, e))
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_owned(),
        (_, true) => a.to_owned(),
        _ => format!("{a}.{b}"),
    }
}

fn describe(prefix: &str, e: serde_path_to_error::Error<serde_json::Error>) -> JsonError {
    let path = e.path().to_string();
    let path = join(prefix, if path == "." { "" } else { &path });
    let inner = e.into_inner();
    let message = inner.to_string();
    if inner.is_syntax() || inner.is_eof() {
        return JsonError {
            field: path,
            code: "malformed-json",
            message,
        };
    }
    // serde names the field in its message: "missing field `members`".
    let named = || message.split('`').nth(1).unwrap_or_default().to_owned();
    let (field, code) = if message.starts_with("missing field") {
        (join(&path, &named()), "required")
    } else if message.starts_with("unknown field") {
        (path, "unknown-field")
    } else {
        (path, "invalid-type")
    };
    JsonError { field, code, message }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        inner: Inner,
        list: Vec<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        a: u32,
    }

    fn err(text: &str) -> (String, &'static str) {
        let e = from_slice::<Outer>(text.as_bytes()).unwrap_err();
        (e.field, e.code)
    }

    #[test]
    fn the_field_at_fault_is_named() {
        assert_eq!(err(r#"{"inner": {"a": 1}}"#), ("list".into(), "required"));
        assert_eq!(err(r#"{"inner": {}, "list": []}"#), ("inner.a".into(), "required"));
        assert_eq!(
            err(r#"{"inner": {"a": 1}, "list": [{"a": 1, "b": 2}]}"#),
            ("list[0].b".into(), "unknown-field")
        );
        assert_eq!(
            err(r#"{"inner": {"a": "x"}, "list": []}"#),
            ("inner.a".into(), "invalid-type")
        );
        assert_eq!(err(r#"{"inner": "#).1, "malformed-json");
        assert_eq!(err(r#"{"inner": {"a": 1}, "list": []} {}"#).1, "malformed-json");
        let e = from_value::<Outer>(serde_json::json!({"inner": {"a": -1}, "list": []}), "changes").unwrap_err();
        assert_eq!((e.field.as_str(), e.code), ("changes.inner.a", "invalid-type"));
    }
}
