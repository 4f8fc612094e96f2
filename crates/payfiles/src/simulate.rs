//! The files a bank or provider sends back, written as one would: a pain.002
//! status report and a camt.054 notification for payments we name. For
//! tests, demos and benchmarks of reconciliation; both validate against
//! their XSDs. Streaming, like the pain.001 writer.

use std::io::{self, Write};

use chrono::{DateTime, NaiveDate, Utc};

use crate::amount::{Currency, write_decimal};

/// Which pain.002 to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pain002Version {
    /// pain.002.001.10, answering pain.001.001.09.
    V10,
    /// pain.002.001.03, answering pain.001.001.03 (whose `TxSts` is a closed
    /// list: ACTC, RJCT, PDNG, ACCP, ACSP, ACSC, ACWC).
    V03,
}

/// Which camt.054 to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Camt054Version {
    V08,
    V02,
}

/// One payment's line in a status report.
#[derive(Debug, Clone, Copy)]
pub struct ReportedPayment<'a> {
    pub end_to_end_id: &'a str,
    /// `ACSC`, `RJCT`…
    pub status: &'a str,
    /// `AC01`…; only for rejections.
    pub reason: Option<&'a str>,
    /// In minor units of the report's currency, if the report gives amounts.
    pub amount: Option<u128>,
}

/// What the report answers.
#[derive(Debug, Clone)]
pub struct ReportFacts<'a> {
    pub message_id: &'a str,
    pub created_at: DateTime<Utc>,
    pub original_message_id: &'a str,
    /// `pain.001.001.09`…
    pub original_message_name: &'a str,
    pub payment_information_id: &'a str,
    pub currency: &'a Currency,
}

fn text(b: &mut String, element: &str, value: &str) {
    b.push('<');
    b.push_str(element);
    b.push('>');
    for c in value.chars() {
        match c {
            '&' => b.push_str("&amp;"),
            '<' => b.push_str("&lt;"),
            '>' => b.push_str("&gt;"),
            _ => b.push(c),
        }
    }
    b.push_str("</");
    b.push_str(element);
    b.push('>');
}

fn amount(b: &mut String, element: &str, minor: u128, currency: &Currency) {
    b.push('<');
    b.push_str(element);
    b.push_str(" Ccy=\"");
    b.push_str(currency.code());
    b.push_str("\">");
    write_decimal(b, minor, currency.exponent(), '.');
    b.push_str("</");
    b.push_str(element);
    b.push('>');
}

fn flush_if_full<W: Write>(out: &mut W, b: &mut String) -> io::Result<()> {
    if b.len() >= 256 * 1024 {
        out.write_all(b.as_bytes())?;
        b.clear();
    }
    Ok(())
}

/// Writes a pain.002 reporting `payments`, all in one payment information
/// block, with a group status of `ACSC`, `RJCT` or `PART` as they turn out.
/// The group status is known only at the end, so it is given by the caller:
/// `group_status`.
pub fn write_status_report<'a, W: Write>(
    mut out: W,
    version: Pain002Version,
    facts: &ReportFacts<'_>,
    group_status: Option<&str>,
    payments: impl IntoIterator<Item = ReportedPayment<'a>>,
) -> io::Result<W> {
    let name = match version {
        Pain002Version::V10 => "pain.002.001.10",
        Pain002Version::V03 => "pain.002.001.03",
    };
    let mut b = String::with_capacity(300 * 1024);
    b.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:");
    b.push_str(name);
    b.push_str("\">\n<CstmrPmtStsRpt>\n<GrpHdr>");
    text(&mut b, "MsgId", facts.message_id);
    text(
        &mut b,
        "CreDtTm",
        &facts.created_at.format("%Y-%m-%dT%H:%M:%S%:z").to_string(),
    );
    b.push_str("</GrpHdr>\n<OrgnlGrpInfAndSts>");
    text(&mut b, "OrgnlMsgId", facts.original_message_id);
    text(&mut b, "OrgnlMsgNmId", facts.original_message_name);
    if let Some(s) = group_status {
        text(&mut b, "GrpSts", s);
    }
    b.push_str("</OrgnlGrpInfAndSts>\n<OrgnlPmtInfAndSts>");
    text(&mut b, "OrgnlPmtInfId", facts.payment_information_id);
    b.push('\n');
    for p in payments {
        b.push_str("<TxInfAndSts>");
        text(&mut b, "OrgnlEndToEndId", p.end_to_end_id);
        text(&mut b, "TxSts", p.status);
        if let Some(r) = p.reason {
            b.push_str("<StsRsnInf><Rsn>");
            text(&mut b, "Cd", r);
            b.push_str("</Rsn></StsRsnInf>");
        }
        if let Some(minor) = p.amount {
            b.push_str("<OrgnlTxRef><Amt>");
            amount(&mut b, "InstdAmt", minor, facts.currency);
            b.push_str("</Amt></OrgnlTxRef>");
        }
        b.push_str("</TxInfAndSts>\n");
        flush_if_full(&mut out, &mut b)?;
    }
    b.push_str("</OrgnlPmtInfAndSts>\n</CstmrPmtStsRpt>\n</Document>\n");
    out.write_all(b.as_bytes())?;
    out.flush()?;
    Ok(out)
}

