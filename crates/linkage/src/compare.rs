//! Comparisons: how far two records agree on one thing, as a level (0 is
//! the closest agreement). A missing value on either side is [`NULL`].

use chrono::Datelike;
use himaya_domain::date::PartialDate;

use crate::name::NameForm;
use crate::record::{Record, Role, full, month};

/// The level of a comparison when either record lacks the value.
pub const NULL: u8 = 15;

/// Most comparisons a model can have (one per kind).
pub const MAX_COMPARISONS: usize = 12;

/// One thing two records are compared on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Comparison {
    GivenName,
    FamilyName,
    FatherName,
    /// The words of the whole name in any order.
    FullName,
    DateOfBirth,
    Sex,
    NationalId,
    Phone,
    /// The household's address: the household context of the record.
    Address,
    Locality,
    Postcode,
    Area,
}

const ALL: [Comparison; 12] = [
    Comparison::GivenName,
    Comparison::FamilyName,
    Comparison::FatherName,
    Comparison::FullName,
    Comparison::DateOfBirth,
    Comparison::Sex,
    Comparison::NationalId,
    Comparison::Phone,
    Comparison::Address,
    Comparison::Locality,
    Comparison::Postcode,
    Comparison::Area,
];

const NAME_LEVELS: &[&str] = &["exact", "typo", "phonetic", "similar", "different"];

impl Comparison {
    /// Its column in `pairs.csv`.
    pub fn code(self) -> &'static str {
        match self {
            Comparison::GivenName => "given_name",
            Comparison::FamilyName => "family_name",
            Comparison::FatherName => "father_name",
            Comparison::FullName => "full_name",
            Comparison::DateOfBirth => "date_of_birth",
            Comparison::Sex => "sex",
            Comparison::NationalId => "national_id",
            Comparison::Phone => "phone",
            Comparison::Address => "address",
            Comparison::Locality => "locality",
            Comparison::Postcode => "postcode",
            Comparison::Area => "area",
        }
    }

    /// The comparison whose [`Comparison::code`] this is.
    pub fn from_code(code: &str) -> Option<Comparison> {
        ALL.into_iter().find(|c| c.code() == code)
    }

    /// The names of its levels, closest agreement first (without the null level).
    pub fn levels(self) -> &'static [&'static str] {
        match self {
            Comparison::GivenName | Comparison::FamilyName | Comparison::FatherName => NAME_LEVELS,
            Comparison::FullName => &["same words", "most words", "some words", "different"],
            Comparison::DateOfBirth => &[
                "same day",
                "day and month swapped",
                "same month",
                "same year",
                "same month, other day",
                "same year, other month",
                "1 year apart",
                "3 years apart",
                "different",
            ],
            Comparison::Sex | Comparison::Postcode => &["same", "different"],
            Comparison::NationalId | Comparison::Phone => &["exact", "one digit apart", "different"],
            Comparison::Address => &["same", "similar", "different"],
            Comparison::Locality => &["same", "similar", "different"],
            Comparison::Area => &["same area", "same parent area", "different"],
        }
    }

    /// Whether it compares the person (names, date of birth, sex, numbers),
    /// rather than where they live, which a duplicate registered elsewhere
    /// does not share.
    pub fn of_the_person(self) -> bool {
        !matches!(
            self,
            Comparison::Address | Comparison::Locality | Comparison::Postcode | Comparison::Area
        )
    }

    /// The label of a level, `null` for [`NULL`].
    pub fn level_name(self, level: u8) -> &'static str {
        self.levels().get(level as usize).copied().unwrap_or("null")
    }

    /// The comparisons a set of mapped roles allows, in a fixed order.
    pub fn for_roles(roles: &[Role]) -> Vec<Comparison> {
        let has = |r: Role| roles.contains(&r);
        let mut out = Vec::new();
        for (role, c) in [
            (Role::GivenName, Comparison::GivenName),
            (Role::FamilyName, Comparison::FamilyName),
            (Role::FatherName, Comparison::FatherName),
            (Role::FullName, Comparison::FullName),
            (Role::DateOfBirth, Comparison::DateOfBirth),
            (Role::Sex, Comparison::Sex),
            (Role::NationalId, Comparison::NationalId),
            (Role::Phone, Comparison::Phone),
            (Role::Address, Comparison::Address),
            (Role::Locality, Comparison::Locality),
            (Role::Postcode, Comparison::Postcode),
            (Role::Area, Comparison::Area),
        ] {
            if has(role) {
                out.push(c);
            }
        }
        out
    }
}

