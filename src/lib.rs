//! credledger: an event-sourced ledger of the credentials an integration platform keeps.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// Pure domain rules: ids, directory, access, naming, services, authentications.
pub mod domain;
