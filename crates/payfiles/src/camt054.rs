//! ISO 20022 camt.054 (bank to customer debit/credit notification), read as
//! a stream for reconciliation: a booked debit of the programme's account is
//! a payment made, a booked credit with return information (or a reversed
//! debit) a payment returned.
//!
//! Written for camt.054.001.08 and .02; other camt.054.001 versions share
//! the elements read here and are read the same way. A batch-booked block
//! is one entry with a transaction detail per payment; only details that
//! carry an end-to-end id can be matched, and entries and details that are
//! no payment of ours (incoming funds, fees) are counted in
//! [`NotificationReader::skipped`], not yielded.

use std::io::BufRead;

use crate::pain002::reported_amount;
use crate::status::{Outcome, PaymentStatus, Position, ReadError, ReportedAmount};
use crate::xml_read::{Step, XmlCursor};

const NAMESPACE: &str = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.";

/// The notification's own header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationHeader {
    /// `camt.054.001.08`…
    pub message_name: String,
    pub message_id: String,
    pub created_at: String,
}

#[derive(Default)]
struct Entry {
    amount: Option<ReportedAmount>,
    credit: Option<bool>,
    reversal: bool,
    status: Option<String>,
    details: u64,
}

#[derive(Default)]
struct Detail {
    message_id: Option<String>,
    payment_information_id: Option<String>,
    end_to_end_id: Option<String>,
    amount: Option<ReportedAmount>,
    instructed_amount: Option<ReportedAmount>,
    credit: Option<bool>,
    returned: bool,
    reason: Option<String>,
    info: Option<String>,
}

/// Reads a camt.054 notification from `input`; yields one [`PaymentStatus`]
/// per transaction detail that is a payment made or returned (or pending).
pub struct NotificationReader<R: BufRead> {
    xml: XmlCursor<R>,
    header: NotificationHeader,
    entry: Entry,
    detail: Detail,
    /// The last detail read, yielded when the next one or the entry's end
    /// comes: an entry's only detail may take the entry's amount.
    held: Option<PaymentStatus>,
    skipped: u64,
    done: bool,
}

fn tag_of(name: &str) -> &'static str {
    const TAGS: &[&str] = &[
        "BkToCstmrDbtCdtNtfctn",
        "GrpHdr",
        "MsgId",
        "CreDtTm",
        "Ntfctn",
        "Ntry",
        "Amt",
        "CdtDbtInd",
        "RvslInd",
        "Sts",
        "Cd",
        "Prtry",
        "NtryDtls",
        "TxDtls",
        "Refs",
        "PmtInfId",
        "EndToEndId",
        "AmtDtls",
        "InstdAmt",
        "TxAmt",
        "RtrInf",
        "Rsn",
        "AddtlInf",
    ];
    TAGS.iter().find(|t| **t == name).copied().unwrap_or("")
}

fn credit_debit(value: &str, at: Position) -> Result<bool, ReadError> {
    match value {
        "CRDT" => Ok(true),
        "DBIT" => Ok(false),
        _ => Err(ReadError::Invalid {
            at,
            element: "CdtDbtInd",
            value: value.into(),
            reason: "is neither CRDT nor DBIT".into(),
        }),
    }
}

impl<R: BufRead> NotificationReader<R> {
    /// Checks that `input` is a camt.054 and reads its group header.
    pub fn open(input: R) -> Result<Self, ReadError> {
        let mut xml = XmlCursor::new(input);
        let namespace = xml.open_document()?;
        let at = xml.position();
        let Some(version) = namespace.strip_prefix(NAMESPACE) else {
            let found = if namespace.is_empty() {
                "a document in no namespace".into()
            } else {
                namespace
            };
            return Err(ReadError::WrongMessage {
                at,
                expected: "camt.054",
                found,
            });
        };
        let message_name = format!("camt.054.001.{version}");
        if !matches!(xml.next(tag_of)?, Step::Start("BkToCstmrDbtCdtNtfctn")) {
            return Err(ReadError::Missing {
                at: xml.position(),
                parent: "Document",
                element: "BkToCstmrDbtCdtNtfctn",
            });
        }
        if !matches!(xml.next(tag_of)?, Step::Start("GrpHdr")) {
            return Err(ReadError::Missing {
                at: xml.position(),
                parent: "BkToCstmrDbtCdtNtfctn",
                element: "GrpHdr",
            });
        }
        let (mut message_id, mut created_at) = (None, None);
        loop {
            match xml.next(tag_of)? {
                Step::End("GrpHdr") | Step::Eof => break,
                Step::End(tag) if xml.path() == ["BkToCstmrDbtCdtNtfctn", "GrpHdr"] => match tag {
                    "MsgId" => message_id = Some(xml.value().to_string()),
                    "CreDtTm" => created_at = Some(xml.value().to_string()),
                    _ => {}
                },
                _ => {}
            }
        }
        let at = xml.position();
        let missing = |element| ReadError::Missing {
            at,
            parent: "GrpHdr",
            element,
        };
        let header = NotificationHeader {
            message_name,
            message_id: message_id.ok_or_else(|| missing("MsgId"))?,
            created_at: created_at.ok_or_else(|| missing("CreDtTm"))?,
        };
        Ok(NotificationReader {
            xml,
            header,
            entry: Entry::default(),
            detail: Detail::default(),
            held: None,
            skipped: 0,
            done: false,
        })
    }

