//! Provider CSV layouts, as a deployment's TOML describes them: payment
//! files written in the provider's columns, and the provider's status files
//! read back into [`PaymentStatus`] lines.
//!
//! ```toml
//! [payment_file]               # a PaymentCsvLayout
//! columns = ["end_to_end_id", "account", "amount", "payee_name"]
//! titles = ["Reference", "Wallet", "Amount", "Name"]
//! amount = "decimal"
//!
//! [status_file]                # a StatusCsvLayout
//! end_to_end_id = "Reference"  # a header title, or a 1-based position
//! status = "Result"
//! reason = 4
//! paid = ["SUCCESS"]
//! failed = ["FAILED", "INVALID_WALLET"]
//! ```

use std::fmt::Write as _;
use std::io::{BufRead, Write};

use chrono::NaiveDate;
use serde::Deserialize;

use crate::amount::{Currency, DecimalAmount, write_decimal};
use crate::check::{self, Tally, WriteError};
use crate::pain001::{Account, Agent, CreditTransfer, FileTotals, PaymentFile};
use crate::status::{Outcome, PaymentStatus, Position, ReadError, ReportedAmount};
use crate::text::swift_text;
use unicode_normalization::char::is_combining_mark;

/// Why a layout cannot be used; found when it is checked, before any file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct LayoutError {
    pub field: &'static str,
    pub reason: String,
}

fn layout_error(field: &'static str, reason: impl Into<String>) -> LayoutError {
    LayoutError {
        field,
        reason: reason.into(),
    }
}

/// How amounts are written: integer minor units (`1250050`) or a decimal
/// with the currency's fraction digits (`12500.50`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AmountFormat {
    MinorUnits,
    #[default]
    Decimal,
}

/// What free text may contain: the SWIFT Latin set (names transliterated,
/// as in pain.001), or any Unicode without control characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextRule {
    #[default]
    SwiftLatin,
    Unicode,
}

/// A column of a payment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentColumn {
    /// The entitlement id.
    EndToEndId,
    Amount,
    /// The block's ISO 4217 code.
    Currency,
    PayeeName,
    /// The IBAN, the other id (bank account number, MSISDN), or a financial address's id.
    Account,
    /// The payee agent's BIC, clearing member id or other id.
    BankCode,
    /// A financial address's provider, or the issuer given with an other id.
    Provider,
    /// The whole financial address (`token:ID@provider`), for a payment to one.
    FinancialAddress,
    Remittance,
    ExecutionDate,
    MessageId,
    PaymentInformationId,
}

impl PaymentColumn {
    fn title(self) -> &'static str {
        match self {
            PaymentColumn::EndToEndId => "end_to_end_id",
            PaymentColumn::Amount => "amount",
            PaymentColumn::Currency => "currency",
            PaymentColumn::PayeeName => "payee_name",
            PaymentColumn::Account => "account",
            PaymentColumn::BankCode => "bank_code",
            PaymentColumn::Provider => "provider",
            PaymentColumn::FinancialAddress => "financial_address",
            PaymentColumn::Remittance => "remittance",
            PaymentColumn::ExecutionDate => "execution_date",
            PaymentColumn::MessageId => "message_id",
            PaymentColumn::PaymentInformationId => "payment_information_id",
        }
    }
}

fn yes() -> bool {
    true
}

fn comma() -> char {
    ','
}

fn dot() -> char {
    '.'
}

fn iso_date() -> String {
    "%Y-%m-%d".into()
}

/// A provider's payment file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentCsvLayout {
    pub columns: Vec<PaymentColumn>,
    /// The header row's titles, one per column; by default the columns' names.
    #[serde(default)]
    pub titles: Option<Vec<String>>,
    #[serde(default = "yes")]
    pub header: bool,
    #[serde(default = "comma")]
    pub delimiter: char,
    /// A chrono format for the execution date.
    #[serde(default = "iso_date")]
    pub date_format: String,
    #[serde(default)]
    pub amount: AmountFormat,
    #[serde(default = "dot")]
    pub decimal_separator: char,
    #[serde(default)]
    pub text: TextRule,
    /// Names and remittance text are cut to this many characters.
    #[serde(default = "max_text")]
    pub max_text: usize,
}

fn max_text() -> usize {
    140
}

