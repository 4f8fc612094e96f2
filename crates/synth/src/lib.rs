//! Synthetic populations for Pakistan, Bangladesh, Jordan and Palestine:
//! households and people with the country's names in native script and
//! Latin, valid identifiers, partial dates of birth, real areas, attributes
//! that follow a hidden welfare level, and duplicates with the corruption
//! field data has — every duplicate traced in a truth file.
//!
//! Deterministic for a seed: household *i* is generated from the seed and
//! *i* alone, so blocks of households are generated in parallel and written
//! in order, in memory bounded by a few blocks, whatever the population.
//!
//! Architecture invariant: no I/O here but writing to the given writers.

mod corrupt;
mod household;
pub mod write;

use himaya_domain::Country;
use serde::Deserialize;

pub use household::{Block, Generator, NoAreas, SynthHousehold, SynthPerson};
pub use write::{Format, Summary, write_population};

/// The word lists people and addresses are made from, per country.
pub fn names_text(country: Country) -> &'static str {
    match country {
        Country::Pk => include_str!("../names/pk.toml"),
        Country::Bd => include_str!("../names/bd.toml"),
        Country::Jo => include_str!("../names/jo.toml"),
        Country::Ps => include_str!("../names/ps.toml"),
    }
}

/// Every entry is `"native|Latin"`. Name lists run from the most common
/// name to the least, and are drawn by rank (see `household::Ranked`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameLists {
    pub male_given: Vec<String>,
    pub female_given: Vec<String>,
    pub family: Vec<String>,
    pub streets: Vec<String>,
    #[serde(default)]
    pub compound: Compound,
}

/// How names are made of more than one part where the country's names
/// are: a first word before a given name (Muhammad Imran, Md. Rafiqul,
/// Mst. Nasrin), a second one after it (Zahid Hussain), and the names
/// women carry in place of a family name (Shazia Bibi, Nasrin Akter). Each
/// `_share` is the chance that a person gets one.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Compound {
    pub male_prefix: Vec<String>,
    pub male_prefix_share: f64,
    pub male_second: Vec<String>,
    pub male_second_share: f64,
    pub female_prefix: Vec<String>,
    pub female_prefix_share: f64,
    pub female_family: Vec<String>,
    pub female_family_share: f64,
}

impl NameLists {
    pub fn of(country: Country) -> NameLists {
        // The embedded lists are checked by this crate's tests.
        toml::from_str(names_text(country)).expect("embedded name lists are valid")
    }
}

/// SplitMix64: tiny, fast and stable across versions, so a seed always
/// yields the same population.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    /// A generator for item `index` of a run seeded with `seed`: items are
    /// independent of each other, so they can be made in any order.
    pub fn for_item(seed: u64, index: u64) -> Rng {
        let mut r = Rng(seed ^ index.wrapping_mul(0xA24B_AED4_963E_E407));
        r.next_u64();
        r
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1).max(1) as u64) as i64
    }

    /// A uniform number in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    pub fn digits(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from(b'0' + self.below(10) as u8)).collect()
    }
}

/// Luhn check digit, weights 1,2,1,2… from the left (Palestinian ID).
pub fn luhn_check_digit(body: &str) -> u32 {
    let sum: u32 = body
        .bytes()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0') * if i % 2 == 0 { 1 } else { 2 };
            if d > 9 { d - 9 } else { d }
        })
        .sum();
    (10 - sum % 10) % 10
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_lists_parse_and_pair_scripts() {
        for c in Country::ALL {
            let n = NameLists::of(c);
            let k = &n.compound;
            for list in [&n.male_given, &n.female_given, &n.family, &n.streets] {
                assert!(list.len() >= 10, "{c:?}");
            }
            // Enough names that a million people do not all share them.
            assert!(n.male_given.len() >= 150 && n.female_given.len() >= 150, "{c:?}");
            assert!(n.family.len() >= 120, "{c:?}");
            for list in [
                &n.male_given,
                &n.female_given,
                &n.family,
                &n.streets,
                &k.male_prefix,
                &k.male_second,
                &k.female_prefix,
                &k.female_family,
            ] {
                for e in list {
                    let (native, latin) = e.split_once('|').unwrap_or_else(|| panic!("{c:?}: {e}"));
                    assert!(!native.is_ascii() && !native.trim().is_empty(), "{c:?}: {e}");
                    assert!(latin.is_ascii() && !latin.trim().is_empty(), "{c:?}: {e}");
                }
                // A name listed twice would only be drawn more often than its rank says.
                let distinct: std::collections::HashSet<&str> = list.iter().map(|e| e.as_str()).collect();
                assert_eq!(distinct.len(), list.len(), "{c:?}: a name listed twice");
            }
            for share in [
                k.male_prefix_share,
                k.male_second_share,
                k.female_prefix_share,
                k.female_family_share,
            ] {
                assert!((0.0..=1.0).contains(&share), "{c:?}");
            }
        }
    }

    #[test]
    fn luhn_matches_a_known_valid_id() {
        assert_eq!(luhn_check_digit("03933742"), 3);
    }

    #[test]
    fn items_are_independent_of_order() {
        let a: Vec<u64> = (0..3).map(|i| Rng::for_item(7, i).next_u64()).collect();
        let b: Vec<u64> = (0..3).rev().map(|i| Rng::for_item(7, i).next_u64()).collect();
        assert_eq!(a, b.into_iter().rev().collect::<Vec<_>>());
        assert_ne!(Rng::for_item(7, 0).next_u64(), Rng::for_item(8, 0).next_u64());
    }
}