/// The levels of every comparison in `comparisons` for one pair, in order.
pub fn compare(comparisons: &[Comparison], a: &Record, b: &Record, out: &mut [u8; MAX_COMPARISONS]) {
    // Given and family names swapped between the records count as agreeing
    // in their swapped places.
    let (given, family) = if comparisons.contains(&Comparison::GivenName) {
        names_aligned(a, b)
    } else {
        (NULL, NULL)
    };
    for (slot, c) in out.iter_mut().zip(comparisons) {
        *slot = match c {
            Comparison::GivenName => given,
            Comparison::FamilyName if comparisons.contains(&Comparison::GivenName) => family,
            Comparison::FamilyName => name_level(&a.family, &b.family),
            Comparison::FatherName => name_level(&a.father, &b.father),
            Comparison::FullName => words_level(a, b),
            Comparison::DateOfBirth => match (a.birth, b.birth) {
                (Some(x), Some(y)) => date_level(x, y),
                _ => NULL,
            },
            Comparison::Sex => match (a.sex, b.sex) {
                (Some(x), Some(y)) => u8::from(x != y),
                _ => NULL,
            },
            Comparison::NationalId => digits_level(&a.ids, &b.ids),
            Comparison::Phone => digits_level(&a.phones, &b.phones),
            Comparison::Address => address_level(&a.address, &b.address),
            Comparison::Locality => match (&a.locality, &b.locality) {
                (Some(x), Some(y)) if x == y => 0,
                (Some(x), Some(y)) if jaro_winkler(x, y) >= 0.9 => 1,
                (Some(_), Some(_)) => 2,
                _ => NULL,
            },
            Comparison::Postcode => match (&a.postcode, &b.postcode) {
                (Some(x), Some(y)) => u8::from(x != y),
                _ => NULL,
            },
            Comparison::Area => match (&a.area, &b.area) {
                (Some(x), Some(y)) => area_level(x, y),
                _ => NULL,
            },
        };
    }
}

fn names_aligned(a: &Record, b: &Record) -> (u8, u8) {
    let straight = (name_level(&a.given, &b.given), name_level(&a.family, &b.family));
    if straight == (0, 0) {
        return straight;
    }
    // Comparing crossed is worth it only when the names could be swapped.
    let meets = |x: &[NameForm], y: &[NameForm]| {
        x.iter()
            .any(|f| y.iter().any(|g| f.phonetic == g.phonetic || f.key == g.key))
    };
    if !(meets(&a.given, &b.family) || meets(&a.family, &b.given)) {
        return straight;
    }
    let crossed = (name_level(&a.given, &b.family), name_level(&a.family, &b.given));
    // Only a swap that explains both names better is taken.
    if crossed.0 != NULL
        && crossed.1 != NULL
        && u16::from(crossed.0) + u16::from(crossed.1) < u16::from(straight.0) + u16::from(straight.1)
    {
        crossed
    } else {
        straight
    }
}

/// Jaro–Winkler similarity of two short strings without allocating: names
/// of up to 64 characters are compared with bit masks on the stack (strsim,
/// used beyond that, allocates twice per call, which showed in profiles of
/// millions of comparisons).
pub fn jaro_winkler(a: &str, b: &str) -> f64 {
    let mut x = ['\0'; 64];
    let mut y = ['\0'; 64];
    let (mut n, mut m) = (0, 0);
    for c in a.chars() {
        if n == 64 {
            return strsim::jaro_winkler(a, b);
        }
        x[n] = c;
        n += 1;
    }
    for c in b.chars() {
        if m == 64 {
            return strsim::jaro_winkler(a, b);
        }
        y[m] = c;
        m += 1;
    }
    jaro_winkler_chars(&x[..n], &y[..m])
}

fn jaro_winkler_chars(a: &[char], b: &[char]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let window = (a.len().max(b.len()) / 2).saturating_sub(1);
    let (mut a_matched, mut b_matched) = (0u64, 0u64);
    let mut matches = 0usize;
    for (i, ca) in a.iter().enumerate() {
        let lo = i.saturating_sub(window);
        let hi = (i + window + 1).min(b.len());
        for (j, cb) in b.iter().enumerate().take(hi).skip(lo) {
            if b_matched & (1 << j) == 0 && cb == ca {
                a_matched |= 1 << i;
                b_matched |= 1 << j;
                matches += 1;
                break;
            }
        }
    }
    if matches == 0 {
        return 0.0;
    }
    // Matched characters out of order, halved.
    let mut transpositions = 0usize;
    let mut j = 0;
    for (i, ca) in a.iter().enumerate() {
        if a_matched & (1 << i) == 0 {
            continue;
        }
        while b_matched & (1 << j) == 0 {
            j += 1;
        }
        if *ca != b[j] {
            transpositions += 1;
        }
        j += 1;
    }
    let m = matches as f64;
    let jaro = (m / a.len() as f64 + m / b.len() as f64 + (m - (transpositions / 2) as f64) / m) / 3.0;
    // Winkler's bonus for a common prefix, only for strings already alike.
    if jaro <= 0.7 {
        return jaro;
    }
    let prefix = a.iter().zip(b).take(4).take_while(|(x, y)| x == y).count() as f64;
    jaro + prefix * 0.1 * (1.0 - jaro)
}

