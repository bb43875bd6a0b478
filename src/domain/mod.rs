//! Pure domain rules of credledger: no I/O, no storage, no crypto primitives.
//!
//! Aggregates follow `decide(state, command) -> events` and `apply(state, event)`.

pub mod access;
pub mod access_log;
pub mod authentication;

pub mod directory;
pub mod ids;
pub mod keys;
pub mod naming;
pub mod principals;
pub mod secret;
pub mod services;
pub mod sign_in_links;
pub mod token_scope;
pub mod visibility;
pub mod webhooks;

#[cfg(test)]
pub(crate) mod scenario;
