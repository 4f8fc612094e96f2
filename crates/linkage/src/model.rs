//! The Fellegi–Sunter model: for each comparison level, m = P(level | the
//! two records are one person) and u = P(level | they are not); a pair's
//! match weight is log2 of the prior odds plus, for each comparison, log2(m/u).
//!
//! u is counted on random pairs (nearly all non-matches); m is estimated by
//! expectation–maximisation on candidate pairs, aggregated first into counts
//! of identical agreement patterns so that each iteration is cheap.

use std::collections::HashMap;

use crate::compare::{Comparison, MAX_COMPARISONS, NULL};

/// A pair's levels packed four bits each, comparison `i` in bits `4i..4i+4`.
pub type Pattern = u64;

pub fn pack(levels: &[u8; MAX_COMPARISONS], n: usize) -> Pattern {
    levels[..n]
        .iter()
        .enumerate()
        .fold(0, |p, (i, &l)| p | (u64::from(l & 0xF) << (4 * i)))
}

pub fn level_of(p: Pattern, i: usize) -> u8 {
    ((p >> (4 * i)) & 0xF) as u8
}

/// Probabilities per level of one comparison; the last entry is the null level.
pub type Levels = Vec<f64>;

/// Index of a level in a [`Levels`] vector.
fn slot(c: Comparison, level: u8) -> usize {
    if level == NULL {
        c.levels().len()
    } else {
        level as usize
    }
}

/// A trained model.
#[derive(Clone, Debug)]
pub struct Model {
    pub comparisons: Vec<Comparison>,
    pub m: Vec<Levels>,
    pub u: Vec<Levels>,
    /// Probability that two records drawn at random are one person.
    pub prior: f64,
    /// log2(m/u) per comparison and level; 0 for the null level (a missing
    /// value says nothing either way).
    weights: Vec<Vec<f64>>,
    prior_weight: f64,
}

impl Model {
    pub fn new(comparisons: Vec<Comparison>, m: Vec<Levels>, u: Vec<Levels>, prior: f64) -> Model {
        let weights = comparisons
            .iter()
            .enumerate()
            .map(|(i, c)| {
                (0..=c.levels().len())
                    .map(|l| {
                        if l == c.levels().len() {
                            return 0.0;
                        }
                        // m and u of the non-null levels, each renormalised without the null level.
                        let m_rest: f64 = m[i][..c.levels().len()].iter().sum();
                        let u_rest: f64 = u[i][..c.levels().len()].iter().sum();
                        ((m[i][l] / m_rest.max(1e-12)) / (u[i][l] / u_rest.max(1e-12)).max(1e-12)).log2()
                    })
                    .collect()
            })
            .collect();
        let prior = prior.clamp(1e-15, 0.5);
        Model {
            comparisons,
            m,
            u,
            prior,
            weights,
            prior_weight: (prior / (1.0 - prior)).log2(),
        }
    }

    /// The weight of one comparison at one level.
    pub fn level_weight(&self, i: usize, level: u8) -> f64 {
        self.weights[i][slot(self.comparisons[i], level)]
    }

    /// The match weight of a pair with these levels.
    pub fn weight(&self, levels: &[u8; MAX_COMPARISONS]) -> f64 {
        // Given names are a man's or a woman's: once they agree, that the
        // sexes agree too is no further evidence (counted twice, it made
        // pairs that share only their names look a bit surer than they are).
        let given_agrees = self
            .comparisons
            .iter()
            .position(|c| *c == Comparison::GivenName)
            .is_some_and(|i| levels[i] <= 2);
        self.prior_weight
            + (0..self.comparisons.len())
                .filter(|&i| !(given_agrees && self.comparisons[i] == Comparison::Sex && levels[i] == 0))
                .map(|i| self.level_weight(i, levels[i]))
                .sum::<f64>()
    }

    /// The prior's log2 odds.
    pub fn prior_weight(&self) -> f64 {
        self.prior_weight
    }
}

/// The match probability of a match weight.
pub fn probability(weight: f64) -> f64 {
    1.0 / (1.0 + (-weight).exp2())
}

/// Counts of levels on random pairs, turned into u with one pseudo-count per
/// level so that a level never seen among random pairs is rare, not impossible.
pub fn u_from_counts(comparisons: &[Comparison], counts: &[Vec<u64>]) -> Vec<Levels> {
    comparisons
        .iter()
        .zip(counts)
        .map(|(c, counts)| {
            let total: u64 = counts.iter().sum::<u64>() + (c.levels().len() as u64 + 1);
            (0..=c.levels().len())
                .map(|l| (counts[l] + 1) as f64 / total as f64)
                .collect()
        })
        .collect()
}

/// Level counts of one comparison vector, for [`u_from_counts`].
pub fn count_levels(comparisons: &[Comparison], levels: &[u8; MAX_COMPARISONS], counts: &mut [Vec<u64>]) {
    for (i, c) in comparisons.iter().enumerate() {
        counts[i][slot(*c, levels[i])] += 1;
    }
}

