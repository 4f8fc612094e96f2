//! Deterministic Latin renderings of Arabic-script (Arabic, Urdu) and
//! Bengali words, made only to be reduced to a phonetic key: they need the
//! consonants right, not the vowels (Arabic script rarely writes short
//! vowels, and no one romanisation is followed in practice).
//!
//! Input is a word of the search key: Arabic letter forms already folded
//! (ة and ہ to ه, ی and ے to ي, ک to ك), Bengali in NFC.

/// An Arabic or Urdu word in Latin letters: long vowels as vowels, ع and
/// hamza silent, و and ي consonants only at the start of a word. An
/// apostrophe keeps two letters from reading as one digraph.
pub fn arabic(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    for (i, c) in word.chars().enumerate() {
        // س or ز before ه is two sounds (Suha), not the letters ش or ژ.
        if matches!(c, 'ه' | 'ح') && (out.ends_with('s') || out.ends_with('z') || out.ends_with('j')) {
            out.push('\'');
        }
        let s = match c {
            'ا' | 'ٱ' => "a",
            'ب' => "b",
            'پ' => "p",
            'ت' | 'ٹ' | 'ط' => "t",
            // Spelt s in Urdu (Usman, Kausar); th in some Arabic spellings.
            'ث' => "s",
            'ج' => "j",
            'چ' => "ch",
            'ح' => "h",
            'خ' => "kh",
            'د' | 'ڈ' => "d",
            // Spelt z in Urdu and in most Latin spellings of these names.
            'ذ' | 'ز' | 'ض' | 'ظ' => "z",
            'ژ' => "zh",
            'ر' | 'ڑ' => "r",
            'س' | 'ص' => "s",
            'ش' => "sh",
            'غ' => "gh",
            'ف' => "f",
            'ق' => "q",
            'ك' | 'ک' => "k",
            'گ' => "g",
            'ل' => "l",
            'م' => "m",
            'ن' | 'ں' => "n",
            'و' if i == 0 => "w",
            'و' => "u",
            'ه' | 'ھ' | 'ہ' | 'ة' => "h",
            'ي' | 'ی' if i == 0 => "y",
            'ي' | 'ی' | 'ى' | 'ے' => "i",
            // ع, hamza and anything else: not written in Latin spellings.
            _ => "",
        };
        out.push_str(s);
    }
    out
}

/// A Bengali word in Latin letters, without the inherent vowel.
pub fn bengali(word: &str) -> String {
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::with_capacity(word.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let nukta = chars.get(i + 1) == Some(&'\u{09BC}');
        let after_hasanta = i > 0 && chars[i - 1] == '\u{09CD}';
        let s = match c {
            // ড়, ঢ় and য় are a letter and a nukta after NFC.
            'ড' | 'ঢ' if nukta => "r",
            'য' if nukta => "y",
            '\u{09DC}' | '\u{09DD}' => "r",
            '\u{09DF}' => "y",
            'ক' => "k",
            'খ' => "kh",
            'গ' => "g",
            'ঘ' => "gh",
            'ঙ' | 'ং' => "ng",
            'চ' | 'ছ' => "ch",
            'জ' => "j",
            'ঝ' => "jh",
            'ঞ' | 'ণ' | 'ন' => "n",
            'ট' | 'ত' | 'ৎ' => "t",
            'ঠ' | 'থ' => "th",
            'ড' | 'দ' => "d",
            'ঢ' | 'ধ' => "dh",
            'প' => "p",
            'ফ' => "f",
            // ব after the hasanta is a w (বিশ্বাস, Biswas).
            'ব' if after_hasanta => "w",
            'ব' => "b",
            // bh at the start of a word (Bhuiyan), v inside it (Tanvir).
            'ভ' if i == 0 => "bh",
            'ভ' => "v",
            'ম' => "m",
            // য after the hasanta is the ya-phala, a glide.
            'য' if after_hasanta => "y",
            'য' => "j",
            'র' | '\u{09F0}' => "r",
            'ল' => "l",
            'শ' | 'ষ' => "sh",
            'স' => "s",
            'হ' => "h",
            'অ' | 'ও' | 'ো' => "o",
            'আ' | 'া' => "a",
            'ই' | 'ঈ' | 'ি' | 'ী' => "i",
            'উ' | 'ঊ' | 'ু' | 'ূ' => "u",
            'ঋ' | 'ৃ' => "ri",
            'এ' | 'ে' => "e",
            'ঐ' | 'ৈ' => "oi",
            'ঔ' | 'ৌ' => "ou",
            // Chandrabindu nasalises: romanised n (Bhuiyan).
            'ঁ' => "n",
            // Hasanta, nukta, visarga, and anything else.
            _ => "",
        };
        out.push_str(s);
        i += if nukta { 2 } else { 1 };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_consonants() {
        assert_eq!(arabic("محمد"), "mhmd");
        assert_eq!(arabic("يوسف"), "yusf");
        assert_eq!(arabic("وليد"), "wlid");
        assert_eq!(arabic("عمر"), "mr");
        assert_eq!(bengali("মোহাম্মদ"), "mohammd");
        assert_eq!(bengali("বিশ্বাস"), "bishwas");
        assert_eq!(bengali("মিয\u{09BC}া"), "miya");
        assert_eq!(bengali("\u{09DF}"), "y");
        assert_eq!(arabic(""), "");
        assert_eq!(bengali("\u{09BC}\u{09CD}"), "");
    }
}
