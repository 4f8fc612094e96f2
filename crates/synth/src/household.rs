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

/// One name list, drawn with a long-tailed frequency by rank: the name of
/// rank r (from 1) with weight 1 / (r + 1), a Zipf law. Given- and
/// family-name frequencies in real registers are long-tailed in this way
/// (a few names very common, most rare); the law and its offset are meant
/// to approximate that shape, not fitted to any register.
#[derive(Clone, Debug, Default)]
struct Ranked {
    entries: Vec<(String, String)>,
    /// Running sums of the weights, for drawing by binary search.
    cumulative: Vec<f64>,
}

impl Ranked {
    fn new(list: &[String]) -> Ranked {
        let entries: Vec<(String, String)> = list
            .iter()
            .map(|e| {
                let (native, latin) = e.split_once('|').unwrap_or((e, e));
                (native.to_owned(), latin.to_owned())
            })
            .collect();
        let mut sum = 0.0;
        let cumulative = (0..entries.len())
            .map(|i| {
                sum += 1.0 / (i as f64 + 2.0);
                sum
            })
            .collect();
        Ranked { entries, cumulative }
    }

    fn pick(&self, rng: &mut Rng) -> (&str, &str) {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let u = rng.unit() * total;
        let i = self
            .cumulative
            .partition_point(|&c| c <= u)
            .min(self.entries.len().saturating_sub(1));
        self.entries.get(i).map_or(("", ""), |(n, l)| (n.as_str(), l.as_str()))
    }

    fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The country's name lists, ready to draw from.
#[derive(Clone, Debug, Default)]
struct Lists {
    male: Ranked,
    female: Ranked,
    family: Ranked,
    male_prefix: Ranked,
    male_second: Ranked,
    female_prefix: Ranked,
    female_family: Ranked,
}

impl Lists {
    fn new(n: &NameLists) -> Lists {
        let k = &n.compound;
        Lists {
            male: Ranked::new(&n.male_given),
            female: Ranked::new(&n.female_given),
            family: Ranked::new(&n.family),
            male_prefix: Ranked::new(&k.male_prefix),
            male_second: Ranked::new(&k.male_second),
            female_prefix: Ranked::new(&k.female_prefix),
            female_family: Ranked::new(&k.female_family),
        }
    }
}

/// A name in both scripts, before the record keeps one or both.
type Both = (String, String);

fn joined(a: &Both, b: &Both) -> Both {
    (format!("{} {}", a.0, b.0), format!("{} {}", a.1, b.1))
}

/// Who a household member is, as the household makes them.
struct Member {
    female: bool,
    age: i64,
    relationship: &'static str,
    /// Drawn for the person when `None`.
    given: Option<Both>,
    father: Both,
    family: Both,
}

/// Makes households for one deployment.
pub struct Generator {
    country: Country,
    profile: Profile,
    names: NameLists,
    lists: Lists,
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
    /// The day the population is generated as of.
    pub(crate) fn today(&self) -> NaiveDate {
        self.today
    }

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
            lists: Lists::new(&NameLists::of(country)),
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
        let four_part = p.four_part_names;
        let family = self.family_name(&mut rng);
        // The head's father: his name is in the head's father's-name field,
        // and is the given name of a father who lives with them.
        let grandfather = self.given(&mut rng, false);
        let female_head = rng.chance(p.female_head);
        let head_age = 20 + (rng.unit() * rng.unit() * 55.0) as i64 + rng.range(0, 10);
        let mut members = Vec::new();
        let member = |rng: &mut Rng, members: &mut Vec<SynthPerson>, mut m: Member| {
            let n = members.len() + 1;
            // Parents do not give two of their children one name: a name
            // already in the household is drawn again (a few times, so that a
            // short list cannot hold the generator up).
            if m.given.is_none() {
                let taken = |g: &Both| {
                    members.iter().any(|p| {
                        p.given_name.0.as_deref() == Some(g.0.as_str())
                            || p.given_name.1.as_deref() == Some(g.1.as_str())
                    })
                };
                let mut given = self.given(rng, m.female);
                for _ in 0..8 {
                    if !taken(&given) {
                        break;
                    }
                    given = self.given(rng, m.female);
                }
                m.given = Some(given);
            }
            let person = self.person(rng, &key, n, index, m, &area);
            members.push(person);
        };
        let head_given = self.given(&mut rng, female_head);
        // Jordanian and Palestinian names are four-part (given, father's,
        // grandfather's, family name), and a woman keeps her own father's
        // and family names when she marries into a household.
        let head_father = if four_part {
            joined(&grandfather, &self.given(&mut rng, false))
        } else {
            grandfather.clone()
        };
        let head_family = if four_part && female_head {
            self.family_name(&mut rng)
        } else {
            family.clone()
        };
        member(
            &mut rng,
            &mut members,
            Member {
                female: female_head,
                age: head_age,
                relationship: "head",
                given: Some(head_given.clone()),
                father: head_father,
                family: head_family.clone(),
            },
        );
        let widowed_head = female_head && rng.chance(0.6);
        if female_head && widowed_head {
            members[0].marital_status = "widowed";
        }
        if !female_head && head_age >= 20 && rng.chance(0.88) {
            let spouse_age = (head_age - rng.range(0, 9)).max(16);
            let (father, own_family) = if four_part {
                let father = joined(&self.given(&mut rng, false), &self.given(&mut rng, false));
                (father, self.family_name(&mut rng))
            } else if rng.chance(0.5) {
                // A wife's father/husband field usually holds the husband's name.
                (head_given.clone(), family.clone())
            } else {
                (self.given(&mut rng, false), family.clone())
            };
            member(
                &mut rng,
                &mut members,
                Member {
                    female: true,
                    age: spouse_age,
                    relationship: "spouse",
                    given: None,
                    father,
                    family: own_family,
                },
            );
        }
        let children = (0..p.child_trials).filter(|_| rng.chance(p.child_p)).count();
        // Children carry their father's name: the head's, or a woman head's husband's.
        let (father_of_children, his_father) = if female_head {
            (self.given(&mut rng, false), self.given(&mut rng, false))
        } else {
            (head_given.clone(), grandfather.clone())
        };
        let child_father = if four_part {
            joined(&father_of_children, &his_father)
        } else {
            father_of_children
        };
        for _ in 0..children {
            let age = rng.range(0, (head_age - 17).clamp(0, 28));
            let female = rng.chance(0.49);
            member(
                &mut rng,
                &mut members,
                Member {
                    female,
                    age,
                    relationship: "child",
                    given: None,
                    father: child_father.clone(),
                    family: family.clone(),
                },
            );
        }
        if head_age < 60 && rng.chance(0.12) {
            let female = rng.chance(0.65);
            let age = (head_age + rng.range(20, 30)).min(98);
            // The head's father carries the name in the head's father field;
            // the head's mother, in four-part countries, her own names.
            let m = if !female {
                let father = if four_part {
                    joined(&self.given(&mut rng, false), &self.given(&mut rng, false))
                } else {
                    self.given(&mut rng, false)
                };
                Member {
                    female,
                    age,
                    relationship: "parent",
                    given: Some(grandfather.clone()),
                    father,
                    family: head_family.clone(),
                }
            } else if four_part {
                let father = joined(&self.given(&mut rng, false), &self.given(&mut rng, false));
                Member {
                    female,
                    age,
                    relationship: "parent",
                    given: None,
                    father,
                    family: self.family_name(&mut rng),
                }
            } else {
                Member {
                    female,
                    age,
                    relationship: "parent",
                    given: None,
                    father: grandfather.clone(),
                    family: head_family.clone(),
                }
            };
            member(&mut rng, &mut members, m);
        }
        if rng.chance(0.05) {
            let female = rng.chance(0.5);
            let age = rng.range(10, 70);
            // A brother or sister of the head, or their child: the head's father's name.
            let father = if four_part {
                joined(&grandfather, &self.given(&mut rng, false))
            } else {
                grandfather.clone()
            };
            member(
                &mut rng,
                &mut members,
                Member {
                    female,
                    age,
                    relationship: "other_relative",
                    given: None,
                    father,
                    family: family.clone(),
                },
            );
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

    /// A given name in both scripts: drawn by rank, with the country's
    /// compound parts by their shares (Muhammad Imran, Zahid Hussain, Md.
    /// Rafiqul, Mst. Nasrin).
    fn given(&self, rng: &mut Rng, female: bool) -> Both {
        let (l, k) = (&self.lists, &self.names.compound);
        let (base, prefix, prefix_share, second, second_share) = if female {
            (&l.female, &l.female_prefix, k.female_prefix_share, None, 0.0)
        } else {
            (
                &l.male,
                &l.male_prefix,
                k.male_prefix_share,
                Some(&l.male_second),
                k.male_second_share,
            )
        };
        let (native, latin) = base.pick(rng);
        let mut out = (native.to_owned(), latin.to_owned());
        if !prefix.is_empty() && rng.chance(prefix_share) {
            let (pn, pl) = prefix.pick(rng);
            // Not twice, in any of its forms (Muhammad Noor Muhammad, Md. Mohammad).
            let has_one = prefix
                .entries
                .iter()
                .any(|(n, l)| native.split(' ').any(|w| w == n) || latin.split(' ').any(|w| w.eq_ignore_ascii_case(l)));
            if !has_one {
                out = (format!("{pn} {native}"), format!("{pl} {latin}"));
            }
        }
        if let Some(second) = second.filter(|s| !s.is_empty())
            && rng.chance(second_share)
        {
            let (sn, sl) = second.pick(rng);
            // Only after a one-word name, and not the same name twice.
            if !native.contains(' ') && sn != native {
                out.0.push(' ');
                out.0.push_str(sn);
                out.1.push(' ');
                out.1.push_str(sl);
            }
        }
        out
    }

    fn family_name(&self, rng: &mut Rng) -> Both {
        let (n, l) = self.lists.family.pick(rng);
        (n.to_owned(), l.to_owned())
    }

    /// How one record writes a name: in both scripts, or in one only.
    fn spelled(&self, rng: &mut Rng, (native, latin): &Both) -> Spelling {
        match rng.below(10) {
            0 | 1 => (Some(native.clone()), None),
            2 => (None, Some(latin.clone())),
            _ => (Some(native.clone()), Some(latin.clone())),
        }
    }

    /// Given names that stand for a compound's first word, for the
    /// corruption that leaves it out (Muhammad Imran registered as Imran).
    pub(crate) fn without_prefix(&self, (native, latin): &Spelling) -> Option<Spelling> {
        let prefixes = [&self.lists.male_prefix, &self.lists.female_prefix];
        let strip = |name: &Option<String>, latin_side: bool| -> Option<Option<String>> {
            let Some(name) = name else { return Some(None) };
            let (first, rest) = name.split_once(' ')?;
            let known = prefixes.iter().any(|p| {
                p.entries.iter().any(|(n, l)| {
                    if latin_side {
                        first.eq_ignore_ascii_case(l)
                    } else {
                        first == n
                    }
                })
            });
            known.then(|| Some(rest.to_owned()))
        };
        let out = (strip(native, false)?, strip(latin, true)?);
        (out.0.is_some() || out.1.is_some()).then_some(out)
    }

    fn person(
        &self,
        rng: &mut Rng,
        household_key: &str,
        n: usize,
        household_index: u64,
        m: Member,
        area: &str,
    ) -> SynthPerson {
        let Member {
            female,
            age,
            relationship,
            given,
            father,
            family,
        } = m;
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
        let given = given.unwrap_or_else(|| self.given(rng, female));
        // Many women carry Bibi, Begum, Akter… where a family name would be.
        let own = &self.lists.female_family;
        let family = if female && !own.is_empty() && rng.chance(self.names.compound.female_family_share) {
            let (native, latin) = own.pick(rng);
            if given.0.rsplit(' ').next() == Some(native) {
                family
            } else {
                (native.to_owned(), latin.to_owned())
            }
        } else {
            family
        };
        let key = format!("{household_key}-{n}");
        SynthPerson {
            truth: key.clone(),
            key,
            household_key: household_key.to_owned(),
            relationship,
            given_name: self.spelled(rng, &given),
            family_name: self.spelled(rng, &family),
            father_name: self.spelled(rng, &father),
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
    fn names_are_many_long_tailed_and_compound_where_the_country_uses_them() {
        use std::collections::{HashMap, HashSet};
        for country in Country::ALL {
            let g = generator(country, 0.0);
            let block = g.block(0, 3_000);
            let persons: Vec<&SynthPerson> = block.households.iter().flat_map(|h| &h.members).collect();
            let latin = |s: &Spelling| s.1.clone().unwrap_or_default();
            // Family names are long-tailed: the commonest far above the median one.
            let mut families: HashMap<String, usize> = HashMap::new();
            for h in &block.households {
                if let Some(f) = &h.members[0].family_name.1 {
                    *families.entry(f.clone()).or_default() += 1;
                }
            }
            let mut counts: Vec<usize> = families.values().copied().collect();
            counts.sort_unstable_by(|a, b| b.cmp(a));
            assert!(counts.len() >= 100, "{country:?}: {} family names", counts.len());
            assert!(counts[0] >= 10 * counts[counts.len() / 2], "{country:?}: {counts:?}");
            // Whole names are mostly distinct: given, father's and family name together.
            let full: Vec<(String, String, String)> = persons
                .iter()
                .filter(|p| p.given_name.1.is_some() && p.family_name.1.is_some() && p.father_name.1.is_some())
                .map(|p| (latin(&p.given_name), latin(&p.father_name), latin(&p.family_name)))
                .collect();
            let distinct: HashSet<&(String, String, String)> = full.iter().collect();
            let share = distinct.len() as f64 / full.len() as f64;
            assert!(share > 0.9, "{country:?}: {share} of full names distinct");
            // Brothers and sisters do not share a given name.
            let mut shared = 0;
            for h in &block.households {
                let children: Vec<&String> = h
                    .members
                    .iter()
                    .filter(|p| p.relationship == "child")
                    .filter_map(|p| p.given_name.1.as_ref())
                    .collect();
                let distinct: HashSet<&&String> = children.iter().collect();
                shared += children.len() - distinct.len();
            }
            assert!(
                shared <= 3,
                "{country:?}: {shared} children share a name with a sibling"
            );
            let men: Vec<String> = persons
                .iter()
                .filter(|p| p.sex == "male")
                .filter_map(|p| p.given_name.1.clone())
                .collect();
            let share_of = |names: &[String], pred: &dyn Fn(&str) -> bool| {
                names.iter().filter(|n| pred(n)).count() as f64 / names.len() as f64
            };
            let women_family: Vec<String> = persons
                .iter()
                .filter(|p| p.sex == "female")
                .filter_map(|p| p.family_name.1.clone())
                .collect();
            match country {
                Country::Pk => {
                    let muhammad = share_of(&men, &|n| n.starts_with("Muhammad "));
                    assert!((0.2..0.5).contains(&muhammad), "{muhammad}");
                    let bibi = share_of(&women_family, &|n| matches!(n, "Bibi" | "Begum"));
                    assert!((0.05..0.4).contains(&bibi), "{bibi}");
                }
                Country::Bd => {
                    let md = share_of(&men, &|n| n.starts_with("Md. ") || n.starts_with("Mohammad "));
                    assert!((0.3..0.6).contains(&md), "{md}");
                    let own = share_of(&women_family, &|n| matches!(n, "Akter" | "Begum" | "Khatun"));
                    assert!((0.2..0.7).contains(&own), "{own}");
                }
                Country::Jo | Country::Ps => {
                    // Four-part names: the father's field holds father and grandfather.
                    assert!(
                        persons
                            .iter()
                            .filter_map(|p| p.father_name.1.as_deref())
                            .all(|f| f.split(' ').count() >= 2)
                    );
                    // A wife keeps her own family's name.
                    let wives: Vec<(&SynthPerson, &SynthPerson)> = block
                        .households
                        .iter()
                        .filter_map(|h| Some((&h.members[0], h.members.iter().find(|m| m.relationship == "spouse")?)))
                        .filter(|(a, b)| a.family_name.1.is_some() && b.family_name.1.is_some())
                        .collect();
                    let own = wives.iter().filter(|(a, b)| a.family_name != b.family_name).count() as f64
                        / wives.len() as f64;
                    assert!(own > 0.8, "{country:?}: {own}");
                }
            }
        }
    }

    #[test]
    fn a_left_out_prefix_leaves_the_rest_of_the_name() {
        let g = generator(Country::Bd, 0.0);
        let name = |n: &str, l: &str| (Some(n.to_owned()), Some(l.to_owned()));
        assert_eq!(
            g.without_prefix(&name("মোঃ রফিকুল", "Md. Rafiqul")),
            Some(name("রফিকুল", "Rafiqul"))
        );
        assert_eq!(
            g.without_prefix(&(None, Some("Mst. Nasrin".to_owned()))),
            Some((None, Some("Nasrin".to_owned())))
        );
        assert_eq!(g.without_prefix(&name("রফিকুল", "Rafiqul")), None);
        // Both spellings must start with it, or the record would disagree with itself.
        assert_eq!(g.without_prefix(&name("মোঃ রফিকুল", "Rafiqul")), None);
        assert_eq!(g.without_prefix(&(None, Some("Md.".to_owned()))), None);
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
