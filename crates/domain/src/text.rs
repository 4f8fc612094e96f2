//! Free text as entered: trimmed, limited in length, free of control
//! characters (which corrupt exports, SMS and terminals).

use crate::error::Problem;

/// The trimmed text, or `None` when empty. Records an error under `field` for
/// control characters or more than `max` characters.
pub fn check_text(value: Option<&str>, field: &str, max: usize, problem: &mut Problem) -> Option<String> {
    checked(value.map(str::to_owned), field, max, problem, |_| false)
}

/// As [`check_text`], for text written over several lines (a complaint, a
/// note): line breaks and tabs are kept, a browser's CRLF becomes LF, and
/// every other control character is refused.
pub fn check_multiline_text(value: Option<&str>, field: &str, max: usize, problem: &mut Problem) -> Option<String> {
    let v = value.map(|v| v.replace("\r\n", "\n"));
    checked(v, field, max, problem, |c| c == '\n' || c == '\t')
}

fn checked(
    value: Option<String>,
    field: &str,
    max: usize,
    problem: &mut Problem,
    allowed: impl Fn(char) -> bool,
) -> Option<String> {
    let v = value.as_deref().map(str::trim).filter(|v| !v.is_empty())?;
    if v.chars().count() > max {
        problem.push(field, "too-long", format!("longer than {max} characters"));
        return None;
    }
    if v.chars().any(|c| c.is_control() && !allowed(c)) {
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

    #[test]
    fn text_over_several_lines_keeps_its_lines_and_nothing_else() {
        let check = |v: &str| {
            let mut p = Problem::default();
            let out = check_multiline_text(Some(v), "f", 12, &mut p);
            (out, p.errors.iter().map(|e| e.code).collect::<Vec<_>>())
        };
        assert_eq!(check(" one\r\ntwo\tx "), (Some("one\ntwo\tx".into()), vec![]));
        assert_eq!(check("a\u{0}b"), (None, vec!["invalid-character"]));
        assert_eq!(check("a\rb"), (None, vec!["invalid-character"]));
        assert_eq!(check("a\u{1b}[3"), (None, vec!["invalid-character"]));
        // CRLF counts as one character, as it is stored.
        assert_eq!(check("12345\r\n678901").1, Vec::<&str>::new());
        assert_eq!(check("1234567\n789012"), (None, vec!["too-long"]));
    }
}
