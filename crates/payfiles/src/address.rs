//! G2P Connect financial addresses: `id-type:id@provider`, such as
//! `token:12345@gtbank` or `mobile:923001234567@jazzcash`.
//!
//! The specification's own pattern excludes the `:` of its examples; this
//! follows the corrected one, `^(?:[a-z0-9_-]+:)?[A-Za-z0-9._-]+@[A-Za-z0-9._-]+$`.
//! Addresses are case-insensitive, so the canonical form is lower case.

use std::fmt;
use std::str::FromStr;

/// ISO 20022 carries a proxy in at most 2,048 characters.
pub const MAX_ADDRESS_LEN: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("the financial address is empty")]
    Empty,
    #[error("the financial address {0:?} has no \"@provider\"")]
    NoProvider(String),
    #[error("the financial address {0:?} has more than one \"@\"")]
    SeveralAts(String),
    #[error("the financial address {0:?} has an empty {1}")]
    EmptyPart(String, &'static str),
    #[error("the {part} of the financial address {address:?} may not contain {found:?}")]
    InvalidCharacter {
        address: String,
        part: &'static str,
        found: char,
    },
    #[error("the financial address is longer than {MAX_ADDRESS_LEN} characters")]
    TooLong,
}

/// A parsed financial address, in lower case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FinancialAddress {
    id_type: Option<String>,
    id: String,
    provider: String,
}

impl FinancialAddress {
    /// Parses `id-type:id@provider` (the id type may be left out); case is ignored.
    pub fn parse(text: &str) -> Result<Self, AddressError> {
        if text.is_empty() {
            return Err(AddressError::Empty);
        }
        if text.len() > MAX_ADDRESS_LEN {
            return Err(AddressError::TooLong);
        }
        let lower = text.to_ascii_lowercase();
        let (account, provider) = lower
            .split_once('@')
            .ok_or_else(|| AddressError::NoProvider(text.into()))?;
        if provider.contains('@') {
            return Err(AddressError::SeveralAts(text.into()));
        }
        let (id_type, id) = match account.split_once(':') {
            Some((t, id)) => (Some(t), id),
            None => (None, account),
        };
        let check = |value: &str, part: &'static str, allowed: fn(char) -> bool| {
            if value.is_empty() {
                return Err(AddressError::EmptyPart(text.into(), part));
            }
            match value.chars().find(|&c| !allowed(c)) {
                Some(found) => Err(AddressError::InvalidCharacter {
                    address: text.into(),
                    part,
                    found,
                }),
                None => Ok(()),
            }
        };
        if let Some(t) = id_type {
            check(t, "id type", |c| c.is_ascii_alphanumeric() || c == '_' || c == '-')?;
        }
        let id_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        check(id, "id", id_char)?;
        check(provider, "provider", id_char)?;
        Ok(FinancialAddress {
            id_type: id_type.map(str::to_string),
            id: id.to_string(),
            provider: provider.to_string(),
        })
    }

    /// Builds the address of `id` of type `id_type` at `provider`, checked as if parsed.
    pub fn new(id_type: Option<&str>, id: &str, provider: &str) -> Result<Self, AddressError> {
        let text = match id_type {
            Some(t) => format!("{t}:{id}@{provider}"),
            None => format!("{id}@{provider}"),
        };
        let address = Self::parse(&text)?;
        // A `:` or `@` inside a part would have parsed as another split.
        if address.id_type.as_deref() != id_type.map(str::to_ascii_lowercase).as_deref() {
            return Err(AddressError::InvalidCharacter {
                address: text,
                part: "id",
                found: ':',
            });
        }
        Ok(address)
    }

    /// `token`, `mobile`, `account`…, when the address names one.
    pub fn id_type(&self) -> Option<&str> {
        self.id_type.as_deref()
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn provider(&self) -> &str {
        &self.provider
    }
}

impl fmt::Display for FinancialAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(t) = &self.id_type {
            write!(f, "{t}:")?;
        }
        write!(f, "{}@{}", self.id, self.provider)
    }
}

