//! A seeded random-JSON loop over every write endpoint: valid bodies with one part changed at
//! random, random values, bytes that are not JSON, and random ids and `If-Match` values in the
//! paths of the body-less writes. No bad input may get a 5xx, and every 4xx but a 405 is a
//! problem.

mod http_support;

mod bad_input_support;

use bad_input_support::{Request, TargetServer};
use http_support::request::{JSON, PROBLEM};
use http_support::{Answer, Body};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::{json, Map, Value};
use uuid::Uuid;

const WORDS: [&str; 30] = [
    "",
    "mtls-api",
    "jira",
    "trello",
    "webhook",
    "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n",
    "99999999999999999",
    " ",
    "x",
    "slack",
    "airtable",
    "custom:",
    "custom:00000000-0000-0000-0000-000000000000",
    "$.auth.token",
    "{$.auth.",
    "{$.auth.token}",
    "owner",
    "admin",
    "viewer",
    "runner",
    "user",
    "2030-01-01T00:00:00Z",
    "-1",
    "0",
    "\u{0}",
    "\u{7}\n\t",
    "\u{200B}",
    "é🚀",
    "\"}{",
    "null",
];

const KEYS: [&str; 26] = [
    "name",
    "workspace",
    "service",
    "fields",
    "token",
    "scopes",
    "extra_permissions",
    "environment",
    "workflow",
    "workflow_id",
    "step_id",
    "version",
    "as_of",
    "authentication",
    "template",
    "user",
    "organization",
    "role",
    "kind",
    "label",
    "email",
    "spec",
    "auth_kind",
    "access_token",
    "colour",
    "",
];

fn random_string(rng: &mut StdRng, ids: &[String]) -> String {
    match rng.gen_range(0..6) {
        0 => WORDS[rng.gen_range(0..WORDS.len())].to_owned(),
        1 => ids[rng.gen_range(0..ids.len())].clone(),
        2 => Uuid::from_u128(rng.gen()).to_string(),
        3 => "z".repeat(rng.gen_range(100..300)),
        4 => (0..rng.gen_range(0..12))
            .map(|_| char::from_u32(rng.gen_range(0..0x800)).unwrap_or('?'))
            .collect(),
        _ => format!(
            "{}{}",
            WORDS[rng.gen_range(0..WORDS.len())],
            rng.gen::<u32>()
        ),
    }
}

fn random_value(rng: &mut StdRng, ids: &[String], depth: u32) -> Value {
    let top = if depth >= 3 { 6 } else { 8 };
    match rng.gen_range(0..top) {
        0 => Value::Null,
        1 => json!(rng.gen::<bool>()),
        2 => json!(rng.gen::<i64>()),
        3 => json!(rng.gen_range(-3i64..5)),
        4 => json!(rng.gen::<f64>() * 1e6),
        5 => json!(random_string(rng, ids)),
        6 => Value::Array(
            (0..rng.gen_range(0..4))
                .map(|_| random_value(rng, ids, depth + 1))
                .collect(),
        ),
        _ => random_object(rng, ids, depth + 1),
    }
}

fn random_object(rng: &mut StdRng, ids: &[String], depth: u32) -> Value {
    let mut map = Map::new();
    for _ in 0..rng.gen_range(0..5) {
        let key = if rng.gen_bool(0.8) {
            KEYS[rng.gen_range(0..KEYS.len())].to_owned()
        } else {
            random_string(rng, ids)
        };
        map.insert(key, random_value(rng, ids, depth));
    }
    Value::Object(map)
}

/// A valid body with one part changed at random, or a random value altogether.
fn mutate(rng: &mut StdRng, ids: &[String], valid: &Value) -> Value {
    let mut body = valid.clone();
    match rng.gen_range(0..5) {
        0 => random_value(rng, ids, 0),
        1 => {
            if let Some(map) = body.as_object_mut() {
                let keys: Vec<String> = map.keys().cloned().collect();
                if !keys.is_empty() {
                    map.remove(&keys[rng.gen_range(0..keys.len())]);
                }
            }
            body
        }
        2 => {
            let key = KEYS[rng.gen_range(0..KEYS.len())];
            body[key] = random_value(rng, ids, 1);
            body
        }
        _ => {
            replace_inside(rng, ids, &mut body);
            body
        }
    }
}