/// A delimiter the csv crate can use: one ASCII character that is not a
/// letter, digit, quote or line end.
fn check_delimiter(c: char) -> Result<u8, LayoutError> {
    if c.is_ascii() && !c.is_ascii_alphanumeric() && !matches!(c, '"' | '\n' | '\r') {
        Ok(c as u8)
    } else {
        Err(layout_error("delimiter", format!("{c:?} cannot separate columns")))
    }
}

fn check_separator(separator: char, delimiter: char, amounts_in_file: bool) -> Result<(), LayoutError> {
    if !matches!(separator, '.' | ',') {
        return Err(layout_error(
            "decimal_separator",
            format!("{separator:?} is neither \".\" nor \",\""),
        ));
    }
    if amounts_in_file && separator == delimiter {
        return Err(layout_error("decimal_separator", "is also the delimiter"));
    }
    Ok(())
}

impl PaymentCsvLayout {
    /// Checks the layout whole; a deployment does this when it loads its configuration.
    pub fn check(&self) -> Result<(), LayoutError> {
        if self.columns.is_empty() {
            return Err(layout_error("columns", "names no column"));
        }
        if let Some(c) = self
            .columns
            .iter()
            .enumerate()
            .find_map(|(i, c)| self.columns[..i].contains(c).then_some(c))
        {
            return Err(layout_error("columns", format!("{} appears twice", c.title())));
        }
        if !self.columns.contains(&PaymentColumn::EndToEndId) {
            return Err(layout_error(
                "columns",
                "has no end_to_end_id: status files could not be matched",
            ));
        }
        if !self.columns.contains(&PaymentColumn::Amount) {
            return Err(layout_error("columns", "has no amount"));
        }
        if let Some(titles) = &self.titles {
            if titles.len() != self.columns.len() {
                return Err(layout_error(
                    "titles",
                    format!("has {} titles for {} columns", titles.len(), self.columns.len()),
                ));
            }
            if !self.header {
                return Err(layout_error("titles", "given for a file without a header row"));
            }
        }
        let delimiter = check_delimiter(self.delimiter)?;
        check_separator(
            self.decimal_separator,
            delimiter as char,
            self.amount == AmountFormat::Decimal,
        )?;
        if self.max_text == 0 {
            return Err(layout_error("max_text", "is zero"));
        }
        format_date(&self.date_format, NaiveDate::MIN)
            .ok_or_else(|| layout_error("date_format", format!("{:?} is not a date format", self.date_format)))?;
        Ok(())
    }
}

/// `date` in a chrono format, or `None` for a format that is not a date's
/// (chrono's `to_string` would panic on it).
fn format_date(format: &str, date: NaiveDate) -> Option<String> {
    let items: Vec<_> = chrono::format::StrftimeItems::new(format).collect();
    if items.iter().any(|i| matches!(i, chrono::format::Item::Error)) {
        return None;
    }
    let mut out = String::new();
    write!(out, "{}", date.format_with_items(items.into_iter())).ok()?;
    Some(out)
}

/// Free text under the layout's rule: cleaned to SWIFT Latin, or kept as
/// typed without control characters; cut to `max` characters.
fn clean_text(text: &str, rule: TextRule, max: usize) -> String {
    match rule {
        TextRule::SwiftLatin => swift_text(text, max),
        TextRule::Unicode => {
            let words = text
                .split(|c: char| c.is_whitespace() || c.is_control())
                .filter(|w| !w.is_empty());
            let chars: Vec<char> = words.collect::<Vec<_>>().join(" ").chars().collect();
            let mut end = chars.len().min(max);
            // Never cut a letter from its vowel signs and marks.
            while end > 0 && end < chars.len() && is_combining_mark(chars[end]) {
                end -= 1;
            }
            chars[..end].iter().collect::<String>().trim_end().to_string()
        }
    }
}

/// Writes a payment file in a provider's CSV layout, with the same facts,
/// checks and calls as [`crate::Pain001Writer`]: declared totals per block,
/// ids, amounts, IBANs.
pub struct PaymentCsvWriter<W: Write> {
    csv: csv::Writer<Counting<W>>,
    layout: PaymentCsvLayout,
    file: PaymentFile,
    dates: Vec<String>,
    tally: Tally,
    row: Vec<String>,
}

