//! ISO 20022 pain.002 (customer payment status report), read as a stream:
//! the group's status first, then each payment information block's, then
//! each transaction's, one at a time, whatever the file's size.
//!
//! Written for pain.002.001.10 (answering pain.001.001.09) and .03
//! (answering .03); other pain.002.001 versions share the elements read here
//! and are read the same way.

use std::io::BufRead;

use crate::amount::DecimalAmount;
use crate::status::{Outcome, PaymentStatus, Position, ReadError, ReportedAmount, pain002_outcome};
use crate::xml_read::{Step, XmlCursor};

const NAMESPACE: &str = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.";

/// The status of the whole pain.001 message the report answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupStatus {
    pub original_message_id: String,
    /// `pain.001.001.09`…
    pub original_message_name: String,
    /// `ACCP`, `PART`, `RJCT`…, when the report gives one for the whole message.
    pub status: Option<String>,
    pub reason: Option<String>,
    pub additional_info: Option<String>,
}

/// The status of one payment information block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockStatus {
    pub payment_information_id: String,
    pub status: Option<String>,
    pub reason: Option<String>,
    pub additional_info: Option<String>,
}

/// One thing a status report says, in file order: the group first, then
/// each block before its transactions. A rejected group or block may come
/// with no transactions at all: then its status is every payment's in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusItem {
    Group(GroupStatus),
    Block(BlockStatus),
    Payment(PaymentStatus),
}

/// The report's own header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportHeader {
    /// `pain.002.001.10`…
    pub message_name: String,
    pub message_id: String,
    pub created_at: String,
}

/// A reason as it accumulates: the first code, every additional info line.
#[derive(Default)]
struct Reason {
    code: Option<String>,
    info: Option<String>,
}

impl Reason {
    fn add_info(&mut self, line: &str) {
        match &mut self.info {
            Some(info) => {
                info.push(' ');
                info.push_str(line);
            }
            None => self.info = Some(line.to_string()),
        }
    }
}

#[derive(Default)]
struct Transaction {
    end_to_end_id: Option<String>,
    status: Option<String>,
    reason: Reason,
    amount: Option<ReportedAmount>,
    settlement_amount: Option<ReportedAmount>,
}

/// Reads a pain.002 status report from `input`. [`StatusReportReader::open`]
/// reads up to the end of the report's header; the reader then yields
/// [`StatusItem`]s.
pub struct StatusReportReader<R: BufRead> {
    xml: XmlCursor<R, T>,
    header: ReportHeader,
    original_message_id: Option<String>,
    original_message_name: Option<String>,
    group_status: Option<String>,
    group_reason: Reason,
    block_id: Option<String>,
    block_status: Option<String>,
    block_reason: Reason,
    block_announced: bool,
    tx: Transaction,
    done: bool,
}

/// The elements of a pain.002 this reader reads, by local name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum T {
    CstmrPmtStsRpt,
    GrpHdr,
    MsgId,
    CreDtTm,
    OrgnlGrpInfAndSts,
    OrgnlMsgId,
    OrgnlMsgNmId,
    GrpSts,
    StsRsnInf,
    Rsn,
    Cd,
    Prtry,
    AddtlInf,
    OrgnlPmtInfAndSts,
    OrgnlPmtInfId,
    PmtInfSts,
    TxInfAndSts,
    OrgnlEndToEndId,
    TxSts,
    OrgnlTxRef,
    Amt,
    InstdAmt,
    IntrBkSttlmAmt,
    /// Any element this reader does not read.
    Other,
}

