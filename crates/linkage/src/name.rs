//! Names for matching: per-script folding, titles and particles removed,
//! compounds joined, and a phonetic key that Arabic-script, Bengali and
//! Latin spellings of the same name share.
//!
//! The registry's search key (`himaya_domain::name::normalise_name`: NFKC,
//! case, accents, Arabic and Urdu letter forms, tatweel, invisible marks,
//! digits) is the first step; this module adds what matching needs on top.

use himaya_domain::name::normalise_name;

use crate::translit;

/// The writing system a name (or one of its words) is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Script {
    Latin,
    /// Arabic and Urdu (and Persian) letters.
    Arabic,
    Bengali,
    Other,
}

impl Script {
    /// The script of a word: that of its first letter in a known script.
    pub fn of(word: &str) -> Script {
        for c in word.chars() {
            match c {
                'a'..='z' | 'A'..='Z' | '\u{00C0}'..='\u{024F}' | '\u{1E00}'..='\u{1EFF}' => return Script::Latin,
                '\u{0600}'..='\u{06FF}' | '\u{0750}'..='\u{077F}' | '\u{08A0}'..='\u{08FF}' => return Script::Arabic,
                '\u{0980}'..='\u{09FF}' => return Script::Bengali,
                _ => {}
            }
        }
        Script::Other
    }
}

/// One written form of a name, ready to compare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameForm {
    /// The script most of its words are in.
    pub script: Script,
    /// The folded words in their own script, separated by single spaces.
    pub key: Box<str>,
    /// The phonetic keys (see [`phonetic_key`]) of its words run together,
    /// a letter repeated across words written once.
    pub phonetic: Box<str>,
    /// It begins with a Muhammad (Md., محمد…) that more words follow (a
    /// given name then has a form without it too, [`without_muhammad`]).
    pub leading_muhammad: bool,
}

/// Titles and markers that say nothing about who the person is: removed.
/// (Family-like honorifics such as Syed, Sheikh, Khan, Chaudhry, Begum or
/// Bibi are real parts of names in the registry and stay; term frequencies
/// give them their low weight.)
const TITLES: &[&str] = &[
    // Latin
    "mr",
    "mrs",
    "ms",
    "miss",
    "dr",
    "haji",
    "hajji",
    "hajj",
    "alhaj",
    "alhajj",
    "hajja",
    "late",
    "mst",
    "most",
    "mosammat",
    "mossammat",
    "mosammot",
    "mosamat",
    "mohtarma",
    "janab",
    "smt",
    "sri",
    "shri",
    // Patronymic and relation markers: the father's or husband's name is its own field.
    "bin",
    "bint",
    "binti",
    "ibn",
    "ben",
    "so",
    "do",
    "wo",
    // Arabic script (after folding: ي for ی, ه for ہ and ة)
    "السيد",
    "السيده",
    "الحاج",
    "الحاجه",
    "حاجي",
    "جناب",
    "محترمه",
    "مسز",
    "بن",
    "بنت",
    "ابن",
    "ولد",
    "زوجه",
    // Bengali
    "মোছাঃ",
    "মোসাঃ",
    "মোছা",
    "মোসা",
    "মোছাম্মৎ",
    "মোসাম্মৎ",
    "মোসাম্মত",
    "মোছাম্মত",
    "শ্রী",
    "শ্রীমতী",
    "জনাব",
    "বেগম সাহেবা",
];

/// Abbreviations of Muhammad as clerks write them.
const MUHAMMAD: &[&str] = &["md", "mohd", "mhd", "muhd", "mohmd", "মোঃ", "মো", "মোহাঃ", "মুহাঃ", "م"];

/// The Arabic article as a separate Latin word.
const ARTICLES: &[&str] = &["al", "el", "ul"];

/// Arabic-script words that begin with ال without it being the article.
const NOT_ARTICLE: &[&str] = &["الياس", "الهام", "الطاف", "الماس", "الله"];

/// Latin forms of "Abd al-" written as one word before the divine name.
const ABD_FORMS: &[&str] = &[
    "abd", "abdul", "abdel", "abdal", "abdil", "abdur", "abdus", "abdu", "abdar", "abdas", "abdun", "abdan", "abdud",
    "abduz", "abdush", "abdul-",
];

