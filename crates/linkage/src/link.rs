//! A whole linkage run: u from random pairs, m by EM on each blocking rule's
//! pairs, then every candidate pair scored once, the likely ones kept and
//! clustered.

use std::collections::HashMap;

use rayon::prelude::*;

use crate::block::{Blocks, Keys, Rule, default_rules, training_rules};
use crate::cluster::clusters;
use crate::compare::{Comparison, MAX_COMPARISONS, NULL, compare};
use crate::model::{self, Levels, Model, Pattern, Session};
use crate::record::{Record, Role};

/// Why a run cannot start.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum LinkError {
    #[error("there are no records to link")]
    NoRecords,
    #[error("one record has no one to be the same person as: at least two are needed")]
    OneRecord,
    #[error("one of the two lists has no records")]
    EmptyList,
    #[error("more than {} records: split the input", u32::MAX - 1)]
    TooManyRecords,
    #[error(
        "no blocking rule can be made from the roles given: map a national_id or a phone, a full_name, or a \
         given_name or family_name with a date_of_birth, a father_name or sex"
    )]
    NoBlockingRule,
    #[error("the threshold must be a probability between 0 and 1, not {0}")]
    Threshold(f64),
}

/// How a run is tuned.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Pairs at or above this match probability are kept.
    pub threshold: f64,
    /// Blocks of more records than this are left out (and reported): a key
    /// shared by that many records says too little to be worth all its pairs.
    pub max_block: usize,
    /// Exact name agreement weighed by how common the name is, and agreement
    /// on a year of birth by how common the year is.
    pub term_frequency: bool,
    /// Random pairs counted for u.
    pub random_pairs: usize,
    /// Candidate pairs sampled per blocking rule for EM.
    pub training_pairs: usize,
    /// Groups join only if this share of the pairs between them are kept.
    pub cluster_density: f64,
    /// Seeds the sampling of random pairs: the same input and seed give the same model.
    pub seed: u64,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            threshold: 0.5,
            max_block: 2_000,
            term_frequency: true,
            random_pairs: 1_000_000,
            training_pairs: 1_000_000,
            cluster_density: 0.5,
            seed: 1,
        }
    }
}

/// Two records, their levels and their score.
#[derive(Clone, Debug, PartialEq)]
pub struct Pair {
    /// Index of the first record (in a match, in the left list).
    pub left: u32,
    /// Index of the second (in a match, in the right list, counted from its start).
    pub right: u32,
    pub weight: f64,
    pub probability: f64,
    pub levels: [u8; MAX_COMPARISONS],
}

/// What one blocking rule did.
#[derive(Clone, Debug)]
pub struct RuleReport {
    pub rule: String,
    /// Pairs compared for the first time under this rule.
    pub compared: u64,
    pub kept: u64,
    /// Blocks over the size limit, and the records in them, left out.
    pub oversized_blocks: usize,
    pub oversized_records: usize,
}

/// The result of a run.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub model: Model,
    /// Kept pairs, in record order.
    pub pairs: Vec<Pair>,
    /// Each record's cluster: the index of its first record (in a match,
    /// indices run through the left list, then the right).
    pub clusters: Vec<u32>,
    pub rules: Vec<RuleReport>,
}

impl Outcome {
    pub fn compared(&self) -> u64 {
        self.rules.iter().map(|r| r.compared).sum()
    }
}

/// Finds the records of one list that are the same person.
pub fn dedupe(records: &[Record], roles: &[Role], settings: &Settings) -> Result<Outcome, LinkError> {
    match records.len() {
        0 => return Err(LinkError::NoRecords),
        1 => return Err(LinkError::OneRecord),
        _ => {}
    }
    Run::new(records, None, roles, settings)?.run()
}

/// Finds, for records of a left list, the records of a right list that are
/// the same person. `records` holds the left list, then the right, which
/// starts at `right_from`.
pub fn link(records: &[Record], right_from: usize, roles: &[Role], settings: &Settings) -> Result<Outcome, LinkError> {
    if right_from == 0 || right_from >= records.len() {
        return Err(LinkError::EmptyList);
    }
    Run::new(records, Some(right_from as u32), roles, settings)?.run()
}

