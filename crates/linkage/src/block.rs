//! Blocking: only records that share a key under some rule are compared.
//! Several rules are combined, each catching the duplicates another misses
//! (a mistyped name, a missing date, a different identifier); a pair two
//! rules both find is compared once, by the first. Pairs are generated
//! block by block and never held together.

use std::hash::{Hash, Hasher};

use rayon::prelude::*;

use crate::compare::Comparison;
use crate::record::{Record, Role, Sex};

/// Part of a blocking key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyPart {
    NationalId,
    Phone,
    /// Given and family name's phonetic keys, in either order (so that swapped names still meet).
    GivenAndFamily,
    Given,
    Family,
    Father,
    /// Two words of the full name, in any order.
    WordPair,
    BirthYear,
    /// A full date of birth (a partial one gives no key).
    BirthDate,
    Sex,
}

impl KeyPart {
    fn code(self) -> &'static str {
        match self {
            KeyPart::NationalId => "national_id",
            KeyPart::Phone => "phone",
            KeyPart::GivenAndFamily => "given+family name",
            KeyPart::Given => "given name",
            KeyPart::Family => "family name",
            KeyPart::Father => "father's name",
            KeyPart::WordPair => "two name words",
            KeyPart::BirthYear => "birth year",
            KeyPart::BirthDate => "date of birth",
            KeyPart::Sex => "sex",
        }
    }

    /// The comparisons whose agreement this part implies.
    fn comparisons(self) -> &'static [Comparison] {
        match self {
            KeyPart::NationalId => &[Comparison::NationalId],
            KeyPart::Phone => &[Comparison::Phone],
            KeyPart::GivenAndFamily => &[Comparison::GivenName, Comparison::FamilyName],
            KeyPart::Given => &[Comparison::GivenName],
            KeyPart::Family => &[Comparison::FamilyName],
            KeyPart::Father => &[Comparison::FatherName],
            KeyPart::WordPair => &[Comparison::FullName],
            KeyPart::BirthYear | KeyPart::BirthDate => &[Comparison::DateOfBirth],
            KeyPart::Sex => &[Comparison::Sex],
        }
    }

    /// The values of this part for a record (several when a name is written in two ways).
    fn values(self, r: &Record) -> Vec<u64> {
        let names = |forms: &[crate::name::NameForm]| -> Vec<u64> {
            let mut v: Vec<u64> = forms
                .iter()
                .filter(|f| !f.phonetic.is_empty())
                .map(|f| hash(&f.phonetic))
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        match self {
            KeyPart::NationalId => r.ids.iter().map(hash).collect(),
            KeyPart::Phone => r.phones.iter().map(hash).collect(),
            KeyPart::GivenAndFamily => {
                let (g, f) = (names(&r.given), names(&r.family));
                let mut v = Vec::new();
                for a in &g {
                    for b in &f {
                        v.push(hash(&(a.min(b), a.max(b))));
                    }
                }
                v
            }
            KeyPart::Given => names(&r.given),
            KeyPart::Family => names(&r.family),
            KeyPart::Father => names(&r.father),
            KeyPart::WordPair => {
                let mut words: Vec<&str> = r.words.iter().map(|(_, p)| &**p).filter(|p| p.len() >= 2).collect();
                words.sort_unstable();
                words.dedup();
                let mut v = Vec::new();
                for (i, a) in words.iter().enumerate() {
                    for b in &words[i + 1..] {
                        v.push(hash(&(a, b)));
                    }
                }
                if words.len() == 1 {
                    v.push(hash(&words[0]));
                }
                v
            }
            KeyPart::BirthYear => r.birth.map(|d| d.year() as u64).into_iter().collect(),
            KeyPart::BirthDate => r
                .birth
                .as_ref()
                .and_then(crate::record::full)
                .map(|d| hash(&d))
                .into_iter()
                .collect(),
            KeyPart::Sex => r.sex.map(|s| u64::from(s == Sex::Female)).into_iter().collect(),
        }
    }
}

fn hash<T: Hash + ?Sized>(v: &T) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    v.hash(&mut h);
    h.finish()
}

/// Most keys one record has under one rule (combinations of names written
/// in several ways); beyond it the rest are left out.
const MAX_KEYS: usize = 16;

/// A blocking rule: records meet when every part agrees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub parts: Vec<KeyPart>,
}

impl Rule {
    pub fn describe(&self) -> String {
        self.parts.iter().map(|p| p.code()).collect::<Vec<_>>().join(" + ")
    }

