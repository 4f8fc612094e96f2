//! Digits typed in the scripts of the four countries, folded to ASCII.
//!
//! Urdu keyboards produce Extended Arabic-Indic digits, Arabic keyboards the
//! Arabic-Indic ones, Bangla keyboards Bengali digits; identifiers, phone
//! numbers and dates must compare equal whichever was used.

use std::borrow::Cow;

/// The zero of each digit block we fold; each block is ten consecutive code points.
const ZEROS: [char; 4] = [
    '\u{0660}', // Arabic-Indic
    '\u{06F0}', // Extended Arabic-Indic (Urdu, Persian)
    '\u{0966}', // Devanagari
    '\u{09E6}', // Bengali
];

/// The ASCII digit for `c` when it is a digit of one of the folded scripts.
fn ascii_digit(c: char) -> Option<char> {
    ZEROS.iter().find_map(|&zero| {
        let offset = u32::from(c).checked_sub(u32::from(zero))?;
        if offset < 10 {
            // offset < 10, so the sum is always an ASCII digit.
            char::from_digit(offset, 10)
        } else {
            None
        }
    })
}

/// Maps Arabic-Indic, Extended Arabic-Indic, Bengali and Devanagari digits to
/// ASCII `0`–`9`, leaving every other character unchanged. Borrows when
/// there is nothing to change.
pub fn to_ascii_digits(s: &str) -> Cow<'_, str> {
    // Every folded digit is non-ASCII, so pure ASCII input needs no scan.
    if s.is_ascii() || !s.chars().any(|c| ascii_digit(c).is_some()) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.chars().map(|c| ascii_digit(c).unwrap_or(c)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn folds_every_script() {
        assert_eq!(to_ascii_digits("٠١٢٣٤٥٦٧٨٩"), "0123456789");
        assert_eq!(to_ascii_digits("۰۱۲۳۴۵۶۷۸۹"), "0123456789");
        assert_eq!(to_ascii_digits("০১২৩৪৫৬৭৮৯"), "0123456789");
        assert_eq!(to_ascii_digits("०१२३४५६७८९"), "0123456789");
    }

    #[test]
    fn keeps_everything_else() {
        assert_eq!(to_ascii_digits("CNIC ۳۵۲۰۲-abc"), "CNIC 35202-abc");
        // Neighbours of the digit blocks are letters or signs, not digits.
        assert_eq!(
            to_ascii_digits("\u{065F}\u{066A}\u{06EF}\u{06FA}"),
            "\u{065F}\u{066A}\u{06EF}\u{06FA}"
        );
        assert_eq!(
            to_ascii_digits("\u{09E5}\u{09F0}\u{0965}\u{0970}"),
            "\u{09E5}\u{09F0}\u{0965}\u{0970}"
        );
        assert_eq!(to_ascii_digits(""), "");
    }

    #[test]
    fn borrows_when_unchanged() {
        assert!(matches!(to_ascii_digits("0300 1234567"), Cow::Borrowed(_)));
        assert!(matches!(to_ascii_digits("محمد"), Cow::Borrowed(_)));
        assert!(matches!(to_ascii_digits("০৩"), Cow::Owned(_)));
    }

    proptest! {
        #[test]
        fn output_has_no_foreign_digits_and_same_char_count(s in any::<String>()) {
            let out = to_ascii_digits(&s);
            prop_assert_eq!(out.chars().count(), s.chars().count());
            prop_assert!(out.chars().all(|c| ascii_digit(c).is_none()));
            // Folding twice changes nothing more.
            prop_assert_eq!(to_ascii_digits(&out), out.clone());
        }

        #[test]
        fn ascii_is_untouched(s in "[ -~]*") {
            prop_assert!(matches!(to_ascii_digits(&s), Cow::Borrowed(b) if b == s));
        }

        #[test]
        fn each_script_maps_digit_for_digit(digits in proptest::collection::vec(0u32..10, 0..20), block in 0usize..4) {
            let zero = u32::from(ZEROS[block]);
            let native: String = digits.iter().filter_map(|d| char::from_u32(zero + d)).collect();
            let ascii: String = digits.iter().filter_map(|d| char::from_digit(*d, 10)).collect();
            prop_assert_eq!(to_ascii_digits(&native), ascii);
        }
    }
}
