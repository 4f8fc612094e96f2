//! What a payment file's writer checks before a byte of a payment is
//! written: ids, account numbers, bank codes, and the declared totals.

use crate::amount::{self, MAX_TOTAL_DIGITS};
use crate::text::is_swift_char;

/// Why a payment file could not be written. Messages name ids and codes but
/// never a payee's name or account, so they are safe to log.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// A header fact or a payment the file cannot carry; nothing of it was written.
    #[error("{at}: {field} {reason}")]
    Invalid {
        at: String,
        field: &'static str,
        reason: String,
    },
    #[error("payment information {block}: {declared} transactions declared, {written} written")]
    TransactionCount { block: String, declared: u64, written: u64 },
    #[error("payment information {block}: control sum {declared} declared, {written} written")]
    ControlSum {
        block: String,
        declared: String,
        written: String,
    },
    #[error("the file declares no payment information block")]
    NoBlocks,
    #[error("there is no payment information block after {0}")]
    NoMoreBlocks(String),
    #[error("an earlier write failed; the file is incomplete")]
    Broken,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl WriteError {
    pub(crate) fn invalid(at: impl Into<String>, field: &'static str, reason: impl Into<String>) -> Self {
        WriteError::Invalid {
            at: at.into(),
            field,
            reason: reason.into(),
        }
    }
}

/// An identifier the file carries and a status report will echo back:
/// 1 to `max` characters of the SWIFT Latin set, with no space at either
/// end, no `/` at either end and no `//` (as the common usage guidelines
/// ask of references). Ids are refused, never cleaned: a changed id would
/// not match its status report.
pub(crate) fn id(value: &str, max: usize) -> Result<(), String> {
    if value.is_empty() {
        return Err("is empty".into());
    }
    if value.chars().count() > max {
        return Err(format!("is longer than {max} characters"));
    }
    if let Some(c) = value.chars().find(|&c| !is_swift_char(c)) {
        return Err(format!("contains {c:?}, outside the SWIFT Latin character set"));
    }
    if value.starts_with(' ') || value.ends_with(' ') {
        return Err("starts or ends with a space".into());
    }
    if value.starts_with('/') || value.ends_with('/') || value.contains("//") {
        return Err("starts or ends with \"/\" or contains \"//\"".into());
    }
    Ok(())
}

/// A code from an ISO 20022 external code set (`SSBE`, `BBAN`, `PKRTGS`…):
/// 1 to `max` letters and digits.
pub(crate) fn code(value: &str, max: usize) -> Result<(), String> {
    if value.is_empty() || value.len() > max || !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!("{value:?} is not a code of 1 to {max} letters and digits"));
    }
    Ok(())
}

/// An IBAN as ISO 13616 writes it electronically: capitals and digits, no
/// spaces, country code, check digits, and a remainder of 1 modulo 97.
pub(crate) fn iban(value: &str) -> Result<(), String> {
    let b = value.as_bytes();
    let shape = (5..=34).contains(&b.len())
        && b[..2].iter().all(u8::is_ascii_uppercase)
        && b[2..4].iter().all(u8::is_ascii_digit)
        && b[4..].iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if !shape {
        return Err("is not an IBAN (country code, two check digits, up to 30 capitals and digits)".into());
    }
    // Move the first four characters to the end, letters become 10..35.
    let mut rest: u32 = 0;
    for &c in b[4..].iter().chain(&b[..4]) {
        rest = if c.is_ascii_digit() {
            (rest * 10 + u32::from(c - b'0')) % 97
        } else {
            (rest * 100 + u32::from(c - b'A' + 10)) % 97
        };
    }
    if rest != 1 {
        return Err("fails the IBAN check digits".into());
    }
    Ok(())
}

/// A BIC (ISO 9362): 8 or 11 capitals and digits, the 5th and 6th a country.
/// pain.001.001.03's older pattern also wants letters for the first six.
pub(crate) fn bic(value: &str, letters_first: bool) -> Result<(), String> {
    let b = value.as_bytes();
    let alnum = |c: &u8| c.is_ascii_uppercase() || c.is_ascii_digit();
    let ok = (b.len() == 8 || b.len() == 11)
        && b.iter().all(alnum)
        && b[4..6].iter().all(u8::is_ascii_uppercase)
        && (!letters_first || b[..4].iter().all(u8::is_ascii_uppercase));
    if !ok {
        return Err(format!("{value:?} is not a BIC"));
    }
    Ok(())
}

/// An amount or control sum of at most 18 digits at `exponent`.
pub(crate) fn digits(minor: u128) -> Result<(), String> {
    if amount::digit_count(minor) > MAX_TOTAL_DIGITS {
        return Err(format!("has more than {MAX_TOTAL_DIGITS} digits"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(id("BEN-000001-C06", 35).is_ok());
        assert!(id("a/b", 35).is_ok());
        assert_eq!(id("", 35).unwrap_err(), "is empty");
        assert!(id(&"x".repeat(36), 35).unwrap_err().contains("longer than 35"));
        assert!(id("E2E_1", 35).unwrap_err().contains("'_'"));
        assert!(id("E2E 1 ", 35).unwrap_err().contains("space"));
        assert!(id("/E2E", 35).is_err());
        assert!(id("E2E/", 35).is_err());
        assert!(id("E2//E", 35).is_err());
    }

    #[test]
    fn ibans() {
        assert!(iban("PK36SCBL0000001123456702").is_ok());
        assert!(iban("JO94CBJO0010000000000131000302").is_ok());
        assert!(iban("PS92PALS000000000400123456702").is_ok());
        assert!(iban("GB82WEST12345698765432").is_ok());
        assert_eq!(
            iban("GB82WEST12345698765433").unwrap_err(),
            "fails the IBAN check digits"
        );
        assert!(iban("gb82WEST12345698765432").is_err());
        assert!(iban("GB82 WEST 1234 5698 7654 32").is_err());
        assert!(iban("GB8").is_err());
        assert!(iban("").is_err());
    }

    #[test]
    fn bics_and_codes() {
        assert!(bic("SCBLPKKX", true).is_ok());
        assert!(bic("SCBLPKKXXXX", true).is_ok());
        assert!(bic("1234PKKX", false).is_ok());
        assert!(bic("1234PKKX", true).is_err());
        assert!(bic("SCBLPKK", false).is_err());
        assert!(bic("scblpkkx", false).is_err());
        assert!(bic("SCBL12KX", false).is_err());
        assert!(code("SSBE", 4).is_ok());
        assert!(code("SSBEX", 4).is_err());
        assert!(code("", 4).is_err());
        assert!(code("SS-B", 4).is_err());
        assert!(digits(999_999_999_999_999_999).is_ok());
        assert!(digits(1_000_000_000_000_000_000).is_err());
    }
}
