//! Socio-economic household attributes whose fields each deployment defines:
//! typed, with ranges and allowed values, checked on every write.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::digits::to_ascii_digits;
use crate::error::Problem;

mod stored;
pub use stored::{AttrValue, AttributeLookup, StoredAttributes};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributeType {
    Integer,
    Decimal,
    Boolean,
    Choice,
    Date,
    Text,
}

/// One attribute as the configuration declares it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeDef {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: AttributeType,
    #[serde(default)]
    pub required: bool,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Allowed values of a `choice`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    /// Longest text, in characters.
    pub max_length: Option<usize>,
    /// Labels by language code.
    #[serde(default)]
    pub label: BTreeMap<String, String>,
    /// Labels of a `choice`'s values, by value and then language code.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub choice_labels: BTreeMap<String, BTreeMap<String, String>>,
}

/// The validated set of attribute definitions.
#[derive(Clone, Debug, Default)]
pub struct AttributeSchema {
    defs: Vec<AttributeDef>,
}

/// Attribute values of one household, by attribute name.
pub type Attributes = BTreeMap<String, Value>;

impl AttributeSchema {
    /// Checks the definitions themselves; the error is `(key, reason)`.
    pub fn new(defs: Vec<AttributeDef>) -> Result<AttributeSchema, (String, String)> {
        for (i, d) in defs.iter().enumerate() {
            let key = format!("[{i}]");
            if d.name.is_empty()
                || !d
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err((
                    format!("{key}.name"),
                    format!("{:?}: use lower-case ASCII letters, digits and _", d.name),
                ));
            }
            if defs[..i].iter().any(|o| o.name == d.name) {
                return Err((
                    format!("{key}.name"),
                    format!("attribute {:?} is defined twice", d.name),
                ));
            }
            if d.kind == AttributeType::Choice && d.choices.is_empty() {
                return Err((
                    format!("{key}.choices"),
                    "a choice attribute needs at least one allowed value".into(),
                ));
            }
            if let Some(value) = d.choice_labels.keys().find(|v| !d.choices.contains(v)) {
                return Err((
                    format!("{key}.choice_labels.{value}"),
                    format!("{value:?} is not one of the attribute's choices"),
                ));
            }
            if d.kind != AttributeType::Choice && !d.choices.is_empty() {
                return Err((format!("{key}.choices"), "only choice attributes have choices".into()));
            }
            let numeric = matches!(d.kind, AttributeType::Integer | AttributeType::Decimal);
            if !numeric && (d.min.is_some() || d.max.is_some()) {
                return Err((
                    format!("{key}.min"),
                    "only integer and decimal attributes have a range".into(),
                ));
            }
            if let (Some(lo), Some(hi)) = (d.min, d.max)
                && lo > hi
            {
                return Err((format!("{key}.min"), format!("min {lo} is above max {hi}")));
            }
        }
        Ok(AttributeSchema { defs })
    }

    pub fn defs(&self) -> &[AttributeDef] {
        &self.defs
    }

    /// The attributes' names, in schema order (the columns of household files).
    pub fn names(&self) -> Vec<String> {
        self.defs.iter().map(|d| d.name.clone()).collect()
    }

    pub fn get(&self, name: &str) -> Option<&AttributeDef> {
        self.defs.iter().find(|d| d.name == name)
    }

    /// Validates and canonicalises `input` (digits to ASCII, numbers from
    /// strings). With `complete`, required attributes must be present; a
    /// partial update passes `false` and a null value removes an attribute.
    pub fn check(
        &self,
        input: &serde_json::Map<String, Value>,
        complete: bool,
        path: &str,
        problem: &mut Problem,
    ) -> Attributes {
        let mut out = Attributes::new();
        for (name, value) in input {
            let field = format!("{path}.{name}");
            let Some(def) = self.get(name) else {
                problem.push(
                    field,
                    "attribute-unknown",
                    format!("{name:?} is not an attribute of this deployment"),
                );
                continue;
            };
            if value.is_null() {
                if complete && def.required {
                    problem.push(field, "required", "this attribute is required");
                }
                out.insert(name.clone(), Value::Null);
                continue;
            }
            match check_value(def, value) {
                Ok(v) => {
                    out.insert(name.clone(), v);
                }
                Err((code, message)) => problem.push(field, code, message),
            }
        }
        if complete {
            for def in &self.defs {
                if def.required && !input.contains_key(&def.name) {
                    problem.push(format!("{path}.{}", def.name), "required", "this attribute is required");
                }
            }
            out.retain(|_, v| !v.is_null());
        }
        out
    }
}

