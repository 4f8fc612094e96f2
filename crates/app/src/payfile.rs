//! The cycle's side of payment files: a batch written in its provider's
//! format (pain.001 or the provider's CSV), and a status file (pain.002,
//! camt.054 or the provider's CSV) read into lines to reconcile.

use std::io::BufRead;

use chrono::{DateTime, Utc};
use himaya_domain::config::{Deployment, PaymentProvider};
use himaya_domain::payment::{EntitlementStatus, FileFormat, end_to_end_id};
use himaya_payfiles::{
    Account, Agent, CreditTransfer, Currency, FinancialAddress, Outcome, Pain001Version, Pain001Writer, PaymentBlock,
    PaymentCsvLayout, PaymentCsvWriter, PaymentFile, PaymentStatus, ReadError, Scheme, StatusCsvLayout,
    StatusCsvReader, StatusItem, StatusReportReader,
};
use himaya_store::{BatchPayment, BatchRow, ReconciliationError};
use sha2::Digest;

use crate::AppError;

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(&sha2::Sha256::digest(bytes))
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Passes bytes on and hashes them on the way, so that a file's SHA-256 is
/// known when it is written, without holding it.
pub(crate) struct Hashing<'a> {
    inner: &'a mut (dyn std::io::Write + Send),
    hasher: sha2::Sha256,
}

impl<'a> Hashing<'a> {
    pub(crate) fn new(inner: &'a mut (dyn std::io::Write + Send)) -> Hashing<'a> {
        Hashing {
            inner,
            hasher: sha2::Sha256::new(),
        }
    }

    pub(crate) fn sha256(self) -> String {
        hex(&self.hasher.finalize())
    }
}

impl std::io::Write for Hashing<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn invalid_provider(provider: &PaymentProvider, what: impl std::fmt::Display) -> AppError {
    AppError::conflict(
        "provider-misconfigured",
        format!(
            "payment provider {} cannot be paid as configured: {what}",
            provider.code
        ),
    )
}

/// An account as the configuration writes it: an IBAN, or another id.
fn configured_account(text: &str) -> Account {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let looks_iban = compact.len() > 4
        && compact[..2].bytes().all(|b| b.is_ascii_uppercase())
        && compact[2..4].bytes().all(|b| b.is_ascii_digit());
    if looks_iban {
        Account::Iban(compact)
    } else {
        Account::Other {
            id: compact,
            scheme: None,
            issuer: None,
        }
    }
}

fn configured_agent(text: &str) -> Agent {
    let t = text.trim();
    let bic = (t.len() == 8 || t.len() == 11) && t.bytes().all(|b| b.is_ascii_alphanumeric());
    if bic {
        Agent::Bic(t.to_owned())
    } else {
        Agent::Other {
            id: t.to_owned(),
            scheme: None,
        }
    }
}

/// The payee's account as the file carries it: a financial address as a
/// proxy, an IBAN, an MSISDN, or another account number.
fn payee_account(p: &BatchPayment, provider: &PaymentProvider) -> Result<Account, AppError> {
    if provider.financial_address {
        let fa = FinancialAddress::parse(&p.payee_account).map_err(|e| invalid_provider(provider, e))?;
        return Ok(Account::Proxy(fa));
    }
    Ok(match p.account_kind.as_str() {
        "mobile_wallet" => Account::Other {
            id: p.payee_account.trim_start_matches('+').to_owned(),
            scheme: Some(Scheme::Proprietary("MSISDN".into())),
            issuer: Some(provider.code.clone()),
        },
        "bank_account" if !p.payee_account.contains(':') => Account::Iban(p.payee_account.clone()),
        _ => Account::Other {
            id: p.payee_account.replace(':', ""),
            scheme: None,
            issuer: Some(provider.code.clone()),
        },
    })
}

/// A batch's file being written in its provider's format, a page of
/// payments at a time, so that a batch of a million is never held whole.
/// The same batch always gives the same bytes.
pub(crate) struct BatchFileWriter<'w, 'o> {
    format: Format<'w, 'o>,
    provider: &'w PaymentProvider,
    agent: Option<Agent>,
    remittance: &'w str,
}

enum Format<'w, 'o> {
    // Boxed: the CSV writer is several times the size of the other.
    Csv(Box<PaymentCsvWriter<&'w mut Hashing<'o>>>),
    Pain001(Pain001Writer<&'w mut Hashing<'o>>),
}

/// What a batch's file says of itself before its first payment.
pub(crate) struct BatchFileHeader<'w> {
    pub provider: &'w PaymentProvider,
    pub batch: &'w BatchRow,
    pub currency: &'w str,
    pub exponent: u32,
    pub created_at: DateTime<Utc>,
    pub initiating_party: &'w str,
    pub remittance: &'w str,
}

