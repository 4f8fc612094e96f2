//! What the providers report back, whatever the file: pain.002, camt.054 or
//! a provider's CSV all become [`PaymentStatus`] lines, matched by
//! end-to-end id (the entitlement id).

use std::fmt;

use crate::amount::DecimalAmount;

/// Where in a status file something was: the line (1 for the first) and the
/// byte offset from the start of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    pub line: u64,
    pub byte: u64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {} (byte {})", self.line, self.byte)
    }
}

/// What a status line means for the payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The money reached the payee's account (pain.002 `ACSC`/`ACCC`,
    /// camt.054 a booked debit).
    Paid,
    /// Refused or cancelled before it was paid (pain.002 `RJCT`/`CANC`).
    Failed,
    /// Paid, then sent back (camt.054 a booked credit with return information).
    Returned,
    /// Received, accepted or being settled, but not final yet.
    Pending,
}

/// An amount as a status file gives it: exact, in the file's currency when it names one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedAmount {
    pub value: DecimalAmount,
    pub currency: Option<String>,
}

/// The status of one payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentStatus {
    pub end_to_end_id: String,
    /// The pain.001 message this answers, when the file says (pain.002 always; camt.054 if the bank echoes it).
    pub original_message_id: Option<String>,
    pub payment_information_id: Option<String>,
    pub outcome: Outcome,
    /// The status as the file gives it: `ACSC`, `RJCT`, `BOOK`, a provider's `SUCCESS`…
    pub status: String,
    /// The reason code: `AC01`, `AC04`, `AM04`… (ISO external codes or the provider's own).
    pub reason: Option<String>,
    pub additional_info: Option<String>,
    pub amount: Option<ReportedAmount>,
    /// Where the line ends in the file.
    pub position: Position,
}

/// Maps a pain.002 transaction or group status to an outcome. Unknown codes
/// are not final: nothing is marked paid or failed on a code we do not know.
pub fn pain002_outcome(status: &str) -> Outcome {
    match status {
        "ACSC" | "ACCC" => Outcome::Paid,
        "RJCT" | "CANC" => Outcome::Failed,
        _ => Outcome::Pending,
    }
}

/// Why a status file could not be read. Once a reader returns an error it
/// returns nothing more: the caller refuses the file whole.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{at}: not well-formed XML: {message}")]
    Xml { at: Position, message: String },
    #[error("{at}: not an ISO 20022 message: {found}")]
    NotIso20022 { at: Position, found: String },
    #[error("{at}: expected a {expected} message, found {found}")]
    WrongMessage {
        at: Position,
        expected: &'static str,
        found: String,
    },
    #[error("{at}: <{parent}> has no <{element}>")]
    Missing {
        at: Position,
        parent: &'static str,
        element: &'static str,
    },
    #[error("{at}: <{element}> {value:?} {reason}")]
    Invalid {
        at: Position,
        element: &'static str,
        value: String,
        reason: String,
    },
    #[error("{at}: the file ends inside <{element}>")]
    Truncated { at: Position, element: String },
    /// A CSV status file: its line, and the column at fault when one is.
    #[error("line {line}{}: {message}", column.as_ref().map(|c| format!(", column {c}")).unwrap_or_default())]
    Csv {
        line: u64,
        column: Option<String>,
        message: String,
    },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_outcomes() {
        assert_eq!(pain002_outcome("ACSC"), Outcome::Paid);
        assert_eq!(pain002_outcome("ACCC"), Outcome::Paid);
        assert_eq!(pain002_outcome("RJCT"), Outcome::Failed);
        assert_eq!(pain002_outcome("CANC"), Outcome::Failed);
        for pending in ["ACCP", "ACSP", "ACTC", "ACWC", "PDNG", "RCVD", "PART", "XYZW"] {
            assert_eq!(pain002_outcome(pending), Outcome::Pending, "{pending}");
        }
    }

    #[test]
    fn errors_say_where() {
        let at = Position { line: 12, byte: 345 };
        let e = ReadError::Missing {
            at,
            parent: "TxInfAndSts",
            element: "OrgnlEndToEndId",
        };
        assert_eq!(
            e.to_string(),
            "line 12 (byte 345): <TxInfAndSts> has no <OrgnlEndToEndId>"
        );
        let e = ReadError::Csv {
            line: 3,
            column: Some("status".into()),
            message: "unknown value".into(),
        };
        assert_eq!(e.to_string(), "line 3, column status: unknown value");
    }
}
