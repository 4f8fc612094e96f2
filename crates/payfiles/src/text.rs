//! The SWIFT Latin character set, which many banks accept and nothing more:
//! `a-z A-Z 0-9 / - ? : ( ) . , ' +` and space.
//!
//! Free text (names, remittance information) is cleaned into it: accents are
//! dropped, Arabic-script and Bengali letters transliterated letter by letter,
//! digits of any script folded to ASCII, anything else replaced by `.`. The
//! registry gives payees' names in Latin spelling, so transliteration is a
//! safety net, not a romanisation. Identifiers are never cleaned: an
//! end-to-end id that changed on the way would no longer match its status
//! report, so ids outside the set are refused (see `check_swift_id`).

use himaya_domain::digits::to_ascii_digits;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Whether `c` is in the SWIFT Latin character set.
pub fn is_swift_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '?' | ':' | '(' | ')' | '.' | ',' | '\'' | '+' | ' ')
}

/// `text` in the SWIFT Latin set, spaces collapsed, trimmed, and cut to at
/// most `max` characters. The same text always gives the same result, and
/// cleaning a cleaned text changes nothing.
pub fn swift_text(text: &str, max: usize) -> String {
    let mut latin = String::with_capacity(text.len());
    for c in text.chars() {
        push_latin(&mut latin, c);
    }
    let mut out = String::with_capacity(latin.len().min(max));
    for word in latin.split(' ').filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
        if out.len() >= max {
            break;
        }
    }
    // Everything in `out` is ASCII, so byte positions are character positions.
    out.truncate(max);
    out.truncate(out.trim_end().len());
    out
}

/// Appends the SWIFT Latin spelling of `c`.
fn push_latin(out: &mut String, c: char) {
    // Composed Bengali vowel signs are spelt whole; everything else may
    // decompose: accented Latin letters into a letter and marks, ligatures
    // and full-width forms into plain letters (NFKD).
    if !push_spelling(out, c) {
        for d in std::iter::once(c).nfkd() {
            if !push_spelling(out, d) && !is_combining_mark(d) {
                out.push('.');
            }
        }
    }
}

/// Appends the spelling of `c` when it has one (nothing for an invisible
/// character or a mark that is not spelt) and says whether it did.
fn push_spelling(out: &mut String, c: char) -> bool {
    if c.is_ascii() {
        out.push(ascii_replacement(c));
    } else if c.is_whitespace() {
        out.push(' ');
    } else if is_invisible(c) {
    } else if let Some(s) = transliterate(c).or_else(|| latin_letter(c)) {
        out.push_str(s);
    } else {
        let folded = to_ascii_digits(c.encode_utf8(&mut [0; 4])).into_owned();
        if !folded.is_ascii() {
            return false;
        }
        out.push_str(&folded);
    }
    true
}

/// Characters that change nothing a reader sees: joiners (Bengali conjuncts,
/// Urdu word shapes), direction marks, tatweel, soft hyphen, byte order mark.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{0640}' | '\u{061C}' | '\u{180E}'
        | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}'
    )
}

/// An ASCII character in the set, or its nearest neighbour that is.
fn ascii_replacement(c: char) -> char {
    match c {
        c if is_swift_char(c) => c,
        '\t' | '\n' | '\r' => ' ',
        '_' => '-',
        '&' => '+',
        '"' | '`' => '\'',
        '[' | '{' | '<' => '(',
        ']' | '}' | '>' => ')',
        '\\' => '/',
        _ => '.',
    }
}

/// Latin letters that do not decompose into ASCII and marks.
fn latin_letter(c: char) -> Option<&'static str> {
    Some(match c {
        'ß' => "ss",
        'æ' => "ae",
        'Æ' => "AE",
        'œ' => "oe",
        'Œ' => "OE",
        'ø' => "o",
        'Ø' => "O",
        'đ' | 'ð' => "d",
        'Đ' | 'Ð' => "D",
        'ł' => "l",
        'Ł' => "L",
        'ı' => "i",
        'þ' => "th",
        'Þ' => "Th",
        'ʼ' | 'ʻ' | 'ʿ' | 'ʾ' | '‘' | '’' | '´' | '“' | '”' => "'",
        '‐' | '‑' | '‒' | '–' | '—' | '−' => "-",
        _ => return None,
    })
}

