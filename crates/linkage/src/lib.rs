//! Record linkage: finding the records of one person among many, across
//! scripts and spellings.
//!
//! Architecture invariant: no I/O, no SQL, no HTTP, no async. Records come
//! in as values; pairs and clusters go out as values.

pub mod name;
pub mod translit;
