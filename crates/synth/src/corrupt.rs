//! How the same person comes to be registered twice: typed again by another
//! enumerator, in another script, with a guessed age, without the card.

use chrono::{Datelike, NaiveDate};

use crate::Rng;
use crate::household::{Generator, Spelling, SynthPerson};

/// Common Latin spellings of the same name, as clerks write them.
const VARIANTS: &[&[&str]] = &[
    &["Muhammad", "Mohammad", "Mohammed", "Muhammed", "Mohd", "Md."],
    &["Ahmed", "Ahmad", "Ahmet"],
    &["Hussain", "Husain", "Hussein", "Hossain", "Hossen"],
    &["Hassan", "Hasan"],
    &["Fatima", "Fatema", "Fatma"],
    &["Ayesha", "Aisha", "Aysha"],
    &["Abdul Rehman", "Abdur Rahman", "Abdelrahman", "Abd al-Rahman"],
    &["Abdullah", "Abdallah"],
    &["Yousef", "Yusuf", "Yousuf"],
    &["Khadija", "Khadeeja", "Khadijah"],
    &["Zainab", "Zaynab"],
    &["Mahmoud", "Mahmud", "Mehmood", "Mahmood"],
    &["Chaudhry", "Chaudhary", "Choudhury", "Chowdhury"],
    &["Siddiqui", "Siddiqi"],
    &["Rahman", "Rehman"],
    &["Begum", "Bibi"],
    &["Khaled", "Khalid"],
    &["Omar", "Umar"],
    &["Osman", "Usman"],
    &["Saleh", "Salih"],
    &["Akter", "Akhter", "Akhtar", "Aktar"],
    &["Khatun", "Khatoon"],
    &["Uddin", "Udin", "Uddeen"],
    &["Ghulam", "Gulam"],
    &["Rasool", "Rasul"],
    &["Iqbal", "Ikbal"],
    &["Mst.", "Most.", "Mosammat"],
];

/// A copy of `p` as someone else registered it: at least one of a typo, a
/// spelling variant, a switch of script, names swapped, a changed or missing
/// date of birth, a missing or different identifier, another phone.
pub(crate) fn duplicate(p: &SynthPerson, rng: &mut Rng, g: &Generator) -> SynthPerson {
    let mut d = p.clone();
    d.truth = p.truth.clone();
    let mut changed = false;
    while !changed {
        if rng.chance(0.35) {
            d.given_name.1 = d.given_name.1.as_deref().map(|n| typo(n, rng));
            changed = true;
        }
        if rng.chance(0.3) {
            d.given_name.1 = d.given_name.1.as_deref().map(|n| variant(n, rng));
            d.family_name.1 = d.family_name.1.as_deref().map(|n| variant(n, rng));
            changed = true;
        }
        if rng.chance(0.25) {
            // Only one script recorded this time.
            let keep_native = rng.chance(0.5) && d.given_name.0.is_some();
            for n in [&mut d.given_name, &mut d.family_name, &mut d.father_name] {
                script_switch(n, keep_native);
            }
            changed = true;
        }
        if rng.chance(0.1) {
            std::mem::swap(&mut d.given_name, &mut d.family_name);
            changed = true;
        }
        // Clerks often leave out the Muhammad, Md. or Mst. before a name.
        if rng.chance(0.3)
            && let Some(shorter) = g.without_prefix(&d.given_name)
        {
            d.given_name = shorter;
            changed = true;
        }
        if rng.chance(0.3) {
            d.date_of_birth = shift_birth(d.date_of_birth.as_deref(), g.today(), rng);
            d.birth_date_estimated = d.date_of_birth.as_deref().is_some_and(|b| b.len() == 4);
            changed = true;
        }
        if d.identifier.is_some() && rng.chance(0.5) {
            // Usually the card was not at hand; sometimes another number was written.
            d.identifier = if rng.chance(0.75) {
                None
            } else {
                let female = d.sex == "female";
                // Serials from the top of the smallest identifier space the
                // generator uses (Palestine's 6 × 10^7), far above those of
                // real people in runs under 3.7 million households.
                let serial = 59_999_999 - rng.below(1_000_000);
                g.identifier(rng, serial, female, 30, "")
                    .filter(|(t, _)| Some(*t) == p.identifier.as_ref().map(|(t, _)| *t))
            };
            changed = true;
        }
        if rng.chance(0.3) {
            d.phone = if rng.chance(0.5) { None } else { Some(g.phone(rng)) };
            changed = true;
        }
    }
    d
}

fn typo(name: &str, rng: &mut Rng) -> String {
    let mut chars: Vec<char> = name.chars().collect();
    if chars.len() < 3 {
        return name.to_owned();
    }
    let i = 1 + rng.below(chars.len() as u64 - 2) as usize;
    match rng.below(3) {
        0 => {
            chars.remove(i);
        }
        1 => chars.swap(i, i + 1),
        _ => {
            let repeated = chars[i];
            chars.insert(i, repeated);
        }
    }
    chars.into_iter().collect()
}

/// The name with every word (or known pair of words) that has other usual
/// spellings written in one of them, chosen afresh.
fn variant(name: &str, rng: &mut Rng) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut rest = name;
    loop {
        let known = VARIANTS.iter().find_map(|group| {
            group.iter().find_map(|v| {
                let after = rest.strip_prefix(v)?;
                (after.is_empty() || after.starts_with(' ')).then_some((group, after))
            })
        });
        match known {
            Some((group, after)) => {
                out.push_str(rng.pick::<&str>(group));
                rest = after;
            }
            None => {
                let end = rest.find(' ').unwrap_or(rest.len());
                out.push_str(&rest[..end]);
                rest = &rest[end..];
            }
        }
        match rest.strip_prefix(' ') {
            Some(r) => {
                out.push(' ');
                rest = r;
            }
            None => return out,
        }
    }
}

