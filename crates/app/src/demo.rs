//! The built-in demo population: households of the synthetic population
//! (the synth crate) registered through the use cases, so every demo and
//! benchmark record passes the same rules as the API. Deterministic for a seed.

use chrono::Utc;
use himaya_domain::Country;
use himaya_domain::config::{ConfigError, Deployment};
use himaya_domain::household::{GeoPoint, HouseholdDraft};
use himaya_domain::person::{IdentifierDraft, Name, PersonDraft, School};
use himaya_domain::vocab::SchoolLevel;
use himaya_synth::SynthHousehold;
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

/// The files the example configurations name, built in.
fn config_file(country: Country, name: &str) -> Result<String, String> {
    let text = match (country, name) {
        (Country::Pk, "pmt/pk.toml") => include_str!("../../../config/pmt/pk.toml"),
        (Country::Bd, "pmt/bd.toml") => include_str!("../../../config/pmt/bd.toml"),
        (Country::Jo, "pmt/jo.toml") => include_str!("../../../config/pmt/jo.toml"),
        (Country::Ps, "pmt/ps.toml") => include_str!("../../../config/pmt/ps.toml"),
        _ => return Err(format!("{name:?} is not a file of the built-in configuration")),
    };
    Ok(text.to_owned())
}

/// The shipped example programmes of a country, as (code, TOML text).
pub fn programme_texts(country: Country) -> &'static [(&'static str, &'static str)] {
    match country {
        Country::Pk => &[
            ("pk-kafalat", include_str!("../../../config/programmes/pk-kafalat.toml")),
            (
                "pk-taleemi-wazaif",
                include_str!("../../../config/programmes/pk-taleemi-wazaif.toml"),
            ),
            (
                "pk-nashonuma",
                include_str!("../../../config/programmes/pk-nashonuma.toml"),
            ),
        ],
        Country::Bd => &[
            ("bd-old-age", include_str!("../../../config/programmes/bd-old-age.toml")),
            ("bd-widow", include_str!("../../../config/programmes/bd-widow.toml")),
            (
                "bd-disability",
                include_str!("../../../config/programmes/bd-disability.toml"),
            ),
        ],
        Country::Jo => &[(
            "jo-naf-cash",
            include_str!("../../../config/programmes/jo-naf-cash.toml"),
        )],
        Country::Ps => &[("ps-ctp", include_str!("../../../config/programmes/ps-ctp.toml"))],
    }
}

/// Saves the country's example programmes (a new version only where a
/// definition changed); returns how many are in force.
pub async fn load_programmes(app: &App, country: Country) -> Result<usize, AppError> {
    let actor = Actor::system("demo");
    for (code, text) in programme_texts(country) {
        let def = himaya_domain::programme::ProgrammeDef::from_toml(text)
            .map_err(|p| AppError::Internal(format!("the built-in programme {code} does not parse: {p}")))?;
        app.save_programme(&actor, def).await?;
    }
    Ok(programme_texts(country).len())
}

/// A country's example deployment, with the files it names.
pub fn deployment(country: Country) -> Result<Deployment, ConfigError> {
    Deployment::from_toml_with_files(config_text(country), |name| config_file(country, name))
}

/// Generates households for one deployment: the synthetic population
/// (without duplicates), as registration requests.
pub struct Generator {
    synth: himaya_synth::Generator,
    attribute_names: Vec<String>,
    next: u64,
}

impl Generator {
    pub fn new(_country: Country, deployment: Deployment, seed: u64) -> Result<Generator, AppError> {
        let attribute_names = deployment.household_attributes.names();
        let synth = himaya_synth::Generator::new(deployment, seed, 0.0, Utc::now().date_naive())
            .map_err(|e| AppError::invalid("areas", "required", e.to_string()))?;
        Ok(Generator {
            synth,
            attribute_names,
            next: 0,
        })
    }

    /// The next household with its members.
    pub fn household(&mut self) -> NewHousehold {
        let block = self.synth.block(self.next, 1);
        self.next += 1;
        let h = block
            .households
            .into_iter()
            .next()
            .unwrap_or_else(|| unreachable!("a block of one household"));
        new_household(&h, &self.attribute_names)
    }
}