impl<W: Write> PaymentCsvWriter<W> {
    /// Checks the layout and the file's facts, and writes the header row.
    pub fn start(out: W, layout: &PaymentCsvLayout, file: PaymentFile) -> Result<Self, WriteError> {
        layout
            .check()
            .map_err(|e| WriteError::invalid("the layout", e.field, e.reason))?;
        check::file(&file)?;
        let dates = file
            .blocks
            .iter()
            .map(|b| format_date(&layout.date_format, b.execution_date).unwrap_or_default())
            .collect();
        let out = Counting { inner: out, bytes: 0 };
        let mut csv = csv::WriterBuilder::new()
            .delimiter(layout.delimiter as u8)
            .from_writer(out);
        if layout.header {
            let result = match &layout.titles {
                Some(titles) => csv.write_record(titles),
                None => csv.write_record(layout.columns.iter().map(|c| c.title())),
            };
            result.map_err(csv_error)?;
        }
        Ok(PaymentCsvWriter {
            csv,
            layout: layout.clone(),
            file,
            dates,
            tally: Tally::default(),
            row: Vec::new(),
        })
    }

    /// Writes one payment as a row, after checking it whole.
    pub fn add(&mut self, t: &CreditTransfer) -> Result<(), WriteError> {
        let amount = check::transfer(t, false)?;
        let block = &self.file.blocks[self.tally.block];
        self.tally.admit(block)?;
        let name = clean_text(&t.payee_name, self.layout.text, self.layout.max_text);
        if name.is_empty() {
            return Err(WriteError::invalid(
                format!("end-to-end id {:?}", t.end_to_end_id),
                "payee_name",
                "is empty",
            ));
        }
        self.row.clear();
        for column in &self.layout.columns {
            let cell = match column {
                PaymentColumn::EndToEndId => t.end_to_end_id.clone(),
                PaymentColumn::Amount => match self.layout.amount {
                    AmountFormat::MinorUnits => amount.to_string(),
                    AmountFormat::Decimal => {
                        let mut s = String::new();
                        write_decimal(&mut s, amount, block.currency.exponent(), self.layout.decimal_separator);
                        s
                    }
                },
                PaymentColumn::Currency => block.currency.code().to_string(),
                PaymentColumn::PayeeName => name.clone(),
                PaymentColumn::Account => match &t.payee_account {
                    Account::Iban(iban) => iban.clone(),
                    Account::Other { id, .. } => id.clone(),
                    Account::Proxy(address) => address.id().to_string(),
                },
                PaymentColumn::BankCode => match &t.payee_agent {
                    Some(Agent::Bic(bic)) => bic.clone(),
                    Some(Agent::ClearingMember { member_id, .. }) => member_id.clone(),
                    Some(Agent::Other { id, .. }) => id.clone(),
                    None => String::new(),
                },
                PaymentColumn::Provider => match &t.payee_account {
                    Account::Proxy(address) => address.provider().to_string(),
                    Account::Other {
                        issuer: Some(issuer), ..
                    } => issuer.clone(),
                    _ => String::new(),
                },
                PaymentColumn::FinancialAddress => match &t.payee_account {
                    Account::Proxy(address) => address.to_string(),
                    _ => String::new(),
                },
                PaymentColumn::Remittance => t
                    .remittance
                    .as_deref()
                    .map(|r| clean_text(r, self.layout.text, self.layout.max_text))
                    .unwrap_or_default(),
                PaymentColumn::ExecutionDate => self.dates[self.tally.block].clone(),
                PaymentColumn::MessageId => self.file.message_id.clone(),
                PaymentColumn::PaymentInformationId => block.payment_information_id.clone(),
            };
            self.row.push(cell);
        }
        self.csv.write_record(&self.row).map_err(csv_error)?;
        self.tally.record(amount);
        Ok(())
    }

    /// Checks the current block's totals and moves to the next.
    pub fn next_block(&mut self) -> Result<(), WriteError> {
        self.tally.next_block(&self.file.blocks)
    }

    /// Checks the totals of every block and hands back the writer.
    pub fn finish(mut self) -> Result<(W, FileTotals), WriteError> {
        self.tally.finish(&self.file.blocks)?;
        self.csv.flush()?;
        let out = self
            .csv
            .into_inner()
            .map_err(|e| WriteError::Io(std::io::Error::other(e.to_string())))?;
        let totals = FileTotals {
            transactions: self.tally.written,
            control_sum: check::group_control_sum(&self.file.blocks),
            bytes: out.bytes,
        };
        Ok((out.inner, totals))
    }
}

fn csv_error(e: csv::Error) -> WriteError {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => WriteError::Io(io),
        other => WriteError::Io(std::io::Error::other(format!("{other:?}"))),
    }
}

