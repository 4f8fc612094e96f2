//! Proxy means tests: a household's welfare estimated from what can be
//! observed (its dwelling, assets, services), as configuration.
//!
//! A model is an intercept plus one term per household attribute — a weight
//! per unit for numbers and yes/no answers, a weight per level for choices —
//! and a linear map of the sum onto a 0–100 score (lower is poorer, as in
//! Pakistan's NSER). Every score comes with the contribution of each term,
//! so that a family can be told why. A household missing an input the model
//! needs is not scored: the missing inputs are reported, never guessed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::attributes::{AttrValue, AttributeLookup, AttributeSchema, AttributeType, Attributes};
use crate::config::ConfigError;

/// A proxy means test model.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PmtModel {
    /// Recorded with every score, so a score can be traced to its model.
    pub version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub intercept: f64,
    /// The estimates that map to 0 and to 100 on the score scale.
    pub scale: Scale,
    pub terms: Vec<Term>,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scale {
    pub low: f64,
    pub high: f64,
}

/// One input of a model.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Term {
    /// A household attribute of the deployment.
    pub attribute: String,
    /// Per unit, for integer, decimal and boolean attributes (yes counts 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
    /// Per level, for choice attributes; a level not listed weighs 0 (the
    /// reference level).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub levels: BTreeMap<String, f64>,
}

impl Term {
    /// What the household's value of the term's attribute adds to the
    /// estimate; `None` when the value is missing or of another type than
    /// the schema says (which the registry's checks never let in: counted
    /// as missing rather than guessed).
    fn contribution(&self, value: Option<AttrValue<'_>>) -> Option<f64> {
        Some(match (value?, self.weight) {
            (AttrValue::Text(level), None) => self.levels.get(level).copied().unwrap_or(0.0),
            (AttrValue::Bool(b), Some(w)) => w * f64::from(u8::from(b)),
            (AttrValue::Int(n), Some(w)) => w * n as f64,
            (AttrValue::Float(x), Some(w)) => w * x,
            _ => return None,
        })
    }
}

/// What one term added to a household's estimate.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Contribution {
    pub attribute: String,
    pub value: Value,
    pub contribution: f64,
}

/// A household's score with its explanation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scored {
    /// 0–100, lower is poorer.
    pub score: f64,
    /// The model's estimate before scaling.
    pub estimate: f64,
    pub intercept: f64,
    /// In the model's order.
    pub contributions: Vec<Contribution>,
}

/// Why a household could not be scored: the inputs it lacks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MissingInputs(pub Vec<String>);

impl PmtModel {
    /// Reads a model and checks it against the deployment's attributes;
    /// every problem names its key (`terms[3].levels.mud`).
    pub fn from_toml(text: &str, schema: &AttributeSchema) -> Result<PmtModel, ConfigError> {
        let model: PmtModel = toml::from_str(text).map_err(|e| ConfigError::Syntax(e.to_string().trim_end().into()))?;
        model.check(schema)?;
        Ok(model)
    }

