//! Golden bytes: the stored encoding of envelopes (format version 1) must never change.
//!
//! `snapshots/ledger/` holds encoded sample envelopes covering every actor and origin variant.
//! The test decodes each file and compares it with the envelope built here, and re-encodes the
//! envelope and compares the bytes. Set `UPDATE_SNAPSHOTS=1` only when adding a new file; an
//! existing file is never rewritten.

use std::path::PathBuf;

use credledger::ledger::{
    Actor, ChainHash, Envelope, EnvelopeBody, EventId, Origin, Position, SignedInWith, StreamId,
    StreamVersion,
};
use credledger::time::Timestamp;
use uuid::Uuid;

fn uuid(n: u128) -> Uuid {
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | n)
}

fn samples() -> Vec<(&'static str, Envelope)> {
    let variants = [
        ("api-token-via-api", SignedInWith::ApiToken, Origin::Api),
        (
            "api-token-via-dashboard",
            SignedInWith::ApiToken,
            Origin::Dashboard,
        ),
        (
            "workflow-step",
            SignedInWith::ApiToken,
            Origin::WorkflowStep {
                workflow_id: "wf-invoices".into(),
                step_id: "step-3".into(),
            },
        ),
        ("cli", SignedInWith::Cli, Origin::Cli),
        ("system", SignedInWith::System, Origin::System),
    ];
    let mut prev = ChainHash::GENESIS;
    let mut out = Vec::new();
    for (i, (name, via, origin)) in variants.into_iter().enumerate() {
        let n = i as u64 + 1;
        let body = EnvelopeBody {
            position: Position(n),
            stream_id: StreamId::new(format!("authentication-{}", uuid(7))).expect("stream id"),
            stream_version: StreamVersion(n),
            event_id: EventId(uuid(100 + u128::from(n))),
            event_type: "authentication.renamed".into(),
            schema_version: 1,
            recorded_at: Timestamp(1_764_158_400_000_000 + n as i64 * 1_000),
            actor: Actor {
                principal: format!("user:{}", uuid(1)),
                via,
            },
            origin,
            correlation_id: uuid(200 + u128::from(n)),
            causation_id: if n.is_multiple_of(2) {
                Some(uuid(300))
            } else {
                None
            },
            payload: format!("sample payload {n} \u{e9}").into_bytes(),
            prev_hash: prev,
        };
        let envelope = Envelope::chained(body).expect("seal");
        prev = envelope.hash;
        out.push((name, envelope));
    }
    out
}

fn snapshot_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("snapshots/ledger")
        .join(format!("envelope-v1-{name}.bin"))
}

#[test]
fn stored_envelope_bytes_never_change() {
    let update = std::env::var("UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1");
    for (name, envelope) in samples() {
        let path = snapshot_path(name);
        let encoded = envelope.encode().expect("encode");
        if !path.exists() {
            assert!(
                update,
                "missing golden file {}; create it with UPDATE_SNAPSHOTS=1",
                path.display()
            );
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, &encoded).expect("write golden file");
        }
        let golden = std::fs::read(&path).expect("read golden file");
        assert_eq!(golden[0], 1, "{name}: format version byte");
        let decoded = Envelope::decode(&golden).expect("golden bytes decode");
        assert_eq!(decoded, envelope, "{name}: decoded golden envelope");
        assert!(
            decoded.hash_is_valid().expect("hash"),
            "{name}: chain hash definition unchanged"
        );
        assert_eq!(
            encoded, golden,
            "{name}: encoding changed; add a new format version instead"
        );
    }
}

#[test]
fn golden_envelopes_form_a_chain() {
    let mut prev = ChainHash::GENESIS;
    for (name, _) in samples() {
        let golden = std::fs::read(snapshot_path(name)).expect("read golden file");
        let decoded = Envelope::decode(&golden).expect("decode");
        assert_eq!(decoded.body.prev_hash, prev, "{name}");
        prev = decoded.hash;
    }
}

#[test]
fn unknown_format_versions_and_garbage_are_refused() {
    let (_, envelope) = samples().remove(0);
    let mut bytes = envelope.encode().expect("encode");
    bytes[0] = 2;
    let err = Envelope::decode(&bytes).expect_err("format 2 is unknown");
    assert!(
        err.to_string().contains("unknown format version 2"),
        "{err}"
    );
    assert!(Envelope::decode(&[]).is_err());
    let mut trailing = envelope.encode().expect("encode");
    trailing.push(0);
    assert!(Envelope::decode(&trailing).is_err());
    let truncated = &envelope.encode().expect("encode")[..20];
    assert!(Envelope::decode(truncated).is_err());
}
