//! Route handlers, one file per resource family.

pub mod audit;
pub mod authentications;
pub mod checkpoints;
pub mod directory;
pub mod events;
pub mod listing;
pub mod misc;
pub mod oauth;
pub mod people;
pub mod services;
pub mod sign_in_links;
pub mod tokens;
pub mod webhooks;
