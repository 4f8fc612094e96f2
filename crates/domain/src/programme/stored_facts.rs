//! Reading a household's stored member facts, `[["id",{facts}],…]` as the
//! store writes them. Targeting and payment cycles read one per household,
//! millions in a run: serde's generic path took about a quarter of a run's
//! rule work, matching every key and building every value through its
//! visitors. The scanner here reads exactly that shape in one pass; anything
//! else (an escape, a null, a key it does not know, a field twice) goes to
//! serde, which gives the same answer or the error.

use crate::date::PartialDate;
use crate::identifier::IdentifierType;
use crate::person::PersonId;
use crate::programme::PersonFacts;
use crate::vocab::{MaritalStatus, MaternalStatus, Relationship, SchoolLevel, Sex};

/// The members' facts, in the order stored.
pub fn parse_member_facts(text: &str) -> Result<Vec<(PersonId, PersonFacts)>, serde_json::Error> {
    match Scanner::new(text).members() {
        Some(members) => Ok(members),
        None => serde_json::from_str(text),
    }
}

struct Scanner<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Scanner<'a> {
    fn new(s: &'a str) -> Scanner<'a> {
        Scanner { s, i: 0 }
    }

    fn ws(&mut self) {
        let b = self.s.as_bytes();
        while matches!(b.get(self.i), Some(b' ' | b'\n' | b'\t' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.s.as_bytes().get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// A string without escapes or control characters (serde reads the others).
    fn string(&mut self) -> Option<&'a str> {
        if !self.eat(b'"') {
            return None;
        }
        let start = self.i;
        let len = self.s.as_bytes()[start..]
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        if self.s.as_bytes()[start + len] != b'"' {
            return None;
        }
        self.i = start + len + 1;
        // Both ends are ASCII quotes, so the slice is on character boundaries.
        self.s.get(start..start + len)
    }

    fn boolean(&mut self) -> Option<bool> {
        self.ws();
        let rest = &self.s.as_bytes()[self.i..];
        if rest.starts_with(b"true") {
            self.i += 4;
            Some(true)
        } else if rest.starts_with(b"false") {
            self.i += 5;
            Some(false)
        } else {
            None
        }
    }

    fn members(mut self) -> Option<Vec<(PersonId, PersonFacts)>> {
        let mut out = Vec::new();
        if !self.eat(b'[') {
            return None;
        }
        if !self.eat(b']') {
            loop {
                if !self.eat(b'[') {
                    return None;
                }
                let id: PersonId = self.string()?.parse().ok()?;
                if !self.eat(b',') {
                    return None;
                }
                let facts = self.facts()?;
                if !self.eat(b']') {
                    return None;
                }
                out.push((id, facts));
                if self.eat(b',') {
                    continue;
                }
                if self.eat(b']') {
                    break;
                }
                return None;
            }
        }
        self.ws();
        (self.i == self.s.len()).then_some(out)
    }

    fn facts(&mut self) -> Option<PersonFacts> {
        if !self.eat(b'{') {
            return None;
        }
        let (mut sex, mut date_of_birth, mut relationship) = (None, None, None);
        let (mut marital_status, mut maternal_status, mut school_level) = (None, None, None);
        let (mut disability, mut identifier_types) = (false, Vec::new());
        let mut seen = 0u8;
        if !self.eat(b'}') {
            loop {
                let key = self.string()?;
                if !self.eat(b':') {
                    return None;
                }
                let field = match key {
                    "sex" => {
                        sex = Some(Sex::from_code(self.string()?)?);
                        0
                    }
                    "date_of_birth" => {
                        date_of_birth = Some(self.string()?.parse::<PartialDate>().ok()?);
                        1
                    }
                    "relationship" => {
                        relationship = Some(Relationship::from_code(self.string()?)?);
                        2
                    }
                    "marital_status" => {
                        marital_status = Some(MaritalStatus::from_code(self.string()?)?);
                        3
                    }
                    "maternal_status" => {
                        maternal_status = Some(MaternalStatus::from_code(self.string()?)?);
                        4
                    }
                    "disability" => {
                        disability = self.boolean()?;
                        5
                    }
                    "school_level" => {
                        school_level = Some(SchoolLevel::from_code(self.string()?)?);
                        6
                    }
                    "identifier_types" => {
                        if !self.eat(b'[') {
                            return None;
                        }
                        if !self.eat(b']') {
                            loop {
                                identifier_types.push(IdentifierType::from_code(self.string()?)?);
                                if self.eat(b',') {
                                    continue;
                                }
                                if self.eat(b']') {
                                    break;
                                }
                                return None;
                            }
                        }
                        7
                    }
                    _ => return None,
                };
                if seen & (1 << field) != 0 {
                    return None;
                }
                seen |= 1 << field;
                if self.eat(b',') {
                    continue;
                }
                if self.eat(b'}') {
                    break;
                }
                return None;
            }
        }
        Some(PersonFacts {
            sex: sex?,
            date_of_birth,
            relationship: relationship?,
            marital_status,
            maternal_status,
            disability,
            school_level,
            identifier_types,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast(text: &str) -> Option<Vec<(PersonId, PersonFacts)>> {
        Scanner::new(text).members()
    }

    fn variety() -> Vec<(PersonId, PersonFacts)> {
        let dates = [None, Some("1985"), Some("1985-03"), Some("2015-02-28")];
        let mut out = Vec::new();
        for (i, sex) in Sex::ALL.iter().enumerate() {
            for (j, relationship) in Relationship::ALL.iter().enumerate() {
                let k = i * 31 + j;
                out.push((
                    PersonId::new(),
                    PersonFacts {
                        sex: *sex,
                        date_of_birth: dates[k % dates.len()].map(|d| d.parse().unwrap()),
                        relationship: *relationship,
                        marital_status: (k % 3 > 0).then(|| MaritalStatus::ALL[k % MaritalStatus::ALL.len()]),
                        maternal_status: (k % 4 == 1).then(|| MaternalStatus::ALL[k % MaternalStatus::ALL.len()]),
                        disability: k % 5 == 0,
                        school_level: (k % 2 == 0).then(|| SchoolLevel::ALL[k % SchoolLevel::ALL.len()]),
                        identifier_types: IdentifierType::ALL[..k % 3].to_vec(),
                    },
                ));
            }
        }
        out
    }

    #[test]
    fn the_stored_shape_is_read_as_serde_reads_it() {
        let members = variety();
        let compact = serde_json::to_string(&members).unwrap();
        assert_eq!(fast(&compact).as_ref(), Some(&members));
        // PostgreSQL's json_agg puts spaces after commas and colons.
        let spaced = serde_json::to_string_pretty(&members).unwrap();
        assert_eq!(fast(&spaced).as_ref(), Some(&members));
        assert_eq!(fast("[]"), Some(Vec::new()));
        assert_eq!(fast(" [ ] "), Some(Vec::new()));
        for one in members.chunks(1) {
            let text = serde_json::to_string(one).unwrap();
            assert_eq!(parse_member_facts(&text).unwrap(), one);
        }
    }

    #[test]
    fn anything_else_is_left_to_serde_with_the_same_answer_or_its_error() {
        let id = "0190f0f0-0000-7000-8000-000000000001";
        let others = [
            // Escapes, nulls, fields it does not know, another id form.
            format!(r#"[["{id}",{{"sex":"fem\u0061le","relationship":"head"}}]]"#),
            format!(r#"[["{id}",{{"sex":"female","relationship":"head","school_level":null}}]]"#),
            format!(r#"[["{id}",{{"sex":"female","relationship":"head","nickname":"Bhola"}}]]"#),
            format!(
                r#"[["{}",{{"sex":"female","relationship":"head"}}]]"#,
                id.replace('-', "")
            ),
        ];
        for text in &others {
            let read = parse_member_facts(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(read.len(), 1, "{text}");
            assert_eq!(read[0].1.sex, Sex::Female, "{text}");
            assert_eq!(read[0].1.school_level, None);
        }
        let wrong = [
            String::new(),
            "[".to_owned(),
            "{}".to_owned(),
            format!(r#"[["{id}",{{"sex":"female"}}]]"#),
            format!(r#"[["{id}",{{"sex":"unknown","relationship":"head"}}]]"#),
            format!(r#"[["{id}",{{"sex":"female","sex":"male","relationship":"head"}}]]"#),
            format!(r#"[["{id}",{{"sex":"female","relationship":"head","date_of_birth":"1985-13"}}]]"#),
            format!(r#"[["{id}",{{"sex":"female","relationship":"head"}}]] trailing"#),
            r#"[["not-an-id",{"sex":"female","relationship":"head"}]]"#.to_owned(),
            format!(r#"[["{id}",{{"sex":"female","relationship":"head","disability":1}}]]"#),
        ];
        for text in &wrong {
            assert!(fast(text).is_none(), "{text}");
            assert!(parse_member_facts(text).is_err(), "{text}");
        }
    }
}
