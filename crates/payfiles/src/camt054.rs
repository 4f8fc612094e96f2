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
    xml: XmlCursor<R, T>,
    header: NotificationHeader,
    entry: Entry,
    detail: Detail,
    /// The last detail read, yielded when the next one or the entry's end
    /// comes: an entry's only detail may take the entry's amount.
    held: Option<PaymentStatus>,
    skipped: u64,
    done: bool,
}

/// The elements of a camt.054 this reader reads, by local name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum T {
    BkToCstmrDbtCdtNtfctn,
    GrpHdr,
    MsgId,
    CreDtTm,
    Ntfctn,
    Ntry,
    Amt,
    CdtDbtInd,
    RvslInd,
    Sts,
    Cd,
    Prtry,
    NtryDtls,
    TxDtls,
    Refs,
    PmtInfId,
    EndToEndId,
    AmtDtls,
    InstdAmt,
    TxAmt,
    RtrInf,
    Rsn,
    AddtlInf,
    /// Any element this reader does not read.
    Other,
}

fn tag_of(name: &str) -> T {
    match name {
        "BkToCstmrDbtCdtNtfctn" => T::BkToCstmrDbtCdtNtfctn,
        "GrpHdr" => T::GrpHdr,
        "MsgId" => T::MsgId,
        "CreDtTm" => T::CreDtTm,
        "Ntfctn" => T::Ntfctn,
        "Ntry" => T::Ntry,
        "Amt" => T::Amt,
        "CdtDbtInd" => T::CdtDbtInd,
        "RvslInd" => T::RvslInd,
        "Sts" => T::Sts,
        "Cd" => T::Cd,
        "Prtry" => T::Prtry,
        "NtryDtls" => T::NtryDtls,
        "TxDtls" => T::TxDtls,
        "Refs" => T::Refs,
        "PmtInfId" => T::PmtInfId,
        "EndToEndId" => T::EndToEndId,
        "AmtDtls" => T::AmtDtls,
        "InstdAmt" => T::InstdAmt,
        "TxAmt" => T::TxAmt,
        "RtrInf" => T::RtrInf,
        "Rsn" => T::Rsn,
        "AddtlInf" => T::AddtlInf,
        _ => T::Other,
    }
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
        if !matches!(xml.next(tag_of)?, Step::Start(T::BkToCstmrDbtCdtNtfctn)) {
            return Err(ReadError::Missing {
                at: xml.position(),
                parent: "Document",
                element: "BkToCstmrDbtCdtNtfctn",
            });
        }
        if !matches!(xml.next(tag_of)?, Step::Start(T::GrpHdr)) {
            return Err(ReadError::Missing {
                at: xml.position(),
                parent: "BkToCstmrDbtCdtNtfctn",
                element: "GrpHdr",
            });
        }
        let (mut message_id, mut created_at) = (None, None);
        loop {
            match xml.next(tag_of)? {
                Step::End(T::GrpHdr) | Step::Eof => break,
                Step::End(tag) if xml.path() == [T::BkToCstmrDbtCdtNtfctn, T::GrpHdr] => match tag {
                    T::MsgId => message_id = Some(xml.value().to_string()),
                    T::CreDtTm => created_at = Some(xml.value().to_string()),
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
                Step::Start(T::Ntry) => self.entry = Entry::default(),
                Step::Start(T::TxDtls) => self.detail = Detail::default(),
                Step::Start(T::RtrInf) => self.detail.returned = true,
                Step::Start(_) => {}
                Step::End(tag) => {
                    let currency = self.xml.currency.take();
                    let value = self.xml.value();
                    let path = self.xml.path();
                    let d = &mut self.detail;
                    match (path, tag) {
                        ([.., T::Ntry], T::Amt) => {
                            self.entry.amount = Some(reported_amount(value, currency, "Amt", at)?)
                        }
                        ([.., T::Ntry], T::CdtDbtInd) => self.entry.credit = Some(credit_debit(value, at)?),
                        ([.., T::Ntry], T::RvslInd) => self.entry.reversal = value == "true" || value == "1",
                        // camt.054.001.02 gives the code as the text of Sts; .08 inside Cd or Prtry.
                        ([.., T::Ntry], T::Sts) if !value.is_empty() => self.entry.status = Some(value.to_string()),
                        ([.., T::Ntry, T::Sts], T::Cd | T::Prtry) => self.entry.status = Some(value.to_string()),
                        ([.., T::TxDtls, T::Refs], T::MsgId) => d.message_id = Some(value.to_string()),
                        ([.., T::TxDtls, T::Refs], T::PmtInfId) => d.payment_information_id = Some(value.to_string()),
                        ([.., T::TxDtls, T::Refs], T::EndToEndId) => d.end_to_end_id = Some(value.to_string()),
                        ([.., T::TxDtls], T::Amt) => d.amount = Some(reported_amount(value, currency, "Amt", at)?),
                        ([.., T::TxDtls], T::CdtDbtInd) => d.credit = Some(credit_debit(value, at)?),
                        ([.., T::TxDtls, T::AmtDtls, T::TxAmt], T::Amt) if d.amount.is_none() => {
                            d.amount = Some(reported_amount(value, currency, "Amt", at)?);
                        }
                        ([.., T::TxDtls, T::AmtDtls, T::InstdAmt], T::Amt) => {
                            d.instructed_amount = Some(reported_amount(value, currency, "Amt", at)?);
                        }
                        ([.., T::RtrInf, T::Rsn], T::Cd | T::Prtry) if d.reason.is_none() => {
                            d.reason = Some(value.to_string())
                        }
                        ([.., T::RtrInf], T::AddtlInf) => match &mut d.info {
                            Some(info) => {
                                info.push(' ');
                                info.push_str(value);
                            }
                            None => d.info = Some(value.to_string()),
                        },
                        ([.., T::NtryDtls], T::TxDtls) => {
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
                        ([.., T::Ntfctn], T::Ntry) => {
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
        // Whether the entry is ours is decided before its status: money coming in
        // that returns nothing, or a debit that undoes a credit, is none of our
        // payments even while it is still pending.
        let booked = match (credit, d.returned || entry.reversal) {
            (false, false) => Outcome::Paid,
            (true, true) => Outcome::Returned,
            _ => return Ok(None),
        };
        let outcome = if status == "BOOK" { booked } else { Outcome::Pending };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amount::DecimalAmount;
    use proptest::prelude::*;

    fn read(xml: &str) -> Result<(NotificationHeader, Vec<PaymentStatus>, u64), ReadError> {
        let mut reader = NotificationReader::open(xml.as_bytes())?;
        let header = reader.header().clone();
        let mut payments = Vec::new();
        for p in &mut reader {
            payments.push(p?);
        }
        Ok((header, payments, reader.skipped()))
    }

    fn minor(p: &PaymentStatus, exponent: u32) -> Option<i64> {
        p.amount.as_ref().map(|a| a.value.to_minor(exponent).unwrap())
    }

    #[test]
    fn reads_a_camt054_08() {
        let (header, p, skipped) = read(include_str!("../tests/files/camt054-08.xml")).unwrap();
        assert_eq!(
            header,
            NotificationHeader {
                message_name: "camt.054.001.08".into(),
                message_id: "CBJ-NTF-20260702".into(),
                created_at: "2026-07-02T20:00:00+03:00".into(),
            }
        );
        let summary: Vec<_> = p
            .iter()
            .map(|p| (p.end_to_end_id.as_str(), p.outcome, minor(p, 3)))
            .collect();
        assert_eq!(
            summary,
            [
                ("ENT-1", Outcome::Paid, Some(1_250_000)),
                // A batch's detail without an amount of its own: its instructed amount, never the batch's.
                ("ENT-3", Outcome::Paid, Some(50_000)),
                // The only detail of its entry: the entry's amount.
                ("ENT-2", Outcome::Returned, Some(1_250_000)),
                ("ENT-4", Outcome::Pending, Some(25_500)),
            ]
        );
        assert_eq!(p[0].original_message_id.as_deref(), Some("JO-NAF-2026-07-1"));
        assert_eq!(p[0].payment_information_id.as_deref(), Some("PI-IBAN"));
        assert_eq!(p[0].status, "BOOK");
        assert_eq!(p[0].amount.as_ref().unwrap().currency.as_deref(), Some("JOD"));
        assert_eq!(
            (p[2].reason.as_deref(), p[2].additional_info.as_deref()),
            (Some("AC04"), Some("Account closed"))
        );
        assert_eq!(p[3].status, "PDNG");
        // The treasury's funding and the fee.
        assert_eq!(skipped, 2);
    }

    #[test]
    fn reads_a_camt054_02() {
        let (header, p, skipped) = read(include_str!("../tests/files/camt054-02.xml")).unwrap();
        assert_eq!(header.message_name, "camt.054.001.02");
        let summary: Vec<_> = p
            .iter()
            .map(|p| (p.end_to_end_id.as_str(), p.outcome, minor(p, 2)))
            .collect();
        // A reversed debit is a return; NOTPROVIDED matches nothing.
        assert_eq!(
            summary,
            [
                ("BD-OA-0001", Outcome::Paid, Some(60_000)),
                ("BD-OA-0002", Outcome::Returned, Some(60_000))
            ]
        );
        assert_eq!(skipped, 1);
    }

    const HEAD: &str = r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"><BkToCstmrDbtCdtNtfctn>
<GrpHdr><MsgId>N1</MsgId><CreDtTm>2026-07-02T20:00:00Z</CreDtTm></GrpHdr>
<Ntfctn><Id>N1</Id><Acct><Id><IBAN>JO94CBJO0010000000000131000302</IBAN></Id></Acct>
"#;
    const TAIL: &str = "</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>";

    fn entry(inner: &str) -> String {
        format!("{HEAD}<Ntry>{inner}</Ntry>\n{TAIL}")
    }

    #[test]
    fn bad_entries_are_refused_with_the_element() {
        let details = "<NtryDtls><TxDtls><Refs><EndToEndId>E1</EndToEndId></Refs></TxDtls></NtryDtls>";
        let err = |inner: &str| read(&entry(inner)).unwrap_err();
        let e = err(&format!(
            r#"<Amt Ccy="JOD">1.000</Amt><CdtDbtInd>DBIT</CdtDbtInd>{details}"#
        ));
        assert!(
            matches!(
                e,
                ReadError::Missing {
                    parent: "Ntry",
                    element: "Sts",
                    ..
                }
            ),
            "{e}"
        );
        let e = err(&format!(
            r#"<Amt Ccy="JOD">1.000</Amt><CdtDbtInd>DEBIT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>{details}"#
        ));
        assert!(
            matches!(
                e,
                ReadError::Invalid {
                    element: "CdtDbtInd",
                    ..
                }
            ),
            "{e}"
        );
        let e = err(&format!(
            r#"<Amt Ccy="JOD">1.0.0</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>{details}"#
        ));
        assert!(matches!(e, ReadError::Invalid { element: "Amt", .. }), "{e}");
        let e = err(&format!(
            r#"<Amt Ccy="JOD">1.000</Amt><Sts><Cd>BOOK</Cd></Sts>{details}"#
        ));
        assert!(
            matches!(e, ReadError::Missing { element: "CdtDbtInd", at, .. } if at.line == 4),
            "{e}"
        );
        let ok = read(&entry(&format!(
            r#"<Amt Ccy="JOD">1.000</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>{details}"#
        )));
        assert_eq!(ok.unwrap().1[0].outcome, Outcome::Paid);
    }

    #[test]
    fn foreign_files_are_refused() {
        let err = |text: &str| read(text).unwrap_err();
        let pain002 = include_str!("../tests/files/pain002-10.xml");
        assert!(
            matches!(err(pain002), ReadError::WrongMessage { expected: "camt.054", found, .. } if found.ends_with("pain.002.001.10"))
        );
        let camt053 = r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt/></Document>"#;
        assert!(matches!(err(camt053), ReadError::WrongMessage { .. }));
        assert!(matches!(err("not xml at all"), ReadError::NotIso20022 { .. }));
        assert!(matches!(
            err(&HEAD[..HEAD.len() - 10]),
            ReadError::Truncated { .. } | ReadError::Xml { .. }
        ));
    }

    #[test]
    fn a_pending_credit_that_returns_nothing_is_none_of_ours() {
        let xml = entry(
            r#"<Amt Ccy="JOD">9.000</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>PDNG</Cd></Sts><NtryDtls>
<TxDtls><Refs><EndToEndId>MOF-FUNDING-7</EndToEndId></Refs></TxDtls></NtryDtls>"#,
        );
        let (_, p, skipped) = read(&xml).unwrap();
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(skipped, 1);
        let returned = entry(
            r#"<Amt Ccy="JOD">9.000</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>PDNG</Cd></Sts><NtryDtls>
<TxDtls><Refs><EndToEndId>ENT-9</EndToEndId></Refs><RtrInf><Rsn><Cd>AC04</Cd></Rsn></RtrInf></TxDtls></NtryDtls>"#,
        );
        assert_eq!(read(&returned).unwrap().1[0].outcome, Outcome::Pending);
    }

    #[test]
    fn the_amount_of_a_batch_is_never_a_payments() {
        let xml = entry(
            r#"<Amt Ccy="JOD">2.000</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><NtryDtls>
<TxDtls><Refs><EndToEndId>E1</EndToEndId></Refs></TxDtls><TxDtls><Refs><EndToEndId>E2</EndToEndId></Refs></TxDtls></NtryDtls>"#,
        );
        let (_, p, _) = read(&xml).unwrap();
        assert_eq!(p.len(), 2);
        assert!(p.iter().all(|p| p.amount.is_none()));
        assert_eq!(DecimalAmount::parse("2.000", '.').unwrap().to_minor(3), Ok(2000));
    }

    proptest! {
        #[test]
        fn never_panics_on_a_cut_or_damaged_notification(cut in 0usize..5000, at in 0usize..5000, byte in any::<u8>()) {
            let mut bytes = include_bytes!("../tests/files/camt054-08.xml").to_vec();
            let at = at % bytes.len();
            bytes[at] = byte;
            bytes.truncate(cut.min(bytes.len()));
            if let Ok(reader) = NotificationReader::open(&bytes[..]) {
                let items: Vec<_> = reader.collect();
                prop_assert!(items.iter().filter(|i| i.is_ok()).count() <= 4);
                prop_assert!(items.iter().rev().skip(1).all(|i| i.is_ok()));
            }
        }
    }
}