impl FromStr for FinancialAddress {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_specifications_examples() {
        for example in [
            "token:12345@national-id",
            "uid:12345@national-id",
            "mobile:12345@mobile-pymt",
            "account:12345@abcd0000001.ifsc.pymt-rail",
            "joeuser@national-bank",
            "token:123456@a123",
            "voucher:12345@food.coupon-network",
            "token:12345@gtbank",
        ] {
            let a = FinancialAddress::parse(example).unwrap();
            assert_eq!(a.to_string(), example);
        }
        let a = FinancialAddress::parse("token:12345@gtbank").unwrap();
        assert_eq!((a.id_type(), a.id(), a.provider()), (Some("token"), "12345", "gtbank"));
        let a = FinancialAddress::parse("joeuser@national-bank").unwrap();
        assert_eq!(a.id_type(), None);
    }

    #[test]
    fn case_is_ignored() {
        let a = FinancialAddress::parse("Mobile:923001234567@JazzCash").unwrap();
        assert_eq!(a.to_string(), "mobile:923001234567@jazzcash");
        assert_eq!(a, FinancialAddress::parse("MOBILE:923001234567@jazzcash").unwrap());
    }

    #[test]
    fn bad_addresses_say_what_is_wrong() {
        use AddressError::*;
        let e = |s: &str| FinancialAddress::parse(s).unwrap_err();
        assert_eq!(e(""), Empty);
        assert_eq!(e("token:12345"), NoProvider("token:12345".into()));
        assert_eq!(e("a@b@c"), SeveralAts("a@b@c".into()));
        assert_eq!(e("token:@gtbank"), EmptyPart("token:@gtbank".into(), "id"));
        assert_eq!(e(":123@gtbank"), EmptyPart(":123@gtbank".into(), "id type"));
        assert_eq!(e("token:123@"), EmptyPart("token:123@".into(), "provider"));
        assert!(matches!(
            e("token:12 345@gtbank"),
            InvalidCharacter {
                part: "id",
                found: ' ',
                ..
            }
        ));
        assert!(matches!(
            e("to.ken:1@gtbank"),
            InvalidCharacter {
                part: "id type",
                found: '.',
                ..
            }
        ));
        assert!(matches!(
            e("token:1:2@gtbank"),
            InvalidCharacter {
                part: "id",
                found: ':',
                ..
            }
        ));
        assert!(matches!(
            e("token:1@gt:bank"),
            InvalidCharacter {
                part: "provider",
                found: ':',
                ..
            }
        ));
        assert!(matches!(
            e("token:١٢@gtbank"),
            InvalidCharacter {
                part: "id",
                found: '١',
                ..
            }
        ));
        assert_eq!(e(&format!("token:{}@x", "1".repeat(2048))), TooLong);
    }

    #[test]
    fn built_from_parts() {
        let a = FinancialAddress::new(Some("token"), "ID77", "bkash").unwrap();
        assert_eq!(a.to_string(), "token:id77@bkash");
        assert_eq!(FinancialAddress::new(None, "x", "y").unwrap().to_string(), "x@y");
        assert!(FinancialAddress::new(None, "a:b", "y").is_err());
        assert!(FinancialAddress::new(Some("t"), "a@b", "y").is_err());
    }

    proptest! {
        #[test]
        fn format_parses_back(t in proptest::option::of("[a-z0-9_-]{1,8}"), id in "[A-Za-z0-9._-]{1,20}", p in "[A-Za-z0-9._-]{1,20}") {
            let text = match &t { Some(t) => format!("{t}:{id}@{p}"), None => format!("{id}@{p}") };
            let a = FinancialAddress::parse(&text).unwrap();
            prop_assert_eq!(a.to_string(), text.to_ascii_lowercase());
            prop_assert_eq!(FinancialAddress::parse(&a.to_string()).unwrap(), a);
        }

        #[test]
        fn never_panics(s in any::<String>()) {
            let _ = FinancialAddress::parse(&s);
        }
    }
}