/// `households` synthetic households and the duplicates a `share` of their
/// people get (registered again elsewhere, with typos, in another script,
/// without the card…), as registration requests: for tests and
/// measurements of deduplication. An identifier already given to someone
/// earlier in the list is left off, as the registry would refuse it.
pub fn households_with_duplicates(
    deployment: &Deployment,
    seed: u64,
    households: u64,
    share: f64,
) -> Result<Vec<NewHousehold>, AppError> {
    let names = deployment.household_attributes.names();
    let synth = himaya_synth::Generator::new(deployment.clone(), seed, share, Utc::now().date_naive())
        .map_err(|e| AppError::invalid("areas", "required", e.to_string()))?;
    let mut seen = std::collections::HashSet::new();
    Ok(synth
        .block(0, households)
        .households
        .iter()
        .map(|h| {
            let mut n = new_household(h, &names);
            for m in &mut n.members {
                if let Some(ids) = &mut m.identifiers {
                    ids.retain(|i| {
                        let key: String = himaya_domain::digits::to_ascii_digits(&i.value)
                            .chars()
                            .filter(char::is_ascii_alphanumeric)
                            .collect();
                        seen.insert(key)
                    });
                }
            }
            n
        })
        .collect())
}

/// A synthetic household as a registration request.
pub fn new_household(h: &SynthHousehold, attribute_names: &[String]) -> NewHousehold {
    let name = |n: &(Option<String>, Option<String>)| {
        (n.0.is_some() || n.1.is_some()).then(|| Name {
            native: n.0.clone(),
            latin: n.1.clone(),
        })
    };
    let attributes: serde_json::Map<String, Value> = attribute_names
        .iter()
        .zip(&h.attributes)
        .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
        .collect();
    NewHousehold {
        household: HouseholdDraft {
            area: Some(h.area.clone()),
            address: Some(h.address.clone()),
            location: h.location.map(|(latitude, longitude)| GeoPoint { latitude, longitude }),
            attributes: Some(attributes),
        },
        members: h
            .members
            .iter()
            .map(|p| PersonDraft {
                given_name: name(&p.given_name),
                family_name: name(&p.family_name),
                father_name: name(&p.father_name),
                sex: Some(p.sex.into()),
                date_of_birth: p.date_of_birth.clone(),
                birth_date_estimated: Some(p.birth_date_estimated),
                relationship: Some(p.relationship.into()),
                marital_status: Some(p.marital_status.into()),
                maternal_status: p.maternal_status.map(Into::into),
                school: p.school_level.and_then(SchoolLevel::from_code).map(|level| School {
                    level,
                    school_name: None,
                }),
                phone: p.phone.clone(),
                identifiers: Some(
                    p.identifier
                        .iter()
                        .map(|(t, v)| IdentifierDraft {
                            id_type: (*t).into(),
                            value: v.clone(),
                        })
                        .collect(),
                ),
                ..Default::default()
            })
            .collect(),
        source: Some("field_survey".into()),
        reason: None,
    }
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
    let mut generator = Generator::new(country, app.deployment().clone(), seed)?;
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
    record_demo_grievances(app, &actor, (done / 100).clamp(3, 12)).await?;
    Ok(done)
}

/// A few grievances brought by the first households, each third one
/// already resolved, so that the dashboard and the grievance pages show some.
async fn record_demo_grievances(app: &App, actor: &Actor, count: usize) -> Result<(), AppError> {
    const COMPLAINTS: [(&str, &str, &str); 4] = [
        (
            "payment",
            "in_person",
            "The payment of the last quarter did not arrive.",
        ),
        (
            "registration",
            "phone",
            "The date of birth of my son is wrong in the register.",
        ),
        (
            "eligibility",
            "letter",
            "We were told we are not eligible, but our income has fallen.",
        ),
        (
            "conduct",
            "sms",
            "The payment agent asked for money to hand over the payment.",
        ),
    ];
    let page = app
        .list_households(
            actor,
            &crate::HouseholdQuery {
                limit: Some(count as u32),
                ..Default::default()
            },
        )
        .await?;
    for (i, h) in page.items.iter().enumerate() {
        let view = app.household(actor, h.id).await?;
        let Some(head) = view.members.first() else {
            continue;
        };
        let name = &head.record.given_name;
        let (category, channel, description) = COMPLAINTS[i % COMPLAINTS.len()];
        let g = app
            .record_grievance(
                actor,
                crate::NewGrievance {
                    household_id: Some(h.id.to_string()),
                    category: Some(category.into()),
                    channel: Some(channel.into()),
                    complainant: name.native.clone().or_else(|| name.latin.clone()),
                    description: Some(description.into()),
                    ..Default::default()
                },
            )
            .await?;
        if i % 3 == 2 {
            app.move_grievance(
                actor,
                &g.grievance.id,
                crate::GrievanceMove {
                    to: "resolved".into(),
                    note: Some("Checked with the household and corrected.".into()),
                    seen: None,
                },
            )
            .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_country_generates_valid_households() {
        for country in Country::ALL {
            let deployment = deployment(country).unwrap();
            let rules = himaya_domain::person::Rules {
                deployment: &deployment,
                today: Utc::now().date_naive(),
            };
            let mut g = Generator::new(country, deployment.clone(), 7).unwrap();
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
}
