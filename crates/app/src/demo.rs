//! The built-in demo population: a few hundred households per country with
//! real-looking names in native script and Latin, valid identifiers and
//! phones, spread over the configured areas. Deterministic for a seed.
//!
//! The same generator feeds `himaya bench`. Fuller synthetic populations
//! (known duplicates, welfare-correlated attributes at national scale) are
//! the synth crate's job.

use chrono::{Datelike, Utc};
use himaya_domain::Country;
use himaya_domain::attributes::AttributeType;
use himaya_domain::config::{Area, Deployment};
use himaya_domain::household::{GeoPoint, HouseholdDraft};
use himaya_domain::identifier::IdentifierType;
use himaya_domain::person::{IdentifierDraft, Name, PersonDraft};
use serde::Deserialize;
use serde_json::Value;

use crate::{Actor, App, AppError, NewHousehold};

/// The shipped example configuration of a country.
pub fn config_text(country: Country) -> &'static str {
    match country {
        Country::Pk => include_str!("../../../config/pk.toml"),
        Country::Bd => include_str!("../../../config/bd.toml"),
        Country::Jo => include_str!("../../../config/jo.toml"),
        Country::Ps => include_str!("../../../config/ps.toml"),
    }
}

fn names_text(country: Country) -> &'static str {
    match country {
        Country::Pk => include_str!("../demo/pk.toml"),
        Country::Bd => include_str!("../demo/bd.toml"),
        Country::Jo => include_str!("../demo/jo.toml"),
        Country::Ps => include_str!("../demo/ps.toml"),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NameLists {
    male_given: Vec<String>,
    female_given: Vec<String>,
    family: Vec<String>,
    streets: Vec<String>,
}

/// SplitMix64: tiny, fast and stable across versions, so a seed always
/// yields the same population.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1).max(1) as u64) as i64
    }

    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from(b'0' + self.below(10) as u8)).collect()
    }
}

/// Generates households for one deployment.
pub struct Generator {
    country: Country,
    deployment: Deployment,
    names: NameLists,
    leaves: Vec<Area>,
    rng: Rng,
    /// Serial numbers keep generated identifiers unique within a run.
    serial: u64,
    year: i32,
}

impl Generator {
    pub fn new(country: Country, deployment: Deployment, seed: u64) -> Generator {
        // The embedded lists are checked by this crate's tests.
        let names: NameLists = toml::from_str(names_text(country)).expect("embedded demo names are valid");
        let leaves: Vec<Area> = deployment
            .areas
            .iter()
            .filter(|a| !deployment.areas.iter().any(|c| c.parent.as_deref() == Some(&a.code)))
            .cloned()
            .collect();
        Generator {
            country,
            deployment,
            names,
            leaves,
            rng: Rng(seed),
            serial: seed % 1_000_000,
            year: Utc::now().year(),
        }
    }

    fn name(&mut self, list: fn(&NameLists) -> &Vec<String>) -> Name {
        let entry = self.rng.pick(list(&self.names)).clone();
        let (native, latin) = entry.split_once('|').unwrap_or((&entry, &entry));
        // Most records carry both scripts; some only one, as in the field.
        match self.rng.below(10) {
            0 | 1 => Name {
                native: Some(native.to_owned()),
                latin: None,
            },
            2 => Name {
                native: None,
                latin: Some(latin.to_owned()),
            },
            _ => Name {
                native: Some(native.to_owned()),
                latin: Some(latin.to_owned()),
            },
        }
    }

    /// A birth date `age` completed years ago, as precise as field records are.
    fn birth(&mut self, age: i64) -> (String, bool) {
        let days = age * 365 + age / 4 + self.rng.range(1, 364);
        let date = Utc::now().date_naive() - chrono::Duration::days(days);
        match self.rng.below(20) {
            0..=11 => (date.format("%Y-%m-%d").to_string(), false),
            12..=14 => (date.format("%Y-%m").to_string(), false),
            _ => (date.format("%Y").to_string(), true),
        }
    }

