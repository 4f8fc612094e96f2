//! One household at a time, from the seed and its index.

use chrono::{Datelike, NaiveDate};
use himaya_domain::Country;
use himaya_domain::attributes::AttributeType;
use himaya_domain::config::Deployment;
use himaya_domain::identifier::IdentifierType;
use serde_json::Value;

use crate::{NameLists, Rng, corrupt, luhn_check_digit};

/// A name in native script and Latin; field records often carry only one.
pub type Spelling = (Option<String>, Option<String>);

/// One person record as the generator makes it.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthPerson {
    pub key: String,
    pub household_key: String,
    /// The real person this record stands for: its own key, or for a
    /// duplicate the original's.
    pub truth: String,
    pub relationship: &'static str,
    pub given_name: Spelling,
    pub family_name: Spelling,
    /// Father's or husband's name; for Jordan and Palestine the father's and
    /// grandfather's given names, so that given + father + family make the
    /// usual four-part Arabic name.
    pub father_name: Spelling,
    pub sex: &'static str,
    pub date_of_birth: Option<String>,
    pub birth_date_estimated: bool,
    pub marital_status: &'static str,
    pub maternal_status: Option<&'static str>,
    pub school_level: Option<&'static str>,
    pub phone: Option<String>,
    pub identifier: Option<(&'static str, String)>,
}

/// One household as the generator makes it.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthHousehold {
    pub key: String,
    pub area: String,
    pub address: String,
    pub location: Option<(f64, f64)>,
    /// Aligned with the deployment's attribute schema; `None` when not recorded.
    pub attributes: Vec<Option<Value>>,
    /// The hidden welfare level (0 poorest, 1 richest) the attributes follow.
    pub welfare: f64,
    pub members: Vec<SynthPerson>,
}

/// A run of consecutive households, duplicates included.
#[derive(Clone, Debug, Default)]
pub struct Block {
    pub households: Vec<SynthHousehold>,
}

/// How a country's households are made.
struct Profile {
    /// Children: this many chances of `child_p` each.
    child_trials: u64,
    child_p: f64,
    female_head: f64,
    /// Share of adult men and women, and of children, with an identifier.
    id_men: f64,
    id_women: f64,
    id_children: f64,
    four_part_names: bool,
    centre: (f64, f64),
}

fn profile(c: Country) -> Profile {
    match c {
        // Pakistan: large households (HIES mean ≈ 6.3), women less often on NADRA's rolls.
        Country::Pk => Profile {
            child_trials: 8,
            child_p: 0.5,
            female_head: 0.1,
            id_men: 0.94,
            id_women: 0.78,
            id_children: 0.35,
            four_part_names: false,
            centre: (30.0, 70.0),
        },
        Country::Bd => Profile {
            child_trials: 5,
            child_p: 0.42,
            female_head: 0.15,
            id_men: 0.93,
            id_women: 0.86,
            id_children: 0.55,
            four_part_names: false,
            centre: (23.7, 90.4),
        },
        // Jordan and Palestine number people at birth.
        Country::Jo => Profile {
            child_trials: 6,
            child_p: 0.45,
            female_head: 0.14,
            id_men: 0.97,
            id_women: 0.95,
            id_children: 0.9,
            four_part_names: true,
            centre: (31.9, 35.9),
        },
        Country::Ps => Profile {
            child_trials: 6,
            child_p: 0.5,
            female_head: 0.12,
            id_men: 0.97,
            id_women: 0.95,
            id_children: 0.9,
            four_part_names: true,
            centre: (31.9, 35.2),
        },
    }
}

/// A deployment without areas: there is nowhere to put households.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the deployment has no areas to put households in")]
pub struct NoAreas;

/// Makes households for one deployment.
pub struct Generator {
    country: Country,
    profile: Profile,
    names: NameLists,
    /// Lowest areas: code, name, and a welfare shift shared by the area.
    leaves: Vec<(String, String, f64)>,
    deployment: Deployment,
    /// Per attribute, its choices from poorest to richest.
    choice_order: Vec<Vec<usize>>,
    seed: u64,
    duplicates: f64,
    today: NaiveDate,
}

