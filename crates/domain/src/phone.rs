//! Phone numbers, stored in E.164 (`+923001234567`).
//!
//! Validity comes from libphonenumber's metadata (the `phonenumber` crate), not
//! from hand-written patterns, so it follows numbering-plan updates. We clean
//! the input ourselves first and hand the library only `+digits` or `digits`:
//! the library has panicked on odd free text before, and letters (vanity
//! numbers, "ext.") have no place in a registry's phone field.

use phonenumber::{Mode, PhoneNumber, country::Id};
use serde::{Deserialize, Serialize};

use crate::digits::to_ascii_digits;
use crate::vocab::Country;

/// Longest input looked at, in bytes: generous for spacing, short enough to be cheap.
const MAX_INPUT_BYTES: usize = 64;
/// 15 digits of E.164 plus a two-digit `00` international prefix.
const MAX_DIGITS: usize = 17;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Phone(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("the phone number is empty")]
    Empty,
    #[error("the phone number is too long")]
    TooLong,
    #[error(
        "not a valid phone number: write it as dialled in the country, with its leading 0, or with the country code (+…)"
    )]
    Invalid,
}

impl PhoneError {
    pub fn code(&self) -> &'static str {
        match self {
            PhoneError::Empty => "phone-empty",
            PhoneError::TooLong => "phone-too-long",
            PhoneError::Invalid => "phone-invalid",
        }
    }
}

fn region(country: Country) -> Id {
    match country {
        Country::Pk => Id::PK,
        Country::Bd => Id::BD,
        Country::Jo => Id::JO,
        Country::Ps => Id::PS,
    }
}

/// Characters people put between digit groups, besides whitespace. Unicode
/// dashes arrive by copy-paste from documents.
const DECORATIONS: &[char] = &[
    '-', '.', '(', ')', '/', '\u{2010}', '\u{2011}', '\u{2012}', '\u{2013}', '\u{2014}', '\u{2212}',
];

fn is_decoration(c: char) -> bool {
    c.is_whitespace() || DECORATIONS.contains(&c)
}

/// The E.164 form of `number` when libphonenumber's metadata says it is valid.
fn valid_e164(number: &PhoneNumber) -> Option<String> {
    number.is_valid().then(|| number.format().mode(Mode::E164).to_string())
}

/// A Palestinian mobile written under the Israeli code (+972 5[69]…), moved
/// to +970. Validity is checked under Palestine's own metadata, because
/// Israel's describes only part of the 059 range (+972 591… is not valid
/// there, +970 591… is).
fn palestinian_via_972(number: &PhoneNumber) -> Option<String> {
    let national = number.national().to_string();
    let is_ps_mobile = number.code().value() == 972
        && national.len() == 9
        && (national.starts_with("56") || national.starts_with("59"));
    if !is_ps_mobile {
        return None;
    }
    let as_ps = phonenumber::parse(Some(Id::PS), format!("+970{national}")).ok()?;
    valid_e164(&as_ps)
}

