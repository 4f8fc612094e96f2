//! How records read on a page: vocabulary codes, field errors, the
//! deployment's own labels (attributes, areas, programmes) in the reader's
//! language, names in both scripts.

use std::collections::BTreeMap;

use himaya_domain::attributes::AttributeDef;
use himaya_domain::person::{Name, Person};
use himaya_domain::programme::{Frequency, TargetUnit};
use serde_json::Value;

use super::{Ctx, FieldErrors};
use crate::i18n::{self, Lang};

/// A field error's code in the reader's words.
pub(crate) fn field_error(c: &Ctx, code: &str) -> String {
    let key = format!("field-error-{code}");
    if i18n::has(c.lang, &key) {
        c.t(&key)
    } else {
        c.t("field-error-invalid")
    }
}

/// A refusal's problem code in the reader's words, or the `fallback` message
/// where the messages have none for it.
pub(crate) fn problem_text(c: &Ctx, code: &str, fallback: &str) -> String {
    let key = format!("problem-{code}");
    if i18n::has(c.lang, &key) {
        c.t(&key)
    } else {
        c.t(fallback)
    }
}

/// A use case's field errors, by field, in the reader's words.
pub(crate) fn field_errors(c: &Ctx, problem: &himaya_domain::Problem) -> FieldErrors {
    let mut out = FieldErrors::new();
    for e in &problem.errors {
        out.entry(e.field.clone()).or_insert_with(|| field_error(c, e.code));
    }
    out
}

/// A vocabulary code (`sex`, `male`) in the reader's words; a code the
/// messages do not know is shown as it is.
pub(crate) fn vocab(c: &Ctx, kind: &str, code: &str) -> String {
    // Message names take letters, digits, `-` and `_` (`age-band-60+` → `age-band-60plus`).
    let key = format!("{kind}-{}", code.replace('+', "plus").replace('.', "-"));
    if i18n::has(c.lang, &key) {
        c.t(&key)
    } else {
        code.to_owned()
    }
}

/// Which of a deployment's labels to show: the reader's language, then one
/// written in the same script, then English, then any.
pub(crate) fn pick(lang: Lang, labels: &BTreeMap<String, String>) -> Option<&str> {
    let same_script = match lang {
        Lang::Ur => Some("ar"),
        Lang::Ar => Some("ur"),
        _ => None,
    };
    labels
        .get(lang.code())
        .or_else(|| same_script.and_then(|s| labels.get(s)))
        .or_else(|| labels.get("en"))
        .or_else(|| labels.values().next())
        .map(String::as_str)
}

pub(crate) fn attribute_label(c: &Ctx, def: &AttributeDef) -> String {
    pick(c.lang, &def.label).unwrap_or(&def.name).to_owned()
}

/// An attribute's value as text: booleans and choices in words, numbers in the reader's digits.
pub(crate) fn attribute_value(c: &Ctx, def: Option<&AttributeDef>, value: &Value) -> String {
    match value {
        Value::Bool(true) => c.t("yes"),
        Value::Bool(false) => c.t("no"),
        Value::Number(n) => n
            .as_i64()
            .map(|i| i18n::number(c.lang, i))
            .unwrap_or_else(|| i18n::decimal(c.lang, &n.to_string())),
        Value::String(s) => match def {
            Some(d) if !d.choices.is_empty() => choice_label(c, d, s),
            _ => s.clone(),
        },
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A choice's label: the deployment's, in the reader's language, or the code in words.
pub(crate) fn choice_label(c: &Ctx, def: &AttributeDef, choice: &str) -> String {
    def.choice_labels
        .get(choice)
        .and_then(|labels| pick(c.lang, labels))
        .map_or_else(|| choice.replace('_', " "), str::to_owned)
}

/// An area's name in the reader's language (its code if unknown).
pub(crate) fn area_name(c: &Ctx, code: &str) -> String {
    c.state
        .app
        .deployment()
        .areas
        .iter()
        .find(|a| a.code == code)
        .and_then(|a| pick(c.lang, &a.names))
        .unwrap_or(code)
        .to_owned()
}

/// A name in both scripts: `محمد (Muhammad)`.
pub(crate) fn name(n: &Name) -> String {
    match (&n.native, &n.latin) {
        (Some(a), Some(b)) => format!("{a} ({b})"),
        (Some(a), None) | (None, Some(a)) => a.clone(),
        (None, None) => String::new(),
    }
}

/// A person's whole name: given, father's or husband's, family.
pub(crate) fn full_name(p: &Person) -> String {
    let r = &p.record;
    [&r.given_name, &r.father_name, &r.family_name]
        .into_iter()
        .map(name)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" · ")
}

pub(crate) fn target(c: &Ctx, t: &TargetUnit) -> String {
    vocab(
        c,
        "target",
        match t {
            TargetUnit::Household => "household",
            TargetUnit::Person => "person",
        },
    )
}

pub(crate) fn frequency(c: &Ctx, f: &Frequency) -> String {
    vocab(
        c,
        "frequency",
        match f {
            Frequency::Monthly => "monthly",
            Frequency::Quarterly => "quarterly",
        },
    )
}

/// A changed value in a history entry, as text.
pub(crate) fn changed_value(c: &Ctx, field: &str, v: &Value) -> String {
    let attribute = field
        .strip_prefix("attributes.")
        .and_then(|a| c.state.app.deployment().household_attributes.get(a));
    match (field, v) {
        (_, Value::Null) => "—".to_owned(),
        ("area", Value::String(s)) => area_name(c, s),
        ("status", Value::String(s)) => vocab(c, "status", s),
        (_, Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::Object(o) => o
                    .values()
                    .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
                    .collect::<Vec<_>>()
                    .join(" "),
                other => changed_value(c, "", other),
            })
            .collect::<Vec<_>>()
            .join(", "),
        _ => attribute_value(c, attribute, v),
    }
}

/// A changed field's name in the reader's words.
pub(crate) fn field_label(c: &Ctx, field: &str) -> String {
    if let Some(a) = field.strip_prefix("attributes.")
        && let Some(def) = c.state.app.deployment().household_attributes.get(a)
    {
        return attribute_label(c, def);
    }
    // `identifiers[0].value` → `field-identifiers-value`.
    let mut key = String::from("field-");
    let mut in_index = false;
    for ch in field.chars() {
        match ch {
            '[' => in_index = true,
            ']' => in_index = false,
            '.' => key.push('-'),
            _ if !in_index => key.push(ch),
            _ => {}
        }
    }
    if i18n::has(c.lang, &key) {
        c.t(&key)
    } else {
        field.to_owned()
    }
}
