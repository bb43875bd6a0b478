//! The checks of the fuzz targets, shared with `tests/fuzz_regressions.rs`, which replays every
//! input kept under `tests/fuzz_regressions/<target>/` through the same check in `cargo test`.
//! Each check panics when the property breaks.

#![allow(dead_code)]

use axum::body::Body;
use axum::extract::FromRequest;
use axum::http::Request;
use credledger::app::template_references;
use credledger::domain::directory::DirectoryEvent;
use credledger::domain::principals::TokenEvent;
use credledger::http::dto::{CreateBody, PatchBody, ReauthenticateBody, ResolveBody, RestoreBody};
use credledger::http::error::ApiError;
use credledger::http::extract::ApiJson;
use credledger::ledger::backup::ExportReader;
use credledger::ledger::codec;
use credledger::ledger::Envelope;
use credledger::projections::payloads::StoredAuthenticationEvent;
use serde_json::Value;

fn round_trip<T>(bytes: &[u8])
where
    T: serde::de::DeserializeOwned + serde::Serialize + PartialEq + std::fmt::Debug,
{
    if let Ok(value) = codec::decode::<T>(bytes) {
        let again = codec::encode(&value).expect("a decoded value encodes");
        let back: T = codec::decode(&again).expect("its encoding decodes");
        assert_eq!(back, value);
    }
}

/// The frozen payload codec: any bytes either fail to decode or decode to an event that
/// encodes back to the same bytes (no trailing bytes, one encoding per value); envelopes too.
pub fn payload_codec(bytes: &[u8]) {
    let Some((&selector, rest)) = bytes.split_first() else {
        return;
    };
    match selector % 4 {
        0 => round_trip::<StoredAuthenticationEvent>(rest),
        1 => round_trip::<DirectoryEvent>(rest),
        2 => round_trip::<TokenEvent>(rest),
        _ => {
            if let Ok(envelope) = Envelope::decode(rest) {
                let _ = envelope.hash_is_valid();
                let again = envelope.encode().expect("a decoded envelope encodes");
                assert_eq!(Envelope::decode(&again).expect("decodes"), envelope);
            }
        }
    }
}

/// The export-file reader: any bytes are read to the end or refused with an error, never a
/// panic, an endless loop or an allocation the input does not justify.
pub fn export_reader(bytes: &[u8]) {
    let Ok(mut reader) = ExportReader::new(bytes) else {
        return;
    };
    let _ = reader.header();
    // Each record consumes input: more records than bytes would be a loop.
    for _ in 0..=bytes.len() {
        match reader.next_record() {
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return,
        }
    }
    panic!("more records than input bytes");
}

/// The `$.auth` template parser: any JSON template gives references that are valid field
/// names, each once, or a refusal that never carries more than the reference it names.
pub fn auth_template(bytes: &[u8]) {
    let template = match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(value) => value,
        // Raw text as one string template too.
        Err(_) => serde_json::Value::String(String::from_utf8_lossy(bytes).into_owned()),
    };
    match template_references(&template) {
        Ok(fields) => {
            for (i, field) in fields.iter().enumerate() {
                assert!(!field.is_empty());
                assert!(field
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
                assert!(!fields[..i].contains(field), "{field} twice");
            }
        }
        Err(e) => {
            let text = e.to_string();
            assert!(text.len() < 400, "an error of {} bytes", text.len());
        }
    }
}

fn refusal<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<ApiError> {
    let request = Request::builder()
        .method("POST")
        .uri("/")
        .header("content-type", "application/json")
        .body(Body::from(bytes.to_vec()))
        .expect("request");
    futures::executor::block_on(ApiJson::<T>::from_request(request, &())).err()
}

/// Values and keys of a JSON document (numbers as their text).
fn collect(value: &Value, values: &mut Vec<String>, keys: &mut Vec<String>) {
    match value {
        Value::String(s) => values.push(s.clone()),
        Value::Number(n) => values.push(n.to_string()),
        Value::Array(items) => items.iter().for_each(|v| collect(v, values, keys)),
        Value::Object(map) => {
            for (k, v) in map {
                keys.push(k.clone());
                collect(v, values, keys);
            }
        }
        _ => {}
    }
}

/// Digits and letters of at least 6 characters, or a number of at least 8 digits (a wrongly
/// typed secret): short enough numbers could be in a refusal's own text.
fn canary_like(text: &str) -> bool {
    let digits = text.chars().filter(|c| c.is_ascii_digit()).count();
    let mixed = text.len() >= 6 && digits > 0 && text.chars().any(|c| c.is_ascii_alphabetic());
    mixed || digits >= 8
}

/// JSON request bodies through the API's extractor: every body is taken or refused with a
/// 4xx problem, and a refusal never echoes a value of the body (canary-like values, see
/// `canary_like`, that are not also a key).
pub fn json_bodies(bytes: &[u8]) {
    let Some((&selector, body)) = bytes.split_first() else {
        return;
    };
    let refused = match selector % 5 {
        0 => refusal::<CreateBody>(body),
        1 => refusal::<PatchBody>(body),
        2 => refusal::<ReauthenticateBody>(body),
        3 => refusal::<RestoreBody>(body),
        _ => refusal::<ResolveBody>(body),
    };
    let Some(problem) = refused else {
        return;
    };
    assert!(problem.status.is_client_error(), "{}", problem.status);
    let Ok(document) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    let (mut values, mut keys) = (Vec::new(), Vec::new());
    collect(&document, &mut values, &mut keys);
    for value in values.iter().filter(|v| canary_like(v)) {
        if keys.iter().any(|k| k.contains(value.as_str())) {
            continue;
        }
        assert!(
            !problem.detail.contains(value.as_str()),
            "the refusal echoes {value:?}: {}",
            problem.detail
        );
    }
}