/// Second halves of compounds written apart or together: Nasir Uddin and
/// Nasiruddin, Saif Ullah and Saifullah.
const SUFFIXES: &[&str] = &[
    "uddin",
    "uddeen",
    "aldin",
    "eddin",
    "ullah",
    "ulla",
    "الدين",
    "الله",
    "উদ্দিন",
    "উল্লাহ",
];

/// The key words of a name as written: the registry's search key, without
/// relation markers such as s/o, with titles removed, abbreviations of
/// Muhammad expanded, the article dropped and compounds joined.
pub fn words(raw: &str) -> Vec<String> {
    let mut marked = raw.to_lowercase();
    // Relation markers written with a slash would otherwise become two words.
    if marked.contains('/') || marked.contains(" of") {
        marked = marked.replace("s/o", " ").replace("d/o", " ").replace("w/o", " ");
        for phrase in ["son of", "daughter of", "wife of"] {
            marked = marked.replace(phrase, " ");
        }
    }
    // Bengali abbreviations end in the visarga or a colon; keep it so that মোঃ stays one word.
    if marked.contains(':') {
        marked = marked
            .replace("মো:", "মোঃ")
            .replace("মোছা:", "মোছাঃ")
            .replace("মোসা:", "মোসাঃ");
    }
    let key = search_key(&marked);
    let mut out: Vec<String> = Vec::new();
    let mut join_next = false;
    for word in key.split(' ').filter(|w| !w.is_empty()) {
        if TITLES.contains(&word) || ARTICLES.contains(&word) {
            continue;
        }
        let word = if MUHAMMAD.contains(&word) {
            if Script::of(word) == Script::Bengali {
                "মোহাম্মদ".to_owned()
            } else if Script::of(word) == Script::Arabic {
                "محمد".to_owned()
            } else {
                "muhammad".to_owned()
            }
        } else {
            strip_article(word)
        };
        if join_next {
            if let Some(last) = out.last_mut() {
                last.push_str(&word);
            }
            join_next = false;
            continue;
        }
        if ABD_FORMS.contains(&word.as_str()) || word == "عبد" || word == "আব্দুর" || word == "আব্দুল"
        {
            // "Abdul Rehman", "Abd al-Rahman", "عبد الرحمن": one name.
            out.push(canonical_abd(&word));
            join_next = true;
            continue;
        }
        if !out.is_empty() && SUFFIXES.contains(&word.as_str()) {
            if let Some(last) = out.last_mut() {
                last.push_str(&word);
            }
            continue;
        }
        out.push(word);
    }
    // A lone "Abdul" (a common given name in Bangladesh) stays as written.
    if join_next && let Some(last) = out.last_mut() {
        *last = match last.as_str() {
            "abd" => "abdul".to_owned(),
            "আব্দ" => "আব্দুল".to_owned(),
            _ => last.clone(),
        };
    }
    out
}

/// The registry's search key, without its Unicode normalisation passes
/// for plain ASCII, which they leave as it is (most Latin names).
fn search_key(s: &str) -> String {
    if !s.is_ascii() {
        return normalise_name(s);
    }
    let mut out = String::with_capacity(s.len());
    for word in s.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().map(|c| c.to_ascii_lowercase()));
    }
    out
}

/// The Arabic article at the start of an Arabic-script word (العبادي → عبادي).
fn strip_article(word: &str) -> String {
    if Script::of(word) == Script::Arabic
        && word.chars().count() > 4
        && !NOT_ARTICLE.contains(&word)
        && let Some(rest) = word.strip_prefix("ال")
    {
        return rest.to_owned();
    }
    word.to_owned()
}

fn canonical_abd(word: &str) -> String {
    match Script::of(word) {
        Script::Latin => "abd".to_owned(),
        Script::Bengali => "আব্দ".to_owned(),
        _ => word.to_owned(),
    }
}

/// A name as it can be compared: `None` when it has no letters at all.
pub fn name_form(raw: &str) -> Option<NameForm> {
    form_of(words(raw))
}

/// A given name without the Muhammad (Md., Mohd, محمد, মোঃ…) it starts
/// with, when more follows: South Asian records write Muhammad Imran as
/// often as Imran, and a first word that so many men share tells little
/// about who they are. `None` for any other name.
pub fn without_muhammad(raw: &str) -> Option<NameForm> {
    let mut words = words(raw);
    if !leads_with_muhammad(&words) {
        return None;
    }
    words.remove(0);
    form_of(words)
}

