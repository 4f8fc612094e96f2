//! Free text as entered: trimmed, limited in length, free of control
//! characters (which corrupt exports, SMS and terminals).

use crate::error::Problem;

/// The trimmed text, or `None` when empty. Records an error under `field` for
/// control characters or more than `max` characters.
pub fn check_text(value: Option<&str>, field: &str, max: usize, problem: &mut Problem) -> Option<String> {
    let v = value.map(str::trim).filter(|v| !v.is_empty())?;
    if v.chars().count() > max {
        problem.push(field, "too-long", format!("longer than {max} characters"));
        return None;
    }
    if v.chars().any(|c| c.is_control()) {
        problem.push(field, "invalid-character", "contains control characters");
        return None;
    }
    Some(v.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(v: &str) -> (Option<String>, Vec<&'static str>) {
        let mut p = Problem::default();
        let out = check_text(Some(v), "f", 5, &mut p);
        (out, p.errors.iter().map(|e| e.code).collect())
    }

    #[test]
    fn text_is_trimmed_limited_and_clean() {
        assert_eq!(check("  ab "), (Some("ab".into()), vec![]));
        assert_eq!(check("   "), (None, vec![]));
        assert_eq!(check("abcdef"), (None, vec!["too-long"]));
        assert_eq!(check("a\u{0}b"), (None, vec!["invalid-character"]));
        assert_eq!(check("a\u{1b}[3"), (None, vec!["invalid-character"]));
    }
}