/// One pair of records scored with a trained model: its levels, weight and
/// probability (without the term-frequency adjustment, which needs the
/// whole list).
pub fn score_pair(model: &Model, a: &Record, b: &Record) -> Pair {
    let mut levels = [NULL; MAX_COMPARISONS];
    compare(&model.comparisons, a, b, &mut levels);
    let weight = model.weight(&levels);
    Pair {
        left: 0,
        right: 0,
        weight,
        probability: model::probability(weight),
        levels,
    }
}

struct Run<'a> {
    records: &'a [Record],
    right_from: Option<u32>,
    comparisons: Vec<Comparison>,
    rules: Vec<Rule>,
    keys: Keys,
    training: Vec<Rule>,
    settings: &'a Settings,
}

/// SplitMix64, for sampling.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl<'a> Run<'a> {
    fn new(
        records: &'a [Record],
        right_from: Option<u32>,
        roles: &[Role],
        settings: &'a Settings,
    ) -> Result<Run<'a>, LinkError> {
        if !(0.0..=1.0).contains(&settings.threshold) || settings.threshold.is_nan() {
            return Err(LinkError::Threshold(settings.threshold));
        }
        if records.len() >= u32::MAX as usize {
            return Err(LinkError::TooManyRecords);
        }
        let rules = default_rules(roles);
        if rules.is_empty() {
            return Err(LinkError::NoBlockingRule);
        }
        let comparisons = Comparison::for_roles(roles);
        let keys = Keys::new(&rules, records);
        Ok(Run {
            records,
            right_from,
            comparisons,
            rules,
            keys,
            training: training_rules(roles),
            settings,
        })
    }

    fn levels(&self, a: u32, b: u32) -> [u8; MAX_COMPARISONS] {
        let mut out = [NULL; MAX_COMPARISONS];
        compare(
            &self.comparisons,
            &self.records[a as usize],
            &self.records[b as usize],
            &mut out,
        );
        out
    }

    fn total_pairs(&self) -> f64 {
        let n = self.records.len() as f64;
        match self.right_from {
            None => n * (n - 1.0) / 2.0,
            Some(from) => f64::from(from) * (n - f64::from(from)),
        }
    }

    fn random_pair(&self, rng: &mut u64) -> (u32, u32) {
        let n = self.records.len() as u64;
        loop {
            *rng = mix(*rng);
            let x = *rng;
            *rng = mix(*rng);
            let y = *rng;
            let (a, b) = match self.right_from {
                None => ((x % n) as u32, (y % n) as u32),
                Some(from) => (
                    (x % u64::from(from)) as u32,
                    (u64::from(from) + y % (n - u64::from(from))) as u32,
                ),
            };
            if a != b {
                return (a, b);
            }
        }
    }

    /// u: level counts on random pairs; exact agreement on identifiers and
    /// phones, too rare for sampling to see, from the values' frequencies.
    fn estimate_u(&self) -> Vec<Levels> {
        let chunks = 64;
        let per_chunk = self.settings.random_pairs.div_ceil(chunks);
        let counts = (0..chunks)
            .into_par_iter()
            .map(|chunk| {
                let mut rng = mix(self.settings.seed ^ (chunk as u64).wrapping_mul(0xA24B_AED4_963E_E407));
                let mut counts: Vec<Vec<u64>> =
                    self.comparisons.iter().map(|c| vec![0; c.levels().len() + 1]).collect();
                for _ in 0..per_chunk {
                    let (a, b) = self.random_pair(&mut rng);
                    model::count_levels(&self.comparisons, &self.levels(a, b), &mut counts);
                }
                counts
            })
            .reduce_with(|mut x, y| {
                for (a, b) in x.iter_mut().zip(y) {
                    for (p, q) in a.iter_mut().zip(b) {
                        *p += q;
                    }
                }
                x
            })
            .unwrap_or_default();
        let mut u = model::u_from_counts(&self.comparisons, &counts);
        for (i, c) in self.comparisons.iter().enumerate() {
            let values: ValuesOf = match c {
                Comparison::NationalId => |r| &r.ids,
                Comparison::Phone => |r| &r.phones,
                _ => continue,
            };
            let exact = self.exact_share(values);
            let rest: f64 = u[i][1..].iter().sum();
            let scale = (1.0 - exact) / rest.max(1e-12);
            for x in &mut u[i][1..] {
                *x *= scale;
            }
            u[i][0] = exact.max(1e-13);
        }
        u
    }

    /// The share of all pairs that agree exactly on a value.
    fn exact_share(&self, values: ValuesOf) -> f64 {
        let mut left: HashMap<&str, u64> = HashMap::new();
        let mut right: HashMap<&str, u64> = HashMap::new();
        for (i, r) in self.records.iter().enumerate() {
            let side = match self.right_from {
                Some(from) if i as u32 >= from => &mut right,
                _ => &mut left,
            };
            for v in values(r) {
                *side.entry(v).or_default() += 1;
            }
        }
        let agreeing: f64 = match self.right_from {
            None => left.values().map(|&c| (c * c.saturating_sub(1) / 2) as f64).sum(),
            Some(_) => left
                .iter()
                .map(|(v, &c)| (c * right.get(v).copied().unwrap_or(0)) as f64)
                .sum(),
        };
        agreeing / self.total_pairs().max(1.0)
    }

    /// EM sessions, one per rule, on a sample of each rule's pairs, with the
    /// comparisons the rule fixes left out; `near_certain` for the training
    /// rules, whose pairs are nearly all one person.
    fn sessions(&self, rules: &[Rule], keys: &Keys, u: &[Levels], near_certain: bool) -> Vec<Trained> {
        let n = self.comparisons.len();
        let mut sessions = Vec::new();
        for (r, rule) in rules.iter().enumerate() {
            let blocks = Blocks::new(keys, r, self.records.len(), self.settings.max_block, self.right_from);
            let block_pairs = blocks.pairs(self.right_from);
            if block_pairs == 0 {
                continue;
            }
            let rate = (self.settings.training_pairs as f64 / block_pairs as f64).min(1.0);
            let cut = (rate * u64::MAX as f64) as u64;
            let used = rule.uses();
            let free: Vec<bool> = self.comparisons.iter().map(|c| !used.contains(c)).collect();
            let patterns = blocks.fold(
                self.right_from,
                HashMap::new,
                |acc: &mut HashMap<Pattern, u64>, a, b, key| {
                    // Pairs met under several keys of the rule count once; pairs
                    // other rules also find count here too, as the rule's own.
                    if mix(u64::from(a) << 32 | u64::from(b)) > cut || !keys.first_in_rule(a, b, r, key) {
                        return;
                    }
                    let mut levels = self.levels(a, b);
                    for (i, f) in free.iter().enumerate() {
                        if !f {
                            levels[i] = 0;
                        }
                    }
                    *acc.entry(model::pack(&levels, n)).or_default() += 1;
                },
                merge_counts,
            );
            let mut session = model::em(&self.comparisons, u, &patterns, &free, 200);
            // With nothing left free that one of the pairs has on both sides
            // (a list of identifiers alone, against people with every field),
            // EM learns nothing, not even how many are matches; a training
            // rule's pairs are chosen as nearly all one person, and are taken
            // as such.
            let informative = (0..n).any(|i| free[i] && patterns.keys().any(|p| model::level_of(*p, i) != NULL));
            if near_certain && !informative {
                session.matches_share = 1.0;
            }
            sessions.push(Trained {
                session,
                patterns,
                block_pairs,
                single: rule.single_exact(),
            });
        }
        sessions
    }

    /// m from the training rules' sessions (see [`training_rules`]); a
    /// comparison none of them is free to estimate from the sessions of the
    /// blocking rules, and failing those from the largest session with every
    /// comparison free. The prior from the rules that are one comparison's
    /// exact agreement: their matches ÷ the share of all matches they find.
    fn estimate_m(&self, u: &[Levels]) -> (Vec<Levels>, f64) {
        let n = self.comparisons.len();
        let training_keys = Keys::new(&self.training, self.records);
        let mut sessions = self.sessions(&self.training, &training_keys, u, true);
        let plain = |s: &[Trained]| s.iter().map(|t| t.session.clone()).collect::<Vec<_>>();
        let mut m = model::combine(&self.comparisons, &plain(&sessions), u);
        if m.iter().any(Option::is_none) {
            let more = self.sessions(&self.rules, &self.keys, u, false);
            for (slot, est) in m.iter_mut().zip(model::combine(&self.comparisons, &plain(&more), u)) {
                if slot.is_none() {
                    *slot = est;
                }
            }
            sessions.extend(more);
        }
        // A comparison every rule fixes: estimated, biased, with everything free.
        if m.iter().any(Option::is_none)
            && let Some(t) = sessions.iter().max_by_key(|t| t.session.pairs)
        {
            let all = model::em(&self.comparisons, u, &t.patterns, &vec![true; n], 200);
            for (((slot, est), u), c) in m.iter_mut().zip(all.m).zip(u).zip(&self.comparisons) {
                if slot.is_none() {
                    *slot = est.filter(|m| model::of_duplicates(*c, m, u));
                }
            }
        }
        let m: Vec<Levels> = m
            .into_iter()
            .zip(u)
            .map(|(m, u)| m.unwrap_or_else(|| u.clone()))
            .collect();
        let total = self.total_pairs();
        let mut estimates: Vec<f64> = sessions
            .iter()
            .filter_map(|t| {
                let i = self.comparisons.iter().position(|c| Some(*c) == t.single)?;
                let found = m[i][0];
                (found > 1e-3).then(|| t.session.matches_share * t.block_pairs as f64 / found / total)
            })
            .collect();
        estimates.sort_by(f64::total_cmp);
        let prior = match estimates.len() {
            0 => {
                sessions
                    .iter()
                    .map(|t| t.session.matches_share * t.block_pairs as f64)
                    .fold(1.0, f64::max)
                    / total
            }
            k => estimates[k / 2],
        };
        (m, prior)
    }

    fn run(self) -> Result<Outcome, LinkError> {
        let u = self.estimate_u();
        let (m, prior) = self.estimate_m(&u);
        let u = self.without_matches(u, &m, prior);
        let model = Model::new(self.comparisons.clone(), m, u, prior);
        self.score(model)
    }

    /// u of exact agreement on identifiers and phones among pairs that are
    /// not one person: the share of all pairs that agree, less those the
    /// matches account for. Counted over all pairs, it is mostly the matches
    /// themselves, and where the list is all people the other side holds
    /// (an agency's list against the registry), as common as a match is: an
    /// exact identifier then only cancelled the prior, and a list of nothing
    /// but identifiers found none of them. At least one pair in all is kept,
    /// as agreement no count can rule out.
    fn without_matches(&self, mut u: Vec<Levels>, m: &[Levels], prior: f64) -> Vec<Levels> {
        let floor = 1.0 / self.total_pairs().max(1.0);
        for (i, c) in self.comparisons.iter().enumerate() {
            if !matches!(c, Comparison::NationalId | Comparison::Phone) {
                continue;
            }
            let exact = ((u[i][0] - prior * m[i][0]) / (1.0 - prior)).max(floor).min(u[i][0]);
            let rest: f64 = u[i][1..].iter().sum();
            let scale = (1.0 - exact) / rest.max(1e-12);
            for x in &mut u[i][1..] {
                *x *= scale;
            }
            u[i][0] = exact;
        }
        u
    }

    /// Every candidate pair scored with `model`, the likely ones kept and clustered.
    fn score(self, model: Model) -> Result<Outcome, LinkError> {
        let tf = self.settings.term_frequency.then(|| self.term_frequencies());
        let right_from = self.right_from;
        let mut pairs: Vec<Pair> = Vec::new();
        let mut reports = Vec::new();
        for (r, rule) in self.rules.iter().enumerate() {
            let blocks = Blocks::new(&self.keys, r, self.records.len(), self.settings.max_block, right_from);
            let (compared, kept) = blocks.fold(
                right_from,
                || (0u64, Vec::new()),
                |acc: &mut (u64, Vec<Pair>), a, b, key| {
                    if !self.keys.first_meeting(a, b, r, key) {
                        return;
                    }
                    acc.0 += 1;
                    let levels = self.levels(a, b);
                    let mut weight = model.weight(&levels);
                    if let Some(tf) = &tf {
                        weight += tf.adjustment(&model, &levels, a, b);
                    }
                    let probability = model::probability(weight);
                    if probability >= self.settings.threshold {
                        acc.1.push(Pair {
                            left: a,
                            right: right_from.map_or(b, |from| b - from),
                            weight,
                            probability,
                            levels,
                        });
                    }
                },
                |mut x, y| {
                    x.0 += y.0;
                    x.1.extend(y.1);
                    x
                },
            );
            reports.push(RuleReport {
                rule: rule.describe(),
                compared,
                kept: kept.len() as u64,
                oversized_blocks: blocks.oversized.0,
                oversized_records: blocks.oversized.1,
            });
            pairs.extend(kept);
        }
        pairs.par_sort_unstable_by_key(|p| (p.left, p.right));
        let offset = right_from.unwrap_or(0);
        let edges: Vec<(u32, u32, f64)> = pairs
            .iter()
            .map(|p| (p.left, p.right + offset, p.probability))
            .collect();
        let clusters = clusters(self.records.len(), &edges, self.settings.cluster_density);
        Ok(Outcome {
            model,
            pairs,
            clusters,
            rules: reports,
        })
    }

    fn term_frequencies(&self) -> TermFrequencies {
        let names: Vec<(usize, NamesOf)> = self
            .comparisons
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let get: fn(&Record) -> &[crate::name::NameForm] = match c {
                    Comparison::GivenName => |r| &r.given,
                    Comparison::FamilyName => |r| &r.family,
                    Comparison::FatherName => |r| &r.father,
                    _ => return None,
                };
                Some((i, get))
            })
            .collect();
        let mut per_record = vec![[0f32; 3]; self.records.len()];
        let mut slots = Vec::new();
        for (slot, (i, get)) in names.into_iter().enumerate() {
            let mut counts: HashMap<&str, u32> = HashMap::new();
            let mut present = 0u32;
            for r in self.records {
                if let Some(f) = get(r).first() {
                    *counts.entry(&f.phonetic).or_default() += 1;
                    present += 1;
                }
            }
            for (k, r) in self.records.iter().enumerate() {
                if let Some(f) = get(r).first() {
                    per_record[k][slot] = counts[&*f.phonetic] as f32 / present.max(1) as f32;
                }
            }
            slots.push(i);
        }
        let birth = self
            .comparisons
            .iter()
            .position(|c| *c == Comparison::DateOfBirth)
            .map(|i| BirthYears::new(i, self.records));
        TermFrequencies {
            comparisons: slots,
            per_record,
            birth,
        }
    }
}

