//! Dates of birth and other dates that may be known only in part.
//!
//! Many beneficiaries know their birth year but not the day, so a date may be
//! a year, a year and month, or a full date. Written forms are ISO only
//! (`1980`, `1980-05`, `1980-05-12`): day-first and month-first forms are
//! ambiguous and are converted at import, not guessed here.

use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::digits::to_ascii_digits;

/// Earliest birth year accepted: older records are data errors.
pub const MIN_YEAR: i32 = 1880;
pub const MAX_YEAR: i32 = 9999;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PartialDate {
    Year(i32),
    YearMonth(i32, u32),
    Full(NaiveDate),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    /// Also returned by [`parse_full_date`] for a year or year-month alone.
    #[error("expected YYYY, YYYY-MM or YYYY-MM-DD (YYYY-MM-DD where the full date is required)")]
    Format,
    #[error("no such date: check the month (1 to 12) and the day of the month")]
    Impossible,
    #[error("the year must be between 1880 and 9999")]
    OutOfRange,
}

impl DateError {
    pub fn code(&self) -> &'static str {
        match self {
            DateError::Format => "date-format",
            DateError::Impossible => "date-impossible",
            DateError::OutOfRange => "date-out-of-range",
        }
    }
}

/// A run of one to `max` ASCII digits as a number.
fn number(part: &str, max: usize) -> Result<u32, DateError> {
    if part.is_empty() || part.len() > max || !part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DateError::Format);
    }
    part.parse().map_err(|_| DateError::Format)
}

/// Parses `YYYY`, `YYYY-MM` or `YYYY-MM-DD` in any digit script. The year has
/// exactly four digits; month and day may have one or two.
pub fn parse(raw: &str) -> Result<PartialDate, DateError> {
    let folded = to_ascii_digits(raw.trim());
    let mut parts = folded.split('-');
    let (year, month, day) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(y), m, d, None) if m.is_some() || d.is_none() => (y, m, d),
        _ => return Err(DateError::Format),
    };
    if year.len() != 4 {
        return Err(DateError::Format);
    }
    // Four digits always fit an i32.
    let year = i32::try_from(number(year, 4)?).map_err(|_| DateError::Format)?;
    let month = month.map(|m| number(m, 2)).transpose()?;
    let day = day.map(|d| number(d, 2)).transpose()?;
    // Shape first, then the year range, then the calendar: one error, the most basic.
    if !(MIN_YEAR..=MAX_YEAR).contains(&year) {
        return Err(DateError::OutOfRange);
    }
    match (month, day) {
        (None, _) => Ok(PartialDate::Year(year)),
        (Some(m), None) if (1..=12).contains(&m) => Ok(PartialDate::YearMonth(year, m)),
        (Some(_), None) => Err(DateError::Impossible),
        (Some(m), Some(d)) => NaiveDate::from_ymd_opt(year, m, d)
            .map(PartialDate::Full)
            .ok_or(DateError::Impossible),
    }
}

/// Parses a full `YYYY-MM-DD` date (any digit script); a partial date is a
/// [`DateError::Format`] error.
pub fn parse_full_date(raw: &str) -> Result<NaiveDate, DateError> {
    match parse(raw)? {
        PartialDate::Full(d) => Ok(d),
        PartialDate::Year(_) | PartialDate::YearMonth(..) => Err(DateError::Format),
    }
}

/// The first day of `month` in `year`, clamping values that `parse` would
/// have refused, so hand-built dates never panic.
fn first_of_month(year: i32, month: u32) -> NaiveDate {
    let year = year.clamp(NaiveDate::MIN.year(), NaiveDate::MAX.year());
    NaiveDate::from_ymd_opt(year, month.clamp(1, 12), 1).unwrap_or(NaiveDate::MIN)
}

fn last_of_month(year: i32, month: u32) -> NaiveDate {
    let first = first_of_month(year, month);
    (28..=31).rev().find_map(|d| first.with_day(d)).unwrap_or(first)
}

impl PartialDate {
    /// Same as the module function [`parse`].
    pub fn parse(raw: &str) -> Result<PartialDate, DateError> {
        parse(raw)
    }

    pub fn year(&self) -> i32 {
        match *self {
            PartialDate::Year(y) | PartialDate::YearMonth(y, _) => y,
            PartialDate::Full(d) => d.year(),
        }
    }

    /// The first day the date may stand for.
    pub fn earliest(&self) -> NaiveDate {
        match *self {
            PartialDate::Year(y) => first_of_month(y, 1),
            PartialDate::YearMonth(y, m) => first_of_month(y, m),
            PartialDate::Full(d) => d,
        }
    }

    /// The last day the date may stand for.
    pub fn latest(&self) -> NaiveDate {
        match *self {
            PartialDate::Year(y) => last_of_month(y, 12),
            PartialDate::YearMonth(y, m) => last_of_month(y, m),
            PartialDate::Full(d) => d,
        }
    }

