//! Person records as linkage reads them: each field's value has a role,
//! and is parsed once into the forms comparisons and blocking use.

use chrono::{Datelike, NaiveDate};
use himaya_domain::date::{DateError, PartialDate};
use himaya_domain::digits::to_ascii_digits;

use crate::name::{NameForm, name_form, without_muhammad, word_keys};

/// What a column holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    GivenName,
    FamilyName,
    FullName,
    FatherName,
    DateOfBirth,
    Sex,
    NationalId,
    Phone,
    Address,
    Locality,
    Postcode,
    Area,
}

impl Role {
    pub const ALL: [Role; 12] = [
        Role::GivenName,
        Role::FamilyName,
        Role::FullName,
        Role::FatherName,
        Role::DateOfBirth,
        Role::Sex,
        Role::NationalId,
        Role::Phone,
        Role::Address,
        Role::Locality,
        Role::Postcode,
        Role::Area,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Role::GivenName => "given_name",
            Role::FamilyName => "family_name",
            Role::FullName => "full_name",
            Role::FatherName => "father_name",
            Role::DateOfBirth => "date_of_birth",
            Role::Sex => "sex",
            Role::NationalId => "national_id",
            Role::Phone => "phone",
            Role::Address => "address",
            Role::Locality => "locality",
            Role::Postcode => "postcode",
            Role::Area => "area",
        }
    }

    pub fn from_code(code: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.code() == code)
    }
}

/// A value that cannot be read for its role.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("{0:?} is not a date: use YYYY-MM-DD, YYYYMMDD, DD/MM/YYYY, YYYY-MM or a year{reason}", reason = date_reason(.1))]
    Date(String, DateError),
    #[error(
        "{0:?} is not a sex: use male or female (m, f, 1, 2, or the word in Urdu, Arabic or Bengali), \
         or leave it empty"
    )]
    Sex(String),
}

/// Why a date that has the right shape is not one; the shapes are listed already.
fn date_reason(e: &DateError) -> String {
    match e {
        DateError::Format => String::new(),
        other => format!(" ({other})"),
    }
}

/// Sex, when the value says which.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sex {
    Female,
    Male,
}

fn parse_sex(raw: &str) -> Option<Sex> {
    let v = raw.trim().to_lowercase();
    match v.as_str() {
        "f" | "female" | "woman" | "girl" | "2" | "أنثى" | "انثى" | "عورت" | "خاتون" | "مونث" | "মহিলা" | "নারী"
        | "স্ত্রী" => Some(Sex::Female),
        "m" | "male" | "man" | "boy" | "1" | "ذكر" | "مرد" | "مذکر" | "পুরুষ" => Some(Sex::Male),
        _ => None,
    }
}

/// Parses a date of birth: `YYYY-MM-DD`, `YYYYMMDD`, `DD/MM/YYYY`,
/// `YYYY-MM` or a year, in any digit script.
pub fn parse_date(raw: &str) -> Result<PartialDate, ValueError> {
    let folded = to_ascii_digits(raw.trim()).into_owned();
    let err = |e| ValueError::Date(raw.trim().to_owned(), e);
    if folded.len() == 8 && folded.bytes().all(|b| b.is_ascii_digit()) {
        let iso = format!("{}-{}-{}", &folded[..4], &folded[4..6], &folded[6..]);
        return PartialDate::parse(&iso).map_err(err);
    }
    if let [d, m, y] = folded.split('/').collect::<Vec<_>>().as_slice() {
        if y.len() != 4 || d.is_empty() || m.is_empty() || d.len() > 2 || m.len() > 2 {
            return Err(err(DateError::Format));
        }
        return PartialDate::parse(&format!("{y}-{m}-{d}")).map_err(err);
    }
    PartialDate::parse(&folded).map_err(err)
}

/// Digits of an identifier, with letters kept (passports) in upper case;
/// spaces, dashes and other separators dropped.
fn identifier_key(raw: &str) -> Option<Box<str>> {
    let key: String = to_ascii_digits(raw)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (!key.is_empty()).then(|| key.into_boxed_str())
}

/// The last nine digits of a phone number: national numbers of the four
/// countries are nine or ten digits, so this drops country codes and trunk
/// zeros however the number was typed.
fn phone_key(raw: &str) -> Option<Box<str>> {
    let digits: String = to_ascii_digits(raw).chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 6 {
        return None;
    }
    Some(digits[digits.len().saturating_sub(9)..].into())
}