impl Generator {
    /// `duplicates` is the share of person records that get a duplicate.
    pub fn new(deployment: Deployment, seed: u64, duplicates: f64, today: NaiveDate) -> Result<Generator, NoAreas> {
        let country = deployment.country;
        let leaves: Vec<(String, String, f64)> = deployment
            .areas
            .iter()
            .filter(|a| !deployment.areas.iter().any(|c| c.parent.as_deref() == Some(&a.code)))
            .map(|a| {
                let name = a
                    .names
                    .get("en")
                    .or_else(|| a.names.values().next())
                    .cloned()
                    .unwrap_or_default();
                let shift = Rng::for_item(seed ^ 0x5EED, hash(&a.code)).unit() * 0.3 - 0.15;
                (a.code.clone(), name, shift)
            })
            .collect();
        if leaves.is_empty() {
            return Err(NoAreas);
        }
        let choice_order = deployment
            .household_attributes
            .defs()
            .iter()
            .map(|d| {
                let mut order: Vec<usize> = (0..d.choices.len()).collect();
                order.sort_by_key(|i| corrupt::wealth_score(&d.choices[*i]));
                order
            })
            .collect();
        Ok(Generator {
            country,
            profile: profile(country),
            names: NameLists::of(country),
            leaves,
            deployment,
            choice_order,
            seed,
            duplicates: duplicates.clamp(0.0, 1.0),
            today,
        })
    }

    pub fn deployment(&self) -> &Deployment {
        &self.deployment
    }

    /// Households `first..first + count` (and the duplicates their members
    /// get). The same arguments always give the same block.
    pub fn block(&self, first: u64, count: u64) -> Block {
        let mut households: Vec<SynthHousehold> = (first..first + count).map(|i| self.household(i)).collect();
        let mut rng = Rng::for_item(self.seed ^ 0xD0D0, first);
        let mut extra = Vec::new();
        let originals = households.len();
        // Only people first registered here get duplicates, not duplicates themselves.
        let sizes: Vec<usize> = households.iter().map(|h| h.members.len()).collect();
        for h in 0..originals {
            for m in 0..sizes[h] {
                if !rng.chance(self.duplicates) {
                    continue;
                }
                let n = extra.len() + households.iter().map(|x| x.members.len()).sum::<usize>();
                let mut copy = corrupt::duplicate(&households[h].members[m], &mut rng, self);
                copy.relationship = "other_relative";
                // Registered again: often in a household elsewhere, else alone in a new one.
                if originals > 1 && rng.chance(0.5) {
                    let mut target = rng.below(originals as u64) as usize;
                    if target == h {
                        target = (target + 1) % originals;
                    }
                    copy.key = format!("{}-D{n}", households[target].key);
                    copy.household_key = households[target].key.clone();
                    households[target].members.push(copy);
                } else {
                    let index = first + h as u64;
                    let key = format!("H{index:010}-D{n}");
                    copy.key = format!("{key}-1");
                    copy.household_key = key.clone();
                    copy.relationship = "head";
                    let (area, area_name, shift) = self.leaves[rng.below(self.leaves.len() as u64) as usize].clone();
                    let welfare = (households[h].welfare + shift).clamp(0.0, 1.0);
                    extra.push(SynthHousehold {
                        key,
                        address: self.address(&mut rng, &area_name),
                        attributes: self.attributes(&mut rng, welfare),
                        location: rng.chance(0.6).then(|| self.location(&mut rng)),
                        area,
                        welfare,
                        members: vec![copy],
                    });
                }
            }
        }
        households.extend(extra);
        Block { households }
    }