fn script_switch(n: &mut Spelling, keep_native: bool) {
    if keep_native && n.0.is_some() {
        n.1 = None;
    } else if n.1.is_some() {
        n.0 = None;
    }
}

/// A date of birth as a second registration may give it; never after
/// `today` (a clerk does not write a birth still to come).
fn shift_birth(birth: Option<&str>, today: NaiveDate, rng: &mut Rng) -> Option<String> {
    let birth = birth?;
    let year: i32 = birth.get(..4)?.parse().ok()?;
    let this_year = today.year();
    match rng.below(4) {
        0 => None,
        1 => Some(year.to_string()),
        2 => Some((year + rng.range(-3, 3) as i32).min(this_year).to_string()),
        // Day and month transposed, where that is still a date gone by.
        _ => match (birth.get(5..7), birth.get(8..10)) {
            (Some(m), Some(d))
                if NaiveDate::parse_from_str(&format!("{year}-{d}-{m}"), "%Y-%m-%d").is_ok_and(|t| t <= today) =>
            {
                Some(format!("{year}-{d}-{m}"))
            }
            _ => Some((year + 1).min(this_year).to_string()),
        },
    }
}

/// How well-off a choice of a household attribute suggests the household
/// is, from the words in its code (`concrete` above `mud`, `piped_water`
/// above `pond`): deployments list choices in no set order.
pub(crate) fn wealth_score(choice: &str) -> i32 {
    const RICH: &[&str] = &[
        "concrete",
        "reinforced",
        "baked",
        "brick",
        "cement",
        "tiles",
        "marble",
        "flush",
        "sewer",
        "septic",
        "piped",
        "public_network",
        "natural_gas",
        "lpg",
        "electricity",
        "grid",
        "owned",
        "urban",
        "villa",
        "apartment",
        "salary",
        "salaried",
        "government",
        "stone",
        "filtration",
        "bottled",
        "pension",
        "business",
    ];
    const POOR: &[&str] = &[
        "mud",
        "unbaked",
        "thatch",
        "straw",
        "earth",
        "sand",
        "dung",
        "wood",
        "crop_residue",
        "kerosene",
        "none",
        "open",
        "hanging",
        "without",
        "unprotected",
        "surface",
        "pond",
        "tent",
        "polythene",
        "plastic",
        "daily",
        "labour",
        "no_income",
        "social_assistance",
        "aid",
        "camp",
        "shelter",
        "displaced",
        "rent_free",
        "khas",
        "tanker",
        "hand_pump",
        "bamboo",
        "grass",
        "dug",
        "rainwater",
        "caravan",
        "metal",
        "tin",
        "shared",
        "asbestos",
        "rural",
    ];
    // Higher is richer: sorted ascending, choices run from poor to rich.
    let rich = RICH.iter().filter(|w| choice.contains(*w)).count() as i32;
    let poor = POOR.iter().filter(|w| choice.contains(*w)).count() as i32;
    rich - poor
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_rank_by_their_words() {
        assert!(wealth_score("reinforced_concrete") > wealth_score("thatch_or_grass"));
        assert!(wealth_score("piped_water") > wealth_score("pond_river_or_canal"));
        assert!(wealth_score("urban") > wealth_score("rural"));
    }

    #[test]
    fn corruptions_change_names_and_dates_plausibly() {
        let mut rng = Rng(1);
        let t = typo("Muhammad", &mut rng);
        assert_ne!(t, "Muhammad");
        assert!((7..=9).contains(&t.chars().count()));
        let v: std::collections::HashSet<String> = (0..50).map(|_| variant("Muhammad Ali", &mut rng)).collect();
        assert!(v.len() > 2 && v.iter().all(|x| x.ends_with(" Ali")), "{v:?}");
        // Every word of a compound name varies, and only whole words do.
        let v: std::collections::HashSet<String> = (0..80).map(|_| variant("Md. Zahid Hussain", &mut rng)).collect();
        assert!(v.iter().any(|x| x.starts_with("Mohammad Zahid ")), "{v:?}");
        assert!(v.iter().any(|x| x.ends_with(" Zahid Husain")), "{v:?}");
        assert!(v.iter().all(|x| x.split(' ').nth(1) == Some("Zahid")), "{v:?}");
        assert_eq!(variant("Hassanain", &mut rng), "Hassanain");
        assert_eq!(
            variant("Abdul Rehman Khan", &mut rng).split(' ').next_back(),
            Some("Khan")
        );
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        assert_eq!(shift_birth(None, today, &mut rng), None);
        for _ in 0..20 {
            if let Some(b) = shift_birth(Some("1980-03-14"), today, &mut rng) {
                assert!(b.starts_with("19"), "{b}");
            }
        }
        // A child born this year is never given a year to come, nor a
        // transposed date still ahead.
        for _ in 0..200 {
            // Transposed, 2026-12-03 would still be ahead.
            if let Some(b) = shift_birth(Some("2026-03-12"), today, &mut rng) {
                assert!(b.as_str() <= "2026-11-23", "{b}");
            }
        }
    }
}
