//! What a payment file's writer checks before a byte of a payment is
//! written: ids, account numbers, bank codes, and the declared totals.

use crate::amount::{self, MAX_TOTAL_DIGITS};
use crate::pain001::{Account, Agent, CreditTransfer, PaymentBlock, PaymentFile, Scheme};
use crate::text::is_swift_char;

/// Why a payment file could not be written. Messages name ids and codes but
/// never a payee's name or account, so they are safe to log.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// A header fact or a payment the file cannot carry; nothing of it was written.
    #[error("{at}: {field} {reason}")]
    Invalid {
        at: String,
        field: &'static str,
        reason: String,
    },
    #[error("payment information {block}: {declared} transactions declared, {written} written")]
    TransactionCount { block: String, declared: u64, written: u64 },
    #[error("payment information {block}: control sum {declared} declared, {written} written")]
    ControlSum {
        block: String,
        declared: String,
        written: String,
    },
    #[error("the file declares no payment information block")]
    NoBlocks,
    #[error("there is no payment information block after {0}")]
    NoMoreBlocks(String),
    #[error("an earlier write failed; the file is incomplete")]
    Broken,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl WriteError {
    pub(crate) fn invalid(at: impl Into<String>, field: &'static str, reason: impl Into<String>) -> Self {
        WriteError::Invalid {
            at: at.into(),
            field,
            reason: reason.into(),
        }
    }
}

/// An identifier the file carries and a status report will echo back:
/// 1 to `max` characters of the SWIFT Latin set, with no space at either
/// end, no `/` at either end and no `//` (as the common usage guidelines
/// ask of references). Ids are refused, never cleaned: a changed id would
/// not match its status report.
pub(crate) fn id(value: &str, max: usize) -> Result<(), String> {
    if value.is_empty() {
        return Err("is empty".into());
    }
    if value.chars().count() > max {
        return Err(format!("is longer than {max} characters"));
    }
    if let Some(c) = value.chars().find(|&c| !is_swift_char(c)) {
        return Err(format!("contains {c:?}, outside the SWIFT Latin character set"));
    }
    if value.starts_with(' ') || value.ends_with(' ') {
        return Err("starts or ends with a space".into());
    }
    if value.starts_with('/') || value.ends_with('/') || value.contains("//") {
        return Err("starts or ends with \"/\" or contains \"//\"".into());
    }
    Ok(())
}

/// A code from an ISO 20022 external code set (`SSBE`, `BBAN`, `PKRTGS`…):
/// 1 to `max` letters and digits.
pub(crate) fn code(value: &str, max: usize) -> Result<(), String> {
    if value.is_empty() || value.len() > max || !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!("{value:?} is not a code of 1 to {max} letters and digits"));
    }
    Ok(())
}

/// An IBAN as ISO 13616 writes it electronically: capitals and digits, no
/// spaces, country code, check digits, and a remainder of 1 modulo 97.
pub(crate) fn iban(value: &str) -> Result<(), String> {
    let b = value.as_bytes();
    let shape = (5..=34).contains(&b.len())
        && b[..2].iter().all(u8::is_ascii_uppercase)
        && b[2..4].iter().all(u8::is_ascii_digit)
        && b[4..].iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if !shape {
        return Err("is not an IBAN (country code, two check digits, up to 30 capitals and digits)".into());
    }
    // Move the first four characters to the end, letters become 10..35.
    let mut rest: u32 = 0;
    for &c in b[4..].iter().chain(&b[..4]) {
        rest = if c.is_ascii_digit() {
            (rest * 10 + u32::from(c - b'0')) % 97
        } else {
            (rest * 100 + u32::from(c - b'A' + 10)) % 97
        };
    }
    if rest != 1 {
        return Err("fails the IBAN check digits".into());
    }
    Ok(())
}

/// A BIC (ISO 9362): 8 or 11 capitals and digits, the 5th and 6th a country.
/// pain.001.001.03's older pattern also wants letters for the first six.
pub(crate) fn bic(value: &str, letters_first: bool) -> Result<(), String> {
    let b = value.as_bytes();
    let alnum = |c: &u8| c.is_ascii_uppercase() || c.is_ascii_digit();
    let ok = (b.len() == 8 || b.len() == 11)
        && b.iter().all(alnum)
        && b[4..6].iter().all(u8::is_ascii_uppercase)
        && (!letters_first || b[..4].iter().all(u8::is_ascii_uppercase));
    if !ok {
        return Err(format!("{value:?} is not a BIC"));
    }
    Ok(())
}