/// The best level between any written form of one name and any of the other.
pub fn name_level(a: &[NameForm], b: &[NameForm]) -> u8 {
    let mut best = NULL;
    for x in a {
        for y in b {
            // Md. Rafiqul and Md. Shafiqul are one typo apart only for the
            // Muhammad they share: no closer than similar (a given name's
            // forms without it are compared on their own).
            let mut level = form_level(x, y);
            if level == 1 && x.leading_muhammad && y.leading_muhammad {
                level = 3;
            }
            best = best.min(level);
            if best == 0 {
                return 0;
            }
        }
    }
    best
}

fn form_level(x: &NameForm, y: &NameForm) -> u8 {
    let same_script = x.script == y.script;
    if same_script && x.key == y.key {
        return 0;
    }
    let key_similarity = if same_script { jaro_winkler(&x.key, &y.key) } else { 0.0 };
    if key_similarity >= 0.92 {
        return 1;
    }
    if !x.phonetic.is_empty() && x.phonetic == y.phonetic {
        return 2;
    }
    if key_similarity >= 0.8
        || (!x.phonetic.is_empty() && !y.phonetic.is_empty() && jaro_winkler(&x.phonetic, &y.phonetic) >= 0.85)
    {
        return 3;
    }
    4
}

fn words_level(a: &Record, b: &Record) -> u8 {
    let (small, large) = if a.words.len() <= b.words.len() {
        (&a.words, &b.words)
    } else {
        (&b.words, &a.words)
    };
    if small.is_empty() {
        return NULL;
    }
    let matched = small
        .iter()
        .filter(|(k, p)| {
            large
                .iter()
                .any(|(k2, p2)| k == k2 || (!p.is_empty() && p == p2) || jaro_winkler(k, k2) >= 0.9)
        })
        .count();
    let share = matched as f64 / small.len() as f64;
    if matched == small.len() && small.len() == large.len() {
        0
    } else if share >= 0.75 {
        1
    } else if share >= 0.5 {
        2
    } else {
        3
    }
}

/// Dates of birth. Where one date is partial (a year, or a year and month,
/// as estimated ages are recorded) it agrees with any date inside it ("same
/// month", "same year") and may be a few years off ("1 year apart", "3 years
/// apart"); two dates that both say more and still differ ("same month,
/// other day", "same year, other month") are weaker evidence, and two full
/// dates in different years are "different".
pub fn date_level(x: PartialDate, y: PartialDate) -> u8 {
    if let (Some(a), Some(b)) = (full(&x), full(&y)) {
        if a == b {
            return 0;
        }
        if a.year() == b.year() && a.day() == b.month() && a.month() == b.day() {
            return 1;
        }
    }
    let estimated = matches!(x, PartialDate::Year(_)) || matches!(y, PartialDate::Year(_));
    let (mx, my) = (month(&x), month(&y));
    if x.year() == y.year() {
        return match (mx, my) {
            (Some(m), Some(n)) if m == n && (full(&x).is_none() || full(&y).is_none()) => 2,
            (Some(m), Some(n)) if m == n => 4,
            (Some(_), Some(_)) => 5,
            _ => 3,
        };
    }
    match (x.year() - y.year()).abs() {
        1 if estimated => 6,
        2 | 3 if estimated => 7,
        _ => 8,
    }
}

/// Identifiers and phone numbers: the same, one digit mistyped or two
/// neighbours swapped, or different.
fn digits_level(a: &[Box<str>], b: &[Box<str>]) -> u8 {
    let mut best = NULL;
    for x in a {
        for y in b {
            let level = if x == y {
                0
            } else if one_slip(x.as_bytes(), y.as_bytes()) {
                1
            } else {
                2
            };
            best = best.min(level);
        }
    }
    best
}