    /// The comparisons that agree on every pair the rule makes.
    pub fn uses(&self) -> Vec<Comparison> {
        self.parts
            .iter()
            .flat_map(|p| p.comparisons().iter().copied())
            .collect()
    }

    /// Which comparison, at its exact level, this rule is: the rules that
    /// tell how common matches are.
    pub fn single_exact(&self) -> Option<Comparison> {
        match self.parts.as_slice() {
            [KeyPart::NationalId] => Some(Comparison::NationalId),
            [KeyPart::Phone] => Some(Comparison::Phone),
            _ => None,
        }
    }

    /// The record's keys under this rule, sorted and distinct; empty when
    /// it lacks a part.
    pub fn keys(&self, r: &Record) -> Vec<u64> {
        let mut keys: Vec<u64> = vec![0x9E37_79B9_7F4A_7C15];
        for part in &self.parts {
            let values = part.values(r);
            if values.is_empty() {
                return Vec::new();
            }
            let mut next = Vec::with_capacity(keys.len() * values.len());
            for k in &keys {
                for v in &values {
                    next.push(hash(&(k, v)));
                    if next.len() == MAX_KEYS {
                        break;
                    }
                }
            }
            keys = next;
        }
        keys.sort_unstable();
        keys.dedup();
        keys
    }
}

/// The rules for a set of mapped roles: identifiers and phones alone, names
/// with a birth year, names with the father's name and sex, the given name
/// with the full date of birth, and the household's names (family and
/// father) with a birth year and sex.
pub fn default_rules(roles: &[Role]) -> Vec<Rule> {
    let has = |r| roles.contains(&r);
    let mut rules = Vec::new();
    let rule = |parts: &[KeyPart]| Rule { parts: parts.to_vec() };
    if has(Role::NationalId) {
        rules.push(rule(&[KeyPart::NationalId]));
    }
    if has(Role::Phone) {
        rules.push(rule(&[KeyPart::Phone]));
    }
    let optional = |mut parts: Vec<KeyPart>, role: Role, part: KeyPart| {
        if has(role) {
            parts.push(part);
        }
        parts
    };
    let names = match (has(Role::GivenName), has(Role::FamilyName)) {
        (true, true) => Some(KeyPart::GivenAndFamily),
        (true, false) => Some(KeyPart::Given),
        (false, true) => Some(KeyPart::Family),
        (false, false) => None,
    };
    if let Some(names) = names {
        if has(Role::DateOfBirth) {
            rules.push(rule(&[names, KeyPart::BirthYear]));
        }
        let with_father = optional(vec![names], Role::FatherName, KeyPart::Father);
        let with_sex = optional(with_father, Role::Sex, KeyPart::Sex);
        if with_sex.len() > 1 {
            rules.push(Rule { parts: with_sex });
        }
    }
    // Records that lack a family name (or have it in another script only) still meet on
    // the given name and the full date of birth.
    if has(Role::GivenName) && has(Role::DateOfBirth) {
        rules.push(rule(&[KeyPart::Given, KeyPart::BirthDate]));
    }
    if has(Role::FamilyName) && has(Role::FatherName) && has(Role::DateOfBirth) {
        rules.push(Rule {
            parts: optional(
                vec![KeyPart::Family, KeyPart::Father, KeyPart::BirthYear],
                Role::Sex,
                KeyPart::Sex,
            ),
        });
    }
    if has(Role::FullName) {
        if has(Role::DateOfBirth) {
            rules.push(rule(&[KeyPart::WordPair, KeyPart::BirthYear]));
        }
        let parts = optional(vec![KeyPart::WordPair], Role::Sex, KeyPart::Sex);
        rules.push(Rule { parts });
    }
    rules
}

/// The rules EM learns m on: pairs that nearly all are one person, so that
/// the model is identified (on pairs that merely share a name and a birth
/// year, EM finds a "match" class that is really "same sex", given names
/// being gendered). Each leaves out what it fixes: the identifier, the
/// phone, and names with the full date of birth.
pub fn training_rules(roles: &[Role]) -> Vec<Rule> {
    let has = |r| roles.contains(&r);
    let mut rules = Vec::new();
    if has(Role::NationalId) {
        rules.push(Rule {
            parts: vec![KeyPart::NationalId],
        });
    }
    if has(Role::Phone) {
        rules.push(Rule {
            parts: vec![KeyPart::Phone],
        });
    }
    if has(Role::DateOfBirth) {
        let mut parts = match (has(Role::GivenName), has(Role::FamilyName), has(Role::FullName)) {
            (true, true, _) => vec![KeyPart::GivenAndFamily],
            (true, false, _) => vec![KeyPart::Given],
            (false, _, true) => vec![KeyPart::WordPair],
            _ => Vec::new(),
        };
        if !parts.is_empty() {
            if has(Role::FatherName) {
                parts.push(KeyPart::Father);
            }
            parts.push(KeyPart::BirthDate);
            rules.push(Rule { parts });
        }
    }
    rules
}