    fn household(&self, index: u64) -> SynthHousehold {
        let mut rng = Rng::for_item(self.seed, index);
        let key = format!("H{index:010}");
        let (area, area_name, shift) = self.leaves[rng.below(self.leaves.len() as u64) as usize].clone();
        // Most households are poor: the registry targets them.
        let welfare = (rng.unit().powf(1.4) + shift).clamp(0.0, 1.0);
        let p = &self.profile;
        let family = self.name(&mut rng, |n| &n.family);
        let grandfather = self.name(&mut rng, |n| &n.male_given);
        let female_head = rng.chance(p.female_head);
        let head_age = 20 + (rng.unit() * rng.unit() * 55.0) as i64 + rng.range(0, 10);
        let mut members = Vec::new();
        let member = |rng: &mut Rng,
                      members: &mut Vec<SynthPerson>,
                      female: bool,
                      age: i64,
                      relationship: &'static str,
                      father: &Spelling| {
            let n = members.len() + 1;
            let person = self.person(rng, &key, n, index, female, age, relationship, father, &family, &area);
            members.push(person);
        };
        let head_father = if p.four_part_names {
            self.joined(&grandfather, &self.name(&mut rng, |n| &n.male_given))
        } else {
            grandfather.clone()
        };
        member(&mut rng, &mut members, female_head, head_age, "head", &head_father);
        let head_given = members[0].given_name.clone();
        let widowed_head = female_head && rng.chance(0.6);
        if female_head && widowed_head {
            members[0].marital_status = "widowed";
        }
        if !female_head && head_age >= 20 && rng.chance(0.88) {
            let spouse_age = (head_age - rng.range(0, 9)).max(16);
            // A wife's father/husband field usually holds the husband's name.
            let father = if rng.chance(0.5) {
                head_given.clone()
            } else {
                self.name(&mut rng, |n| &n.male_given)
            };
            member(&mut rng, &mut members, true, spouse_age, "spouse", &father);
        }
        let children = (0..p.child_trials).filter(|_| rng.chance(p.child_p)).count();
        let child_father = if p.four_part_names {
            self.joined(&head_given, &grandfather)
        } else {
            head_given.clone()
        };
        for _ in 0..children {
            let age = rng.range(0, (head_age - 17).clamp(0, 28));
            let female = rng.chance(0.49);
            member(&mut rng, &mut members, female, age, "child", &child_father);
        }
        if head_age < 60 && rng.chance(0.12) {
            let female = rng.chance(0.65);
            let age = (head_age + rng.range(20, 30)).min(98);
            member(&mut rng, &mut members, female, age, "parent", &grandfather);
        }
        if rng.chance(0.05) {
            let female = rng.chance(0.5);
            let age = rng.range(10, 70);
            member(&mut rng, &mut members, female, age, "other_relative", &grandfather);
        }
        for m in &mut members {
            if m.relationship == "head" && m.marital_status == "never_married" {
                m.marital_status = "married";
            }
        }
        SynthHousehold {
            key,
            address: self.address(&mut rng, &area_name),
            location: rng.chance(0.7).then(|| self.location(&mut rng)),
            attributes: self.attributes(&mut rng, welfare),
            area,
            welfare,
            members,
        }
    }

    fn name(&self, rng: &mut Rng, list: fn(&NameLists) -> &Vec<String>) -> Spelling {
        let entry = rng.pick(list(&self.names));
        let (native, latin) = entry.split_once('|').unwrap_or((entry, entry));
        match rng.below(10) {
            0 | 1 => (Some(native.to_owned()), None),
            2 => (None, Some(latin.to_owned())),
            _ => (Some(native.to_owned()), Some(latin.to_owned())),
        }
    }

    fn joined(&self, a: &Spelling, b: &Spelling) -> Spelling {
        let join = |x: &Option<String>, y: &Option<String>| match (x, y) {
            (Some(x), Some(y)) => Some(format!("{x} {y}")),
            (x, None) => x.clone(),
            (None, y) => y.clone(),
        };
        (join(&a.0, &b.0), join(&a.1, &b.1))
    }