fn tag_of(name: &str) -> T {
    match name {
        "CstmrPmtStsRpt" => T::CstmrPmtStsRpt,
        "GrpHdr" => T::GrpHdr,
        "MsgId" => T::MsgId,
        "CreDtTm" => T::CreDtTm,
        "OrgnlGrpInfAndSts" => T::OrgnlGrpInfAndSts,
        "OrgnlMsgId" => T::OrgnlMsgId,
        "OrgnlMsgNmId" => T::OrgnlMsgNmId,
        "GrpSts" => T::GrpSts,
        "StsRsnInf" => T::StsRsnInf,
        "Rsn" => T::Rsn,
        "Cd" => T::Cd,
        "Prtry" => T::Prtry,
        "AddtlInf" => T::AddtlInf,
        "OrgnlPmtInfAndSts" => T::OrgnlPmtInfAndSts,
        "OrgnlPmtInfId" => T::OrgnlPmtInfId,
        "PmtInfSts" => T::PmtInfSts,
        "TxInfAndSts" => T::TxInfAndSts,
        "OrgnlEndToEndId" => T::OrgnlEndToEndId,
        "TxSts" => T::TxSts,
        "OrgnlTxRef" => T::OrgnlTxRef,
        "Amt" => T::Amt,
        "InstdAmt" => T::InstdAmt,
        "IntrBkSttlmAmt" => T::IntrBkSttlmAmt,
        _ => T::Other,
    }
}

/// A status code (`ACSC`): 1 to 4 capitals or digits.
fn status_code(value: &str, element: &'static str, at: Position) -> Result<String, ReadError> {
    if value.is_empty() || value.len() > 4 || !value.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
        return Err(ReadError::Invalid {
            at,
            element,
            value: value.into(),
            reason: "is not a status code".into(),
        });
    }
    Ok(value.to_string())
}

/// An amount element's value with its `Ccy`.
pub(crate) fn reported_amount(
    value: &str,
    currency: Option<String>,
    element: &'static str,
    at: Position,
) -> Result<ReportedAmount, ReadError> {
    let invalid = |reason: String| ReadError::Invalid {
        at,
        element,
        value: value.into(),
        reason,
    };
    let amount = DecimalAmount::parse(value, '.').map_err(|e| invalid(e.to_string()))?;
    match currency {
        Some(c) if c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()) => Ok(ReportedAmount {
            value: amount,
            currency: Some(c),
        }),
        Some(c) => Err(invalid(format!("has Ccy {c:?}, not an ISO 4217 code"))),
        None => Err(invalid("has no Ccy".into())),
    }
}

fn non_empty(value: &str, element: &'static str, at: Position) -> Result<String, ReadError> {
    if value.is_empty() {
        return Err(ReadError::Invalid {
            at,
            element,
            value: value.into(),
            reason: "is empty".into(),
        });
    }
    Ok(value.to_string())
}

