//! Name keys for registry search: the same name typed with or without
//! accents, vowel marks, Urdu or Arabic letter forms, or punctuation gets the
//! same key. This is the matching key only; the name as written is stored
//! separately for display. Fuller record linkage (transliteration, variant
//! spellings, term weights) belongs to the linkage crate.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use crate::digits::to_ascii_digits;

/// Marks with no weight in a name key: Latin/Greek/Cyrillic accents (after
/// NFD), Arabic tashkeel and Quranic annotation signs.
fn is_dropped_mark(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'     // combining diacritical marks
        | '\u{1AB0}'..='\u{1AFF}'   // ... extended
        | '\u{1DC0}'..='\u{1DFF}'   // ... supplement
        | '\u{20D0}'..='\u{20FF}'   // ... for symbols
        | '\u{FE20}'..='\u{FE2F}'   // combining half marks
        | '\u{0610}'..='\u{061A}'   // Arabic honorific and small signs
        | '\u{064B}'..='\u{065F}'   // tashkeel, including hamza above/below and madda
        | '\u{0670}'                // superscript alef
        | '\u{06D6}'..='\u{06ED}'   // Quranic annotation signs
    )
}

/// Invisible characters that change nothing a reader sees: joiners (Bengali
/// conjuncts, Urdu word shapes), direction marks, tatweel, soft hyphen, BOM.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{0640}' | '\u{061C}' | '\u{180E}'
        | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}'
    )
}

/// One letter form for each group of Arabic-script letters that Arabic and
/// Urdu keyboards encode differently. Hamza and madda carriers (أ إ آ ؤ ئ ۂ ۓ)
/// reach here already decomposed, their marks dropped; they are listed anyway.
fn fold_letter(c: char) -> char {
    match c {
        'أ' | 'إ' | 'آ' | 'ٱ' | 'ٲ' | 'ٳ' => 'ا',
        'ة' | 'ۃ' | 'ہ' | 'ۂ' | 'ھ' | 'ە' | 'ۀ' => 'ه',
        'ى' | 'ی' | 'ے' | 'ۓ' | 'ې' | 'ئ' => 'ي',
        'ک' => 'ك',
        'ؤ' => 'و',
        _ => c,
    }
}

/// The search key of a name: NFKC, lower case, accents and Arabic vowel marks
/// removed, Arabic/Urdu letter variants unified, punctuation turned into
/// spaces, spaces collapsed. Bengali stays in NFC (its nukta letters are
/// decomposed by NFC, whichever way they were typed).
pub fn normalise_name(s: &str) -> String {
    // NFKC folds presentation forms (lam-alef ligatures, full-width Latin).
    let lowered: String = s.nfkc().flat_map(char::to_lowercase).collect();
    let folded: String = lowered
        .nfd()
        .filter(|&c| !is_dropped_mark(c) && !is_invisible(c))
        .map(fold_letter)
        .nfc()
        .collect();
    let folded = to_ascii_digits(&folded);

    let mut out = String::with_capacity(folded.len());
    let mut pending_space = false;
    for c in folded.chars() {
        // Letters, digits and the marks that letters carry (Bengali vowel
        // signs, virama) make names; everything else separates words.
        if c.is_alphanumeric() || is_combining_mark(c) {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.push(c);
        } else {
            pending_space = true;
        }
    }
    out
}