/// Counts the bytes written through it.
struct Counting<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Where a status file keeps a value: its column's header title (matched
/// without regard to case or surrounding spaces), or its position, 1 for the first.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ColumnRef {
    Position(usize),
    Title(String),
}

/// A provider's status file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusCsvLayout {
    #[serde(default = "yes")]
    pub header: bool,
    #[serde(default = "comma")]
    pub delimiter: char,
    pub end_to_end_id: ColumnRef,
    pub status: ColumnRef,
    #[serde(default)]
    pub reason: Option<ColumnRef>,
    #[serde(default)]
    pub additional_info: Option<ColumnRef>,
    #[serde(default)]
    pub amount: Option<ColumnRef>,
    #[serde(default)]
    pub amount_format: AmountFormat,
    #[serde(default = "dot")]
    pub decimal_separator: char,
    /// The provider's status values for each outcome, matched without regard to case.
    pub paid: Vec<String>,
    pub failed: Vec<String>,
    #[serde(default)]
    pub returned: Vec<String>,
    #[serde(default)]
    pub pending: Vec<String>,
}

impl StatusCsvLayout {
    pub fn check(&self) -> Result<(), LayoutError> {
        let delimiter = check_delimiter(self.delimiter)?;
        check_separator(self.decimal_separator, delimiter as char, self.amount.is_some())?;
        let refs = [
            ("end_to_end_id", Some(&self.end_to_end_id)),
            ("status", Some(&self.status)),
            ("reason", self.reason.as_ref()),
            ("additional_info", self.additional_info.as_ref()),
            ("amount", self.amount.as_ref()),
        ];
        for (field, column) in refs {
            match column {
                Some(ColumnRef::Position(0)) => return Err(layout_error(field, "positions start at 1")),
                Some(ColumnRef::Title(t)) if !self.header => {
                    return Err(layout_error(
                        field,
                        format!("names the title {t:?} in a file without a header row"),
                    ));
                }
                Some(ColumnRef::Title(t)) if t.trim().is_empty() => {
                    return Err(layout_error(field, "is an empty title"));
                }
                _ => {}
            }
        }
        if self.paid.is_empty() {
            return Err(layout_error("paid", "lists no status value"));
        }
        if self.failed.is_empty() {
            return Err(layout_error("failed", "lists no status value"));
        }
        let lists = [
            ("paid", &self.paid),
            ("failed", &self.failed),
            ("returned", &self.returned),
            ("pending", &self.pending),
        ];
        let mut seen: Vec<String> = Vec::new();
        for (field, values) in lists {
            for v in values {
                let key = v.trim().to_lowercase();
                if key.is_empty() {
                    return Err(layout_error(field, "lists an empty status value"));
                }
                if seen.contains(&key) {
                    return Err(layout_error(field, format!("{v:?} is listed for two outcomes")));
                }
                seen.push(key);
            }
        }
        Ok(())
    }

    fn outcome(&self, status: &str) -> Option<Outcome> {
        let matches = |values: &Vec<String>| values.iter().any(|v| v.trim().eq_ignore_ascii_case(status));
        if matches(&self.paid) {
            Some(Outcome::Paid)
        } else if matches(&self.failed) {
            Some(Outcome::Failed)
        } else if matches(&self.returned) {
            Some(Outcome::Returned)
        } else if matches(&self.pending) {
            Some(Outcome::Pending)
        } else {
            None
        }
    }
}

/// The 0-based field indexes of the columns a status layout reads.
struct Columns {
    end_to_end_id: usize,
    status: usize,
    reason: Option<usize>,
    additional_info: Option<usize>,
    amount: Option<usize>,
}

/// Reads a provider's CSV status file as a stream of [`PaymentStatus`]
/// lines. Amounts are read in `currency`.
pub struct StatusCsvReader<R: BufRead> {
    csv: csv::Reader<R>,
    layout: StatusCsvLayout,
    currency: Currency,
    columns: Columns,
    record: csv::StringRecord,
    done: bool,
}

fn csv_read_error(e: &csv::Error) -> ReadError {
    let line = e.position().map_or(0, |p| p.line());
    let message = match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "is not UTF-8 text".to_string(),
        _ => e.to_string(),
    };
    ReadError::Csv {
        line,
        column: None,
        message,
    }
}

