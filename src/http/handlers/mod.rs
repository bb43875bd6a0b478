//! Route handlers, one file per resource family.

pub mod audit;
pub mod authentications;
pub mod checkpoints;
pub mod directory;
pub mod listing;
pub mod misc;
pub mod oauth;
pub mod services;
pub mod tokens;
