//! How domain events are stored in the ledger: stream names, event types and frozen payloads.
//!
//! Each payload is the bincode encoding (the ledger's frozen configuration) of the domain event
//! enum of its family at schema version 1, with secrets as [`SealedSecret`]. A future schema
//! version gets its own decoder here that upcasts to the current domain type.

use crate::crypto::SealedSecret;
use crate::domain::access_log::AccessEvent;
use crate::domain::authentication::AuthenticationEvent;
use crate::domain::directory::DirectoryEvent;
use crate::domain::ids::{AuthenticationId, ServiceId};
use crate::domain::keys::KeysEvent;
use crate::domain::principals::TokenEvent;
use crate::domain::services::CustomServiceEvent;
use crate::domain::webhooks::WebhookEvent;
use crate::ledger::{codec, Envelope, StreamId};

use super::ProjectionError;

/// An authentication event as stored: secrets sealed.
pub type StoredAuthenticationEvent = AuthenticationEvent<SealedSecret>;

/// The single stream holding every API token event.
pub const TOKENS_STREAM: &str = "tokens";
/// The single stream holding every directory event.
pub const DIRECTORY_STREAM: &str = "directory";
/// The single stream holding every key management event.
pub const KEYS_STREAM: &str = "keys";
/// Prefix of authentication streams.
pub const AUTHENTICATION_STREAM_PREFIX: &str = "authentication-";
/// Prefix of the streams of access records (one per authentication).
pub const ACCESS_STREAM_PREFIX: &str = "access-";
/// Prefix of the streams of refused token uses (one per token).
pub const TOKEN_USE_STREAM_PREFIX: &str = "token-use-";
/// Prefix of custom service streams.
pub const SERVICE_STREAM_PREFIX: &str = "service-";
/// Prefix of webhook subscription streams.
pub const WEBHOOK_STREAM_PREFIX: &str = "webhook-";

/// The stream of the directory.
pub fn directory_stream() -> StreamId {
    StreamId::new(DIRECTORY_STREAM).expect("a constant, valid stream id")
}

/// The stream of API tokens.
pub fn tokens_stream() -> StreamId {
    StreamId::new(TOKENS_STREAM).expect("a constant, valid stream id")
}

/// The stream of key management events (master key rotations).
pub fn keys_stream() -> StreamId {
    StreamId::new(KEYS_STREAM).expect("a constant, valid stream id")
}

/// The stream of one authentication.
pub fn authentication_stream(id: AuthenticationId) -> StreamId {
    StreamId::new(format!("{AUTHENTICATION_STREAM_PREFIX}{id}"))
        .expect("a prefix and a uuid make a valid stream id")
}

/// The stream of access records of one authentication.
pub fn access_stream(id: AuthenticationId) -> StreamId {
    StreamId::new(format!("{ACCESS_STREAM_PREFIX}{id}"))
        .expect("a prefix and a uuid make a valid stream id")
}

/// The stream of refused uses of one token.
pub fn token_use_stream(id: crate::domain::ids::TokenId) -> StreamId {
    StreamId::new(format!("{TOKEN_USE_STREAM_PREFIX}{id}"))
        .expect("a prefix and a uuid make a valid stream id")
}

/// The stream of one custom service.
pub fn service_stream(id: ServiceId) -> StreamId {
    StreamId::new(format!("{SERVICE_STREAM_PREFIX}{id}"))
        .expect("a prefix and a uuid make a valid stream id")
}

/// The stream of one webhook subscription.
pub fn webhook_stream(id: crate::domain::ids::WebhookId) -> StreamId {
    StreamId::new(format!("{WEBHOOK_STREAM_PREFIX}{id}"))
        .expect("a prefix and a uuid make a valid stream id")
}

/// The subscription a webhook event's stream is about.
pub fn webhook_of(envelope: &Envelope) -> Option<crate::domain::ids::WebhookId> {
    envelope
        .body
        .stream_id
        .as_str()
        .strip_prefix(WEBHOOK_STREAM_PREFIX)?
        .parse()
        .ok()
}

/// A stored event decoded into its domain family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainEvent {
    /// A directory event.
    Directory(DirectoryEvent),
    /// A custom service event.
    Service(CustomServiceEvent),
    /// An API token event.
    Token(TokenEvent),
    /// An authentication event, for the authentication of its stream.
    Authentication(AuthenticationId, StoredAuthenticationEvent),
    /// A use of, or refused attempt on, an authentication.
    Access(AccessEvent),
    /// A key management event (master key rotation).
    Keys(KeysEvent),
    /// A refused use of an API token (expired, out of scope).
    TokenUse(crate::domain::token_scope::TokenUseEvent),
    /// A webhook subscription event, for the subscription of its stream.
    Webhook(crate::domain::ids::WebhookId, WebhookEvent),
    /// An event type this build does not project (kept in the log, ignored here).
    Other,
}

/// Encodes a payload with the ledger's frozen codec.
pub fn encode_payload<T: serde::Serialize>(event: &T) -> Result<Vec<u8>, ProjectionError> {
    super::encode(event)
}

