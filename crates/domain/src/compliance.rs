//! Compliance with the conditions of conditional transfers: a child's school
//! attendance in a term, a mother's or child's health visits, recorded per
//! person per quarter for the programme's conditions to read.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::vocab::vocabulary;

vocabulary!(
    ComplianceKind { SchoolAttendance = "school_attendance", HealthVisits = "health_visits" }
);

/// A quarter of a year: the period attendance and visits are counted over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quarter {
    pub year: i32,
    /// 1 to 4.
    pub quarter: u8,
}

impl Quarter {
    /// Parses `2026-Q3`.
    pub fn parse(raw: &str) -> Result<Quarter, String> {
        let bad = || format!("{raw:?} is not a quarter; write it as 2026-Q3");
        let (year, q) = raw.trim().split_once("-Q").ok_or_else(bad)?;
        let year: i32 = year.parse().map_err(|_| bad())?;
        let quarter: u8 = q.parse().map_err(|_| bad())?;
        if !(1..=4).contains(&quarter) || !(1900..=2200).contains(&year) || year.to_string().len() != 4 {
            return Err(bad());
        }
        Ok(Quarter { year, quarter })
    }

    /// The quarter a date falls in.
    pub fn of(date: chrono::NaiveDate) -> Quarter {
        use chrono::Datelike;
        Quarter {
            year: date.year(),
            quarter: ((date.month() - 1) / 3 + 1) as u8,
        }
    }
}

impl fmt::Display for Quarter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-Q{}", self.year, self.quarter)
    }
}

/// Checks a recorded value: attendance is a percentage of school days, visits a count.
pub fn check_value(kind: ComplianceKind, value: f64) -> Result<(), String> {
    match kind {
        _ if !value.is_finite() => Err("not a number".to_owned()),
        ComplianceKind::SchoolAttendance if !(0.0..=100.0).contains(&value) => {
            Err(format!("{value} is not a percentage from 0 to 100"))
        }
        ComplianceKind::HealthVisits if !(0.0..=90.0).contains(&value) || value.fract() != 0.0 => Err(format!(
            "{value} is not a number of visits in a quarter (a whole number from 0 to 90)"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarters_parse_order_and_print() {
        let q = Quarter::parse("2026-Q3").unwrap();
        assert_eq!(q.to_string(), "2026-Q3");
        assert!(Quarter::parse("2026-Q4").unwrap() > q);
        assert!(Quarter::parse("2027-Q1").unwrap() > Quarter::parse("2026-Q4").unwrap());
        for bad in ["2026-Q5", "2026Q3", "26-Q1", "2026-Q0", "", "2026-Q3x"] {
            assert!(Quarter::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Quarter::of(chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()).to_string(),
            "2026-Q4"
        );
    }

    #[test]
    fn values_are_checked_by_kind() {
        assert!(check_value(ComplianceKind::SchoolAttendance, 72.5).is_ok());
        assert!(check_value(ComplianceKind::SchoolAttendance, 101.0).is_err());
        assert!(check_value(ComplianceKind::HealthVisits, 2.0).is_ok());
        assert!(check_value(ComplianceKind::HealthVisits, 1.5).is_err());
        assert!(check_value(ComplianceKind::HealthVisits, f64::NAN).is_err());
    }
}