/// A record's identifiers or phones.
type ValuesOf = fn(&Record) -> &[Box<str>];

/// One of a record's name fields.
type NamesOf = fn(&Record) -> &[crate::name::NameForm];

/// A session with what its prior estimate needs.
struct Trained {
    session: Session,
    patterns: HashMap<Pattern, u64>,
    block_pairs: u64,
    single: Option<Comparison>,
}

fn merge_counts(mut x: HashMap<Pattern, u64>, y: HashMap<Pattern, u64>) -> HashMap<Pattern, u64> {
    for (k, v) in y {
        *x.entry(k).or_default() += v;
    }
    x
}

/// How common each record's names are, for weighing exact agreement.
struct TermFrequencies {
    /// The model's index of each name comparison with frequencies.
    comparisons: Vec<usize>,
    per_record: Vec<[f32; 3]>,
    birth: Option<BirthYears>,
}

/// How common each record's year of birth is. Where most people are young,
/// two children born the same year are far likelier than two of the old, so
/// agreeing on a year (or within a few) says less for the common years: the
/// level's weight is moved by log2(Σ p² / p), p the share of the year, Σ p²
/// the chance that two random records share a year, whose average the level's u is.
struct BirthYears {
    /// The model's index of the date-of-birth comparison.
    comparison: usize,
    per_record: Vec<f32>,
    same_year: f64,
}

