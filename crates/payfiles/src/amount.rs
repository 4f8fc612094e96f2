//! Money in payment files: integer minor units in, exact decimals out, and
//! back. Never a float: a control sum over a million payments must be exact
//! to the last paisa.

use std::fmt;

/// ISO 20022 amounts and control sums have at most 18 digits in all.
pub const MAX_TOTAL_DIGITS: u32 = 18;
/// ISO 20022 amounts have at most 5 fraction digits.
pub const MAX_EXPONENT: u32 = 5;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("{0:?} is not an ISO 4217 currency code (three capital letters)")]
    InvalidCurrency(String),
    #[error("a minor-unit exponent of {0} is more than the {MAX_EXPONENT} fraction digits ISO 20022 allows")]
    ExponentTooLarge(u32),
    #[error("{0:?} is not a decimal amount")]
    NotAnAmount(String),
    #[error("{0:?} has more than {MAX_TOTAL_DIGITS} digits")]
    TooManyDigits(String),
    #[error("{value} has more fraction digits than the currency's {exponent}")]
    TooPrecise { value: String, exponent: u32 },
}

/// An ISO 4217 currency with the exponent of its minor unit as the deployment
/// knows it (the domain configuration's `currency_exponent`): PKR, BDT and ILS
/// have 2, JOD 3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Currency {
    code: String,
    exponent: u32,
}

impl Currency {
    pub fn new(code: &str, exponent: u32) -> Result<Self, AmountError> {
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(AmountError::InvalidCurrency(code.to_string()));
        }
        if exponent > MAX_EXPONENT {
            return Err(AmountError::ExponentTooLarge(exponent));
        }
        Ok(Currency {
            code: code.to_string(),
            exponent,
        })
    }

    pub fn code(&self) -> &str {
        &self.code
    }

    pub fn exponent(&self) -> u32 {
        self.exponent
    }
}

/// Appends `minor` minor units as a decimal with exactly `exponent` fraction
/// digits: 123456 with 2 is `1234.56`, 5 with 3 is `0.005`, 7 with 0 is `7`.
pub fn write_decimal(out: &mut String, minor: u128, exponent: u32, separator: char) {
    // The digits, least significant first, padded with zeros to one more
    // than the fraction: a u128 has at most 39 digits, and an exponent past
    // 64 (ISO 20022 allows 5) is written as 64 rather than panic.
    let mut digits = [b'0'; 65];
    let mut n = minor;
    let mut len = 0;
    while n > 0 {
        digits[len] = b'0' + (n % 10) as u8;
        n /= 10;
        len += 1;
    }
    let fraction = (exponent as usize).min(digits.len() - 1);
    let len = len.max(fraction + 1);
    for (i, &d) in digits[..len].iter().enumerate().rev() {
        out.push(char::from(d));
        if i == fraction && fraction > 0 {
            out.push(separator);
        }
    }
}

/// `minor` minor units as a decimal with a `.` separator.
pub fn format_decimal(minor: u128, exponent: u32) -> String {
    let mut out = String::new();
    write_decimal(&mut out, minor, exponent, '.');
    out
}

/// The number of decimal digits of `n` (1 for zero).
pub(crate) fn digit_count(mut n: u128) -> u32 {
    let mut digits = 1;
    while n >= 10 {
        n /= 10;
        digits += 1;
    }
    digits
}

/// An exact non-negative decimal as read from a status file: `units` scaled
/// down by `10^scale` (`50.00` is 5000 units at scale 2).
#[derive(Debug, Clone, Copy)]
pub struct DecimalAmount {
    units: u128,
    scale: u32,
}

impl DecimalAmount {
    pub fn from_minor(minor: u128, exponent: u32) -> Self {
        DecimalAmount {
            units: minor,
            scale: exponent,
        }
    }

    /// Parses `123`, `123.45` or `.5` (with `separator` as the decimal
    /// separator), surrounding spaces allowed; no sign, no grouping, at most
    /// 18 digits.
    pub fn parse(text: &str, separator: char) -> Result<Self, AmountError> {
        let s = text.trim();
        let bad = || AmountError::NotAnAmount(text.to_string());
        let (whole, fraction) = match s.split_once(separator) {
            Some((w, f)) => (w, f),
            None => (s, ""),
        };
        if whole.is_empty() && fraction.is_empty() {
            return Err(bad());
        }
        if !whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let significant = whole.trim_start_matches('0').len() + fraction.len();
        if significant > MAX_TOTAL_DIGITS as usize {
            return Err(AmountError::TooManyDigits(text.to_string()));
        }
        let mut units: u128 = 0;
        for b in whole.bytes().chain(fraction.bytes()) {
            // At most 18 significant digits, so this never overflows a u128.
            units = units * 10 + u128::from(b - b'0');
        }
        Ok(DecimalAmount {
            units,
            scale: fraction.len() as u32,
        })
    }

    /// The amount in minor units of a currency with `exponent` fraction
    /// digits; refused when it has non-zero digits beyond them (`50.001` in
    /// a currency of exponent 2) or does not fit an `i64`.
    pub fn to_minor(self, exponent: u32) -> Result<i64, AmountError> {
        if exponent < self.scale && self.at_scale(exponent).is_none() {
            return Err(AmountError::TooPrecise {
                value: self.to_string(),
                exponent,
            });
        }
        let value = self.at_scale(exponent).and_then(|v| i64::try_from(v).ok());
        value.ok_or_else(|| AmountError::TooManyDigits(self.to_string()))
    }

