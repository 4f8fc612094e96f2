//! Financial accounts that payments reach a person through: a mobile wallet
//! (an E.164 number at a provider), a bank account (an IBAN with its mod-97
//! check where the country uses IBAN — Pakistan, Jordan, Palestine — or a
//! bank routing number and account number in Bangladesh), or an agent
//! banking account; and the G2P Connect financial address that stands for
//! one in payment files.

use serde::{Deserialize, Serialize};

use crate::digits::to_ascii_digits;
use crate::error::Problem;
use crate::payment::ProviderKind;
use crate::phone::Phone;
use crate::vocab::{Country, vocabulary};

vocabulary!(
    AccountKind { MobileWallet = "mobile_wallet", BankAccount = "bank_account", AgentBanking = "agent_banking" }
);

impl AccountKind {
    /// The providers that serve accounts of this kind.
    pub fn provider_kind(self) -> ProviderKind {
        match self {
            AccountKind::MobileWallet => ProviderKind::MobileWallet,
            AccountKind::BankAccount => ProviderKind::Bank,
            AccountKind::AgentBanking => ProviderKind::AgentBanking,
        }
    }

    /// The kind of account a provider of this kind holds.
    pub fn of_provider(kind: ProviderKind) -> AccountKind {
        match kind {
            ProviderKind::MobileWallet => AccountKind::MobileWallet,
            ProviderKind::Bank => AccountKind::BankAccount,
            ProviderKind::AgentBanking => AccountKind::AgentBanking,
        }
    }
}

/// Whether the country's bank accounts are given by IBAN (otherwise by the
/// bank's routing number and the account number).
pub fn uses_iban(country: Country) -> bool {
    iban_length(country).is_some()
}

/// An account as entered: every field raw, so that each wrong one is named.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountDraft {
    pub kind: Option<String>,
    pub provider: Option<String>,
    /// A mobile wallet's number, in any form and digits a phone takes.
    pub msisdn: Option<String>,
    pub iban: Option<String>,
    /// Bangladesh: the bank's 9-digit routing number.
    pub bank_code: Option<String>,
    pub account_number: Option<String>,
    #[serde(default)]
    pub primary: bool,
    #[serde(default)]
    pub verified: bool,
}

/// A checked account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRecord {
    pub kind: AccountKind,
    pub provider: String,
    /// The account at its provider: an E.164 number, an IBAN, or
    /// `ROUTING:ACCOUNT` in Bangladesh, or an agent banking account number.
    pub number: String,
    pub primary: bool,
    pub verified: bool,
}

/// What a payment provider the deployment pays through is called and serves.
pub struct ProviderRef<'a> {
    pub code: &'a str,
    pub kind: ProviderKind,
}

/// The IBAN length of the countries that use IBANs.
fn iban_length(country: Country) -> Option<usize> {
    match country {
        Country::Pk => Some(24),
        Country::Jo => Some(30),
        Country::Ps => Some(29),
        Country::Bd => None,
    }
}

/// An IBAN's canonical form (capitals, no spaces), if its country, length
/// and mod-97 check digits are right; the reason otherwise.
pub fn check_iban(raw: &str, country: Country) -> Result<String, String> {
    let folded = to_ascii_digits(raw);
    let iban: String = folded
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let Some(length) = iban_length(country) else {
        return Err(format!(
            "{} does not use IBANs: give the bank code and account number",
            country.alpha2()
        ));
    };
    if !iban.starts_with(country.alpha2()) {
        return Err(format!("an IBAN here starts with {}", country.alpha2()));
    }
    if !iban.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err("an IBAN has only letters and digits".into());
    }
    if iban.len() != length {
        return Err(format!(
            "an IBAN of {} has {length} characters, not {}",
            country.alpha2(),
            iban.len()
        ));
    }
    // Move the country and check digits to the end, letters to 10..35, mod 97.
    let rearranged = iban[4..].chars().chain(iban[..4].chars());
    let mut rest = 0u32;
    for c in rearranged {
        let value = c.to_digit(36).unwrap_or(0);
        rest = if value >= 10 {
            (rest * 100 + value) % 97
        } else {
            (rest * 10 + value) % 97
        };
    }
    if rest != 1 {
        return Err("the IBAN's check digits are wrong: a mistyped character".into());
    }
    Ok(iban)
}

