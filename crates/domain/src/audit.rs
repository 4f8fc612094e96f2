//! The audit trail's hash chain: each entry's hash commits to its content
//! and to the previous entry's hash, so an edited, deleted or reordered
//! entry breaks every hash after it.

use sha2::{Digest, Sha256};

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One entry's content, as stored (times as their stored text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryContent<'a> {
    pub seq: i64,
    pub at: &'a str,
    pub actor: &'a str,
    pub action: &'a str,
    pub record_type: Option<&'a str>,
    pub record_id: Option<&'a str>,
    /// JSON text.
    pub detail: &'a str,
}

/// SHA-256, as lower-case hex, of the previous hash and the entry. Every
/// field is length-prefixed so that no two different entries hash the same
/// bytes (`("ab", "c")` and `("a", "bc")`).
pub fn chain_hash(prev_hash: &str, e: &EntryContent<'_>) -> String {
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    field(prev_hash.as_bytes());
    field(&e.seq.to_be_bytes());
    field(e.at.as_bytes());
    field(e.actor.as_bytes());
    field(e.action.as_bytes());
    for optional in [e.record_type, e.record_id] {
        match optional {
            None => field(b"\0none"),
            Some(v) => field(v.as_bytes()),
        }
    }
    field(e.detail.as_bytes());
    hex(&h.finalize())
}

/// SHA-256 of a secret token, as stored in place of the token.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(detail: &str) -> EntryContent<'_> {
        EntryContent {
            seq: 1,
            at: "2026-01-01T00:00:00.000000Z",
            actor: "amina",
            action: "household.read",
            record_type: Some("household"),
            record_id: Some("h1"),
            detail,
        }
    }

    #[test]
    fn hash_depends_on_every_field_and_the_previous_hash() {
        let base = chain_hash(GENESIS, &entry("{}"));
        assert_eq!(base.len(), 64);
        assert_eq!(base, chain_hash(GENESIS, &entry("{}")));
        assert_ne!(base, chain_hash(&"1".repeat(64), &entry("{}")));
        assert_ne!(base, chain_hash(GENESIS, &entry("{\"a\":1}")));
        assert_ne!(base, chain_hash(GENESIS, &EntryContent { seq: 2, ..entry("{}") }));
        assert_ne!(
            base,
            chain_hash(
                GENESIS,
                &EntryContent {
                    record_id: None,
                    ..entry("{}")
                }
            )
        );
        let shifted = EntryContent {
            actor: "amin",
            action: "ahousehold.read",
            ..entry("{}")
        };
        assert_ne!(base, chain_hash(GENESIS, &shifted));
    }

    #[test]
    fn hex_is_lower_case() {
        assert_eq!(hex(&[0, 15, 255]), "000fff");
    }
}