impl<R: BufRead> StatusCsvReader<R> {
    /// Checks the layout and reads the header row, which must name every
    /// column the layout reads by title.
    pub fn open(input: R, layout: &StatusCsvLayout, currency: &Currency) -> Result<Self, ReadError> {
        layout.check().map_err(|e| ReadError::Csv {
            line: 0,
            column: Some(e.field.into()),
            message: e.reason,
        })?;
        let mut csv = csv::ReaderBuilder::new()
            .delimiter(layout.delimiter as u8)
            .has_headers(layout.header)
            .flexible(true)
            .from_reader(input);
        let titles: Vec<String> = if layout.header {
            let headers = csv.headers().map_err(|e| csv_read_error(&e))?;
            headers
                .iter()
                .map(|t| t.trim().trim_start_matches('\u{feff}').to_lowercase())
                .collect()
        } else {
            Vec::new()
        };
        let find = |field: &'static str, column: &ColumnRef| -> Result<usize, ReadError> {
            match column {
                ColumnRef::Position(p) => Ok(p - 1),
                ColumnRef::Title(t) => titles
                    .iter()
                    .position(|h| *h == t.trim().to_lowercase())
                    .ok_or_else(|| ReadError::Csv {
                        line: 1,
                        column: Some(field.into()),
                        message: format!("the header row has no column {t:?}"),
                    }),
            }
        };
        let optional = |field, column: &Option<ColumnRef>| column.as_ref().map(|c| find(field, c)).transpose();
        let columns = Columns {
            end_to_end_id: find("end_to_end_id", &layout.end_to_end_id)?,
            status: find("status", &layout.status)?,
            reason: optional("reason", &layout.reason)?,
            additional_info: optional("additional_info", &layout.additional_info)?,
            amount: optional("amount", &layout.amount)?,
        };
        Ok(StatusCsvReader {
            csv,
            layout: layout.clone(),
            currency: currency.clone(),
            columns,
            record: csv::StringRecord::new(),
            done: false,
        })
    }

    fn step(&mut self) -> Result<Option<PaymentStatus>, ReadError> {
        loop {
            if !self.csv.read_record(&mut self.record).map_err(|e| csv_read_error(&e))? {
                return Ok(None);
            }
            // A line of nothing but delimiters (a spreadsheet's trailing rows) carries nothing.
            if self.record.iter().all(|f| f.trim().is_empty()) {
                continue;
            }
            let position = self.record.position().map_or(Position::default(), |p| Position {
                line: p.line(),
                byte: p.byte(),
            });
            let line = position.line;
            let record = &self.record;
            let field = |name: &'static str, index: usize| -> Result<&str, ReadError> {
                record.get(index).map(str::trim).ok_or_else(|| ReadError::Csv {
                    line,
                    column: Some(name.into()),
                    message: format!(
                        "the line has {} fields, the column is field {}",
                        record.len(),
                        index + 1
                    ),
                })
            };
            let bad = |name: &'static str, message: String| ReadError::Csv {
                line,
                column: Some(name.into()),
                message,
            };
            let end_to_end_id = field("end_to_end_id", self.columns.end_to_end_id)?;
            if end_to_end_id.is_empty() {
                return Err(bad("end_to_end_id", "is empty".into()));
            }
            let status = field("status", self.columns.status)?;
            let Some(outcome) = self.layout.outcome(status) else {
                return Err(bad(
                    "status",
                    format!("{status:?} is none of the layout's status values"),
                ));
            };
            let optional = |name, index: Option<usize>| -> Result<Option<String>, ReadError> {
                let value = index.map(|i| field(name, i)).transpose()?;
                Ok(value.filter(|v| !v.is_empty()).map(str::to_string))
            };
            let reason = optional("reason", self.columns.reason)?;
            let additional_info = optional("additional_info", self.columns.additional_info)?;
            let amount = match optional("amount", self.columns.amount)? {
                None => None,
                Some(text) => {
                    let value = match self.layout.amount_format {
                        AmountFormat::MinorUnits => text
                            .parse::<u64>()
                            .map(|m| DecimalAmount::from_minor(u128::from(m), self.currency.exponent()))
                            .map_err(|_| bad("amount", format!("{text:?} is not a number of minor units")))?,
                        AmountFormat::Decimal => {
                            let value = DecimalAmount::parse(&text, self.layout.decimal_separator)
                                .map_err(|e| bad("amount", e.to_string()))?;
                            value
                                .to_minor(self.currency.exponent())
                                .map_err(|e| bad("amount", e.to_string()))?;
                            value
                        }
                    };
                    Some(ReportedAmount {
                        value,
                        currency: Some(self.currency.code().to_string()),
                    })
                }
            };
            return Ok(Some(PaymentStatus {
                end_to_end_id: end_to_end_id.to_string(),
                original_message_id: None,
                payment_information_id: None,
                outcome,
                status: status.to_string(),
                reason,
                additional_info,
                amount,
                position,
            }));
        }
    }
}