/// What one EM session found: m for the comparisons it was free to
/// estimate, and the share of matches among its pairs.
#[derive(Clone, Debug)]
pub struct Session {
    pub m: Vec<Option<Levels>>,
    pub matches_share: f64,
    pub pairs: u64,
}

/// The m a session starts from: agreement likely among matches.
fn initial_m(c: Comparison, u: &Levels) -> Levels {
    let n = c.levels().len();
    let mut m: Levels = (0..n)
        .map(|l| if l == 0 { 0.7 } else { 0.3 / (n - 1) as f64 })
        .collect();
    // Missing values as often as among random pairs, to begin with.
    let null = u[n];
    for x in &mut m {
        *x *= 1.0 - null;
    }
    m.push(null);
    m
}

/// Expectation–maximisation over pattern counts, with u fixed. Comparisons
/// not `free` are left out (their levels are determined by the blocking
/// rule that made the pairs, so they cannot be learnt from them).
pub fn em(
    comparisons: &[Comparison],
    u: &[Levels],
    patterns: &HashMap<Pattern, u64>,
    free: &[bool],
    iterations: usize,
) -> Session {
    let n = comparisons.len();
    let mut m: Vec<Levels> = comparisons.iter().zip(u).map(|(c, u)| initial_m(*c, u)).collect();
    let mut share: f64 = 0.3;
    let total: u64 = patterns.values().sum();
    // In pattern order, so that sums, and so the model, are the same on every run.
    let mut rows: Vec<(Pattern, f64)> = patterns.iter().map(|(p, c)| (*p, *c as f64)).collect();
    rows.sort_by_key(|r| r.0);
    for _ in 0..iterations {
        let mut m_acc: Vec<Levels> = comparisons.iter().map(|c| vec![0.0; c.levels().len() + 1]).collect();
        let mut matched = 0.0;
        for &(p, count) in &rows {
            let (mut lm, mut lu) = (share.ln(), (1.0 - share).ln());
            for i in (0..n).filter(|&i| free[i]) {
                let s = slot(comparisons[i], level_of(p, i));
                lm += m[i][s].ln();
                lu += u[i][s].ln();
            }
            let posterior = 1.0 / (1.0 + (lu - lm).exp());
            let w = posterior * count;
            matched += w;
            for i in (0..n).filter(|&i| free[i]) {
                m_acc[i][slot(comparisons[i], level_of(p, i))] += w;
            }
        }
        let new_share = (matched / total.max(1) as f64).clamp(1e-9, 1.0 - 1e-9);
        let mut change = (new_share - share).abs();
        for i in (0..n).filter(|&i| free[i]) {
            let sum: f64 = m_acc[i].iter().sum();
            for (s, acc) in m_acc[i].iter().enumerate() {
                // A floor keeps a level from getting stuck at zero.
                let v = (acc / sum.max(1e-12)).max(1e-6);
                change = change.max((v - m[i][s]).abs());
                m[i][s] = v;
            }
        }
        share = new_share;
        if change < 1e-7 {
            break;
        }
    }
    Session {
        m: (0..n).map(|i| free[i].then(|| m[i].clone())).collect(),
        matches_share: share,
        pairs: total,
    }
}

/// Whether a session's estimate of one comparison is of duplicates. Where
/// the comparison is of the person (names, date of birth, sex, identifier,
/// phone), their closest agreement must be more common among the session's
/// matches than among random pairs: on a small registry EM can settle on
/// another group of look-alike pairs instead (people who share names but, by
/// their dates of birth and numbers, are not the same), whose m would turn
/// agreement into evidence against a match. Where the person lives is not so:
/// a duplicate registered in another household or district rightly shares
/// its address or area less often than random pairs do.
pub fn of_duplicates(c: Comparison, m: &[f64], u: &[f64]) -> bool {
    !c.of_the_person() || m[0] > u[0]
}

