//! Small helpers shared by the integration tests: here, the ledger's (events, streams, append
//! requests). Beside this file, and included by path by the harnesses rather than from here:
//! `personas.rs`, the one cast of users of `app_support` and `http_support`, and `request.rs`,
//! the one way `http_support` sends a request and reads its answer.

use credledger::ledger::{AppendRequest, EventId, EventMeta, ExpectedVersion, NewEvent, StreamId};

/// A new event of a type with a payload.
pub fn event(event_type: &str, payload: &[u8]) -> NewEvent {
    NewEvent {
        event_id: EventId::new(),
        event_type: event_type.to_owned(),
        schema_version: 1,
        payload: payload.to_vec(),
        meta: EventMeta::system(),
    }
}

/// A stream id from text.
pub fn stream(name: &str) -> StreamId {
    StreamId::new(name).expect("test stream ids are valid")
}

/// An append request.
pub fn request(
    stream_name: &str,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
) -> AppendRequest {
    AppendRequest::new(stream(stream_name), expected, events)
}
