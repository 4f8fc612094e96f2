//! A household's attributes read straight from their stored JSON text: the
//! text is kept and each value's place in it noted, so that a targeting run
//! or a payment cycle over millions of households builds no map of owned
//! keys and values for each one.

use std::ops::Range;

use super::Attributes;

/// One attribute's value, borrowed from where it is kept.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AttrValue<'a> {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(&'a str),
}

impl<'a> AttrValue<'a> {
    /// The value of a JSON scalar; `None` for null, lists and objects,
    /// which no attribute holds.
    pub fn of_json(v: &'a serde_json::Value) -> Option<AttrValue<'a>> {
        Some(match v {
            serde_json::Value::Bool(b) => AttrValue::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => AttrValue::Int(i),
                None => AttrValue::Float(n.as_f64()?),
            },
            serde_json::Value::String(s) => AttrValue::Text(s),
            _ => return None,
        })
    }
}

/// Attribute values found by name.
pub trait AttributeLookup {
    /// The attribute's value; `None` when the household has none (or null).
    fn value(&self, name: &str) -> Option<AttrValue<'_>>;
}

impl AttributeLookup for Attributes {
    fn value(&self, name: &str) -> Option<AttrValue<'_>> {
        self.get(name).and_then(AttrValue::of_json)
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Slot {
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Text without escapes, where it lies in the JSON.
    Text(Range<usize>),
    /// Text that had escapes, unescaped into `owned`.
    Owned(usize),
}

/// A household's attributes as stored: a flat JSON object of scalars.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredAttributes {
    text: String,
    /// (name, value), sorted by name.
    entries: Vec<(Range<usize>, Slot)>,
    owned: Vec<String>,
}

impl StoredAttributes {
    /// Reads `text`, a JSON object whose values are scalars (nulls are left out).
    pub fn parse(text: String) -> Result<StoredAttributes, String> {
        let mut entries = Vec::with_capacity(32);
        let mut owned = Vec::new();
        let mut p = Scanner {
            s: text.as_bytes(),
            i: 0,
        };
        p.expect(b'{')?;
        if !p.eat(b'}') {
            loop {
                let key = p.string()?;
                let key = match key {
                    Str::Plain(r) => r,
                    Str::Escaped(_) => return Err(format!("an attribute name with escapes at byte {}", p.i)),
                };
                p.expect(b':')?;
                p.skip_ws();
                let slot = match p.peek() {
                    Some(b'"') => match p.string()? {
                        Str::Plain(r) => Some(Slot::Text(r)),
                        Str::Escaped(r) => {
                            let unescaped: String = serde_json::from_str(&text[r.start - 1..r.end + 1])
                                .map_err(|e| format!("a text attribute that does not read: {e}"))?;
                            owned.push(unescaped);
                            Some(Slot::Owned(owned.len() - 1))
                        }
                    },
                    Some(b't') => p.word("true").map(|_| Some(Slot::Bool(true)))?,
                    Some(b'f') => p.word("false").map(|_| Some(Slot::Bool(false)))?,
                    Some(b'n') => p.word("null").map(|_| None)?,
                    Some(b'-' | b'0'..=b'9') => Some(p.number(&text)?),
                    _ => return Err(format!("an attribute value that is not a scalar at byte {}", p.i)),
                };
                if let Some(slot) = slot {
                    entries.push((key, slot));
                }
                if p.eat(b',') {
                    continue;
                }
                p.expect(b'}')?;
                break;
            }
        }
        p.skip_ws();
        if p.i != p.s.len() {
            return Err(format!("text after the attributes at byte {}", p.i));
        }
        let bytes = text.as_bytes();
        entries.sort_by(|a, b| bytes[a.0.clone()].cmp(&bytes[b.0.clone()]));
        Ok(StoredAttributes { text, entries, owned })
    }