/// An amount or control sum of at most 18 digits at `exponent`.
pub(crate) fn digits(minor: u128) -> Result<(), String> {
    if amount::digit_count(minor) > MAX_TOTAL_DIGITS {
        return Err(format!("has more than {MAX_TOTAL_DIGITS} digits"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(id("BEN-000001-C06", 35).is_ok());
        assert!(id("a/b", 35).is_ok());
        assert_eq!(id("", 35).unwrap_err(), "is empty");
        assert!(id(&"x".repeat(36), 35).unwrap_err().contains("longer than 35"));
        assert!(id("E2E_1", 35).unwrap_err().contains("'_'"));
        assert!(id("E2E 1 ", 35).unwrap_err().contains("space"));
        assert!(id("/E2E", 35).is_err());
        assert!(id("E2E/", 35).is_err());
        assert!(id("E2//E", 35).is_err());
    }

    #[test]
    fn ibans() {
        assert!(iban("PK36SCBL0000001123456702").is_ok());
        assert!(iban("JO94CBJO0010000000000131000302").is_ok());
        assert!(iban("PS92PALS000000000400123456702").is_ok());
        assert!(iban("GB82WEST12345698765432").is_ok());
        assert_eq!(
            iban("GB82WEST12345698765433").unwrap_err(),
            "fails the IBAN check digits"
        );
        assert!(iban("gb82WEST12345698765432").is_err());
        assert!(iban("GB82 WEST 1234 5698 7654 32").is_err());
        assert!(iban("GB8").is_err());
        assert!(iban("").is_err());
    }

    #[test]
    fn bics_and_codes() {
        assert!(bic("SCBLPKKX", true).is_ok());
        assert!(bic("SCBLPKKXXXX", true).is_ok());
        assert!(bic("1234PKKX", false).is_ok());
        assert!(bic("1234PKKX", true).is_err());
        assert!(bic("SCBLPKK", false).is_err());
        assert!(bic("scblpkkx", false).is_err());
        assert!(bic("SCBL12KX", false).is_err());
        assert!(code("SSBE", 4).is_ok());
        assert!(code("SSBEX", 4).is_err());
        assert!(code("", 4).is_err());
        assert!(code("SS-B", 4).is_err());
        assert!(digits(999_999_999_999_999_999).is_ok());
        assert!(digits(1_000_000_000_000_000_000).is_err());
    }
}

/// Counts what a writer wrote into each declared block, and refuses to go
/// past a block's declared number of transactions or to close it with
/// other totals than declared.
#[derive(Default)]
pub(crate) struct Tally {
    /// The block being written.
    pub block: usize,
    in_block: u64,
    sum_in_block: u128,
    pub written: u64,
}

impl Tally {
    /// Refuses one more payment than `block` declares.
    pub fn admit(&self, block: &PaymentBlock) -> Result<(), WriteError> {
        if self.in_block == block.transactions {
            return Err(WriteError::TransactionCount {
                block: block.payment_information_id.clone(),
                declared: block.transactions,
                written: block.transactions + 1,
            });
        }
        Ok(())
    }

    pub fn record(&mut self, amount: u128) {
        self.in_block += 1;
        self.sum_in_block += amount;
        self.written += 1;
    }

    /// Checks that `block` was written as declared.
    pub fn check_block(&self, block: &PaymentBlock) -> Result<(), WriteError> {
        if self.in_block != block.transactions {
            return Err(WriteError::TransactionCount {
                block: block.payment_information_id.clone(),
                declared: block.transactions,
                written: self.in_block,
            });
        }
        if self.sum_in_block != block.control_sum {
            let exponent = block.currency.exponent();
            return Err(WriteError::ControlSum {
                block: block.payment_information_id.clone(),
                declared: amount::format_decimal(block.control_sum, exponent),
                written: amount::format_decimal(self.sum_in_block, exponent),
            });
        }
        Ok(())
    }

    /// Checks the current block and moves to the next.
    pub fn next_block(&mut self, blocks: &[PaymentBlock]) -> Result<(), WriteError> {
        if self.block + 1 >= blocks.len() {
            return Err(WriteError::NoMoreBlocks(
                blocks[self.block].payment_information_id.clone(),
            ));
        }
        self.check_block(&blocks[self.block])?;
        self.block += 1;
        self.in_block = 0;
        self.sum_in_block = 0;
        Ok(())
    }

    /// Checks the last block, and that no declared block was left unwritten.
    pub fn finish(&self, blocks: &[PaymentBlock]) -> Result<(), WriteError> {
        self.check_block(&blocks[self.block])?;
        if let Some(unwritten) = blocks.get(self.block + 1) {
            return Err(WriteError::TransactionCount {
                block: unwritten.payment_information_id.clone(),
                declared: unwritten.transactions,
                written: 0,
            });
        }
        Ok(())
    }
}

/// Checks the facts of a file that every layout needs: ids, blocks and their
/// declared totals. Gives the group's control sum.
pub(crate) fn file(file: &PaymentFile) -> Result<String, WriteError> {
    id(&file.message_id, 35).map_err(|r| WriteError::invalid("the file", "message_id", r))?;
    if file.blocks.is_empty() {
        return Err(WriteError::NoBlocks);
    }
    for (i, block) in file.blocks.iter().enumerate() {
        let at = format!("payment information {:?}", block.payment_information_id);
        let invalid = |field, reason| WriteError::invalid(at.clone(), field, reason);
        id(&block.payment_information_id, 35).map_err(|r| invalid("payment_information_id", r))?;
        if file.blocks[..i]
            .iter()
            .any(|b| b.payment_information_id == block.payment_information_id)
        {
            return Err(invalid("payment_information_id", "is used by an earlier block".into()));
        }
        if block.transactions == 0 {
            return Err(invalid(
                "transactions",
                "is zero: a block holds at least one payment".into(),
            ));
        }
        if block.transactions > 999_999_999_999_999 {
            return Err(invalid("transactions", "has more than 15 digits".into()));
        }
        digits(block.control_sum).map_err(|r| invalid("control_sum", r))?;
    }
    if file.blocks.iter().map(|b| b.transactions).sum::<u64>() > 999_999_999_999_999 {
        return Err(WriteError::invalid(
            "the file",
            "transactions",
            "of all blocks have more than 15 digits",
        ));
    }
    let sum = group_control_sum(&file.blocks);
    if sum.bytes().filter(u8::is_ascii_digit).count() > MAX_TOTAL_DIGITS as usize {
        return Err(WriteError::invalid(
            "the file",
            "control_sum",
            "of all blocks has more than 18 digits",
        ));
    }
    Ok(sum)
}

/// Every block's control sum, at the largest exponent among them.
pub(crate) fn group_control_sum(blocks: &[PaymentBlock]) -> String {
    let exponent = blocks.iter().map(|b| b.currency.exponent()).max().unwrap_or(0);
    let sum: u128 = blocks
        .iter()
        .map(|b| b.control_sum * 10u128.pow(exponent - b.currency.exponent()))
        .sum();
    amount::format_decimal(sum, exponent)
}

/// Checks what every layout needs of a payment: its end-to-end id, its
/// amount (more than zero, at most 18 digits), the payee's account and agent.
/// Gives the amount.
pub(crate) fn transfer(t: &CreditTransfer, letters_first_bic: bool) -> Result<u128, WriteError> {
    let at = || format!("end-to-end id {:?}", t.end_to_end_id);
    id(&t.end_to_end_id, 35).map_err(|r| WriteError::invalid(at(), "end_to_end_id", r))?;
    if t.amount <= 0 {
        return Err(WriteError::invalid(at(), "amount", "is not more than zero"));
    }
    let minor = t.amount as u128;
    digits(minor).map_err(|r| WriteError::invalid(at(), "amount", r))?;
    account(&t.payee_account).map_err(|r| WriteError::invalid(at(), "payee_account", r))?;
    if let Some(a) = &t.payee_agent {
        agent(a, letters_first_bic).map_err(|r| WriteError::invalid(at(), "payee_agent", r))?;
    }
    Ok(minor)
}

fn scheme(scheme: &Scheme, code_max: usize) -> Result<(), String> {
    match scheme {
        Scheme::Code(c) => code(c, code_max).map_err(|r| format!("scheme {r}")),
        Scheme::Proprietary(p) => id(p, 35).map_err(|r| format!("scheme {p:?} {r}")),
    }
}

/// `GenericAccountIdentification1/Id` is `Max34Text`.
pub(crate) const MAX_ACCOUNT_ID: usize = 34;

pub(crate) fn account(account: &Account) -> Result<(), String> {
    match account {
        Account::Iban(value) => iban(value),
        Account::Other {
            id: value,
            scheme: s,
            issuer,
        } => {
            id(value, MAX_ACCOUNT_ID).map_err(|r| format!("id {r}"))?;
            if let Some(s) = s {
                scheme(s, 4)?;
            }
            if let Some(i) = issuer {
                id(i, 35).map_err(|r| format!("issuer {r}"))?;
            }
            Ok(())
        }
        Account::Proxy(address) => {
            if address.id().len() > MAX_ACCOUNT_ID {
                return Err(format!(
                    "financial address id is longer than {MAX_ACCOUNT_ID} characters"
                ));
            }
            if address.provider().len() > 35 || address.id_type().is_some_and(|t| t.len() > 35) {
                return Err("financial address provider or id type is longer than 35 characters".into());
            }
            Ok(())
        }
    }
}

pub(crate) fn agent(agent: &Agent, letters_first_bic: bool) -> Result<(), String> {
    match agent {
        Agent::Bic(value) => bic(value, letters_first_bic),
        Agent::ClearingMember { system, member_id } => {
            if let Some(s) = system {
                scheme(s, 5)?;
            }
            id(member_id, 35).map_err(|r| format!("member id {r}"))
        }
        Agent::Other { id: value, scheme: s } => {
            id(value, 35).map_err(|r| format!("id {r}"))?;
            s.as_ref().map_or(Ok(()), |s| scheme(s, 4))
        }
    }
}