    /// The value in units of `10^-scale`, when it is exact there and fits.
    fn at_scale(self, scale: u32) -> Option<u128> {
        if scale >= self.scale {
            self.units.checked_mul(10u128.checked_pow(scale - self.scale)?)
        } else {
            match 10u128.checked_pow(self.scale - scale) {
                Some(f) => self.units.is_multiple_of(f).then(|| self.units / f),
                // More than 38 digits to drop: exact only for zero.
                None => (self.units == 0).then_some(0),
            }
        }
    }
}

/// Equal by value: `50`, `50.0` and `50.00` are one amount.
impl PartialEq for DecimalAmount {
    fn eq(&self, other: &Self) -> bool {
        let scale = self.scale.max(other.scale);
        self.at_scale(scale) == other.at_scale(scale)
    }
}

impl Eq for DecimalAmount {}

impl fmt::Display for DecimalAmount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        write_decimal(&mut s, self.units, self.scale, '.');
        f.write_str(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats_with_the_currency_exponent() {
        assert_eq!(format_decimal(123_456, 2), "1234.56");
        assert_eq!(format_decimal(5, 2), "0.05");
        assert_eq!(format_decimal(5, 3), "0.005");
        assert_eq!(format_decimal(1_000, 3), "1.000");
        assert_eq!(format_decimal(7, 0), "7");
        assert_eq!(format_decimal(0, 2), "0.00");
        let mut s = String::new();
        write_decimal(&mut s, 250_050, 2, ',');
        assert_eq!(s, "2500,50");
        assert_eq!(format_decimal(u128::from(u64::MAX), 5), "184467440737095.51615");
        assert_eq!(format_decimal(u128::MAX, 0), u128::MAX.to_string());
        assert_eq!(format_decimal(12, 40), format!("0.{}12", "0".repeat(38)));
    }

    #[test]
    fn currencies_are_checked() {
        assert_eq!(Currency::new("JOD", 3).unwrap().exponent(), 3);
        assert_eq!(Currency::new("PKR", 2).unwrap().code(), "PKR");
        assert!(matches!(Currency::new("pkr", 2), Err(AmountError::InvalidCurrency(_))));
        assert!(matches!(Currency::new("PKRS", 2), Err(AmountError::InvalidCurrency(_))));
        assert!(matches!(Currency::new("PKR", 6), Err(AmountError::ExponentTooLarge(6))));
    }

    #[test]
    fn parses_decimals_exactly() {
        let d = |s| DecimalAmount::parse(s, '.');
        assert_eq!(d("50.00").unwrap().to_minor(2), Ok(5000));
        assert_eq!(d(" 50 ").unwrap().to_minor(2), Ok(5000));
        assert_eq!(d("50.5").unwrap().to_minor(3), Ok(50_500));
        assert_eq!(d(".5").unwrap().to_minor(2), Ok(50));
        assert_eq!(d("1.230").unwrap().to_minor(2), Ok(123));
        assert_eq!(d("0000000000000000000001.5").unwrap().to_minor(1), Ok(15));
        assert!(matches!(
            d("50.001").unwrap().to_minor(2),
            Err(AmountError::TooPrecise { .. })
        ));
        assert!(matches!(
            d("99999999999999999.9").unwrap().to_minor(5),
            Err(AmountError::TooManyDigits(_))
        ));
        for bad in ["", ".", "-5", "+5", "5e3", "1,5", "1.2.3", "١٢", "NaN"] {
            assert!(matches!(d(bad), Err(AmountError::NotAnAmount(_))), "{bad}");
        }
        assert!(matches!(d("1234567890123456789"), Err(AmountError::TooManyDigits(_))));
        assert_eq!(DecimalAmount::parse("12,50", ',').unwrap().to_minor(2), Ok(1250));
        assert_eq!(d("50").unwrap(), d("50.000").unwrap());
        assert_ne!(d("50").unwrap(), d("50.001").unwrap());
        assert_eq!(d("50.10").unwrap().to_string(), "50.10");
    }

    proptest! {
        #[test]
        fn formatting_round_trips(minor in 0u64..1_000_000_000_000_000_000, exponent in 0u32..=5) {
            let text = format_decimal(u128::from(minor), exponent);
            let fraction = text.split_once('.').map_or(0, |(_, f)| f.len());
            prop_assert_eq!(fraction as u32, exponent);
            prop_assert!(text.bytes().all(|b| b.is_ascii_digit() || b == b'.'));
            let back = DecimalAmount::parse(&text, '.').unwrap();
            prop_assert_eq!(back, DecimalAmount::from_minor(u128::from(minor), exponent));
            if let Ok(m) = back.to_minor(exponent) {
                prop_assert_eq!(m as u64, minor);
            }
        }

        #[test]
        fn parsing_never_panics(s in any::<String>(), sep in prop::sample::select(vec!['.', ','])) {
            if let Ok(d) = DecimalAmount::parse(&s, sep) {
                let _ = d.to_minor(2);
                let _ = d.to_string();
            }
        }
    }
}