/// A record's fields, parsed. Every role may have several values (a name in
/// two scripts from two columns); comparisons take the best agreement.
#[derive(Clone, Debug, Default)]
pub struct Record {
    pub given: Vec<NameForm>,
    pub family: Vec<NameForm>,
    pub father: Vec<NameForm>,
    /// Words of the full name (or, without one, of all name parts), with phonetic keys.
    pub words: Vec<(Box<str>, Box<str>)>,
    pub has_full_name: bool,
    pub birth: Option<PartialDate>,
    pub sex: Option<Sex>,
    pub ids: Vec<Box<str>>,
    pub phones: Vec<Box<str>>,
    pub address: Vec<Box<str>>,
    pub locality: Option<Box<str>>,
    pub postcode: Option<Box<str>>,
    pub area: Option<Box<str>>,
}

impl Record {
    /// Parses the values of one record. Empty values are missing; a value
    /// that cannot be read for its role (a date that is not one) is an error.
    pub fn parse<'a>(fields: impl IntoIterator<Item = (Role, &'a str)>) -> Result<Record, ValueError> {
        let mut r = Record::default();
        let mut full_words: Vec<(Box<str>, Box<str>)> = Vec::new();
        let mut part_words: Vec<(Box<str>, Box<str>)> = Vec::new();
        for (role, raw) in fields {
            let raw = raw.trim();
            if raw.is_empty() {
                continue;
            }
            match role {
                Role::GivenName | Role::FamilyName | Role::FatherName => {
                    let Some(form) = name_form(raw) else { continue };
                    push_distinct(&mut part_words, word_keys(raw));
                    let list = match role {
                        Role::GivenName => &mut r.given,
                        Role::FamilyName => &mut r.family,
                        _ => &mut r.father,
                    };
                    // A given name also stands without a leading Muhammad,
                    // so that Muhammad Imran and Imran agree and meet in blocks.
                    let short = (role == Role::GivenName).then(|| without_muhammad(raw)).flatten();
                    for form in std::iter::once(form).chain(short) {
                        if !list.contains(&form) {
                            list.push(form);
                        }
                    }
                }
                Role::FullName => {
                    r.has_full_name = true;
                    push_distinct(&mut full_words, word_keys(raw));
                }
                Role::DateOfBirth => {
                    let date = parse_date(raw)?;
                    // Of two dates, the more precise one.
                    if r.birth.is_none_or(|b| precision(&date) > precision(&b)) {
                        r.birth = Some(date);
                    }
                }
                Role::Sex => match parse_sex(raw) {
                    Some(sex) => r.sex = r.sex.or(Some(sex)),
                    // Said to be unknown, or a third gender (the registry's
                    // `other`), which is compared as missing: linkage
                    // compares the two sexes only.
                    None if matches!(
                        raw.to_lowercase().as_str(),
                        "u" | "unknown" | "?" | "x" | "-" | "n/a" | "na" | "o" | "other"
                    ) => {}
                    None => return Err(ValueError::Sex(raw.to_owned())),
                },
                Role::NationalId => r.ids.extend(identifier_key(raw)),
                Role::Phone => r.phones.extend(phone_key(raw)),
                Role::Address => {
                    for w in himaya_domain::name::search_tokens(raw) {
                        if !r.address.iter().any(|a| **a == *w) {
                            r.address.push(w.into_boxed_str());
                        }
                    }
                }
                Role::Locality => {
                    r.locality = r.locality.take().or_else(|| name_form(raw).map(|f| f.key));
                }
                Role::Postcode => r.postcode = r.postcode.take().or_else(|| identifier_key(raw)),
                Role::Area => {
                    let code = raw.to_uppercase();
                    r.area = r.area.take().or(Some(code.into_boxed_str()));
                }
            }
        }
        r.words = if r.has_full_name { full_words } else { part_words };
        r.ids.dedup();
        r.phones.dedup();
        Ok(r)
    }
}

fn push_distinct(into: &mut Vec<(Box<str>, Box<str>)>, words: Vec<(Box<str>, Box<str>)>) {
    for w in words {
        if !into.iter().any(|x| x.0 == w.0) {
            into.push(w);
        }
    }
}

fn precision(d: &PartialDate) -> u8 {
    match d {
        PartialDate::Year(_) => 0,
        PartialDate::YearMonth(..) => 1,
        PartialDate::Full(_) => 2,
    }
}