    fn national_id(&mut self, female: bool, area: &str, birth_year: i64) -> Option<IdentifierDraft> {
        self.serial += 1;
        let serial = self.serial;
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
                let last = self.rng.below(5) * 2 + u64::from(!female);
                (
                    IdentifierType::PkCnic,
                    format!(
                        "{province}{:04}-{:07}-{last}",
                        self.rng.below(10_000),
                        serial % 10_000_000
                    ),
                )
            }
            Country::Bd => {
                if self.rng.chance(0.5) {
                    (
                        IdentifierType::BdNid,
                        format!("{}{:09}", self.rng.range(1, 9), serial % 1_000_000_000),
                    )
                } else {
                    (
                        IdentifierType::BdNid,
                        format!("{birth_year:04}{}{:07}", self.rng.digits(6), serial % 10_000_000),
                    )
                }
            }
            Country::Jo => (
                IdentifierType::JoNationalNumber,
                format!("{}{:09}", if female { 2 } else { 9 }, serial % 1_000_000_000),
            ),
            Country::Ps => {
                let body = format!("{}{:07}", self.rng.range(4, 9), serial % 10_000_000);
                (IdentifierType::PsId, format!("{body}{}", luhn_check_digit(&body)))
            }
        };
        self.deployment.identifier_types.contains(&t).then(|| IdentifierDraft {
            id_type: t.code().to_owned(),
            value,
        })
    }

    fn birth_registration(&mut self) -> Option<IdentifierDraft> {
        self.serial += 1;
        let (t, value) = match self.country {
            Country::Bd => (
                IdentifierType::BdBirthRegistration,
                format!("{}{:013}", self.year - 8, self.serial),
            ),
            _ => (IdentifierType::BirthRegistration, format!("BR{:010}", self.serial)),
        };
        self.deployment.identifier_types.contains(&t).then(|| IdentifierDraft {
            id_type: t.code().to_owned(),
            value,
        })
    }

    fn phone(&mut self) -> String {
        match self.country {
            Country::Pk => format!("03{}{}", self.rng.pick(&["0", "2", "4"]), self.rng.digits(8)),
            Country::Bd => format!("01{}{}", self.rng.pick(&["3", "7", "8", "9"]), self.rng.digits(8)),
            Country::Jo => format!("079{}", self.rng.digits(7)),
            Country::Ps => format!("05{}{}", self.rng.pick(&["6", "9"]), self.rng.digits(7)),
        }
    }

    fn person(
        &mut self,
        female: bool,
        age: i64,
        relationship: &str,
        father: &Name,
        family: &Name,
        area: &str,
    ) -> PersonDraft {
        let (dob, estimated) = self.birth(age);
        let mut identifiers = Vec::new();
        if age >= 18 && self.rng.chance(if female { 0.7 } else { 0.92 }) {
            identifiers.extend(self.national_id(female, area, self.year as i64 - age));
        } else if age < 18 && self.rng.chance(0.4) {
            identifiers.extend(self.birth_registration());
        }
        let married = relationship == "head" || relationship == "spouse";
        PersonDraft {
            given_name: Some(self.name(if female { |n| &n.female_given } else { |n| &n.male_given })),
            family_name: Some(family.clone()),
            father_name: Some(father.clone()),
            sex: Some(if female { "female" } else { "male" }.into()),
            date_of_birth: Some(dob),
            birth_date_estimated: Some(estimated),
            relationship: Some(relationship.into()),
            marital_status: Some(
                if married {
                    "married"
                } else if relationship == "parent" {
                    "widowed"
                } else if age >= 18 && self.rng.chance(0.3) {
                    "married"
                } else {
                    "never_married"
                }
                .into(),
            ),
            maternal_status: (female && married && age < 40 && self.rng.chance(0.15)).then(|| "lactating".into()),
            school: (5..=17).contains(&age).then_some(himaya_domain::person::School {
                level: if age <= 10 {
                    himaya_domain::vocab::SchoolLevel::Primary
                } else {
                    himaya_domain::vocab::SchoolLevel::Secondary
                },
                school_name: None,
            }),
            phone: (age >= 18 && self.rng.chance(0.6)).then(|| self.phone()),
            identifiers: Some(identifiers),
            ..Default::default()
        }
    }

    fn attributes(&mut self) -> serde_json::Map<String, Value> {
        // A hidden welfare level, so attributes move together a little.
        let welfare = self.rng.below(100) as f64 / 100.0;
        let mut out = serde_json::Map::new();
        for def in self.deployment.household_attributes.defs().to_vec() {
            if !def.required && self.rng.chance(0.1) {
                continue;
            }
            let value = match def.kind {
                AttributeType::Integer => {
                    // Counts stay small; amounts (incomes) spread over a quarter of their range.
                    let lo = def.min.unwrap_or(0.0) as i64;
                    let hi = match def.max {
                        Some(h) if h > 1000.0 => lo + (h as i64 - lo) / 4,
                        Some(h) => (h as i64).min(lo + 10),
                        None => lo + 10,
                    };
                    Value::from(lo + ((hi - lo) as f64 * welfare * self.rng.below(100) as f64 / 100.0) as i64)
                }
                AttributeType::Decimal => {
                    let lo = def.min.unwrap_or(0.0);
                    let hi = def.max.unwrap_or(lo + 10.0).min(lo + 10.0);
                    Value::from(((lo + (hi - lo) * welfare * self.rng.below(100) as f64 / 100.0) * 10.0).round() / 10.0)
                }
                AttributeType::Boolean => Value::Bool(self.rng.chance(welfare)),
                AttributeType::Choice => {
                    let i = ((def.choices.len() as f64 * welfare) as usize + self.rng.below(2) as usize)
                        .min(def.choices.len() - 1);
                    Value::String(def.choices[i].clone())
                }
                AttributeType::Date => Value::String(format!(
                    "{}-{:02}-{:02}",
                    self.year - 1,
                    self.rng.range(1, 12),
                    self.rng.range(1, 28)
                )),
                AttributeType::Text => Value::String(String::new()),
            };
            if value != Value::String(String::new()) {
                out.insert(def.name.clone(), value);
            }
        }
        out
    }

    /// The next household with its members.
    pub fn household(&mut self) -> NewHousehold {
        let area = self.rng.pick(&self.leaves).clone();
        let family = self.name(|n| &n.family);
        let grandfather = self.name(|n| &n.male_given);
        let female_head = self.rng.chance(0.12);
        let head_age = self.rng.range(24, 70);
        let head = self.person(female_head, head_age, "head", &grandfather, &family, &area.code);
        let head_given = head.given_name.clone().unwrap_or_default();
        let mut members = vec![head];
        if !female_head && self.rng.chance(0.85) {
            let spouse_father = self.name(|n| &n.male_given);
            let spouse_age = (head_age - self.rng.range(0, 8)).max(18);
            // A wife's father/husband field usually holds the husband's name.
            let father = if self.rng.chance(0.5) {
                head_given.clone()
            } else {
                spouse_father
            };
            members.push(self.person(true, spouse_age, "spouse", &father, &family, &area.code));
        }
        let children = self.rng.below(6);
        for _ in 0..children {
            let age = self.rng.range(0, (head_age - 18).clamp(0, 25));
            let female = self.rng.chance(0.49);
            members.push(self.person(female, age, "child", &head_given, &family, &area.code));
        }
        if self.rng.chance(0.1) {
            let female = self.rng.chance(0.6);
            members.push(self.person(
                female,
                (head_age + 25).min(95),
                "parent",
                &grandfather,
                &family,
                &area.code,
            ));
        }
        let street = self.rng.pick(&self.names.streets).clone();
        let street = street.split_once('|').map_or(street.clone(), |(n, _)| n.to_owned());
        let area_name = area.names.values().next().cloned().unwrap_or_default();
        NewHousehold {
            household: HouseholdDraft {
                area: Some(area.code.clone()),
                address: Some(format!("{} {street}, {area_name}", self.rng.range(1, 400))),
                location: self.rng.chance(0.7).then(|| self.location()),
                attributes: Some(self.attributes()),
            },
            members,
            source: Some("field_survey".into()),
            reason: None,
        }
    }

    fn location(&mut self) -> GeoPoint {
        let (lat, lon) = match self.country {
            Country::Pk => (30.0, 70.0),
            Country::Bd => (23.7, 90.4),
            Country::Jo => (31.9, 35.9),
            Country::Ps => (31.9, 35.2),
        };
        let jitter = |r: &mut Rng| (r.below(20_000) as f64 - 10_000.0) / 10_000.0;
        GeoPoint {
            latitude: lat + jitter(&mut self.rng),
            longitude: lon + jitter(&mut self.rng),
        }
    }
}

