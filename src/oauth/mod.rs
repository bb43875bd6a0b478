//! OAuth2 grants: authorization-code flow with PKCE, token refresh, and the outbound HTTP policy.

pub mod endpoint;
