//! Payment files, pure: ISO 20022 pain.001 credit transfer initiations
//! written for the banks, pain.002 status reports and camt.054 notifications
//! read back from them, provider CSV layouts both ways, and G2P Connect
//! financial addresses. No SQL, no async, no clock: bytes go out through a
//! `std::io::Write` and come in through a `std::io::BufRead` the caller hands
//! in, and the same input always gives the same bytes.

pub mod address;
pub mod amount;
pub mod camt054;
mod check;
pub mod csv_layout;
pub mod pain001;
pub mod pain002;
pub mod simulate;
pub mod status;
pub mod text;
mod xml_read;

pub use address::{AddressError, FinancialAddress};
pub use amount::{AmountError, Currency, DecimalAmount};
pub use camt054::{NotificationHeader, NotificationReader};
pub use check::WriteError;
pub use csv_layout::{
    AmountFormat, ColumnRef, LayoutError, PaymentColumn, PaymentCsvLayout, PaymentCsvWriter, StatusCsvLayout,
    StatusCsvReader, TextRule,
};
pub use pain001::{
    Account, Agent, ChargeBearer, CreditTransfer, FileTotals, Pain001Version, Pain001Writer, PaymentBlock, PaymentFile,
    Scheme,
};
pub use pain002::{BlockStatus, GroupStatus, ReportHeader, StatusItem, StatusReportReader};
pub use status::{Outcome, PaymentStatus, Position, ReadError, ReportedAmount};