/// Replaces a value somewhere inside (the value itself, or a descendant).
fn replace_inside(rng: &mut StdRng, ids: &[String], value: &mut Value) {
    let children = match value {
        Value::Object(map) => map.len(),
        Value::Array(items) => items.len(),
        _ => 0,
    };
    if children == 0 || !rng.gen_bool(0.6) {
        *value = random_value(rng, ids, 1);
        return;
    }
    let n = rng.gen_range(0..children);
    let child = match value {
        Value::Object(map) => map.values_mut().nth(n),
        Value::Array(items) => items.get_mut(n),
        _ => None,
    };
    if let Some(child) = child {
        replace_inside(rng, ids, child);
    }
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn check_no_5xx(label: &str, answer: &Answer) {
    let status = answer.status.as_u16();
    assert!(status < 500, "{label}: {status} {}", answer.text);
    if status >= 400 && status != 405 {
        assert_eq!(
            answer.header("content-type").as_deref(),
            Some(PROBLEM),
            "{label}: {status} {}",
            answer.text
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_random_bodies_per_write_endpoint_never_get_a_5xx() {
    const ROUNDS: usize = 200;
    let w = TargetServer::new().await;
    let s = &w.s;
    let ids = vec![
        s.owner.id.clone(),
        s.member.id.clone(),
        s.owner.personal.clone(),
        s.shared.clone(),
        s.org_workspace.clone(),
        s.org.clone(),
        w.token_auth.clone(),
        w.slack_auth.clone(),
    ];
    let mut rng = StdRng::seed_from_u64(0x00C0_FFEE);
    let mut statuses = std::collections::BTreeMap::new();
    let mut sent = 0;
    for endpoint in w.json_endpoints() {
        for round in 0..ROUNDS {
            let body = if round % 20 == 19 {
                // Now and then, bytes that are not JSON at all.
                let bytes: Vec<u8> = (0..rng.gen_range(0..64)).map(|_| rng.gen()).collect();
                Body::Raw(Some(JSON), bytes)
            } else {
                Body::Json(mutate(&mut rng, &ids, &endpoint.valid))
            };
            let answer = endpoint.with(body).send(s).await;
            check_no_5xx(&format!("{} round {round}", endpoint.name), &answer);
            *statuses.entry(answer.status.as_u16()).or_insert(0) += 1;
            sent += 1;
        }
    }
    // The body-less writes: random ids in the path and random If-Match values.
    for round in 0..ROUNDS {
        let id = if rng.gen_bool(0.5) {
            percent_encode(&random_string(&mut rng, &ids))
        } else {
            Uuid::from_u128(rng.gen()).to_string()
        };
        let if_match = format!("\"{}\"", rng.gen_range(0..4u8));
        for (method, path) in [
            (Method::DELETE, format!("/v1/authentications/{id}")),
            (Method::POST, format!("/v1/authentications/{id}/purge")),
            (Method::DELETE, format!("/v1/tokens/{id}")),
        ] {
            let answer = Request::new(method.clone(), &path, Body::None)
                .raw(Some(JSON), b"{}".to_vec())
                .header("if-match", &if_match)
                .send(s)
                .await;
            check_no_5xx(&format!("{method} {path} round {round}"), &answer);
            *statuses.entry(answer.status.as_u16()).or_insert(0) += 1;
            sent += 1;
        }
    }
    assert_eq!(sent, ROUNDS * 14);
    // The loop reached past the JSON layer, into the rules.
    assert!(statuses.keys().any(|&c| c == 422), "{statuses:?}");
    assert!(statuses.keys().any(|&c| c == 400), "{statuses:?}");
    assert!(statuses.keys().any(|&c| c == 404), "{statuses:?}");
    w.stop().await;
}