impl<R: BufRead> Iterator for StatusCsvReader<R> {
    type Item = Result<PaymentStatus, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(line)) => Some(Ok(line)),
            Ok(None) => {
                self.done = true;
                None
            }
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
    use crate::address::FinancialAddress;
    use crate::pain001::tests::{block, file, transfer};
    use crate::pain001::{Pain001Version, Scheme};
    use proptest::prelude::*;

    fn payment_layout(toml_text: &str) -> PaymentCsvLayout {
        toml::from_str(toml_text).unwrap()
    }

    fn write(
        layout: &PaymentCsvLayout,
        transfers: &[CreditTransfer],
        declared_sum: u128,
    ) -> Result<String, WriteError> {
        let f = file(
            Pain001Version::V09,
            vec![block("PI-1", transfers.len() as u64, declared_sum)],
        );
        let mut w = PaymentCsvWriter::start(Vec::new(), layout, f)?;
        for t in transfers {
            w.add(t)?;
        }
        let (out, totals) = w.finish()?;
        assert_eq!(totals.bytes, out.len() as u64);
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn writes_a_wallet_providers_layout() {
        let layout = payment_layout(
            r#"
            columns = ["end_to_end_id", "account", "provider", "amount", "currency", "payee_name", "execution_date", "remittance"]
            titles = ["Reference", "Wallet", "Issuer", "Amount", "Ccy", "Name", "Date", "Note"]
            delimiter = ";"
            date_format = "%d/%m/%Y"
            decimal_separator = ","
            "#,
        );
        let mut second = transfer(2, 99);
        second.payee_name = "Fatima; \"Bibi\"\n".into();
        second.payee_account = Account::Other {
            id: "923001234567".into(),
            scheme: None,
            issuer: Some("JazzCash".into()),
        };
        let csv = write(&layout, &[transfer(1, 1_000_000), second], 1_000_099).unwrap();
        assert_eq!(
            csv,
            "Reference;Wallet;Issuer;Amount;Ccy;Name;Date;Note\n\
             ENT-00000001;923000000001;;10000,00;PKR;Ayesha Bibi;01/07/2026;Kafalat July-September 2026\n\
             ENT-00000002;923001234567;JazzCash;0,99;PKR;Fatima. 'Bibi';01/07/2026;Kafalat July-September 2026\n"
        );
    }

    #[test]
    fn writes_minor_units_unicode_names_and_addresses_without_a_header() {
        let layout = payment_layout(
            r#"
            columns = ["message_id", "payment_information_id", "end_to_end_id", "financial_address", "bank_code", "amount", "payee_name"]
            header = false
            amount = "minor_units"
            text = "unicode"
            max_text = 8
            "#,
        );
        let mut t = transfer(1, 123_456);
        t.payee_name = " রহিমা\tখাতুন বেগম ".into();
        t.payee_account = Account::Proxy(FinancialAddress::parse("token:77@bKash").unwrap());
        t.payee_agent = Some(Agent::ClearingMember {
            system: Some(Scheme::Code("BDBEF".into())),
            member_id: "0175".into(),
        });
        let csv = write(&layout, &[t], 123_456).unwrap();
        assert_eq!(
            csv,
            "PK-KAFALAT-2026Q3-JAZZ-1,PI-1,ENT-00000001,token:77@bkash,0175,123456,রহিমা খা\n"
        );
        // A cut that would fall between a letter and its vowel sign falls before the letter.
        assert_eq!(clean_text("রহিমা খাতুন", TextRule::Unicode, 7), "রহিমা");
        assert_eq!(clean_text("a\u{0}b\u{7}  c", TextRule::Unicode, 140), "a b c");
    }

    #[test]
    fn blocks_follow_one_another_in_one_file() {
        let layout = payment_layout(
            r#"columns = ["payment_information_id", "end_to_end_id", "amount"]
header = false"#,
        );
        let f = file(Pain001Version::V09, vec![block("PI-1", 1, 100), block("PI-2", 2, 300)]);
        let mut w = PaymentCsvWriter::start(Vec::new(), &layout, f).unwrap();
        w.add(&transfer(1, 100)).unwrap();
        assert!(matches!(
            w.add(&transfer(2, 100)),
            Err(WriteError::TransactionCount {
                declared: 1,
                written: 2,
                ..
            })
        ));
        w.next_block().unwrap();
        w.add(&transfer(2, 100)).unwrap();
        w.add(&transfer(3, 200)).unwrap();
        assert!(matches!(w.next_block(), Err(WriteError::NoMoreBlocks(_))));
        let (out, totals) = w.finish().unwrap();
        assert_eq!(totals.transactions, 3);
        assert_eq!(totals.control_sum, "4.00");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "PI-1,ENT-00000001,1.00\nPI-2,ENT-00000002,1.00\nPI-2,ENT-00000003,2.00\n"
        );
    }

    #[test]
    fn totals_and_payments_are_checked_as_for_pain001() {
        let layout = payment_layout(r#"columns = ["end_to_end_id", "amount"]"#);
        let e = write(&layout, &[transfer(1, 100)], 200).unwrap_err();
        assert!(matches!(e, WriteError::ControlSum { .. }), "{e}");
        let mut bad = transfer(1, 100);
        bad.end_to_end_id = "ENT 1/".into();
        assert!(matches!(
            write(&layout, &[bad], 100),
            Err(WriteError::Invalid {
                field: "end_to_end_id",
                ..
            })
        ));
        assert!(matches!(
            write(&layout, &[transfer(1, 0)], 0),
            Err(WriteError::Invalid { field: "amount", .. })
        ));
        assert!(matches!(
            write(&layout, &[], 0),
            Err(WriteError::Invalid {
                field: "transactions",
                ..
            })
        ));
    }

    #[test]
    fn bad_layouts_name_the_field() {
        let check = |text: &str| {
            toml::from_str::<PaymentCsvLayout>(text)
                .unwrap()
                .check()
                .unwrap_err()
                .field
        };
        assert_eq!(check(r#"columns = []"#), "columns");
        assert_eq!(check(r#"columns = ["amount"]"#), "columns");
        assert_eq!(check(r#"columns = ["end_to_end_id"]"#), "columns");
        assert_eq!(check(r#"columns = ["end_to_end_id", "amount", "amount"]"#), "columns");
        assert_eq!(
            check(
                r#"columns = ["end_to_end_id", "amount"]
titles = ["Ref"]"#
            ),
            "titles"
        );
        assert_eq!(
            check(
                r#"columns = ["end_to_end_id", "amount"]
delimiter = "a""#
            ),
            "delimiter"
        );
        assert_eq!(
            check(
                r#"columns = ["end_to_end_id", "amount"]
delimiter = ","
decimal_separator = ",""#
            ),
            "decimal_separator"
        );
        assert_eq!(
            check(
                r#"columns = ["end_to_end_id", "amount"]
date_format = "%Y-%m-%d %H:%M""#
            ),
            "date_format"
        );
        assert_eq!(
            check(
                r#"columns = ["end_to_end_id", "amount"]
date_format = "%Q""#
            ),
            "date_format"
        );
        assert!(toml::from_str::<PaymentCsvLayout>(r#"columns = ["msisdn"]"#).is_err());
        assert!(toml::from_str::<PaymentCsvLayout>("columns = [\"amount\"]\nsheet = 1").is_err());
    }

    fn status_layout(toml_text: &str) -> StatusCsvLayout {
        toml::from_str(toml_text).unwrap()
    }

    const BKASH: &str = r#"
        end_to_end_id = "Reference"
        status = "Result"
        reason = "Error Code"
        amount = "Amount"
        paid = ["SUCCESS", "Completed"]
        failed = ["FAILED"]
        returned = ["REVERSED"]
        pending = ["PROCESSING"]
    "#;

    fn read(layout: &StatusCsvLayout, text: &str) -> Result<Vec<PaymentStatus>, ReadError> {
        let bdt = Currency::new("BDT", 2).unwrap();
        StatusCsvReader::open(text.as_bytes(), layout, &bdt)?.collect()
    }

    #[test]
    fn reads_a_status_file_by_titles() {
        let text = "\u{feff}Amount,REFERENCE , result,Error Code\n\
                    600.00,BD-1,SUCCESS,\n\
                    600,BD-2,failed,AC01\n\
                    \"1,000.5\",BD-3,Reversed,R07\n\
                    ,BD-4,processing,\n\
                    ,,,\n";
        let err = read(&status_layout(BKASH), text).unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 4, column amount: \"1,000.5\" is not a decimal amount"
        );
        let text = text.replace("\"1,000.5\"", "1000.5");
        let lines = read(&status_layout(BKASH), &text).unwrap();
        let summary: Vec<_> = lines
            .iter()
            .map(|l| {
                let minor = l.amount.as_ref().map(|a| a.value.to_minor(2).unwrap());
                (
                    l.end_to_end_id.as_str(),
                    l.outcome,
                    l.reason.as_deref(),
                    minor,
                    l.position.line,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("BD-1", Outcome::Paid, None, Some(60_000), 2),
                ("BD-2", Outcome::Failed, Some("AC01"), Some(60_000), 3),
                ("BD-3", Outcome::Returned, Some("R07"), Some(100_050), 4),
                ("BD-4", Outcome::Pending, None, None, 5),
            ]
        );
        assert_eq!(lines[1].status, "failed");
        assert_eq!(lines[0].amount.as_ref().unwrap().currency.as_deref(), Some("BDT"));
    }

    #[test]
    fn reads_a_status_file_by_positions() {
        let layout = status_layout(
            r#"
            header = false
            delimiter = ";"
            end_to_end_id = 2
            status = 1
            amount = 3
            amount_format = "minor_units"
            additional_info = 4
            paid = ["00"]
            failed = ["05", "51"]
            "#,
        );
        let lines = read(&layout, "00;E1;60000;ok\n51;E2;60000;no funds at provider\n").unwrap();
        assert_eq!(lines[1].outcome, Outcome::Failed);
        assert_eq!(lines[1].additional_info.as_deref(), Some("no funds at provider"));
        assert_eq!(lines[0].amount.as_ref().unwrap().value.to_minor(2), Ok(60_000));
        let e = read(&layout, "00;E1\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 1, column additional_info: the line has 2 fields, the column is field 4"
        );
        let e = read(&layout, "00;E1;6.5;x\n").unwrap_err();
        assert!(e.to_string().contains("not a number of minor units"), "{e}");
    }

    #[test]
    fn bad_status_files_are_refused_with_line_and_column() {
        let layout = status_layout(BKASH);
        let e = read(&layout, "Reference,Result,Amount\nE1,SUCCESS,1.00\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 1, column reason: the header row has no column \"Error Code\""
        );
        let head = "Reference,Result,Error Code,Amount\n";
        let e = read(&layout, &format!("{head}E1,SUCCESS,,1.00\nE2,DONE,,1.00\n")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 3, column status: \"DONE\" is none of the layout's status values"
        );
        let e = read(&layout, &format!("{head},SUCCESS,,1.00\n")).unwrap_err();
        assert!(matches!(e, ReadError::Csv { line: 2, .. }), "{e}");
        let e = read(&layout, &format!("{head}E1,SUCCESS,,1.001\n")).unwrap_err();
        assert!(e.to_string().contains("more fraction digits"), "{e}");
        let bdt = Currency::new("BDT", 2).unwrap();
        let bytes = b"Reference,Result,Error Code,Amount\nE1,SUCC\xffESS,,1.00\n";
        let e = StatusCsvReader::open(&bytes[..], &layout, &bdt)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap_err();
        assert!(matches!(e, ReadError::Csv { line: 2, .. }), "{e}");
    }

    #[test]
    fn bad_status_layouts_name_the_field() {
        let check = |extra: &str| {
            let text = format!("end_to_end_id = 1\nstatus = 2\npaid = [\"OK\"]\nfailed = [\"NO\"]\n{extra}");
            status_layout(&text).check().err().map(|e| e.field)
        };
        assert_eq!(check(""), None);
        assert_eq!(check("reason = 0"), Some("reason"));
        assert_eq!(check("header = false\namount = \"Amount\""), Some("amount"));
        assert_eq!(check("pending = [\"ok\"]"), Some("pending"));
        assert_eq!(check("returned = [\" \"]"), Some("returned"));
        assert_eq!(check("delimiter = \"\\n\""), Some("delimiter"));
        assert!(toml::from_str::<StatusCsvLayout>("end_to_end_id = 1\nstatus = 2\npaid = []").is_err());
    }

    proptest! {
        #[test]
        fn status_files_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let layout = status_layout(BKASH);
            let bdt = Currency::new("BDT", 2).unwrap();
            if let Ok(reader) = StatusCsvReader::open(&bytes[..], &layout, &bdt) {
                for line in reader {
                    let _ = line;
                }
            }
        }
    }
}