    /// True when even the earliest day the date may stand for is after `today`.
    pub fn is_in_future(&self, today: NaiveDate) -> bool {
        self.earliest() > today
    }

    /// Completed years on `on`, counting a partial date from its earliest
    /// day: a year-only birth is taken as 1 January, as registries commonly
    /// record unknown birthdays. This is the oldest age the person can be;
    /// use [`PartialDate::latest`] where the youngest is needed. `None` when
    /// `on` is before that day (so exactly when `is_in_future(on)`). Someone
    /// born on 29 February gains a year on 1 March in common years.
    pub fn age_on(&self, on: NaiveDate) -> Option<u32> {
        let born = self.earliest();
        if on < born {
            return None;
        }
        let years = on.year() - born.year();
        let before_birthday = (on.month(), on.day()) < (born.month(), born.day());
        u32::try_from(years - i32::from(before_birthday)).ok()
    }
}

impl fmt::Display for PartialDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PartialDate::Year(y) => write!(f, "{y:04}"),
            PartialDate::YearMonth(y, m) => write!(f, "{y:04}-{m:02}"),
            PartialDate::Full(d) => write!(f, "{:04}-{:02}-{:02}", d.year(), d.month(), d.day()),
        }
    }
}

impl std::str::FromStr for PartialDate {
    type Err = DateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

impl Serialize for PartialDate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PartialDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Read in place, without a copy: targeting reads millions of these.
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = PartialDate;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a date: YYYY, YYYY-MM or YYYY-MM-DD")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PartialDate, E> {
                parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("test date")
    }

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(parse("1980"), Ok(PartialDate::Year(1980)));
        assert_eq!(parse(" 1980-05 "), Ok(PartialDate::YearMonth(1980, 5)));
        assert_eq!(parse("1980-5"), Ok(PartialDate::YearMonth(1980, 5)));
        assert_eq!(parse("1980-05-12"), Ok(PartialDate::Full(ymd(1980, 5, 12))));
        assert_eq!(parse("1980-5-2"), Ok(PartialDate::Full(ymd(1980, 5, 2))));
        assert_eq!(parse("2024-02-29"), Ok(PartialDate::Full(ymd(2024, 2, 29))));
    }

    #[test]
    fn any_digit_script() {
        assert_eq!(parse("١٩٨٠-٠٥-١٢"), Ok(PartialDate::Full(ymd(1980, 5, 12))));
        assert_eq!(parse("۱۹۸۰-۰۵"), Ok(PartialDate::YearMonth(1980, 5)));
        assert_eq!(parse("১৯৮০"), Ok(PartialDate::Year(1980)));
        assert_eq!(parse_full_date("२०००-०१-३१"), Ok(ymd(2000, 1, 31)));
    }

    #[test]
    fn errors() {
        for bad in [
            "",
            "80",
            "19800",
            "1980-",
            "1980--05",
            "1980-05-12-1",
            "12/05/1980",
            "1980-005",
            "1980/05",
            "+1980",
            "1980-05-1x",
            "198O",
        ] {
            assert_eq!(parse(bad), Err(DateError::Format), "{bad:?}");
        }
        assert_eq!(parse("2023-02-29"), Err(DateError::Impossible));
        assert_eq!(parse("1980-13"), Err(DateError::Impossible));
        assert_eq!(parse("1980-00"), Err(DateError::Impossible));
        assert_eq!(parse("1980-04-31"), Err(DateError::Impossible));
        assert_eq!(parse("1980-01-00"), Err(DateError::Impossible));
        assert_eq!(parse("1879"), Err(DateError::OutOfRange));
        assert_eq!(parse("0000-01-01"), Err(DateError::OutOfRange));
        assert_eq!(parse("1880"), Ok(PartialDate::Year(1880)));
        assert_eq!(parse("9999-12-31"), Ok(PartialDate::Full(ymd(9999, 12, 31))));
        assert_eq!(parse_full_date("1980-05"), Err(DateError::Format));
        assert_eq!(parse_full_date("1980"), Err(DateError::Format));
        assert_eq!(DateError::Format.code(), "date-format");
        assert_eq!(DateError::Impossible.code(), "date-impossible");
        assert_eq!(DateError::OutOfRange.code(), "date-out-of-range");
        assert!(
            DateError::Format
                .to_string()
                .starts_with("expected YYYY, YYYY-MM or YYYY-MM-DD")
        );
    }

    #[test]
    fn bounds() {
        let y = PartialDate::Year(1980);
        assert_eq!((y.earliest(), y.latest()), (ymd(1980, 1, 1), ymd(1980, 12, 31)));
        let feb = PartialDate::YearMonth(2024, 2);
        assert_eq!((feb.earliest(), feb.latest()), (ymd(2024, 2, 1), ymd(2024, 2, 29)));
        assert_eq!(PartialDate::YearMonth(2023, 2).latest(), ymd(2023, 2, 28));
        assert_eq!(PartialDate::YearMonth(2023, 4).latest(), ymd(2023, 4, 30));
        let d = PartialDate::Full(ymd(1980, 5, 12));
        assert_eq!(
            (d.earliest(), d.latest(), d.year()),
            (ymd(1980, 5, 12), ymd(1980, 5, 12), 1980)
        );
    }

    #[test]
    fn future() {
        let today = ymd(2025, 6, 15);
        assert!(!PartialDate::Year(2025).is_in_future(today));
        assert!(!PartialDate::YearMonth(2025, 6).is_in_future(today));
        assert!(PartialDate::YearMonth(2025, 7).is_in_future(today));
        assert!(PartialDate::Full(ymd(2025, 6, 16)).is_in_future(today));
        assert!(!PartialDate::Full(today).is_in_future(today));
    }

    #[test]
    fn ages() {
        let born = PartialDate::Full(ymd(1960, 3, 10));
        assert_eq!(born.age_on(ymd(2025, 3, 9)), Some(64));
        assert_eq!(born.age_on(ymd(2025, 3, 10)), Some(65));
        assert_eq!(born.age_on(ymd(1960, 3, 10)), Some(0));
        assert_eq!(born.age_on(ymd(1960, 3, 9)), None);
        // Year only: counted from 1 January.
        assert_eq!(PartialDate::Year(1960).age_on(ymd(2025, 1, 1)), Some(65));
        assert_eq!(PartialDate::Year(1960).age_on(ymd(2024, 12, 31)), Some(64));
        assert_eq!(PartialDate::YearMonth(2023, 8).age_on(ymd(2025, 7, 31)), Some(1));
        assert_eq!(PartialDate::YearMonth(2023, 8).age_on(ymd(2023, 7, 31)), None);
        let leap = PartialDate::Full(ymd(2000, 2, 29));
        assert_eq!(leap.age_on(ymd(2001, 2, 28)), Some(0));
        assert_eq!(leap.age_on(ymd(2001, 3, 1)), Some(1));
        assert_eq!(leap.age_on(ymd(2004, 2, 29)), Some(4));
    }

    #[test]
    fn hand_built_values_never_panic() {
        for d in [
            PartialDate::Year(i32::MIN),
            PartialDate::Year(i32::MAX),
            PartialDate::YearMonth(2000, 0),
            PartialDate::YearMonth(2000, 13),
            PartialDate::YearMonth(i32::MAX, u32::MAX),
        ] {
            let _ = (d.earliest(), d.latest(), d.to_string(), d.age_on(ymd(2025, 1, 1)));
            assert!(d.earliest() <= d.latest());
        }
    }

    #[test]
    fn serde_as_string() {
        let d = PartialDate::YearMonth(1980, 5);
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"1980-05\"");
        assert_eq!(serde_json::from_str::<PartialDate>("\"1980-05\"").unwrap(), d);
        assert_eq!(
            serde_json::from_str::<PartialDate>("\"1980\"").unwrap(),
            PartialDate::Year(1980)
        );
        assert_eq!(
            serde_json::to_string(&PartialDate::Full(ymd(1980, 5, 12))).unwrap(),
            "\"1980-05-12\""
        );
        assert!(serde_json::from_str::<PartialDate>("\"1980-13\"").is_err());
        assert!(serde_json::from_str::<PartialDate>("1980").is_err());
    }

    fn valid_date() -> impl Strategy<Value = PartialDate> {
        prop_oneof![
            (MIN_YEAR..=MAX_YEAR).prop_map(PartialDate::Year),
            (MIN_YEAR..=MAX_YEAR, 1u32..=12).prop_map(|(y, m)| PartialDate::YearMonth(y, m)),
            (MIN_YEAR..=MAX_YEAR, 1u32..=12, 1u32..=31).prop_map(|(y, m, d)| {
                // Days past the month's end fall back to its last day.
                PartialDate::Full(NaiveDate::from_ymd_opt(y, m, d).unwrap_or_else(|| last_of_month(y, m)))
            }),
        ]
    }

    proptest! {
        #[test]
        fn never_panics(raw in any::<String>()) {
            let _ = parse(&raw);
            let _ = parse_full_date(&raw);
        }

        #[test]
        fn never_panics_on_date_like_input(raw in "[0-9٠-٩-]{0,12}") {
            if let Ok(d) = parse(&raw) {
                prop_assert!(d.earliest() <= d.latest());
                prop_assert!((MIN_YEAR..=MAX_YEAR).contains(&d.year()));
            }
        }

        #[test]
        fn display_round_trips(d in valid_date()) {
            prop_assert_eq!(parse(&d.to_string()), Ok(d));
            let json = serde_json::to_string(&d).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(serde_json::from_str::<PartialDate>(&json).ok(), Some(d));
        }

        #[test]
        fn age_is_none_exactly_in_the_future(d in valid_date(), days in -40_000i64..40_000) {
            let on = d.earliest().checked_add_signed(chrono::TimeDelta::days(days)).unwrap_or(d.earliest());
            prop_assert_eq!(d.age_on(on).is_none(), d.is_in_future(on));
        }
    }
}