/// m per comparison: the estimates of the sessions free to make them, of
/// duplicates ([`of_duplicates`]), weighted by how many matches each session saw.
pub fn combine(comparisons: &[Comparison], sessions: &[Session], u: &[Levels]) -> Vec<Option<Levels>> {
    (0..comparisons.len())
        .map(|i| {
            let mut acc: Option<Levels> = None;
            let mut total = 0.0;
            for s in sessions {
                let Some(m) = s.m[i].as_ref().filter(|m| of_duplicates(comparisons[i], m, &u[i])) else {
                    continue;
                };
                let w = s.matches_share * s.pairs as f64;
                if w <= 0.0 {
                    continue;
                }
                total += w;
                let a = acc.get_or_insert_with(|| vec![0.0; m.len()]);
                for (x, y) in a.iter_mut().zip(m) {
                    *x += w * y;
                }
            }
            acc.map(|a| a.into_iter().map(|x| x / total).collect())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Patterns drawn from a known model: EM with u fixed finds its m and share.
    #[test]
    fn em_recovers_a_known_model() {
        let comparisons = vec![Comparison::Sex, Comparison::NationalId, Comparison::Postcode];
        // Levels: sex same/different, id exact/one/different, postcode same/different; null last.
        let m_true = [vec![0.95, 0.05, 0.0], vec![0.8, 0.1, 0.1, 0.0], vec![0.9, 0.1, 0.0]];
        let u = vec![
            vec![0.5, 0.5, 0.0001],
            vec![0.001, 0.01, 0.989, 0.0001],
            vec![0.05, 0.95, 0.0001],
        ];
        let share_true = 0.2;
        let mut patterns: HashMap<Pattern, u64> = HashMap::new();
        let total: f64 = 200_000.0;
        for a in 0..2u8 {
            for b in 0..3u8 {
                for c in 0..2u8 {
                    let pm = m_true[0][a as usize] * m_true[1][b as usize] * m_true[2][c as usize];
                    let pu = u[0][a as usize] * u[1][b as usize] * u[2][c as usize];
                    let count = (total * (share_true * pm + (1.0 - share_true) * pu)).round() as u64;
                    let mut levels = [NULL; MAX_COMPARISONS];
                    levels[..3].copy_from_slice(&[a, b, c]);
                    *patterns.entry(pack(&levels, 3)).or_default() += count;
                }
            }
        }
        let s = em(&comparisons, &u, &patterns, &[true, true, true], 500);
        assert!((s.matches_share - share_true).abs() < 0.01, "{}", s.matches_share);
        let m = s.m[1].as_ref().unwrap();
        assert!((m[0] - 0.8).abs() < 0.02, "{m:?}");
        let model = Model::new(
            comparisons.clone(),
            s.m.into_iter().map(Option::unwrap).collect(),
            u,
            0.001,
        );
        let mut agree = [NULL; MAX_COMPARISONS];
        agree[..3].copy_from_slice(&[0, 0, 0]);
        let mut differ = [NULL; MAX_COMPARISONS];
        differ[..3].copy_from_slice(&[1, 2, 1]);
        assert!(model.weight(&agree) > 0.0 && model.weight(&differ) < model.prior_weight());
        // A missing value leaves the weight where the others put it.
        let mut missing = agree;
        missing[1] = NULL;
        assert!((model.weight(&agree) - model.weight(&missing) - model.level_weight(1, 0)).abs() < 1e-9);
        assert!((probability(0.0) - 0.5).abs() < 1e-12);
    }

    /// An estimate whose matches agree less often than random pairs is of
    /// something other than duplicates: it is left out.
    #[test]
    fn sessions_that_learnt_no_duplicates_are_left_out() {
        let comparisons = vec![Comparison::DateOfBirth, Comparison::Phone];
        let u = vec![
            vec![1e-4, 1e-5, 1e-3, 1e-2, 1e-3, 1e-2, 0.05, 0.1, 0.8359, 0.0],
            vec![1e-5, 1e-4, 0.9, 0.09989],
        ];
        let good = Session {
            m: vec![
                Some(vec![0.7, 0.05, 0.02, 0.05, 0.02, 0.02, 0.04, 0.04, 0.06, 0.0]),
                None,
            ],
            matches_share: 0.1,
            pairs: 1000,
        };
        let confused = Session {
            m: vec![
                Some(vec![1e-6, 1e-6, 0.25, 0.25, 1e-6, 1e-6, 1e-6, 1e-6, 1e-6, 0.5]),
                Some(vec![1e-6, 1e-6, 0.07, 0.93]),
            ],
            matches_share: 0.5,
            pairs: 5000,
        };
        assert!(of_duplicates(
            Comparison::DateOfBirth,
            good.m[0].as_ref().unwrap(),
            &u[0]
        ));
        assert!(!of_duplicates(
            Comparison::DateOfBirth,
            confused.m[0].as_ref().unwrap(),
            &u[0]
        ));
        // Where a duplicate lives may rightly differ more often than among random pairs.
        assert!(of_duplicates(
            Comparison::Area,
            &[0.01, 0.5, 0.49, 0.0],
            &[0.02, 0.1, 0.88, 0.0]
        ));
        let m = combine(&comparisons, &[good.clone(), confused.clone()], &u);
        assert_eq!(m[0], good.m[0], "only the session that learnt duplicates counts");
        assert_eq!(m[1], None, "nothing learnt of the phone");
    }

    #[test]
    fn patterns_pack_and_unpack() {
        let mut levels = [NULL; MAX_COMPARISONS];
        levels[..4].copy_from_slice(&[0, 3, NULL, 6]);
        let p = pack(&levels, 4);
        assert_eq!((0..4).map(|i| level_of(p, i)).collect::<Vec<_>>(), [0, 3, NULL, 6]);
    }
}