impl<'w, 'o> BatchFileWriter<'w, 'o> {
    /// Starts the file, declaring the batch's recorded count and sum, which
    /// the payments written must then add up to.
    pub(crate) fn start(h: BatchFileHeader<'w>, out: &'w mut Hashing<'o>) -> Result<Self, AppError> {
        let provider = h.provider;
        let currency = Currency::new(h.currency, h.exponent).map_err(|e| invalid_provider(provider, e))?;
        let control_sum = u128::try_from(h.batch.amount)
            .map_err(|_| AppError::Internal(format!("batch {} records a negative amount", h.batch.id)))?;
        let block = PaymentBlock {
            payment_information_id: h.batch.message_id.clone(),
            debtor_name: provider.debtor.name.clone(),
            debtor_account: configured_account(&provider.debtor.account),
            debtor_agent: configured_agent(&provider.debtor.agent),
            execution_date: h.created_at.date_naive(),
            currency,
            category_purpose: Some("SSBE".into()),
            batch_booking: Some(true),
            charge_bearer: None,
            transactions: h.batch.payments.max(0) as u64,
            control_sum,
        };
        let version = match provider.file {
            FileFormat::Pain001V03 => Pain001Version::V03,
            _ => Pain001Version::V09,
        };
        let file = PaymentFile {
            version,
            message_id: h.batch.message_id.clone(),
            created_at: h.created_at,
            initiating_party: h.initiating_party.to_owned(),
            blocks: vec![block],
        };
        let refused = |e: himaya_payfiles::WriteError| invalid_provider(provider, e);
        let format = match provider.file {
            FileFormat::Csv => {
                let table = provider
                    .payment_file
                    .clone()
                    .ok_or_else(|| invalid_provider(provider, "no payment_file layout"))?;
                let layout: PaymentCsvLayout = table.try_into().map_err(|e| invalid_provider(provider, e))?;
                Format::Csv(Box::new(PaymentCsvWriter::start(out, &layout, file).map_err(refused)?))
            }
            FileFormat::Pain001V09 | FileFormat::Pain001V03 => {
                Format::Pain001(Pain001Writer::start(out, file).map_err(refused)?)
            }
        };
        Ok(BatchFileWriter {
            format,
            provider,
            agent: provider.agent.as_deref().map(configured_agent),
            remittance: h.remittance,
        })
    }

    pub(crate) fn add(&mut self, p: &BatchPayment) -> Result<(), AppError> {
        let transfer = CreditTransfer {
            end_to_end_id: end_to_end_id(
                uuid::Uuid::parse_str(&p.entitlement_id).map_err(|e| AppError::Internal(e.to_string()))?,
                p.attempt as u32,
            ),
            amount: p.amount,
            payee_name: p.payee_name.clone(),
            payee_account: payee_account(p, self.provider)?,
            payee_agent: self.agent.clone(),
            remittance: Some(self.remittance.to_owned()),
        };
        match &mut self.format {
            Format::Csv(w) => w.add(&transfer),
            Format::Pain001(w) => w.add(&transfer),
        }
        .map_err(|e| invalid_provider(self.provider, e))
    }

    /// Closes the file; returns how many payments it holds. Payments that
    /// do not add up to the batch's recorded totals are refused here.
    pub(crate) fn finish(self) -> Result<u64, AppError> {
        let totals = match self.format {
            Format::Csv(w) => w.finish().map(|(_, t)| t),
            Format::Pain001(w) => w.finish().map(|(_, t)| t),
        }
        .map_err(|e| AppError::Internal(format!("the batch's file was not completed: {e}")))?;
        Ok(totals.transactions)
    }
}

/// One line of a status file, as the cycle matches it.
pub(crate) struct StatusLine {
    pub line: u64,
    pub end_to_end_id: String,
    /// `None` while the provider has not decided.
    pub status: Option<EntitlementStatus>,
    pub provider_status: String,
    pub reason: Option<String>,
    pub amount: Option<i64>,
}