impl BirthYears {
    fn new(comparison: usize, records: &[Record]) -> BirthYears {
        // Ordered, so that the sums, and so the weights, are the same on every run.
        let mut counts: std::collections::BTreeMap<i32, u32> = std::collections::BTreeMap::new();
        for b in records.iter().filter_map(|r| r.birth) {
            *counts.entry(b.year()).or_default() += 1;
        }
        let present: f64 = counts.values().map(|&c| f64::from(c)).sum::<f64>().max(1.0);
        let same_year = counts.values().map(|&c| (f64::from(c) / present).powi(2)).sum();
        let per_record = records
            .iter()
            .map(|r| r.birth.map_or(0.0, |b| (f64::from(counts[&b.year()]) / present) as f32))
            .collect();
        BirthYears {
            comparison,
            per_record,
            same_year,
        }
    }

    fn adjustment(&self, model: &Model, levels: &[u8; MAX_COMPARISONS], a: u32, b: u32) -> f64 {
        let level = levels[self.comparison];
        // Not for "different" nor a missing date.
        if level as usize + 1 >= model.comparisons[self.comparison].levels().len() {
            return 0.0;
        }
        let p = self.per_record[a as usize].max(self.per_record[b as usize]);
        if p <= 0.0 {
            return 0.0;
        }
        (self.same_year / f64::from(p)).log2().clamp(-4.0, 4.0)
    }
}

