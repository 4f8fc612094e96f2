//! ISO 20022 pain.001 (customer credit transfer initiation), written as a
//! stream: the header facts first, then the payments one by one, so a
//! batch of a million is never held in memory.
//!
//! The XSD checks the shape; this writer checks what the XSD cannot: that
//! each block's and the group's declared number of transactions and control
//! sum are what was written (if not, `finish` fails and the caller discards
//! the file), amounts at the currency's precision, ids in the SWIFT Latin
//! set, IBAN check digits. Elements come in the XSD's sequence order, and the
//! same input gives the same bytes.

use std::io::Write;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

use crate::address::FinancialAddress;
use crate::amount::{Currency, write_decimal};
use crate::check::{self, Tally, WriteError};
use crate::text::swift_text;

/// Names, remittance lines and party names are `Max140Text`.
const MAX_TEXT: usize = 140;
/// Output is handed to the caller's writer in pieces of this size.
const FLUSH_AT: usize = 256 * 1024;

/// Which pain.001 a provider takes: .09 (2019) by default, .03 (2009) for
/// banks that have not moved on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum Pain001Version {
    #[default]
    #[serde(rename = "pain.001.001.09")]
    V09,
    #[serde(rename = "pain.001.001.03")]
    V03,
}

impl Pain001Version {
    /// The message name, as a pain.002 quotes it in `OrgnlMsgNmId`.
    pub fn message_name(self) -> &'static str {
        match self {
            Pain001Version::V09 => "pain.001.001.09",
            Pain001Version::V03 => "pain.001.001.03",
        }
    }
}

/// A scheme name: a code of an ISO external code set, or a proprietary name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    Code(String),
    Proprietary(String),
}

/// An account: the debtor's, or the payee's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Account {
    Iban(String),
    /// Any other account id: a bank account number, an MSISDN for a mobile
    /// wallet (scheme `Proprietary("MSISDN")`), with who issued it if known.
    Other {
        id: String,
        scheme: Option<Scheme>,
        issuer: Option<String>,
    },
    /// A G2P Connect financial address, resolved by the provider (pain.001.001.09
    /// only). Written as the proxy, and as the account id the XSD requires:
    /// the address's id, with its id type as the scheme and its provider as
    /// the issuer.
    Proxy(FinancialAddress),
}

/// A bank or mobile-money operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Agent {
    Bic(String),
    /// A member of a clearing system, e.g. a bank code in the national one.
    ClearingMember {
        system: Option<Scheme>,
        member_id: String,
    },
    Other {
        id: String,
        scheme: Option<Scheme>,
    },
}

/// Who pays the charges (`ChrgBr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChargeBearer {
    Debt,
    Cred,
    Shar,
    Slev,
}

/// One payment information block: one debtor account, one execution date, one currency.
#[derive(Debug, Clone)]
pub struct PaymentBlock {
    pub payment_information_id: String,
    pub debtor_name: String,
    pub debtor_account: Account,
    pub debtor_agent: Agent,
    pub execution_date: NaiveDate,
    pub currency: Currency,
    /// `SSBE` (social security benefit), `GOVT`…
    pub category_purpose: Option<String>,
    pub batch_booking: Option<bool>,
    pub charge_bearer: Option<ChargeBearer>,
    /// The number of credit transfers the caller will write into this block.
    pub transactions: u64,
    /// Their sum, in minor units of `currency`.
    pub control_sum: u128,
}

/// The facts of a whole file, given before its first payment.
#[derive(Debug, Clone)]
pub struct PaymentFile {
    pub version: Pain001Version,
    /// Unique per initiating party, at most 35 characters: the batch id.
    pub message_id: String,
    /// Passed in, never read from a clock, so that issuing again gives the same bytes.
    pub created_at: DateTime<Utc>,
    pub initiating_party: String,
    pub blocks: Vec<PaymentBlock>,
}