/// Whether the words begin with a Muhammad that more words follow.
fn leads_with_muhammad(words: &[String]) -> bool {
    words.len() > 1 && phonetic_key(&words[0]) == "mhmd"
}

fn form_of(words: Vec<String>) -> Option<NameForm> {
    if words.is_empty() {
        return None;
    }
    let mut counts = [0usize; 4];
    for w in &words {
        counts[Script::of(w) as usize] += 1;
    }
    let script = [Script::Latin, Script::Arabic, Script::Bengali, Script::Other]
        .into_iter()
        .max_by_key(|s| counts[*s as usize])
        .unwrap_or(Script::Other);
    // One key for the whole name, so that words written apart in one script
    // and together in another (بی بی, Bibi) still agree.
    let mut phonetic = String::new();
    for w in &words {
        for c in phonetic_key(w).chars() {
            if !phonetic.ends_with(c) {
                phonetic.push(c);
            }
        }
    }
    Some(NameForm {
        script,
        key: words.join(" ").into_boxed_str(),
        phonetic: phonetic.into_boxed_str(),
        leading_muhammad: leads_with_muhammad(&words),
    })
}

/// The phonetic key of one word in any of the three scripts: its Latin
/// rendering (Arabic-script and Bengali words transliterated) reduced to its
/// consonants, with the letters that spellings of the same sound vary
/// between folded together (sh/s, kh/k, q/k, gh/g, th/t, dh/d, ph/f, bh/b,
/// v/w, z/j), doubled letters single, w and y kept only at the start of the word
/// and a final h dropped. Muhammad, Mohammed, محمد and মোহাম্মদ all give
/// `mhmd`. Empty for a word with no letter it knows.
pub fn phonetic_key(word: &str) -> String {
    let latin = match Script::of(word) {
        Script::Arabic => translit::arabic(word),
        Script::Bengali => translit::bengali(word),
        Script::Latin | Script::Other => ascii_fold(word),
    };
    consonants(&latin)
}

/// Latin letters without their accents (already removed by the search key), lower case ASCII only.
fn ascii_fold(word: &str) -> String {
    word.chars()
        .filter_map(|c| match c {
            'a'..='z' => Some(c),
            'A'..='Z' => Some(c.to_ascii_lowercase()),
            'ı' => Some('i'),
            'ß' => Some('s'),
            'ø' => Some('o'),
            'æ' => Some('a'),
            _ => None,
        })
        .collect()
}

fn is_vowel(c: u8) -> bool {
    matches!(c, b'a' | b'e' | b'i' | b'o' | b'u')
}

/// The consonant skeleton of a lower-case ASCII rendering.
fn consonants(latin: &str) -> String {
    let b = latin.as_bytes();
    let mut folded: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let next = b.get(i + 1).copied();
        // Digraphs first: one sound, two letters.
        let (c, step) = match (b[i], next) {
            (b's', Some(b'h')) => (b's', 2),
            (b'k', Some(b'h')) => (b'k', 2),
            (b'g', Some(b'h')) => (b'g', 2),
            (b't', Some(b'h')) => (b't', 2),
            (b'd', Some(b'h')) => (b'd', 2),
            (b'p', Some(b'h')) => (b'f', 2),
            (b'b', Some(b'h')) => (b'b', 2),
            (b'j', Some(b'h')) => (b'j', 2),
            (b'z', Some(b'h')) => (b'j', 2),
            (b'c', Some(b'h')) => (b'c', 2),
            (b'c', Some(b'k')) => (b'k', 2),
            (b'q', _) => (b'k', 1),
            (b'c', _) => (b'k', 1),
            (b'v', _) => (b'w', 1),
            // Bengali জ and Urdu ز, ذ, ض, ظ are all spelt z or j.
            (b'z', _) => (b'j', 1),
            (b'x', _) => (b'k', 1),
            (other, _) => (other, 1),
        };
        folded.push(c);
        i += step;
    }
    // Separators (and anything not a letter) only kept letters apart.
    folded.retain(u8::is_ascii_lowercase);
    let mut out = String::with_capacity(folded.len());
    let last = folded.len().saturating_sub(1);
    for (i, &c) in folded.iter().enumerate() {
        let keep = match c {
            c if is_vowel(c) => false,
            // Semi-vowels are written for long vowels inside a word.
            b'w' | b'y' => i == 0,
            // A final h (Fatimah, Abdullah; ة and ہ read as a vowel) is not a consonant anyone hears.
            b'h' => i != last,
            _ => true,
        };
        if keep && out.as_bytes().last() != Some(&c) {
            out.push(c as char);
        }
    }
    // "Abd al-Rahman" and "Abdur Rahman": the article's l assimilates, so it never counts.
    if let Some(rest) = out.strip_prefix("bdl")
        && !rest.is_empty()
        && !rest.starts_with('d')
    {
        return format!("bd{rest}");
    }
    out
}