/// Letter-by-letter spellings of Arabic-script (Arabic, Urdu) and Bengali
/// letters. Short vowels are not written in either script's usual spelling,
/// so `محمد` becomes `mhmd`: readable by a bank clerk, never the name's
/// proper Latin spelling, which the registry holds.
fn transliterate(c: char) -> Option<&'static str> {
    Some(match c {
        // Arabic and Urdu letters.
        'ا' | 'أ' | 'إ' | 'آ' | 'ٱ' | 'ى' => "a",
        'ب' => "b",
        'پ' => "p",
        'ت' | 'ط' | 'ٹ' | 'ة' => "t",
        'ث' => "th",
        'ج' => "j",
        'چ' => "ch",
        'ح' | 'ه' | 'ہ' | 'ھ' | 'ۃ' | 'ۂ' => "h",
        'خ' => "kh",
        'د' | 'ض' | 'ڈ' => "d",
        'ذ' => "dh",
        'ر' | 'ڑ' => "r",
        'ز' | 'ظ' => "z",
        'ژ' => "zh",
        'س' | 'ص' => "s",
        'ش' => "sh",
        'ع' | 'ء' | 'ئ' => "'",
        'غ' => "gh",
        'ف' => "f",
        'ق' => "q",
        'ك' | 'ک' => "k",
        'گ' => "g",
        'ل' => "l",
        'م' => "m",
        'ن' | 'ں' => "n",
        'و' | 'ؤ' => "w",
        'ي' | 'ی' | 'ې' => "y",
        'ے' | 'ۓ' => "e",
        '،' => ",",
        '؟' => "?",
        '؛' => ",",
        // Bengali vowels, consonants and vowel signs.
        'অ' | 'আ' | 'া' => "a",
        'ই' | 'ঈ' | 'ি' | 'ী' => "i",
        'উ' | 'ঊ' | 'ু' | 'ূ' => "u",
        'ঋ' | 'ৃ' => "ri",
        'এ' | 'ে' => "e",
        'ঐ' | 'ৈ' => "oi",
        'ও' | 'ো' => "o",
        'ঔ' | 'ৌ' => "ou",
        'ক' => "k",
        'খ' => "kh",
        'গ' => "g",
        'ঘ' => "gh",
        'ঙ' | 'ং' => "ng",
        'চ' => "ch",
        'ছ' => "chh",
        'জ' | 'য' => "j",
        'ঝ' => "jh",
        'ঞ' | 'ণ' | 'ন' | 'ঁ' => "n",
        'ট' | 'ত' | 'ৎ' => "t",
        'ঠ' | 'থ' => "th",
        'ড' | 'দ' => "d",
        'ঢ' | 'ধ' => "dh",
        'প' => "p",
        'ফ' => "ph",
        'ব' => "b",
        'ভ' => "bh",
        'ম' => "m",
        'র' | '\u{09DC}' => "r",
        '\u{09DD}' => "rh",
        '\u{09DF}' => "y",
        'ল' => "l",
        'শ' | 'ষ' => "sh",
        'স' => "s",
        'হ' | 'ঃ' => "h",
        '্' | '়' | '।' => "",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keeps_the_set_and_collapses_spaces() {
        assert_eq!(swift_text("Jane Doe", 140), "Jane Doe");
        assert_eq!(swift_text("  Jane \t\n Doe  ", 140), "Jane Doe");
        assert_eq!(
            swift_text("a-z A-Z 0-9 / - ? : ( ) . , ' +", 140),
            "a-z A-Z 0-9 / - ? : ( ) . , ' +"
        );
        assert_eq!(swift_text("", 140), "");
        assert_eq!(swift_text("   ", 140), "");
    }

    #[test]
    fn replaces_what_is_outside_it() {
        assert_eq!(swift_text("Muḥammad ʿAlī Khān", 140), "Muhammad 'Ali Khan");
        assert_eq!(swift_text("José Núñez-Gößling", 140), "Jose Nunez-Gossling");
        assert_eq!(swift_text("Ａｂｄｕｌｌａｈ", 140), "Abdullah");
        assert_eq!(
            swift_text("Cash & care_2025 \"June\" @bank", 140),
            "Cash + care-2025 'June' .bank"
        );
        assert_eq!(swift_text("Dept. — Kafalat <Q1>", 140), "Dept. - Kafalat (Q1)");
        assert_eq!(swift_text("€100 ✓ 😀", 140), ".100 . .");
    }

    #[test]
    fn transliterates_arabic_urdu_and_bengali() {
        assert_eq!(swift_text("محمد علی", 140), "mhmd 'ly");
        assert_eq!(swift_text("فاطمہ بی بی", 140), "fatmh by by");
        assert_eq!(swift_text("রহিমা খাতুন", 140), "rhima khatun");
        assert_eq!(swift_text("কাফালাত ২০২৫", 140), "kaphalat 2025");
        assert_eq!(swift_text("قسط ۱۲", 140), "qst 12");
        assert_eq!(swift_text("مُحَمَّد", 140), "mhmd");
        assert_eq!(swift_text("שלום", 140), "....");
        // Joiners and direction marks are invisible, and dropped.
        assert_eq!(swift_text("\u{200F}শ্\u{200C}রী", 140), "shri");
    }

    #[test]
    fn cuts_to_the_maximum_without_a_trailing_space() {
        assert_eq!(swift_text("Ayesha Bibi", 6), "Ayesha");
        assert_eq!(swift_text("Ayesha Bibi", 7), "Ayesha");
        assert_eq!(swift_text("Ayesha Bibi", 8), "Ayesha B");
        assert_eq!(swift_text("Ayesha", 0), "");
        assert_eq!(swift_text(&"x".repeat(500), 140).len(), 140);
    }

    proptest! {
        #[test]
        fn always_in_the_set_within_the_limit_and_idempotent(s in any::<String>(), max in 0usize..200) {
            let once = swift_text(&s, max);
            prop_assert!(once.chars().all(is_swift_char), "{:?}", once);
            prop_assert!(once.chars().count() <= max);
            prop_assert!(!once.starts_with(' ') && !once.ends_with(' ') && !once.contains("  "));
            prop_assert_eq!(swift_text(&once, max), once.clone());
        }

        #[test]
        fn scripts_of_the_four_countries(s in "[\\u{0600}-\\u{06FF}\\u{0980}-\\u{09FF}a-zA-Zéñ \\t]{0,60}") {
            let once = swift_text(&s, 70);
            prop_assert!(once.chars().all(is_swift_char), "{:?}", once);
            prop_assert_eq!(swift_text(&once, 70), once);
        }
    }
}