impl TermFrequencies {
    /// Exact agreement on a name as common as f is worth log2(m / f)
    /// rather than log2(m / u): u is the average over all names.
    fn adjustment(&self, model: &Model, levels: &[u8; MAX_COMPARISONS], a: u32, b: u32) -> f64 {
        let mut w = 0.0;
        for (slot, &i) in self.comparisons.iter().enumerate() {
            if levels[i] != 0 {
                continue;
            }
            let f = self.per_record[a as usize][slot].max(self.per_record[b as usize][slot]);
            if f <= 0.0 {
                continue;
            }
            let n = model.comparisons[i].levels().len();
            let u = &model.u[i];
            let u_exact = u[0] / u[..n].iter().sum::<f64>().max(1e-12);
            w += (u_exact / f64::from(f)).log2().clamp(-8.0, 4.0);
        }
        if let Some(birth) = &self.birth {
            w += birth.adjustment(model, levels, a, b);
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use himaya_domain::Country;
    use himaya_domain::config::Deployment;
    use himaya_synth::{Generator, SynthPerson};

    /// A synthetic population with 5 % duplicates, as records and their truth.
    fn population(country: Country, households: u64) -> (Vec<Record>, Vec<String>) {
        let dir = format!("{}/../../config", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(format!("{dir}/{}.toml", country.code())).unwrap();
        let deployment = Deployment::from_toml_with_files(&text, |f| {
            std::fs::read_to_string(format!("{dir}/{f}")).map_err(|e| e.to_string())
        })
        .unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let generator = Generator::new(deployment, 3, 0.05, today).unwrap();
        let people: Vec<SynthPerson> = generator
            .block(0, households)
            .households
            .into_iter()
            .flat_map(|h| h.members)
            .collect();
        let records = people
            .iter()
            .map(|p| {
                let o = |s: &Option<String>| s.as_deref().unwrap_or("").to_owned();
                let fields = [
                    (Role::GivenName, o(&p.given_name.0)),
                    (Role::GivenName, o(&p.given_name.1)),
                    (Role::FamilyName, o(&p.family_name.0)),
                    (Role::FamilyName, o(&p.family_name.1)),
                    (Role::FatherName, o(&p.father_name.0)),
                    (Role::FatherName, o(&p.father_name.1)),
                    (Role::Sex, p.sex.to_owned()),
                    (Role::DateOfBirth, o(&p.date_of_birth)),
                    (Role::Phone, o(&p.phone)),
                    (
                        Role::NationalId,
                        p.identifier.as_ref().map(|i| i.1.clone()).unwrap_or_default(),
                    ),
                ];
                Record::parse(fields.iter().map(|(r, v)| (*r, v.as_str()))).unwrap()
            })
            .collect();
        (records, people.into_iter().map(|p| p.truth).collect())
    }

    const ROLES: &[Role] = &[
        Role::GivenName,
        Role::FamilyName,
        Role::FatherName,
        Role::Sex,
        Role::DateOfBirth,
        Role::Phone,
        Role::NationalId,
    ];

    /// Fewer random pairs than a real run counts: tests build without optimisation.
    fn quick() -> Settings {
        Settings {
            random_pairs: 100_000,
            ..Settings::default()
        }
    }

    fn quality(pairs: &[Pair], truth_left: &[String], truth_right: &[String], true_pairs: usize) -> (f64, f64) {
        let right = pairs
            .iter()
            .filter(|p| truth_left[p.left as usize] == truth_right[p.right as usize])
            .count();
        (right as f64 / pairs.len() as f64, right as f64 / true_pairs as f64)
    }

    #[test]
    fn dedupe_finds_duplicates_the_same_way_every_time() {
        let (records, truth) = population(Country::Jo, 800);
        let mut per_person: HashMap<&str, usize> = HashMap::new();
        for t in &truth {
            *per_person.entry(t).or_default() += 1;
        }
        let true_pairs: usize = per_person.values().map(|n| n * (n - 1) / 2).sum();
        let settings = quick();
        let first = dedupe(&records, ROLES, &settings).unwrap();
        let (precision, recall) = quality(&first.pairs, &truth, &truth, true_pairs);
        assert!(
            precision >= 0.9 && recall >= 0.9,
            "precision {precision}, recall {recall}"
        );
        assert!(first.pairs.iter().all(|p| p.left < p.right && p.probability >= 0.5));
        // Every kept pair was compared once: no pair twice.
        let mut seen: Vec<(u32, u32)> = first.pairs.iter().map(|p| (p.left, p.right)).collect();
        seen.dedup();
        assert_eq!(seen.len(), first.pairs.len());
        let again = dedupe(&records, ROLES, &settings).unwrap();
        assert_eq!(first.pairs, again.pairs);
        assert_eq!(first.clusters, again.clusters);
        assert_eq!(first.clusters.len(), records.len());
    }

    #[test]
    fn two_lists_are_matched_across_them_only() {
        let (records, truth) = population(Country::Pk, 800);
        // Left: first registrations; right: the second ones.
        let mut seen = std::collections::HashSet::new();
        let own: Vec<bool> = truth.iter().map(|t| seen.insert(t.clone())).collect();
        let (mut left, mut right) = (Vec::new(), Vec::new());
        let (mut truth_left, mut truth_right) = (Vec::new(), Vec::new());
        for ((r, t), first) in records.into_iter().zip(truth).zip(own) {
            if first {
                left.push(r);
                truth_left.push(t);
            } else {
                right.push(r);
                truth_right.push(t);
            }
        }
        let right_from = left.len();
        let true_pairs = truth_right.len();
        left.extend(right);
        let outcome = link(&left, right_from, ROLES, &quick()).unwrap();
        let (precision, recall) = quality(&outcome.pairs, &truth_left, &truth_right, true_pairs);
        assert!(
            precision >= 0.9 && recall >= 0.85,
            "precision {precision}, recall {recall}"
        );
        assert!(
            outcome
                .pairs
                .iter()
                .all(|p| (p.left as usize) < right_from && (p.right as usize) < true_pairs)
        );
        assert_eq!(
            link(&left, 0, ROLES, &Settings::default()).unwrap_err(),
            LinkError::EmptyList
        );
    }

    /// A list of nothing but identifiers, every one of them on the other
    /// side (which may have every field): each agreement is found, near
    /// certain, and nothing else.
    #[test]
    fn a_list_of_identifiers_finds_each_one() {
        let id = |i: u32| format!("{:013}", 3_520_212_345_000u64 + u64::from(i));
        let names = ["Ali", "Sana", "Omar", "Zainab", "Bilal", "Ayesha", "Imran"];
        for rich in [false, true] {
            let mut records: Vec<Record> = (0..150)
                .map(|i| Record::parse([(Role::NationalId, id(i * 7).as_str())]).unwrap())
                .collect();
            let right_from = records.len();
            records.extend((0..5_000).map(|i| {
                let (n, born) = (names[i as usize % names.len()], format!("{}", 1950 + i % 60));
                let mut fields = vec![(Role::NationalId, id(i))];
                if rich {
                    fields.extend([(Role::GivenName, n.to_owned()), (Role::DateOfBirth, born)]);
                }
                Record::parse(fields.iter().map(|(r, v)| (*r, v.as_str()))).unwrap()
            }));
            let roles: &[Role] = if rich {
                &[Role::NationalId, Role::GivenName, Role::DateOfBirth]
            } else {
                &[Role::NationalId]
            };
            let outcome = link(&records, right_from, roles, &quick()).unwrap();
            assert_eq!(outcome.pairs.len(), 150, "rich: {rich}");
            for p in &outcome.pairs {
                assert_eq!(p.right, p.left * 7);
                assert!(p.probability > 0.99, "rich: {rich}: {}", p.probability);
            }
        }
    }

    /// Sharing a common year of birth says less than sharing a rare one.
    #[test]
    fn a_common_year_of_birth_weighs_less() {
        let born = |year: &str| Record::parse([(Role::DateOfBirth, year)]).unwrap();
        let records: Vec<Record> = (0..90)
            .map(|_| born("2020"))
            .chain((0..10).map(|_| born("1950")))
            .collect();
        let years = BirthYears::new(0, &records);
        let n = Comparison::DateOfBirth.levels().len();
        let even = vec![1.0 / (n + 1) as f64; n + 1];
        let model = Model::new(vec![Comparison::DateOfBirth], vec![even.clone()], vec![even], 0.01);
        let same_year = Comparison::DateOfBirth
            .levels()
            .iter()
            .position(|l| *l == "same year")
            .unwrap() as u8;
        let mut levels = [NULL; MAX_COMPARISONS];
        levels[0] = same_year;
        // Σ p² = 0.82: the common year (p 0.9) a little below it, the rare one (p 0.1) far above.
        let common = years.adjustment(&model, &levels, 0, 1);
        let rare = years.adjustment(&model, &levels, 90, 91);
        assert!((common - (0.82f64 / 0.9).log2()).abs() < 1e-6, "{common}");
        assert!((rare - (0.82f64 / 0.1).log2()).abs() < 1e-6, "{rare}");
        levels[0] = (n - 1) as u8;
        assert_eq!(
            years.adjustment(&model, &levels, 90, 91),
            0.0,
            "no adjustment for different years"
        );
        levels[0] = NULL;
        assert_eq!(years.adjustment(&model, &levels, 90, 91), 0.0, "nor for a missing date");
    }

    #[test]
    fn runs_that_cannot_start_say_why() {
        let one = Record::parse([(Role::NationalId, "1")]).unwrap();
        assert_eq!(
            dedupe(&[], ROLES, &Settings::default()).unwrap_err(),
            LinkError::NoRecords
        );
        assert_eq!(
            dedupe(std::slice::from_ref(&one), ROLES, &Settings::default()).unwrap_err(),
            LinkError::OneRecord
        );
        let two = [one.clone(), one];
        assert_eq!(
            dedupe(&two, &[Role::Sex], &Settings::default()).unwrap_err(),
            LinkError::NoBlockingRule
        );
        let bad = Settings {
            threshold: 1.5,
            ..Settings::default()
        };
        assert_eq!(dedupe(&two, ROLES, &bad).unwrap_err(), LinkError::Threshold(1.5));
    }
}