    #[allow(clippy::too_many_arguments)]
    fn person(
        &self,
        rng: &mut Rng,
        household_key: &str,
        n: usize,
        household_index: u64,
        female: bool,
        age: i64,
        relationship: &'static str,
        father: &Spelling,
        family: &Spelling,
        area: &str,
    ) -> SynthPerson {
        let p = &self.profile;
        let (date_of_birth, birth_date_estimated) = self.birth(rng, age);
        let coverage = if age < 18 {
            p.id_children
        } else if female {
            p.id_women
        } else {
            p.id_men
        };
        let serial = household_index * 16 + n as u64;
        let identifier = rng
            .chance(coverage)
            .then(|| self.identifier(rng, serial, female, age, area))
            .flatten();
        let married = matches!(relationship, "head" | "spouse");
        let marital_status = if married {
            "married"
        } else if relationship == "parent" {
            "widowed"
        } else if age >= 18 && rng.chance(0.35) {
            "married"
        } else {
            "never_married"
        };
        let school_level = (5..=17).contains(&age).then(|| {
            if rng.chance(0.25) {
                "not_enrolled"
            } else if age <= 10 {
                "primary"
            } else if age <= 15 {
                "secondary"
            } else {
                "higher_secondary"
            }
        });
        let given = self.name(rng, if female { |n| &n.female_given } else { |n| &n.male_given });
        let key = format!("{household_key}-{n}");
        SynthPerson {
            truth: key.clone(),
            key,
            household_key: household_key.to_owned(),
            relationship,
            given_name: given,
            family_name: family.clone(),
            father_name: father.clone(),
            sex: if female { "female" } else { "male" },
            date_of_birth,
            birth_date_estimated,
            marital_status,
            maternal_status: (female && married && (18..45).contains(&age) && rng.chance(0.12))
                .then(|| if rng.chance(0.5) { "pregnant" } else { "lactating" }),
            school_level,
            phone: (age >= 18 && rng.chance(if female { 0.45 } else { 0.75 })).then(|| self.phone(rng)),
            identifier,
        }
    }

    /// A birth date `age` completed years ago, as precise as field records are:
    /// older people's more often by year alone.
    fn birth(&self, rng: &mut Rng, age: i64) -> (Option<String>, bool) {
        let days = age * 365 + age / 4 + rng.range(1, 364);
        let date = self.today - chrono::Duration::days(days);
        let year_only = if age >= 50 { 0.45 } else { 0.2 };
        let u = rng.unit();
        if u < 0.02 {
            (None, false)
        } else if u < 0.02 + year_only {
            (Some(date.year().to_string()), true)
        } else if u < 0.15 + year_only {
            (Some(date.format("%Y-%m").to_string()), false)
        } else {
            (Some(date.format("%Y-%m-%d").to_string()), false)
        }
    }

    /// A national identifier in the country's format, unique in the run for
    /// `serial`, with valid check digits where the format has them.
    pub(crate) fn identifier(
        &self,
        rng: &mut Rng,
        serial: u64,
        female: bool,
        age: i64,
        area: &str,
    ) -> Option<(&'static str, String)> {
        let (t, value) = match self.country {
            Country::Pk => {
                let province = match area.get(..5) {
                    Some("PK-KP") => 1,
                    Some("PK-PB") => 3,
                    Some("PK-SD") => 4,
                    Some("PK-BA") => 5,
                    Some("PK-IS") => 6,
                    Some("PK-GB") => 7,
                    _ => 8,
                };
                // The last digit is odd for men, even for women.
                let last = rng.below(5) * 2 + u64::from(!female);
                (
                    IdentifierType::PkCnic,
                    format!("{province}{:011}{last}", scramble(serial, 100_000_000_000)),
                )
            }
            Country::Bd if age < 18 => (
                IdentifierType::BdBirthRegistration,
                format!(
                    "{}{:013}",
                    self.today.year() as i64 - age,
                    scramble(serial, 10_000_000_000_000)
                ),
            ),
            Country::Bd if rng.chance(0.5) => (
                IdentifierType::BdNid,
                format!("{}{:09}", 1 + serial % 9, scramble(serial, 1_000_000_000)),
            ),
            Country::Bd => (
                IdentifierType::BdNid,
                format!(
                    "{}{:013}",
                    self.today.year() as i64 - age,
                    scramble(serial, 10_000_000_000_000)
                ),
            ),
            Country::Jo => (
                IdentifierType::JoNationalNumber,
                format!("{}{:09}", if female { 2 } else { 9 }, scramble(serial, 1_000_000_000)),
            ),
            Country::Ps => {
                let body = format!("{}{:07}", 4 + (serial / 10_000_000) % 6, scramble(serial, 10_000_000));
                (IdentifierType::PsId, format!("{body}{}", luhn_check_digit(&body)))
            }
        };
        self.deployment.identifier_types.contains(&t).then(|| (t.code(), value))
    }

    pub(crate) fn phone(&self, rng: &mut Rng) -> String {
        match self.country {
            Country::Pk => format!("03{}{}", rng.pick(&["0", "2", "4"]), rng.digits(8)),
            Country::Bd => format!("01{}{}", rng.pick(&["3", "7", "8", "9"]), rng.digits(8)),
            Country::Jo => format!("079{}", rng.digits(7)),
            Country::Ps => format!("05{}{}", rng.pick(&["6", "9"]), rng.digits(7)),
        }
    }