fn check_value(def: &AttributeDef, value: &Value) -> Result<Value, (&'static str, String)> {
    let text = match value {
        Value::String(s) => Some(to_ascii_digits(s.trim()).into_owned()),
        _ => None,
    };
    match def.kind {
        AttributeType::Integer => {
            let n = match (value, &text) {
                (Value::Number(n), _) => n.as_i64(),
                (_, Some(t)) => t.parse::<i64>().ok(),
                _ => None,
            }
            .ok_or(("attribute-not-integer", "expected a whole number".to_owned()))?;
            in_range(def, n as f64)?;
            Ok(Value::from(n))
        }
        AttributeType::Decimal => {
            let n = match (value, &text) {
                (Value::Number(n), _) => n.as_f64(),
                (_, Some(t)) => t.parse::<f64>().ok().filter(|f| f.is_finite()),
                _ => None,
            }
            .ok_or(("attribute-not-decimal", "expected a number".to_owned()))?;
            in_range(def, n)?;
            Ok(serde_json::Number::from_f64(n)
                .map(Value::Number)
                .unwrap_or(Value::Null))
        }
        AttributeType::Boolean => match (value, text.as_deref()) {
            (Value::Bool(b), _) => Ok(Value::Bool(*b)),
            (_, Some("true" | "yes" | "1")) => Ok(Value::Bool(true)),
            (_, Some("false" | "no" | "0")) => Ok(Value::Bool(false)),
            _ => Err(("attribute-not-boolean", "expected true or false".to_owned())),
        },
        AttributeType::Choice => {
            let t = text.ok_or((
                "attribute-not-choice",
                format!("expected one of: {}", def.choices.join(", ")),
            ))?;
            if def.choices.contains(&t) {
                Ok(Value::String(t))
            } else {
                Err((
                    "attribute-not-choice",
                    format!("{t:?} is not one of: {}", def.choices.join(", ")),
                ))
            }
        }
        AttributeType::Date => {
            let t = text.ok_or(("attribute-not-date", "expected a date YYYY-MM-DD".to_owned()))?;
            chrono::NaiveDate::parse_from_str(&t, "%Y-%m-%d")
                .map(|d| Value::String(d.format("%Y-%m-%d").to_string()))
                .map_err(|_| ("attribute-not-date", format!("{t:?} is not a date YYYY-MM-DD")))
        }
        AttributeType::Text => {
            let Value::String(s) = value else {
                return Err(("attribute-not-text", "expected text".to_owned()));
            };
            let s = s.trim();
            if let Some(max) = def.max_length
                && s.chars().count() > max
            {
                return Err(("attribute-too-long", format!("longer than {max} characters")));
            }
            if s.chars().any(char::is_control) {
                return Err(("invalid-character", "contains control characters".to_owned()));
            }
            Ok(Value::String(s.to_owned()))
        }
    }
}

fn in_range(def: &AttributeDef, n: f64) -> Result<(), (&'static str, String)> {
    if def.min.is_some_and(|lo| n < lo) || def.max.is_some_and(|hi| n > hi) {
        let lo = def.min.map_or("-∞".to_owned(), |v| v.to_string());
        let hi = def.max.map_or("∞".to_owned(), |v| v.to_string());
        return Err(("attribute-out-of-range", format!("{n} is outside {lo}..{hi}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> AttributeSchema {
        let defs: Vec<AttributeDef> = serde_json::from_value(json!([
            {"name": "rooms", "type": "integer", "min": 1, "max": 30, "required": true},
            {"name": "land_acres", "type": "decimal", "min": 0},
            {"name": "has_electricity", "type": "boolean"},
            {"name": "walls", "type": "choice", "choices": ["mud", "brick"]},
            {"name": "surveyed_on", "type": "date"},
            {"name": "note", "type": "text", "max_length": 5},
        ]))
        .unwrap();
        AttributeSchema::new(defs).unwrap()
    }

    fn check(input: serde_json::Value) -> (Attributes, Vec<(String, &'static str)>) {
        let mut p = Problem::default();
        let out = schema().check(input.as_object().unwrap(), true, "attributes", &mut p);
        (out, p.errors.into_iter().map(|e| (e.field, e.code)).collect())
    }

    #[test]
    fn valid_values_are_canonicalised() {
        let (out, errors) = check(json!({"rooms": "۳", "land_acres": 1.5, "has_electricity": "yes", "walls": "mud"}));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(out["rooms"], json!(3));
        assert_eq!(out["has_electricity"], json!(true));
    }

    #[test]
    fn every_bad_value_is_named() {
        let (_, errors) = check(
            json!({"rooms": 0, "land_acres": "x", "walls": "glass", "surveyed_on": "2024-02-30", "note": "too long", "pool": true}),
        );
        let fields: Vec<_> = errors.iter().map(|(f, c)| format!("{f}={c}")).collect();
        assert_eq!(
            fields,
            [
                "attributes.land_acres=attribute-not-decimal",
                "attributes.note=attribute-too-long",
                "attributes.pool=attribute-unknown",
                "attributes.rooms=attribute-out-of-range",
                "attributes.surveyed_on=attribute-not-date",
                "attributes.walls=attribute-not-choice",
            ]
        );
    }

    #[test]
    fn required_attribute_missing() {
        let (_, errors) = check(json!({}));
        assert_eq!(errors, [("attributes.rooms".to_owned(), "required")]);
    }
}
