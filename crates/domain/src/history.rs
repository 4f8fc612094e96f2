//! Versions of a record read back field by field, and JSON merge patches
//! (RFC 7396) laid over a record for partial updates.

use serde::Serialize;
use serde_json::Value;

/// One field that changed between two versions. `from` is null for a field
/// that appeared, `to` null for one that went away.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub from: Value,
    pub to: Value,
}

/// The fields that differ between two JSON documents, by dotted path
/// (`given_name.latin`, `identifiers`); arrays compare whole.
pub fn diff(before: &Value, after: &Value) -> Vec<FieldChange> {
    let mut out = Vec::new();
    diff_into("", before, after, &mut out);
    out
}

fn diff_into(path: &str, before: &Value, after: &Value, out: &mut Vec<FieldChange>) {
    match (before, after) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                diff_into(
                    &join(path, k),
                    a.get(k).unwrap_or(&Value::Null),
                    b.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::Object(a), Value::Null) => {
            for (k, v) in a {
                diff_into(&join(path, k), v, &Value::Null, out);
            }
        }
        (Value::Null, Value::Object(b)) => {
            for (k, v) in b {
                diff_into(&join(path, k), &Value::Null, v, out);
            }
        }
        (a, b) if a != b => out.push(FieldChange {
            field: path.to_owned(),
            from: a.clone(),
            to: b.clone(),
        }),
        _ => {}
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Applies an RFC 7396 merge patch: objects merge, null removes, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// The merge patch that turns `before` into `after`: what a form holding a
/// record's whole new state sends, so that a blank field removes its value.
/// Null values in `after` count as absent, as [`merge_patch`] treats them.
pub fn merge_patch_between(before: &Value, after: &Value) -> Value {
    match (before, after) {
        (Value::Object(a), Value::Object(b)) => {
            let mut patch = serde_json::Map::new();
            for (k, old) in a {
                if !old.is_null() && b.get(k).is_none_or(Value::is_null) {
                    patch.insert(k.clone(), Value::Null);
                }
            }
            for (k, new) in b {
                if new.is_null() {
                    continue;
                }
                match a.get(k) {
                    Some(old) if old == new => {}
                    Some(old @ Value::Object(_)) if new.is_object() => {
                        patch.insert(k.clone(), merge_patch_between(old, new));
                    }
                    _ => {
                        patch.insert(k.clone(), strip_nulls(new));
                    }
                }
            }
            Value::Object(patch)
        }
        _ => strip_nulls(after),
    }
}

/// A value without the nulls of its objects, which a merge patch would read as removals.
fn strip_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_names_each_changed_field() {
        let a = json!({"given_name": {"latin": "Shazia"}, "sex": "female", "phone": "+923001234567"});
        let b = json!({"given_name": {"latin": "Shazia", "native": "شازیہ"}, "sex": "female"});
        let changes: Vec<_> = diff(&a, &b).into_iter().map(|c| c.field).collect();
        assert_eq!(changes, ["given_name.native", "phone"]);
        let created: Vec<_> = diff(&Value::Null, &a).into_iter().map(|c| c.field).collect();
        assert_eq!(created, ["given_name.latin", "phone", "sex"]);
    }

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut t, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(t, json!({"a": "z", "c": {"d": "e"}}));
    }

    #[test]
    fn the_patch_between_two_states_turns_one_into_the_other() {
        let before = json!({"given_name": {"latin": "Shazia", "native": "شازیہ"}, "phone": "+923001234567",
            "school": {"level": "primary", "school_name": "GPS"}, "identifiers": [{"type": "cnic", "value": "1"}]});
        let after = json!({"given_name": {"latin": "Shazia", "native": null}, "phone": null, "sex": "female",
            "school": {"level": "middle"}, "identifiers": [], "status_date": null, "disability": {"seeing": null}});
        let patch = merge_patch_between(&before, &after);
        assert_eq!(
            patch,
            json!({"given_name": {"native": null}, "phone": null, "sex": "female",
                "school": {"level": "middle", "school_name": null}, "identifiers": [], "disability": {}})
        );
        let mut t = before.clone();
        merge_patch(&mut t, &patch);
        assert_eq!(
            t,
            json!({"given_name": {"latin": "Shazia"}, "sex": "female", "school": {"level": "middle"},
            "identifiers": [], "disability": {}})
        );
        assert_eq!(merge_patch_between(&before, &before), json!({}));
    }
}