impl Phone {
    /// Parses a number typed in `country`: the national form with its leading
    /// 0, or an international form with `+` or `00`, in any digit script,
    /// with spaces, dashes, dots, slashes or parentheses between groups.
    ///
    /// A valid number of another country is accepted when written with its
    /// country code (migrant workers keep foreign numbers). Palestinian
    /// mobiles dialled through Israel (+972 56…, +972 59…) are stored under
    /// +970, so one subscriber has one key whichever way it was written.
    pub fn parse(raw: &str, country: Country) -> Result<Phone, PhoneError> {
        let folded = to_ascii_digits(raw.trim());
        if folded.is_empty() {
            return Err(PhoneError::Empty);
        }
        if folded.len() > MAX_INPUT_BYTES {
            return Err(PhoneError::TooLong);
        }

        let mut plus = false;
        let mut digits = String::new();
        for c in folded.chars() {
            match c {
                '0'..='9' => digits.push(c),
                // `+` only before the first digit.
                '+' if !plus && digits.is_empty() => plus = true,
                c if is_decoration(c) => {}
                _ => return Err(PhoneError::Invalid),
            }
        }
        if digits.is_empty() {
            return Err(if plus { PhoneError::Invalid } else { PhoneError::Empty });
        }
        if digits.len() > MAX_DIGITS {
            return Err(PhoneError::TooLong);
        }
        // All four countries dial abroad with `00`; turning it into `+` here
        // keeps the rule visible and the library on its simplest path.
        let cleaned = match digits.strip_prefix("00") {
            Some(rest) if !plus => format!("+{rest}"),
            _ if plus => format!("+{digits}"),
            _ => digits,
        };

        let number = phonenumber::parse(Some(region(country)), &cleaned).map_err(|_| PhoneError::Invalid)?;
        palestinian_via_972(&number)
            .or_else(|| valid_e164(&number))
            .map(Phone)
            .ok_or(PhoneError::Invalid)
    }