fn digits_only(raw: &str) -> Option<String> {
    let folded = to_ascii_digits(raw.trim());
    let digits: String = folded.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

impl AccountDraft {
    /// Checks the account against the deployment's country and payment providers.
    pub fn check(&self, country: Country, providers: &[ProviderRef<'_>]) -> Result<AccountRecord, Problem> {
        let mut problem = Problem::default();
        let kind = match self.kind.as_deref() {
            None => {
                problem.push("kind", "required", "the kind of account is required");
                None
            }
            Some(k) => AccountKind::from_code(k).or_else(|| {
                problem.push(
                    "kind",
                    "not-allowed",
                    format!("{k:?} is not a kind of account: one of {}", AccountKind::codes()),
                );
                None
            }),
        };
        let provider = match self.provider.as_deref() {
            None => {
                problem.push("provider", "required", "the payment provider is required");
                None
            }
            Some(p) => match providers.iter().find(|x| x.code == p) {
                None => {
                    let known: Vec<&str> = providers.iter().map(|x| x.code).collect();
                    problem.push(
                        "provider",
                        "provider-unknown",
                        format!(
                            "{p:?} is not a payment provider of this deployment: one of {}",
                            known.join(", ")
                        ),
                    );
                    None
                }
                Some(x) => {
                    if let Some(k) = kind
                        && k.provider_kind() != x.kind
                    {
                        problem.push(
                            "provider",
                            "provider-kind",
                            format!("{p} pays to {} accounts, not {}", x.kind, k),
                        );
                    }
                    Some(x.code.to_owned())
                }
            },
        };
        let unwanted = |problem: &mut Problem, field: &str, value: &Option<String>, kind: AccountKind| {
            if value.is_some() {
                problem.push(field, "not-allowed", format!("a {kind} account has no {field}"));
            }
        };
        let number = match kind {
            None => None,
            Some(AccountKind::MobileWallet) => {
                unwanted(&mut problem, "iban", &self.iban, AccountKind::MobileWallet);
                unwanted(&mut problem, "bank_code", &self.bank_code, AccountKind::MobileWallet);
                unwanted(
                    &mut problem,
                    "account_number",
                    &self.account_number,
                    AccountKind::MobileWallet,
                );
                match self.msisdn.as_deref() {
                    None => {
                        problem.push("msisdn", "required", "a mobile wallet needs its phone number");
                        None
                    }
                    Some(raw) => match Phone::parse(raw, country) {
                        Ok(p) => Some(p.as_str().to_owned()),
                        Err(e) => {
                            problem.push("msisdn", e.code(), e.to_string());
                            None
                        }
                    },
                }
            }
            Some(AccountKind::BankAccount) => {
                unwanted(&mut problem, "msisdn", &self.msisdn, AccountKind::BankAccount);
                if iban_length(country).is_some() {
                    unwanted(&mut problem, "bank_code", &self.bank_code, AccountKind::BankAccount);
                    unwanted(
                        &mut problem,
                        "account_number",
                        &self.account_number,
                        AccountKind::BankAccount,
                    );
                    match self.iban.as_deref() {
                        None => {
                            problem.push("iban", "required", "a bank account here is given by its IBAN");
                            None
                        }
                        Some(raw) => match check_iban(raw, country) {
                            Ok(iban) => Some(iban),
                            Err(reason) => {
                                problem.push("iban", "iban-invalid", reason);
                                None
                            }
                        },
                    }
                } else {
                    unwanted(&mut problem, "iban", &self.iban, AccountKind::BankAccount);
                    let code = match self.bank_code.as_deref().map(digits_only) {
                        None => {
                            problem.push("bank_code", "required", "the bank's routing number is required");
                            None
                        }
                        Some(Some(c)) if c.len() == 9 => Some(c),
                        Some(_) => {
                            problem.push("bank_code", "bank-code-invalid", "a routing number has 9 digits");
                            None
                        }
                    };
                    let account = match self.account_number.as_deref().map(digits_only) {
                        None => {
                            problem.push("account_number", "required", "the account number is required");
                            None
                        }
                        Some(Some(a)) if (10..=17).contains(&a.len()) => Some(a),
                        Some(_) => {
                            problem.push(
                                "account_number",
                                "account-number-invalid",
                                "an account number has 10 to 17 digits",
                            );
                            None
                        }
                    };
                    code.zip(account).map(|(c, a)| format!("{c}:{a}"))
                }
            }
            Some(AccountKind::AgentBanking) => {
                unwanted(&mut problem, "msisdn", &self.msisdn, AccountKind::AgentBanking);
                unwanted(&mut problem, "iban", &self.iban, AccountKind::AgentBanking);
                unwanted(&mut problem, "bank_code", &self.bank_code, AccountKind::AgentBanking);
                match self.account_number.as_deref().map(digits_only) {
                    None => {
                        problem.push(
                            "account_number",
                            "required",
                            "the agent banking account number is required",
                        );
                        None
                    }
                    Some(Some(a)) if (6..=20).contains(&a.len()) => Some(a),
                    Some(_) => {
                        problem.push(
                            "account_number",
                            "account-number-invalid",
                            "an agent banking account number has 6 to 20 digits",
                        );
                        None
                    }
                }
            }
        };
        match (kind, provider, number) {
            (Some(kind), Some(provider), Some(number)) if problem.is_empty() => Ok(AccountRecord {
                kind,
                provider,
                number,
                primary: self.primary,
                verified: self.verified,
            }),
            _ => Err(problem),
        }
    }
}

/// The G2P Connect financial address of an account: `token:TOKEN@provider`,
/// where the token stands for the account at its provider (which keeps the
/// mapping), so that files need not carry the account itself.
pub fn financial_address(token: &str, provider: &str) -> String {
    format!("token:{token}@{provider}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn providers() -> Vec<ProviderRef<'static>> {
        vec![
            ProviderRef {
                code: "jazzcash",
                kind: ProviderKind::MobileWallet,
            },
            ProviderRef {
                code: "hbl",
                kind: ProviderKind::Bank,
            },
        ]
    }

    fn fields(p: Problem) -> Vec<String> {
        p.errors
            .into_iter()
            .map(|e| format!("{}={}", e.field, e.code))
            .collect()
    }

    #[test]
    fn ibans_are_checked_by_country_length_and_mod_97() {
        // Valid examples in each country's format.
        assert_eq!(
            check_iban("pk36 scbl 0000 0011 2345 6702", Country::Pk).unwrap(),
            "PK36SCBL0000001123456702"
        );
        assert!(check_iban("JO94CBJO0010000000000131000302", Country::Jo).is_ok());
        assert!(check_iban("PS92PALS000000000400123456702", Country::Ps).is_ok());
        assert!(
            check_iban("PK36SCBL0000001123456703", Country::Pk)
                .unwrap_err()
                .contains("check digits")
        );
        assert!(
            check_iban("PK36SCBL00000011234567", Country::Pk)
                .unwrap_err()
                .contains("24 characters")
        );
        assert!(
            check_iban("JO94CBJO0010000000000131000302", Country::Pk)
                .unwrap_err()
                .contains("starts with PK")
        );
        assert!(
            check_iban("BD00", Country::Bd)
                .unwrap_err()
                .contains("does not use IBANs")
        );
    }

    #[test]
    fn an_account_is_checked_field_by_field() {
        let wallet = AccountDraft {
            kind: Some("mobile_wallet".into()),
            provider: Some("jazzcash".into()),
            msisdn: Some("۰۳۰۰ ۱۲۳۴۵۶۷".into()),
            primary: true,
            ..Default::default()
        };
        let a = wallet.check(Country::Pk, &providers()).unwrap();
        assert_eq!(a.number, "+923001234567");
        let bank = AccountDraft {
            kind: Some("bank_account".into()),
            provider: Some("jazzcash".into()),
            iban: Some("PK36SCBL0000001123456703".into()),
            msisdn: Some("0300 1234567".into()),
            ..Default::default()
        };
        assert_eq!(
            fields(bank.check(Country::Pk, &providers()).unwrap_err()),
            ["provider=provider-kind", "msisdn=not-allowed", "iban=iban-invalid"]
        );
        let bd = AccountDraft {
            kind: Some("bank_account".into()),
            provider: Some("hbl".into()),
            bank_code: Some("১২৩৪৫৬৭৮৯".into()),
            account_number: Some("1234567890123".into()),
            ..Default::default()
        };
        assert_eq!(
            bd.check(Country::Bd, &providers()).unwrap().number,
            "123456789:1234567890123"
        );
        let nothing = AccountDraft::default();
        assert_eq!(
            fields(nothing.check(Country::Pk, &providers()).unwrap_err()),
            ["kind=required", "provider=required"]
        );
    }

    #[test]
    fn a_financial_address_names_the_token_and_the_provider() {
        assert_eq!(financial_address("k3x9", "jazzcash"), "token:k3x9@jazzcash");
    }
}