    fn address(&self, rng: &mut Rng, area_name: &str) -> String {
        let street = rng.pick(&self.names.streets);
        let (native, latin) = street.split_once('|').unwrap_or((street, street));
        let street = if rng.chance(0.6) { native } else { latin };
        format!("{} {street}, {area_name}", rng.range(1, 400))
    }

    fn location(&self, rng: &mut Rng) -> (f64, f64) {
        let (lat, lon) = self.profile.centre;
        let a = (rng.below(20_000) as f64 - 10_000.0) / 10_000.0;
        let b = (rng.below(20_000) as f64 - 10_000.0) / 10_000.0;
        (((lat + a) * 1e5).round() / 1e5, ((lon + b) * 1e5).round() / 1e5)
    }

    /// Attribute values that follow the household's welfare: richer
    /// households have more rooms and assets, better materials and services,
    /// more income; with noise, and some optional ones not recorded.
    fn attributes(&self, rng: &mut Rng, welfare: f64) -> Vec<Option<Value>> {
        let defs = self.deployment.household_attributes.defs();
        defs.iter()
            .enumerate()
            .map(|(i, def)| {
                if !def.required && rng.chance(0.01) {
                    return None;
                }
                let w = (welfare + (rng.unit() - 0.5) * 0.3).clamp(0.0, 1.0);
                let lo = def.min.unwrap_or(0.0);
                Some(match def.kind {
                    AttributeType::Integer => {
                        let hi = def.max.unwrap_or(lo + 10.0);
                        let value = if def.name.contains("income") || hi - lo > 1000.0 {
                            // Incomes spread over the lower part of the range, widely.
                            lo + (hi - lo) * 0.2 * w * w * (0.5 + rng.unit())
                        } else {
                            let span = (hi - lo).min(if def.name.contains("rooms") { 6.0 } else { 8.0 });
                            lo + span * w * (0.4 + rng.unit() * 0.8)
                        };
                        Value::from((value.round() as i64).clamp(lo as i64, hi as i64))
                    }
                    AttributeType::Decimal => {
                        let hi = def.max.unwrap_or(lo + 20.0).min(lo + 25.0);
                        let v = lo + (hi - lo) * w * w * rng.unit();
                        Value::from((v * 10.0).round() / 10.0)
                    }
                    AttributeType::Boolean => {
                        let luxury = ["car", "air", "washing", "computer", "refrigerator", "internet"]
                            .iter()
                            .any(|k| def.name.contains(k));
                        Value::Bool(rng.chance(if luxury { w * w } else { 0.2 + 0.8 * w }))
                    }
                    AttributeType::Choice => {
                        let order = &self.choice_order[i];
                        let at = ((w * order.len() as f64) as usize).min(order.len().saturating_sub(1));
                        Value::String(def.choices[order[at]].clone())
                    }
                    AttributeType::Date => Value::String(format!(
                        "{}-{:02}-{:02}",
                        self.today.year() - 1,
                        rng.range(1, 12),
                        rng.range(1, 28)
                    )),
                    AttributeType::Text => return None,
                })
            })
            .collect()
    }
}

/// A bijection of [0, modulus) for modulus 10^k: an affine map whose
/// multiplier is prime to 10 spreads consecutive serials over the whole
/// range, so identifiers look varied yet never repeat.
fn scramble(serial: u64, modulus: u64) -> u64 {
    let (m, c) = (3_141_592_653_u128, 27_182_818_284_u128);
    (((serial % modulus) as u128 * m + c) % modulus as u128) as u64
}