    /// The E.164 form, e.g. `+923001234567`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Phone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn e164(raw: &str, country: Country) -> String {
        match Phone::parse(raw, country) {
            Ok(p) => p.0,
            Err(e) => panic!("{raw:?} in {country:?} should parse: {e}"),
        }
    }

    fn err(raw: &str, country: Country) -> PhoneError {
        match Phone::parse(raw, country) {
            Ok(p) => panic!("{raw:?} in {country:?} should not parse, got {p:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn pakistan() {
        for raw in [
            "0300 1234567",
            "03001234567",
            "0300-1234567",
            "+92 300 1234567",
            "+92 (300) 123-4567",
            "0092 300 1234567",
            "00923001234567",
            "923001234567",
            "۰۳۰۰۱۲۳۴۵۶۷",
            "٠٣٠٠ ١٢٣٤٥٦٧",
            "0300.123.4567",
        ] {
            assert_eq!(e164(raw, Country::Pk), "+923001234567", "{raw}");
        }
    }

    #[test]
    fn bangladesh() {
        assert_eq!(e164("01712345678", Country::Bd), "+8801712345678");
        assert_eq!(e164("০১৭১২৩৪৫৬৭৮", Country::Bd), "+8801712345678");
        assert_eq!(e164("+880 1712-345678", Country::Bd), "+8801712345678");
        assert_eq!(e164("008801712345678", Country::Bd), "+8801712345678");
    }

    #[test]
    fn jordan() {
        assert_eq!(e164("0791234567", Country::Jo), "+962791234567");
        assert_eq!(e164("٠٧٩١٢٣٤٥٦٧", Country::Jo), "+962791234567");
        assert_eq!(e164("+962 79 123 4567", Country::Jo), "+962791234567");
    }

    #[test]
    fn palestine_and_the_972_form() {
        assert_eq!(e164("0591234567", Country::Ps), "+970591234567");
        assert_eq!(e164("0561234567", Country::Ps), "+970561234567");
        assert_eq!(e164("٠٥٩٩١٢٣٤٥٦", Country::Ps), "+970599123456");
        assert_eq!(e164("+970 59 123 4567", Country::Ps), "+970591234567");
        // Dialled through the Israeli code: the same Palestinian subscriber.
        assert_eq!(e164("+972 59 123 4567", Country::Ps), "+970591234567");
        assert_eq!(e164("00972561234567", Country::Ps), "+970561234567");
        assert_eq!(e164("+972591234567", Country::Jo), "+970591234567");
        // An Israeli mobile outside 5[69] stays Israeli.
        assert_eq!(e164("+972 50 234 5678", Country::Ps), "+972502345678");
        // A West Bank landline.
        assert_eq!(e164("02 2234567", Country::Ps), "+97022234567");
        // Not a Palestinian mobile prefix in the national form.
        assert_eq!(err("0521234567", Country::Ps), PhoneError::Invalid);
    }

    #[test]
    fn foreign_numbers_need_their_country_code() {
        assert_eq!(e164("+44 20 7946 0958", Country::Pk), "+442079460958");
        assert_eq!(e164("+962791234567", Country::Pk), "+962791234567");
        assert_eq!(err("0791234567", Country::Pk), PhoneError::Invalid);
    }

    #[test]
    fn junk() {
        assert_eq!(err("", Country::Pk), PhoneError::Empty);
        assert_eq!(err("   ", Country::Pk), PhoneError::Empty);
        assert_eq!(err(" - ( ) ", Country::Pk), PhoneError::Empty);
        assert_eq!(err("+", Country::Pk), PhoneError::Invalid);
        assert_eq!(err("abc", Country::Pk), PhoneError::Invalid);
        assert_eq!(err("0300 CALL ME", Country::Pk), PhoneError::Invalid);
        assert_eq!(err("0300 1234567 ext. 12", Country::Pk), PhoneError::Invalid);
        assert_eq!(err("03001234567+", Country::Pk), PhoneError::Invalid);
        assert_eq!(err("++923001234567", Country::Pk), PhoneError::Invalid);
        assert_eq!(err("0300 123456", Country::Pk), PhoneError::Invalid);
        assert_eq!(err("1234", Country::Bd), PhoneError::Invalid);
        assert_eq!(err("0000000000", Country::Jo), PhoneError::Invalid);
        assert_eq!(err("  2 22#:", Country::Ps), PhoneError::Invalid);
        assert_eq!(err("123456789012345678", Country::Pk), PhoneError::TooLong);
        assert_eq!(err(&"1 ".repeat(40), Country::Pk), PhoneError::TooLong);
        assert_eq!(err("0300", Country::Pk).code(), "phone-invalid");
        assert_eq!(err("", Country::Pk).code(), "phone-empty");
        assert_eq!(PhoneError::TooLong.code(), "phone-too-long");
    }

    #[test]
    fn serialises_as_a_plain_string() {
        let p = Phone::parse("0300 1234567", Country::Pk).unwrap();
        assert_eq!(p.as_str(), "+923001234567");
        assert_eq!(p.to_string(), "+923001234567");
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"+923001234567\"");
        assert_eq!(serde_json::from_str::<Phone>("\"+923001234567\"").unwrap(), p);
    }

    fn any_country() -> impl Strategy<Value = Country> {
        prop::sample::select(Country::ALL.to_vec())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn never_panics(raw in any::<String>(), country in any_country()) {
            let _ = Phone::parse(&raw, country);
        }

        #[test]
        fn never_panics_on_number_like_input(raw in "[+]?[0-9 ()+.-]{0,25}", country in any_country()) {
            if let Ok(p) = Phone::parse(&raw, country) {
                // Whatever was accepted is E.164 and parses to itself.
                prop_assert!(p.as_str().starts_with('+'));
                prop_assert!(p.as_str()[1..].bytes().all(|b| b.is_ascii_digit()));
                prop_assert_eq!(Phone::parse(p.as_str(), country), Ok(p.clone()));
            }
        }

        #[test]
        fn mobiles_in_every_national_form_agree(rest in "[0-9]{7}") {
            let cases = [
                (Country::Pk, format!("0300{rest}"), format!("+92300{rest}")),
                (Country::Bd, format!("0171{rest}"), format!("+880171{rest}")),
                (Country::Jo, format!("079{rest}"), format!("+96279{rest}")),
                (Country::Ps, format!("059{rest}"), format!("+97059{rest}")),
            ];
            for (country, national, expected) in cases {
                prop_assert_eq!(Phone::parse(&national, country).map(|p| p.0), Ok(expected.clone()));
                prop_assert_eq!(Phone::parse(&expected, country).map(|p| p.0), Ok(expected.clone()));
            }
        }
    }
}
