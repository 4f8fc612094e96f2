//! The registry's types and rules.
//!
//! Architecture invariant: this crate does no I/O, knows no SQL and no HTTP.
//! Everything here is a value and a function over values, testable without a
//! database.

pub mod access;
pub mod account;
pub mod attributes;
pub mod audit;
pub mod compliance;
pub mod config;
pub mod date;
pub mod digits;
pub mod enrolment;
pub mod error;
pub mod grievance;
pub mod history;
pub mod household;
pub mod identifier;
mod ids;
pub mod name;
pub mod payment;
pub mod person;
pub mod phone;
pub mod pmt;
pub mod programme;
pub mod text;
pub mod vocab;

pub use error::{FieldError, Problem};
pub use vocab::Country;