/// The distinct words of the name key, in order of first appearance.
pub fn search_tokens(s: &str) -> Vec<String> {
    let key = normalise_name(s);
    let mut tokens: Vec<String> = Vec::new();
    for token in key.split(' ').filter(|t| !t.is_empty()) {
        if !tokens.iter().any(|t| t == token) {
            tokens.push(token.to_string());
        }
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn latin() {
        assert_eq!(normalise_name("Muḥammad"), "muhammad");
        assert_eq!(normalise_name("  JOSÉ  María-Núñez "), "jose maria nunez");
        assert_eq!(normalise_name("Ｍｕｈａｍｍａｄ"), "muhammad"); // full-width
        assert_eq!(normalise_name("O'Brien"), "o brien");
        assert_eq!(normalise_name("Abd al‑Raḥmān"), "abd al rahman"); // non-breaking hyphen
        assert_eq!(normalise_name("İbrahim"), "ibrahim");
        assert_eq!(normalise_name(""), "");
        assert_eq!(normalise_name(" .-' "), "");
    }

    #[test]
    fn arabic_alef_ta_marbuta_and_tashkeel() {
        assert_eq!(normalise_name("أحمد"), normalise_name("احمد"));
        assert_eq!(normalise_name("إبراهيم"), normalise_name("ابراهيم"));
        assert_eq!(normalise_name("آمنة"), normalise_name("امنه"));
        assert_eq!(normalise_name("فاطمة"), normalise_name("فاطمه"));
        assert_eq!(normalise_name("مُحَمَّد"), "محمد");
        assert_eq!(normalise_name("مـــحـمـد"), "محمد"); // tatweel
        assert_eq!(normalise_name("مصطفى"), normalise_name("مصطفي"));
        assert_eq!(normalise_name("مؤمن"), normalise_name("مومن"));
        assert_eq!(normalise_name("هانئ"), normalise_name("هاني"));
        assert_eq!(normalise_name("عبد الله، بن علي"), "عبد الله بن علي");
        // Lam-alef presentation ligature.
        assert_eq!(normalise_name("\u{FEFB}"), "لا");
    }

    #[test]
    fn urdu_letter_forms() {
        assert_eq!(normalise_name("شازیہ"), normalise_name("شازيه"));
        assert_eq!(normalise_name("شازیہ"), "شازيه");
        assert_eq!(normalise_name("کلثوم"), normalise_name("كلثوم"));
        assert_eq!(normalise_name("بھٹو"), normalise_name("بهٹو"));
        assert_eq!(normalise_name("علیے"), "عليي");
        assert_eq!(normalise_name("فاطمۂ"), normalise_name("فاطمه"));
        assert_eq!(normalise_name("محمد۔ علی"), "محمد علي"); // Urdu full stop
    }

    #[test]
    fn bengali() {
        // য় typed precomposed (U+09DF) or as য + nukta.
        assert_eq!(normalise_name("\u{09DF}"), normalise_name("\u{09AF}\u{09BC}"));
        // ZWJ in র‍্যা does not change the key.
        assert_eq!(normalise_name("র\u{200D}্যাব"), normalise_name("র্যাব"));
        // Vowel signs and virama are kept.
        assert_eq!(normalise_name("মো: রহিম"), "মো রহিম");
        assert_eq!(normalise_name("আব্দুল"), "আব্দুল");
    }

    #[test]
    fn tokens() {
        assert_eq!(search_tokens("Md. Rahim"), ["md", "rahim"]);
        assert_eq!(search_tokens("Rahim  RAHIM, md"), ["rahim", "md"]);
        assert_eq!(search_tokens("محمد علی محمد"), ["محمد", "علي"]);
        assert!(search_tokens(" -- ").is_empty());
    }

    fn assert_key_shape(key: &str) -> Result<(), TestCaseError> {
        prop_assert_eq!(key.trim(), key);
        prop_assert!(!key.contains("  "));
        prop_assert!(
            key.chars()
                .all(|c| c == ' ' || c.is_alphanumeric() || is_combining_mark(c))
        );
        Ok(())
    }

    /// Characters from the scripts this module cares about, weighted towards their marks.
    fn name_char() -> impl Strategy<Value = char> {
        prop_oneof![
            proptest::char::range('\u{0600}', '\u{06FF}'),
            proptest::char::range('\u{0980}', '\u{09FF}'),
            proptest::char::range('\u{0041}', '\u{024F}'),
            proptest::char::range('\u{0300}', '\u{036F}'),
            proptest::char::range('\u{FB50}', '\u{FEFF}'),
            proptest::char::range('\u{2000}', '\u{206F}'),
            proptest::char::range('\u{1E00}', '\u{1EFF}'),
            any::<char>(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn idempotent_on_any_string(s in any::<String>()) {
            let once = normalise_name(&s);
            assert_key_shape(&once)?;
            prop_assert_eq!(normalise_name(&once), once.clone());
            prop_assert_eq!(search_tokens(&once), search_tokens(&s));
        }

        #[test]
        fn idempotent_on_name_scripts(chars in proptest::collection::vec(name_char(), 0..24)) {
            let s: String = chars.into_iter().collect();
            let once = normalise_name(&s);
            assert_key_shape(&once)?;
            prop_assert_eq!(normalise_name(&once), once.clone());
        }

        #[test]
        fn tokens_are_distinct_and_non_empty(s in any::<String>()) {
            let tokens = search_tokens(&s);
            for (i, t) in tokens.iter().enumerate() {
                prop_assert!(!t.is_empty() && !t.contains(' '));
                prop_assert!(!tokens[..i].contains(t));
            }
        }
    }
}