/// The month of a partial date, if it has one.
pub fn month(d: &PartialDate) -> Option<u32> {
    match *d {
        PartialDate::Year(_) => None,
        PartialDate::YearMonth(_, m) => Some(m),
        PartialDate::Full(f) => Some(f.month()),
    }
}

/// The full date, if it is one.
pub fn full(d: &PartialDate) -> Option<NaiveDate> {
    match *d {
        PartialDate::Full(f) => Some(f),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn dates_in_every_accepted_form() {
        let d = NaiveDate::from_ymd_opt(1980, 5, 12).unwrap();
        for s in [
            "1980-05-12",
            "19800512",
            "12/05/1980",
            "12/5/1980",
            "١٩٨٠-٠٥-١٢",
            "১৯৮০০৫১২",
        ] {
            assert_eq!(parse_date(s), Ok(PartialDate::Full(d)), "{s}");
        }
        assert_eq!(parse_date("1980"), Ok(PartialDate::Year(1980)));
        assert_eq!(parse_date("1980-05"), Ok(PartialDate::YearMonth(1980, 5)));
        assert!(matches!(
            parse_date("31/02/1980"),
            Err(ValueError::Date(_, DateError::Impossible))
        ));
        assert!(matches!(
            parse_date("05/1980"),
            Err(ValueError::Date(_, DateError::Format))
        ));
        assert!(matches!(
            parse_date("12/05/80"),
            Err(ValueError::Date(_, DateError::Format))
        ));
        assert!(parse_date("yesterday").is_err());
    }

    #[test]
    fn fields_are_parsed_once() {
        let r = Record::parse([
            (Role::GivenName, "شازیہ"),
            (Role::GivenName, "Shazia"),
            (Role::FamilyName, "Bibi"),
            (Role::DateOfBirth, "1990"),
            (Role::DateOfBirth, "1990-03-04"),
            (Role::Sex, "F"),
            (Role::NationalId, "35202-1234567-1"),
            (Role::Phone, "+92 300 1234567"),
            (Role::Phone, "0300-1234567"),
            (Role::Area, "pk-pb-mul"),
            (Role::FatherName, ""),
        ])
        .unwrap();
        assert_eq!(r.given.len(), 2);
        assert_eq!(
            r.birth,
            Some(PartialDate::Full(NaiveDate::from_ymd_opt(1990, 3, 4).unwrap()))
        );
        assert_eq!(r.sex, Some(Sex::Female));
        assert_eq!(r.ids, vec![Box::from("3520212345671")]);
        assert_eq!(r.phones, vec![Box::from("001234567")]);
        assert_eq!(r.area.as_deref(), Some("PK-PB-MUL"));
        assert!(r.father.is_empty());
        assert_eq!(r.words.len(), 3);
    }

    /// A sex that says neither is refused, naming the value; one said to be
    /// unknown, or a third gender, is missing.
    #[test]
    fn a_sex_is_read_or_refused() {
        let sex = |v: &str| Record::parse([(Role::Sex, v), (Role::GivenName, "Ali")]).map(|r| r.sex);
        assert_eq!(sex("M"), Ok(Some(Sex::Male)));
        assert_eq!(sex("مرد"), Ok(Some(Sex::Male)));
        assert_eq!(sex("Unknown"), Ok(None));
        assert_eq!(sex("other"), Ok(None));
        let e = sex("banana").unwrap_err();
        assert_eq!(e, ValueError::Sex("banana".into()));
        assert!(
            e.to_string().starts_with("\"banana\" is not a sex: use male or female"),
            "{e}"
        );
        let e = Record::parse([(Role::DateOfBirth, "soon")]).unwrap_err().to_string();
        assert_eq!(
            e,
            "\"soon\" is not a date: use YYYY-MM-DD, YYYYMMDD, DD/MM/YYYY, YYYY-MM or a year"
        );
        let e = Record::parse([(Role::DateOfBirth, "31/02/1990")])
            .unwrap_err()
            .to_string();
        assert!(
            e.ends_with("(no such date: check the month (1 to 12) and the day of the month)"),
            "{e}"
        );
    }

    proptest! {
        #[test]
        fn any_value_in_any_role_is_parsed_or_refused(role in 0usize..12, s in any::<String>()) {
            let _ = Record::parse([(Role::ALL[role], s.as_str())]);
        }
    }
}
