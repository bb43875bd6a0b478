//! credledger: an event-sourced ledger of the credentials an integration platform keeps.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod app;
pub mod background;
pub mod crypto;
pub mod dashboard;
pub mod domain;
pub mod http;
pub mod ledger;
pub mod oauth;
pub mod projections;
pub mod storage;
pub mod time;