    pub fn check(&self, schema: &AttributeSchema) -> Result<(), ConfigError> {
        let invalid = |key: String, reason: String| ConfigError::Invalid { key, reason };
        if self.version.trim().is_empty() {
            return Err(invalid("version".into(), "a model needs a version".into()));
        }
        if !(self.intercept.is_finite() && self.scale.low.is_finite() && self.scale.high.is_finite()) {
            return Err(invalid("scale".into(), "numbers must be finite".into()));
        }
        if self.scale.high <= self.scale.low {
            return Err(invalid("scale.high".into(), "must be above scale.low".into()));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, t) in self.terms.iter().enumerate() {
            let key = format!("terms[{i}]");
            let Some(def) = schema.get(&t.attribute) else {
                return Err(invalid(
                    format!("{key}.attribute"),
                    format!("{:?} is not a household attribute of this deployment", t.attribute),
                ));
            };
            if !seen.insert(&t.attribute) {
                return Err(invalid(
                    format!("{key}.attribute"),
                    format!("{:?} has a term already", t.attribute),
                ));
            }
            match def.kind {
                AttributeType::Integer | AttributeType::Decimal | AttributeType::Boolean => {
                    if !t.levels.is_empty() {
                        return Err(invalid(
                            format!("{key}.levels"),
                            format!("{} is not a choice: give a weight", t.attribute),
                        ));
                    }
                    match t.weight {
                        Some(w) if w.is_finite() => {}
                        _ => return Err(invalid(format!("{key}.weight"), "a finite weight is required".into())),
                    }
                }
                AttributeType::Choice => {
                    if t.weight.is_some() {
                        return Err(invalid(
                            format!("{key}.weight"),
                            format!("{} is a choice: give weights per level", t.attribute),
                        ));
                    }
                    for (level, w) in &t.levels {
                        if !def.choices.contains(level) {
                            return Err(invalid(
                                format!("{key}.levels.{level}"),
                                format!("not one of {}'s choices ({})", t.attribute, def.choices.join(", ")),
                            ));
                        }
                        if !w.is_finite() {
                            return Err(invalid(format!("{key}.levels.{level}"), "must be finite".into()));
                        }
                    }
                }
                AttributeType::Date | AttributeType::Text => {
                    return Err(invalid(
                        format!("{key}.attribute"),
                        format!(
                            "{} is a {:?} attribute, which a model cannot weigh",
                            t.attribute, def.kind
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The attributes the model reads.
    pub fn inputs(&self) -> impl Iterator<Item = &str> {
        self.terms.iter().map(|t| t.attribute.as_str())
    }

    /// Scores a household's attributes (already checked against the
    /// schema), or names every input it lacks.
    pub fn score(&self, attributes: &Attributes) -> Result<Scored, MissingInputs> {
        let mut missing = Vec::new();
        let mut contributions = Vec::with_capacity(self.terms.len());
        let mut estimate = self.intercept;
        for t in &self.terms {
            let value = attributes.get(&t.attribute).filter(|v| !v.is_null());
            let Some((value, contribution)) = value.and_then(|v| Some((v, t.contribution(AttrValue::of_json(v))?)))
            else {
                missing.push(t.attribute.clone());
                continue;
            };
            estimate += contribution;
            contributions.push(Contribution {
                attribute: t.attribute.clone(),
                value: value.clone(),
                contribution,
            });
        }
        if !missing.is_empty() {
            return Err(MissingInputs(missing));
        }
        Ok(Scored {
            score: self.scale_of(estimate),
            estimate,
            intercept: self.intercept,
            contributions,
        })
    }

    /// The score alone, as [`PmtModel::score`] gives it, without the terms:
    /// `None` when an input is missing. For runs over many households.
    pub fn score_value(&self, attributes: &impl AttributeLookup) -> Option<f64> {
        let mut estimate = self.intercept;
        for t in &self.terms {
            estimate += t.contribution(attributes.value(&t.attribute))?;
        }
        Some(self.scale_of(estimate))
    }

    /// An estimate on the 0–100 scale.
    pub fn scale_of(&self, estimate: f64) -> f64 {
        let s = 100.0 * (estimate - self.scale.low) / (self.scale.high - self.scale.low);
        (s * 100.0).round().clamp(0.0, 10_000.0) / 100.0
    }

    pub fn to_toml(&self) -> String {
        // Serialising our own plain struct cannot fail.
        toml::to_string(self).unwrap_or_default()
    }
}

/// Fits a model by least squares: `rows` are households' attributes with
/// their measured welfare (from a household survey; for synthetic data, the
/// hidden welfare level). Choice levels become indicators against the first
/// level; rows missing any of `inputs` are left out. The scale maps the 1st
/// and 99th percentiles of the fitted estimates to 0 and 100.
pub fn fit<A: std::borrow::Borrow<Attributes>>(
    version: &str,
    schema: &AttributeSchema,
    inputs: &[String],
    rows: impl IntoIterator<Item = (A, f64)>,
) -> Result<FitReport, FitError> {
    let columns = columns(schema, inputs)?;
    let k = columns.len() + 1;
    let mut xtx = vec![0.0; k * k];
    let mut xty = vec![0.0; k];
    let mut x = vec![0.0; k];
    let (mut used, mut skipped) = (0usize, 0usize);
    let mut kept: Vec<Vec<f64>> = Vec::new();
    'rows: for (attributes, welfare) in rows {
        x[0] = 1.0;
        for (c, (i, level)) in columns.iter().enumerate() {
            let v = match attributes.borrow().get(&inputs[*i]) {
                None | Some(Value::Null) => {
                    skipped += 1;
                    continue 'rows;
                }
                Some(v) => v,
            };
            x[c + 1] = match (v, level) {
                (Value::String(s), Some(level)) => f64::from(u8::from(s == level)),
                (Value::Bool(b), None) => f64::from(u8::from(*b)),
                (Value::Number(n), None) => n.as_f64().unwrap_or(0.0),
                _ => {
                    skipped += 1;
                    continue 'rows;
                }
            };
        }
        for a in 0..k {
            xty[a] += x[a] * welfare;
            for b in a..k {
                xtx[a * k + b] += x[a] * x[b];
            }
        }
        used += 1;
        // A bounded sample of rows, for the scale's percentiles.
        if kept.len() < 200_000 {
            kept.push(x.clone());
        }
    }
    if used < k * 10 {
        return Err(FitError::TooFewRows { used, needed: k * 10 });
    }
    for a in 0..k {
        for b in 0..a {
            xtx[a * k + b] = xtx[b * k + a];
        }
        // A little ridge keeps levels no row has from making the system singular.
        xtx[a * k + a] += 1e-6 * used as f64;
    }
    let beta = solve_symmetric(&mut xtx, &mut xty, k).ok_or(FitError::Singular)?;
    let mut estimates: Vec<f64> = kept
        .iter()
        .map(|x| x.iter().zip(&beta).map(|(a, b)| a * b).sum())
        .collect();
    estimates.sort_by(f64::total_cmp);
    let at = |p: f64| estimates[((estimates.len() - 1) as f64 * p).round() as usize];
    let round = |v: f64| (v * 1e6).round() / 1e6;
    let mut terms: Vec<Term> = Vec::new();
    for ((i, level), w) in columns.iter().zip(&beta[1..]) {
        let attribute = &inputs[*i];
        match level {
            None => terms.push(Term {
                attribute: attribute.clone(),
                weight: Some(round(*w)),
                levels: BTreeMap::new(),
            }),
            Some(level) => {
                if terms.last().is_none_or(|t| &t.attribute != attribute) {
                    terms.push(Term {
                        attribute: attribute.clone(),
                        weight: None,
                        levels: BTreeMap::new(),
                    });
                }
                if let Some(t) = terms.last_mut() {
                    t.levels.insert(level.clone(), round(*w));
                }
            }
        }
    }
    // Choices whose every row had the reference level still need a term.
    for name in inputs {
        if !terms.iter().any(|t| &t.attribute == name) {
            terms.push(Term {
                attribute: name.clone(),
                weight: None,
                levels: BTreeMap::new(),
            });
        }
    }
    let model = PmtModel {
        version: version.to_owned(),
        description: String::new(),
        intercept: round(beta[0]),
        scale: Scale {
            low: round(at(0.01)),
            high: round(at(0.99)),
        },
        terms,
    };
    // A fit can still make a model the deployment would refuse (a repeated
    // input, every estimate the same): say so here, not when it is loaded.
    model.check(schema).map_err(|e| FitError::Unusable(e.to_string()))?;
    Ok(FitReport { model, used, skipped })
}

/// Checks a fit's inputs before any survey is read.
pub fn check_inputs(schema: &AttributeSchema, inputs: &[String]) -> Result<(), FitError> {
    columns(schema, inputs).map(|_| ())
}

/// The design matrix's columns after the intercept: one per number or
/// yes/no input, one per non-reference level of a choice.
fn columns(schema: &AttributeSchema, inputs: &[String]) -> Result<Vec<(usize, Option<String>)>, FitError> {
    if inputs.is_empty() {
        return Err(FitError::Unusable("a model needs at least one input".into()));
    }
    let mut columns = Vec::new();
    for (i, name) in inputs.iter().enumerate() {
        if inputs[..i].contains(name) {
            return Err(FitError::Unusable(format!("{name:?} is named twice")));
        }
        let def = schema
            .get(name)
            .ok_or_else(|| FitError::UnknownAttribute(name.clone()))?;
        match def.kind {
            AttributeType::Integer | AttributeType::Decimal | AttributeType::Boolean => columns.push((i, None)),
            AttributeType::Choice => {
                columns.extend(def.choices.iter().skip(1).map(|c| (i, Some(c.clone()))));
            }
            AttributeType::Date | AttributeType::Text => return Err(FitError::NotWeighable(name.clone())),
        }
    }
    Ok(columns)
}

/// A fitted model and the rows it came from.
#[derive(Clone, Debug)]
pub struct FitReport {
    pub model: PmtModel,
    pub used: usize,
    /// Rows left out for a missing input.
    pub skipped: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum FitError {
    #[error("{0:?} is not a household attribute of this deployment")]
    UnknownAttribute(String),
    #[error("{0:?} is a date or text attribute, which a model cannot weigh")]
    NotWeighable(String),
    #[error("{used} complete rows are too few for this many inputs; {needed} at least")]
    TooFewRows { used: usize, needed: usize },
    #[error("the inputs are collinear: one of them is a combination of the others")]
    Singular,
    #[error("the fitted model is not usable: {0}")]
    Unusable(String),
}

/// Solves `a x = b` for a symmetric positive definite `a` (k × k, row-major)
/// by Cholesky decomposition; `None` if `a` is not positive definite.
fn solve_symmetric(a: &mut [f64], b: &mut [f64], k: usize) -> Option<Vec<f64>> {
    for j in 0..k {
        let mut d = a[j * k + j];
        for p in 0..j {
            d -= a[j * k + p] * a[j * k + p];
        }
        if d <= 0.0 || !d.is_finite() {
            return None;
        }
        let d = d.sqrt();
        a[j * k + j] = d;
        for i in j + 1..k {
            let mut s = a[i * k + j];
            for p in 0..j {
                s -= a[i * k + p] * a[j * k + p];
            }
            a[i * k + j] = s / d;
        }
    }
    // L y = b, then Lᵀ x = y.
    for i in 0..k {
        let mut s = b[i];
        for p in 0..i {
            s -= a[i * k + p] * b[p];
        }
        b[i] = s / a[i * k + i];
    }
    for i in (0..k).rev() {
        let mut s = b[i];
        for p in i + 1..k {
            s -= a[p * k + i] * b[p];
        }
        b[i] = s / a[i * k + i];
    }
    Some(b.to_vec())
}

/// How well a score separates the poor from the rest, where the truth is
/// known: the households at or under `threshold` are selected; the truly
/// poor are the poorest `poor_share` of all households by true welfare.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct TargetingQuality {
    pub households: usize,
    pub not_scored: usize,
    pub selected: usize,
    pub poor: usize,
    /// Selected households that are not among the truly poor, as a share of the selected.
    pub inclusion_error: f64,
    /// Truly poor households not selected (unscored ones among them), as a share of the truly poor.
    pub exclusion_error: f64,
}

/// `households` are `(score or None if not scored, true welfare)`.
pub fn targeting_quality(households: &[(Option<f64>, f64)], threshold: f64, poor_share: f64) -> TargetingQuality {
    let selected: Vec<(bool, f64)> = households
        .iter()
        .map(|(s, welfare)| (s.is_some_and(|s| s <= threshold), *welfare))
        .collect();
    TargetingQuality {
        not_scored: households.iter().filter(|h| h.0.is_none()).count(),
        ..selection_quality(&selected, poor_share)
    }
}

/// The errors of any selection (a programme's decisions, say): `households`
/// are `(selected, true welfare)`.
pub fn selection_quality(households: &[(bool, f64)], poor_share: f64) -> TargetingQuality {
    let n_selected = households.iter().filter(|h| h.0).count();
    let mut order: Vec<usize> = (0..households.len()).collect();
    order.sort_by(|a, b| households[*a].1.total_cmp(&households[*b].1));
    let n_poor = (households.len() as f64 * poor_share.clamp(0.0, 1.0)).round() as usize;
    let mut poor = vec![false; households.len()];
    for i in order.into_iter().take(n_poor) {
        poor[i] = true;
    }
    let included_wrongly = (0..households.len()).filter(|i| households[*i].0 && !poor[*i]).count();
    let excluded = (0..households.len()).filter(|i| poor[*i] && !households[*i].0).count();
    let share = |n: usize, of: usize| if of == 0 { 0.0 } else { n as f64 / of as f64 };
    TargetingQuality {
        households: households.len(),
        not_scored: 0,
        selected: n_selected,
        poor: n_poor,
        inclusion_error: share(included_wrongly, n_selected),
        exclusion_error: share(excluded, n_poor),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::attributes::AttributeDef;

    fn schema() -> AttributeSchema {
        let def = |name: &str, kind: AttributeType, choices: &[&str]| AttributeDef {
            name: name.into(),
            kind,
            required: false,
            min: None,
            max: None,
            choices: choices.iter().map(|c| c.to_string()).collect(),
            max_length: None,
            label: BTreeMap::new(),
            choice_labels: BTreeMap::new(),
        };
        AttributeSchema::new(vec![
            def("rooms", AttributeType::Integer, &[]),
            def("has_car", AttributeType::Boolean, &[]),
            def("wall", AttributeType::Choice, &["mud", "brick", "concrete"]),
            def("note", AttributeType::Text, &[]),
        ])
        .unwrap()
    }

    const MODEL: &str = r#"
        version = "test-1"
        intercept = 1.0
        scale = { low = 0.0, high = 4.0 }
        [[terms]]
        attribute = "rooms"
        weight = 0.5
        [[terms]]
        attribute = "has_car"
        weight = 1.0
        [[terms]]
        attribute = "wall"
        levels = { brick = 0.25, concrete = 0.75 }
    "#;

    fn attrs(v: Value) -> Attributes {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_score_adds_its_terms_and_explains_each() {
        let model = PmtModel::from_toml(MODEL, &schema()).unwrap();
        let s = model
            .score(&attrs(json!({"rooms": 2, "has_car": false, "wall": "brick"})))
            .unwrap();
        assert_eq!(s.estimate, 1.0 + 1.0 + 0.0 + 0.25);
        assert_eq!(s.score, 56.25);
        assert_eq!(s.contributions.len(), 3);
        assert_eq!(s.contributions[2].contribution, 0.25);
        // The reference level weighs nothing; the scale is clamped.
        let s = model
            .score(&attrs(json!({"rooms": 9, "has_car": true, "wall": "mud"})))
            .unwrap();
        assert_eq!(s.score, 100.0);
    }

    #[test]
    fn missing_inputs_are_named_not_guessed() {
        let model = PmtModel::from_toml(MODEL, &schema()).unwrap();
        let missing = model.score(&attrs(json!({"rooms": 2, "wall": null}))).unwrap_err();
        assert_eq!(missing.0, vec!["has_car".to_owned(), "wall".to_owned()]);
    }

    #[test]
    fn a_model_is_checked_against_the_schema() {
        let bad = |from: &str, to: &str, key: &str| {
            let text = MODEL.replacen(from, to, 1);
            match PmtModel::from_toml(&text, &schema()) {
                Err(ConfigError::Invalid { key: k, .. }) => assert_eq!(k, key, "{text}"),
                other => panic!("{key}: {other:?}"),
            }
        };
        bad("attribute = \"rooms\"", "attribute = \"floors\"", "terms[0].attribute");
        bad("brick = 0.25", "stone = 0.25", "terms[2].levels.stone");
        bad("weight = 1.0", "levels = { yes = 1.0 }", "terms[1].levels");
        bad("attribute = \"has_car\"", "attribute = \"rooms\"", "terms[1].attribute");
        bad("attribute = \"rooms\"", "attribute = \"note\"", "terms[0].attribute");
        bad("high = 4.0", "high = 0.0", "scale.high");
        bad("version = \"test-1\"", "version = \" \"", "version");
        assert!(matches!(
            PmtModel::from_toml("version = 1", &schema()),
            Err(ConfigError::Syntax(_))
        ));
    }

    #[test]
    fn fitting_recovers_the_weights_that_made_the_data() {
        let walls = ["mud", "brick", "concrete"];
        let rows: Vec<(Attributes, f64)> = (0..3000u64)
            .map(|i| {
                let rooms = (i * 7 % 6) + 1;
                let car = i % 5 == 0;
                let wall = walls[(i * 13 % 3) as usize];
                let welfare = 0.2
                    + 0.1 * rooms as f64
                    + if car { 0.3 } else { 0.0 }
                    + match wall {
                        "brick" => 0.05,
                        "concrete" => 0.2,
                        _ => 0.0,
                    };
                (attrs(json!({"rooms": rooms, "has_car": car, "wall": wall})), welfare)
            })
            .collect();
        let inputs = ["rooms", "has_car", "wall"].map(String::from);
        let report = fit("fit-1", &schema(), &inputs, rows.iter().map(|(a, w)| (a, *w))).unwrap();
        let m = &report.model;
        assert_eq!(report.used, 3000);
        assert!((m.intercept - 0.2).abs() < 1e-3, "{m:?}");
        assert!((m.terms[0].weight.unwrap() - 0.1).abs() < 1e-3, "{m:?}");
        assert!((m.terms[1].weight.unwrap() - 0.3).abs() < 1e-3, "{m:?}");
        assert!((m.terms[2].levels["concrete"] - 0.2).abs() < 1e-3, "{m:?}");
        assert!(m.scale.low < m.scale.high);
        // What it writes, it reads back.
        PmtModel::from_toml(&m.to_toml(), &schema()).unwrap();
        assert!(matches!(
            fit("x", &schema(), &inputs, rows.iter().take(10).map(|(a, w)| (a, *w))),
            Err(FitError::TooFewRows { .. })
        ));
    }

    #[test]
    fn targeting_errors_count_against_the_truly_poorest() {
        // Five households, the poorest three (60 %) truly poor; two selected
        // (score ≤ 30): one truly poor, one not.
        let households = [
            (Some(10.0), 0.1),
            (Some(20.0), 0.9),
            (Some(50.0), 0.2),
            (None, 0.15),
            (Some(70.0), 0.8),
        ];
        let q = targeting_quality(&households, 30.0, 0.6);
        assert_eq!((q.selected, q.poor, q.not_scored), (2, 3, 1));
        assert_eq!(q.inclusion_error, 0.5);
        // Of the three poor (0.1, 0.15 unscored, 0.2), two were missed.
        assert!((q.exclusion_error - 2.0 / 3.0).abs() < 1e-12);
    }
}