impl<R: BufRead> StatusReportReader<R> {
    /// Checks that `input` is a pain.002 and reads its group header.
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
                expected: "pain.002",
                found,
            });
        };
        let message_name = format!("pain.002.001.{version}");
        match xml.next(tag_of)? {
            Step::Start(T::CstmrPmtStsRpt) => {}
            _ => {
                return Err(ReadError::Missing {
                    at: xml.position(),
                    parent: "Document",
                    element: "CstmrPmtStsRpt",
                });
            }
        }
        let (mut message_id, mut created_at) = (None, None);
        match xml.next(tag_of)? {
            Step::Start(T::GrpHdr) => {}
            _ => {
                return Err(ReadError::Missing {
                    at: xml.position(),
                    parent: "CstmrPmtStsRpt",
                    element: "GrpHdr",
                });
            }
        }
        loop {
            match xml.next(tag_of)? {
                Step::End(T::GrpHdr) => break,
                Step::End(tag) if xml.path() == [T::CstmrPmtStsRpt, T::GrpHdr] => match tag {
                    T::MsgId => message_id = Some(xml.value().to_string()),
                    T::CreDtTm => created_at = Some(xml.value().to_string()),
                    _ => {}
                },
                Step::Eof => break,
                _ => {}
            }
        }
        let at = xml.position();
        let missing = |element| ReadError::Missing {
            at,
            parent: "GrpHdr",
            element,
        };
        let header = ReportHeader {
            message_name,
            message_id: message_id.ok_or_else(|| missing("MsgId"))?,
            created_at: created_at.ok_or_else(|| missing("CreDtTm"))?,
        };
        Ok(StatusReportReader {
            xml,
            header,
            original_message_id: None,
            original_message_name: None,
            group_status: None,
            group_reason: Reason::default(),
            block_id: None,
            block_status: None,
            block_reason: Reason::default(),
            block_announced: false,
            tx: Transaction::default(),
            done: false,
        })
    }

    pub fn header(&self) -> &ReportHeader {
        &self.header
    }

    fn step(&mut self) -> Result<Option<StatusItem>, ReadError> {
        loop {
            let step = self.xml.next(tag_of)?;
            let at = self.xml.position();
            match step {
                Step::Eof => {
                    if self.original_message_id.is_none() {
                        return Err(ReadError::Missing {
                            at,
                            parent: "CstmrPmtStsRpt",
                            element: "OrgnlGrpInfAndSts",
                        });
                    }
                    self.done = true;
                    return Ok(None);
                }
                Step::Start(tag) => match tag {
                    T::OrgnlPmtInfAndSts => {
                        if self.original_message_id.is_none() {
                            return Err(ReadError::Missing {
                                at,
                                parent: "CstmrPmtStsRpt",
                                element: "OrgnlGrpInfAndSts",
                            });
                        }
                        self.block_id = None;
                        self.block_status = None;
                        self.block_reason = Reason::default();
                        self.block_announced = false;
                    }
                    T::TxInfAndSts => {
                        self.tx = Transaction::default();
                        // The block's own status precedes its transactions.
                        if !self.block_announced {
                            self.block_announced = true;
                            return self.block_item(at).map(Some);
                        }
                    }
                    _ => {}
                },
                Step::End(tag) => {
                    // Only an amount has a currency, and it ends right after it starts.
                    let currency = self.xml.currency.take();
                    let value = self.xml.value();
                    let path = self.xml.path();
                    match (path, tag) {
                        ([.., T::OrgnlGrpInfAndSts], T::OrgnlMsgId) => {
                            self.original_message_id = Some(non_empty(value, "OrgnlMsgId", at)?);
                        }
                        ([.., T::OrgnlGrpInfAndSts], T::OrgnlMsgNmId) => {
                            self.original_message_name = Some(non_empty(value, "OrgnlMsgNmId", at)?);
                        }
                        ([.., T::OrgnlGrpInfAndSts], T::GrpSts) => {
                            self.group_status = Some(status_code(value, "GrpSts", at)?)
                        }
                        ([.., level, T::StsRsnInf, T::Rsn], T::Cd | T::Prtry)
                        | ([.., level, T::StsRsnInf], T::AddtlInf) => {
                            let reason = match *level {
                                T::OrgnlGrpInfAndSts => &mut self.group_reason,
                                T::OrgnlPmtInfAndSts => &mut self.block_reason,
                                T::TxInfAndSts => &mut self.tx.reason,
                                _ => continue,
                            };
                            if tag == T::AddtlInf {
                                reason.add_info(value);
                            } else if reason.code.is_none() && !value.is_empty() {
                                reason.code = Some(value.to_string());
                            }
                        }
                        ([.., T::OrgnlPmtInfAndSts], T::OrgnlPmtInfId) => {
                            self.block_id = Some(non_empty(value, "OrgnlPmtInfId", at)?);
                        }
                        ([.., T::OrgnlPmtInfAndSts], T::PmtInfSts) => {
                            self.block_status = Some(status_code(value, "PmtInfSts", at)?);
                        }
                        ([.., T::TxInfAndSts], T::OrgnlEndToEndId) => {
                            self.tx.end_to_end_id = Some(non_empty(value, "OrgnlEndToEndId", at)?);
                        }
                        ([.., T::TxInfAndSts], T::TxSts) => self.tx.status = Some(status_code(value, "TxSts", at)?),
                        ([.., T::OrgnlTxRef, T::Amt], T::InstdAmt) => {
                            self.tx.amount = Some(reported_amount(value, currency, "InstdAmt", at)?);
                        }
                        ([.., T::OrgnlTxRef], T::IntrBkSttlmAmt) => {
                            self.tx.settlement_amount = Some(reported_amount(value, currency, "IntrBkSttlmAmt", at)?);
                        }
                        ([.., T::CstmrPmtStsRpt], T::OrgnlGrpInfAndSts) => {
                            let missing = |element| ReadError::Missing {
                                at,
                                parent: "OrgnlGrpInfAndSts",
                                element,
                            };
                            let original_message_id =
                                self.original_message_id.clone().ok_or_else(|| missing("OrgnlMsgId"))?;
                            let original_message_name = self
                                .original_message_name
                                .clone()
                                .ok_or_else(|| missing("OrgnlMsgNmId"))?;
                            let reason = std::mem::take(&mut self.group_reason);
                            return Ok(Some(StatusItem::Group(GroupStatus {
                                original_message_id,
                                original_message_name,
                                status: self.group_status.clone(),
                                reason: reason.code,
                                additional_info: reason.info,
                            })));
                        }
                        ([.., T::CstmrPmtStsRpt], T::OrgnlPmtInfAndSts) if !self.block_announced => {
                            self.block_announced = true;
                            return self.block_item(at).map(Some);
                        }
                        ([.., T::OrgnlPmtInfAndSts], T::TxInfAndSts) => return self.payment_item(at).map(Some),
                        _ => {}
                    }
                }
            }
        }
    }

    fn block_item(&mut self, at: Position) -> Result<StatusItem, ReadError> {
        let Some(id) = self.block_id.clone() else {
            return Err(ReadError::Missing {
                at,
                parent: "OrgnlPmtInfAndSts",
                element: "OrgnlPmtInfId",
            });
        };
        Ok(StatusItem::Block(BlockStatus {
            payment_information_id: id,
            status: self.block_status.clone(),
            reason: self.block_reason.code.clone(),
            additional_info: self.block_reason.info.clone(),
        }))
    }

    fn payment_item(&mut self, at: Position) -> Result<StatusItem, ReadError> {
        let tx = std::mem::take(&mut self.tx);
        let Some(end_to_end_id) = tx.end_to_end_id else {
            return Err(ReadError::Missing {
                at,
                parent: "TxInfAndSts",
                element: "OrgnlEndToEndId",
            });
        };
        // A transaction without a status of its own has its block's, or the group's.
        let inherited = self.block_status.as_ref().or(self.group_status.as_ref());
        let Some(status) = tx.status.or_else(|| inherited.cloned()) else {
            return Err(ReadError::Missing {
                at,
                parent: "TxInfAndSts",
                element: "TxSts",
            });
        };
        let outcome: Outcome = pain002_outcome(&status);
        Ok(StatusItem::Payment(PaymentStatus {
            end_to_end_id,
            original_message_id: self.original_message_id.clone(),
            payment_information_id: self.block_id.clone(),
            outcome,
            status,
            reason: tx.reason.code,
            additional_info: tx.reason.info,
            amount: tx.amount.or(tx.settlement_amount),
            position: at,
        }))
    }
}