pub(crate) struct StatusFile {
    pub format: &'static str,
    /// How many payment lines the file has.
    pub lines: u64,
    /// The payment files it reports on (pain.001 message ids), when it says.
    pub message_ids: std::collections::BTreeSet<String>,
    pub errors: Vec<ReconciliationError>,
}

fn unreadable(e: ReadError) -> AppError {
    AppError::invalid("file", "file-unreadable", e.to_string())
}

/// Reads a status file — pain.002 or camt.054 by their XML, otherwise the
/// CSV layout of `provider` — handing each payment's line to `take` as it
/// is read, so that a million lines are never held twice.
pub(crate) fn read_statuses(
    bytes: &[u8],
    provider: Option<&str>,
    deployment: &Deployment,
    currency: &str,
    exponent: u32,
    mut take: impl FnMut(StatusLine),
) -> Result<StatusFile, AppError> {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]).to_string();
    let currency_of = Currency::new(currency, exponent).map_err(|e| AppError::Internal(e.to_string()))?;
    let mut file = StatusFile {
        format: "csv",
        lines: 0,
        message_ids: std::collections::BTreeSet::new(),
        errors: Vec::new(),
    };
    let mut push = |s: PaymentStatus, file: &mut StatusFile| {
        file.lines += 1;
        if let Some(m) = s.original_message_id
            && !file.message_ids.contains(&m)
        {
            file.message_ids.insert(m);
        }
        let amount = match &s.amount {
            None => None,
            Some(a) if a.currency.as_deref().is_some_and(|c| c != currency) => {
                file.errors.push(ReconciliationError {
                    line: s.position.line as i64,
                    end_to_end_id: Some(s.end_to_end_id.clone()),
                    code: "currency-mismatch".into(),
                    detail: format!(
                        "the line is in {}, the cycle pays in {currency}",
                        a.currency.clone().unwrap_or_default()
                    ),
                });
                return;
            }
            Some(a) => match a.value.to_minor(exponent) {
                Ok(m) => Some(m),
                Err(e) => {
                    file.errors.push(ReconciliationError {
                        line: s.position.line as i64,
                        end_to_end_id: Some(s.end_to_end_id.clone()),
                        code: "amount-invalid".into(),
                        detail: e.to_string(),
                    });
                    return;
                }
            },
        };
        take(StatusLine {
            line: s.position.line,
            end_to_end_id: s.end_to_end_id,
            status: match s.outcome {
                Outcome::Paid => Some(EntitlementStatus::Paid),
                Outcome::Failed => Some(EntitlementStatus::Failed),
                Outcome::Returned => Some(EntitlementStatus::Returned),
                Outcome::Pending => None,
            },
            provider_status: s.status,
            reason: s.reason,
            amount,
        });
    };
    let reader: &mut dyn BufRead = &mut &bytes[..];
    if head.contains("pain.002") {
        file.format = "pain.002";
        for item in StatusReportReader::open(reader).map_err(unreadable)? {
            if let StatusItem::Payment(p) = item.map_err(unreadable)? {
                push(p, &mut file);
            }
        }
    } else if head.contains("camt.054") {
        file.format = "camt.054";
        for p in himaya_payfiles::NotificationReader::open(reader).map_err(unreadable)? {
            push(p.map_err(unreadable)?, &mut file);
        }
    } else {
        let Some(code) = provider else {
            return Err(AppError::invalid(
                "provider",
                "required",
                "the file is neither pain.002 nor camt.054: name the provider whose CSV layout it follows",
            ));
        };
        let p = deployment.payment_provider(code).ok_or_else(|| {
            AppError::invalid(
                "provider",
                "provider-unknown",
                format!("{code:?} is not a payment provider of this deployment"),
            )
        })?;
        let table = p.status_file.clone().ok_or_else(|| {
            AppError::invalid(
                "provider",
                "no-status-layout",
                format!("{code} has no status_file layout in the configuration"),
            )
        })?;
        let layout: StatusCsvLayout = table.try_into().map_err(|e| invalid_provider(p, e))?;
        for s in StatusCsvReader::open(reader, &layout, &currency_of).map_err(unreadable)? {
            push(s.map_err(unreadable)?, &mut file);
        }
    }
    Ok(file)
}
