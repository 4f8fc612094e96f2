//! Record linkage: finding the records of one person among many, across
//! scripts and spellings.
//!
//! A run parses each record once ([`record::Record`]), builds blocking keys
//! under several rules ([`block`]), estimates a Fellegi–Sunter model
//! ([`model`]: u from random pairs, m by EM on each rule's pairs), scores
//! every candidate pair once on every core, keeps those above the threshold
//! and clusters them ([`cluster`]). Memory follows the records and the kept
//! pairs, never the candidate pairs.
//!
//! Architecture invariant: no I/O, no SQL, no HTTP, no async. Records come
//! in as values; pairs and clusters go out as values.

pub mod block;
pub mod cluster;
pub mod compare;
pub mod link;
pub mod model;
pub mod name;
pub mod record;
pub mod translit;

pub use compare::Comparison;
pub use link::{LinkError, Outcome, Pair, Settings, dedupe, link, score_pair};
pub use model::Model;
pub use record::{Record, Role, ValueError};