/// One credit transfer: one entitlement paid to one payee.
#[derive(Debug, Clone)]
pub struct CreditTransfer {
    /// The entitlement id, at most 35 characters: the status report echoes it.
    pub end_to_end_id: String,
    /// In minor units of the block's currency; more than zero.
    pub amount: i64,
    pub payee_name: String,
    pub payee_account: Account,
    /// `None` when the payee banks with the debtor's agent.
    pub payee_agent: Option<Agent>,
    pub remittance: Option<String>,
}

/// What a finished file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileTotals {
    pub transactions: u64,
    /// The group's control sum as written.
    pub control_sum: String,
    pub bytes: u64,
}

/// Writes one pain.001 file. [`Pain001Writer::start`] writes the group header
/// and the first block's header; [`add`](Pain001Writer::add) writes a payment
/// into the current block; [`next_block`](Pain001Writer::next_block) closes it
/// and opens the next; [`finish`](Pain001Writer::finish) closes the file.
pub struct Pain001Writer<W: Write> {
    out: W,
    buf: String,
    file: PaymentFile,
    tally: Tally,
    bytes: u64,
    broken: bool,
}

impl<W: Write> Pain001Writer<W> {
    /// Checks every header fact, then writes the group header and the first
    /// block's header.
    pub fn start(out: W, file: PaymentFile) -> Result<Self, WriteError> {
        let group_sum = check_file(&file)?;
        let mut w = Pain001Writer {
            out,
            buf: String::with_capacity(FLUSH_AT + 4096),
            file,
            tally: Tally::default(),
            bytes: 0,
            broken: false,
        };
        let f = &w.file;
        let b = &mut w.buf;
        b.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        b.push_str("<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:");
        b.push_str(f.version.message_name());
        b.push_str("\">\n  <CstmrCdtTrfInitn>\n    <GrpHdr>\n");
        leaf(b, 6, "MsgId", &f.message_id);
        leaf(
            b,
            6,
            "CreDtTm",
            &f.created_at.format("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        );
        leaf(
            b,
            6,
            "NbOfTxs",
            &f.blocks.iter().map(|b| b.transactions).sum::<u64>().to_string(),
        );
        leaf(b, 6, "CtrlSum", &group_sum);
        b.push_str("      <InitgPty>");
        inline(b, "Nm", &swift_text(&f.initiating_party, MAX_TEXT));
        b.push_str("</InitgPty>\n    </GrpHdr>\n");
        w.open_block();
        w.flush_if_full()?;
        Ok(w)
    }

    /// Writes one credit transfer into the current block, after checking it
    /// whole: a refused payment writes nothing.
    pub fn add(&mut self, transfer: &CreditTransfer) -> Result<(), WriteError> {
        if self.broken {
            return Err(WriteError::Broken);
        }
        let version = self.file.version;
        let block = &self.file.blocks[self.tally.block];
        let at = || format!("end-to-end id {:?}", transfer.end_to_end_id);
        let amount = check::transfer(transfer, version == Pain001Version::V03)?;
        if matches!(transfer.payee_account, Account::Proxy(_)) && version == Pain001Version::V03 {
            let reason = "is a financial address, which pain.001.001.03 cannot carry: use pain.001.001.09";
            return Err(WriteError::invalid(at(), "payee_account", reason));
        }
        self.tally.admit(block)?;
        let name = swift_text(&transfer.payee_name, MAX_TEXT);
        if name.is_empty() {
            return Err(WriteError::invalid(at(), "payee_name", "is empty"));
        }
        let remittance = transfer
            .remittance
            .as_deref()
            .map(|r| swift_text(r, MAX_TEXT))
            .filter(|r| !r.is_empty());

        let b = &mut self.buf;
        b.push_str("      <CdtTrfTxInf>\n        <PmtId>");
        inline(b, "EndToEndId", &transfer.end_to_end_id);
        b.push_str("</PmtId>\n        <Amt><InstdAmt Ccy=\"");
        b.push_str(block.currency.code());
        b.push_str("\">");
        write_decimal(b, amount, block.currency.exponent(), '.');
        b.push_str("</InstdAmt></Amt>\n");
        if let Some(agent) = &transfer.payee_agent {
            b.push_str("        <CdtrAgt>");
            write_agent(b, agent, version);
            b.push_str("</CdtrAgt>\n");
        }
        b.push_str("        <Cdtr>");
        inline(b, "Nm", &name);
        b.push_str("</Cdtr>\n        <CdtrAcct>");
        write_account(b, &transfer.payee_account, None);
        b.push_str("</CdtrAcct>\n");
        if let Some(r) = &remittance {
            b.push_str("        <RmtInf>");
            inline(b, "Ustrd", r);
            b.push_str("</RmtInf>\n");
        }
        b.push_str("      </CdtTrfTxInf>\n");
        self.tally.record(amount);
        self.flush_if_full()
    }

    /// Closes the current block, after checking its totals, and opens the next.
    pub fn next_block(&mut self) -> Result<(), WriteError> {
        if self.broken {
            return Err(WriteError::Broken);
        }
        self.tally.next_block(&self.file.blocks)?;
        self.buf.push_str("    </PmtInf>\n");
        self.open_block();
        self.flush_if_full()
    }

    /// Closes the last block and the file after checking that every declared
    /// block was written with its declared totals, and hands back the writer.
    pub fn finish(mut self) -> Result<(W, FileTotals), WriteError> {
        if self.broken {
            return Err(WriteError::Broken);
        }
        self.tally.finish(&self.file.blocks)?;
        self.buf.push_str("    </PmtInf>\n  </CstmrCdtTrfInitn>\n</Document>\n");
        self.flush()?;
        self.out.flush()?;
        let totals = FileTotals {
            transactions: self.tally.written,
            control_sum: check::group_control_sum(&self.file.blocks),
            bytes: self.bytes,
        };
        Ok((self.out, totals))
    }

    fn open_block(&mut self) {
        let version = self.file.version;
        let block = &self.file.blocks[self.tally.block];
        let b = &mut self.buf;
        b.push_str("    <PmtInf>\n");
        leaf(b, 6, "PmtInfId", &block.payment_information_id);
        leaf(b, 6, "PmtMtd", "TRF");
        if let Some(booking) = block.batch_booking {
            leaf(b, 6, "BtchBookg", if booking { "true" } else { "false" });
        }
        leaf(b, 6, "NbOfTxs", &block.transactions.to_string());
        b.push_str("      <CtrlSum>");
        write_decimal(b, block.control_sum, block.currency.exponent(), '.');
        b.push_str("</CtrlSum>\n");
        if let Some(purpose) = &block.category_purpose {
            b.push_str("      <PmtTpInf><CtgyPurp>");
            inline(b, "Cd", purpose);
            b.push_str("</CtgyPurp></PmtTpInf>\n");
        }
        let date = block.execution_date.format("%Y-%m-%d").to_string();
        match version {
            Pain001Version::V09 => {
                b.push_str("      <ReqdExctnDt>");
                inline(b, "Dt", &date);
                b.push_str("</ReqdExctnDt>\n");
            }
            Pain001Version::V03 => leaf(b, 6, "ReqdExctnDt", &date),
        }
        b.push_str("      <Dbtr>");
        inline(b, "Nm", &swift_text(&block.debtor_name, MAX_TEXT));
        b.push_str("</Dbtr>\n      <DbtrAcct>");
        write_account(b, &block.debtor_account, Some(block.currency.code()));
        b.push_str("</DbtrAcct>\n      <DbtrAgt>");
        write_agent(b, &block.debtor_agent, version);
        b.push_str("</DbtrAgt>\n");
        if let Some(bearer) = block.charge_bearer {
            let code = match bearer {
                ChargeBearer::Debt => "DEBT",
                ChargeBearer::Cred => "CRED",
                ChargeBearer::Shar => "SHAR",
                ChargeBearer::Slev => "SLEV",
            };
            leaf(b, 6, "ChrgBr", code);
        }
    }

    fn flush_if_full(&mut self) -> Result<(), WriteError> {
        if self.buf.len() >= FLUSH_AT {
            self.flush()
        } else {
            Ok(())
        }
    }

    fn flush(&mut self) -> Result<(), WriteError> {
        if let Err(e) = self.out.write_all(self.buf.as_bytes()) {
            self.broken = true;
            return Err(e.into());
        }
        self.bytes += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
}

/// Checks the header facts and gives the group's control sum.
fn check_file(file: &PaymentFile) -> Result<String, WriteError> {
    let sum = check::file(file)?;
    if swift_text(&file.initiating_party, MAX_TEXT).is_empty() {
        return Err(WriteError::invalid("the file", "initiating_party", "is empty"));
    }
    let letters_first_bic = file.version == Pain001Version::V03;
    for block in &file.blocks {
        let at = format!("payment information {:?}", block.payment_information_id);
        let invalid = |field, reason| WriteError::invalid(at.clone(), field, reason);
        if swift_text(&block.debtor_name, MAX_TEXT).is_empty() {
            return Err(invalid("debtor_name", "is empty".into()));
        }
        if matches!(block.debtor_account, Account::Proxy(_)) {
            return Err(invalid(
                "debtor_account",
                "cannot be a financial address: the debtor's account is debited".into(),
            ));
        }
        check::account(&block.debtor_account).map_err(|r| invalid("debtor_account", r))?;
        check::agent(&block.debtor_agent, letters_first_bic).map_err(|r| invalid("debtor_agent", r))?;
        if let Some(p) = &block.category_purpose {
            check::code(p, 4).map_err(|r| invalid("category_purpose", r))?;
        }
    }
    Ok(sum)
}

fn write_scheme(b: &mut String, element: &str, scheme: &Scheme) {
    open(b, element);
    match scheme {
        Scheme::Code(c) => inline(b, "Cd", c),
        Scheme::Proprietary(p) => inline(b, "Prtry", p),
    }
    close(b, element);
}

/// An account's `Id` (and `Ccy`, `Prxy`), inside `DbtrAcct` or `CdtrAcct`.
fn write_account(b: &mut String, account: &Account, currency: Option<&str>) {
    b.push_str("<Id>");
    match account {
        Account::Iban(iban) => inline(b, "IBAN", iban),
        Account::Other { id, scheme, issuer } => {
            b.push_str("<Othr>");
            inline(b, "Id", id);
            if let Some(s) = scheme {
                write_scheme(b, "SchmeNm", s);
            }
            if let Some(i) = issuer {
                inline(b, "Issr", i);
            }
            b.push_str("</Othr>");
        }
        Account::Proxy(address) => {
            b.push_str("<Othr>");
            inline(b, "Id", address.id());
            if let Some(t) = address.id_type() {
                write_scheme(b, "SchmeNm", &Scheme::Proprietary(t.to_string()));
            }
            inline(b, "Issr", address.provider());
            b.push_str("</Othr>");
        }
    }
    b.push_str("</Id>");
    if let Some(c) = currency {
        inline(b, "Ccy", c);
    }
    if let Account::Proxy(address) = account {
        b.push_str("<Prxy>");
        inline(b, "Id", &address.to_string());
        b.push_str("</Prxy>");
    }
}

fn write_agent(b: &mut String, agent: &Agent, version: Pain001Version) {
    b.push_str("<FinInstnId>");
    match agent {
        Agent::Bic(bic) => inline(b, if version == Pain001Version::V09 { "BICFI" } else { "BIC" }, bic),
        Agent::ClearingMember { system, member_id } => {
            b.push_str("<ClrSysMmbId>");
            if let Some(s) = system {
                write_scheme(b, "ClrSysId", s);
            }
            inline(b, "MmbId", member_id);
            b.push_str("</ClrSysMmbId>");
        }
        Agent::Other { id, scheme } => {
            b.push_str("<Othr>");
            inline(b, "Id", id);
            if let Some(s) = scheme {
                write_scheme(b, "SchmeNm", s);
            }
            b.push_str("</Othr>");
        }
    }
    b.push_str("</FinInstnId>");
}

fn open(b: &mut String, element: &str) {
    b.push('<');
    b.push_str(element);
    b.push('>');
}

fn close(b: &mut String, element: &str) {
    b.push_str("</");
    b.push_str(element);
    b.push('>');
}

/// `<element>text</element>`, the text escaped.
fn inline(b: &mut String, element: &str, text: &str) {
    open(b, element);
    escape_into(b, text);
    close(b, element);
}

/// An element on a line of its own, indented.
fn leaf(b: &mut String, indent: usize, element: &str, text: &str) {
    b.extend(std::iter::repeat_n(' ', indent));
    inline(b, element, text);
    b.push('\n');
}

/// Everything written is checked or cleaned to characters that need no
/// escaping, except financial addresses; escaping stays as a guard.
fn escape_into(b: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => b.push_str("&amp;"),
            '<' => b.push_str("&lt;"),
            '>' => b.push_str("&gt;"),
            _ => b.push(c),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn block(id: &str, transactions: u64, control_sum: u128) -> PaymentBlock {
        PaymentBlock {
            payment_information_id: id.into(),
            debtor_name: "BISP Kafalat Treasury Account".into(),
            debtor_account: Account::Iban("PK36SCBL0000001123456702".into()),
            debtor_agent: Agent::Bic("SCBLPKKX".into()),
            execution_date: NaiveDate::from_ymd_opt(2026, 7, 1).unwrap(),
            currency: Currency::new("PKR", 2).unwrap(),
            category_purpose: Some("SSBE".into()),
            batch_booking: Some(true),
            charge_bearer: Some(ChargeBearer::Slev),
            transactions,
            control_sum,
        }
    }

    pub(crate) fn file(version: Pain001Version, blocks: Vec<PaymentBlock>) -> PaymentFile {
        PaymentFile {
            version,
            message_id: "PK-KAFALAT-2026Q3-JAZZ-1".into(),
            created_at: DateTime::parse_from_rfc3339("2026-06-28T09:30:00Z")
                .unwrap()
                .with_timezone(&Utc),
            initiating_party: "Benazir Income Support Programme".into(),
            blocks,
        }
    }

    pub(crate) fn transfer(n: u64, amount: i64) -> CreditTransfer {
        CreditTransfer {
            end_to_end_id: format!("ENT-{n:08}"),
            amount,
            payee_name: "Ayesha Bibi".into(),
            payee_account: Account::Other {
                id: format!("92300{n:07}"),
                scheme: Some(Scheme::Proprietary("MSISDN".into())),
                issuer: None,
            },
            payee_agent: Some(Agent::Other {
                id: "JAZZCASH".into(),
                scheme: None,
            }),
            remittance: Some("Kafalat July-September 2026".into()),
        }
    }

    fn write(f: PaymentFile, transfers: &[CreditTransfer]) -> Result<String, WriteError> {
        let mut w = Pain001Writer::start(Vec::new(), f)?;
        for t in transfers {
            w.add(t)?;
        }
        let (out, totals) = w.finish()?;
        assert_eq!(totals.bytes, out.len() as u64);
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn writes_the_xsd_sequence() {
        let xml = write(
            file(Pain001Version::V09, vec![block("PI-1", 2, 2_000_050)]),
            &[
                transfer(1, 1_000_000),
                CreditTransfer {
                    payee_name: "فاطمہ  Bibi".into(),
                    payee_account: Account::Proxy(FinancialAddress::parse("token:77@JazzCash").unwrap()),
                    payee_agent: None,
                    remittance: None,
                    ..transfer(2, 1_000_050)
                },
            ],
        )
        .unwrap();
        let expected = r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09">
  <CstmrCdtTrfInitn>
    <GrpHdr>
      <MsgId>PK-KAFALAT-2026Q3-JAZZ-1</MsgId>
      <CreDtTm>2026-06-28T09:30:00+00:00</CreDtTm>
      <NbOfTxs>2</NbOfTxs>
      <CtrlSum>20000.50</CtrlSum>
      <InitgPty><Nm>Benazir Income Support Programme</Nm></InitgPty>
    </GrpHdr>
    <PmtInf>
      <PmtInfId>PI-1</PmtInfId>
      <PmtMtd>TRF</PmtMtd>
      <BtchBookg>true</BtchBookg>
      <NbOfTxs>2</NbOfTxs>
      <CtrlSum>20000.50</CtrlSum>
      <PmtTpInf><CtgyPurp><Cd>SSBE</Cd></CtgyPurp></PmtTpInf>
      <ReqdExctnDt><Dt>2026-07-01</Dt></ReqdExctnDt>
      <Dbtr><Nm>BISP Kafalat Treasury Account</Nm></Dbtr>
      <DbtrAcct><Id><IBAN>PK36SCBL0000001123456702</IBAN></Id><Ccy>PKR</Ccy></DbtrAcct>
      <DbtrAgt><FinInstnId><BICFI>SCBLPKKX</BICFI></FinInstnId></DbtrAgt>
      <ChrgBr>SLEV</ChrgBr>
      <CdtTrfTxInf>
        <PmtId><EndToEndId>ENT-00000001</EndToEndId></PmtId>
        <Amt><InstdAmt Ccy="PKR">10000.00</InstdAmt></Amt>
        <CdtrAgt><FinInstnId><Othr><Id>JAZZCASH</Id></Othr></FinInstnId></CdtrAgt>
        <Cdtr><Nm>Ayesha Bibi</Nm></Cdtr>
        <CdtrAcct><Id><Othr><Id>923000000001</Id><SchmeNm><Prtry>MSISDN</Prtry></SchmeNm></Othr></Id></CdtrAcct>
        <RmtInf><Ustrd>Kafalat July-September 2026</Ustrd></RmtInf>
      </CdtTrfTxInf>
      <CdtTrfTxInf>
        <PmtId><EndToEndId>ENT-00000002</EndToEndId></PmtId>
        <Amt><InstdAmt Ccy="PKR">10000.50</InstdAmt></Amt>
        <Cdtr><Nm>fatmh Bibi</Nm></Cdtr>
        <CdtrAcct><Id><Othr><Id>77</Id><SchmeNm><Prtry>token</Prtry></SchmeNm><Issr>jazzcash</Issr></Othr></Id><Prxy><Id>token:77@jazzcash</Id></Prxy></CdtrAcct>
      </CdtTrfTxInf>
    </PmtInf>
  </CstmrCdtTrfInitn>
</Document>
"#;
        assert_eq!(xml, expected);
    }

    #[test]
    fn version_03_names_its_elements_the_old_way() {
        let xml = write(
            file(Pain001Version::V03, vec![block("PI-1", 1, 150)]),
            &[transfer(1, 150)],
        )
        .unwrap();
        assert!(xml.contains("xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.001.001.03\""));
        assert!(xml.contains("<ReqdExctnDt>2026-07-01</ReqdExctnDt>"));
        assert!(xml.contains("<BIC>SCBLPKKX</BIC>"));
        assert!(!xml.contains("BICFI"));
    }

    #[test]
    fn amounts_use_the_currency_exponent() {
        let mut b = block("PI-JO", 2, 25_505);
        b.currency = Currency::new("JOD", 3).unwrap();
        let xml = write(
            file(Pain001Version::V09, vec![b]),
            &[transfer(1, 25_000), transfer(2, 505)],
        )
        .unwrap();
        assert!(xml.contains("<InstdAmt Ccy=\"JOD\">25.000</InstdAmt>"));
        assert!(xml.contains("<InstdAmt Ccy=\"JOD\">0.505</InstdAmt>"));
        assert!(xml.contains("<CtrlSum>25.505</CtrlSum>"));
    }

    #[test]
    fn the_group_sums_blocks_of_different_exponents() {
        let mut jod = block("PI-JO", 1, 1);
        jod.currency = Currency::new("JOD", 3).unwrap();
        let mut w =
            Pain001Writer::start(Vec::new(), file(Pain001Version::V09, vec![block("PI-PK", 1, 150), jod])).unwrap();
        w.add(&transfer(1, 150)).unwrap();
        w.next_block().unwrap();
        w.add(&transfer(2, 1)).unwrap();
        assert!(matches!(w.next_block(), Err(WriteError::NoMoreBlocks(b)) if b == "PI-JO"));
        let (out, totals) = w.finish().unwrap();
        assert_eq!(
            totals,
            FileTotals {
                transactions: 2,
                control_sum: "1.501".into(),
                bytes: out.len() as u64
            }
        );
        let xml = String::from_utf8(out).unwrap();
        assert!(xml.contains("<NbOfTxs>2</NbOfTxs>\n      <CtrlSum>1.501</CtrlSum>"));
        assert_eq!(xml.matches("<PmtInf>").count(), 2);
    }

    #[test]
    fn the_same_input_gives_the_same_bytes() {
        let run = || {
            write(
                file(Pain001Version::V09, vec![block("PI-1", 3, 300)]),
                &[transfer(1, 100), transfer(2, 100), transfer(3, 100)],
            )
        };
        assert_eq!(run().unwrap(), run().unwrap());
    }

    #[test]
    fn declared_totals_must_match_what_was_written() {
        let f = || file(Pain001Version::V09, vec![block("PI-1", 2, 300)]);
        let err = write(f(), &[transfer(1, 100)]).unwrap_err();
        assert!(
            matches!(
                err,
                WriteError::TransactionCount {
                    declared: 2,
                    written: 1,
                    ..
                }
            ),
            "{err}"
        );
        let err = write(f(), &[transfer(1, 100), transfer(2, 100)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "payment information PI-1: control sum 3.00 declared, 2.00 written"
        );
        let err = write(f(), &[transfer(1, 100), transfer(2, 100), transfer(3, 100)]).unwrap_err();
        assert!(
            matches!(
                err,
                WriteError::TransactionCount {
                    declared: 2,
                    written: 3,
                    ..
                }
            ),
            "{err}"
        );
        // A declared block that is never reached.
        let err = write(
            file(Pain001Version::V09, vec![block("PI-1", 1, 100), block("PI-2", 1, 100)]),
            &[transfer(1, 100)],
        )
        .unwrap_err();
        assert!(matches!(err, WriteError::TransactionCount { ref block, declared: 1, written: 0 } if block == "PI-2"));
    }

    #[test]
    fn a_refused_payment_writes_nothing() {
        let mut w = Pain001Writer::start(Vec::new(), file(Pain001Version::V03, vec![block("PI-1", 1, 100)])).unwrap();
        let bad = [
            (
                CreditTransfer {
                    end_to_end_id: "ENT_1".into(),
                    ..transfer(1, 100)
                },
                "end_to_end_id",
            ),
            (
                CreditTransfer {
                    end_to_end_id: "E".repeat(36),
                    ..transfer(1, 100)
                },
                "end_to_end_id",
            ),
            (transfer(1, 0), "amount"),
            (transfer(1, -5), "amount"),
            (
                CreditTransfer {
                    payee_name: " \t".into(),
                    ..transfer(1, 100)
                },
                "payee_name",
            ),
            (
                CreditTransfer {
                    payee_account: Account::Iban("PK36SCBL0000001123456703".into()),
                    ..transfer(1, 100)
                },
                "payee_account",
            ),
            (
                CreditTransfer {
                    payee_account: Account::Proxy(FinancialAddress::parse("token:1@bkash").unwrap()),
                    ..transfer(1, 100)
                },
                "payee_account",
            ),
            (
                CreditTransfer {
                    payee_agent: Some(Agent::Bic("1234PKKX".into())),
                    ..transfer(1, 100)
                },
                "payee_agent",
            ),
        ];
        let before = w.buf.clone();
        for (t, field) in &bad {
            match w.add(t) {
                Err(WriteError::Invalid { field: f, .. }) => assert_eq!(f, *field),
                other => panic!("{other:?}"),
            }
            assert_eq!(w.buf, before);
        }
        w.add(&transfer(1, 100)).unwrap();
        w.finish().unwrap();
    }

    #[test]
    fn bad_header_facts_are_refused() {
        let check = |f: PaymentFile, field: &str| match Pain001Writer::start(Vec::new(), f) {
            Err(WriteError::Invalid { field: got, .. }) => assert_eq!(got, field),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("accepted, expected {field} refused"),
        };
        check(
            PaymentFile {
                message_id: "M".repeat(36),
                ..file(Pain001Version::V09, vec![block("P", 1, 1)])
            },
            "message_id",
        );
        check(
            PaymentFile {
                initiating_party: "".into(),
                ..file(Pain001Version::V09, vec![block("P", 1, 1)])
            },
            "initiating_party",
        );
        check(
            file(Pain001Version::V09, vec![block("P", 1, 1), block("P", 1, 1)]),
            "payment_information_id",
        );
        check(file(Pain001Version::V09, vec![block("P", 0, 0)]), "transactions");
        check(
            file(Pain001Version::V09, vec![block("P", 1, 10u128.pow(18))]),
            "control_sum",
        );
        check(
            file(
                Pain001Version::V09,
                vec![PaymentBlock {
                    category_purpose: Some("SOCIAL".into()),
                    ..block("P", 1, 1)
                }],
            ),
            "category_purpose",
        );
        check(
            file(
                Pain001Version::V09,
                vec![PaymentBlock {
                    debtor_account: Account::Proxy(FinancialAddress::parse("a@b").unwrap()),
                    ..block("P", 1, 1)
                }],
            ),
            "debtor_account",
        );
        check(
            file(
                Pain001Version::V09,
                vec![PaymentBlock {
                    debtor_agent: Agent::Bic("SCBL".into()),
                    ..block("P", 1, 1)
                }],
            ),
            "debtor_agent",
        );
        assert!(matches!(
            Pain001Writer::start(Vec::new(), file(Pain001Version::V09, vec![])),
            Err(WriteError::NoBlocks)
        ));
        let big = 999_999_999_999_999;
        check(
            file(
                Pain001Version::V09,
                vec![block("P1", big, big.into()), block("P2", 1, 1)],
            ),
            "transactions",
        );
    }

    #[test]
    fn a_failed_write_breaks_the_file() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk full"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let n = 5_000;
        let mut w = Pain001Writer::start(
            Full,
            file(Pain001Version::V09, vec![block("PI-1", n, 100 * u128::from(n))]),
        )
        .unwrap();
        let mut failed = false;
        for i in 0..n {
            match w.add(&transfer(i, 100)) {
                Ok(()) => {}
                Err(WriteError::Io(_)) => failed = true,
                Err(WriteError::Broken) => {
                    assert!(failed);
                    break;
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert!(failed);
        assert!(matches!(w.finish(), Err(WriteError::Broken)));
    }
}