/// Decodes the payload of an envelope according to its type and schema version.
pub fn decode(envelope: &Envelope) -> Result<DomainEvent, ProjectionError> {
    let body = &envelope.body;
    let fail = |reason: String| ProjectionError::Payload {
        event_type: body.event_type.clone(),
        schema_version: body.schema_version,
        position: body.position.0,
        reason,
    };
    let family = body.event_type.split('.').next().unwrap_or_default();
    let decoded = match (family, body.schema_version) {
        ("directory", 1) => DomainEvent::Directory(
            codec::decode::<DirectoryEvent>(&body.payload).map_err(|e| fail(e.to_string()))?,
        ),
        ("token", 1) => DomainEvent::Token(
            codec::decode::<TokenEventV1>(&body.payload)
                .map_err(|e| fail(e.to_string()))?
                .upcast(),
        ),
        ("token", 2) => DomainEvent::Token(
            codec::decode::<TokenEvent>(&body.payload).map_err(|e| fail(e.to_string()))?,
        ),
        ("service", 1) => DomainEvent::Service(
            codec::decode::<CustomServiceEvent>(&body.payload).map_err(|e| fail(e.to_string()))?,
        ),
        ("authentication", 1) => {
            let id = body
                .stream_id
                .as_str()
                .strip_prefix(AUTHENTICATION_STREAM_PREFIX)
                .and_then(|raw| raw.parse::<AuthenticationId>().ok())
                .ok_or_else(|| fail(format!("not an authentication stream: {}", body.stream_id)))?;
            let event = codec::decode::<StoredAuthenticationEvent>(&body.payload)
                .map_err(|e| fail(e.to_string()))?;
            DomainEvent::Authentication(id, event)
        }
        ("access", 1) => DomainEvent::Access(
            codec::decode::<AccessEvent>(&body.payload).map_err(|e| fail(e.to_string()))?,
        ),
        ("token_use", 1) => DomainEvent::TokenUse(
            codec::decode::<crate::domain::token_scope::TokenUseEvent>(&body.payload)
                .map_err(|e| fail(e.to_string()))?,
        ),
        ("webhook", 1) => {
            let id = webhook_of(envelope)
                .ok_or_else(|| fail(format!("not a webhook stream: {}", body.stream_id)))?;
            let event =
                codec::decode::<WebhookEvent>(&body.payload).map_err(|e| fail(e.to_string()))?;
            DomainEvent::Webhook(id, event)
        }
        ("keys", _) => match decode_keys(envelope)? {
            Some(event) => DomainEvent::Keys(event),
            None => DomainEvent::Other,
        },
        (
            "directory" | "service" | "token" | "authentication" | "access" | "token_use"
            | "webhook",
            version,
        ) => {
            return Err(fail(format!(
                "schema version {version} is not known to this build"
            )))
        }
        _ => DomainEvent::Other,
    };
    let expected_type = match &decoded {
        DomainEvent::Directory(e) => Some(e.event_type()),
        DomainEvent::Service(e) => Some(e.event_type()),
        DomainEvent::Token(e) => Some(e.event_type()),
        DomainEvent::Authentication(_, e) => Some(e.event_type()),
        DomainEvent::Access(e) => Some(e.event_type()),
        DomainEvent::Keys(e) => Some(e.event_type()),
        DomainEvent::TokenUse(e) => Some(e.event_type()),
        DomainEvent::Webhook(_, e) => Some(e.event_type()),
        DomainEvent::Other => None,
    };
    if let Some(expected) = expected_type {
        if expected != body.event_type {
            return Err(fail(format!("payload is a {expected} event")));
        }
    }
    // Token events are the one family with two versions: each type is at one of them.
    if let DomainEvent::Token(e) = &decoded {
        if body.schema_version != 1 && e.schema_version() != body.schema_version {
            return Err(fail(format!(
                "payload is a {} v{} event",
                e.event_type(),
                e.schema_version()
            )));
        }
    }
    Ok(decoded)
}

/// Token events at schema version 1 (frozen): before tokens had an expiry and scopes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TokenEventV1 {
    /// `token.issued` v1.
    Issued {
        /// Token id.
        token: crate::domain::ids::TokenId,
        /// Whose token it is.
        principal: crate::domain::principals::Principal,
        /// What it is for.
        label: String,
        /// SHA-256 of the token text.
        token_hash: [u8; 32],
    },
    /// `token.revoked` v1 (the same bytes as today's).
    Revoked {
        /// Token id.
        token: crate::domain::ids::TokenId,
    },
}

impl TokenEventV1 {
    /// Today's event: a version 1 token never expires and holds every scope.
    pub fn upcast(self) -> TokenEvent {
        match self {
            TokenEventV1::Issued {
                token,
                principal,
                label,
                token_hash,
            } => TokenEvent::Issued {
                token,
                principal,
                label,
                token_hash,
                expires_at: None,
                scopes: crate::domain::token_scope::TokenScopes::unrestricted(),
            },
            TokenEventV1::Revoked { token } => TokenEvent::Revoked { token },
        }
    }
}

/// Decodes a key management event (family `keys`); `Ok(None)` for an envelope of another family.
pub fn decode_keys(envelope: &Envelope) -> Result<Option<KeysEvent>, ProjectionError> {
    let body = &envelope.body;
    let fail = |reason: String| ProjectionError::Payload {
        event_type: body.event_type.clone(),
        schema_version: body.schema_version,
        position: body.position.0,
        reason,
    };
    if body.event_type.split('.').next() != Some("keys") {
        return Ok(None);
    }
    if body.schema_version != 1 {
        return Err(fail(format!(
            "schema version {} is not known to this build",
            body.schema_version
        )));
    }
    let event = codec::decode::<KeysEvent>(&body.payload).map_err(|e| fail(e.to_string()))?;
    if event.event_type() != body.event_type {
        return Err(fail(format!("payload is a {} event", event.event_type())));
    }
    Ok(Some(event))
}