impl<R: BufRead> Iterator for StatusReportReader<R> {
    type Item = Result<StatusItem, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(item)) => Some(Ok(item)),
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
    use proptest::prelude::*;

    fn read(xml: &str) -> Result<(ReportHeader, Vec<StatusItem>), ReadError> {
        let reader = StatusReportReader::open(xml.as_bytes())?;
        let header = reader.header().clone();
        let items = reader.collect::<Result<Vec<_>, _>>()?;
        Ok((header, items))
    }

    fn payments(items: &[StatusItem]) -> Vec<&PaymentStatus> {
        items
            .iter()
            .filter_map(|i| if let StatusItem::Payment(p) = i { Some(p) } else { None })
            .collect()
    }

    fn amount(value: &str, currency: &str) -> Option<ReportedAmount> {
        Some(ReportedAmount {
            value: DecimalAmount::parse(value, '.').unwrap(),
            currency: Some(currency.into()),
        })
    }

    #[test]
    fn reads_a_pain002_10() {
        let (header, items) = read(include_str!("../tests/files/pain002-10.xml")).unwrap();
        assert_eq!(
            header,
            ReportHeader {
                message_name: "pain.002.001.10".into(),
                message_id: "SCBL-STS-20260702-0001".into(),
                created_at: "2026-07-02T10:15:00+05:00".into(),
            }
        );
        assert_eq!(
            items[0],
            StatusItem::Group(GroupStatus {
                original_message_id: "PK-KAFALAT-2026Q3-JAZZ-1".into(),
                original_message_name: "pain.001.001.09".into(),
                status: Some("PART".into()),
                reason: Some("NARR".into()),
                additional_info: Some("Some payments were rejected".into()),
            })
        );
        assert_eq!(
            items[1],
            StatusItem::Block(BlockStatus {
                payment_information_id: "PI-1".into(),
                status: Some("PART".into()),
                reason: None,
                additional_info: None,
            })
        );
        let p = payments(&items);
        assert_eq!(p.len(), 3);
        assert_eq!(
            p[0],
            &PaymentStatus {
                end_to_end_id: "ENT-00000001".into(),
                original_message_id: Some("PK-KAFALAT-2026Q3-JAZZ-1".into()),
                payment_information_id: Some("PI-1".into()),
                outcome: Outcome::Paid,
                status: "ACSC".into(),
                reason: None,
                additional_info: None,
                amount: amount("10000.00", "PKR"),
                position: Position {
                    line: 29,
                    byte: p[0].position.byte
                },
            }
        );
        assert_eq!(
            (p[1].outcome, p[1].status.as_str(), p[1].reason.as_deref()),
            (Outcome::Failed, "RJCT", Some("AC04"))
        );
        // Entities resolved, lines joined; the charges' amount is not the payment's.
        assert_eq!(p[1].additional_info.as_deref(), Some("Wallet closed & not reopened"));
        assert_eq!(p[1].amount, amount("10000.50", "PKR"));
        assert_eq!((p[2].outcome, p[2].amount.as_ref()), (Outcome::Pending, None));
        assert_eq!(items.len(), 5);
    }

    #[test]
    fn reads_a_pain002_03_with_prefixes_and_inherited_statuses() {
        let (header, items) = read(include_str!("../tests/files/pain002-03.xml")).unwrap();
        assert_eq!(header.message_name, "pain.002.001.03");
        assert!(matches!(&items[0], StatusItem::Group(g) if g.status.as_deref() == Some("ACCP")));
        let p = payments(&items);
        // No TxSts: the block's ACSC.
        assert_eq!(
            (p[0].end_to_end_id.as_str(), p[0].status.as_str(), p[0].outcome),
            ("ENT-1", "ACSC", Outcome::Paid)
        );
        assert_eq!((p[1].reason.as_deref(), p[1].outcome), (Some("AC01"), Outcome::Failed));
        assert_eq!(p[1].amount.as_ref().unwrap().value.to_minor(3), Ok(1_250_000));
        // A rejected block without transactions: its status stands for all of them.
        assert_eq!(
            items.last().unwrap(),
            &StatusItem::Block(BlockStatus {
                payment_information_id: "PI-OTHER".into(),
                status: Some("RJCT".into()),
                reason: Some("AM04".into()),
                additional_info: Some("Insufficient funds in the debtor account".into()),
            })
        );
        assert_eq!(items.len(), 5);
    }

    const HEAD: &str = r#"<?xml version="1.0"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.10">