/// One payment as a bank books it on the programme's account.
#[derive(Debug, Clone, Copy)]
pub struct NotifiedPayment<'a> {
    pub end_to_end_id: &'a str,
    pub amount: u128,
    /// `Some(reason)` for a payment returned to the account (`AC04`…): a
    /// credit with return information; `None` for a payment made: a debit.
    pub returned: Option<&'a str>,
}

/// What the notification is about.
#[derive(Debug, Clone)]
pub struct NotificationFacts<'a> {
    pub message_id: &'a str,
    pub created_at: DateTime<Utc>,
    pub booking_date: NaiveDate,
    /// The programme's account, an IBAN.
    pub account_iban: &'a str,
    pub currency: &'a Currency,
    pub original_message_id: &'a str,
    pub payment_information_id: &'a str,
}

/// Writes a camt.054 as a bank books a batch: one debit entry for the
/// payments made, with a transaction detail for each, then a credit entry
/// with return information for each payment returned. `payments` is gone
/// through three times (the sum, the debits, the returns).
pub fn write_notification<'a, W, I>(
    mut out: W,
    version: Camt054Version,
    facts: &NotificationFacts<'_>,
    payments: I,
) -> io::Result<W>
where
    W: Write,
    I: IntoIterator<Item = NotifiedPayment<'a>> + Clone,
{
    let name = match version {
        Camt054Version::V08 => "camt.054.001.08",
        Camt054Version::V02 => "camt.054.001.02",
    };
    let created = facts.created_at.format("%Y-%m-%dT%H:%M:%S%:z").to_string();
    let mut b = String::with_capacity(300 * 1024);
    b.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:");
    b.push_str(name);
    b.push_str("\">\n<BkToCstmrDbtCdtNtfctn>\n<GrpHdr>");
    text(&mut b, "MsgId", facts.message_id);
    text(&mut b, "CreDtTm", &created);
    b.push_str("</GrpHdr>\n<Ntfctn>");
    text(&mut b, "Id", facts.message_id);
    text(&mut b, "CreDtTm", &created);
    b.push_str("<Acct><Id>");
    text(&mut b, "IBAN", facts.account_iban);
    b.push_str("</Id></Acct>\n");
    let paid = || payments.clone().into_iter().filter(|p| p.returned.is_none());
    let (count, total) = paid().fold((0u64, 0u128), |(n, sum), p| (n + 1, sum + p.amount));
    if count > 0 {
        entry_head(&mut b, version, facts, total, "DBIT", "ESCT");
        b.push_str("<NtryDtls><Btch>");
        text(&mut b, "PmtInfId", facts.payment_information_id);
        text(&mut b, "NbOfTxs", &count.to_string());
        b.push_str("</Btch>\n");
        for p in paid() {
            detail(&mut b, version, facts, &p, "DBIT");
            flush_if_full(&mut out, &mut b)?;
        }
        b.push_str("</NtryDtls></Ntry>\n");
    }
    for p in payments.into_iter().filter(|p| p.returned.is_some()) {
        entry_head(&mut b, version, facts, p.amount, "CRDT", "RRTN");
        b.push_str("<NtryDtls>");
        detail(&mut b, version, facts, &p, "CRDT");
        b.push_str("</NtryDtls></Ntry>\n");
        flush_if_full(&mut out, &mut b)?;
    }
    b.push_str("</Ntfctn>\n</BkToCstmrDbtCdtNtfctn>\n</Document>\n");
    out.write_all(b.as_bytes())?;
    out.flush()?;
    Ok(out)
}

/// An entry up to its details: amount, direction, booked, bank transaction code.
fn entry_head(
    b: &mut String,
    version: Camt054Version,
    facts: &NotificationFacts<'_>,
    minor: u128,
    indicator: &str,
    sub_family: &str,
) {
    b.push_str("<Ntry>");
    amount(b, "Amt", minor, facts.currency);
    text(b, "CdtDbtInd", indicator);
    match version {
        Camt054Version::V08 => b.push_str("<Sts><Cd>BOOK</Cd></Sts>"),
        Camt054Version::V02 => b.push_str("<Sts>BOOK</Sts>"),
    }
    b.push_str("<BookgDt>");
    text(b, "Dt", &facts.booking_date.format("%Y-%m-%d").to_string());
    b.push_str("</BookgDt><BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>ICDT</Cd><SubFmlyCd>");
    b.push_str(sub_family);
    b.push_str("</SubFmlyCd></Fmly></Domn></BkTxCd>");
}

/// One transaction detail, with its references, amount and return information.
fn detail(
    b: &mut String,
    version: Camt054Version,
    facts: &NotificationFacts<'_>,
    p: &NotifiedPayment<'_>,
    indicator: &str,
) {
    b.push_str("<TxDtls><Refs>");
    text(b, "MsgId", facts.original_message_id);
    text(b, "PmtInfId", facts.payment_information_id);
    text(b, "EndToEndId", p.end_to_end_id);
    b.push_str("</Refs>");
    match version {
        Camt054Version::V08 => {
            amount(b, "Amt", p.amount, facts.currency);
            text(b, "CdtDbtInd", indicator);
        }
        Camt054Version::V02 => {
            b.push_str("<AmtDtls><TxAmt>");
            amount(b, "Amt", p.amount, facts.currency);
            b.push_str("</TxAmt></AmtDtls>");
        }
    }
    if let Some(reason) = p.returned {
        b.push_str("<RtrInf><Rsn>");
        text(b, "Cd", reason);
        b.push_str("</Rsn></RtrInf>");
    }
    b.push_str("</TxDtls>\n");
}