/// Luhn check digit, weights 1,2,1,2… from the left over 8 digits (Palestinian ID).
fn luhn_check_digit(body: &str) -> u32 {
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

/// Loads `households` demo households, unless the registry already holds some.
/// Returns how many were added.
pub async fn populate(app: &App, country: Country, households: usize, seed: u64) -> Result<usize, AppError> {
    let actor = Actor::system("demo");
    let existing = app
        .list_households(
            &actor,
            &crate::HouseholdQuery {
                limit: Some(1),
                ..Default::default()
            },
        )
        .await?;
    if !existing.items.is_empty() {
        return Ok(0);
    }
    let mut generator = Generator::new(country, app.deployment().clone(), seed);
    let mut done = 0;
    while done < households {
        let n = (households - done).min(500);
        let batch: Vec<NewHousehold> = (0..n).map(|_| generator.household()).collect();
        app.register_households(&actor, batch).await.map_err(|(i, e)| {
            tracing::error!(household = done + i, "demo household refused: {e}");
            e
        })?;
        done += n;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_country_generates_valid_households() {
        for country in Country::ALL {
            let deployment = Deployment::from_toml(config_text(country)).unwrap();
            let rules = himaya_domain::person::Rules {
                deployment: &deployment,
                today: Utc::now().date_naive(),
            };
            let mut g = Generator::new(country, deployment.clone(), 7);
            for _ in 0..300 {
                let h = g.household();
                let known = |c: &str| deployment.areas.iter().any(|a| a.code == c);
                if let Err(p) = h.household.check(&deployment, known, "household") {
                    panic!("{country:?}: {p}");
                }
                for (i, m) in h.members.iter().enumerate() {
                    if let Err(p) = m.check(&rules, &format!("members[{i}]")) {
                        panic!("{country:?}: {p}\n{m:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn luhn_matches_the_known_valid_id() {
        assert_eq!(luhn_check_digit("03933742"), 3);
    }
}