<CstmrPmtStsRpt><GrpHdr><MsgId>R1</MsgId><CreDtTm>2026-07-02T10:15:00Z</CreDtTm></GrpHdr>
<OrgnlGrpInfAndSts><OrgnlMsgId>M1</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId></OrgnlGrpInfAndSts>
<OrgnlPmtInfAndSts><OrgnlPmtInfId>PI-1</OrgnlPmtInfId>
"#;
    const TAIL: &str = "</OrgnlPmtInfAndSts></CstmrPmtStsRpt></Document>";

    fn with_tx(tx: &str) -> String {
        format!("{HEAD}{tx}\n{TAIL}")
    }

    #[test]
    fn a_well_formed_minimal_report_reads() {
        let (_, items) = read(&with_tx(
            "<TxInfAndSts><OrgnlEndToEndId>E1</OrgnlEndToEndId><TxSts>ACCC</TxSts></TxInfAndSts>",
        ))
        .unwrap();
        assert_eq!(payments(&items)[0].outcome, Outcome::Paid);
        assert_eq!(payments(&items)[0].position.line, 6);
    }

    #[test]
    fn bad_content_is_refused_with_the_element_and_line() {
        let err = |tx: &str| read(&with_tx(tx)).unwrap_err();
        match err("<TxInfAndSts>\n<TxSts>ACSC</TxSts>\n</TxInfAndSts>") {
            ReadError::Missing {
                at,
                parent: "TxInfAndSts",
                element: "OrgnlEndToEndId",
            } => assert_eq!(at.line, 8),
            e => panic!("{e}"),
        }
        assert!(matches!(
            err("<TxInfAndSts><OrgnlEndToEndId>E1</OrgnlEndToEndId></TxInfAndSts>"),
            ReadError::Missing { element: "TxSts", .. }
        ));
        assert!(matches!(
            err("<TxInfAndSts><OrgnlEndToEndId>E1</OrgnlEndToEndId><TxSts>accepted</TxSts></TxInfAndSts>"),
            ReadError::Invalid { element: "TxSts", .. }
        ));
        assert!(matches!(
            err("<TxInfAndSts><OrgnlEndToEndId> </OrgnlEndToEndId><TxSts>ACSC</TxSts></TxInfAndSts>"),
            ReadError::Invalid {
                element: "OrgnlEndToEndId",
                ..
            }
        ));
        let with_amount = |amt: &str| {
            err(&format!(
                "<TxInfAndSts><OrgnlEndToEndId>E1</OrgnlEndToEndId><TxSts>ACSC</TxSts><OrgnlTxRef><Amt>{amt}</Amt></OrgnlTxRef></TxInfAndSts>"
            ))
        };
        assert!(matches!(
            with_amount(r#"<InstdAmt Ccy="PKR">12,50</InstdAmt>"#),
            ReadError::Invalid {
                element: "InstdAmt",
                ..
            }
        ));
        assert!(matches!(
            with_amount(r#"<InstdAmt>12.50</InstdAmt>"#),
            ReadError::Invalid {
                element: "InstdAmt",
                ..
            }
        ));
        assert!(matches!(
            with_amount(r#"<InstdAmt Ccy="rupees">12.50</InstdAmt>"#),
            ReadError::Invalid {
                element: "InstdAmt",
                ..
            }
        ));
        let e = err("<TxInfAndSts><OrgnlEndToEndId>E&foo;1</OrgnlEndToEndId></TxInfAndSts>");
        assert!(
            matches!(&e, ReadError::Xml { message, .. } if message.contains("&foo;")),
            "{e}"
        );
        match err("<TxInfAndSts>\n<OrgnlEndToEndId>E1</TxSts>\n</TxInfAndSts>") {
            ReadError::Xml { at, .. } => assert_eq!(at.line, 7),
            e => panic!("{e}"),
        }
        // No group information at all.
        let no_group = HEAD.replace(
            "<OrgnlGrpInfAndSts><OrgnlMsgId>M1</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId></OrgnlGrpInfAndSts>",
            "",
        );
        let e = read(&format!("{no_group}{TAIL}")).unwrap_err();
        assert!(
            matches!(
                e,
                ReadError::Missing {
                    element: "OrgnlGrpInfAndSts",
                    ..
                }
            ),
            "{e}"
        );
        let e = read(&HEAD.replace("<MsgId>R1</MsgId>", "")).unwrap_err();
        assert!(
            matches!(
                e,
                ReadError::Missing {
                    parent: "GrpHdr",
                    element: "MsgId",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn foreign_and_broken_files_are_refused() {
        let err = |text: &str| read(text).unwrap_err();
        assert!(matches!(err(""), ReadError::NotIso20022 { .. }));
        assert!(matches!(
            err("end_to_end_id,status\nE1,ACSC\n"),
            ReadError::NotIso20022 { .. }
        ));
        let e = err("<html><body>Service unavailable</body></html>");
        assert_eq!(
            e.to_string(),
            "line 1 (byte 45): not an ISO 20022 message: no <Document> element (the root is <html>)"
        );
        let pain001 =
            r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"><CstmrCdtTrfInitn/></Document>"#;
        assert!(
            matches!(err(pain001), ReadError::WrongMessage { expected: "pain.002", found, .. } if found.ends_with("pain.001.001.09"))
        );
        let camt = include_str!("../tests/files/camt054-08.xml");
        assert!(matches!(err(camt), ReadError::WrongMessage { .. }));
        assert!(
            matches!(err("<Document><CstmrPmtStsRpt/></Document>"), ReadError::WrongMessage { found, .. } if found.contains("no namespace"))
        );
        let wrong_root =
            r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"><CstmrCdtTrfInitn/></Document>"#;
        assert!(matches!(
            err(wrong_root),
            ReadError::Missing {
                element: "CstmrPmtStsRpt",
                ..
            }
        ));
        let full = include_str!("../tests/files/pain002-10.xml");
        let cut = &full[..full.find("<TxSts>RJCT").unwrap()];
        assert!(
            matches!(err(cut), ReadError::Truncated { .. } | ReadError::Xml { .. }),
            "{}",
            err(cut)
        );
        let bytes = b"<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.002.001.10\"><CstmrPmtStsRpt><GrpHdr><MsgId>\xff\xfe</MsgId>";
        let e = StatusReportReader::open(&bytes[..]).err().unwrap();
        assert!(matches!(e, ReadError::Xml { .. }), "{e}");
    }

    #[test]
    fn an_envelope_around_the_document_is_read_through() {
        let inner =
            include_str!("../tests/files/pain002-03.xml").replace(r#"<?xml version="1.0" encoding="UTF-8"?>"#, "");
        let wrapped = format!("<BizMsg><AppHdr><BizMsgIdr>X</BizMsgIdr></AppHdr>{inner}</BizMsg>");
        let (_, items) = read(&wrapped).unwrap();
        assert_eq!(items.len(), 5);
    }

    proptest! {
        #[test]
        fn never_panics_on_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            if let Ok(reader) = StatusReportReader::open(&bytes[..]) {
                for item in reader {
                    let _ = item;
                }
            }
        }

        #[test]
        fn never_panics_on_a_cut_or_damaged_report(cut in 0usize..2500, at in 0usize..2500, byte in any::<u8>()) {
            let mut bytes = include_bytes!("../tests/files/pain002-10.xml").to_vec();
            let at = at % bytes.len();
            bytes[at] = byte;
            bytes.truncate(cut.min(bytes.len()));
            if let Ok(reader) = StatusReportReader::open(&bytes[..]) {
                // At most the five items of the file, and an error only last.
                let items: Vec<_> = reader.collect();
                prop_assert!(items.iter().filter(|i| i.is_ok()).count() <= 5);
                prop_assert!(items.iter().rev().skip(1).all(|i| i.is_ok()));
            }
        }
    }
}