fn hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use himaya_domain::identifier::Identifier;

    use super::*;

    /// The example configuration, with the files it names.
    fn deployment(country: Country) -> Deployment {
        let dir = format!("{}/../../config", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(format!("{dir}/{}.toml", country.code())).unwrap();
        Deployment::from_toml_with_files(&text, |f| {
            std::fs::read_to_string(format!("{dir}/{f}")).map_err(|e| e.to_string())
        })
        .unwrap()
    }

    fn generator(country: Country, duplicates: f64) -> Generator {
        let deployment = deployment(country);
        Generator::new(
            deployment,
            42,
            duplicates,
            NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn the_same_seed_gives_the_same_population() {
        let g = generator(Country::Pk, 0.05);
        let a = g.block(0, 200);
        let b = g.block(0, 200);
        assert_eq!(a.households, b.households);
        // A block is the same whether made alone or after others.
        assert_eq!(g.block(100, 50).households[0], g.block(100, 10).households[0]);
        assert_ne!(generator(Country::Pk, 0.05).block(0, 1).households, {
            Generator::new(
                deployment(Country::Pk),
                43,
                0.05,
                NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
            )
            .unwrap()
            .block(0, 1)
            .households
        });
    }

    #[test]
    fn identifiers_are_valid_and_unique_and_sizes_plausible() {
        for country in Country::ALL {
            let g = generator(country, 0.0);
            let block = g.block(0, 3_000);
            let persons: Vec<&SynthPerson> = block.households.iter().flat_map(|h| &h.members).collect();
            let mut seen = std::collections::HashSet::new();
            for p in &persons {
                if let Some((t, v)) = &p.identifier {
                    let t = IdentifierType::from_code(t).unwrap();
                    let id = Identifier::parse(t, v).unwrap_or_else(|e| panic!("{country:?} {v}: {e}"));
                    assert!(seen.insert((t, id.value)), "{country:?}: {v} twice");
                }
            }
            let mean = persons.len() as f64 / block.households.len() as f64;
            let expected = match country {
                Country::Pk => 5.5..7.5,
                Country::Bd => 3.5..5.0,
                _ => 4.0..6.0,
            };
            assert!(expected.contains(&mean), "{country:?}: mean household size {mean}");
            let women_with_id = persons
                .iter()
                .filter(|p| p.sex == "female" && p.identifier.is_some())
                .count() as f64
                / persons.iter().filter(|p| p.sex == "female").count() as f64;
            let men_with_id = persons
                .iter()
                .filter(|p| p.sex == "male" && p.identifier.is_some())
                .count() as f64
                / persons.iter().filter(|p| p.sex == "male").count() as f64;
            assert!(women_with_id <= men_with_id, "{country:?}");
        }
    }

    #[test]
    fn a_deployment_without_areas_is_refused() {
        let mut deployment = generator(Country::Ps, 0.0).deployment.clone();
        deployment.areas.clear();
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        assert_eq!(Generator::new(deployment, 1, 0.0, today).err(), Some(NoAreas));
    }

    #[test]
    fn attributes_follow_welfare() {
        let g = generator(Country::Pk, 0.0);
        let block = g.block(0, 4_000);
        let income = g
            .deployment
            .household_attributes
            .defs()
            .iter()
            .position(|d| d.name == "monthly_income_pkr")
            .unwrap();
        let mean = |pred: &dyn Fn(f64) -> bool| {
            let v: Vec<f64> = block
                .households
                .iter()
                .filter(|h| pred(h.welfare))
                .filter_map(|h| h.attributes[income].as_ref()?.as_f64())
                .collect();
            v.iter().sum::<f64>() / v.len() as f64
        };
        let (poor, rich) = (mean(&|w| w < 0.3), mean(&|w| w > 0.7));
        assert!(rich > 2.0 * poor, "poor {poor}, rich {rich}");
    }

    #[test]
    fn duplicates_come_at_the_rate_and_point_to_their_original() {
        let g = generator(Country::Jo, 0.1);
        let block = g.block(0, 2_000);
        let persons: Vec<&SynthPerson> = block.households.iter().flat_map(|h| &h.members).collect();
        let dups = persons.iter().filter(|p| p.truth != p.key).count() as f64;
        let originals = persons.len() as f64 - dups;
        let rate = dups / originals;
        assert!((0.08..0.12).contains(&rate), "{rate}");
        let keys: std::collections::HashSet<&str> = persons.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys.len(), persons.len(), "keys are unique");
        assert!(persons.iter().all(|p| keys.contains(p.truth.as_str())));
        // Every household keeps exactly one head.
        for h in &block.households {
            assert_eq!(
                h.members.iter().filter(|m| m.relationship == "head").count(),
                1,
                "{}",
                h.key
            );
        }
    }
}