/// Every record's keys under every rule, in one flat array.
pub struct Keys {
    rules: usize,
    offsets: Vec<u32>,
    keys: Vec<u64>,
}

impl Keys {
    pub fn new(rules: &[Rule], records: &[Record]) -> Keys {
        let per_record: Vec<Vec<Vec<u64>>> = records
            .par_iter()
            .map(|r| rules.iter().map(|rule| rule.keys(r)).collect())
            .collect();
        let mut offsets = Vec::with_capacity(records.len() * rules.len() + 1);
        let mut keys = Vec::new();
        offsets.push(0);
        for record in per_record {
            for rule_keys in record {
                keys.extend(rule_keys);
                offsets.push(keys.len() as u32);
            }
        }
        Keys {
            rules: rules.len(),
            offsets,
            keys,
        }
    }

    pub fn of(&self, record: u32, rule: usize) -> &[u64] {
        let i = record as usize * self.rules + rule;
        &self.keys[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    /// The smallest key two records share under a rule.
    fn first_common(&self, a: u32, b: u32, rule: usize) -> Option<u64> {
        let (x, y) = (self.of(a, rule), self.of(b, rule));
        let (mut i, mut j) = (0, 0);
        while i < x.len() && j < y.len() {
            match x[i].cmp(&y[j]) {
                std::cmp::Ordering::Equal => return Some(x[i]),
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
            }
        }
        None
    }

    /// Whether `key` is the smallest key the pair shares under `rule`, so
    /// that a pair in several blocks of one rule is taken once.
    pub fn first_in_rule(&self, a: u32, b: u32, rule: usize, key: u64) -> bool {
        self.first_common(a, b, rule) == Some(key)
    }

    /// Whether the pair met in the block of `key` under `rule` is met there
    /// first: not in an earlier rule, not under a smaller key of this one.
    pub fn first_meeting(&self, a: u32, b: u32, rule: usize, key: u64) -> bool {
        self.first_in_rule(a, b, rule, key) && (0..rule).all(|r| self.first_common(a, b, r).is_none())
    }
}

/// The blocks of one rule: records sorted by key.
pub struct Blocks {
    entries: Vec<(u64, u32)>,
    /// Start of each block of two or more records (and of none larger than the limit).
    starts: Vec<(u32, u32)>,
    /// Blocks left out for being larger than the limit, and the records in them.
    pub oversized: (usize, usize),
}

impl Blocks {
    /// `right_from`: in a match of two lists, the first record of the right
    /// list; blocks with records of one list only are dropped.
    pub fn new(keys: &Keys, rule: usize, records: usize, max_block: usize, right_from: Option<u32>) -> Blocks {
        let mut entries: Vec<(u64, u32)> = (0..records as u32)
            .flat_map(|r| keys.of(r, rule).iter().map(move |k| (*k, r)))
            .collect();
        entries.par_sort_unstable();
        let mut starts = Vec::new();
        let mut oversized = (0, 0);
        let mut i = 0;
        while i < entries.len() {
            let mut j = i + 1;
            while j < entries.len() && entries[j].0 == entries[i].0 {
                j += 1;
            }
            let n = j - i;
            let both_sides = right_from.is_none_or(|from| entries[i].1 < from && entries[j - 1].1 >= from);
            if n > max_block {
                oversized.0 += 1;
                oversized.1 += n;
            } else if n > 1 && both_sides {
                starts.push((i as u32, j as u32));
            }
            i = j;
        }
        Blocks {
            entries,
            starts,
            oversized,
        }
    }

    /// Pairs within blocks (an upper bound on the pairs the rule makes).
    pub fn pairs(&self, right_from: Option<u32>) -> u64 {
        self.starts
            .iter()
            .map(|&(s, e)| match right_from {
                None => {
                    let n = u64::from(e - s);
                    n * (n - 1) / 2
                }
                Some(from) => {
                    let block = &self.entries[s as usize..e as usize];
                    let left = block.iter().filter(|(_, r)| *r < from).count() as u64;
                    left * (block.len() as u64 - left)
                }
            })
            .sum()
    }

    /// Folds `visit` over every pair of every block on every core: `visit`
    /// gets the two records (left first) and the block's key.
    pub fn fold<A, I, V, M>(&self, right_from: Option<u32>, init: I, visit: V, merge: M) -> A
    where
        A: Send,
        I: Fn() -> A + Sync + Send,
        V: Fn(&mut A, u32, u32, u64) + Sync + Send,
        M: Fn(A, A) -> A + Sync + Send,
    {
        self.starts
            .par_iter()
            .with_min_len(64)
            .fold(&init, |mut acc, &(s, e)| {
                let block = &self.entries[s as usize..e as usize];
                // Entries are sorted by key, then record: within a block the records ascend.
                for (i, &(key, a)) in block.iter().enumerate() {
                    for &(_, b) in &block[i + 1..] {
                        match right_from {
                            Some(from) if (a < from) == (b < from) => continue,
                            _ => visit(&mut acc, a, b, key),
                        }
                    }
                }
                acc
            })
            .reduce(&init, merge)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(fields: &[(Role, &str)]) -> Record {
        Record::parse(fields.iter().copied()).unwrap()
    }

    #[test]
    fn rules_follow_the_mapped_roles() {
        let all = [
            Role::GivenName,
            Role::FamilyName,
            Role::FatherName,
            Role::DateOfBirth,
            Role::Sex,
            Role::NationalId,
            Role::Phone,
        ];
        let rules: Vec<String> = default_rules(&all).iter().map(Rule::describe).collect();
        assert_eq!(
            rules,
            [
                "national_id",
                "phone",
                "given+family name + birth year",
                "given+family name + father's name + sex",
                "given name + date of birth",
                "family name + father's name + birth year + sex"
            ]
        );
        assert!(default_rules(&[Role::Sex, Role::Area]).is_empty());
        assert_eq!(default_rules(&[Role::FullName]).len(), 1);
    }

    #[test]
    fn swapped_names_and_two_scripts_meet() {
        let rule = Rule {
            parts: vec![KeyPart::GivenAndFamily, KeyPart::BirthYear],
        };
        let a = rec(&[
            (Role::GivenName, "Imran"),
            (Role::FamilyName, "Khan"),
            (Role::DateOfBirth, "1980"),
        ]);
        let b = rec(&[
            (Role::GivenName, "خان"),
            (Role::FamilyName, "عمران"),
            (Role::DateOfBirth, "1980-02-03"),
        ]);
        let c = rec(&[(Role::GivenName, "Imran"), (Role::FamilyName, "Khan")]);
        assert!(rule.keys(&a).iter().any(|k| rule.keys(&b).contains(k)));
        assert!(rule.keys(&c).is_empty());
        // With and without a leading Muhammad.
        let d = rec(&[
            (Role::GivenName, "Muhammad Imran"),
            (Role::FamilyName, "Khan"),
            (Role::DateOfBirth, "1980"),
        ]);
        assert!(rule.keys(&a).iter().any(|k| rule.keys(&d).contains(k)));
    }

    #[test]
    fn a_pair_is_met_once_and_large_blocks_are_left_out() {
        let records = vec![
            rec(&[(Role::NationalId, "1"), (Role::Phone, "0300123456")]),
            rec(&[(Role::NationalId, "1"), (Role::Phone, "0300123456")]),
            rec(&[(Role::NationalId, "2"), (Role::Phone, "0300123456")]),
        ];
        let rules = default_rules(&[Role::NationalId, Role::Phone]);
        let keys = Keys::new(&rules, &records);
        let mut met = Vec::new();
        for r in 0..rules.len() {
            let blocks = Blocks::new(&keys, r, records.len(), 10, None);
            let pairs = blocks.fold(
                None,
                Vec::new,
                |acc: &mut Vec<(u32, u32)>, a, b, key| {
                    if keys.first_meeting(a, b, r, key) {
                        acc.push((a, b));
                    }
                },
                |mut x, y| {
                    x.extend(y);
                    x
                },
            );
            met.extend(pairs);
        }
        met.sort();
        assert_eq!(met, [(0, 1), (0, 2), (1, 2)]);
        let small = Blocks::new(&keys, 1, records.len(), 2, None);
        assert_eq!(small.oversized, (1, 3));
        assert_eq!(small.pairs(None), 0);
        // Two lists: only pairs across them.
        let across = Blocks::new(&keys, 1, records.len(), 10, Some(2));
        assert_eq!(across.pairs(Some(2)), 2);
    }
}