    pub fn header(&self) -> &NotificationHeader {
        &self.header
    }

    /// How many entries and transaction details were passed over so far:
    /// credits that return nothing of ours, details without an end-to-end
    /// id, entries without details.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    fn step(&mut self) -> Result<Option<PaymentStatus>, ReadError> {
        loop {
            let step = self.xml.next(tag_of)?;
            let at = self.xml.position();
            match step {
                Step::Eof => {
                    self.done = true;
                    return Ok(None);
                }
                Step::Start("Ntry") => self.entry = Entry::default(),
                Step::Start("TxDtls") => self.detail = Detail::default(),
                Step::Start("RtrInf") => self.detail.returned = true,
                Step::Start(_) => {}
                Step::End(tag) => {
                    let currency = self.xml.currency.take();
                    let value = self.xml.value();
                    let path = self.xml.path();
                    let d = &mut self.detail;
                    match (path, tag) {
                        ([.., "Ntry"], "Amt") => self.entry.amount = Some(reported_amount(value, currency, "Amt", at)?),
                        ([.., "Ntry"], "CdtDbtInd") => self.entry.credit = Some(credit_debit(value, at)?),
                        ([.., "Ntry"], "RvslInd") => self.entry.reversal = value == "true" || value == "1",
                        // camt.054.001.02 gives the code as the text of Sts; .08 inside Cd or Prtry.
                        ([.., "Ntry"], "Sts") if !value.is_empty() => self.entry.status = Some(value.to_string()),
                        ([.., "Ntry", "Sts"], "Cd" | "Prtry") => self.entry.status = Some(value.to_string()),
                        ([.., "TxDtls", "Refs"], "MsgId") => d.message_id = Some(value.to_string()),
                        ([.., "TxDtls", "Refs"], "PmtInfId") => d.payment_information_id = Some(value.to_string()),
                        ([.., "TxDtls", "Refs"], "EndToEndId") => d.end_to_end_id = Some(value.to_string()),
                        ([.., "TxDtls"], "Amt") => d.amount = Some(reported_amount(value, currency, "Amt", at)?),
                        ([.., "TxDtls"], "CdtDbtInd") => d.credit = Some(credit_debit(value, at)?),
                        ([.., "TxDtls", "AmtDtls", "TxAmt"], "Amt") if d.amount.is_none() => {
                            d.amount = Some(reported_amount(value, currency, "Amt", at)?);
                        }
                        ([.., "TxDtls", "AmtDtls", "InstdAmt"], "Amt") => {
                            d.instructed_amount = Some(reported_amount(value, currency, "Amt", at)?);
                        }
                        ([.., "RtrInf", "Rsn"], "Cd" | "Prtry") if d.reason.is_none() => {
                            d.reason = Some(value.to_string())
                        }
                        ([.., "RtrInf"], "AddtlInf") => match &mut d.info {
                            Some(info) => {
                                info.push(' ');
                                info.push_str(value);
                            }
                            None => d.info = Some(value.to_string()),
                        },
                        ([.., "NtryDtls"], "TxDtls") => {
                            self.entry.details += 1;
                            let detail = std::mem::take(&mut self.detail);
                            match self.payment(detail, at)? {
                                Some(payment) => {
                                    if let Some(previous) = self.held.replace(payment) {
                                        return Ok(Some(previous));
                                    }
                                }
                                None => self.skipped += 1,
                            }
                        }
                        ([.., "Ntfctn"], "Ntry") => {
                            if self.entry.details == 0 {
                                self.skipped += 1;
                            }
                            if let Some(mut last) = self.held.take() {
                                if self.entry.details == 1 && last.amount.is_none() {
                                    last.amount = self.entry.amount.clone();
                                }
                                return Ok(Some(last));
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    /// The status of one transaction detail, or `None` when it is no payment of ours.
    fn payment(&self, d: Detail, at: Position) -> Result<Option<PaymentStatus>, ReadError> {
        let entry = &self.entry;
        let Some(status) = entry.status.clone() else {
            return Err(ReadError::Missing {
                at,
                parent: "Ntry",
                element: "Sts",
            });
        };
        let Some(credit) = d.credit.or(entry.credit) else {
            return Err(ReadError::Missing {
                at,
                parent: "Ntry",
                element: "CdtDbtInd",
            });
        };
        // Banks write NOTPROVIDED where the payer gave no end-to-end id.
        let Some(end_to_end_id) = d.end_to_end_id.filter(|id| !id.is_empty() && id != "NOTPROVIDED") else {
            return Ok(None);
        };
        let outcome = match (credit, d.returned || entry.reversal) {
            _ if status != "BOOK" => Outcome::Pending,
            (false, false) => Outcome::Paid,
            (true, true) => Outcome::Returned,
            // Money coming in that returns nothing, or a debit that undoes a credit.
            _ => return Ok(None),
        };
        Ok(Some(PaymentStatus {
            end_to_end_id,
            original_message_id: d.message_id,
            payment_information_id: d.payment_information_id,
            outcome,
            status,
            reason: d.reason,
            additional_info: d.info,
            amount: d.amount.or(d.instructed_amount),
            position: at,
        }))
    }
}

impl<R: BufRead> Iterator for NotificationReader<R> {
    type Item = Result<PaymentStatus, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(payment)) => Some(Ok(payment)),
            Ok(None) => None,
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