    /// The stored form of owned attributes.
    pub fn of(attributes: &Attributes) -> StoredAttributes {
        let text = serde_json::to_string(attributes).unwrap_or_else(|_| "{}".to_owned());
        // Serialised from the map just now: it reads.
        StoredAttributes::parse(text).unwrap_or_else(|_| StoredAttributes {
            text: "{}".to_owned(),
            entries: Vec::new(),
            owned: Vec::new(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl AttributeLookup for StoredAttributes {
    fn value(&self, name: &str) -> Option<AttrValue<'_>> {
        let bytes = self.text.as_bytes();
        let i = self
            .entries
            .binary_search_by(|(k, _)| bytes[k.clone()].cmp(name.as_bytes()))
            .ok()?;
        Some(match &self.entries[i].1 {
            Slot::Bool(b) => AttrValue::Bool(*b),
            Slot::Int(n) => AttrValue::Int(*n),
            Slot::Float(x) => AttrValue::Float(*x),
            Slot::Text(r) => AttrValue::Text(&self.text[r.clone()]),
            Slot::Owned(o) => AttrValue::Text(&self.owned[*o]),
        })
    }
}

enum Str {
    Plain(Range<usize>),
    Escaped(Range<usize>),
}

struct Scanner<'a> {
    s: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    fn skip_ws(&mut self) {
        while matches!(self.s.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected {:?} at byte {}", c as char, self.i))
        }
    }

    /// A string's contents, between its quotes.
    fn string(&mut self) -> Result<Str, String> {
        self.expect(b'"')?;
        let start = self.i;
        let mut escaped = false;
        loop {
            match self.peek() {
                None => return Err("a string without its closing quote".into()),
                Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    self.i += 2;
                }
                Some(_) => self.i += 1,
            }
        }
        let range = start..self.i.min(self.s.len());
        self.i += 1;
        Ok(if escaped {
            Str::Escaped(range)
        } else {
            Str::Plain(range)
        })
    }

    fn word(&mut self, w: &str) -> Result<(), String> {
        if self.s[self.i..].starts_with(w.as_bytes()) {
            self.i += w.len();
            Ok(())
        } else {
            Err(format!("expected {w} at byte {}", self.i))
        }
    }

    fn number(&mut self, text: &str) -> Result<Slot, String> {
        let start = self.i;
        while matches!(self.peek(), Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')) {
            self.i += 1;
        }
        let n = &text[start..self.i];
        let integral = !n.contains(['.', 'e', 'E']);
        if integral && let Ok(i) = n.parse::<i64>() {
            return Ok(Slot::Int(i));
        }
        match n.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(Slot::Float(x)),
            _ => Err(format!("a number that does not read at byte {start}: {n:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn attrs(v: serde_json::Value) -> Attributes {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn values_read_as_the_map_would_give_them() {
        let a =
            attrs(json!({"rooms": 3, "land": 1.5, "has_car": false, "wall": "mud", "note": "a \"b\" ج", "gone": null}));
        let s = StoredAttributes::of(&a);
        for name in ["rooms", "land", "has_car", "wall", "note", "gone", "absent"] {
            assert_eq!(s.value(name), a.value(name), "{name}");
        }
        assert_eq!(s.value("note"), Some(AttrValue::Text("a \"b\" ج")));
        assert_eq!(s.value("gone"), None);
    }

    #[test]
    fn text_as_postgresql_or_a_person_writes_it_reads_too() {
        let s = StoredAttributes::parse(r#" { "b" : true , "a":-2, "c" : 1e3 } "#.to_owned()).unwrap();
        assert_eq!(s.value("a"), Some(AttrValue::Int(-2)));
        assert_eq!(s.value("b"), Some(AttrValue::Bool(true)));
        assert_eq!(s.value("c"), Some(AttrValue::Float(1000.0)));
        assert!(StoredAttributes::parse("{}".into()).unwrap().is_empty());
    }

    #[test]
    fn what_is_not_a_flat_object_of_scalars_is_refused() {
        for bad in [
            "",
            "[]",
            r#"{"a": [1]}"#,
            r#"{"a": {"b": 1}}"#,
            r#"{"a": 1"#,
            r#"{"a" 1}"#,
            r#"{"a": tru}"#,
            r#"{"a": "x}"#,
            r#"{"a": 1} x"#,
            r#"{"a": 1e999}"#,
            r#"{"a\n": 1}"#,
        ] {
            assert!(StoredAttributes::parse(bad.to_owned()).is_err(), "{bad:?}");
        }
    }

    fn scalar() -> impl Strategy<Value = serde_json::Value> {
        prop_oneof![
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            (-1e12f64..1e12).prop_map(serde_json::Value::from),
            ".*".prop_map(serde_json::Value::from),
            Just(serde_json::Value::Null),
        ]
    }

    proptest! {
        #[test]
        fn stored_attributes_agree_with_the_map(map in prop::collection::btree_map("[a-z_]{1,12}", scalar(), 0..20)) {
            let a: Attributes = map.into_iter().collect();
            let s = StoredAttributes::of(&a);
            for name in a.keys() {
                prop_assert_eq!(s.value(name), a.value(name));
            }
        }

        #[test]
        fn any_text_is_read_or_refused_without_panicking(text in ".{0,64}") {
            let _ = StoredAttributes::parse(text);
        }
    }
}