/// One substitution or one transposition of neighbours, same length.
fn one_slip(x: &[u8], y: &[u8]) -> bool {
    if x.len() != y.len() {
        return false;
    }
    let diff: Vec<usize> = (0..x.len()).filter(|&i| x[i] != y[i]).take(3).collect();
    match diff.as_slice() {
        [_] => true,
        [i, j] => *j == i + 1 && x[*i] == y[*j] && x[*j] == y[*i],
        _ => false,
    }
}

fn address_level(a: &[Box<str>], b: &[Box<str>]) -> u8 {
    if a.is_empty() || b.is_empty() {
        return NULL;
    }
    let common = a.iter().filter(|w| b.contains(w)).count();
    let jaccard = common as f64 / (a.len() + b.len() - common) as f64;
    if jaccard >= 0.8 {
        0
    } else if jaccard >= 0.5 {
        1
    } else {
        2
    }
}

/// Area codes are hierarchical (`PK-PB-MUL-01`): the same code, the same
/// parent (the code without its last part), or neither.
fn area_level(x: &str, y: &str) -> u8 {
    if x == y {
        return 0;
    }
    let parent = |s: &str| s.rfind(['-', '/', '.']).map(|i| s[..i].to_owned());
    match (parent(x), parent(y)) {
        (Some(p), Some(q)) if p == q => 1,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Role;
    use chrono::NaiveDate;

    fn rec(fields: &[(Role, &str)]) -> Record {
        Record::parse(fields.iter().copied()).unwrap()
    }

    fn levels(a: &[(Role, &str)], b: &[(Role, &str)]) -> Vec<&'static str> {
        let roles: Vec<Role> = a.iter().chain(b).map(|f| f.0).collect();
        let comparisons = Comparison::for_roles(&roles);
        let mut out = [NULL; MAX_COMPARISONS];
        compare(&comparisons, &rec(a), &rec(b), &mut out);
        comparisons.iter().zip(out).map(|(c, l)| c.level_name(l)).collect()
    }

    #[test]
    fn names_across_scripts_spellings_and_order() {
        use Role::*;
        assert_eq!(levels(&[(GivenName, "Shazia")], &[(GivenName, "شازیہ")]), ["phonetic"]);
        assert_eq!(levels(&[(GivenName, "شازيه")], &[(GivenName, "شازیہ")]), ["exact"]);
        assert_eq!(levels(&[(GivenName, "Muhammad")], &[(GivenName, "Muhamad")]), ["typo"]);
        assert_eq!(levels(&[(GivenName, "Muhammad")], &[(GivenName, "Md.")]), ["exact"]);
        assert_eq!(levels(&[(GivenName, "Mohammed")], &[(GivenName, "Md.")]), ["phonetic"]);
        assert_eq!(levels(&[(GivenName, "Ali")], &[(GivenName, "Omar")]), ["different"]);
        // A leading Muhammad left out by one clerk.
        assert_eq!(
            levels(&[(GivenName, "Muhammad Imran")], &[(GivenName, "Imran")]),
            ["exact"]
        );
        assert_eq!(
            levels(&[(GivenName, "Md. Rafiqul")], &[(GivenName, "রফিকুল")]),
            ["phonetic"]
        );
        let other = levels(&[(GivenName, "Muhammad Imran")], &[(GivenName, "Muhammad Asif")]);
        assert!(!matches!(other[0], "exact" | "typo" | "phonetic"), "{other:?}");
        // The Muhammad they share does not make two names a typo apart…
        assert_eq!(
            levels(&[(GivenName, "Md. Rafiqul")], &[(GivenName, "Md. Shafiqul")]),
            ["similar"]
        );
        assert_eq!(
            levels(&[(FatherName, "Muhammad Aslam")], &[(FatherName, "Muhammad Akram")]),
            ["similar"]
        );
        // …but a typo past it still is one.
        assert_eq!(
            levels(&[(GivenName, "Md. Rafiqul")], &[(GivenName, "Md. Rafiqqul")]),
            ["typo"]
        );
        assert_eq!(
            levels(&[(FatherName, "محمد اسلم")], &[(FatherName, "Muhammad Aslam")]),
            ["phonetic"]
        );
        assert_eq!(levels(&[(GivenName, "Ali")], &[(GivenName, "")]), ["null"]);
        assert_eq!(
            levels(
                &[(GivenName, "Khan"), (FamilyName, "Imran")],
                &[(GivenName, "Imran"), (FamilyName, "Khan")]
            ),
            ["exact", "exact"]
        );
        assert_eq!(
            levels(&[(FullName, "Imran Ahmed Khan")], &[(FullName, "Khan Imran Ahmad")]),
            ["same words"]
        );
        assert_eq!(
            levels(&[(FullName, "Imran Ahmed Khan")], &[(FullName, "Imran Khan")]),
            ["most words"]
        );
    }

    proptest::proptest! {
        #[test]
        fn jaro_winkler_agrees_with_strsim(a in "[a-zA-Z\u{0600}-\u{0605}]{0,20}", b in "[a-zA-Z\u{0600}-\u{0605}]{0,20}") {
            let ours = jaro_winkler(&a, &b);
            let theirs = strsim::jaro_winkler(&a, &b);
            proptest::prop_assert!((ours - theirs).abs() < 1e-9, "{a:?} {b:?}: {ours} {theirs}");
        }
    }

    #[test]
    fn dates_of_birth() {
        let d = |y, m, day| PartialDate::Full(NaiveDate::from_ymd_opt(y, m, day).unwrap());
        let level = |a, b| Comparison::DateOfBirth.level_name(date_level(a, b));
        assert_eq!(level(d(1980, 5, 12), d(1980, 5, 12)), "same day");
        assert_eq!(level(d(1980, 5, 12), d(1980, 12, 5)), "day and month swapped");
        assert_eq!(level(d(1980, 5, 12), PartialDate::YearMonth(1980, 5)), "same month");
        assert_eq!(level(d(1980, 5, 12), PartialDate::Year(1980)), "same year");
        assert_eq!(level(d(1980, 5, 12), d(1980, 5, 13)), "same month, other day");
        assert_eq!(
            level(d(1980, 5, 12), PartialDate::YearMonth(1980, 6)),
            "same year, other month"
        );
        assert_eq!(level(PartialDate::Year(1981), PartialDate::Year(1980)), "1 year apart");
        assert_eq!(level(PartialDate::Year(1983), d(1980, 1, 1)), "3 years apart");
        assert_eq!(level(d(1981, 5, 12), d(1980, 5, 12)), "different");
        assert_eq!(level(PartialDate::Year(1990), d(1980, 1, 1)), "different");
    }

    #[test]
    fn identifiers_phones_and_areas() {
        use Role::*;
        assert_eq!(
            levels(&[(NationalId, "35202-1234567-1")], &[(NationalId, "3520212345671")]),
            ["exact"]
        );
        assert_eq!(
            levels(&[(NationalId, "3520212345671")], &[(NationalId, "3520212345681")]),
            ["one digit apart"]
        );
        assert_eq!(
            levels(&[(NationalId, "3520212345671")], &[(NationalId, "3520212345617")]),
            ["one digit apart"]
        );
        assert_eq!(
            levels(&[(NationalId, "3520212345671")], &[(NationalId, "3520212349999")]),
            ["different"]
        );
        assert_eq!(
            levels(&[(Phone, "+923001234567")], &[(Phone, "۰۳۰۰ ۱۲۳۴۵۶۷")]),
            ["exact"]
        );
        assert_eq!(
            levels(&[(Area, "PK-PB-MUL-01")], &[(Area, "PK-PB-MUL-02")]),
            ["same parent area"]
        );
        assert_eq!(
            levels(&[(Area, "PK-PB-MUL-01")], &[(Area, "pk-pb-mul-01")]),
            ["same area"]
        );
        assert_eq!(
            levels(&[(Area, "PK-PB-MUL-01")], &[(Area, "PK-SD-HYD-01")]),
            ["different"]
        );
        assert_eq!(levels(&[(Postcode, "54000")], &[(Postcode, "54 000")]), ["same"]);
        assert_eq!(levels(&[(Postcode, "54000")], &[(Postcode, "54001")]), ["different"]);
        assert_eq!(levels(&[(Locality, "Chak 12")], &[(Locality, "chak-12")]), ["same"]);
        assert_eq!(
            levels(&[(Locality, "Shujabad")], &[(Locality, "Shujaabad")]),
            ["similar"]
        );
        assert_eq!(levels(&[(Locality, "Multan")], &[(Locality, "Lahore")]), ["different"]);
        assert_eq!(levels(&[(Sex, "female")], &[(Sex, "M")]), ["different"]);
        assert_eq!(levels(&[(Sex, "?")], &[(Sex, "M")]), ["null"]);
        assert_eq!(
            levels(
                &[(Address, "12 Railway Road, Multan")],
                &[(Address, "12 railway road multan")]
            ),
            ["same"]
        );
    }
}