/// The distinct words of a name with their phonetic keys, for comparing
/// names whose words come in another order.
pub fn word_keys(raw: &str) -> Vec<(Box<str>, Box<str>)> {
    let mut out: Vec<(Box<str>, Box<str>)> = Vec::new();
    for w in words(raw) {
        if !out.iter().any(|(k, _)| **k == *w) {
            let phonetic = phonetic_key(&w).into_boxed_str();
            out.push((w.into_boxed_str(), phonetic));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(s: &str) -> String {
        name_form(s).map(|f| f.key.into_string()).unwrap_or_default()
    }

    fn phon(s: &str) -> String {
        name_form(s).map(|f| f.phonetic.into_string()).unwrap_or_default()
    }

    #[test]
    fn titles_particles_and_abbreviations() {
        assert_eq!(key("Md. Rahim"), "muhammad rahim");
        assert_eq!(key("Mohd Rahim"), key("Muhammad Rahim"));
        assert_eq!(key("Mst. Fatema Begum"), "fatema begum");
        assert_eq!(key("Ali s/o Akbar"), "ali akbar");
        assert_eq!(key("Haji Muhammad Bin Qasim"), "muhammad qasim");
        assert_eq!(key("Al-Abbadi"), "abbadi");
        assert_eq!(key("العبادي"), "عبادي");
        assert_eq!(key("الياس"), "الياس");
        assert_eq!(key("মোঃ রহিম"), "মোহাম্মদ রহিম");
        assert_eq!(key("মো: রহিম"), "মোহাম্মদ রহিম");
        assert_eq!(key("মোছাঃ ফাতেমা"), "ফাতেমা");
        assert_eq!(key("Dr."), "");
        assert!(name_form(" - ").is_none());
    }

    #[test]
    fn a_leading_muhammad_may_be_left_out() {
        let short = |s: &str| without_muhammad(s).map(|f| f.key.into_string());
        assert_eq!(short("Muhammad Imran"), Some("imran".to_owned()));
        assert_eq!(short("Md. Rafiqul"), Some("rafiqul".to_owned()));
        assert_eq!(
            short("Mohammed Abdul Rehman").as_deref(),
            Some(key("Abdul Rehman").as_str())
        );
        assert_eq!(short("মোঃ রফিকুল"), Some("রফিকুল".to_owned()));
        assert_eq!(short("محمد عمران"), Some("عمران".to_owned()));
        // Muhammad alone is the name; after another word it is part of it.
        assert_eq!(short("Muhammad"), None);
        assert_eq!(short("Noor Muhammad"), None);
        assert_eq!(short("Imran"), None);
    }

    #[test]
    fn compounds_are_one_word() {
        for v in [
            "Abdul Rehman",
            "Abdur Rahman",
            "Abdelrahman",
            "Abd al-Rahman",
            "Abdurrahman",
            "Abdul-Rahman",
        ] {
            assert_eq!(phon(v), "bdrhmn", "{v}");
        }
        assert_eq!(phon("عبد الرحمن"), "bdrhmn");
        assert_eq!(phon("عبدالرحمن"), "bdrhmn");
        assert_eq!(phon("Abdullah"), phon("Abd Allah"));
        assert_eq!(phon("عبد الله"), phon("Abdallah"));
        assert_eq!(key("Nasir Uddin"), key("Nasiruddin"));
        assert_eq!(key("Saif Ullah"), key("Saifullah"));
        assert_eq!(key("Abdul"), "abdul");
    }

    #[test]
    fn spellings_and_scripts_share_a_phonetic_key() {
        let groups: &[&[&str]] = &[
            &[
                "Muhammad",
                "Mohammad",
                "Mohammed",
                "Muhammed",
                "Mohd",
                "Md.",
                "محمد",
                "মোহাম্মদ",
                "মোঃ",
            ],
            &["Ahmed", "Ahmad", "أحمد", "احمد", "আহমেদ"],
            &["Hussain", "Husain", "Hussein", "Hossain", "حسين", "حسین", "হোসেন"],
            &["Fatima", "Fatema", "Fatimah", "فاطمة", "فاطمہ", "ফাতেমা"],
            &["Ayesha", "Aisha", "Aysha", "عائشة", "عائشہ", "আয়েশা"],
            &["Yousef", "Yusuf", "Yousuf", "يوسف", "یوسف"],
            &["Zainab", "Zaynab", "زينب", "زینب"],
            &["Rahman", "Rehman", "রহমান"],
            &["Chaudhry", "Chaudhary", "Choudhury", "Chowdhury", "চৌধুরী"],
            &["Khadija", "Khadeeja", "Khadijah", "خديجة", "خدیجہ"],
            &["Shazia", "شازیہ"],
            &["Bibi", "بی بی"],
        ];
        for group in groups {
            let first = phon(group[0]);
            for v in group.iter() {
                assert_eq!(phon(v), first, "{v} against {}", group[0]);
            }
        }
        assert_ne!(phon("Ali"), phon("Omar"));
        // Urdu writes the aspiration before the d that Latin spellings put after it.
        assert_eq!(phon("چوہدری"), "chdr");
    }

    /// The generator's name lists pair each native spelling with its usual
    /// Latin one: most pairs must share the phonetic key.
    #[test]
    fn native_and_latin_spellings_of_the_name_lists_agree() {
        for country in himaya_domain::Country::ALL {
            let lists = himaya_synth::NameLists::of(country);
            let k = &lists.compound;
            let entries: Vec<&String> = [
                &lists.male_given,
                &lists.female_given,
                &lists.family,
                &k.male_prefix,
                &k.male_second,
                &k.female_prefix,
                &k.female_family,
            ]
            .into_iter()
            .flatten()
            .collect();
            let mut differ = Vec::new();
            for e in &entries {
                let (native, latin) = e.split_once('|').unwrap();
                if phon(native) != phon(latin) {
                    differ.push(format!("{native}={} {latin}={}", phon(native), phon(latin)));
                }
            }
            let share = 1.0 - differ.len() as f64 / entries.len() as f64;
            eprintln!("{country:?}: {share:.3} agree; differ: {differ:?}");
            assert!(share >= 0.85, "{country:?}: {share:.3} {differ:?}");
        }
    }

    #[test]
    fn scripts_are_told_apart() {
        assert_eq!(name_form("Shazia Bibi").unwrap().script, Script::Latin);
        assert_eq!(name_form("شازیہ بی بی").unwrap().script, Script::Arabic);
        assert_eq!(name_form("ফাতেমা").unwrap().script, Script::Bengali);
        assert_eq!(Script::of("123"), Script::Other);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

        #[test]
        fn the_ascii_shortcut_is_the_search_key(s in "[ -~]{0,30}") {
            prop_assert_eq!(search_key(&s), normalise_name(&s));
        }

        #[test]
        fn never_panics_and_keys_are_tidy(s in any::<String>()) {
            if let Some(f) = name_form(&s) {
                prop_assert!(!f.key.is_empty());
                prop_assert!(!f.key.contains("  "));
                prop_assert!(f.phonetic.bytes().all(|b| b.is_ascii_lowercase()));
            }
            for (k, p) in word_keys(&s) {
                prop_assert!(!k.contains(' '));
                prop_assert!(p.bytes().all(|b| b.is_ascii_lowercase()));
            }
        }

        #[test]
        fn never_panics_on_name_scripts(chars in proptest::collection::vec(prop_oneof![
            proptest::char::range('\u{0600}', '\u{06FF}'),
            proptest::char::range('\u{0980}', '\u{09FF}'),
            proptest::char::range('a', 'z'),
            Just(' '), Just('/'), Just('-'), Just('\u{200C}'), Just('\u{09BC}'),
        ], 0..30)) {
            let s: String = chars.into_iter().collect();
            let _ = name_form(&s);
            for w in words(&s) {
                prop_assert!(!w.is_empty());
                let _ = phonetic_key(&w);
            }
        }

        #[test]
        fn the_phonetic_key_is_stable(s in "[a-z]{0,12}") {
            let once = consonants(&s);
            prop_assert!(once.len() <= s.len());
            prop_assert!(!once.as_bytes().windows(2).any(|w| w[0] == w[1]));
        }
    }
}
